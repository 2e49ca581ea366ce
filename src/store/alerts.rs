//! Alerts and their notification outbox (migration 0011).
//!
//! In: the conditions that hold for a domain now (already judged by the alert rules),
//! the time, the reminder cooldown and the channels each condition goes to. Out: alerts
//! opened, kept, reminded and resolved, with one outbox row per notice and channel, all in
//! one transaction; and the alerts and notifications for the API.

use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use super::{Backend, Store, StoreError};

/// A condition that holds for a domain, as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertCondition {
    pub rule: String,
    pub subject: String,
    pub severity: String,
    pub summary: String,
    /// JSON: the numbers, the explanation and the fix.
    pub detail: String,
    /// The channels its notices go to.
    pub channels: Vec<String>,
}

/// What applying a domain's conditions changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertChanges {
    pub opened: usize,
    pub reminded: usize,
    pub resolved: usize,
    /// Outbox rows written.
    pub notices: usize,
}

/// An alert as the API lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Alert {
    pub id: i64,
    pub domain: String,
    pub rule: String,
    /// What the problem is about (a result type, an organization, an MX host), or empty.
    pub subject: String,
    pub severity: String,
    /// `open` or `resolved`.
    pub state: String,
    pub opened_at: chrono::DateTime<chrono::Utc>,
    pub last_seen_at: chrono::DateTime<chrono::Utc>,
    pub resolved_at: Option<chrono::DateTime<chrono::Utc>>,
    pub summary: String,
    /// The numbers that triggered it, the explanation and the fix.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// The dashboard page of the domain (a path; notices make it absolute with the
    /// configured `dashboard_url`).
    pub link: String,
}

/// A notice due for delivery, with its alert.
#[derive(Debug, Clone)]
pub struct DueNotice {
    pub id: i64,
    pub channel: String,
    /// `opened`, `reminder` or `resolved`.
    pub kind: String,
    pub attempts: i64,
    pub alert: Alert,
}

/// A notice as the API lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Notice {
    pub id: i64,
    pub alert_id: i64,
    pub domain: String,
    pub rule: String,
    pub channel: String,
    pub kind: String,
    /// `pending` (waiting for its first or next attempt), `sent` or `failed` (gave up).
    pub state: String,
    pub attempts: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub next_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_error: Option<String>,
}

fn at(seconds: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

const OPEN_OF_DOMAIN: &str = "SELECT id, rule, subject, notified_at, severity FROM alerts \
    WHERE domain = $1 AND state = 'open'";
const OPEN_DOMAINS: &str = "SELECT DISTINCT domain FROM alerts WHERE state = 'open'";
const OPEN: &str = "INSERT INTO alerts (domain, rule, subject, severity, state, opened_at, \
    last_seen_at, notified_at, summary, detail) \
    VALUES ($1, $2, $3, $4, 'open', $5, $5, $5, $6, $7) RETURNING id";
const KEEP: &str = "UPDATE alerts SET severity = $1, summary = $2, detail = $3, \
    last_seen_at = $4, notified_at = $5 WHERE id = $6";
const RESOLVE: &str = "UPDATE alerts SET state = 'resolved', resolved_at = $1 WHERE id = $2";
const NOTICE: &str = "INSERT INTO notifications (alert_id, channel, kind, created_at, state, \
    next_attempt_at) VALUES ($1, $2, $3, $4, 'pending', $4)";
const REPORTERS: &str = "SELECT p.organization_name, \
    (p.start_at - ((p.start_at % 86400) + 86400) % 86400) / 86400 AS day, \
    MAX(r.received_at) FROM policies p JOIN reports r ON r.id = p.report_row \
    WHERE p.policy_domain = $1 AND p.start_at >= $2 GROUP BY 1, 2";
const DIGEST_SENT: &str = "SELECT COUNT(*) FROM digests_sent WHERE name = $1 AND period = $2";
const MARK_DIGEST: &str = "INSERT INTO digests_sent (name, period, sent_at) VALUES ($1, $2, $3) \
    ON CONFLICT (name, period) DO NOTHING";
const LAST_RECEIVED: &str = "SELECT MAX(r.received_at) FROM policies p \
    JOIN reports r ON r.id = p.report_row WHERE p.policy_domain = $1";
/// Takes the lease when it is free, expired, or already ours.
const TAKE_LEASE: &str = "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3) \
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
    WHERE leases.until <= $4 OR leases.holder = excluded.holder";
const ALERT_COLUMNS: &str = "a.id, a.domain, a.rule, a.subject, a.severity, a.state, \
    a.opened_at, a.last_seen_at, a.resolved_at, a.summary, a.detail";
const LIST: &str = "FROM alerts a WHERE ($1 = '' OR a.domain = $1) AND ($2 = '' OR a.state = $2) \
    ORDER BY a.opened_at DESC, a.id DESC LIMIT $3";
const DUE: &str = "FROM notifications n JOIN alerts a ON a.id = n.alert_id \
    WHERE n.state = 'pending' AND n.next_attempt_at <= $1 ORDER BY n.id LIMIT $2";
const SENT: &str = "UPDATE notifications SET state = 'sent', sent_at = $1, attempts = attempts + 1, \
    last_error = NULL WHERE id = $2 AND state = 'pending'";
const RETRY: &str = "UPDATE notifications SET attempts = attempts + 1, next_attempt_at = $1, \
    last_error = $2, state = $3 WHERE id = $4 AND state = 'pending'";
const NOTICES: &str = "SELECT n.id, n.alert_id, a.domain, a.rule, n.channel, n.kind, n.state, \
    n.attempts, n.created_at, n.next_attempt_at, n.sent_at, n.last_error \
    FROM notifications n JOIN alerts a ON a.id = n.alert_id \
    WHERE ($1 = '' OR n.state = $1) ORDER BY n.id DESC LIMIT $2";
const OPEN_COUNT: &str = "SELECT COUNT(*) FROM alerts WHERE state = 'open'";

/// An alert from a row whose first 11 columns are [`ALERT_COLUMNS`].
fn alert_of<R>(row: &R) -> Result<Alert, StoreError>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let detail: String = row.try_get(10)?;
    let domain: String = row.try_get(1)?;
    Ok(Alert {
        id: row.try_get(0)?,
        link: format!("/domains/{domain}"),
        domain,
        rule: row.try_get(2)?,
        subject: row.try_get(3)?,
        severity: row.try_get(4)?,
        state: row.try_get(5)?,
        opened_at: at(row.try_get(6)?),
        last_seen_at: at(row.try_get(7)?),
        resolved_at: row.try_get::<Option<i64>, _>(8)?.map(at),
        summary: row.try_get(9)?,
        detail: serde_json::from_str(&detail)
            .map_err(|e| StoreError::Corrupt(format!("alert detail: {e}")))?,
    })
}

