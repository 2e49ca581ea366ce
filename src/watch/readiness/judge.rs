//! The verdict of one domain from what it is judged on: coverage, the failures `enforce`
//! would refuse, the policy errors, the mode and the switch to `enforce`, and the live
//! setup (`posture.rs`). Pure: no store, no clock.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};

use super::posture::posture_reasons;
use super::{
    DaySessions, ImpactDay, ImpactRow, MAX_END_GAP_DAYS, MAX_IMPACT_ROWS, MIN_ORGANIZATIONS,
    Readiness, ReadinessInput, ReadinessOptions, Reason, Switch, Verdict,
};
use crate::result_types::ResultType;

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
pub(super) fn modes_by_day(sessions: &[DaySessions]) -> BTreeMap<i64, BTreeMap<String, i64>> {
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
pub(super) fn newest_mode(modes: &BTreeMap<i64, BTreeMap<String, i64>>) -> Option<String> {
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
