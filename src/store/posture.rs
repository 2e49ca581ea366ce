//! Posture checks (migration 0009): the latest check of each watched domain, its
//! schedule and lease, and the history of its state changes.
//!
//! In: domains to watch, checks to save (the result as JSON, its state and what the next
//! check compares with), times as Unix seconds. Out: the checks due (each taken under a
//! lease so one node runs it), the latest result, the history, and every domain's state
//! for the overview. Like dashboard sessions these are small writes straight to the
//! pool, not through the report writer.

use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use super::{Backend, Store, StoreError};

const WATCH: &str = "INSERT INTO posture_latest (domain, next_check_at) VALUES ($1, $2) \
    ON CONFLICT (domain) DO NOTHING";
const DUE: &str = "SELECT domain FROM posture_latest \
    WHERE next_check_at <= $1 AND lease_until <= $1 ORDER BY next_check_at LIMIT $2";
/// Takes a due check: only one node's UPDATE finds the lease free.
const TAKE_DUE: &str = "UPDATE posture_latest SET lease_until = $1 \
    WHERE domain = $2 AND next_check_at <= $3 AND lease_until <= $3";
/// Takes a check asked for now (`?refresh=true`), due or not.
const TAKE_NOW: &str = "UPDATE posture_latest SET lease_until = $1 \
    WHERE domain = $2 AND lease_until <= $3";
const PREVIOUS: &str = "SELECT checked_at, state, sts_id, policy_lines FROM posture_latest \
    WHERE domain = $1";
const SAVE: &str = "UPDATE posture_latest SET checked_at = $1, state = $2, result_json = $3, \
    sts_id = $4, policy_lines = $5, next_check_at = $6, lease_until = 0 WHERE domain = $7";
const RELEASE: &str = "UPDATE posture_latest SET lease_until = 0, next_check_at = $1 \
    WHERE domain = $2";
const CHANGED: &str = "INSERT INTO posture_history \
    (domain, changed_at, state, previous_state, finding_codes) VALUES ($1, $2, $3, $4, $5)";
const LATEST: &str = "SELECT checked_at, state, result_json, next_check_at FROM posture_latest \
    WHERE domain = $1";
const HISTORY: &str = "SELECT changed_at, state, previous_state, finding_codes \
    FROM posture_history WHERE domain = $1 ORDER BY changed_at DESC, id DESC LIMIT $2";
const STATES: &str = "SELECT domain, state FROM posture_latest WHERE state IS NOT NULL";

/// What the previous check of a domain left for the next one.
#[derive(Debug, Clone, Default)]
pub struct PostureBefore {
    pub checked_at: Option<i64>,
    pub state: Option<String>,
    pub sts_id: Option<String>,
    /// JSON array of the policy file's lines.
    pub policy_lines: Option<String>,
}

/// A check taken under a lease: the domain and what its previous check left.
#[derive(Debug, Clone)]
pub struct TakenCheck {
    pub domain: String,
    pub before: PostureBefore,
}

/// One finished check to save.
#[derive(Debug, Clone)]
pub struct PostureSave {
    pub domain: String,
    pub checked_at: i64,
    pub state: String,
    /// The state the check was taken with ([`PostureBefore::state`]): the lease keeps
    /// other checks of the domain out meanwhile, and reading it again inside the
    /// transaction would make SQLite upgrade a read lock.
    pub previous_state: Option<String>,
    pub result_json: String,
    pub sts_id: Option<String>,
    pub policy_lines: Option<String>,
    /// JSON array of the finding codes, kept with a change of state.
    pub finding_codes: String,
    pub next_check_at: i64,
}

/// The latest stored check of a domain.
#[derive(Debug, Clone)]
pub struct PostureLatest {
    pub checked_at: Option<i64>,
    pub state: Option<String>,
    pub result_json: Option<String>,
    pub next_check_at: i64,
}

/// A change of a domain's posture state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PostureChange {
    /// When the check that found the new state ran.
    pub changed_at: chrono::DateTime<chrono::Utc>,
    /// ok, warning, missing, broken or degraded.
    pub state: String,
    /// The state before (absent for the first check).
    pub previous_state: Option<String>,
    /// The codes of that check's findings.
    pub finding_codes: Vec<String>,
}

