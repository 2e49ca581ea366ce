//! What the store knows about a domain, for its posture check.
//!
//! In: the store and a normalized domain. Out: a [`ReportContext`]: when its latest
//! report came, and the newest MTA-STS policy text senders reported (what
//! `mta-sts-id-not-bumped` and `tlsrpt-no-reports` are judged on).

use chrono::{Duration, Utc};

use crate::posture::check::ReportContext;
use crate::store::{Store, StoreError, TimeRange};

/// How far back the reports are read: the no-reports rule looks at 72 hours, the
/// policy-text rule at the newest report; a month covers both with room.
const LOOKBACK_DAYS: i64 = 31;

pub async fn report_context(store: &Store, domain: &str) -> Result<ReportContext, StoreError> {
    let now = Utc::now();
    let range = TimeRange::new(now - Duration::days(LOOKBACK_DAYS), now + Duration::days(1));
    let last_report_at = store
        .list_domains(range)
        .await?
        .into_iter()
        .find(|d| d.domain == domain)
        .map(|d| d.last_report_at);
    let latest_reported_policy = store
        .policies_seen(domain, range)
        .await?
        .into_iter()
        .filter(|p| p.policy_type == "sts")
        .max_by_key(|p| p.last_start)
        .map(|p| (p.last_start, p.policy_string));
    Ok(ReportContext {
        known: true,
        last_report_at,
        latest_reported_policy,
    })
}
