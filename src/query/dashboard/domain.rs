//! The domain page (`/domains/{domain}`): where TLS to one domain fails, and why.
//!
//! In: a domain and the range. Out: totals, daily charts, failures by result type with
//! their meaning and fix, breakdowns, and the policies reporters applied; a fixed number of
//! queries, whatever the number of reports or other domains.

use super::*;
use crate::result_types::ResultType;

pub(super) struct ResultRow {
    pub(super) result_type: String,
    /// First and last day with this failure among the scanned reports.
    pub(super) seen: String,
    pub(super) known: bool,
    pub(super) failed: i64,
    pub(super) share: String,
    pub(super) meaning: &'static str,
    pub(super) fix: &'static str,
}

pub(super) struct CountRow {
    pub(super) key: String,
    pub(super) failed: i64,
}

pub(super) struct SessionRow {
    pub(super) key: String,
    pub(super) reports: i64,
    pub(super) successful: i64,
    pub(super) failed: i64,
    pub(super) rate: String,
    pub(super) href: Option<String>,
}

pub(super) struct PolicySeen {
    pub(super) policy_type: String,
    pub(super) mode: String,
    pub(super) mx: Vec<String>,
    pub(super) max_age: String,
    pub(super) lines: Vec<String>,
    pub(super) first_seen: String,
    pub(super) last_seen: String,
    pub(super) reports: i64,
}

#[derive(Template)]
#[template(path = "domain.html")]
pub(super) struct DomainPage {
    pub(super) ctx: Ctx,
    pub(super) domain: String,
    pub(super) reports: i64,
    pub(super) sessions: i64,
    pub(super) successful: i64,
    pub(super) failed: i64,
    pub(super) rate: f64,
    pub(super) rate_text: String,
    pub(super) health: &'static str,
    pub(super) chart: Chart,
    pub(super) failed_chart: Chart,
    pub(super) days: Vec<DayCounts>,
    pub(super) by_result: Vec<ResultRow>,
    pub(super) by_org: Vec<SessionRow>,
    pub(super) by_policy: Vec<SessionRow>,
    pub(super) by_mx: Vec<CountRow>,
    pub(super) by_ip: Vec<CountRow>,
    pub(super) policies: Vec<PolicySeen>,
    pub(super) reports_href: String,
    pub(super) verdict: String,
    /// The latest posture check; `None` before the first.
    pub(super) posture: Option<PosturePanel>,
    /// Whether the policy can move to enforce, judged now.
    pub(super) readiness: ReadinessPanel,
}

/// One sentence on the state of the domain in the range.
pub(super) fn verdict(summary: &DomainSummary) -> String {
    let sessions = summary
        .successful_sessions
        .saturating_add(summary.failed_sessions);
    if sessions == 0 {
        return "No sessions reported in this range.".to_owned();
    }
    if summary.failed_sessions == 0 {
        return format!(
            "Healthy: all {sessions} reported sessions to your mail servers used TLS successfully."
        );
    }
    let top = summary
        .by_result_type
        .iter()
        .max_by_key(|r| r.failed_sessions)
        .and_then(|r| r.key.as_deref());
    match top {
        Some(rt) => format!(
            "{} of {sessions} sessions failed ({}); the most common cause is {}. See below for what it means and how to fix it.",
            summary.failed_sessions,
            pct(summary.failure_rate),
            short(rt)
        ),
        None => format!(
            "{} of {sessions} sessions failed ({}); the reporters gave no failure details.",
            summary.failed_sessions,
            pct(summary.failure_rate)
        ),
    }
}

pub(super) fn session_rows(
    rows: &[crate::store::SessionCounts],
    link: impl Fn(&str) -> Option<String>,
) -> Vec<SessionRow> {
    rows.iter()
        .map(|r| SessionRow {
            key: short(&r.key),
            reports: r.reports,
            successful: r.successful_sessions,
            failed: r.failed_sessions,
            rate: pct(crate::store::failure_rate(
                r.successful_sessions,
                r.failed_sessions,
            )),
            href: link(&r.key),
        })
        .collect()
}

pub(super) fn count_rows(rows: &[crate::store::FailureCount]) -> Vec<CountRow> {
    rows.iter()
        .map(|r| CountRow {
            key: r
                .key
                .as_deref()
                .map(short)
                .unwrap_or_else(|| "(not reported)".to_owned()),
            failed: r.failed_sessions,
        })
        .collect()
}

