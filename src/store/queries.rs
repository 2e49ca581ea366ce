//! SQL shared by both backends, written once.
//!
//! In: a pool of one backend (through [`define_queries!`]). Out: the rows behind every
//! read method of [`Store`](super::Store) and the batch writer.
//!
//! The statements use `$N` placeholders, which PostgreSQL and (through sqlx) SQLite both
//! accept, `CAST(.. AS BIGINT)` where PostgreSQL would widen sums to NUMERIC, and
//! `CAST($n AS TEXT) IS NULL` for optional filters so PostgreSQL can type the parameter.

use std::io::Read;

use chrono::{DateTime, TimeZone, Utc};

use super::{
    FailureCount, MAX_RAW_READ, RawSubmission, Rejection, ReportListItem, SessionCounts,
    StoreError, StoredReport,
};
use crate::report::{FailureDetail, MessageMeta, PolicyResult, Report, Warning};

pub(super) const INSERT_SUBMISSIONS: &str = "INSERT INTO submissions \
    (id, source, received_at, peer, content_type, envelope, message_meta, raw_size, raw_sha256, raw_encoding, raw_data) ";

pub(super) const INSERT_REPORTS: &str = "INSERT INTO reports \
    (id, submission_id, organization_name, report_id, contact_info, start_at, end_at, received_at, \
     total_successful, total_failed, origin, warnings) ";

pub(super) const ON_REPORT_CONFLICT: &str =
    " ON CONFLICT (organization_name, report_id) DO NOTHING";

pub(super) const SELECT_REPORT_ID: &str =
    "SELECT id FROM reports WHERE organization_name = $1 AND report_id = $2";

pub(super) const INSERT_POLICIES: &str = "INSERT INTO policies \
    (id, report_row, position, policy_type, policy_domain, policy_string, mx_host, total_successful, \
     total_failed, start_at, organization_name) ";

pub(super) const INSERT_DETAILS: &str = "INSERT INTO failure_details (policy_row, position, result_type, \
    sending_mta_ip, receiving_mx_hostname, receiving_mx_helo, receiving_ip, failed_session_count, \
    additional_information, failure_reason_code) ";

pub(super) const INSERT_QUARANTINE: &str =
    "INSERT INTO quarantine (id, submission_id, received_at, origin, reason_code, reason) ";

/// Most rows per multi-row statement: 512 rows × at most 12 columns = 6144 bind
/// parameters, under SQLite's 32766 and PostgreSQL's 65535, so a full batch needs two
/// statements per table (each statement is a round trip).
pub(super) const ROWS_PER_INSERT: usize = 512;

/// Splits rows into chunks whose sizes are powers of two (at most [`ROWS_PER_INSERT`]).
/// The SQL text of a multi-row statement depends on its row count; with power-of-two
/// counts there are at most ten texts per statement, so the prepared-statement cache
/// stays small and warm instead of holding one big statement per batch size seen.
pub(super) trait ChunksPow2<T> {
    fn chunks_pow2(&self) -> Pow2Chunks<'_, T>;
}

impl<T> ChunksPow2<T> for [T] {
    fn chunks_pow2(&self) -> Pow2Chunks<'_, T> {
        Pow2Chunks(self)
    }
}

pub(super) struct Pow2Chunks<'a, T>(&'a [T]);

impl<'a, T> Iterator for Pow2Chunks<'a, T> {
    type Item = &'a [T];

    fn next(&mut self) -> Option<&'a [T]> {
        if self.0.is_empty() {
            return None;
        }
        let len = self.0.len().min(ROWS_PER_INSERT);
        let size = 1usize << (usize::BITS - 1 - len.leading_zeros());
        let (chunk, rest) = self.0.split_at(size);
        self.0 = rest;
        Some(chunk)
    }
}

/// Tables whose ids the writer allocates before inserting, so children can reference
/// parents inserted in the same multi-row statement.
#[derive(Debug, Clone, Copy)]
pub(super) enum Table {
    Submissions,
    Reports,
    Policies,
    Quarantine,
}

