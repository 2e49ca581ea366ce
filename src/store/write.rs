//! The write side: the write model and the one group-commit loop both backends share.
//!
//! In: [`NewSubmission`]s, one per network delivery or a chunk per bulk-import job. Out: a
//! [`CommitReceipt`] per submission, sent only after the transaction that holds it is
//! committed and synced. A backend supplies a [`BatchWriter`] that commits a batch in one
//! transaction; [`run_writer`] drains the queue into batches, answers each job, and retries
//! a failed batch one submission at a time so one bad row cannot fail its neighbours.
//! Between batches it folds the stored reports into the rollups (`rollup.rs` says when).

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{Store, StoreError, rollup};
use crate::report::{MessageMeta, Report, Source};

/// Submissions committed per transaction at most. Bulk import is bound by the pages a
/// batch dirties in the random-key indexes; a bigger batch shares more of them (measured:
/// 512 → 8,347 reports/s, 1024 → 9,600/s, 2048 → 10,000/s but 88 MB RSS). 1024 keeps one
/// transaction around 0.1 s and memory well under 100 MB.
pub(super) const MAX_BATCH: usize = 1024;

/// Jobs waiting for the writer. When full, intakes wait (back-pressure) instead of
/// buffering without bound. Network intakes send one submission per job, so this is 2
/// batches, enough to keep the writer busy while the next one fills; bulk import sends
/// chunks but bounds how many it has in flight itself.
pub(super) const WRITE_QUEUE: usize = 2 * MAX_BATCH;

/// After the database was found unreachable, batches are answered "unavailable" at once
/// for this long instead of each waiting for a connection (5 s on PostgreSQL): senders
/// get their 503/451 in milliseconds during an outage, and the first batch after it
/// tries again, so acceptance resumes within a second of the database's return.
const UNAVAILABLE_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

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
    /// The report's JSON columns, serialized by whoever builds it (a pipeline worker,
    /// in parallel) so the one writer thread, the bottleneck of bulk import, only binds
    /// them.
    json: ReportJson,
}

/// The JSON text of a report's JSON columns.
#[derive(Debug, Clone)]
struct ReportJson {
    /// `reports.warnings`.
    warnings: String,
    /// Per policy, in order: (`policy_string`, `mx_host`).
    policies: Vec<(String, String)>,
}

impl NewReport {
    pub fn new(report: Report, origin: String) -> Self {
        let json = ReportJson {
            warnings: super::insert::to_json(&report.warnings),
            policies: report
                .policies
                .iter()
                .map(|p| {
                    (
                        super::insert::to_json(&p.policy_string),
                        super::insert::to_json(&p.mx_host),
                    )
                })
                .collect(),
        };
        NewReport {
            report,
            origin,
            json,
        }
    }

    /// The JSON text of `reports.warnings`.
    pub(super) fn warnings_json(&self) -> &str {
        &self.json.warnings
    }