impl Store {
    /// Applies what holds for `domain` at `now`: a condition with no open alert opens one
    /// (notice `opened` to its channels); one already open is kept, and reminded
    /// (`reminder`) once `cooldown` seconds have passed since its last notice; an open
    /// alert whose condition no longer holds resolves (`resolved`, to the channels given
    /// by `resolved_channels` for its rule and severity). One transaction: the alerts and their notices commit
    /// together or not at all.
    pub async fn apply_alerts(
        &self,
        domain: &str,
        conditions: &[AlertCondition],
        now: i64,
        cooldown: i64,
        resolved_channels: impl Fn(&str, &str) -> Vec<String>,
    ) -> Result<AlertChanges, StoreError> {
        let mut changes = AlertChanges::default();
        let begin = match &self.backend {
            // Take the write lock first: a read then a write in one SQLite transaction
            // fails if the report writer committed in between.
            Backend::Sqlite(_) => "BEGIN IMMEDIATE",
            Backend::Postgres(_) => "BEGIN",
        };
        on_pool!(self, |pool| {
            let mut tx = pool.begin_with(begin).await?;
            let open: Vec<(i64, String, String, i64, String)> = sqlx::query_as(OPEN_OF_DOMAIN)
                .bind(domain)
                .fetch_all(&mut *tx)
                .await?;
            for c in conditions {
                let existing = open
                    .iter()
                    .find(|(_, rule, subject, _, _)| *rule == c.rule && *subject == c.subject);
                let (id, kind) = match existing {
                    Some((id, _, _, notified_at, _)) => {
                        let remind = now - notified_at >= cooldown;
                        sqlx::query(KEEP)
                            .bind(&c.severity)
                            .bind(&c.summary)
                            .bind(&c.detail)
                            .bind(now)
                            .bind(if remind { now } else { *notified_at })
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                        if !remind {
                            continue;
                        }
                        changes.reminded += 1;
                        (*id, "reminder")
                    }
                    None => {
                        let id: i64 = sqlx::query_scalar(OPEN)
                            .bind(domain)
                            .bind(&c.rule)
                            .bind(&c.subject)
                            .bind(&c.severity)
                            .bind(now)
                            .bind(&c.summary)
                            .bind(&c.detail)
                            .fetch_one(&mut *tx)
                            .await?;
                        changes.opened += 1;
                        (id, "opened")
                    }
                };
                for channel in &c.channels {
                    sqlx::query(NOTICE)
                        .bind(id)
                        .bind(channel)
                        .bind(kind)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    changes.notices += 1;
                }
            }
            for (id, rule, subject, _, severity) in &open {
                if conditions
                    .iter()
                    .any(|c| c.rule == *rule && c.subject == *subject)
                {
                    continue;
                }
                sqlx::query(RESOLVE)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                changes.resolved += 1;
                for channel in resolved_channels(rule, severity) {
                    sqlx::query(NOTICE)
                        .bind(id)
                        .bind(&channel)
                        .bind("resolved")
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    changes.notices += 1;
                }
            }
            tx.commit().await?;
        });
        Ok(changes)
    }