pub(super) async fn domain_page(
    State(state): State<DashState>,
    Path(domain): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, PageError> {
    let domain = crate::store::normalize_domain(&domain);
    let range = Range::from_params(&p);
    // Five independent reads, side by side.
    let posture_name = crate::posture::domain::normalize(&domain).unwrap_or_default();
    let (summary, days, policies, posture, readiness) = tokio::join!(
        state
            .store
            .domain_summary_and_failure_days(&domain, range.time_range()),
        state.store.timeseries(&domain, range.time_range()),
        policies_seen(&state.store, &domain, &range),
        state.posture.latest(&posture_name),
        crate::watch::readiness::evaluate(&state.store, &domain, state.readiness, Utc::now()),
    );
    let (summary, failure_days): (DomainSummary, _) = summary?;
    let (days, policies) = (days?, policies?);
    let posture = posture?.and_then(|latest| posture_panel(&latest.result));
    let readiness = readiness_panel(&readiness?);
    let failures_seen: BTreeMap<String, (NaiveDate, NaiveDate)> = failure_days
        .into_iter()
        .map(|f| {
            (
                f.result_type,
                (f.first_start.date_naive(), f.last_start.date_naive()),
            )
        })
        .collect();
    let total_failed = summary.failed_sessions.max(0);
    let by_result = summary
        .by_result_type
        .iter()
        .map(|r| {
            let rt = r.key.clone().unwrap_or_else(|| "(not reported)".to_owned());
            let about = ResultType::of(&rt);
            ResultRow {
                seen: failures_seen
                    .get(&rt)
                    .map(|(first, last)| {
                        if first == last {
                            format!("reported for {first}")
                        } else {
                            format!("reported from {first} to {last}")
                        }
                    })
                    .unwrap_or_default(),
                known: about.is_known(),
                result_type: short(&rt),
                failed: r.failed_sessions,
                share: if total_failed > 0 {
                    pct(r.failed_sessions as f64 / total_failed as f64)
                } else {
                    "—".to_owned()
                },
                meaning: about.meaning(),
                fix: about.fix(),
            }
        })
        .collect();
    let qs = range.qs.clone();
    let d = domain.clone();
    let by_org = session_rows(&summary.by_organization, |org| {
        Some(format!(
            "/reports?domain={}&organization={}&{qs}",
            enc(&d),
            enc(org)
        ))
    });
    let by_policy = session_rows(&summary.by_policy_type, |_| None);
    let sessions = summary
        .successful_sessions
        .saturating_add(summary.failed_sessions);
    Ok(render(&DomainPage {
        ctx: Ctx::page(
            domain.clone(),
            "overview",
            &state,
            &range,
            format!("/domains/{}", enc(&domain)),
            Vec::new(),
        )
        .with_alerts(open_alerts(&state).await),
        reports_href: format!("/reports?domain={}&{}", enc(&domain), range.qs),
        chart: build_chart(&days, Series::Both, 720, 220, true),
        failed_chart: build_chart(&days, Series::Failed, 720, 160, true),
        days,
        reports: summary.reports,
        sessions,
        successful: summary.successful_sessions,
        failed: summary.failed_sessions,
        rate: summary.failure_rate,
        rate_text: pct(summary.failure_rate),
        health: health_class(summary.failed_sessions, summary.failure_rate),
        by_result,
        by_org,
        by_policy,
        by_mx: count_rows(&summary.by_receiving_mx),
        by_ip: count_rows(&summary.by_sending_ip),
        verdict: verdict(&summary),
        posture,
        readiness,
        policies,
        domain,
    }))
}

/// `mode`, `mx` and `max_age` from the `key: value` lines of an MTA-STS policy string.
pub(super) fn parse_policy_lines(lines: &[String]) -> (String, Vec<String>, String) {
    let mut mode = String::new();
    let mut mx = Vec::new();
    let mut max_age = String::new();
    for line in lines.iter().flat_map(|l| l.split(['\n', '\r'])) {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "mode" => mode = short(value),
            "mx" => mx.push(short(value)),
            "max_age" => {
                max_age = match value.parse::<u64>() {
                    Ok(secs) => format!("{secs} s ({:.1} days)", secs as f64 / 86_400.0),
                    Err(_) => short(value),
                }
            }
            _ => {}
        }
    }
    (mode, mx, max_age)
}

/// The distinct policies reported for `domain` in the range, most recently seen first,
/// with their `mode`, `mx` and `max_age` lines picked out.
pub(super) async fn policies_seen(
    store: &Store,
    domain: &str,
    range: &Range,
) -> Result<Vec<PolicySeen>, StoreError> {
    let seen = store.policies_seen(domain, range.time_range()).await?;
    // Reporters differ only in whitespace around lines: merge those.
    type Key = (String, Vec<String>);
    let mut merged: BTreeMap<Key, (DateTime<Utc>, DateTime<Utc>, i64)> = BTreeMap::new();
    for p in seen {
        let lines: Vec<String> = p
            .policy_string
            .iter()
            .map(|l| l.trim().to_owned())
            .collect();
        let entry =
            merged
                .entry((p.policy_type, lines))
                .or_insert((p.first_start, p.last_start, 0));
        entry.0 = entry.0.min(p.first_start);
        entry.1 = entry.1.max(p.last_start);
        entry.2 += p.reports;
    }
    let mut out: Vec<PolicySeen> = merged
        .into_iter()
        .map(|((policy_type, lines), (first, last, reports))| {
            let (mode, mx, max_age) = parse_policy_lines(&lines);
            PolicySeen {
                policy_type: short(&policy_type),
                mode: if mode.is_empty() {
                    "—".to_owned()
                } else {
                    mode
                },
                mx,
                max_age: if max_age.is_empty() {
                    "—".to_owned()
                } else {
                    max_age
                },
                lines: lines.iter().map(|l| short(l)).collect(),
                first_seen: first.format("%Y-%m-%d").to_string(),
                last_seen: last.format("%Y-%m-%d").to_string(),
                reports,
            }
        })
        .collect();
    out.sort_by(|a, b| b.last_seen.cmp(&a.last_seen));
    Ok(out)
}
