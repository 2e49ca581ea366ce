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
        .busy_timeout(BUSY_TIMEOUT)
        // Statement journals of multi-row inserts stay in memory instead of temp files.
        .pragma("temp_store", "MEMORY")
        // A batch of 512 submissions touches several MiB of pages; with SQLite's 2 MiB
        // default the writer spills to the WAL mid-transaction. 16 MiB per connection
        // keeps a batch in cache and the process well under 100 MB.
        .pragma("cache_size", "-16384")
        // Checkpoint every ~100 MiB of WAL instead of SQLite's 4 MiB: index pages that many
        // commits touch are copied back once instead of once per few batches (the 4 MiB
        // default took ~30% of the writer's time under sustained intake). The WAL file
        // grows to about that size on disk; memory is unaffected.
        .pragma("wal_autocheckpoint", "25000");
    let pool = SqlitePoolOptions::new()
        .max_connections(POOL_SIZE)
        .connect_with(options)
        .await?;
    sqlx::migrate!("migrations/sqlite").run(&pool).await?;
    Ok(pool)
}

// IMMEDIATE takes the write lock at the start, so two processes never deadlock upgrading
// read transactions to write transactions.
super::queries::define_queries!(Sqlite, SqlitePool, "BEGIN IMMEDIATE", alloc_ids);

/// Next `n` ids of `table`. Safe because the caller holds the write lock (`BEGIN
/// IMMEDIATE`); `sqlite_sequence` keeps ids of deleted rows from being reused.
async fn alloc_ids(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    table: q::Table,
    n: usize,
) -> Result<Vec<i64>, StoreError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let sql = match table {
        q::Table::Submissions => {
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'submissions'), 0), COALESCE((SELECT MAX(id) FROM submissions), 0))"
        }
        q::Table::Reports => {
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'reports'), 0), COALESCE((SELECT MAX(id) FROM reports), 0))"
        }
        q::Table::Policies => {
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'policies'), 0), COALESCE((SELECT MAX(id) FROM policies), 0))"
        }
        q::Table::Quarantine => {
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'quarantine'), 0), COALESCE((SELECT MAX(id) FROM quarantine), 0))"
        }
    };
    let last: i64 = sqlx::query_scalar(sql).fetch_one(&mut **tx).await?;
    Ok((last + 1..=last + n as i64).collect())
}
