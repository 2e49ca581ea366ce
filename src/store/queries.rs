//! The read SQL, shared by both backends and written once, with its named row types.
//!
//! In: a pool of one backend (through [`define_queries!`]). Out: the rows behind every
//! read method of [`Store`](super::Store); `read.rs` turns them into the read model.
//!
//! The statements use `$N` placeholders, which PostgreSQL and (through sqlx) SQLite both
//! accept, `CAST(.. AS BIGINT)` where PostgreSQL would widen sums to NUMERIC, and
//! `CAST($n AS TEXT) IS NULL` for optional filters so PostgreSQL can type the parameter.
//! Per-domain figures read the rollups of migration 0004 (`rollup.rs`): a handful of rows
//! per domain and report start time, so a query costs what its range and its domains
//! hold, not what the whole database holds.

/// The policies of reports not yet folded into the rollups (`rollup.rs`), joined from the
/// pending side: at most a few thousand reports, a key lookup each. Every rollup query
/// adds these to its rollup rows in the same statement, so it reads one snapshot and
/// counts each stored report once, folded or not. Where a query names one domain it
/// compares `p.policy_domain || ''`: an expression no index covers, so SQLite looks up
/// each pending report's policies by `policies_report` instead of scanning the domain's
/// range of `policies_domain_cover` once per pending report (measured: 2 s instead of
/// milliseconds with 4,096 reports pending).
macro_rules! pending_policies {
    () => {
        "FROM rollup_pending q CROSS JOIN policies p WHERE p.report_row = q.report_row "
    };
}

/// `rollup_domains` rows in the range `[$1, $2)` with the pending reports' share.
macro_rules! domain_rows_in_range {
    () => {
        concat!(
            "SELECT policy_domain, start_at, reports, successful, failed FROM rollup_domains \
             WHERE start_at >= $1 AND start_at < $2 \
             UNION ALL SELECT p.policy_domain, p.start_at, COUNT(DISTINCT p.report_row), \
             SUM(p.total_successful), SUM(p.total_failed) ",
            pending_policies!(),
            "AND p.start_at >= $1 AND p.start_at < $2 GROUP BY p.policy_domain, p.start_at"
        )
    };
}

/// `rollup_domains` rows of domain `$1` in the range `[$2, $3)` with the pending share.
macro_rules! domain_rows_of_domain {
    () => {
        concat!(
            "SELECT start_at, reports, successful, failed FROM rollup_domains \
             WHERE policy_domain = $1 AND start_at >= $2 AND start_at < $3 \
             UNION ALL SELECT p.start_at, COUNT(DISTINCT p.report_row), \
             SUM(p.total_successful), SUM(p.total_failed) ",
            pending_policies!(),
            "AND p.policy_domain || '' = $1 AND p.start_at >= $2 AND p.start_at < $3 GROUP BY p.start_at"
        )
    };
}

/// Sums per domain over a range, for the domain list. The pending reports are summed per
/// domain only (not per start time first, as in [`domain_rows_in_range!`]): half the
/// sorting when thousands are pending.
pub(super) const DOMAIN_TOTALS_ALL: &str = concat!(
    "SELECT policy_domain, \
    CAST(SUM(reports) AS BIGINT) AS reports, CAST(SUM(successful) AS BIGINT) AS successful, \
    CAST(SUM(failed) AS BIGINT) AS failed, MAX(start_at) AS last_start FROM ( \
    SELECT policy_domain, start_at, reports, successful, failed FROM rollup_domains \
    WHERE start_at >= $1 AND start_at < $2 \
    UNION ALL SELECT p.policy_domain, MAX(p.start_at), COUNT(DISTINCT p.report_row), \
    SUM(p.total_successful), SUM(p.total_failed) ",
    pending_policies!(),
    "AND p.start_at >= $1 AND p.start_at < $2 GROUP BY p.policy_domain \
    ) t GROUP BY policy_domain ORDER BY policy_domain"
);

/// Reporting organizations per domain over a range: one probe of `rollup_organizations`
/// per (domain, organization) pair ever folded, instead of a distinct count over every
/// row, and the pairs of the pending reports.
pub(super) const ORGANIZATION_COUNTS: &str = concat!(
    "SELECT policy_domain, COUNT(DISTINCT organization_name) AS organizations FROM ( \
    SELECT o.policy_domain, o.organization_name FROM domain_organizations o \
    WHERE EXISTS (SELECT 1 FROM rollup_organizations r \
        WHERE r.policy_domain = o.policy_domain AND r.organization_name = o.organization_name \
          AND r.start_at >= $1 AND r.start_at < $2) \
    UNION ALL SELECT p.policy_domain, p.organization_name ",
    pending_policies!(),
    "AND p.start_at >= $1 AND p.start_at < $2) t GROUP BY policy_domain"
);

