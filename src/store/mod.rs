//! The store: durable home of submissions, reports and quarantine, and the read side.
//!
//! In: [`NewSubmission`]s from the pipeline (raw bytes already compressed, reports parsed,
//! rejections with reasons). Out: a [`CommitReceipt`] once the transaction holding a
//! submission is committed and synced, and typed answers to the read methods used by the
//! API, the dashboard and the tests.
//!
//! - `write.rs`: the write model and the one group-commit loop: writers drain a queue and
//!   commit many submissions per transaction, and a caller's future resolves only after
//!   that commit, so "stored" always means "on disk" while throughput comes from batching.
//! - `read.rs`: the read model and the read methods.
//! - `queries.rs`: the SQL, written once, with named row types; `rollup.rs`: the per-domain
//!   rollups a write batch adds to.
//! - `sqlite.rs`, `postgres.rs`: one per backend: connection setup, migrations, and the
//!   batch writer (rusqlite on its own thread for SQLite, multi-row statements for
//!   PostgreSQL).

/// Runs `$body` with `$pool` bound to the store's pool, whichever the backend: for the
/// small reads and writes whose SQL is the same on both (sessions, posture, readiness).
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            Backend::Sqlite($pool) => $body,
            Backend::Postgres($pool) => $body,
        }
    };
}

mod alerts;
mod insert;
mod postgres;
mod posture;
mod queries;
mod read;
mod readiness;
mod rollup;
mod sessions;
mod sqlite;
mod write;

use tokio::sync::mpsc;

pub use crate::report::normalize_domain;
pub use alerts::{Alert, AlertChanges, AlertCondition, DueNotice, Notice};
pub use posture::{PostureBefore, PostureChange, PostureLatest, PostureSave, TakenCheck};
pub use read::{
    DayCounts, DomainOverview, DomainSummary, FailureCount, FailureSeen, MAX_PAGE, MAX_SERIES_DAYS,
    Page, PolicySeen, RawSubmission, Rejection, ReportFilter, ReportListItem, SessionCounts,
    StoredReport, TimeRange, failure_rate,
};
pub use readiness::{DayFailures, DaySessions};
pub use rollup::Folding;
use write::WriteJob;
pub use write::{
    CommitReceipt, CommitResults, NewRejection, NewReport, NewSubmission, PendingCommit, RawBytes,
    ReportOutcome,
};

/// Concurrent write transactions per process on PostgreSQL: one per core, two to four.
/// SQLite has one writer by design; PostgreSQL commits in parallel (dedup holds through
/// the unique key, which makes a second insert of the same report wait for the first), so
/// a few writers keep its WAL flushes overlapping. On 2 cores, four writers cost more CPU
/// than they overlapped: bulk import into PostgreSQL took 7.90 s by mean with four, 7.47 s
/// with two, with the network intakes unchanged (docs/benchmarks.md, 2026-12-05). Four
/// stays well inside the pool of eight connections.
fn postgres_writers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4))
}

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
    #[error("folding reports into the rollups failed: {0}")]
    Fold(String),
    #[error("the store writer has stopped")]
    WriterGone,
    /// The database did not answer a moment ago; not tried again yet.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("invalid cursor {0:?}")]
    InvalidCursor(String),
}

impl StoreError {
    /// True when the database itself is out of reach (connection refused or lost, pool
    /// timed out, server shutting down, disk full or locked), as opposed to one
    /// submission it refused: trying each submission again alone would only wait as long
    /// again for each.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) | StoreError::WriterGone => true,
            StoreError::Database(e) => match e {
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::WorkerCrashed => true,
                // SQLSTATE classes 08 (connection exception), 53 (insufficient
                // resources) and 57P (operator intervention: shutdown, restart).
                sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                    code.starts_with("08") || code.starts_with("53") || code.starts_with("57P")
                }),
                _ => false,
            },
            StoreError::SqliteWriter(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::CannotOpen
            ),
            _ => false,
        }
    }
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Handle to the store; cheap to clone, shared by every intake and reader.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    writer: mpsc::Sender<WriteJob>,
    /// Reports this process has stored, counted after each commit.
    stored: tokio::sync::watch::Receiver<u64>,
}

impl Store {
    /// Opens (and for SQLite creates) the database named by `url`, applies migrations and
    /// starts the writer task. Must be called inside a Tokio runtime.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, Folding::Automatic).await
    }

    /// [`open`](Store::open), choosing when stored reports are folded into the rollups.
    pub async fn open_with(url: &str, folding: Folding) -> Result<Store, StoreError> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite(sqlite::connect(url).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(postgres::connect(url).await?)
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        let (tx, rx) = mpsc::channel(write::WRITE_QUEUE);
        let (stored_tx, stored) = tokio::sync::watch::channel(0);
        let queue = write::SharedQueue::new(rx, stored_tx);
        match &backend {
            Backend::Sqlite(pool) => {
                sqlite::spawn_writer(url, queue, folding)?;
                sqlite::spawn_idle_checkpoints(pool.clone(), stored.clone());
            }
            Backend::Postgres(pool) => {
                // PostgreSQL folds beside the other writers' commits (each fold one
                // statement), so larger bulk folds only delay them: measured +11% on
                // bulk import against +5% with the service's folding.
                let folding = match folding {
                    Folding::Bulk => Folding::Automatic,
                    other => other,
                };
                for _ in 0..postgres_writers() {
                    let writer = postgres::PgWriter::new(pool.clone());
                    tokio::spawn(write::run_writer(writer, queue.clone(), folding));
                }
            }
        }
        Ok(Store {
            backend,
            writer: tx,
            stored,
        })
    }

    /// Follows the count of reports this process has stored: it changes after each
    /// commit that stored any.
    pub fn stored_reports(&self) -> tokio::sync::watch::Receiver<u64> {
        self.stored.clone()
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// SQLite: copies the WAL back into the database file and truncates it; whether it
    /// completed. PostgreSQL: nothing to do (`true`). The service does this by itself
    /// after a quiet minute.
    pub async fn checkpoint_wal(&self) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => sqlite::checkpoint(pool).await,
            Backend::Postgres(_) => Ok(true),
        }
    }

    /// Checks the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(p) => sqlite::ping(p).await,
            Backend::Postgres(p) => postgres::ping(p).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StoreError;

    fn sqlite(code: rusqlite::ErrorCode) -> StoreError {
        StoreError::SqliteWriter(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error {
                code,
                extended_code: 0,
            },
            None,
        ))
    }

    #[test]
    fn an_unreachable_database_is_told_from_a_refused_submission() {
        assert!(StoreError::Database(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(
            StoreError::Database(sqlx::Error::Io(
                std::io::ErrorKind::ConnectionRefused.into()
            ))
            .is_unavailable()
        );
        assert!(sqlite(rusqlite::ErrorCode::DiskFull).is_unavailable());
        assert!(sqlite(rusqlite::ErrorCode::DatabaseBusy).is_unavailable());
        assert!(!sqlite(rusqlite::ErrorCode::ConstraintViolation).is_unavailable());
        assert!(!StoreError::Database(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!StoreError::Corrupt("x".into()).is_unavailable());
    }
}