    /// Domains with an open alert (evaluated even after their reports stop, so the alert
    /// can resolve).
    pub async fn domains_with_open_alerts(&self) -> Result<Vec<String>, StoreError> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar(OPEN_DOMAINS).fetch_all(pool).await?
        }))
    }

    /// Each organization's report days for `domain` since `from` (Unix seconds), with
    /// when its latest report of each day was received.
    pub async fn reporter_days(
        &self,
        domain: &str,
        from: i64,
    ) -> Result<Vec<(String, i64, i64)>, StoreError> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(REPORTERS)
                .bind(domain)
                .bind(from)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Whether digest `name` went out for `period`.
    pub async fn digest_sent(&self, name: &str, period: &str) -> Result<bool, StoreError> {
        let n: i64 = on_pool!(self, |pool| {
            sqlx::query_scalar(DIGEST_SENT)
                .bind(name)
                .bind(period)
                .fetch_one(pool)
                .await?
        });
        Ok(n > 0)
    }

    /// Records that digest `name` went out for `period`.
    pub async fn mark_digest_sent(
        &self,
        name: &str,
        period: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(MARK_DIGEST)
                .bind(name)
                .bind(period)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// When the latest report naming `domain` was received, however long ago.
    pub async fn last_received(&self, domain: &str) -> Result<Option<i64>, StoreError> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar(LAST_RECEIVED)
                .bind(domain)
                .fetch_one(pool)
                .await?
        }))
    }

    /// Takes (or renews) the lease `name` for `holder` until `until` when it is free at
    /// `now`; whether `holder` holds it.
    pub async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        let taken = on_pool!(self, |pool| {
            sqlx::query(TAKE_LEASE)
                .bind(name)
                .bind(holder)
                .bind(until)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(taken == 1)
    }

    /// Alerts, newest first: of one domain or all (`""`), open, resolved or both (`""`).
    pub async fn list_alerts(
        &self,
        domain: &str,
        state: &str,
        limit: i64,
    ) -> Result<Vec<Alert>, StoreError> {
        let sql = format!("SELECT {ALERT_COLUMNS} {LIST}");
        let rows = on_pool!(self, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(domain)
                .bind(state)
                .bind(limit)
                .fetch_all(pool)
                .await?
                .iter()
                .map(alert_of)
                .collect::<Result<Vec<_>, _>>()?
        });
        Ok(rows)
    }

    /// Notices due at `now`, oldest first, at most `limit`.
    pub async fn due_notices(&self, now: i64, limit: i64) -> Result<Vec<DueNotice>, StoreError> {
        let sql = format!("SELECT {ALERT_COLUMNS}, n.id, n.channel, n.kind, n.attempts {DUE}");
        let rows = on_pool!(self, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(now)
                .bind(limit)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| -> Result<DueNotice, StoreError> {
                    Ok(DueNotice {
                        alert: alert_of(row)?,
                        id: row.try_get(11)?,
                        channel: row.try_get(12)?,
                        kind: row.try_get(13)?,
                        attempts: row.try_get::<i64, _>(14)?,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
        });
        Ok(rows)
    }

    /// Records a delivered notice.
    pub async fn notice_sent(&self, id: i64, now: i64) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(SENT).bind(now).bind(id).execute(pool).await?;
        });
        Ok(())
    }

    /// Records a failed attempt: tried again at `next_attempt_at`, or given up (`failed`)
    /// when `give_up`.
    pub async fn notice_failed(
        &self,
        id: i64,
        next_attempt_at: i64,
        error: &str,
        give_up: bool,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(RETRY)
                .bind(next_attempt_at)
                .bind(error)
                .bind(if give_up { "failed" } else { "pending" })
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Notices, newest first: all, or in one state (`""`: all).
    pub async fn list_notices(&self, state: &str, limit: i64) -> Result<Vec<Notice>, StoreError> {
        let rows = on_pool!(self, |pool| {
            sqlx::query(NOTICES)
                .bind(state)
                .bind(limit)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| -> Result<Notice, StoreError> {
                    let state: String = row.try_get(6)?;
                    Ok(Notice {
                        id: row.try_get(0)?,
                        alert_id: row.try_get(1)?,
                        domain: row.try_get(2)?,
                        rule: row.try_get(3)?,
                        channel: row.try_get(4)?,
                        kind: row.try_get(5)?,
                        attempts: row.try_get::<i64, _>(7)?,
                        created_at: at(row.try_get(8)?),
                        next_attempt_at: (state == "pending")
                            .then(|| row.try_get(9))
                            .transpose()?
                            .map(at),
                        sent_at: row.try_get::<Option<i64>, _>(10)?.map(at),
                        last_error: row.try_get(11)?,
                        state,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
        });
        Ok(rows)
    }

    /// How many alerts are open (the dashboard's badge).
    pub async fn open_alerts(&self) -> Result<i64, StoreError> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar(OPEN_COUNT).fetch_one(pool).await?
        }))
    }
}