/// Sessions per domain and bucket of `$4` UTC days counted from day `$3`, every domain in
/// one query (the overview's trends). Day numbers use floor division so reports before
/// 1970 land on the right day.
pub(super) const DOMAIN_BUCKETS_ALL: &str = concat!(
    "SELECT policy_domain, \
    ((start_at - ((start_at % 86400) + 86400) % 86400) / 86400 - $3) / $4 AS bucket, \
    CAST(SUM(successful) AS BIGINT) AS successful, CAST(SUM(failed) AS BIGINT) AS failed FROM (",
    domain_rows_in_range!(),
    ") t GROUP BY 1, 2 ORDER BY 1, 2"
);

pub(super) const DOMAIN_TOTALS: &str = concat!(
    "SELECT CAST(COALESCE(SUM(reports), 0) AS BIGINT) AS reports, \
    CAST(COALESCE(SUM(successful), 0) AS BIGINT) AS successful, \
    CAST(COALESCE(SUM(failed), 0) AS BIGINT) AS failed FROM (",
    domain_rows_of_domain!(),
    ") t"
);

/// Day number computed with floor division so reports before 1970 land on the right day.
pub(super) const TIMESERIES: &str = concat!(
    "SELECT (start_at - ((start_at % 86400) + 86400) % 86400) / 86400 AS day, \
    CAST(SUM(successful) AS BIGINT) AS successful, CAST(SUM(failed) AS BIGINT) AS failed FROM (",
    domain_rows_of_domain!(),
    ") t GROUP BY 1 ORDER BY 1"
);

/// The three failure breakdowns of a domain in a range, as `(breakdown, key, failed
/// sessions, first start, last start)` rows: 0 by result type (with the first and last
/// report start that had failed sessions of the type), 1 by receiving MX, 2 by sending IP.
/// The policies' covering index gives the policy ids, each policy's details are found by
/// their key (policy_row, position); that join runs once, materialized, and the three
/// groupings read its result.
pub(super) const DOMAIN_FAILURES: &str = "WITH f AS MATERIALIZED ( \
        SELECT fd.result_type, fd.receiving_mx_hostname, fd.sending_mta_ip, \
               fd.failed_session_count, p.start_at \
        FROM policies p JOIN failure_details fd ON fd.policy_row = p.id \
        WHERE p.policy_domain = $1 AND p.start_at >= $2 AND p.start_at < $3) \
    SELECT 0 AS breakdown, result_type AS key, CAST(SUM(failed_session_count) AS BIGINT) AS failed, \
        MIN(CASE WHEN failed_session_count > 0 THEN start_at END) AS first_start, \
        MAX(CASE WHEN failed_session_count > 0 THEN start_at END) AS last_start \
        FROM f GROUP BY result_type \
    UNION ALL \
    SELECT 1, receiving_mx_hostname, CAST(SUM(failed_session_count) AS BIGINT), NULL, NULL \
        FROM f GROUP BY receiving_mx_hostname \
    UNION ALL \
    SELECT 2, sending_mta_ip, CAST(SUM(failed_session_count) AS BIGINT), NULL, NULL \
        FROM f GROUP BY sending_mta_ip";

pub(super) const BY_ORGANIZATION: &str = concat!(
    "SELECT organization_name AS key, \
    CAST(SUM(reports) AS BIGINT) AS reports, CAST(SUM(successful) AS BIGINT) AS successful, \
    CAST(SUM(failed) AS BIGINT) AS failed FROM ( \
    SELECT organization_name, reports, successful, failed FROM rollup_organizations \
    WHERE policy_domain = $1 AND start_at >= $2 AND start_at < $3 \
    UNION ALL SELECT p.organization_name, COUNT(DISTINCT p.report_row), \
    SUM(p.total_successful), SUM(p.total_failed) ",
    pending_policies!(),
    "AND p.policy_domain || '' = $1 AND p.start_at >= $2 AND p.start_at < $3 \
    GROUP BY p.organization_name) t \
    GROUP BY organization_name ORDER BY 4 DESC, 3 DESC, 1"
);

