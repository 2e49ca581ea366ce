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

super::queries::define_queries!(Postgres, PgPool);

use super::insert::{self as ins, ChunksPow2 as _, Table};
use super::rollup;
use super::write::BatchWriter;
use super::{CommitReceipt, NewSubmission, ReportOutcome};
use crate::report::{PolicyResult, Report};

/// A PostgreSQL writer task's connection: one kept between batches, a broken one dropped
/// and replaced by the next batch.
pub(super) struct PgWriter {
    pool: PgPool,
    conn: Option<sqlx::pool::PoolConnection<Postgres>>,
    policy_texts: ins::PolicyTexts,
}

impl PgWriter {
    pub(super) fn new(pool: PgPool) -> Self {
        PgWriter {
            pool,
            conn: None,
            policy_texts: ins::PolicyTexts::default(),
        }
    }
}

impl BatchWriter for PgWriter {
    async fn write_batch(
        &mut self,
        batch: &[&NewSubmission],
    ) -> Result<Vec<CommitReceipt>, StoreError> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self.conn.insert(self.pool.acquire().await?),
        };
        let result = write_batch(conn, &mut self.policy_texts, batch).await;
        if result.is_err() {
            // Do not keep a connection that may be broken.
            self.conn = None;
        }
        result
    }

    async fn fold_rollups(&mut self, wait: bool) -> Result<u64, StoreError> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self.conn.insert(self.pool.acquire().await?),
        };
        let result = fold_rollups(conn, wait).await;
        if result.is_err() {
            self.conn = None;
        }
        result
    }
}

/// Commits a batch with a handful of multi-row statements per table: ids are
/// allocated up front (`alloc_ids`), reports are inserted with `ON CONFLICT DO
/// NOTHING`, and the ids that made it in tell stored from duplicate.
/// A policy row of a batch: (id, report id, position, report, policy, policy text JSON).
/// One policy row of a batch, before its text id is known.
struct PolicyRow<'a> {
    id: i64,
    report_row: i64,
    position: i64,
    report: &'a Report,
    policy: &'a PolicyResult,
    /// JSON text of `policy_string`.
    text: &'a str,
    /// JSON text of `mx_host`.
    mx_host: &'a str,
}

