//! Enforce readiness: is it safe to move a domain's MTA-STS policy from `testing` to
//! `enforce`, and what would break if it moved now.
//!
//! In: a domain's sessions and failures per UTC day from the store, the policy texts
//! reporters applied, its latest posture check, [`ReadinessOptions`] and the day to
//! judge on. Out: a [`Readiness`]: the verdict, every reason that decided it (each a code,
//! a sentence and a fix), the impact preview (the sessions `enforce` would have refused,
//! by receiving MX, organization, sending IP and result type, with their share and days)
//! and, once reports show `enforce`, the switch date with the failure rate before and
//! after. [`judge`] is pure; [`evaluate`] reads the store for it; [`run`] keeps every
//! domain's verdict fresh for the overview.
//!
//! Which result types `enforce` would refuse is [`ResultType::blocked_by_enforce`], the
//! one place that knowledge lives.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::Clock;
use crate::result_types::ResultType;
use crate::store::{DayFailures, DaySessions, Store, StoreError};

/// Days of mode history read, for a policy in `enforce`, to find when it moved there and
/// the failure rate before it.
const HISTORY_DAYS: i64 = 90;

/// Longest silence at the end (days from the last day with reports to today) that still
/// counts as covered: a day's reports arrive during the next day, so a gap of 2 is a late
/// report, 3 a missed one.
pub const MAX_END_GAP_DAYS: i64 = 2;

/// Fewest reporting organizations: one sender's view says nothing about the others'.
pub const MIN_ORGANIZATIONS: usize = 2;

/// Rows of the impact preview kept (largest first); the rest are summed in the totals.
pub const MAX_IMPACT_ROWS: usize = 50;

/// What readiness is judged against.
#[derive(Debug, Clone, Copy)]
pub struct ReadinessOptions {
    /// Days of reports needed, and the span the failure rate is measured over.
    pub days: u32,
    /// The last this many days are searched for those days of reports.
    pub window: u32,
    /// Highest share of sessions `enforce` would have refused (0.001 = 0.1 %).
    pub max_failure_rate: f64,
}

impl Default for ReadinessOptions {
    fn default() -> Self {
        ReadinessOptions {
            days: 14,
            window: 28,
            max_failure_rate: 0.001,
        }
    }
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Testing mode, enough clean reports, the live setup in order: switch.
    Ready,
    /// Something would break, or the live setup is not in order.
    NotReady,
    /// Not enough reports to judge.
    InsufficientData,
    /// Reports show the policy in `enforce` already.
    Enforced,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ready => "ready",
            Verdict::NotReady => "not-ready",
            Verdict::InsufficientData => "insufficient-data",
            Verdict::Enforced => "enforced",
        }
    }
}

/// One criterion and how it came out.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Reason {
    /// Stable kebab-case code, e.g. `would-fail-rate`.
    pub code: &'static str,
    /// Whether the criterion holds.
    pub passed: bool,
    pub message: String,
    /// What to do; absent when the criterion holds.
    pub fix: Option<String>,
}

impl Reason {
    fn pass(code: &'static str, message: String) -> Reason {
        Reason {
            code,
            passed: true,
            message,
            fix: None,
        }
    }

    fn fail(code: &'static str, message: String, fix: String) -> Reason {
        Reason {
            code,
            passed: false,
            message,
            fix: Some(fix),
        }
    }
}

/// Sessions `enforce` would have refused, for one receiving MX, sending organization,
/// sending IP and result type.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ImpactRow {
    pub receiving_mx: Option<String>,
    pub organization: String,
    pub sending_ip: Option<String>,
    pub result_type: String,
    pub sessions: i64,
    /// Of all the domain's sessions in the window.
    pub share: f64,
    /// The UTC days they happened on.
    pub days: Vec<NaiveDate>,
    /// The sentence: what would have happened and why.
    pub summary: String,
}

/// One day of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct ImpactDay {
    pub day: NaiveDate,
    pub sessions: i64,
    /// Sessions `enforce` would have refused.
    pub would_fail: i64,
}

/// When reports first showed `enforce` after `testing`, and the failure rate around it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Switch {
    /// The first day reported under `enforce`; absent when every report in the history
    /// read shows `enforce` (the switch is older).
    pub date: Option<NaiveDate>,
    /// Failed share of sessions over the `days` before the switch.
    pub failure_rate_before: Option<f64>,
    /// Failed share of sessions since the switch.
    pub failure_rate_after: Option<f64>,
    /// Whether failures rose after the switch (by more than the readiness limit).
    pub failures_rose: bool,
}

