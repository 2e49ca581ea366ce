//! The read side: what the API, the dashboard and the tests ask the store.
//!
//! In: a range, a domain, filters or an id. Out: typed answers. Per-domain figures come
//! from the rollups (migration 0004), so each answer costs a bounded number of queries
//! whatever the number of reports; lists are paged by a cursor.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Serialize;

use std::io::Read;

use super::queries as q;
use super::{Backend, Store, StoreError, normalize_domain, postgres, sqlite};
use crate::report::{FailureDetail, MessageMeta, PolicyResult, Report, Warning};

/// Largest page a list query returns; bigger requests are clamped so one API call cannot
/// pull the whole database into memory.
pub const MAX_PAGE: u32 = 1000;

/// Longest daily series we fill (10 years): a bound on the memory a time-series request
/// can make us allocate.
pub const MAX_SERIES_DAYS: i64 = 3660;

/// Largest raw submission we inflate when it is read back. Intake limits keep stored
/// bodies far below this; it only guards against a corrupted row.
const MAX_RAW_READ: u64 = 256 * 1024 * 1024;

/// Half-open range `[from, to)` of report start times, in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub from: i64,
    pub to: i64,
}

impl TimeRange {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        TimeRange {
            from: from.timestamp(),
            to: to.timestamp(),
        }
    }

    pub fn all() -> Self {
        TimeRange {
            from: i64::MIN,
            to: i64::MAX,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DomainOverview {
    pub domain: String,
    pub reports: i64,
    pub successful_sessions: i64,
    pub failed_sessions: i64,
    pub failure_rate: f64,
    pub organizations: i64,
    pub last_report_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FailureCount {
    pub key: Option<String>,
    pub failed_sessions: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SessionCounts {
    pub key: String,
    pub reports: i64,
    pub successful_sessions: i64,
    pub failed_sessions: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DomainSummary {
    pub domain: String,
    pub reports: i64,
    pub successful_sessions: i64,
    pub failed_sessions: i64,
    pub failure_rate: f64,
    pub by_result_type: Vec<FailureCount>,
    pub by_receiving_mx: Vec<FailureCount>,
    pub by_sending_ip: Vec<FailureCount>,
    pub by_organization: Vec<SessionCounts>,
    pub by_policy_type: Vec<SessionCounts>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DayCounts {
    pub day: NaiveDate,
    pub successful_sessions: i64,
    pub failed_sessions: i64,
}

/// One distinct policy of a domain, as reporters saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySeen {
    pub policy_type: String,
    pub policy_string: Vec<String>,
    pub first_start: DateTime<Utc>,
    pub last_start: DateTime<Utc>,
    /// Reports that carried it.
    pub reports: i64,
}

/// When a result type was first and last reported with failed sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureSeen {
    pub result_type: String,
    pub first_start: DateTime<Utc>,
    pub last_start: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    pub domain: Option<String>,
    pub organization: Option<String>,
    pub range: Option<TimeRange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReportListItem {
    pub id: i64,
    pub organization_name: String,
    pub report_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub source: String,
    pub successful_sessions: i64,
    pub failed_sessions: i64,
    pub domains: Vec<String>,
    pub warnings: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StoredReport {
    pub id: i64,
    pub submission_id: i64,
    pub source: String,
    pub peer: Option<String>,
    pub received_at: DateTime<Utc>,
    pub origin: String,
    pub meta: Option<MessageMeta>,
    #[schema(value_type = Object)]
    pub envelope: serde_json::Value,
    pub report: Report,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSubmission {
    pub submission_id: i64,
    pub content_type: Option<String>,
    pub sha256: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Rejection {
    pub id: i64,
    pub submission_id: i64,
    pub received_at: DateTime<Utc>,
    pub source: String,
    pub peer: Option<String>,
    pub origin: String,
    pub reason_code: String,
    pub reason: String,
}

/// Runs a backend's query function on whichever backend the store has.
macro_rules! on_backend {
    ($store:expr, $f:ident ( $($arg:expr),* )) => {
        match &$store.backend {
            Backend::Sqlite(p) => sqlite::$f(p, $($arg),*).await,
            Backend::Postgres(p) => postgres::$f(p, $($arg),*).await,
        }
    };
}

impl Store {
    /// Stored reports not yet folded into the rollups (see `rollup.rs`): a few thousand at
    /// most while the writer keeps up, none once it has been idle.
    pub async fn pending_rollup_reports(&self) -> Result<i64, StoreError> {
        on_backend!(self, pending_rollup_reports())
    }

    /// Each policy domain with reports in `range`: two queries whatever the number of
    /// domains (sums, then reporting organizations).
    pub async fn list_domains(&self, range: TimeRange) -> Result<Vec<DomainOverview>, StoreError> {
        let (totals, organizations) = on_backend!(self, list_domains(range))?;
        let organizations: std::collections::HashMap<String, i64> = organizations
            .into_iter()
            .map(|r| (r.policy_domain, r.organizations))
            .collect();
        totals
            .into_iter()
            .map(|r| {
                Ok(DomainOverview {
                    organizations: organizations.get(&r.policy_domain).copied().unwrap_or(0),
                    domain: r.policy_domain,
                    reports: r.reports,
                    successful_sessions: r.successful,
                    failed_sessions: r.failed,
                    failure_rate: failure_rate(r.successful, r.failed),
                    last_report_at: timestamp(r.last_start)?,
                })
            })
            .collect()
    }

    /// Totals and breakdowns of one domain: four queries whatever the number of reports.
    pub async fn domain_summary(
        &self,
        domain: &str,
        range: TimeRange,
    ) -> Result<DomainSummary, StoreError> {
        Ok(self.domain_summary_and_failure_days(domain, range).await?.0)
    }

    /// [`domain_summary`](Self::domain_summary), and for each result type with failed
    /// sessions the first and last report start that carried it (the domain page shows
    /// both; one pass over the domain's failure details gives both).
    pub async fn domain_summary_and_failure_days(
        &self,
        domain: &str,
        range: TimeRange,
    ) -> Result<(DomainSummary, Vec<FailureSeen>), StoreError> {
        let domain = normalize_domain(domain);
        let totals = on_backend!(self, domain_totals(&domain, range))?;
        let failures = on_backend!(self, domain_failures(&domain, range))?;
        let (by_organization, by_policy_type) = on_backend!(self, domain_sessions(&domain, range))?;
        let mut breakdowns: [Vec<q::FailureRow>; 3] = Default::default();
        let mut seen = Vec::new();
        for row in failures {
            if let (0, Some(result_type), Some(first), Some(last)) =
                (row.breakdown, &row.key, row.first_start, row.last_start)
            {
                seen.push(FailureSeen {
                    result_type: result_type.clone(),
                    first_start: timestamp(first)?,
                    last_start: timestamp(last)?,
                });
            }
            if let Some(list) = usize::try_from(row.breakdown)
                .ok()
                .and_then(|i| breakdowns.get_mut(i))
            {
                list.push(row);
            }
        }
        seen.sort_by(|a, b| a.result_type.cmp(&b.result_type));
        let [by_type, by_mx, by_ip] = breakdowns;
        let summary = DomainSummary {
            reports: totals.reports,
            successful_sessions: totals.successful,
            failed_sessions: totals.failed,
            failure_rate: failure_rate(totals.successful, totals.failed),
            by_result_type: failure_counts(by_type),
            by_receiving_mx: failure_counts(by_mx),
            by_sending_ip: failure_counts(by_ip),
            by_organization: session_counts(by_organization),
            by_policy_type: session_counts(by_policy_type),
            domain,
        };
        Ok((summary, seen))
    }

    /// Sessions per UTC day of report start, every day of `range` present (zeros for days
    /// without reports). `range` must be bounded.
    pub async fn timeseries(
        &self,
        domain: &str,
        range: TimeRange,
    ) -> Result<Vec<DayCounts>, StoreError> {
        let domain = normalize_domain(domain);
        let rows = on_backend!(self, timeseries(&domain, range))?;
        let rows: Vec<(i64, i64, i64)> = rows
            .into_iter()
            .map(|r| (r.day, r.successful, r.failed))
            .collect();
        Ok(fill_days(range, &rows))
    }

    /// Every domain's sessions over `range` in at most `points` buckets of whole UTC days
    /// (the overview's trends), from one query whatever the number of domains. Each
    /// series has every bucket; a bucket's `day` is its first day.
    pub async fn domain_trends(
        &self,
        range: TimeRange,
        points: u32,
    ) -> Result<Vec<(String, Vec<DayCounts>)>, StoreError> {
        let Some(buckets) = Buckets::of(range, points) else {
            return Ok(Vec::new());
        };
        let rows = on_backend!(
            self,
            domain_buckets(range, buckets.first_day, buckets.days_each)
        )?;
        let mut out: Vec<(String, Vec<DayCounts>)> = Vec::new();
        for row in rows {
            if out
                .last()
                .is_none_or(|(domain, _)| *domain != row.policy_domain)
            {
                out.push((row.policy_domain.clone(), buckets.empty_series()));
            }
            if let Some((_, series)) = out.last_mut() {
                Buckets::add(series, row.bucket, row.successful, row.failed);
            }
        }
        Ok(out)
    }

    /// The distinct policies (type and text) reported for `domain` in `range`, most
    /// recently seen first.
    pub async fn policies_seen(
        &self,
        domain: &str,
        range: TimeRange,
    ) -> Result<Vec<PolicySeen>, StoreError> {
        let domain = normalize_domain(domain);
        let rows = on_backend!(self, policies_seen(&domain, range))?;
        rows.into_iter()
            .map(|r| {
                Ok(PolicySeen {
                    policy_type: r.policy_type,
                    policy_string: from_json("policy_string", &r.policy_string)?,
                    first_start: timestamp(r.first_start)?,
                    last_start: timestamp(r.last_start)?,
                    reports: r.reports,
                })
            })
            .collect()
    }

    /// Reports newest first (by start time, then id). `cursor` is the `next_cursor` of the
    /// previous page.
    pub async fn list_reports(
        &self,
        filter: &ReportFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<ReportListItem>, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let cursor = cursor.map(parse_cursor).transpose()?;
        let filter = ReportFilter {
            domain: filter.domain.as_deref().map(normalize_domain),
            ..filter.clone()
        };
        let (rows, domains) = on_backend!(self, list_reports(&filter, limit + 1, cursor))?;
        let mut items = rows
            .into_iter()
            .map(|row| {
                let of_row = domains
                    .iter()
                    .filter(|d| d.report_row == row.id && !d.policy_domain.is_empty())
                    .map(|d| d.policy_domain.clone())
                    .collect();
                list_item(row, of_row)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items
                .last()
                .map(|last| format!("{}.{}", last.start.timestamp(), last.id))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    pub async fn get_report(&self, id: i64) -> Result<Option<StoredReport>, StoreError> {
        match on_backend!(self, get_report(id))? {
            Some((row, policies, details)) => assemble_report(row, policies, details).map(Some),
            None => Ok(None),
        }
    }

    /// The original bytes of the submission that carried report `id`.
    pub async fn get_report_raw(&self, id: i64) -> Result<Option<RawSubmission>, StoreError> {
        on_backend!(self, get_report_raw(id))?
            .map(into_raw)
            .transpose()
    }

    pub async fn get_submission_raw(&self, id: i64) -> Result<Option<RawSubmission>, StoreError> {
        on_backend!(self, get_submission_raw(id))?
            .map(into_raw)
            .transpose()
    }

    /// Quarantined submissions, newest first.
    pub async fn list_rejections(
        &self,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Rejection>, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let cursor = cursor.map(parse_cursor).transpose()?;
        let rows = on_backend!(self, list_rejections(limit + 1, cursor))?;
        let mut items = rows
            .into_iter()
            .map(rejection)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items
                .last()
                .map(|last| format!("{}.{}", last.received_at.timestamp(), last.id))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}

/// How a range is cut into at most a given number of buckets of whole days.
struct Buckets {
    first_day: i64,
    days_each: i64,
    count: i64,
}

impl Buckets {
    fn of(range: TimeRange, points: u32) -> Option<Buckets> {
        if range.to <= range.from {
            return None;
        }
        let last = day_number(range.to - 1);
        let first_day = day_number(range.from).max(last - MAX_SERIES_DAYS + 1);
        let days = last - first_day + 1;
        let points = i64::from(points.max(1));
        let days_each = (days + points - 1) / points;
        Some(Buckets {
            first_day,
            days_each,
            count: (days + days_each - 1) / days_each,
        })
    }

    fn empty_series(&self) -> Vec<DayCounts> {
        (0..self.count)
            .filter_map(|i| {
                Some(DayCounts {
                    day: day_date(self.first_day + i * self.days_each)?,
                    successful_sessions: 0,
                    failed_sessions: 0,
                })
            })
            .collect()
    }

    /// Adds counts to bucket `index` of `series`; an index outside it is ignored.
    fn add(series: &mut [DayCounts], index: i64, successful: i64, failed: i64) {
        if let Some(slot) = usize::try_from(index).ok().and_then(|i| series.get_mut(i)) {
            slot.successful_sessions += successful;
            slot.failed_sessions += failed;
        }
    }
}

/// Report or rejection counts as a fraction, 0 when there were no sessions.
pub fn failure_rate(successful: i64, failed: i64) -> f64 {
    let total = successful as f64 + failed as f64;
    if total > 0.0 {
        failed as f64 / total
    } else {
        0.0
    }
}

/// Cursor format `TIME.ID` (both decimal i64).
fn parse_cursor(s: &str) -> Result<(i64, i64), StoreError> {
    let bad = || StoreError::InvalidCursor(s.to_owned());
    let (time, id) = s.split_once('.').ok_or_else(bad)?;
    Ok((
        time.parse().map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}

/// UTC day number (days since 1970-01-01) of a Unix timestamp, as the SQL computes it.
pub(crate) fn day_number(ts: i64) -> i64 {
    ts.div_euclid(86_400)
}

fn day_date(day: i64) -> Option<NaiveDate> {
    Utc.timestamp_opt(day.checked_mul(86_400)?, 0)
        .single()
        .map(|t| t.date_naive())
}

/// Turns sparse `(day number, successful, failed)` rows into one entry per day of
/// `range`, at most [`MAX_SERIES_DAYS`] (the most recent ones).
fn fill_days(range: TimeRange, rows: &[(i64, i64, i64)]) -> Vec<DayCounts> {
    // Buckets of one day each: as many points as days.
    let Some(days) = Buckets::of(range, u32::MAX) else {
        return Vec::new();
    };
    let mut series = days.empty_series();
    for &(day, successful, failed) in rows {
        Buckets::add(&mut series, day - days.first_day, successful, failed);
    }
    series
}

// ------------------------------------------------------------------ rows to the read model

fn timestamp(secs: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_opt(secs, 0)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {secs} out of range")))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn list_item(row: q::ListRow, domains: Vec<String>) -> Result<ReportListItem, StoreError> {
    let warnings: Vec<Warning> = from_json("warnings", &row.warnings)?;
    Ok(ReportListItem {
        id: row.id,
        organization_name: row.organization_name,
        report_id: row.report_id,
        start: timestamp(row.start_at)?,
        end: timestamp(row.end_at)?,
        received_at: timestamp(row.received_at)?,
        source: row.source,
        successful_sessions: row.total_successful,
        failed_sessions: row.total_failed,
        domains,
        warnings: warnings.len(),
    })
}

fn assemble_report(
    row: q::ReportRow,
    policies: Vec<q::PolicyRow>,
    details: Vec<q::DetailRow>,
) -> Result<StoredReport, StoreError> {
    let mut out_policies = Vec::with_capacity(policies.len());
    for p in policies {
        let failure_details = details
            .iter()
            .filter(|d| d.policy_row == p.id)
            .map(|d| FailureDetail {
                result_type: d.result_type.clone(),
                sending_mta_ip: d.sending_mta_ip.clone(),
                receiving_mx_hostname: d.receiving_mx_hostname.clone(),
                receiving_mx_helo: d.receiving_mx_helo.clone(),
                receiving_ip: d.receiving_ip.clone(),
                failed_session_count: d.failed_session_count,
                additional_information: d.additional_information.clone(),
                failure_reason_code: d.failure_reason_code.clone(),
            })
            .collect();
        out_policies.push(PolicyResult {
            policy_type: p.policy_type,
            policy_domain: (!p.policy_domain.is_empty()).then_some(p.policy_domain),
            policy_string: from_json("policy_string", &p.policy_string)?,
            mx_host: from_json("mx_host", &p.mx_host)?,
            total_successful: p.total_successful,
            total_failed: p.total_failed,
            failure_details,
        });
    }
    let meta: Option<MessageMeta> = row
        .message_meta
        .as_deref()
        .map(|m| from_json("message_meta", m))
        .transpose()?;
    Ok(StoredReport {
        id: row.id,
        submission_id: row.submission_id,
        source: row.source,
        peer: row.peer,
        received_at: timestamp(row.received_at)?,
        origin: row.origin,
        meta,
        envelope: from_json("envelope", &row.envelope)?,
        report: Report {
            organization_name: row.organization_name,
            report_id: row.report_id,
            contact_info: row.contact_info,
            start: timestamp(row.start_at)?,
            end: timestamp(row.end_at)?,
            policies: out_policies,
            warnings: from_json("warnings", &row.warnings)?,
        },
    })
}

fn rejection(row: q::RejectionRow) -> Result<Rejection, StoreError> {
    Ok(Rejection {
        id: row.id,
        submission_id: row.submission_id,
        received_at: timestamp(row.received_at)?,
        source: row.source,
        peer: row.peer,
        origin: row.origin,
        reason_code: row.reason_code,
        reason: row.reason,
    })
}

/// A failure breakdown ordered by failed sessions, most first, then by key (a missing
/// key sorting as the empty string).
fn failure_counts(rows: Vec<q::FailureRow>) -> Vec<FailureCount> {
    let mut list: Vec<FailureCount> = rows
        .into_iter()
        .map(|r| FailureCount {
            key: r.key,
            failed_sessions: r.failed,
        })
        .collect();
    list.sort_by(|a, b| {
        b.failed_sessions.cmp(&a.failed_sessions).then_with(|| {
            a.key
                .as_deref()
                .unwrap_or("")
                .cmp(b.key.as_deref().unwrap_or(""))
        })
    });
    list
}

fn session_counts(rows: Vec<q::SessionRow>) -> Vec<SessionCounts> {
    rows.into_iter()
        .map(|r| SessionCounts {
            key: r.key,
            reports: r.reports,
            successful_sessions: r.successful,
            failed_sessions: r.failed,
        })
        .collect()
}

/// The raw bytes of a submission as received: inflated when they were gzipped for storage.
fn into_raw(row: q::RawRow) -> Result<RawSubmission, StoreError> {
    let bytes = match row.raw_encoding.as_str() {
        "identity" => row.raw_data,
        "gzip" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(row.raw_data.as_slice())
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
        submission_id: row.submission_id,
        content_type: row.content_type,
        sha256: row.raw_sha256,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_errors() {
        assert_eq!(parse_cursor("1700000000.42").unwrap(), (1_700_000_000, 42));
        assert_eq!(parse_cursor("-5.1").unwrap(), (-5, 1));
        assert!(parse_cursor("abc").is_err());
        assert!(parse_cursor("1.x").is_err());
    }

    #[test]
    fn fill_days_has_every_day_with_zeros() {
        let d0 = 19_000 * 86_400;
        let range = TimeRange {
            from: d0,
            to: d0 + 3 * 86_400,
        };
        let series = fill_days(range, &[(19_000, 5, 1), (19_002, 0, 7)]);
        let counts: Vec<_> = series
            .iter()
            .map(|d| (d.successful_sessions, d.failed_sessions))
            .collect();
        assert_eq!(counts, vec![(5, 1), (0, 0), (0, 7)]);
        assert_eq!(series[0].day, day_date(19_000).unwrap());
    }

    #[test]
    fn fill_days_is_bounded() {
        let series = fill_days(
            TimeRange {
                from: 0,
                to: 100_000 * 86_400,
            },
            &[],
        );
        assert_eq!(series.len() as i64, MAX_SERIES_DAYS);
    }

    #[test]
    fn day_number_of_negative_times_rounds_down() {
        assert_eq!(day_number(-1), -1);
        assert_eq!(day_number(0), 0);
        assert_eq!(day_number(86_399), 0);
    }
}
