//! The store: durable home of submissions, reports and quarantine, and the read side.
//!
//! In: [`NewSubmission`] from `pipeline` (raw bytes already compressed, reports parsed,
//! rejections with reasons). Out: a [`CommitReceipt`] once the transaction holding it is
//! committed and synced, and typed answers to the read methods used by the API, the
//! dashboard and the tests.
//!
//! Writes go through writer tasks (one for SQLite, a few for PostgreSQL) that drain a
//! queue and commit many submissions in one transaction (group commit): the caller's
//! future resolves only after that commit, so "stored" always means "on disk", while
//! throughput comes from batching.
//! The SQL is written once in [`queries`] and instantiated for each backend by
//! `sqlite.rs` and `postgres.rs`, which differ in connection setup, transaction start and
//! migrations.

mod postgres;
mod queries;
mod rollup;
mod sqlite;

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::report::{MessageMeta, Report, Source};

pub use crate::report::normalize_domain;

/// Submissions committed per transaction at most. Bulk import is bound by the pages a
/// batch dirties in the random-key indexes; a bigger batch shares more of them (measured:
/// 512 → 8,347 reports/s, 1024 → 9,600/s, 2048 → 10,000/s but 88 MB RSS). 1024 keeps one
/// transaction around 0.1 s and memory well under 100 MB.
const MAX_BATCH: usize = 1024;

/// Jobs waiting for the writer. When full, intakes wait (back-pressure) instead of
/// buffering without bound. Network intakes send one submission per job, so this is 2
/// batches, enough to keep the writer busy while the next one fills; bulk import sends
/// chunks but bounds how many it has in flight itself.
const WRITE_QUEUE: usize = 2 * MAX_BATCH;

/// Concurrent write transactions per process on PostgreSQL. SQLite has one writer by
/// design; PostgreSQL commits in parallel (dedup holds through the unique key, which
/// makes a second insert of the same report wait for the first), so a few writers keep
/// its WAL flushes overlapping. Four stays well inside the pool of eight connections.
const POSTGRES_WRITERS: usize = 4;

/// Largest page a list query returns; bigger requests are clamped so one API call cannot
/// pull the whole database into memory.
pub const MAX_PAGE: u32 = 1000;

/// Longest daily series we fill (10 years): a bound on the memory a time-series request
/// can make us allocate.
pub const MAX_SERIES_DAYS: i64 = 3660;

/// Largest raw submission we inflate when it is read back. Intake limits keep stored
/// bodies far below this; it only guards against a corrupted row.
const MAX_RAW_READ: u64 = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database error: {0}")]
    SqliteWriter(#[from] rusqlite::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("cannot start the store writer: {0}")]
    WriterStart(std::io::Error),
    #[error("the store writer has stopped")]
    WriterGone,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("invalid cursor {0:?}")]
    InvalidCursor(String),
}

/// Raw submission bytes as kept in the store.
#[derive(Debug, Clone)]
pub struct RawBytes {
    /// Size of the original bytes.
    pub size: i64,
    /// Hex SHA-256 of the original bytes.
    pub sha256: String,
    /// `identity` when `data` is the original (already compressed), `gzip` otherwise.
    pub encoding: &'static str,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct NewReport {
    pub report: Report,
    /// Where in the submission this report was found (e.g. `part 2 (x.json.gz)`).
    pub origin: String,
}

#[derive(Debug, Clone)]
pub struct NewRejection {
    pub origin: String,
    pub code: String,
    pub reason: String,
}

/// One submission with everything the pipeline made of it.
#[derive(Debug, Clone)]
pub struct NewSubmission {
    pub source: Source,
    pub received_at: DateTime<Utc>,
    pub peer: Option<String>,
    pub content_type: Option<String>,
    /// JSON text of the intake envelope.
    pub envelope: String,
    pub meta: Option<MessageMeta>,
    pub raw: RawBytes,
    pub reports: Vec<NewReport>,
    pub rejections: Vec<NewRejection>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum ReportOutcome {
    Stored { id: i64 },
    Duplicate { id: i64 },
}

impl ReportOutcome {
    pub fn id(self) -> i64 {
        match self {
            ReportOutcome::Stored { id } | ReportOutcome::Duplicate { id } => id,
        }
    }
}

/// What a commit did, in the order of `NewSubmission::reports` and `rejections`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitReceipt {
    /// `None` when every report was a duplicate and nothing was quarantined, so the
    /// submission bytes were not kept a second time.
    pub submission_id: Option<i64>,
    pub reports: Vec<ReportOutcome>,
    pub quarantine_ids: Vec<i64>,
}