/// A domain's readiness: what `GET /api/v1/domains/{domain}/readiness` and
/// `tlsrptd readiness --json` return.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Readiness {
    pub domain: String,
    pub evaluated_at: DateTime<Utc>,
    pub verdict: Verdict,
    /// The MTA-STS mode of the newest policy in reports.
    pub mode: Option<String>,
    /// The judged days: `from` to `to`, both included.
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub sessions: i64,
    pub would_fail: i64,
    pub would_fail_rate: f64,
    /// Every criterion, failed ones first.
    pub reasons: Vec<Reason>,
    /// Largest first, at most 50 rows.
    pub impact: Vec<ImpactRow>,
    pub days: Vec<ImpactDay>,
    pub switch: Option<Switch>,
}

/// What [`judge`] works from.
#[derive(Debug, Clone, Default)]
pub struct ReadinessInput {
    /// Sessions by day, organization and policy over the history read.
    pub sessions: Vec<DaySessions>,
    /// Failures by day over the judged days.
    pub failures: Vec<DayFailures>,
    /// The latest posture check (the JSON of `GET .../posture`), if any.
    pub posture: Option<serde_json::Value>,
}

/// The `mode:` of a policy text, lower case.
fn mode_of(lines: &[String]) -> Option<String> {
    lines
        .iter()
        .flat_map(|l| l.split(['\n', '\r']))
        .filter_map(|l| l.split_once(':'))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case("mode"))
        .map(|(_, value)| value.trim().to_ascii_lowercase())
}

/// The modes of the STS policies applied each day, weighted by their sessions.
fn modes_by_day(sessions: &[DaySessions]) -> BTreeMap<i64, BTreeMap<String, i64>> {
    let mut modes: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
    for s in sessions {
        if s.policy_type == "sts"
            && let Some(mode) = s.policy_lines.as_deref().and_then(mode_of)
        {
            *modes.entry(s.day).or_default().entry(mode).or_default() +=
                s.successful + s.failed + 1;
        }
    }
    modes
}

/// The newest mode: that of the most sessions on the last day with an STS policy.
fn newest_mode(modes: &BTreeMap<i64, BTreeMap<String, i64>>) -> Option<String> {
    modes.values().next_back().and_then(|m| {
        m.iter()
            .max_by_key(|(_, sessions)| **sessions)
            .map(|(mode, _)| mode.clone())
    })
}

fn date(day: i64) -> NaiveDate {
    DateTime::from_timestamp(day * 86_400, 0)
        .unwrap_or_default()
        .date_naive()
}

fn percent(rate: f64) -> String {
    format!("{:.2} %", rate * 100.0)
}

fn rate(failed: i64, total: i64) -> f64 {
    if total > 0 {
        failed as f64 / total as f64
    } else {
        0.0
    }
}