    /// The JSON text of policy `i`'s `policy_string` and `mx_host`.
    pub(super) fn policy_json(&self, i: usize) -> (&str, &str) {
        self.json
            .policies
            .get(i)
            .map_or(("[]", "[]"), |(text, mx)| (text.as_str(), mx.as_str()))
    }
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

impl CommitReceipt {
    /// Reports this commit stored (not duplicates).
    pub fn stored(&self) -> usize {
        self.reports
            .iter()
            .filter(|r| matches!(r, ReportOutcome::Stored { .. }))
            .count()
    }
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

/// What each submission of a queued write job came to, in the job's order.
pub type CommitResults = Vec<Result<CommitReceipt, StoreError>>;

/// One message to the writer.
pub(super) enum WriteJob {
    /// A single submission from a network intake, or a chunk of them from bulk import
    /// (one channel message and one reply for the whole chunk).
    Commit {
        submissions: Vec<NewSubmission>,
        reply: oneshot::Sender<CommitResults>,
    },
    /// Fold every pending report into the rollups, after the commits queued before.
    Fold {
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
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

/// The job queue; several PostgreSQL writers take turns draining it (the lock is held
/// only while receiving).
#[derive(Clone)]
pub(super) struct SharedQueue(
    Arc<Mutex<mpsc::Receiver<WriteJob>>>,
    /// Reports stored so far by this process's writers: the watch side re-evaluates
    /// alerts after it moves ([`Store::stored_reports`](super::Store::stored_reports)).
    Arc<tokio::sync::watch::Sender<u64>>,
);

impl SharedQueue {
    pub(super) fn new(
        rx: mpsc::Receiver<WriteJob>,
        stored: tokio::sync::watch::Sender<u64>,
    ) -> Self {
        SharedQueue(Arc::new(Mutex::new(rx)), Arc::new(stored))
    }
}

/// Commits one batch of submissions in one transaction, and folds pending reports.
pub(super) trait BatchWriter: Send {
    fn write_batch(
        &mut self,
        batch: &[&NewSubmission],
    ) -> impl Future<Output = Result<Vec<CommitReceipt>, StoreError>> + Send;

    /// Folds up to [`rollup::FOLD_CHUNK`] pending reports (the lowest ids) into the
    /// rollups in one transaction; returns how many. Unless `wait`, a backend with
    /// several writers may return 0 at once while another writer is folding.
    fn fold_rollups(&mut self, wait: bool) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Reports this writer stored and has not folded yet.
struct Unfolded {
    reports: usize,
    /// When the oldest of them was committed (or the last fold failed).
    since: Option<Instant>,
    /// The last fold failed (e.g. the database is down): wait [`rollup::FOLD_AFTER`]
    /// before the next idle try instead of [`rollup::FOLD_WHEN_IDLE`], so an outage logs
    /// a warning every few seconds, not twice a second.
    failed: bool,
}

impl Unfolded {
    fn add(&mut self, stored: usize) {
        if stored > 0 {
            self.reports += stored;
            self.since.get_or_insert_with(Instant::now);
        }
    }

    fn due(&self, after_reports: usize) -> bool {
        self.reports >= after_reports
            || self
                .since
                .is_some_and(|t| t.elapsed() >= rollup::FOLD_AFTER)
    }
}

/// Folds until nothing is pending (`wait`: even if another writer is folding); returns
/// how many reports were folded. A failure is logged and returned; the reports stay
/// pending (and counted by reads) for the next try.
async fn fold_all<W: BatchWriter>(
    writer: &mut W,
    unfolded: &mut Unfolded,
    wait: bool,
) -> Result<u64, StoreError> {
    let started = Instant::now();
    let mut total = 0;
    loop {
        match writer.fold_rollups(wait).await {
            Ok(n) => {
                total += n;
                if n < rollup::FOLD_CHUNK as u64 {
                    break;
                }
            }
            Err(e) => {
                metrics::counter!("tlsrpt_store_fold_errors_total").increment(1);
                tracing::warn!(error = %e, "folding reports into the rollups failed; will retry");
                // Retry on the next trigger, not in a tight loop.
                unfolded.since = Some(Instant::now());
                unfolded.failed = true;
                return Err(e);
            }
        }
    }
    *unfolded = Unfolded {
        reports: 0,
        since: None,
        failed: false,
    };
    if total > 0 {
        let elapsed = started.elapsed();
        tracing::debug!(
            reports = total,
            ms = elapsed.as_secs_f64() * 1e3,
            "rollups folded"
        );
        metrics::histogram!("tlsrpt_store_fold_seconds").record(elapsed.as_secs_f64());
    }
    Ok(total)
}

/// The group-commit loop: takes queued jobs up to a batch, commits them in one
/// transaction and answers each job. If the batch fails, each submission is retried
/// alone so one bad row cannot fail its neighbours. Folds the stored reports into the
/// rollups when due, when idle, and on request. Ends when every sender is dropped.
pub(super) async fn run_writer<W: BatchWriter>(
    mut writer: W,
    queue: SharedQueue,
    folding: rollup::Folding,
) {
    let after_reports = folding.after_reports();
    let automatic = after_reports.is_some();
    let mut jobs: Vec<CommitJob> = Vec::with_capacity(MAX_BATCH);
    let spent = Spent::start();
    let mut fold_requests: Vec<oneshot::Sender<Result<u64, StoreError>>> = Vec::new();
    // Reports may be pending from another process or an earlier run: fold once idle.
    let mut unfolded = Unfolded {
        reports: 0,
        since: automatic.then(Instant::now),
        failed: false,
    };
    // Set when a batch found the database unreachable: until then, batches are refused.
    let mut paused_until: Option<(Instant, String)> = None;
    loop {
        {
            let mut rx = queue.0.lock().await;
            let first = if automatic && unfolded.since.is_some() {
                let idle = if unfolded.failed {
                    rollup::FOLD_AFTER
                } else {
                    rollup::FOLD_WHEN_IDLE
                };
                match tokio::time::timeout(idle, rx.recv()).await {
                    Ok(job) => job,
                    Err(_idle) => {
                        drop(rx);
                        if paused_until
                            .as_ref()
                            .is_some_and(|(until, _)| Instant::now() >= *until)
                        {
                            paused_until = None;
                        }
                        if paused_until.is_none() {
                            let _ = fold_all(&mut writer, &mut unfolded, false).await;
                        }
                        continue;
                    }
                }
            } else {
                rx.recv().await
            };
            let Some(first) = first else { break };
            let queued = match first {
                WriteJob::Commit { submissions, reply } => {
                    let queued = submissions.len();
                    jobs.push(CommitJob { submissions, reply });
                    queued
                }
                WriteJob::Fold { reply } => {
                    fold_requests.push(reply);
                    0
                }
            };
            if fold_requests.is_empty() {
                fill_batch(&mut rx, &mut jobs, &mut fold_requests, queued);
            }
        }
        if let Some((until, error)) = &paused_until {
            if Instant::now() < *until {
                refuse_jobs(&mut jobs, error);
            } else {
                paused_until = None;
            }
        }
        if !jobs.is_empty() {
            match commit_batch(&mut writer, &mut jobs, &spent).await {
                Ok(stored) => {
                    unfolded.add(stored);
                    if stored > 0 {
                        queue.1.send_modify(|n| *n += stored as u64);
                    }
                }
                Err(unreachable) => {
                    tracing::error!(error = %unreachable, "the database is unreachable: refusing submissions for a moment");
                    metrics::counter!("tlsrpt_store_unavailable_total").increment(1);
                    paused_until =
                        Some((Instant::now() + UNAVAILABLE_PAUSE, unreachable.to_string()));
                }
            }
        }
        if !fold_requests.is_empty()
            || (automatic
                && paused_until.is_none()
                && after_reports.is_some_and(|n| unfolded.due(n)))
        {
            let wait = !fold_requests.is_empty();
            let result = fold_all(&mut writer, &mut unfolded, wait).await;
            for reply in fold_requests.drain(..) {
                let _ = reply.send(match &result {
                    Ok(n) => Ok(*n),
                    Err(e) => Err(StoreError::Fold(e.to_string())),
                });
            }
        }
    }
}

/// A queued commit job.
struct CommitJob {
    submissions: Vec<NewSubmission>,
    reply: oneshot::Sender<CommitResults>,
}

/// Answers every job "unavailable" without trying the database.
fn refuse_jobs(jobs: &mut Vec<CommitJob>, error: &str) {
    for job in jobs.drain(..) {
        let results = job
            .submissions
            .iter()
            .map(|_| Err(StoreError::Unavailable(error.to_owned())))
            .collect();
        let _ = job.reply.send(results);
    }
}

/// Commits the jobs' submissions in one transaction (or one by one if that fails),
/// answers every job, and returns how many reports were stored. When the database is
/// out of reach, every job is answered so at once and the error returned.
async fn commit_batch<W: BatchWriter>(
    writer: &mut W,
    jobs: &mut Vec<CommitJob>,
    spent: &Spent,
) -> Result<usize, StoreError> {
    let started = Instant::now();
    let submissions: Vec<&NewSubmission> = jobs.iter().flat_map(|job| &job.submissions).collect();
    let batch_size = submissions.len();
    let result = writer.write_batch(&submissions).await;
    drop(submissions);
    record_batch(batch_size, started, result.is_ok());
    match result {
        Ok(receipts) => {
            let stored = receipts.iter().map(CommitReceipt::stored).sum();
            answer_jobs(jobs, receipts, spent);
            Ok(stored)
        }
        Err(unreachable) if unreachable.is_unavailable() => {
            refuse_jobs(jobs, &unreachable.to_string());
            Err(unreachable)
        }
        Err(batch_error) => {
            tracing::warn!(error = %batch_error, size = batch_size, "batch commit failed, retrying one by one");
            let mut stored = 0;
            for job in jobs.drain(..) {
                let mut results = Vec::with_capacity(job.submissions.len());
                for submission in &job.submissions {
                    let result = writer
                        .write_batch(&[submission])
                        .await
                        .and_then(|mut r| r.pop().ok_or(StoreError::WriterGone));
                    record_failure(&result);
                    stored += result.as_ref().map_or(0, CommitReceipt::stored);
                    results.push(result);
                }
                let _ = job.reply.send(results);
            }
            Ok(stored)
        }
    }
}

impl Store {
    /// Commits one submission; resolves after the transaction that holds it is durable.
    pub async fn commit(&self, submission: NewSubmission) -> Result<CommitReceipt, StoreError> {
        let (reply, rx) = oneshot::channel();
        let job = WriteJob::Commit {
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
            .blocking_send(WriteJob::Commit { submissions, reply })
            .map_err(|_| StoreError::WriterGone)?;
        Ok(PendingCommit { reply: rx, len })
    }

    /// Folds every report committed so far into the rollups, and returns how many were
    /// pending. Reads count pending reports anyway; this makes them cheap to read again
    /// (bulk import calls it before it exits, so it leaves no work behind).
    pub async fn fold_rollups(&self) -> Result<u64, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(WriteJob::Fold { reply })
            .await
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }
}

/// Moves more queued commit jobs into `jobs` (which holds `queued` submissions) until the
/// batch holds [`MAX_BATCH`] submissions, the queue is empty, or a fold request comes
/// (which then waits for this batch, as it was queued after it). A job is never split,
/// so a big import chunk may make one batch a little larger.
fn fill_batch(
    rx: &mut mpsc::Receiver<WriteJob>,
    jobs: &mut Vec<CommitJob>,
    fold_requests: &mut Vec<oneshot::Sender<Result<u64, StoreError>>>,
    mut queued: usize,
) {
    while queued < MAX_BATCH {
        match rx.try_recv() {
            Ok(WriteJob::Commit { submissions, reply }) => {
                queued += submissions.len();
                jobs.push(CommitJob { submissions, reply });
            }
            Ok(WriteJob::Fold { reply }) => {
                fold_requests.push(reply);
                break;
            }
            Err(_) => break,
        }
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
fn answer_jobs(jobs: &mut Vec<CommitJob>, receipts: Vec<CommitReceipt>, spent: &Spent) {
    let mut receipts = receipts.into_iter();
    let mut committed = Vec::with_capacity(jobs.len());
    for job in jobs.drain(..) {
        let results = receipts
            .by_ref()
            .take(job.submissions.len())
            .map(Ok)
            .collect();
        let _ = job.reply.send(results);
        committed.push(job.submissions);
    }
    spent.discard(committed);
}

/// Frees committed submissions on a thread of its own. A batch holds a thousand
/// submissions with their raw bytes and parsed reports, allocated by other threads;
/// freeing them was a twentieth of the writer's time in bulk import, and the writer
/// thread is what bulk import waits on.
struct Spent(Option<std::sync::mpsc::SyncSender<Vec<Vec<NewSubmission>>>>);

/// Batches waiting to be freed: if the freeing thread falls behind, the writer frees
/// the next batch itself, so memory held stays bounded.
const SPENT_QUEUE: usize = 2;

/// Smallest batch handed to the freeing thread. The network intakes commit a few dozen
/// submissions at a time, and a hand-over of those cost two futex calls and a thread
/// woken for microseconds of freeing (strace over 10,000 HTTPS posts: about 900 of the
/// 1,800 futex calls); bulk import's batches of hundreds are worth it.
const SPENT_HANDOFF_MIN: usize = 256;

impl Spent {
    fn start() -> Spent {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Vec<NewSubmission>>>(SPENT_QUEUE);
        let started = std::thread::Builder::new()
            .name("store-free".into())
            // Ends when the writer drops the sender.
            .spawn(move || rx.into_iter().for_each(drop));
        // Without the thread, the writer frees them itself.
        Spent(started.ok().map(|_| tx))
    }

    fn discard(&self, batch: Vec<Vec<NewSubmission>>) {
        let submissions: usize = batch.iter().map(Vec::len).sum();
        if submissions < SPENT_HANDOFF_MIN {
            // Freed here: handing it over would wake the freeing thread for less work
            // than the wake-up costs.
            return;
        }
        if let Some(tx) = &self.0 {
            // Full or gone: dropped here instead.
            let _ = tx.try_send(batch);
        }
    }
}

/// Counts and logs a submission that failed even when committed alone.
fn record_failure(result: &Result<CommitReceipt, StoreError>) {
    if let Err(e) = result {
        metrics::counter!("tlsrpt_store_commit_errors_total").increment(1);
        tracing::error!(error = %e, "commit failed");
    }
}
