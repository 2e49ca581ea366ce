//! The alert rules: which conditions hold for a domain right now.
//!
//! In: a domain's [`Activity`] (its sessions per day, failures by type per day, when each
//! reporting organization last sent and on which days, its posture and readiness) and the
//! [`Thresholds`] for it. Out: the [`Condition`]s that hold, each with a key that names
//! the problem (so the same problem maps to the same alert from one evaluation to the
//! next), a severity, the numbers that triggered it, the explanation and the fix. Pure: the
//! lifecycle (open once, notify, resolve) is the store's, the schedule is `mod.rs`'s.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::result_types::ResultType;

/// How bad an alert is; routing sends a channel the alerts at or above its minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(name: &str) -> Option<Severity> {
        [Severity::Info, Severity::Warning, Severity::Critical]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// The rules, by the name used in configuration, alerts and notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    FailureRate,
    FailureSpike,
    NewFailureType,
    ReporterSilent,
    NoReports,
    PostureWorse,
    CertificateExpiring,
    PolicyChanged,
    EnforceReady,
}

impl Rule {
    pub const ALL: [Rule; 9] = [
        Rule::FailureRate,
        Rule::FailureSpike,
        Rule::NewFailureType,
        Rule::ReporterSilent,
        Rule::NoReports,
        Rule::PostureWorse,
        Rule::CertificateExpiring,
        Rule::PolicyChanged,
        Rule::EnforceReady,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::FailureRate => "failure-rate",
            Rule::FailureSpike => "failure-spike",
            Rule::NewFailureType => "new-failure-type",
            Rule::ReporterSilent => "reporter-silent",
            Rule::NoReports => "no-reports",
            Rule::PostureWorse => "posture-worse",
            Rule::CertificateExpiring => "certificate-expiring",
            Rule::PolicyChanged => "policy-changed",
            Rule::EnforceReady => "enforce-ready",
        }
    }

    pub fn parse(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// The thresholds of the rules; global defaults, overridable per domain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// `failure-rate`: a day's failed share above this (0.01 = 1 %)…
    pub failure_rate: f64,
    /// …with at least this many sessions that day.
    pub failure_rate_min_sessions: i64,
    /// `failure-spike`: a day's failed sessions at least this many times the trailing
    /// median…
    pub spike_factor: f64,
    /// …over this many days before it…
    pub spike_baseline_days: i64,
    /// …and at least this many.
    pub spike_min_failed: i64,
    /// `new-failure-type`: not seen in this many days before.
    pub new_type_lookback_days: i64,
    /// `reporter-silent`: an organization that reported on at least this many of the
    /// last 7 days…
    pub silent_min_days: usize,
    /// …and has sent nothing for this many hours.
    pub silent_after_hours: i64,
    /// `no-reports`: nothing at all for this many hours.
    pub no_reports_after_hours: i64,
    /// `certificate-expiring`: an MX certificate with fewer days left.
    pub certificate_days: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            failure_rate: 0.01,
            failure_rate_min_sessions: 100,
            spike_factor: 3.0,
            spike_baseline_days: 14,
            spike_min_failed: 20,
            new_type_lookback_days: 30,
            silent_min_days: 3,
            silent_after_hours: 48,
            no_reports_after_hours: 72,
            certificate_days: 14,
        }
    }
}

/// What an organization sent for the domain lately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reporter {
    pub organization: String,
    /// The UTC days (since 1970) its reports covered in the last 7 days.
    pub days: BTreeSet<i64>,
    /// When its latest report for the domain was received.
    pub last_received: DateTime<Utc>,
}

/// Everything the rules look at for one domain.
#[derive(Debug, Clone, Default)]
pub struct Activity {
    /// Sessions and failed sessions per UTC day (days since 1970), the last 31 days or so.
    pub days: BTreeMap<i64, (i64, i64)>,
    /// Failed sessions per day and result type, the same days.
    pub failures: BTreeMap<i64, BTreeMap<String, i64>>,
    pub reporters: Vec<Reporter>,
    /// When the latest report naming the domain was received.
    pub last_received: Option<DateTime<Utc>>,
    /// Posture: the latest state and the one before its last change.
    pub posture_state: Option<String>,
    pub posture_before: Option<String>,
    /// MX hosts with their certificate's days left (from the latest posture check).
    pub certificates: Vec<(String, i64)>,
    /// The readiness verdict.
    pub readiness: Option<String>,
    /// The newest STS policy in reports: (id of its text, mode, first day seen).
    pub policy: Option<(i64, String, i64)>,
}