/// Judges `domain` on `today` (days since 1970; the judged days end the day before).
pub fn judge(
    domain: &str,
    input: &ReadinessInput,
    options: ReadinessOptions,
    today: i64,
    evaluated_at: DateTime<Utc>,
) -> Readiness {
    let days = i64::from(options.days.max(1));
    let window = i64::from(options.window.max(options.days).max(1));
    let (from, to) = (today - days, today - 1);

    // Per day: sessions, and the modes of the STS policies applied.
    let mut per_day: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    let mut organizations: BTreeSet<&str> = BTreeSet::new();
    for s in &input.sessions {
        let entry = per_day.entry(s.day).or_default();
        entry.0 += s.successful;
        entry.1 += s.failed;
        if s.day >= today - window && s.day < today {
            organizations.insert(&s.organization);
        }
    }
    let modes = modes_by_day(&input.sessions);
    let mode = newest_mode(&modes);

    let window_days: Vec<i64> = per_day
        .range(today - window..today)
        .map(|(day, _)| *day)
        .collect();
    let last_day = per_day.range(..today).next_back().map(|(day, _)| *day);
    let sessions: i64 = per_day
        .range(from..today)
        .map(|(_, (ok, failed))| ok + failed)
        .sum();

    // Sessions enforce would have refused, in the judged days.
    let mut would_fail_by_day: BTreeMap<i64, i64> = BTreeMap::new();
    type Key = (Option<String>, String, Option<String>, String);
    let mut cells: HashMap<Key, (i64, BTreeSet<i64>)> = HashMap::new();
    // Sessions whose sender had no usable policy, by result type: enforce would not
    // refuse them, nor protect them.
    let mut without_policy: BTreeMap<&str, i64> = BTreeMap::new();
    for f in &input.failures {
        if f.day < from || f.day >= today || f.failed <= 0 {
            continue;
        }
        let kind = ResultType::of(&f.result_type);
        if kind.leaves_sender_without_policy() {
            *without_policy.entry(f.result_type.as_str()).or_default() += f.failed;
            continue;
        }
        if !kind.blocked_by_enforce() {
            continue;
        }
        *would_fail_by_day.entry(f.day).or_default() += f.failed;
        let cell = cells
            .entry((
                f.receiving_mx.clone(),
                f.organization.clone(),
                f.sending_ip.clone(),
                f.result_type.clone(),
            ))
            .or_default();
        cell.0 += f.failed;
        cell.1.insert(f.day);
    }
    let would_fail: i64 = would_fail_by_day.values().sum();
    let would_fail_rate = rate(would_fail, sessions);
    let judged_days = (to - from + 1).max(1);
    let mut impact: Vec<ImpactRow> = cells
        .into_iter()
        .map(|((mx, organization, ip, result_type), (count, on))| {
            let share = rate(count, sessions);
            let every = if on.len() as i64 >= judged_days {
                "every day".to_owned()
            } else {
                format!("on {} of {judged_days} days", on.len())
            };
            let about = ResultType::of(&result_type);
            let summary = format!(
                "had the policy been enforce, mail from {organization}{} to {} would have been refused {count} times ({}), {every}, with {result_type}: {}",
                ip.as_deref().map(|ip| format!(" ({ip})")).unwrap_or_default(),
                mx.as_deref().unwrap_or("an MX the reports do not name"),
                percent(share),
                about.meaning()
            );
            ImpactRow {
                receiving_mx: mx,
                organization,
                sending_ip: ip,
                result_type,
                sessions: count,
                share,
                days: on.into_iter().map(date).collect(),
                summary,
            }
        })
        .collect();
    impact.sort_by(|a, b| {
        b.sessions
            .cmp(&a.sessions)
            .then_with(|| a.receiving_mx.cmp(&b.receiving_mx))
            .then_with(|| a.organization.cmp(&b.organization))
            .then_with(|| a.sending_ip.cmp(&b.sending_ip))
            .then_with(|| a.result_type.cmp(&b.result_type))
    });
    impact.truncate(MAX_IMPACT_ROWS);
    let impact_days: Vec<ImpactDay> = (from..today)
        .map(|day| ImpactDay {
            day: date(day),
            sessions: per_day.get(&day).map_or(0, |(ok, failed)| ok + failed),
            would_fail: would_fail_by_day.get(&day).copied().unwrap_or(0),
        })
        .collect();

    let mut reasons = Vec::new();
    let mut insufficient = false;
    let mut not_ready = false;

    // Coverage.
    let covered = window_days.len() as i64;
    if covered >= days {
        reasons.push(Reason::pass(
            "coverage",
            format!("reports on {covered} of the last {window} days (at least {days} needed)"),
        ));
    } else {
        insufficient = true;
        reasons.push(Reason::fail(
            "coverage",
            format!("reports on {covered} of the last {window} days; at least {days} are needed to judge"),
            format!("wait for more daily reports; check that _smtp._tls.{domain} publishes a TLS-RPT record whose rua= reaches this service"),
        ));
    }
    if organizations.len() >= MIN_ORGANIZATIONS {
        reasons.push(Reason::pass(
            "reporters",
            format!(
                "{} organizations reported in the last {window} days",
                organizations.len()
            ),
        ));
    } else {
        insufficient = true;
        reasons.push(Reason::fail(
            "reporters",
            format!(
                "{} organization{} reported in the last {window} days; at least {MIN_ORGANIZATIONS} are needed, as one sender's view is not everyone's",
                organizations.len(),
                if organizations.len() == 1 { "" } else { "s" }
            ),
            "wait for reports from more senders (large senders report daily once the TLS-RPT record is published)".to_owned(),
        ));
    }
    match last_day {
        Some(last) if today - last <= MAX_END_GAP_DAYS => reasons.push(Reason::pass(
            "recent-reports",
            format!("the latest reports cover {}", date(last)),
        )),
        Some(last) => {
            insufficient = true;
            let silent = today - last - 1;
            reasons.push(Reason::fail(
                "reports-gap",
                format!(
                    "no report covers the {silent} days since {} ({} to {}): the end of the window is not covered",
                    date(last),
                    date(last + 1),
                    date(today - 1)
                ),
                format!("find out why reports stopped: check the TLS-RPT record at _smtp._tls.{domain} and that this service receives mail and HTTPS posts"),
            ));
        }
        None => {
            insufficient = true;
            reasons.push(Reason::fail(
                "reports-gap",
                format!("no report for {domain} in the last {window} days"),
                format!("publish a TLS-RPT record at _smtp._tls.{domain} pointing at this service"),
            ));
        }
    }

    // Mode.
    let switch = if mode.as_deref() == Some("enforce") {
        Some(switch_of(&modes, &per_day, days, today))
    } else {
        None
    };
    match mode.as_deref() {
        Some("enforce") => reasons.push(Reason::pass(
            "mode",
            "reports show the MTA-STS policy in enforce mode already".to_owned(),
        )),
        Some("testing") => reasons.push(Reason::pass(
            "mode",
            "reports show the MTA-STS policy in testing mode".to_owned(),
        )),
        Some(other) => {
            not_ready = true;
            reasons.push(Reason::fail(
                "mode",
                format!("reports show the MTA-STS policy in mode {other}, under which senders report nothing about it"),
                format!("publish the policy at https://mta-sts.{domain}/.well-known/mta-sts.txt with mode: testing and a new id in _mta-sts.{domain}, and judge again after {days} days of reports"),
            ));
        }
        None => {
            not_ready = true;
            reasons.push(Reason::fail(
                "no-sts-policy",
                format!("no report shows an MTA-STS policy for {domain}: senders found none to apply"),
                format!("publish an MTA-STS policy in testing mode (https://mta-sts.{domain}/.well-known/mta-sts.txt and a TXT record at _mta-sts.{domain}) and judge again after {days} days of reports"),
            ));
        }
    }

    // Failures enforce would turn into refused mail (moot once it is enforced: the
    // switch and the failure rate around it say how that went).
    if mode.as_deref() != Some("enforce") {
        if would_fail_rate <= options.max_failure_rate {
            reasons.push(Reason::pass(
                "would-fail-rate",
                format!(
                    "{would_fail} of {sessions} sessions ({}) in {} to {} failed in a way enforce would refuse; the limit is {}",
                    percent(would_fail_rate),
                    date(from),
                    date(to),
                    percent(options.max_failure_rate)
                ),
            ));
        } else {
            not_ready = true;
            let worst = impact
                .first()
                .map(|r| format!(" The largest: {}.", r.summary.trim_end_matches('.')))
                .unwrap_or_default();
            reasons.push(Reason::fail(
                "would-fail-rate",
                format!(
                    "{would_fail} of {sessions} sessions ({}) in {} to {} failed in a way enforce would refuse, over the limit of {}.{worst}",
                    percent(would_fail_rate),
                    date(from),
                    date(to),
                    percent(options.max_failure_rate)
                ),
                impact
                    .first()
                    .map(|r| ResultType::of(&r.result_type).fix().to_owned())
                    .unwrap_or_else(|| "fix the failures listed in the impact preview".to_owned()),
            ));
        }
        let unprotected: i64 = without_policy.values().sum();
        let unprotected_rate = rate(unprotected, sessions);
        if unprotected_rate <= options.max_failure_rate {
            reasons.push(Reason::pass(
                "policy-errors",
                format!(
                    "{unprotected} of {sessions} sessions ({}) in {} to {} found no usable MTA-STS policy; the limit is {}",
                    percent(unprotected_rate),
                    date(from),
                    date(to),
                    percent(options.max_failure_rate)
                ),
            ));
        } else {
            not_ready = true;
            let by_type = without_policy
                .iter()
                .map(|(result_type, n)| format!("{result_type} {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            let fix = without_policy
                .iter()
                .max_by_key(|(_, n)| **n)
                .map(|(result_type, _)| ResultType::of(result_type).fix())
                .unwrap_or_default();
            reasons.push(Reason::fail(
                "policy-errors",
                format!(
                    "{unprotected} of {sessions} sessions ({}) in {} to {} found no usable MTA-STS policy ({by_type}), over the limit of {}: enforce would not refuse that mail, but it would not protect it either, as a sender without a valid policy delivers as without MTA-STS",
                    percent(unprotected_rate),
                    date(from),
                    date(to),
                    percent(options.max_failure_rate)
                ),
                fix.replace("<domain>", domain),
            ));
        }
        if let Some(last) = last_day {
            let on_last = would_fail_by_day.get(&last).copied().unwrap_or(0);
            if on_last == 0 {
                reasons.push(Reason::pass(
                    "last-day-clean",
                    format!(
                        "no session failed in a way enforce would refuse on {}",
                        date(last)
                    ),
                ));
            } else {
                not_ready = true;
                reasons.push(Reason::fail(
                    "failures-on-last-day",
                    format!(
                        "{on_last} sessions on {}, the latest day reported, failed in a way enforce would refuse: the cause is not fixed yet",
                        date(last)
                    ),
                    "fix the failures of that day in the impact preview, then wait for a clean day".to_owned(),
                ));
            }
        }
    }

    // The live setup, where checked.
    match &input.posture {
        Some(posture) => {
            let posture_reasons = posture_reasons(domain, posture);
            if posture_reasons.iter().any(|r| !r.passed) {
                not_ready = true;
            }
            reasons.extend(posture_reasons);
        }
        None => reasons.push(Reason::pass(
            "posture-not-checked",
            format!("{domain}'s live setup has not been checked yet; the verdict rests on the reports alone"),
        )),
    }

    let verdict = if mode.as_deref() == Some("enforce") {
        Verdict::Enforced
    } else if insufficient {
        Verdict::InsufficientData
    } else if not_ready {
        Verdict::NotReady
    } else {
        Verdict::Ready
    };
    reasons.sort_by_key(|r| r.passed);
    Readiness {
        domain: domain.to_owned(),
        evaluated_at,
        verdict,
        mode,
        from: date(from),
        to: date(to),
        sessions,
        would_fail,
        would_fail_rate,
        reasons,
        impact,
        days: impact_days,
        switch,
    }
}

/// When reports moved to `enforce`: the first day with an `enforce` policy after the
/// last day with any other mode.
fn switch_of(
    modes: &BTreeMap<i64, BTreeMap<String, i64>>,
    per_day: &BTreeMap<i64, (i64, i64)>,
    days: i64,
    today: i64,
) -> Switch {
    let last_other = modes
        .iter()
        .rev()
        .find(|(_, m)| m.keys().any(|mode| mode != "enforce"))
        .map(|(day, _)| *day);
    let date_of_switch = last_other.and_then(|other| {
        modes
            .range(other + 1..)
            .find(|(_, m)| m.contains_key("enforce"))
            .map(|(day, _)| *day)
    });
    let rate_over = |from: i64, to: i64| {
        let (total, failed) = per_day
            .range(from..to)
            .fold((0i64, 0i64), |(t, f), (_, (ok, failed))| {
                (t + ok + failed, f + failed)
            });
        (total > 0).then(|| rate(failed, total))
    };
    let (before, after) = match date_of_switch {
        Some(day) => (rate_over(day - days, day), rate_over(day, today)),
        None => (None, rate_over(today - days, today)),
    };
    Switch {
        date: date_of_switch.map(date),
        failure_rate_before: before,
        failure_rate_after: after,
        failures_rose: matches!((before, after), (Some(b), Some(a)) if a > b + ReadinessOptions::default().max_failure_rate),
    }
}

/// The posture criteria: the policy is reachable, every MX is matched, and no MX
/// certificate expires within the policy's max_age.
fn posture_reasons(domain: &str, posture: &serde_json::Value) -> Vec<Reason> {
    let findings: Vec<&serde_json::Value> = posture
        .get("findings")
        .and_then(serde_json::Value::as_array)
        .map(|f| f.iter().collect())
        .unwrap_or_default();
    let text = |f: &serde_json::Value, key: &str| {
        f.get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let find = |codes: &[&str], error_only: bool| {
        findings.iter().copied().find(|f| {
            codes.contains(&text(f, "code").as_str())
                && (!error_only || f.get("severity").and_then(|s| s.as_str()) == Some("error"))
        })
    };
    let mut reasons = Vec::new();
    let unreachable = [
        "mta-sts-host-missing",
        "mta-sts-policy-unreachable",
        "mta-sts-policy-certificate",
        "mta-sts-policy-invalid",
    ];
    match find(&unreachable, false) {
        Some(f) => reasons.push(Reason::fail(
            "posture-policy",
            format!(
                "the live policy is not usable ({}): {}",
                text(f, "code"),
                text(f, "message")
            ),
            text(f, "fix"),
        )),
        None => reasons.push(Reason::pass(
            "posture-policy",
            format!("the live policy of {domain} is reachable and valid"),
        )),
    }
    match find(&["mta-sts-mx-mismatch"], true) {
        Some(f) => reasons.push(Reason::fail(
            "posture-mx-mismatch",
            format!("an MX is not matched by the policy: {}", text(f, "message")),
            text(f, "fix"),
        )),
        None => reasons.push(Reason::pass(
            "posture-mx-matched",
            "every MX host is matched by a pattern of the live policy".to_owned(),
        )),
    }
    let max_age_days = posture
        .pointer("/facts/policy/max_age")
        .and_then(serde_json::Value::as_u64)
        .map(|s| (s / 86_400) as i64);
    let expiring: Vec<String> = posture
        .pointer("/facts/probes")
        .and_then(serde_json::Value::as_array)
        .map(|probes| {
            probes
                .iter()
                .filter_map(|p| {
                    let left = p.get("certificate_days_left")?.as_i64()?;
                    let limit = max_age_days?;
                    (left <= limit).then(|| format!("{} ({left} days left)", text(p, "host")))
                })
                .collect()
        })
        .unwrap_or_default();
    if expiring.is_empty() {
        reasons.push(Reason::pass(
            "posture-certificates",
            "no MX certificate expires within the policy's max_age".to_owned(),
        ));
    } else {
        reasons.push(Reason::fail(
            "posture-certificates",
            format!(
                "MX certificates expire within the policy's max_age of {} days, while senders would still hold the policy: {}",
                max_age_days.unwrap_or_default(),
                expiring.join(", ")
            ),
            "renew those certificates (and automate the renewal) before switching to enforce".to_owned(),
        ));
    }
    reasons
}

/// Reads what `domain` is judged on and judges it as of `now`: the sessions of the
/// window first; then, for a policy in `enforce`, the older days that date the switch,
/// and otherwise the failures of the judged days (an enforced policy has no impact
/// preview to show). Two statements either way, besides the posture check's.
pub async fn evaluate(
    store: &Store,
    domain: &str,
    options: ReadinessOptions,
    now: DateTime<Utc>,
) -> Result<Readiness, StoreError> {
    let today = now.timestamp().div_euclid(86_400);
    let window_from = today - i64::from(options.window.max(options.days).max(1));
    let history_from = today - HISTORY_DAYS.max(i64::from(options.window));
    let judged_from = today - i64::from(options.days.max(1));
    let (recent, posture) = tokio::join!(
        store.sessions_by_day(domain, window_from * 86_400, today * 86_400),
        store.latest_posture(domain),
    );
    let mut sessions = recent?;
    let mut failures = Vec::new();
    if newest_mode(&modes_by_day(&sessions)).as_deref() == Some("enforce") {
        let older = store
            .sessions_by_day(domain, history_from * 86_400, window_from * 86_400)
            .await?;
        sessions.extend(older);
    } else {
        failures = store
            .failures_by_day(domain, judged_from * 86_400, today * 86_400)
            .await?;
    }
    let posture = posture?
        .and_then(|p| p.result_json)
        .and_then(|json| serde_json::from_str(&json).ok());
    let input = ReadinessInput {
        sessions,
        failures,
        posture,
    };
    Ok(judge(domain, &input, options, today, now))
}

/// Re-judges every domain with reports in the window every `every` (`--readiness-interval`,
/// ten minutes: verdicts move with a day's reports, so a few minutes late is nothing)
/// and keeps the verdicts for the overview, until `stop` turns true. `None`: never.
pub async fn run(
    store: Store,
    options: ReadinessOptions,
    every: Option<Duration>,
    clock: Arc<dyn Clock>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let Some(every) = every else {
        return;
    };
    loop {
        if let Err(e) = judge_all(&store, options, clock.now()).await {
            tracing::warn!(error = %e, "readiness: cannot judge the domains");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// Judges every domain with reports in the last `window` days as of `now` and keeps the
/// verdicts. Returns how many were judged.
pub async fn judge_all(
    store: &Store,
    options: ReadinessOptions,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let range =
        crate::store::TimeRange::new(now - chrono::Duration::days(i64::from(options.window)), now);
    let started = std::time::Instant::now();
    let domains = store.list_domains(range).await?;
    for d in &domains {
        let readiness = evaluate(store, &d.domain, options, now).await?;
        store
            .save_readiness(&d.domain, readiness.verdict.as_str(), now.timestamp())
            .await?;
    }
    tracing::debug!(
        domains = domains.len(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "readiness judged"
    );
    Ok(domains.len())
}
