//! SQLite backend: the embedded default.
//!
//! In: a `sqlite://PATH` URL. Out: a migrated pool in WAL mode with foreign keys on and
//! `synchronous=FULL`, so a commit is on disk when it returns; plus the shared queries.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

/// How long a statement waits for another process (an `import` next to `serve`) holding
/// the write lock before failing; long enough to ride out one big batch.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Readers run concurrently in WAL mode; the writer task needs one more. Five connections
/// cover the dashboard and API on a small machine without many idle file handles.
const POOL_SIZE: u32 = 5;

pub(super) async fn connect(url: &str) -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT);
    let pool = SqlitePoolOptions::new()
        .max_connections(POOL_SIZE)
        .connect_with(options)
        .await?;
    sqlx::migrate!("migrations/sqlite").run(&pool).await?;
    Ok(pool)
}

// IMMEDIATE takes the write lock at the start, so two processes never deadlock upgrading
// read transactions to write transactions.
super::queries::define_queries!(Sqlite, SqlitePool, "BEGIN IMMEDIATE");