/// Half-open range `[from, to)` of report start times, in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub from: i64,
    pub to: i64,
}

impl TimeRange {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        TimeRange {
            from: from.timestamp(),
            to: to.timestamp(),
        }
    }

    pub fn all() -> Self {
        TimeRange {
            from: i64::MIN,
            to: i64::MAX,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DomainOverview {
    pub domain: String,
    pub reports: i64,
    pub successful_sessions: i64,
    pub failed_sessions: i64,
    pub failure_rate: f64,
    pub organizations: i64,
    pub last_report_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FailureCount {
    pub key: Option<String>,
    pub failed_sessions: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SessionCounts {
    pub key: String,
    pub reports: i64,
    pub successful_sessions: i64,
    pub failed_sessions: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DomainSummary {
    pub domain: String,
    pub reports: i64,
    pub successful_sessions: i64,
    pub failed_sessions: i64,
    pub failure_rate: f64,
    pub by_result_type: Vec<FailureCount>,
    pub by_receiving_mx: Vec<FailureCount>,
    pub by_sending_ip: Vec<FailureCount>,
    pub by_organization: Vec<SessionCounts>,
    pub by_policy_type: Vec<SessionCounts>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DayCounts {
    pub day: NaiveDate,
    pub successful_sessions: i64,
    pub failed_sessions: i64,
}

/// One distinct policy of a domain, as reporters saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySeen {
    pub policy_type: String,
    pub policy_string: Vec<String>,
    pub first_start: DateTime<Utc>,
    pub last_start: DateTime<Utc>,
    /// Reports that carried it.
    pub reports: i64,
}

/// When a result type was first and last reported with failed sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureSeen {
    pub result_type: String,
    pub first_start: DateTime<Utc>,
    pub last_start: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    pub domain: Option<String>,
    pub organization: Option<String>,
    pub range: Option<TimeRange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReportListItem {
    pub id: i64,
    pub organization_name: String,
    pub report_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub source: String,
    pub successful_sessions: i64,
    pub failed_sessions: i64,
    pub domains: Vec<String>,
    pub warnings: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StoredReport {
    pub id: i64,
    pub submission_id: i64,
    pub source: String,
    pub peer: Option<String>,
    pub received_at: DateTime<Utc>,
    pub origin: String,
    pub meta: Option<MessageMeta>,
    #[schema(value_type = Object)]
    pub envelope: serde_json::Value,
    pub report: Report,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSubmission {
    pub submission_id: i64,
    pub content_type: Option<String>,
    pub sha256: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Rejection {
    pub id: i64,
    pub submission_id: i64,
    pub received_at: DateTime<Utc>,
    pub source: String,
    pub peer: Option<String>,
    pub origin: String,
    pub reason_code: String,
    pub reason: String,
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// What each submission of a [`WriteJob`] came to, in the job's order.
pub type CommitResults = Vec<Result<CommitReceipt, StoreError>>;

/// One message to the writer: a single submission from a network intake, or a chunk of
/// them from bulk import (one channel message and one reply for the whole chunk).
struct WriteJob {
    submissions: Vec<NewSubmission>,
    reply: oneshot::Sender<CommitResults>,
}

/// Commits queued with [`Store::queue_blocking`]; [`PendingCommit::wait`] resolves once
/// the transactions holding them are durable.
pub struct PendingCommit {
    reply: oneshot::Receiver<CommitResults>,
    len: usize,
}

impl PendingCommit {
    /// One result per queued submission, in order; every one is `WriterGone` if the writer
    /// stopped before answering.
    pub async fn wait(self) -> CommitResults {
        match self.reply.await {
            Ok(results) => results,
            Err(_) => (0..self.len).map(|_| Err(StoreError::WriterGone)).collect(),
        }
    }
}

/// Handle to the store; cheap to clone, shared by every intake and reader.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    writer: mpsc::Sender<WriteJob>,
}

impl Store {
    /// Opens (and for SQLite creates) the database named by `url`, applies migrations and
    /// starts the writer task. Must be called inside a Tokio runtime.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite(sqlite::connect(url).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(postgres::connect(url).await?)
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        match &backend {
            Backend::Sqlite(_) => sqlite::spawn_writer(url, rx)?,
            Backend::Postgres(pool) => {
                let rx = Arc::new(tokio::sync::Mutex::new(rx));
                for _ in 0..POSTGRES_WRITERS {
                    tokio::spawn(run_postgres_writer(pool.clone(), rx.clone()));
                }
            }
        }
        Ok(Store {
            backend,
            writer: tx,
        })
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Commits one submission; resolves after the transaction that holds it is durable.
    pub async fn commit(&self, submission: NewSubmission) -> Result<CommitReceipt, StoreError> {
        let (reply, rx) = oneshot::channel();
        let job = WriteJob {
            submissions: vec![submission],
            reply,
        };
        self.writer
            .send(job)
            .await
            .map_err(|_| StoreError::WriterGone)?;
        rx.await
            .map_err(|_| StoreError::WriterGone)?
            .pop()
            .unwrap_or(Err(StoreError::WriterGone))
    }

    /// Queues many submissions from a thread outside the runtime (bulk import's reader
    /// threads), waiting while the queue is full. They may be split over several
    /// transactions; each is as durable as a [`commit`](Store::commit) once
    /// [`PendingCommit::wait`] returns. Must not be called from async code.
    pub fn queue_blocking(
        &self,
        submissions: Vec<NewSubmission>,
    ) -> Result<PendingCommit, StoreError> {
        let (reply, rx) = oneshot::channel();
        let len = submissions.len();
        self.writer
            .blocking_send(WriteJob { submissions, reply })
            .map_err(|_| StoreError::WriterGone)?;
        Ok(PendingCommit { reply: rx, len })
    }

    /// Checks the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(p) => sqlite::ping(p).await,
            Backend::Postgres(p) => postgres::ping(p).await,
        }
    }

    pub async fn list_domains(&self, range: TimeRange) -> Result<Vec<DomainOverview>, StoreError> {
        match &self.backend {
            Backend::Sqlite(p) => sqlite::list_domains(p, range).await,
            Backend::Postgres(p) => postgres::list_domains(p, range).await,
        }
    }

    pub async fn domain_summary(
        &self,
        domain: &str,
        range: TimeRange,
    ) -> Result<DomainSummary, StoreError> {
        let domain = normalize_domain(domain);
        match &self.backend {
            Backend::Sqlite(p) => sqlite::domain_summary(p, &domain, range).await,
            Backend::Postgres(p) => postgres::domain_summary(p, &domain, range).await,
        }
    }

    /// Sessions per UTC day of report start, every day of `range` present (zeros for days
    /// without reports). `range` must be bounded.
    pub async fn timeseries(
        &self,
        domain: &str,
        range: TimeRange,
    ) -> Result<Vec<DayCounts>, StoreError> {
        let domain = normalize_domain(domain);
        let rows = match &self.backend {
            Backend::Sqlite(p) => sqlite::timeseries(p, &domain, range).await?,
            Backend::Postgres(p) => postgres::timeseries(p, &domain, range).await?,
        };
        Ok(fill_days(range, &rows))
    }

    /// Every domain's sessions per UTC day of `range`, in one query (the overview's
    /// trends), each series with every day of the range present.
    pub async fn domains_daily(
        &self,
        range: TimeRange,
    ) -> Result<Vec<(String, Vec<DayCounts>)>, StoreError> {
        let rows = match &self.backend {
            Backend::Sqlite(p) => sqlite::all_domains_daily(p, range).await?,
            Backend::Postgres(p) => postgres::all_domains_daily(p, range).await?,
        };
        let mut out: Vec<(String, Vec<DayCounts>)> = Vec::new();
        let mut days: Vec<(i64, i64, i64)> = Vec::new();
        let mut rows = rows.into_iter().peekable();
        while let Some((domain, day, ok, failed)) = rows.next() {
            days.push((day, ok, failed));
            if rows.peek().is_none_or(|next| next.0 != domain) {
                out.push((domain, fill_days(range, &days)));
                days.clear();
            }
        }
        Ok(out)
    }

    /// The distinct policies (type and text) reported for `domain` in `range`, most
    /// recently seen first.
    pub async fn policies_seen(
        &self,
        domain: &str,
        range: TimeRange,
    ) -> Result<Vec<PolicySeen>, StoreError> {
        let domain = normalize_domain(domain);
        let rows = match &self.backend {
            Backend::Sqlite(p) => sqlite::policies_seen(p, &domain, range).await?,
            Backend::Postgres(p) => postgres::policies_seen(p, &domain, range).await?,
        };
        rows.into_iter()
            .map(|(policy_type, policy_string, first, last, reports)| {
                Ok(PolicySeen {
                    policy_type,
                    policy_string: serde_json::from_str(&policy_string)
                        .map_err(|e| StoreError::Corrupt(format!("policy_string: {e}")))?,
                    first_start: queries::timestamp(first)?,
                    last_start: queries::timestamp(last)?,
                    reports,
                })
            })
            .collect()
    }

    /// Per result type with failed sessions for `domain` in `range`: the first and last
    /// report start that carried it.
    pub async fn failures_seen(
        &self,
        domain: &str,
        range: TimeRange,
    ) -> Result<Vec<FailureSeen>, StoreError> {
        let domain = normalize_domain(domain);
        let rows = match &self.backend {
            Backend::Sqlite(p) => sqlite::failures_seen(p, &domain, range).await?,
            Backend::Postgres(p) => postgres::failures_seen(p, &domain, range).await?,
        };
        rows.into_iter()
            .map(|(result_type, first, last)| {
                Ok(FailureSeen {
                    result_type,
                    first_start: queries::timestamp(first)?,
                    last_start: queries::timestamp(last)?,
                })
            })
            .collect()
    }

    /// Reports newest first (by start time, then id). `cursor` is the `next_cursor` of the
    /// previous page.
    pub async fn list_reports(
        &self,
        filter: &ReportFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<ReportListItem>, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let cursor = cursor.map(parse_cursor).transpose()?;
        let filter = ReportFilter {
            domain: filter.domain.as_deref().map(normalize_domain),
            ..filter.clone()
        };
        let mut items = match &self.backend {
            Backend::Sqlite(p) => sqlite::list_reports(p, &filter, limit + 1, cursor).await?,
            Backend::Postgres(p) => postgres::list_reports(p, &filter, limit + 1, cursor).await?,
        };
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items
                .last()
                .map(|last| format!("{}.{}", last.start.timestamp(), last.id))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    pub async fn get_report(&self, id: i64) -> Result<Option<StoredReport>, StoreError> {
        match &self.backend {
            Backend::Sqlite(p) => sqlite::get_report(p, id).await,
            Backend::Postgres(p) => postgres::get_report(p, id).await,
        }
    }

    /// The original bytes of the submission that carried report `id`.
    pub async fn get_report_raw(&self, id: i64) -> Result<Option<RawSubmission>, StoreError> {
        let row = match &self.backend {
            Backend::Sqlite(p) => sqlite::get_report_raw(p, id).await?,
            Backend::Postgres(p) => postgres::get_report_raw(p, id).await?,
        };
        row.map(queries::RawRow::into_raw).transpose()
    }

    pub async fn get_submission_raw(&self, id: i64) -> Result<Option<RawSubmission>, StoreError> {
        let row = match &self.backend {
            Backend::Sqlite(p) => sqlite::get_submission_raw(p, id).await?,
            Backend::Postgres(p) => postgres::get_submission_raw(p, id).await?,
        };
        row.map(queries::RawRow::into_raw).transpose()
    }

    /// Quarantined submissions, newest first.
    pub async fn list_rejections(
        &self,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Rejection>, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let cursor = cursor.map(parse_cursor).transpose()?;
        let mut items = match &self.backend {
            Backend::Sqlite(p) => sqlite::list_rejections(p, limit + 1, cursor).await?,
            Backend::Postgres(p) => postgres::list_rejections(p, limit + 1, cursor).await?,
        };
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items
                .last()
                .map(|last| format!("{}.{}", last.received_at.timestamp(), last.id))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}

/// Moves more queued jobs into `jobs` (which holds `queued` submissions) until the batch
/// holds [`MAX_BATCH`] submissions or the queue is empty. A job is never split, so a big
/// import chunk may make one batch a little larger.
fn fill_batch(rx: &mut mpsc::Receiver<WriteJob>, jobs: &mut Vec<WriteJob>, mut queued: usize) {
    while queued < MAX_BATCH {
        let Ok(job) = rx.try_recv() else { break };
        queued += job.submissions.len();
        jobs.push(job);
    }
}

/// Logs and counts one committed (or failed) batch.
fn record_batch(size: usize, started: Instant, ok: bool) {
    let elapsed = started.elapsed();
    tracing::debug!(
        batch = size,
        ms = elapsed.as_secs_f64() * 1e3,
        ok,
        "batch committed"
    );
    metrics::histogram!("tlsrpt_store_commit_seconds").record(elapsed.as_secs_f64());
    metrics::histogram!("tlsrpt_store_batch_size").record(size as f64);
}

/// Answers every job of a committed batch with its receipts, in order.
fn answer_jobs(jobs: &mut Vec<WriteJob>, receipts: Vec<CommitReceipt>) {
    let mut receipts = receipts.into_iter();
    for job in jobs.drain(..) {
        let results = receipts
            .by_ref()
            .take(job.submissions.len())
            .map(Ok)
            .collect();
        let _ = job.reply.send(results);
    }
}

/// Counts and logs a submission that failed even when committed alone.
fn record_failure(result: &Result<CommitReceipt, StoreError>) {
    if let Err(e) = result {
        metrics::counter!("tlsrpt_store_commit_errors_total").increment(1);
        tracing::error!(error = %e, "commit failed");
    }
}

/// A PostgreSQL writer task: takes queued jobs up to a batch, commits them in one
/// transaction and answers each job. If the batch fails, each submission is retried alone
/// so one bad row cannot fail its neighbours.
async fn run_postgres_writer(
    pool: sqlx::PgPool,
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<WriteJob>>>,
) {
    let mut jobs: Vec<WriteJob> = Vec::with_capacity(MAX_BATCH);
    // One connection kept between batches; a broken one is dropped and replaced.
    let mut conn: Option<sqlx::pool::PoolConnection<sqlx::Postgres>> = None;
    loop {
        // Writers take turns draining the queue; the lock is held only while receiving.
        {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { break };
            let queued = first.submissions.len();
            jobs.push(first);
            fill_batch(&mut rx, &mut jobs, queued);
        }
        let started = Instant::now();
        let submissions: Vec<&NewSubmission> =
            jobs.iter().flat_map(|job| &job.submissions).collect();
        let batch_size = submissions.len();
        let result = postgres_batch(&pool, &mut conn, &submissions).await;
        drop(submissions);
        record_batch(batch_size, started, result.is_ok());
        match result {
            Ok(receipts) => answer_jobs(&mut jobs, receipts),
            Err(batch_error) => {
                tracing::warn!(error = %batch_error, size = batch_size, "batch commit failed, retrying one by one");
                for job in jobs.drain(..) {
                    let mut results = Vec::with_capacity(job.submissions.len());
                    for submission in &job.submissions {
                        let result = postgres_batch(&pool, &mut conn, &[submission])
                            .await
                            .and_then(|mut r| r.pop().ok_or(StoreError::WriterGone));
                        record_failure(&result);
                        results.push(result);
                    }
                    let _ = job.reply.send(results);
                }
            }
        }
    }
}

async fn postgres_batch(
    pool: &sqlx::PgPool,
    conn: &mut Option<sqlx::pool::PoolConnection<sqlx::Postgres>>,
    submissions: &[&NewSubmission],
) -> Result<Vec<CommitReceipt>, StoreError> {
    let writer = match conn {
        Some(writer) => writer,
        None => conn.insert(pool.acquire().await?),
    };
    let result = postgres::write_batch(writer, submissions).await;
    if result.is_err() {
        // Do not keep a connection that may be broken; the next batch takes a fresh one.
        *conn = None;
    }
    result
}

/// Report or rejection counts as a fraction, 0 when there were no sessions.
pub fn failure_rate(successful: i64, failed: i64) -> f64 {
    let total = successful as f64 + failed as f64;
    if total > 0.0 {
        failed as f64 / total
    } else {
        0.0
    }
}

/// Cursor format `TIME.ID` (both decimal i64).
fn parse_cursor(s: &str) -> Result<(i64, i64), StoreError> {
    let bad = || StoreError::InvalidCursor(s.to_owned());
    let (time, id) = s.split_once('.').ok_or_else(bad)?;
    Ok((
        time.parse().map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}

/// UTC day number (days since 1970-01-01) of a Unix timestamp, as the SQL computes it.
pub(crate) fn day_number(ts: i64) -> i64 {
    ts.div_euclid(86_400)
}

fn day_date(day: i64) -> Option<NaiveDate> {
    Utc.timestamp_opt(day.checked_mul(86_400)?, 0)
        .single()
        .map(|t| t.date_naive())
}

/// Turns sparse `(day number, successful, failed)` rows into one entry per day of
/// `range`, at most [`MAX_SERIES_DAYS`] (the most recent ones).
fn fill_days(range: TimeRange, rows: &[(i64, i64, i64)]) -> Vec<DayCounts> {
    if range.to <= range.from {
        return Vec::new();
    }
    let last = day_number(range.to - 1);
    let first = day_number(range.from).max(last - MAX_SERIES_DAYS + 1);
    let mut out = Vec::with_capacity((last - first + 1) as usize);
    let mut rows = rows.iter().peekable();
    for day in first..=last {
        let Some(date) = day_date(day) else { continue };
        let (mut ok, mut failed) = (0, 0);
        while let Some(&&(d, s, f)) = rows.peek() {
            if d > day {
                break;
            }
            if d == day {
                ok += s;
                failed += f;
            }
            rows.next();
        }
        out.push(DayCounts {
            day: date,
            successful_sessions: ok,
            failed_sessions: failed,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_errors() {
        assert_eq!(parse_cursor("1700000000.42").unwrap(), (1_700_000_000, 42));
        assert_eq!(parse_cursor("-5.1").unwrap(), (-5, 1));
        assert!(parse_cursor("abc").is_err());
        assert!(parse_cursor("1.x").is_err());
    }

    #[test]
    fn fill_days_has_every_day_with_zeros() {
        let d0 = 19_000 * 86_400;
        let range = TimeRange {
            from: d0,
            to: d0 + 3 * 86_400,
        };
        let series = fill_days(range, &[(19_000, 5, 1), (19_002, 0, 7)]);
        let counts: Vec<_> = series
            .iter()
            .map(|d| (d.successful_sessions, d.failed_sessions))
            .collect();
        assert_eq!(counts, vec![(5, 1), (0, 0), (0, 7)]);
        assert_eq!(series[0].day, day_date(19_000).unwrap());
    }

    #[test]
    fn fill_days_is_bounded() {
        let series = fill_days(
            TimeRange {
                from: 0,
                to: 100_000 * 86_400,
            },
            &[],
        );
        assert_eq!(series.len() as i64, MAX_SERIES_DAYS);
    }

    #[test]
    fn day_number_of_negative_times_rounds_down() {
        assert_eq!(day_number(-1), -1);
        assert_eq!(day_number(0), 0);
        assert_eq!(day_number(86_399), 0);
    }
}
