//! PostgreSQL backend, for deployments where several tlsrptd instances share a database.
//!
//! In: a `postgres://` URL. Out: a migrated pool plus the shared queries. Dedup across
//! instances relies on the unique key and `ON CONFLICT DO NOTHING`, which waits for a
//! concurrent insert of the same key to finish.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres};

/// Connections per instance: the writer plus concurrent API readers. PostgreSQL's default
/// of 100 connections leaves room for about ten instances.
const POOL_SIZE: u32 = 8;

/// A request waiting longer than this for a connection fails (503/451, the sender retries)
/// instead of piling up behind an unreachable database.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) async fn connect(url: &str) -> Result<PgPool, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect(url)
        .await?;
    sqlx::migrate!("migrations/postgres").run(&pool).await?;
    Ok(pool)
}

super::queries::define_queries!(Postgres, PgPool, "BEGIN", alloc_ids);

/// Next `n` ids of `table` from its identity sequence: unique across every instance
/// sharing the database, so multi-row inserts can name parents' ids up front.
async fn alloc_ids(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    table: q::Table,
    n: usize,
) -> Result<Vec<i64>, StoreError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_scalar(
        "SELECT nextval(pg_get_serial_sequence($1, 'id')) FROM generate_series(1, $2)",
    )
    .bind(table.name())
    .bind(n as i64)
    .fetch_all(&mut **tx)
    .await?)
}
