//! One evaluation: what each domain's activity is, which conditions hold, and the alert
//! lifecycle applied in the store.
//!
//! In: the store, the [`AlertConfig`] and the time. Out: alerts opened, reminded and
//! resolved, with their notices queued in the outbox (same transaction).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::config::AlertConfig;
use super::rules::{self, Activity, Reporter, Rule, Severity};
use crate::store::{AlertChanges, AlertCondition, Store, StoreError, TimeRange};

/// Days of sessions read per domain: the spike's 14-day baseline before the latest day,
/// with room.
const DAYS_READ: i64 = 45;

/// Days of failures and reports read: the new-failure-type lookback of 30 days before the
/// latest day.
const FAILURE_DAYS_READ: i64 = 32;

fn day_number(day: chrono::NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp().div_euclid(86_400))
}

/// What the rules look at for `domain`, as of `now`.
pub async fn activity(
    store: &Store,
    domain: &str,
    now: DateTime<Utc>,
    verdicts: &HashMap<String, String>,
) -> Result<Activity, StoreError> {
    let today = now.timestamp().div_euclid(86_400);
    let range = TimeRange::new(now - chrono::Duration::days(DAYS_READ), now);
    let failures_from = (today - FAILURE_DAYS_READ) * 86_400;
    let (series, failures, reporters, sessions, posture, history) = tokio::join!(
        store.timeseries(domain, range),
        store.failures_by_day(domain, failures_from, today * 86_400 + 86_400),
        store.reporter_days(domain, failures_from),
        store.sessions_by_day(domain, failures_from, today * 86_400 + 86_400),
        store.latest_posture(domain),
        store.posture_history(domain, 1),
    );
    let mut activity = Activity::default();
    for d in series? {
        activity.days.insert(
            day_number(d.day),
            (d.successful_sessions + d.failed_sessions, d.failed_sessions),
        );
    }
    for f in failures? {
        *activity
            .failures
            .entry(f.day)
            .or_default()
            .entry(f.result_type)
            .or_default() += f.failed;
    }
    let mut by_org: BTreeMap<String, (BTreeSet<i64>, i64)> = BTreeMap::new();
    for (org, day, received) in reporters? {
        let entry = by_org.entry(org).or_default();
        if day >= today - 7 {
            entry.0.insert(day);
        }
        entry.1 = entry.1.max(received);
    }
    for (organization, (days, last)) in by_org {
        let last_received = DateTime::from_timestamp(last, 0).unwrap_or_default();
        activity.last_received = activity.last_received.max(Some(last_received));
        activity.reporters.push(Reporter {
            organization,
            days,
            last_received,
        });
    }
    if activity.last_received.is_none() {
        // Silent for longer than the days read: when did it last report at all?
        activity.last_received = store
            .last_received(domain)
            .await?
            .and_then(|t| DateTime::from_timestamp(t, 0));
    }
    // The newest STS policy text, and the first day it was seen in the days read.
    let sessions = sessions?;
    let newest = sessions
        .iter()
        .filter(|s| s.policy_type == "sts")
        .max_by_key(|s| (s.day, s.successful + s.failed));
    if let Some(newest) = newest {
        let first = sessions
            .iter()
            .filter(|s| s.policy_text == newest.policy_text)
            .map(|s| s.day)
            .min()
            .unwrap_or(newest.day);
        let mode = newest
            .policy_lines
            .iter()
            .flatten()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("mode"))
            .map(|(_, v)| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        activity.policy = Some((newest.policy_text, mode, first));
    }
    if let Some(change) = history?.into_iter().next() {
        activity.posture_state = Some(change.state);
        activity.posture_before = change.previous_state;
    }
    if let Some(result) = posture?
        .and_then(|p| p.result_json)
        .and_then(|json| serde_json::from_str::<serde_json::Value>(&json).ok())
    {
        activity.certificates = result
            .pointer("/facts/probes")
            .and_then(serde_json::Value::as_array)
            .map(|probes| {
                probes
                    .iter()
                    .filter_map(|p| {
                        Some((
                            p.get("host")?.as_str()?.to_owned(),
                            p.get("certificate_days_left")?.as_i64()?,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
    }
    activity.readiness = verdicts.get(domain).cloned();
    Ok(activity)
}

/// Evaluates every domain with reports in the last month (and every domain with an open
/// alert) at `now`, and applies the lifecycle. Returns the sum of the changes.
pub async fn evaluate_all(
    store: &Store,
    config: &AlertConfig,
    now: DateTime<Utc>,
) -> Result<AlertChanges, StoreError> {
    let range = TimeRange::new(
        now - chrono::Duration::days(31),
        now + chrono::Duration::days(1),
    );
    let mut domains: BTreeSet<String> = store
        .list_domains(range)
        .await?
        .into_iter()
        .map(|d| d.domain)
        .collect();
    domains.extend(store.domains_with_open_alerts().await?);
    let verdicts = store.readiness_verdicts().await?;
    let started = std::time::Instant::now();
    let count = domains.len();
    let mut total = AlertChanges::default();
    for domain in domains {
        let activity = activity(store, &domain, now, &verdicts).await?;
        let conditions = rules::evaluate(&domain, &activity, config.thresholds_of(&domain), now);
        let stored: Vec<AlertCondition> = conditions
            .iter()
            .map(|c| AlertCondition {
                rule: c.rule.as_str().to_owned(),
                subject: c.subject.clone(),
                severity: c.severity.as_str().to_owned(),
                summary: c.summary.clone(),
                detail: serde_json::json!({
                    "numbers": c.numbers,
                    "explanation": c.explanation,
                    "fix": c.fix,
                })
                .to_string(),
                channels: config.route(&domain, c.rule, c.severity),
            })
            .collect();
        let changes = store
            .apply_alerts(
                &domain,
                &stored,
                now.timestamp(),
                config.cooldown.as_secs() as i64,
                |rule, severity| match (Rule::parse(rule), Severity::parse(severity)) {
                    (Some(rule), Some(severity)) => config.route(&domain, rule, severity),
                    _ => Vec::new(),
                },
            )
            .await?;
        if changes.opened > 0 {
            metrics::counter!("tlsrpt_alerts_opened_total").increment(changes.opened as u64);
        }
        if changes.resolved > 0 {
            metrics::counter!("tlsrpt_alerts_resolved_total").increment(changes.resolved as u64);
        }
        total.opened += changes.opened;
        total.reminded += changes.reminded;
        total.resolved += changes.resolved;
        total.notices += changes.notices;
    }
    tracing::debug!(
        domains = count,
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "alerts evaluated every domain"
    );
    Ok(total)
}