impl Table {
    pub(super) fn name(self) -> &'static str {
        match self {
            Table::Submissions => "submissions",
            Table::Reports => "reports",
            Table::Policies => "policies",
            Table::Quarantine => "quarantine",
        }
    }
}

/// Per-domain figures read the rollups of migration 0004 (see `rollup.rs`): a handful of
/// rows per domain and start time, so a query's cost follows the range and the number of
/// domains it returns, not the number of reports.
pub(super) const LIST_DOMAINS: &str = "SELECT policy_domain, CAST(SUM(reports) AS BIGINT), \
    CAST(SUM(successful) AS BIGINT), CAST(SUM(failed) AS BIGINT), \
    COUNT(DISTINCT organization_name), MAX(start_at) \
    FROM rollup_domains WHERE start_at >= $1 AND start_at < $2 \
    GROUP BY policy_domain ORDER BY policy_domain";

/// Sessions per domain and UTC day, every domain in one query (the overview's trends).
/// Day numbers use floor division so reports before 1970 land on the right day.
pub(super) const ALL_DOMAINS_DAILY: &str = "SELECT policy_domain, \
    (start_at - ((start_at % 86400) + 86400) % 86400) / 86400, \
    CAST(SUM(successful) AS BIGINT), CAST(SUM(failed) AS BIGINT) \
    FROM rollup_domains WHERE start_at >= $1 AND start_at < $2 \
    GROUP BY 1, 2 ORDER BY 1, 2";

pub(super) const DOMAIN_TOTALS: &str = "SELECT CAST(COALESCE(SUM(reports), 0) AS BIGINT), \
    CAST(COALESCE(SUM(successful), 0) AS BIGINT), CAST(COALESCE(SUM(failed), 0) AS BIGINT) \
    FROM rollup_domains WHERE policy_domain = $1 AND start_at >= $2 AND start_at < $3";

/// The three failure breakdowns of a domain in a range, as `(breakdown, key, failed
/// sessions)` rows: 0 by result type, 1 by receiving MX, 2 by sending IP ('' = not
/// reported).
pub(super) const DOMAIN_FAILURES: &str = "WITH f AS MATERIALIZED ( \
        SELECT result_type, receiving_mx_hostname, sending_mta_ip, failed FROM rollup_failures \
        WHERE policy_domain = $1 AND start_at >= $2 AND start_at < $3) \
    SELECT 0, result_type, CAST(SUM(failed) AS BIGINT) FROM f GROUP BY result_type \
    UNION ALL \
    SELECT 1, receiving_mx_hostname, CAST(SUM(failed) AS BIGINT) FROM f GROUP BY receiving_mx_hostname \
    UNION ALL \
    SELECT 2, sending_mta_ip, CAST(SUM(failed) AS BIGINT) FROM f GROUP BY sending_mta_ip";

/// First and last report start of each result type with failed sessions.
pub(super) const FAILURES_SEEN: &str = "SELECT result_type, MIN(start_at), MAX(start_at) \
    FROM rollup_failures WHERE policy_domain = $1 AND start_at >= $2 AND start_at < $3 AND failed > 0 \
    GROUP BY result_type ORDER BY result_type";

pub(super) const BY_ORGANIZATION: &str = "SELECT organization_name, CAST(SUM(reports) AS BIGINT), \
    CAST(SUM(successful) AS BIGINT), CAST(SUM(failed) AS BIGINT) \
    FROM rollup_domains WHERE policy_domain = $1 AND start_at >= $2 AND start_at < $3 \
    GROUP BY organization_name ORDER BY 4 DESC, 3 DESC, 1";

pub(super) const BY_POLICY_TYPE: &str = "SELECT policy_type, CAST(SUM(type_reports) AS BIGINT), \
    CAST(SUM(successful) AS BIGINT), CAST(SUM(failed) AS BIGINT) \
    FROM rollup_sessions WHERE policy_domain = $1 AND start_at >= $2 AND start_at < $3 \
    GROUP BY policy_type ORDER BY 4 DESC, 3 DESC, 1";