/// From the policies' covering index (policy_domain, start_at, report_row,
/// organization_name, policy_type, total_successful, total_failed).
pub(super) const BY_POLICY_TYPE: &str = "SELECT policy_type AS key, \
    COUNT(DISTINCT report_row) AS reports, CAST(SUM(total_successful) AS BIGINT) AS successful, \
    CAST(SUM(total_failed) AS BIGINT) AS failed \
    FROM policies WHERE policy_domain = $1 AND start_at >= $2 AND start_at < $3 \
    GROUP BY policy_type ORDER BY 4 DESC, 3 DESC, 1";

/// Each distinct policy (type and text) of a domain: first and last report start, and
/// how many reports carried it, from the policies of the range. Grouped by the text's id
/// (migration 0006), which the covering index holds, so the policy rows are not read;
/// the few texts are looked up after.
pub(super) const POLICIES_SEEN: &str = "SELECT t.policy_type, t.policy_string, \
    g.first_start, g.last_start, g.reports FROM ( \
        SELECT policy_text, MIN(start_at) AS first_start, MAX(start_at) AS last_start, \
        COUNT(DISTINCT report_row) AS reports \
        FROM policies WHERE policy_domain = $1 AND start_at >= $2 AND start_at < $3 \
        GROUP BY policy_text) g \
    JOIN policy_texts t ON t.id = g.policy_text \
    ORDER BY g.last_start DESC, t.policy_type, t.policy_string";

/// Reports newest first, optionally of one organization. `$4` and `$5` are the cursor
/// (start, id), `(i64::MAX, i64::MAX)` for the first page.
pub(super) const LIST_REPORTS: &str = "SELECT r.id, r.organization_name, r.report_id, r.start_at, \
    r.end_at, r.received_at, s.source, r.total_successful, r.total_failed, r.warnings \
    FROM reports r JOIN submissions s ON s.id = r.submission_id \
    WHERE (CAST($1 AS TEXT) IS NULL OR r.organization_name = $1) \
      AND r.start_at >= $2 AND r.start_at < $3 \
      AND (r.start_at < $4 OR (r.start_at = $4 AND r.id < $5)) \
    ORDER BY r.start_at DESC, r.id DESC LIMIT $6";

/// Reports of one policy domain, newest first: the policies' (domain, start) index gives
/// the page of report ids first, then only those reports are read.
pub(super) const LIST_REPORTS_OF_DOMAIN: &str = "SELECT r.id, r.organization_name, r.report_id, \
    r.start_at, r.end_at, r.received_at, s.source, r.total_successful, r.total_failed, r.warnings \
    FROM (SELECT p.start_at, p.report_row FROM policies p \
          WHERE p.policy_domain = $1 AND (CAST($2 AS TEXT) IS NULL OR p.organization_name = $2) \
            AND p.start_at >= $3 AND p.start_at < $4 \
            AND (p.start_at < $5 OR (p.start_at = $5 AND p.report_row < $6)) \
          GROUP BY p.start_at, p.report_row \
          ORDER BY p.start_at DESC, p.report_row DESC LIMIT $7) k \
    JOIN reports r ON r.id = k.report_row JOIN submissions s ON s.id = r.submission_id \
    ORDER BY r.start_at DESC, r.id DESC";

/// The policy domains of listed reports; the ids are appended as a bound list.
pub(super) const REPORT_DOMAINS: &str =
    "SELECT DISTINCT report_row, policy_domain FROM policies WHERE report_row IN (";

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

pub(super) const GET_REPORT_RAW: &str = "SELECT s.id AS submission_id, s.content_type, \
    s.raw_sha256, s.raw_encoding, s.raw_data \
    FROM reports r JOIN submissions s ON s.id = r.submission_id WHERE r.id = $1";

pub(super) const GET_SUBMISSION_RAW: &str = "SELECT id AS submission_id, content_type, \
    raw_sha256, raw_encoding, raw_data FROM submissions WHERE id = $1";

pub(super) const LIST_REJECTIONS: &str = "SELECT q.id, q.submission_id, q.received_at, s.source, s.peer, \
    q.origin, q.reason_code, q.reason \
    FROM quarantine q JOIN submissions s ON s.id = q.submission_id \
    WHERE (CAST($1 AS BIGINT) IS NULL OR q.received_at < $1 OR (q.received_at = $1 AND q.id < $2)) \
    ORDER BY q.received_at DESC, q.id DESC LIMIT $3";

