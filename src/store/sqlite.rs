//! SQLite backend: the embedded default.
//!
//! In: a `sqlite://PATH` URL and the store's write queue. Out: a migrated sqlx pool in WAL
//! mode for the read side (the shared queries), and the writer: one thread that owns the
//! database's one write connection and commits queued submissions in batches, with
//! `synchronous=FULL`, so a commit is on disk when it returns.
//!
//! The writer uses rusqlite rather than sqlx: SQLite has exactly one writer, so there is
//! nothing to gain from async there, and sqlx's driver sends every statement to its own
//! worker thread and copies every bound value. The writer instead runs single-row
//! prepared statements, reused for every row with values borrowed from the submission,
//! which halves the cost of a bulk import (see docs/benchmarks.md).

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use super::insert as ins;
use super::rollup;
use super::write::{BatchWriter, SharedQueue};
use super::{CommitReceipt, NewSubmission, ReportOutcome};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

/// How long a statement waits for another process (an `import` next to `serve`) holding
/// the write lock before failing; long enough to ride out one big batch.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Readers run concurrently in WAL mode (the writer has its own connection, outside the
/// pool). Five connections cover the dashboard and API on a small machine without many
/// idle file handles.
const POOL_SIZE: u32 = 5;

/// Page cache of each connection. A batch of 1,024 submissions dirties several MiB of
/// pages; with SQLite's 2 MiB default the writer spills to the WAL mid-transaction. 16 MiB
/// keeps a batch in cache and the process well under 100 MB.
const CACHE_KIB: i64 = 16 * 1024;

/// Checkpoint every ~100 MiB of WAL (25,000 pages) instead of SQLite's 4 MiB: index pages
/// that many commits touch are copied back once instead of once per few batches (the 4 MiB
/// default took ~30% of the writer's time under sustained intake). The WAL file grows to
/// about that size on disk; memory is unaffected.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 25_000;

/// Readers map up to this much of the database file instead of copying each page they
/// read with a system call: the domain summary's join looks up thousands of failure
/// details by key, scattered over the file. The mapping is address space, not memory of
/// ours: the pages are the kernel's file cache, shared by every connection (RSS counts
/// the ones touched). The price: a disk error under a mapped read ends the process
/// (SIGBUS) instead of failing that query. The writer does not map the file.
const READER_MMAP_BYTES: i64 = 1 << 30;

pub(super) async fn connect(url: &str) -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        // Statement journals stay in memory instead of temp files.
        .pragma("temp_store", "MEMORY")
        .pragma("cache_size", format!("-{CACHE_KIB}"))
        .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string())
        .pragma("mmap_size", READER_MMAP_BYTES.to_string());
    let pool = SqlitePoolOptions::new()
        .max_connections(POOL_SIZE)
        .connect_with(options)
        .await?;
    sqlx::migrate!("migrations/sqlite").run(&pool).await?;
    Ok(pool)
}

super::queries::define_queries!(Sqlite, SqlitePool);

/// With no report stored for this long, the WAL is checkpointed and truncated. The
/// autocheckpoint above lets ~100 MB of recent pages sit in the WAL, and a read of a page
/// whose newest version is there goes through the WAL instead of the mapped file: on a
/// store of 1,000,000 reports with a 119 MB WAL the 90-day domain page took p95 47-50 ms,
/// 36-41 ms once checkpointed (docs/benchmarks.md). Under intake the checkpoint waits
/// for a quiet minute, so batching keeps its large checkpoints.
const IDLE_CHECKPOINT_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// Copies every WAL page back into the database file and truncates the WAL (waiting,
/// within the busy timeout, for readers of older snapshots). Whether it completed (a
/// reader or writer that stayed busy past the timeout leaves it for the next quiet
/// minute).
pub(super) async fn checkpoint(pool: &SqlitePool) -> Result<bool, StoreError> {
    let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(pool)
        .await?;
    Ok(busy == 0)
}

/// Checkpoints the WAL after every quiet [`IDLE_CHECKPOINT_AFTER`]: a minute in which
/// this process stored no report. Ends with the runtime.
pub(super) fn spawn_idle_checkpoints(
    pool: SqlitePool,
    mut stored: tokio::sync::watch::Receiver<u64>,
) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(IDLE_CHECKPOINT_AFTER).await;
            if stored.has_changed().unwrap_or(false) {
                stored.borrow_and_update();
                continue;
            }
            match checkpoint(&pool).await {
                Ok(true) => tracing::debug!("idle: WAL checkpointed and truncated"),
                Ok(false) => tracing::debug!("idle WAL checkpoint left for later: busy"),
                Err(e) => tracing::debug!(error = %e, "idle WAL checkpoint not done"),
            }
        }
    });
}