/// Each distinct policy (type and text) of a domain: first and last report start, and
/// how many reports carried it.
pub(super) const POLICIES_SEEN: &str = "SELECT policy_type, policy_string, MIN(start_at), MAX(start_at), \
    CAST(SUM(type_reports) AS BIGINT) \
    FROM rollup_sessions WHERE policy_domain = $1 AND start_at >= $2 AND start_at < $3 \
    GROUP BY policy_type, policy_string ORDER BY 4 DESC, 1, 2";

/// Day number computed with floor division so reports before 1970 land on the right day.
pub(super) const TIMESERIES: &str = "SELECT (start_at - ((start_at % 86400) + 86400) % 86400) / 86400, \
    CAST(SUM(successful) AS BIGINT), CAST(SUM(failed) AS BIGINT) \
    FROM rollup_sessions WHERE policy_domain = $1 AND start_at >= $2 AND start_at < $3 \
    GROUP BY 1 ORDER BY 1";

/// Reports newest first, optionally of one organization. `$3` and `$4` are the cursor
/// (start, id), `(i64::MAX, i64::MAX)` for the first page.
pub(super) const LIST_REPORTS: &str = "SELECT r.id, r.organization_name, r.report_id, r.start_at, r.end_at, \
    r.received_at, s.source, r.total_successful, r.total_failed, r.warnings \
    FROM reports r JOIN submissions s ON s.id = r.submission_id \
    WHERE (CAST($1 AS TEXT) IS NULL OR r.organization_name = $1) \
      AND r.start_at >= $2 AND r.start_at < $3 \
      AND (r.start_at < $4 OR (r.start_at = $4 AND r.id < $5)) \
    ORDER BY r.start_at DESC, r.id DESC LIMIT $6";

/// Reports of one policy domain, newest first: the policies' (domain, start) index gives
/// the page of report ids first, then only those reports are read.
pub(super) const LIST_REPORTS_OF_DOMAIN: &str = "SELECT r.id, r.organization_name, r.report_id, r.start_at, r.end_at, \
    r.received_at, s.source, r.total_successful, r.total_failed, r.warnings \
    FROM (SELECT p.start_at, p.report_row FROM policies p \
          WHERE p.policy_domain = $1 AND (CAST($2 AS TEXT) IS NULL OR p.organization_name = $2) \
            AND p.start_at >= $3 AND p.start_at < $4 \
            AND (p.start_at < $5 OR (p.start_at = $5 AND p.report_row < $6)) \
          GROUP BY p.start_at, p.report_row \
          ORDER BY p.start_at DESC, p.report_row DESC LIMIT $7) k \
    JOIN reports r ON r.id = k.report_row JOIN submissions s ON s.id = r.submission_id \
    ORDER BY r.start_at DESC, r.id DESC";

pub(super) const GET_REPORT: &str = "SELECT r.id, r.submission_id, r.organization_name, r.report_id, \
    r.contact_info, r.start_at, r.end_at, r.received_at, r.origin, r.warnings, \
    s.source, s.peer, s.envelope, s.message_meta \
    FROM reports r JOIN submissions s ON s.id = r.submission_id WHERE r.id = $1";

pub(super) const GET_POLICIES: &str = "SELECT id, policy_type, policy_domain, policy_string, mx_host, \
    total_successful, total_failed FROM policies WHERE report_row = $1 ORDER BY position";

pub(super) const GET_DETAILS: &str = "SELECT fd.policy_row, fd.result_type, fd.sending_mta_ip, \
    fd.receiving_mx_hostname, fd.receiving_mx_helo, fd.receiving_ip, fd.failed_session_count, \
    fd.additional_information, fd.failure_reason_code \
    FROM failure_details fd JOIN policies p ON p.id = fd.policy_row \
    WHERE p.report_row = $1 ORDER BY p.position, fd.position";

pub(super) const GET_REPORT_RAW: &str = "SELECT s.id, s.content_type, s.raw_sha256, s.raw_encoding, s.raw_data \
    FROM reports r JOIN submissions s ON s.id = r.submission_id WHERE r.id = $1";