async fn write_batch(
    conn: &mut sqlx::PgConnection,
    policy_texts: &mut ins::PolicyTexts,
    submissions: &[&NewSubmission],
) -> Result<Vec<CommitReceipt>, StoreError> {
    let mut tx = sqlx::Connection::begin_with(conn, "BEGIN").await?;
    let n_reports: usize = submissions.iter().map(|s| s.reports.len()).sum();
    let n_policies: usize = submissions
        .iter()
        .flat_map(|s| &s.reports)
        .map(|r| r.report.policies.len())
        .sum();
    let n_rejections: usize = submissions.iter().map(|s| s.rejections.len()).sum();
    let submission_ids = alloc_ids(&mut tx, ins::Table::Submissions, submissions.len()).await?;
    let report_ids = alloc_ids(&mut tx, ins::Table::Reports, n_reports).await?;
    let policy_ids = alloc_ids(&mut tx, ins::Table::Policies, n_policies).await?;
    let quarantine_ids = alloc_ids(&mut tx, ins::Table::Quarantine, n_rejections).await?;

    // Submissions.
    let rows: Vec<(i64, &NewSubmission, Option<String>)> = submissions
        .iter()
        .zip(&submission_ids)
        .map(|(s, id)| (*id, *s, s.meta.as_ref().map(ins::to_json)))
        .collect();
    for chunk in rows.chunks_pow2() {
        let mut insert = sqlx::QueryBuilder::<Postgres>::new(ins::INSERT_SUBMISSIONS);
        insert.push_values(chunk, |mut b, (id, s, meta)| {
            b.push_bind(*id)
                .push_bind(s.source.as_str())
                .push_bind(s.received_at.timestamp())
                .push_bind(s.peer.as_deref())
                .push_bind(s.content_type.as_deref())
                .push_bind(s.envelope.as_str())
                .push_bind(meta.as_deref())
                .push_bind(s.raw.size)
                .push_bind(s.raw.sha256.as_str())
                .push_bind(s.raw.encoding)
                .push_bind(s.raw.data.as_slice());
        });
        insert.build().execute(&mut *tx).await?;
    }

    // Reports: (report id, submission id, report, origin, warnings json).
    let mut ids = report_ids.iter();
    let mut rows = Vec::with_capacity(n_reports);
    for (s, sid) in submissions.iter().zip(&submission_ids) {
        for new in &s.reports {
            let id = *ids
                .next()
                .ok_or_else(|| StoreError::Corrupt("id allocation".into()))?;
            rows.push((id, *sid, *s, new, new.warnings_json()));
        }
    }
    let mut reports_inserted = 0u64;
    for chunk in rows.chunks_pow2() {
        let mut insert = sqlx::QueryBuilder::<Postgres>::new(ins::INSERT_REPORTS);
        insert.push_values(chunk, |mut b, (id, sid, s, new, warnings)| {
            let r = &new.report;
            b.push_bind(*id)
                .push_bind(*sid)
                .push_bind(r.organization_name.as_str())
                .push_bind(r.report_id.as_str())
                .push_bind(r.contact_info.as_deref())
                .push_bind(r.start.timestamp())
                .push_bind(r.end.timestamp())
                .push_bind(s.received_at.timestamp())
                .push_bind(r.total_successful())
                .push_bind(r.total_failed())
                .push_bind(new.origin.as_str())
                .push_bind(*warnings);
        });
        insert.push(ins::ON_REPORT_CONFLICT);
        reports_inserted += insert.build().execute(&mut *tx).await?.rows_affected();
    }
    // Which ids made it in. When every row did (the common case: no duplicates)
    // the count says so and the lookup of each id is skipped.
    let mut inserted: std::collections::HashSet<i64> =
        std::collections::HashSet::with_capacity(n_reports);
    if reports_inserted == n_reports as u64 {
        inserted.extend(report_ids.iter().copied());
    }
    for chunk in report_ids
        .chunks_pow2()
        .filter(|_| reports_inserted != n_reports as u64)
    {
        let mut select =
            sqlx::QueryBuilder::<Postgres>::new("SELECT id FROM reports WHERE id IN (");
        let mut list = select.separated(", ");
        for id in chunk {
            list.push_bind(*id);
        }
        select.push(")");
        let found: Vec<(i64,)> = select.build_query_as().fetch_all(&mut *tx).await?;
        inserted.extend(found.into_iter().map(|(id,)| id));
    }

    // Policies and failure details of the reports that were inserted.
    let mut policy_id = policy_ids.iter();
    let mut policy_rows: Vec<PolicyRow<'_>> = Vec::new();
    let mut detail_rows = Vec::new();
    for (id, _, _, new, _) in rows.iter().filter(|row| inserted.contains(&row.0)) {
        let r = &new.report;
        for (position, p) in r.policies.iter().enumerate() {
            let pid = *policy_id
                .next()
                .ok_or_else(|| StoreError::Corrupt("id allocation".into()))?;
            let (text, mx_host) = new.policy_json(position);
            policy_rows.push(PolicyRow {
                id: pid,
                report_row: *id,
                position: position as i64,
                report: r,
                policy: p,
                text,
                mx_host,
            });
            detail_rows.extend(
                p.failure_details
                    .iter()
                    .enumerate()
                    .map(|(position, d)| (pid, position as i64, d)),
            );
        }
    }
    let batch_texts = policy_text_ids(&mut tx, policy_texts, &policy_rows).await?;
    let text_ids = policy_rows
        .iter()
        .map(|row| {
            let (policy_type, text) = (&row.policy.policy_type, row.text);
            policy_texts
                .get(policy_type, text)
                .or_else(|| batch_texts.get(policy_type, text))
                .ok_or_else(|| StoreError::Corrupt("a policy text was not stored".into()))
        })
        .collect::<Result<Vec<i64>, StoreError>>()?;
    let rows_with_text: Vec<(&PolicyRow<'_>, i64)> = policy_rows.iter().zip(text_ids).collect();
    for chunk in rows_with_text.chunks_pow2() {
        let mut insert = sqlx::QueryBuilder::<Postgres>::new(ins::INSERT_POLICIES);
        insert.push_values(chunk, |mut b, (row, text_id)| {
            let (r, p) = (row.report, row.policy);
            b.push_bind(row.id)
                .push_bind(row.report_row)
                .push_bind(row.position)
                .push_bind(p.policy_type.as_str())
                .push_bind(p.policy_domain.as_deref().unwrap_or(""))
                .push_bind(row.text)
                .push_bind(row.mx_host)
                .push_bind(p.total_successful)
                .push_bind(p.total_failed)
                .push_bind(r.start.timestamp())
                .push_bind(r.organization_name.as_str())
                .push_bind(*text_id);
        });
        insert.build().execute(&mut *tx).await?;
    }
    for chunk in detail_rows.chunks_pow2() {
        let mut insert = sqlx::QueryBuilder::<Postgres>::new(ins::INSERT_DETAILS);
        insert.push_values(chunk, |mut b, (pid, position, d)| {
            b.push_bind(*pid)
                .push_bind(*position)
                .push_bind(d.result_type.as_str())
                .push_bind(d.sending_mta_ip.as_deref())
                .push_bind(d.receiving_mx_hostname.as_deref())
                .push_bind(d.receiving_mx_helo.as_deref())
                .push_bind(d.receiving_ip.as_deref())
                .push_bind(d.failed_session_count)
                .push_bind(d.additional_information.as_deref())
                .push_bind(d.failure_reason_code.as_deref());
        });
        insert.build().execute(&mut *tx).await?;
    }

    // The stored reports wait in `rollup_pending` for the next fold (see `rollup`).
    let mut stored: Vec<i64> = report_ids
        .iter()
        .copied()
        .filter(|id| inserted.contains(id))
        .collect();
    stored.sort_unstable();
    for chunk in stored.chunks_pow2() {
        let mut insert = sqlx::QueryBuilder::<Postgres>::new(rollup::INSERT_PENDING);
        insert.push_values(chunk, |mut b, id| {
            b.push_bind(*id);
        });
        insert.build().execute(&mut *tx).await?;
    }

    // Quarantine rows.
    let mut qid = quarantine_ids.iter();
    let mut quarantine_rows = Vec::with_capacity(n_rejections);
    for (s, sid) in submissions.iter().zip(&submission_ids) {
        for rej in &s.rejections {
            let id = *qid
                .next()
                .ok_or_else(|| StoreError::Corrupt("id allocation".into()))?;
            quarantine_rows.push((id, *sid, s.received_at.timestamp(), rej));
        }
    }
    for chunk in quarantine_rows.chunks_pow2() {
        let mut insert = sqlx::QueryBuilder::<Postgres>::new(ins::INSERT_QUARANTINE);
        insert.push_values(chunk, |mut b, (id, sid, at, rej)| {
            b.push_bind(*id)
                .push_bind(*sid)
                .push_bind(*at)
                .push_bind(rej.origin.as_str())
                .push_bind(rej.code.as_str())
                .push_bind(rej.reason.as_str());
        });
        insert.build().execute(&mut *tx).await?;
    }

    // Receipts; duplicates point at the copy stored first.
    let mut receipts = Vec::with_capacity(submissions.len());
    let mut rows = rows.iter();
    let mut qids = quarantine_ids.iter();
    let mut unkept = Vec::new();
    for (s, sid) in submissions.iter().zip(&submission_ids) {
        let mut outcomes = Vec::with_capacity(s.reports.len());
        for _ in &s.reports {
            let Some((id, _, _, new, _)) = rows.next() else {
                break;
            };
            if inserted.contains(id) {
                outcomes.push(ReportOutcome::Stored { id: *id });
            } else {
                let existing: i64 = sqlx::query_scalar(ins::SELECT_REPORT_ID)
                    .bind(new.report.organization_name.as_str())
                    .bind(new.report.report_id.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
                outcomes.push(ReportOutcome::Duplicate { id: existing });
            }
        }
        let quarantined: Vec<i64> = qids.by_ref().take(s.rejections.len()).copied().collect();
        let kept = !quarantined.is_empty()
            || outcomes
                .iter()
                .any(|o| matches!(o, ReportOutcome::Stored { .. }));
        if !kept {
            unkept.push(*sid);
        }
        receipts.push(CommitReceipt {
            // Every report was already stored: the first copy's bytes are kept.
            submission_id: kept.then_some(*sid),
            reports: outcomes,
            quarantine_ids: quarantined,
        });
    }
    for chunk in unkept.chunks_pow2() {
        let mut delete =
            sqlx::QueryBuilder::<Postgres>::new("DELETE FROM submissions WHERE id IN (");
        let mut list = delete.separated(", ");
        for id in chunk {
            list.push_bind(*id);
        }
        delete.push(")");
        delete.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    policy_texts.absorb(batch_texts);
    Ok(receipts)
}

/// The ids of the policy texts of `policies` that `known` lacks: stored first where new
/// (in sorted order, so two writers adding the same texts wait on each other instead of
/// deadlocking), then read back. Returned apart from `known` because the transaction may
/// still roll back.
async fn policy_text_ids(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    known: &ins::PolicyTexts,
    policies: &[PolicyRow<'_>],
) -> Result<ins::PolicyTexts, StoreError> {
    let missing: std::collections::BTreeSet<(&str, &str)> = policies
        .iter()
        .filter(|row| known.get(&row.policy.policy_type, row.text).is_none())
        .map(|row| (row.policy.policy_type.as_str(), row.text))
        .collect();
    let mut found = ins::PolicyTexts::default();
    if missing.is_empty() {
        return Ok(found);
    }
    let types: Vec<&str> = missing.iter().map(|m| m.0).collect();
    let texts: Vec<&str> = missing.iter().map(|m| m.1).collect();
    sqlx::query(ins::PG_INSERT_POLICY_TEXTS)
        .bind(&types)
        .bind(&texts)
        .execute(&mut **tx)
        .await?;
    let rows: Vec<(i64, String, String)> = sqlx::query_as(ins::PG_SELECT_POLICY_TEXTS)
        .bind(&types)
        .bind(&texts)
        .fetch_all(&mut **tx)
        .await?;
    for (id, policy_type, text) in rows {
        found.insert(policy_type, text, id);
    }
    Ok(found)
}

/// Folds up to [`rollup::FOLD_CHUNK`] pending reports into the rollups in one
/// transaction, after the folds before it (advisory lock); returns how many. With `wait`
/// false, returns 0 at once when another writer (of this node or another) is folding: it
/// folds every pending report, these included, and this writer goes back to committing.
async fn fold_rollups(conn: &mut sqlx::PgConnection, wait: bool) -> Result<u64, StoreError> {
    let mut tx = sqlx::Connection::begin_with(conn, "BEGIN").await?;
    if wait {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(rollup::PG_FOLD_LOCK)
            .execute(&mut *tx)
            .await?;
    } else {
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(rollup::PG_FOLD_LOCK)
            .fetch_one(&mut *tx)
            .await?;
        if !locked {
            return Ok(0);
        }
    }
    let cutoff: Option<i64> = sqlx::query_scalar(rollup::FOLD_CUTOFF)
        .bind(rollup::FOLD_CHUNK)
        .fetch_one(&mut *tx)
        .await?;
    let Some(cutoff) = cutoff else {
        return Ok(0);
    };
    let folded: i64 = sqlx::query_scalar(rollup::POSTGRES_FOLD)
        .bind(cutoff)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(u64::try_from(folded).unwrap_or(0))
}

/// Next `n` ids of `table` from its identity sequence: unique across every instance
/// sharing the database, so multi-row inserts can name parents' ids up front.
async fn alloc_ids(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    table: Table,
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