/// A condition that holds: the alert it opens or keeps open.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Condition {
    pub rule: Rule,
    /// Names the problem within the domain and rule (a result type, an organization,
    /// an MX host, a policy text); empty when the rule has one problem per domain.
    pub subject: String,
    pub severity: Severity,
    /// One line: what happened, with the numbers.
    pub summary: String,
    /// The numbers that triggered it.
    #[schema(value_type = Object)]
    pub numbers: serde_json::Value,
    /// What it means.
    pub explanation: String,
    /// What to do.
    pub fix: String,
}

fn date(day: i64) -> NaiveDate {
    DateTime::from_timestamp(day * 86_400, 0)
        .unwrap_or_default()
        .date_naive()
}

fn median(mut values: Vec<i64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid] as f64
    } else {
        (values[mid - 1] + values[mid]) as f64 / 2.0
    }
}

/// The conditions that hold for `domain` at `now`.
pub fn evaluate(
    domain: &str,
    activity: &Activity,
    thresholds: &Thresholds,
    now: DateTime<Utc>,
) -> Vec<Condition> {
    let mut out = Vec::new();
    let today = now.timestamp().div_euclid(86_400);
    // The latest complete day with reports (a day's reports arrive during the next; days
    // without any, which a series may list as zeros, do not count).
    let latest = activity
        .days
        .range(..today)
        .rev()
        .find(|(_, (sessions, _))| *sessions > 0)
        .map(|(d, c)| (*d, *c));

    if let Some((day, (sessions, failed))) = latest {
        let rate = if sessions > 0 {
            failed as f64 / sessions as f64
        } else {
            0.0
        };
        if sessions >= thresholds.failure_rate_min_sessions && rate > thresholds.failure_rate {
            out.push(Condition {
                rule: Rule::FailureRate,
                subject: String::new(),
                severity: Severity::Warning,
                summary: format!(
                    "{domain}: {failed} of {sessions} sessions failed on {} ({:.2} %, over {:.2} %)",
                    date(day),
                    rate * 100.0,
                    thresholds.failure_rate * 100.0
                ),
                numbers: serde_json::json!({"day": date(day), "sessions": sessions, "failed": failed, "rate": rate, "threshold": thresholds.failure_rate}),
                explanation: "a share of the senders delivering to this domain could not use TLS; the failure types on the domain page say why".to_owned(),
                fix: top_fix(activity, day),
            });
        }
        let baseline: Vec<i64> = (day - thresholds.spike_baseline_days..day)
            .map(|d| activity.days.get(&d).map_or(0, |(_, f)| *f))
            .collect();
        let typical = median(baseline);
        if failed >= thresholds.spike_min_failed
            && failed as f64 >= thresholds.spike_factor * typical
        {
            out.push(Condition {
                rule: Rule::FailureSpike,
                subject: String::new(),
                severity: Severity::Critical,
                summary: format!(
                    "{domain}: {failed} failed sessions on {}, against a median of {typical} a day over the {} days before",
                    date(day),
                    thresholds.spike_baseline_days
                ),
                numbers: serde_json::json!({"day": date(day), "failed": failed, "median": typical, "factor": thresholds.spike_factor}),
                explanation: "failures jumped: something changed on the receiving side (a certificate, an MX, the policy) or at a large sender".to_owned(),
                fix: top_fix(activity, day),
            });
        }
        if let Some(types) = activity.failures.get(&day) {
            let seen_before: BTreeSet<&str> = activity
                .failures
                .range(day - thresholds.new_type_lookback_days..day)
                .flat_map(|(_, t)| t.iter().filter(|(_, n)| **n > 0).map(|(k, _)| k.as_str()))
                .collect();
            for (result_type, count) in types {
                if *count > 0 && !seen_before.contains(result_type.as_str()) {
                    let about = ResultType::of(result_type);
                    out.push(Condition {
                        rule: Rule::NewFailureType,
                        subject: result_type.clone(),
                        severity: Severity::Warning,
                        summary: format!(
                            "{domain}: {count} sessions failed with {result_type} on {}, a type not seen in the {} days before",
                            date(day),
                            thresholds.new_type_lookback_days
                        ),
                        numbers: serde_json::json!({"day": date(day), "result_type": result_type, "failed": count}),
                        explanation: about.meaning().to_owned(),
                        fix: about.fix().to_owned(),
                    });
                }
            }
        }
    }

    for r in &activity.reporters {
        let recent = r.days.range(today - 7..today).count();
        let silent_hours = (now - r.last_received).num_hours();
        if recent >= thresholds.silent_min_days && silent_hours >= thresholds.silent_after_hours {
            out.push(Condition {
                rule: Rule::ReporterSilent,
                subject: r.organization.clone(),
                severity: Severity::Warning,
                summary: format!(
                    "{domain}: {} reported on {recent} of the last 7 days and has sent nothing for {silent_hours} hours",
                    r.organization
                ),
                numbers: serde_json::json!({"organization": r.organization, "days_reported": recent, "hours_silent": silent_hours, "last_received": r.last_received}),
                explanation: "a sender that reported daily went quiet: its reports are being lost (the rua mailbox or URL stopped accepting them), or it stopped sending mail here".to_owned(),
                fix: format!("check that the TLS-RPT record at _smtp._tls.{domain} is unchanged and that its rua destinations accept reports; look for rejections of {}'s reports", r.organization),
            });
        }
    }

    if let Some(last) = activity.last_received {
        let hours = (now - last).num_hours();
        if hours >= thresholds.no_reports_after_hours {
            out.push(Condition {
                rule: Rule::NoReports,
                subject: String::new(),
                severity: Severity::Critical,
                summary: format!("{domain}: no TLS report for {hours} hours"),
                numbers: serde_json::json!({"hours_silent": hours, "last_received": last}),
                explanation: "no sender has reported for three days: the TLS-RPT record was lost or changed, or reports no longer reach this service".to_owned(),
                fix: format!("check the TXT record at _smtp._tls.{domain} (v=TLSRPTv1; rua=…) and that the rua mailbox and HTTPS URL reach this service"),
            });
        }
    }

    if let (Some(now_state), Some(before)) = (&activity.posture_state, &activity.posture_before)
        && posture_rank(now_state) < posture_rank(before)
    {
        out.push(Condition {
            rule: Rule::PostureWorse,
            subject: String::new(),
            severity: if now_state == "broken" || now_state == "missing" {
                Severity::Critical
            } else {
                Severity::Warning
            },
            summary: format!("{domain}: the live setup went from {before} to {now_state}"),
            numbers: serde_json::json!({"state": now_state, "previous_state": before}),
            explanation: "the latest posture check found a problem the previous one did not"
                .to_owned(),
            fix: "open the domain page's Setup panel: each finding names the record to fix"
                .to_owned(),
        });
    }

    for (host, days_left) in &activity.certificates {
        if *days_left < thresholds.certificate_days {
            out.push(Condition {
                rule: Rule::CertificateExpiring,
                subject: host.clone(),
                severity: if *days_left <= 3 {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                summary: format!("{domain}: the certificate of MX {host} expires in {days_left} days"),
                numbers: serde_json::json!({"mx": host, "days_left": days_left}),
                explanation: "once it expires, senders that check certificates (MTA-STS enforce, DANE) refuse to deliver to this MX".to_owned(),
                fix: format!("renew the certificate on {host} and reload its mail server; automate the renewal"),
            });
        }
    }

    if let Some((text, mode, first_day)) = &activity.policy
        && today - first_day <= 2
        && activity.days.range(..*first_day).next().is_some()
    {
        out.push(Condition {
            rule: Rule::PolicyChanged,
            subject: text.to_string(),
            severity: Severity::Info,
            summary: format!(
                "{domain}: reports show a new MTA-STS policy (mode {mode}) since {}",
                date(*first_day)
            ),
            numbers: serde_json::json!({"mode": mode, "first_day": date(*first_day)}),
            explanation: "senders fetched a policy different from the one they applied before".to_owned(),
            fix: "nothing to do if the change was yours; otherwise check https://mta-sts.<domain>/.well-known/mta-sts.txt and the id in _mta-sts.<domain>".to_owned(),
        });
    }

    if activity.readiness.as_deref() == Some("ready") {
        out.push(Condition {
            rule: Rule::EnforceReady,
            subject: String::new(),
            severity: Severity::Info,
            summary: format!("{domain}: the MTA-STS policy can move to enforce"),
            numbers: serde_json::json!({"verdict": "ready"}),
            explanation: "reports over the judged days show no failure that enforce would refuse, from enough senders".to_owned(),
            fix: format!("publish mode: enforce in the policy file and a new id in _mta-sts.{domain}"),
        });
    }
    out
}

/// Worse states rank lower.
fn posture_rank(state: &str) -> u8 {
    match state {
        "missing" | "broken" => 0,
        "degraded" => 1,
        "warning" => 2,
        "ok" => 3,
        _ => 3,
    }
}

/// The fix of the day's most frequent failure type.
fn top_fix(activity: &Activity, day: i64) -> String {
    activity
        .failures
        .get(&day)
        .and_then(|t| t.iter().max_by_key(|(_, n)| **n))
        .map(|(t, _)| ResultType::of(t).fix().to_owned())
        .unwrap_or_else(|| "see the domain page for the failure types and their fixes".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: i64, hour: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(day * 86_400 + hour * 3600, 0).unwrap()
    }

    fn rules(c: &[Condition]) -> Vec<(Rule, &str)> {
        c.iter().map(|c| (c.rule, c.subject.as_str())).collect()
    }

    /// 20 clean-ish days (1,000 sessions, 5 failed of one type) before day 100.
    fn steady() -> Activity {
        let mut a = Activity::default();
        for day in 80..100 {
            a.days.insert(day, (1_000, 5));
            a.failures
                .insert(day, BTreeMap::from([("certificate-expired".to_owned(), 5)]));
        }
        a
    }

    #[test]
    fn a_steady_domain_raises_nothing() {
        let t = Thresholds::default();
        assert!(evaluate("d.test", &steady(), &t, at(100, 6)).is_empty());
    }

    #[test]
    fn a_spike_over_three_times_the_median_raises_failure_spike_and_rate() {
        let mut a = steady();
        a.days.insert(99, (1_000, 40));
        a.failures
            .insert(99, BTreeMap::from([("certificate-expired".to_owned(), 40)]));
        let c = evaluate("d.test", &a, &Thresholds::default(), at(100, 6));
        assert_eq!(
            rules(&c),
            vec![(Rule::FailureRate, ""), (Rule::FailureSpike, "")]
        );
        assert_eq!(c[1].severity, Severity::Critical);
        assert_eq!(c[1].numbers["median"], 5.0);
        // 14 failed is under the minimum of 20, however many times the median (and 0.7 %
        // is under the rate threshold).
        a.days.insert(99, (2_000, 14));
        let c = evaluate("d.test", &a, &Thresholds::default(), at(100, 6));
        assert!(rules(&c).is_empty(), "{c:?}");
    }

    #[test]
    fn days_without_reports_do_not_end_a_spike() {
        let mut a = steady();
        a.days.insert(99, (1_000, 40));
        // Days 100 and 101 listed with no sessions: their reports have not come yet.
        a.days.insert(100, (0, 0));
        a.days.insert(101, (0, 0));
        let c = evaluate("d.test", &a, &Thresholds::default(), at(102, 1));
        assert!(rules(&c).contains(&(Rule::FailureSpike, "")), "{c:?}");
    }

    #[test]
    fn the_failure_rate_needs_a_hundred_sessions() {
        let mut a = Activity::default();
        // 10 % of 99 sessions: too few to judge a rate (and 10 is no spike).
        a.days.insert(99, (99, 10));
        assert!(evaluate("d.test", &a, &Thresholds::default(), at(100, 1)).is_empty());
        a.days.insert(99, (100, 2));
        let c = evaluate("d.test", &a, &Thresholds::default(), at(100, 1));
        assert_eq!(rules(&c), vec![(Rule::FailureRate, "")]);
    }

    #[test]
    fn a_type_not_seen_for_thirty_days_is_new_once() {
        let mut a = steady();
        a.failures
            .get_mut(&99)
            .unwrap()
            .insert("starttls-not-supported".into(), 2);
        let c = evaluate("d.test", &a, &Thresholds::default(), at(100, 6));
        assert_eq!(
            rules(&c),
            vec![(Rule::NewFailureType, "starttls-not-supported")]
        );
        // The next day it is no longer new.
        a.days.insert(100, (1_000, 7));
        a.failures.insert(
            100,
            BTreeMap::from([
                ("starttls-not-supported".to_owned(), 2),
                ("certificate-expired".to_owned(), 5),
            ]),
        );
        assert!(evaluate("d.test", &a, &Thresholds::default(), at(101, 6)).is_empty());
    }

    #[test]
    fn a_regular_reporter_is_silent_after_48_hours_not_before() {
        let mut a = steady();
        let last = at(99, 2);
        a.reporters.push(Reporter {
            organization: "big.test".into(),
            days: (94..99).collect(),
            last_received: last,
        });
        a.last_received = Some(last);
        let t = Thresholds::default();
        let at_47 = last + chrono::Duration::hours(47);
        assert!(evaluate("d.test", &a, &t, at_47).is_empty());
        let at_48 = last + chrono::Duration::hours(48);
        assert_eq!(
            rules(&evaluate("d.test", &a, &t, at_48)),
            vec![(Rule::ReporterSilent, "big.test")]
        );
        // Two days of reports are not a habit.
        a.reporters[0].days = (97..99).collect();
        assert!(evaluate("d.test", &a, &t, at_48).is_empty());
        // 72 hours without any report: no-reports.
        let at_72 = last + chrono::Duration::hours(72);
        assert!(rules(&evaluate("d.test", &a, &t, at_72)).contains(&(Rule::NoReports, "")));
    }

    #[test]
    fn posture_certificates_policy_and_readiness() {
        let mut a = steady();
        a.posture_state = Some("broken".into());
        a.posture_before = Some("ok".into());
        a.certificates = vec![("mx1.d.test".into(), 10), ("mx2.d.test".into(), 90)];
        a.readiness = Some("ready".into());
        a.policy = Some((7, "enforce".into(), 99));
        let c = evaluate("d.test", &a, &Thresholds::default(), at(100, 6));
        assert_eq!(
            rules(&c),
            vec![
                (Rule::PostureWorse, ""),
                (Rule::CertificateExpiring, "mx1.d.test"),
                (Rule::PolicyChanged, "7"),
                (Rule::EnforceReady, ""),
            ]
        );
        assert_eq!(c[0].severity, Severity::Critical);
        // Better is not worse; a policy seen since the first report is not a change.
        a.posture_state = Some("ok".into());
        a.posture_before = Some("broken".into());
        a.policy = Some((7, "enforce".into(), 80));
        let c = evaluate("d.test", &a, &Thresholds::default(), at(100, 6));
        assert!(
            !rules(&c)
                .iter()
                .any(|(r, _)| matches!(r, Rule::PostureWorse | Rule::PolicyChanged))
        );
    }

    #[test]
    fn rule_and_severity_names_round_trip() {
        for r in Rule::ALL {
            assert_eq!(Rule::parse(r.as_str()), Some(r));
        }
        for s in [Severity::Info, Severity::Warning, Severity::Critical] {
            assert_eq!(Severity::parse(s.as_str()), Some(s));
        }
        assert!(Severity::Critical > Severity::Warning && Severity::Warning > Severity::Info);
    }
}