pub(super) const GET_SUBMISSION_RAW: &str =
    "SELECT id, content_type, raw_sha256, raw_encoding, raw_data FROM submissions WHERE id = $1";

pub(super) const LIST_REJECTIONS: &str = "SELECT q.id, q.submission_id, q.received_at, s.source, s.peer, \
    q.origin, q.reason_code, q.reason \
    FROM quarantine q JOIN submissions s ON s.id = q.submission_id \
    WHERE (CAST($1 AS BIGINT) IS NULL OR q.received_at < $1 OR (q.received_at = $1 AND q.id < $2)) \
    ORDER BY q.received_at DESC, q.id DESC LIMIT $3";

pub(super) type ListRow = (i64, String, String, i64, i64, i64, String, i64, i64, String);
pub(super) type ReportRow = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    i64,
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
);
pub(super) type PolicyRow = (i64, String, String, String, String, i64, i64);
pub(super) type DetailRow = (
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    Option<String>,
    Option<String>,
);
pub(super) type RejectionRow = (
    i64,
    i64,
    i64,
    String,
    Option<String>,
    String,
    String,
    String,
);
pub(super) type SessionRow = (String, i64, i64, i64);
/// (policy type, policy string JSON, first start, last start, reports).
pub(super) type PolicySeenRow = (String, String, i64, i64, i64);

pub(super) struct RawRow {
    pub submission_id: i64,
    pub content_type: Option<String>,
    pub sha256: String,
    pub encoding: String,
    pub data: Vec<u8>,
}

impl RawRow {
    pub(super) fn into_raw(self) -> Result<RawSubmission, StoreError> {
        let bytes = match self.encoding.as_str() {
            "identity" => self.data,
            "gzip" => {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(self.data.as_slice())
                    .take(MAX_RAW_READ)
                    .read_to_end(&mut out)
                    .map_err(|e| StoreError::Corrupt(format!("raw submission: {e}")))?;
                out
            }
            other => {
                return Err(StoreError::Corrupt(format!(
                    "raw submission has unknown encoding {other:?}"
                )));
            }
        };
        Ok(RawSubmission {
            submission_id: self.submission_id,
            content_type: self.content_type,
            sha256: self.sha256,
            bytes,
        })
    }
}