/// Opens the write connection to the database `url` names (already created and migrated
/// by [`connect`]) and starts the writer thread on `queue`: the shared group-commit loop
/// on a single-threaded runtime of its own, so the blocking rusqlite calls never hold up
/// the service's runtime. The thread ends when every sender of the queue is dropped.
pub(super) fn spawn_writer(
    url: &str,
    queue: SharedQueue,
    folding: rollup::Folding,
) -> Result<(), StoreError> {
    let options = SqliteConnectOptions::from_str(url)?;
    let path = options.get_filename().to_path_buf();
    let name = path.to_string_lossy();
    if name == ":memory:" || name.starts_with("file:") {
        // A second connection to an in-memory database would see a different database.
        return Err(StoreError::UnsupportedUrl(url.to_owned()));
    }
    let conn = rusqlite::Connection::open_with_flags(
        &path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
    // Timers for the writer's idle fold (`rollup::FOLD_WHEN_IDLE`).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(StoreError::WriterStart)?;
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || {
            runtime.block_on(super::write::run_writer(
                SqliteWriter {
                    conn,
                    known_pairs: HashSet::new(),
                    policy_texts: ins::PolicyTexts::default(),
                    committed: Committed::default(),
                },
                queue,
                folding,
            ))
        })
        .map_err(StoreError::WriterStart)?;
    Ok(())
}

/// The one write connection.
struct SqliteWriter {
    conn: rusqlite::Connection,
    /// (domain, organization) pairs known to be in `domain_organizations`, so a fold
    /// does not insert them again (a tenth of a fold's time).
    known_pairs: HashSet<(String, String)>,
    policy_texts: ins::PolicyTexts,
    /// What this writer committed since its last fold, summed as it commits.
    committed: Committed,
}

/// The rollup deltas of the reports this writer committed since its last fold, so a
/// fold can add them without reading their policies back (a third of a fold's time in
/// bulk import). Used only when they are exactly the pending reports (no other process
/// wrote or folded meanwhile; [`fold_rollups`] checks), else the fold reads.
#[derive(Default)]
struct Committed {
    deltas: rollup::Deltas,
    reports: i64,
    first: i64,
    last: i64,
}

/// Most reports summed in [`Committed`] (about 100 bytes per distinct rollup key): past
/// it, e.g. when folds keep failing, the sums are dropped and the next fold reads.
const COMMITTED_MAX_REPORTS: i64 = 4 * rollup::FOLD_CHUNK;

impl Committed {
    fn add(&mut self, report_row: i64, report: &crate::report::Report) {
        if self.reports >= COMMITTED_MAX_REPORTS {
            *self = Committed::default();
        }
        if self.reports == 0 {
            self.first = report_row;
        }
        self.reports += 1;
        self.last = report_row;
        let start = report.start.timestamp();
        for p in &report.policies {
            self.deltas.add(rollup::PendingPolicy {
                report_row,
                domain: p.policy_domain.as_deref().unwrap_or(""),
                organization: &report.organization_name,
                start,
                successful: p.total_successful,
                failed: p.total_failed,
            });
        }
    }
}

impl BatchWriter for SqliteWriter {
    async fn write_batch(
        &mut self,
        batch: &[&NewSubmission],
    ) -> Result<Vec<CommitReceipt>, StoreError> {
        let receipts = write_batch(&mut self.conn, &mut self.policy_texts, batch)?;
        for (s, receipt) in batch.iter().zip(&receipts) {
            for (new, outcome) in s.reports.iter().zip(&receipt.reports) {
                if let ReportOutcome::Stored { id } = outcome {
                    self.committed.add(*id, &new.report);
                }
            }
        }
        Ok(receipts)
    }

    /// One writer per database file at a time holds SQLite's write lock anyway.
    async fn fold_rollups(&mut self, _wait: bool) -> Result<u64, StoreError> {
        let folded = fold_rollups(&mut self.conn, &mut self.known_pairs, &self.committed)?;
        // Folded by now, by this fold or (if it read) by the ones before it.
        self.committed = Committed::default();
        Ok(folded)
    }
}