/// A domain's sums over a range ([`DOMAIN_TOTALS_ALL`]).
#[derive(Debug, sqlx::FromRow)]
pub(super) struct DomainTotalsRow {
    pub policy_domain: String,
    pub reports: i64,
    pub successful: i64,
    pub failed: i64,
    pub last_start: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct OrganizationCountRow {
    pub policy_domain: String,
    pub organizations: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct DomainBucketRow {
    pub policy_domain: String,
    pub bucket: i64,
    pub successful: i64,
    pub failed: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct TotalsRow {
    pub reports: i64,
    pub successful: i64,
    pub failed: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct DayRow {
    pub day: i64,
    pub successful: i64,
    pub failed: i64,
}

/// A row of [`DOMAIN_FAILURES`].
#[derive(Debug, sqlx::FromRow)]
pub(super) struct FailureRow {
    pub breakdown: i32,
    pub key: Option<String>,
    pub failed: i64,
    pub first_start: Option<i64>,
    pub last_start: Option<i64>,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct SessionRow {
    pub key: String,
    pub reports: i64,
    pub successful: i64,
    pub failed: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct PolicySeenRow {
    pub policy_type: String,
    pub policy_string: String,
    pub first_start: i64,
    pub last_start: i64,
    pub reports: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct ListRow {
    pub id: i64,
    pub organization_name: String,
    pub report_id: String,
    pub start_at: i64,
    pub end_at: i64,
    pub received_at: i64,
    pub source: String,
    pub total_successful: i64,
    pub total_failed: i64,
    pub warnings: String,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct ReportDomainRow {
    pub report_row: i64,
    pub policy_domain: String,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct ReportRow {
    pub id: i64,
    pub submission_id: i64,
    pub organization_name: String,
    pub report_id: String,
    pub contact_info: Option<String>,
    pub start_at: i64,
    pub end_at: i64,
    pub received_at: i64,
    pub origin: String,
    pub warnings: String,
    pub source: String,
    pub peer: Option<String>,
    pub envelope: String,
    pub message_meta: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct PolicyRow {
    pub id: i64,
    pub policy_type: String,
    pub policy_domain: String,
    pub policy_string: String,
    pub mx_host: String,
    pub total_successful: i64,
    pub total_failed: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct DetailRow {
    pub policy_row: i64,
    pub result_type: String,
    pub sending_mta_ip: Option<String>,
    pub receiving_mx_hostname: Option<String>,
    pub receiving_mx_helo: Option<String>,
    pub receiving_ip: Option<String>,
    pub failed_session_count: i64,
    pub additional_information: Option<String>,
    pub failure_reason_code: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct RejectionRow {
    pub id: i64,
    pub submission_id: i64,
    pub received_at: i64,
    pub source: String,
    pub peer: Option<String>,
    pub origin: String,
    pub reason_code: String,
    pub reason: String,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct RawRow {
    pub submission_id: i64,
    pub content_type: Option<String>,
    pub raw_sha256: String,
    pub raw_encoding: String,
    pub raw_data: Vec<u8>,
}

/// Instantiates the read queries for one backend. `$db` is the sqlx database, `$pool`
/// its pool. Each function runs the statements its name says and returns their rows.
macro_rules! define_queries {
    ($db:ty, $pool:ty) => {
        use $crate::store::queries::{self as q};
        use $crate::store::{ReportFilter, StoreError, TimeRange};

        pub(super) async fn ping(pool: &$pool) -> Result<(), StoreError> {
            sqlx::query("SELECT 1").execute(pool).await?;
            Ok(())
        }

        pub(super) async fn pending_rollup_reports(pool: &$pool) -> Result<i64, StoreError> {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM rollup_pending")
                .fetch_one(pool)
                .await?)
        }

        /// Rows of a statement bound to `(domain, from, to)`.
        async fn of_domain<R>(
            pool: &$pool,
            sql: &'static str,
            domain: &str,
            range: TimeRange,
        ) -> Result<Vec<R>, StoreError>
        where
            R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
        {
            Ok(sqlx::query_as(sql)
                .bind(domain)
                .bind(range.from)
                .bind(range.to)
                .fetch_all(pool)
                .await?)
        }

        pub(super) async fn list_domains(
            pool: &$pool,
            range: TimeRange,
        ) -> Result<(Vec<q::DomainTotalsRow>, Vec<q::OrganizationCountRow>), StoreError> {
            let totals = sqlx::query_as(q::DOMAIN_TOTALS_ALL)
                .bind(range.from)
                .bind(range.to)
                .fetch_all(pool)
                .await?;
            let organizations = sqlx::query_as(q::ORGANIZATION_COUNTS)
                .bind(range.from)
                .bind(range.to)
                .fetch_all(pool)
                .await?;
            Ok((totals, organizations))
        }

        pub(super) async fn domain_buckets(
            pool: &$pool,
            range: TimeRange,
            first_day: i64,
            bucket_days: i64,
        ) -> Result<Vec<q::DomainBucketRow>, StoreError> {
            Ok(sqlx::query_as(q::DOMAIN_BUCKETS_ALL)
                .bind(range.from)
                .bind(range.to)
                .bind(first_day)
                .bind(bucket_days)
                .fetch_all(pool)
                .await?)
        }

        pub(super) async fn domain_totals(
            pool: &$pool,
            domain: &str,
            range: TimeRange,
        ) -> Result<q::TotalsRow, StoreError> {
            Ok(sqlx::query_as(q::DOMAIN_TOTALS)
                .bind(domain)
                .bind(range.from)
                .bind(range.to)
                .fetch_one(pool)
                .await?)
        }

        /// Failures by result type, receiving MX and sending IP, in one statement.
        pub(super) async fn domain_failures(
            pool: &$pool,
            domain: &str,
            range: TimeRange,
        ) -> Result<Vec<q::FailureRow>, StoreError> {
            of_domain(pool, q::DOMAIN_FAILURES, domain, range).await
        }

        /// Sessions by organization and by policy type.
        pub(super) async fn domain_sessions(
            pool: &$pool,
            domain: &str,
            range: TimeRange,
        ) -> Result<(Vec<q::SessionRow>, Vec<q::SessionRow>), StoreError> {
            Ok((
                of_domain(pool, q::BY_ORGANIZATION, domain, range).await?,
                of_domain(pool, q::BY_POLICY_TYPE, domain, range).await?,
            ))
        }

        pub(super) async fn timeseries(
            pool: &$pool,
            domain: &str,
            range: TimeRange,
        ) -> Result<Vec<q::DayRow>, StoreError> {
            of_domain(pool, q::TIMESERIES, domain, range).await
        }

        pub(super) async fn policies_seen(
            pool: &$pool,
            domain: &str,
            range: TimeRange,
        ) -> Result<Vec<q::PolicySeenRow>, StoreError> {
            of_domain(pool, q::POLICIES_SEEN, domain, range).await
        }

        /// A page of reports and the policy domains of each.
        pub(super) async fn list_reports(
            pool: &$pool,
            filter: &ReportFilter,
            limit: u32,
            cursor: Option<(i64, i64)>,
        ) -> Result<(Vec<q::ListRow>, Vec<q::ReportDomainRow>), StoreError> {
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
                return Ok((rows, Vec::new()));
            }
            let mut domains_query = sqlx::QueryBuilder::<$db>::new(q::REPORT_DOMAINS);
            let mut ids = domains_query.separated(", ");
            for row in &rows {
                ids.push_bind(row.id);
            }
            domains_query.push(") ORDER BY report_row, policy_domain");
            let domains = domains_query
                .build_query_as()
                .persistent(false)
                .fetch_all(pool)
                .await?;
            Ok((rows, domains))
        }

        /// A report with its policies and their failure details.
        pub(super) async fn get_report(
            pool: &$pool,
            id: i64,
        ) -> Result<Option<(q::ReportRow, Vec<q::PolicyRow>, Vec<q::DetailRow>)>, StoreError> {
            let Some(row) = sqlx::query_as(q::GET_REPORT)
                .bind(id)
                .fetch_optional(pool)
                .await?
            else {
                return Ok(None);
            };
            let policies = sqlx::query_as(q::GET_POLICIES)
                .bind(id)
                .fetch_all(pool)
                .await?;
            let details = sqlx::query_as(q::GET_DETAILS)
                .bind(id)
                .fetch_all(pool)
                .await?;
            Ok(Some((row, policies, details)))
        }

        pub(super) async fn get_report_raw(
            pool: &$pool,
            id: i64,
        ) -> Result<Option<q::RawRow>, StoreError> {
            Ok(sqlx::query_as(q::GET_REPORT_RAW)
                .bind(id)
                .fetch_optional(pool)
                .await?)
        }

        pub(super) async fn get_submission_raw(
            pool: &$pool,
            id: i64,
        ) -> Result<Option<q::RawRow>, StoreError> {
            Ok(sqlx::query_as(q::GET_SUBMISSION_RAW)
                .bind(id)
                .fetch_optional(pool)
                .await?)
        }

        pub(super) async fn list_rejections(
            pool: &$pool,
            limit: u32,
            cursor: Option<(i64, i64)>,
        ) -> Result<Vec<q::RejectionRow>, StoreError> {
            Ok(sqlx::query_as(q::LIST_REJECTIONS)
                .bind(cursor.map(|c| c.0))
                .bind(cursor.map(|c| c.1))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?)
        }
    };
}

pub(super) use define_queries;