pub(super) fn timestamp(secs: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_opt(secs, 0)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {secs} out of range")))
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serializing our own plain structs and string vectors cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(super) fn list_item(row: ListRow, domains: Vec<String>) -> Result<ReportListItem, StoreError> {
    let (id, org, report_id, start, end, received, source, ok, failed, warnings) = row;
    let warnings: Vec<Warning> = from_json("warnings", &warnings)?;
    Ok(ReportListItem {
        id,
        organization_name: org,
        report_id,
        start: timestamp(start)?,
        end: timestamp(end)?,
        received_at: timestamp(received)?,
        source,
        successful_sessions: ok,
        failed_sessions: failed,
        domains,
        warnings: warnings.len(),
    })
}

pub(super) fn assemble_report(
    row: ReportRow,
    policies: Vec<PolicyRow>,
    details: Vec<DetailRow>,
) -> Result<StoredReport, StoreError> {
    let (
        id,
        submission_id,
        organization_name,
        report_id,
        contact_info,
        start,
        end,
        received,
        origin,
        warnings,
        source,
        peer,
        envelope,
        meta,
    ) = row;
    let mut out_policies = Vec::with_capacity(policies.len());
    for (policy_id, policy_type, domain, policy_string, mx_host, ok, failed) in policies {
        let failure_details = details
            .iter()
            .filter(|d| d.0 == policy_id)
            .map(|d| FailureDetail {
                result_type: d.1.clone(),
                sending_mta_ip: d.2.clone(),
                receiving_mx_hostname: d.3.clone(),
                receiving_mx_helo: d.4.clone(),
                receiving_ip: d.5.clone(),
                failed_session_count: d.6,
                additional_information: d.7.clone(),
                failure_reason_code: d.8.clone(),
            })
            .collect();
        out_policies.push(PolicyResult {
            policy_type,
            policy_domain: (!domain.is_empty()).then_some(domain),
            policy_string: from_json("policy_string", &policy_string)?,
            mx_host: from_json("mx_host", &mx_host)?,
            total_successful: ok,
            total_failed: failed,
            failure_details,
        });
    }
    let meta: Option<MessageMeta> = meta
        .as_deref()
        .map(|m| from_json("message_meta", m))
        .transpose()?;
    Ok(StoredReport {
        id,
        submission_id,
        source,
        peer,
        received_at: timestamp(received)?,
        origin,
        meta,
        envelope: from_json("envelope", &envelope)?,
        report: Report {
            organization_name,
            report_id,
            contact_info,
            start: timestamp(start)?,
            end: timestamp(end)?,
            policies: out_policies,
            warnings: from_json("warnings", &warnings)?,
        },
    })
}

pub(super) fn rejection(row: RejectionRow) -> Result<Rejection, StoreError> {
    let (id, submission_id, received, source, peer, origin, reason_code, reason) = row;
    Ok(Rejection {
        id,
        submission_id,
        received_at: timestamp(received)?,
        source,
        peer,
        origin,
        reason_code,
        reason,
    })
}

pub(super) type FailureRow = (i32, Option<String>, i64);

/// Splits [`DOMAIN_FAILURES`] rows into the breakdowns by result type, receiving MX and
/// sending IP, each ordered by failed sessions, most first, then by key (a missing key
/// sorting as the empty string).
pub(super) fn failure_breakdowns(
    rows: Vec<FailureRow>,
) -> (Vec<FailureCount>, Vec<FailureCount>, Vec<FailureCount>) {
    let mut breakdowns: [Vec<FailureCount>; 3] = Default::default();
    for (breakdown, key, failed_sessions) in rows {
        // The rollups keep a key that was not reported as ''.
        let key = key.filter(|k| !k.is_empty());
        if let Some(list) = usize::try_from(breakdown)
            .ok()
            .and_then(|i| breakdowns.get_mut(i))
        {
            list.push(FailureCount {
                key,
                failed_sessions,
            });
        }
    }
    for list in &mut breakdowns {
        list.sort_by(|a, b| {
            b.failed_sessions.cmp(&a.failed_sessions).then_with(|| {
                a.key
                    .as_deref()
                    .unwrap_or("")
                    .cmp(b.key.as_deref().unwrap_or(""))
            })
        });
    }
    let [by_type, by_mx, by_ip] = breakdowns;
    (by_type, by_mx, by_ip)
}

pub(super) fn session_counts(rows: Vec<SessionRow>) -> Vec<SessionCounts> {
    rows.into_iter()
        .map(|(key, reports, ok, failed)| SessionCounts {
            key,
            reports,
            successful_sessions: ok,
            failed_sessions: failed,
        })
        .collect()
}

/// Instantiates the read methods for one backend. `$db` is the sqlx database, `$pool`
/// its pool.
macro_rules! define_queries {
    ($db:ty, $pool:ty) => {
        use $crate::store::queries::{self as q};
        use $crate::store::{
            DomainOverview, DomainSummary, Rejection, ReportFilter, ReportListItem, StoreError,
            StoredReport, TimeRange,
        };

        pub(super) async fn ping(pool: &$pool) -> Result<(), StoreError> {
            sqlx::query("SELECT 1").execute(pool).await?;
            Ok(())
        }

        pub(super) async fn list_domains(
            pool: &$pool,
            range: TimeRange,
        ) -> Result<Vec<DomainOverview>, StoreError> {
            let rows: Vec<(String, i64, i64, i64, i64, i64)> = sqlx::query_as(q::LIST_DOMAINS)
                .bind(range.from)
                .bind(range.to)
                .fetch_all(pool)
                .await?;
            rows.into_iter()
                .map(|(domain, reports, ok, failed, organizations, last)| {
                    Ok(DomainOverview {
                        domain,
                        reports,
                        successful_sessions: ok,
                        failed_sessions: failed,
                        failure_rate: $crate::store::failure_rate(ok, failed),
                        organizations,
                        last_report_at: q::timestamp(last)?,
                    })
                })
                .collect()
        }

        pub(super) async fn domain_summary(
            pool: &$pool,
            domain: &str,
            range: TimeRange,
        ) -> Result<DomainSummary, StoreError> {
            let (reports, ok, failed): (i64, i64, i64) = sqlx::query_as(q::DOMAIN_TOTALS)
                .bind(domain)
                .bind(range.from)
                .bind(range.to)
                .fetch_one(pool)
                .await?;
            let failures: Vec<q::FailureRow> = sqlx::query_as(q::DOMAIN_FAILURES)
                .bind(domain)
                .bind(range.from)
                .bind(range.to)
                .fetch_all(pool)
                .await?;
            let (by_result_type, by_receiving_mx, by_sending_ip) = q::failure_breakdowns(failures);
            let sessions = |sql: &'static str| {
                sqlx::query_as::<_, q::SessionRow>(sql)
                    .bind(domain)
                    .bind(range.from)
                    .bind(range.to)
                    .fetch_all(pool)
            };
            let by_organization = sessions(q::BY_ORGANIZATION).await?;
            let by_policy_type = sessions(q::BY_POLICY_TYPE).await?;
            Ok(DomainSummary {
                domain: domain.to_owned(),
                reports,
                successful_sessions: ok,
                failed_sessions: failed,
                failure_rate: $crate::store::failure_rate(ok, failed),
                by_result_type,
                by_receiving_mx,
                by_sending_ip,
                by_organization: q::session_counts(by_organization),
                by_policy_type: q::session_counts(by_policy_type),
            })
        }

        pub(super) async fn timeseries(
            pool: &$pool,
            domain: &str,
            range: TimeRange,
        ) -> Result<Vec<(i64, i64, i64)>, StoreError> {
            Ok(sqlx::query_as(q::TIMESERIES)
                .bind(domain)
                .bind(range.from)
                .bind(range.to)
                .fetch_all(pool)
                .await?)
        }

        pub(super) async fn all_domains_daily(
            pool: &$pool,
            range: TimeRange,
        ) -> Result<Vec<(String, i64, i64, i64)>, StoreError> {
            Ok(sqlx::query_as(q::ALL_DOMAINS_DAILY)
                .bind(range.from)
                .bind(range.to)
                .fetch_all(pool)
                .await?)
        }

        pub(super) async fn policies_seen(
            pool: &$pool,
            domain: &str,
            range: TimeRange,
        ) -> Result<Vec<q::PolicySeenRow>, StoreError> {
            Ok(sqlx::query_as(q::POLICIES_SEEN)
                .bind(domain)
                .bind(range.from)
                .bind(range.to)
                .fetch_all(pool)
                .await?)
        }

        pub(super) async fn failures_seen(
            pool: &$pool,
            domain: &str,
            range: TimeRange,
        ) -> Result<Vec<(String, i64, i64)>, StoreError> {
            Ok(sqlx::query_as(q::FAILURES_SEEN)
                .bind(domain)
                .bind(range.from)
                .bind(range.to)
                .fetch_all(pool)
                .await?)
        }

        pub(super) async fn list_reports(
            pool: &$pool,
            filter: &ReportFilter,
            limit: u32,
            cursor: Option<(i64, i64)>,
        ) -> Result<Vec<ReportListItem>, StoreError> {
            let range = filter.range.unwrap_or_else(TimeRange::all);
            let (before_start, before_id) = cursor.unwrap_or((i64::MAX, i64::MAX));
            let rows: Vec<q::ListRow> = match filter.domain.as_deref() {
                Some(domain) => {
                    sqlx::query_as(q::LIST_REPORTS_OF_DOMAIN)
                        .bind(domain)
                        .bind(filter.organization.as_deref())
                        .bind(range.from)
                        .bind(range.to)
                        .bind(before_start)
                        .bind(before_id)
                        .bind(i64::from(limit))
                        .fetch_all(pool)
                        .await?
                }
                None => {
                    sqlx::query_as(q::LIST_REPORTS)
                        .bind(filter.organization.as_deref())
                        .bind(range.from)
                        .bind(range.to)
                        .bind(before_start)
                        .bind(before_id)
                        .bind(i64::from(limit))
                        .fetch_all(pool)
                        .await?
                }
            };
            if rows.is_empty() {
                return Ok(Vec::new());
            }
            let mut domains_query = sqlx::QueryBuilder::<$db>::new(
                "SELECT DISTINCT report_row, policy_domain FROM policies WHERE report_row IN (",
            );
            let mut ids = domains_query.separated(", ");
            for row in &rows {
                ids.push_bind(row.0);
            }
            domains_query.push(") ORDER BY report_row, policy_domain");
            let domains: Vec<(i64, String)> = domains_query
                .build_query_as()
                .persistent(false)
                .fetch_all(pool)
                .await?;
            rows.into_iter()
                .map(|row| {
                    let of_row = domains
                        .iter()
                        .filter(|(r, d)| *r == row.0 && !d.is_empty())
                        .map(|(_, d)| d.clone())
                        .collect();
                    q::list_item(row, of_row)
                })
                .collect()
        }

        pub(super) async fn get_report(
            pool: &$pool,
            id: i64,
        ) -> Result<Option<StoredReport>, StoreError> {
            let Some(row): Option<q::ReportRow> = sqlx::query_as(q::GET_REPORT)
                .bind(id)
                .fetch_optional(pool)
                .await?
            else {
                return Ok(None);
            };
            let policies: Vec<q::PolicyRow> = sqlx::query_as(q::GET_POLICIES)
                .bind(id)
                .fetch_all(pool)
                .await?;
            let details: Vec<q::DetailRow> = sqlx::query_as(q::GET_DETAILS)
                .bind(id)
                .fetch_all(pool)
                .await?;
            q::assemble_report(row, policies, details).map(Some)
        }

        async fn raw_row(
            pool: &$pool,
            sql: &'static str,
            id: i64,
        ) -> Result<Option<q::RawRow>, StoreError> {
            let row: Option<(i64, Option<String>, String, String, Vec<u8>)> =
                sqlx::query_as(sql).bind(id).fetch_optional(pool).await?;
            Ok(row.map(
                |(submission_id, content_type, sha256, encoding, data)| q::RawRow {
                    submission_id,
                    content_type,
                    sha256,
                    encoding,
                    data,
                },
            ))
        }

        pub(super) async fn get_report_raw(
            pool: &$pool,
            id: i64,
        ) -> Result<Option<q::RawRow>, StoreError> {
            raw_row(pool, q::GET_REPORT_RAW, id).await
        }

        pub(super) async fn get_submission_raw(
            pool: &$pool,
            id: i64,
        ) -> Result<Option<q::RawRow>, StoreError> {
            raw_row(pool, q::GET_SUBMISSION_RAW, id).await
        }

        pub(super) async fn list_rejections(
            pool: &$pool,
            limit: u32,
            cursor: Option<(i64, i64)>,
        ) -> Result<Vec<Rejection>, StoreError> {
            let rows: Vec<q::RejectionRow> = sqlx::query_as(q::LIST_REJECTIONS)
                .bind(cursor.map(|c| c.0))
                .bind(cursor.map(|c| c.1))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
            rows.into_iter().map(q::rejection).collect()
        }
    };
}

pub(super) use define_queries;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_covering_every_row() {
        let rows: Vec<usize> = (0..1300).collect();
        let sizes: Vec<usize> = rows.chunks_pow2().map(<[usize]>::len).collect();
        assert_eq!(sizes, vec![512, 512, 256, 16, 4]);
        let rejoined: Vec<usize> = rows.chunks_pow2().flatten().copied().collect();
        assert_eq!(rejoined, rows);
        assert_eq!([0u8; 0].chunks_pow2().count(), 0);
        assert_eq!(
            [1u8].chunks_pow2().map(<[u8]>::len).collect::<Vec<_>>(),
            vec![1]
        );
    }
}