fn at(seconds: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

impl Store {
    /// Adds the domains not yet watched, first due at `due_at`; known ones keep their
    /// schedule.
    pub async fn watch_posture(&self, domains: &[String], due_at: i64) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for domain in domains {
                sqlx::query(WATCH)
                    .bind(domain)
                    .bind(due_at)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Takes up to `limit` checks due at `now`, each leased until `lease_until`: a check
    /// another node holds (or took first) is not returned.
    pub async fn take_due_posture(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<TakenCheck>, StoreError> {
        let due: Vec<String> = on_pool!(self, |pool| {
            sqlx::query_scalar(DUE)
                .bind(now)
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        let mut taken = Vec::with_capacity(due.len());
        for domain in due {
            let won = on_pool!(self, |pool| {
                sqlx::query(TAKE_DUE)
                    .bind(lease_until)
                    .bind(&domain)
                    .bind(now)
                    .execute(pool)
                    .await?
                    .rows_affected()
            });
            if won == 1 {
                let before = self.posture_before(&domain).await?;
                taken.push(TakenCheck { domain, before });
            }
        }
        Ok(taken)
    }

    /// Takes a check of `domain` now, due or not (watching it from now on); `None` when
    /// another check of it is running.
    pub async fn take_posture_now(
        &self,
        domain: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<TakenCheck>, StoreError> {
        self.watch_posture(&[domain.to_owned()], now).await?;
        let won = on_pool!(self, |pool| {
            sqlx::query(TAKE_NOW)
                .bind(lease_until)
                .bind(domain)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if won != 1 {
            return Ok(None);
        }
        let before = self.posture_before(domain).await?;
        Ok(Some(TakenCheck {
            domain: domain.to_owned(),
            before,
        }))
    }

    async fn posture_before(&self, domain: &str) -> Result<PostureBefore, StoreError> {
        let row = on_pool!(self, |pool| {
            sqlx::query(PREVIOUS)
                .bind(domain)
                .fetch_optional(pool)
                .await?
                .map(|row| -> Result<PostureBefore, sqlx::Error> {
                    Ok(PostureBefore {
                        checked_at: row.try_get(0)?,
                        state: row.try_get(1)?,
                        sts_id: row.try_get(2)?,
                        policy_lines: row.try_get(3)?,
                    })
                })
                .transpose()?
        });
        Ok(row.unwrap_or_default())
    }

    /// Saves a finished check, releases its lease and, when the state differs from the
    /// previous check's (or this is the first), records the change, in one transaction.
    pub async fn save_posture(&self, save: &PostureSave) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(SAVE)
                .bind(save.checked_at)
                .bind(&save.state)
                .bind(&save.result_json)
                .bind(&save.sts_id)
                .bind(&save.policy_lines)
                .bind(save.next_check_at)
                .bind(&save.domain)
                .execute(&mut *tx)
                .await?;
            if save.previous_state.as_deref() != Some(save.state.as_str()) {
                sqlx::query(CHANGED)
                    .bind(&save.domain)
                    .bind(save.checked_at)
                    .bind(&save.state)
                    .bind(&save.previous_state)
                    .bind(&save.finding_codes)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Gives a taken check back unrun (it failed before judging): due again at
    /// `next_check_at`.
    pub async fn release_posture(
        &self,
        domain: &str,
        next_check_at: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(RELEASE)
                .bind(next_check_at)
                .bind(domain)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The latest check of `domain`; `None` when it is not watched.
    pub async fn latest_posture(&self, domain: &str) -> Result<Option<PostureLatest>, StoreError> {
        let latest = on_pool!(self, |pool| {
            sqlx::query(LATEST)
                .bind(domain)
                .fetch_optional(pool)
                .await?
                .map(|row| -> Result<PostureLatest, sqlx::Error> {
                    Ok(PostureLatest {
                        checked_at: row.try_get(0)?,
                        state: row.try_get(1)?,
                        result_json: row.try_get(2)?,
                        next_check_at: row.try_get(3)?,
                    })
                })
                .transpose()?
        });
        Ok(latest)
    }

    /// The changes of `domain`'s state, newest first, at most `limit`.
    pub async fn posture_history(
        &self,
        domain: &str,
        limit: i64,
    ) -> Result<Vec<PostureChange>, StoreError> {
        let rows: Vec<(i64, String, Option<String>, String)> = on_pool!(self, |pool| {
            sqlx::query_as(HISTORY)
                .bind(domain)
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(|(changed_at, state, previous_state, codes)| {
                let finding_codes = serde_json::from_str(&codes)
                    .map_err(|e| StoreError::Corrupt(format!("posture_history codes: {e}")))?;
                Ok(PostureChange {
                    changed_at: at(changed_at),
                    state,
                    previous_state,
                    finding_codes,
                })
            })
            .collect()
    }

    /// Every checked domain's latest state (the overview's badges).
    pub async fn posture_states(
        &self,
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let rows: Vec<(String, String)> = on_pool!(self, |pool| {
            sqlx::query_as(STATES).fetch_all(pool).await?
        });
        Ok(rows.into_iter().collect())
    }
}