/// Folds pending reports into the rollups in one transaction (see `rollup.rs`): the
/// sums of `committed` when they are exactly the pending reports, else up to
/// [`rollup::FOLD_CHUNK`] of them read back. Returns how many.
fn fold_rollups(
    conn: &mut rusqlite::Connection,
    known_pairs: &mut HashSet<(String, String)>,
    committed: &Committed,
) -> Result<u64, StoreError> {
    let sql = |text: &str| text.replace('$', "?");
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let pending: (i64, Option<i64>, Option<i64>) = tx
        .prepare_cached(rollup::SQLITE_PENDING_SPAN)?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
    if pending.0 == 0 {
        return Ok(0);
    }
    // The pending reports are exactly this writer's when they are as many and span the
    // same ids: its reports are committed and still pending (the lowest pending id is
    // its first, so no fold has passed it), and no other report lies among them.
    if committed.reports > 0
        && pending
            == (
                committed.reports,
                Some(committed.first),
                Some(committed.last),
            )
    {
        upsert_deltas(tx, known_pairs, &committed.deltas, committed.last)?;
        return Ok(u64::try_from(committed.reports).unwrap_or(0));
    }
    let (cutoff, reports): (Option<i64>, i64) = tx
        .prepare_cached(&sql(rollup::SQLITE_FOLD_CUTOFF))?
        .query_row(params![rollup::FOLD_CHUNK], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    let Some(cutoff) = cutoff else {
        return Ok(0);
    };
    let mut deltas = rollup::Deltas::default();
    {
        let mut select = tx.prepare_cached(&sql(rollup::PENDING_POLICIES))?;
        let mut rows = select.query(params![cutoff])?;
        while let Some(row) = rows.next()? {
            deltas.add(rollup::PendingPolicy {
                report_row: row.get(0)?,
                domain: row.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?,
                organization: row.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?,
                start: row.get(3)?,
                successful: row.get(4)?,
                failed: row.get(5)?,
            });
        }
    }
    upsert_deltas(tx, known_pairs, &deltas, cutoff)?;
    Ok(u64::try_from(reports).unwrap_or(0))
}

/// Adds `deltas` to the rollups, marks the reports up to `cutoff` folded, and commits.
fn upsert_deltas(
    tx: rusqlite::Transaction<'_>,
    known_pairs: &mut HashSet<(String, String)>,
    deltas: &rollup::Deltas,
    cutoff: i64,
) -> Result<(), StoreError> {
    let sql = |text: &str| text.replace('$', "?");
    let mut new_pairs = Vec::new();
    {
        let mut upsert = tx.prepare_cached(&sql(rollup::DOMAINS))?;
        for ((domain, start), s) in deltas.domains() {
            upsert.execute(params![domain, start, s.reports, s.successful, s.failed])?;
        }
        let mut upsert = tx.prepare_cached(&sql(rollup::ORGANIZATIONS))?;
        for ((domain, org, start), s) in deltas.organizations() {
            upsert.execute(params![
                domain,
                org,
                start,
                s.reports,
                s.successful,
                s.failed
            ])?;
        }
        let mut insert = tx.prepare_cached(&sql(rollup::PAIRS))?;
        for (domain, org) in deltas.pairs() {
            let pair = (domain.to_owned(), org.to_owned());
            if !known_pairs.contains(&pair) {
                insert.execute(params![domain, org])?;
                new_pairs.push(pair);
            }
        }
    }
    tx.prepare_cached(&sql(rollup::SQLITE_MOVE_MARK))?
        .execute(params![cutoff])?;
    tx.commit()?;
    // Only pairs now committed; a cache of what is certainly stored, so bounded by
    // dropping it whole (reports name new domains without limit).
    if known_pairs.len() + new_pairs.len() > rollup::KNOWN_PAIRS {
        known_pairs.clear();
    }
    known_pairs.extend(new_pairs);
    Ok(())
}

/// `INSERT INTO t (cols) ` + a single-row `VALUES` list of `n` numbered parameters.
fn single_row(insert: &str, n: usize, suffix: &str) -> String {
    let params: Vec<String> = (1..=n).map(|i| format!("?{i}")).collect();
    format!("{insert}VALUES ({}){suffix}", params.join(", "))
}

/// Commits a batch in one `BEGIN IMMEDIATE` transaction (IMMEDIATE takes the write lock at
/// the start, so two processes never deadlock upgrading read transactions). Each row is
/// one execution of a cached prepared statement; a report whose (organization, report-id)
/// is already stored is skipped by `ON CONFLICT DO NOTHING` and answered with the stored
/// copy's id, and a submission whose reports were all duplicates is not kept.
fn write_batch(
    conn: &mut rusqlite::Connection,
    policy_texts: &mut ins::PolicyTexts,
    submissions: &[&NewSubmission],
) -> Result<Vec<CommitReceipt>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Policy texts this batch stored (or found stored), remembered once it commits.
    let mut new_texts = ins::PolicyTexts::default();
    let mut receipts = Vec::with_capacity(submissions.len());
    {
        let mut insert_submission =
            tx.prepare_cached(&single_row(ins::INSERT_SUBMISSIONS, 11, ""))?;
        let mut insert_report = tx.prepare_cached(&single_row(
            ins::INSERT_REPORTS,
            12,
            ins::ON_REPORT_CONFLICT,
        ))?;
        let mut insert_policy = tx.prepare_cached(&single_row(ins::INSERT_POLICIES, 12, ""))?;
        let mut insert_text = tx.prepare_cached(&ins::INSERT_POLICY_TEXT.replace('$', "?"))?;
        let mut select_text = tx.prepare_cached(&ins::SELECT_POLICY_TEXT.replace('$', "?"))?;
        let mut insert_detail = tx.prepare_cached(&single_row(ins::INSERT_DETAILS, 10, ""))?;
        let mut insert_quarantine =
            tx.prepare_cached(&single_row(ins::INSERT_QUARANTINE, 6, ""))?;
        let mut select_report = tx.prepare_cached(&ins::SELECT_REPORT_ID.replace('$', "?"))?;
        let mut delete_submission = tx.prepare_cached("DELETE FROM submissions WHERE id = ?1")?;
        for s in submissions {
            let received_at = s.received_at.timestamp();
            let meta = s.meta.as_ref().map(ins::to_json);
            insert_submission.execute(params![
                None::<i64>,
                s.source.as_str(),
                received_at,
                s.peer,
                s.content_type,
                s.envelope,
                meta,
                s.raw.size,
                s.raw.sha256,
                s.raw.encoding,
                s.raw.data,
            ])?;
            let submission_id = tx.last_insert_rowid();
            let mut outcomes = Vec::with_capacity(s.reports.len());
            for new in &s.reports {
                let r = &new.report;
                let start = r.start.timestamp();
                let inserted = insert_report.execute(params![
                    None::<i64>,
                    submission_id,
                    r.organization_name,
                    r.report_id,
                    r.contact_info,
                    start,
                    r.end.timestamp(),
                    received_at,
                    r.total_successful(),
                    r.total_failed(),
                    new.origin,
                    new.warnings_json(),
                ])?;
                if inserted == 0 {
                    // Stored before (by any intake, or earlier in this batch).
                    let existing: Option<i64> = select_report
                        .query_row(params![r.organization_name, r.report_id], |row| row.get(0))
                        .optional()?;
                    let id = existing.ok_or_else(|| {
                        StoreError::Corrupt("a conflicting report is not in the table".into())
                    })?;
                    outcomes.push(ReportOutcome::Duplicate { id });
                    continue;
                }
                let report_id = tx.last_insert_rowid();
                outcomes.push(ReportOutcome::Stored { id: report_id });
                for (position, p) in r.policies.iter().enumerate() {
                    let domain = p.policy_domain.as_deref().unwrap_or("");
                    let (text, mx_host) = new.policy_json(position);
                    let known = policy_texts
                        .get(&p.policy_type, text)
                        .or_else(|| new_texts.get(&p.policy_type, text));
                    let text_id = match known {
                        Some(id) => id,
                        None => {
                            insert_text.execute(params![p.policy_type, text])?;
                            let id: i64 = select_text
                                .query_row(params![p.policy_type, text], |row| row.get(0))?;
                            new_texts.insert(p.policy_type.clone(), text.to_owned(), id);
                            id
                        }
                    };
                    insert_policy.execute(params![
                        None::<i64>,
                        report_id,
                        position as i64,
                        p.policy_type,
                        domain,
                        text,
                        mx_host,
                        p.total_successful,
                        p.total_failed,
                        start,
                        r.organization_name,
                        text_id,
                    ])?;
                    let policy_id = tx.last_insert_rowid();
                    for (position, d) in p.failure_details.iter().enumerate() {
                        insert_detail.execute(params![
                            policy_id,
                            position as i64,
                            d.result_type,
                            d.sending_mta_ip,
                            d.receiving_mx_hostname,
                            d.receiving_mx_helo,
                            d.receiving_ip,
                            d.failed_session_count,
                            d.additional_information,
                            d.failure_reason_code,
                        ])?;
                    }
                }
            }
            let mut quarantine_ids = Vec::with_capacity(s.rejections.len());
            for rej in &s.rejections {
                insert_quarantine.execute(params![
                    None::<i64>,
                    submission_id,
                    received_at,
                    rej.origin,
                    rej.code,
                    rej.reason,
                ])?;
                quarantine_ids.push(tx.last_insert_rowid());
            }
            let kept = !quarantine_ids.is_empty()
                || outcomes
                    .iter()
                    .any(|o| matches!(o, ReportOutcome::Stored { .. }));
            if !kept {
                // Every report was already stored: the first copy's bytes are kept.
                delete_submission.execute(params![submission_id])?;
            }
            receipts.push(CommitReceipt {
                submission_id: kept.then_some(submission_id),
                reports: outcomes,
                quarantine_ids,
            });
        }
    }
    tx.commit()?;
    policy_texts.absorb(new_texts);
    Ok(receipts)
}
