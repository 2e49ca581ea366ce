//! Dashboard sessions (migration 0007): opened by a sign-in, ended by sign-out, expiry or
//! a change of the API token.
//!
//! In: hashes of the session cookie and of the token, and times. Out: whether a session is
//! open. These small writes go straight to the pool, not through the report writer: a
//! sign-in must not wait behind a bulk import's batches.

use super::{Backend, Store, StoreError};

const OPEN: &str = "INSERT INTO dashboard_sessions (id_hash, token_hash, created_at, expires_at) \
    VALUES ($1, $2, $3, $4)";
const IS_OPEN: &str = "SELECT COUNT(*) FROM dashboard_sessions \
    WHERE id_hash = $1 AND token_hash = $2 AND expires_at > $3";
const END: &str = "DELETE FROM dashboard_sessions WHERE id_hash = $1";
/// Expired sessions, and those of another token.
const SWEEP: &str = "DELETE FROM dashboard_sessions WHERE expires_at <= $1 OR token_hash <> $2";

impl Store {
    /// Opens a session until `expires_at` (Unix seconds) and sweeps out expired ones and
    /// those of another token.
    pub async fn open_session(
        &self,
        id_hash: &str,
        token_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(SWEEP)
                .bind(now)
                .bind(token_hash)
                .execute(pool)
                .await?;
            sqlx::query(OPEN)
                .bind(id_hash)
                .bind(token_hash)
                .bind(now)
                .bind(expires_at)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Whether the session is open under this token at `now`.
    pub async fn session_is_open(
        &self,
        id_hash: &str,
        token_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let count: i64 = on_pool!(self, |pool| {
            sqlx::query_scalar(IS_OPEN)
                .bind(id_hash)
                .bind(token_hash)
                .bind(now)
                .fetch_one(pool)
                .await?
        });
        Ok(count > 0)
    }

    /// Ends a session (sign-out).
    pub async fn end_session(&self, id_hash: &str) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(END).bind(id_hash).execute(pool).await?;
        });
        Ok(())
    }
}
