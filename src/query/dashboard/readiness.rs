//! The readiness panel at the top of the domain page, and the overview's Enforce column.
//!
//! In: a [`Readiness`] judged for the page, or a stored verdict name. Out: the verdict
//! badge, the reasons (failed first) with their fixes, the impact preview's rows, a chart
//! of the sessions `enforce` would have refused per day, and the switch to `enforce` with
//! the failure rate around it.

use super::*;
use crate::watch::readiness::{Readiness, Verdict};

/// A verdict badge: the class names the verdict, the label says it.
pub(super) struct VerdictBadge {
    pub(super) verdict: &'static str,
    pub(super) label: &'static str,
}

impl VerdictBadge {
    pub(super) fn of(verdict: &str) -> VerdictBadge {
        let (verdict, label) = match verdict {
            "ready" => ("ready", "Ready for enforce"),
            "not-ready" => ("not-ready", "Not ready"),
            "insufficient-data" => ("insufficient-data", "Not enough data"),
            "enforced" => ("enforced", "Enforced"),
            _ => ("unknown", "Unknown"),
        };
        VerdictBadge { verdict, label }
    }
}

pub(super) struct ReasonView {
    pub(super) code: &'static str,
    pub(super) passed: bool,
    pub(super) message: String,
    pub(super) fix: String,
}

pub(super) struct ImpactView {
    pub(super) mx: String,
    pub(super) organization: String,
    pub(super) ip: String,
    pub(super) result_type: String,
    pub(super) sessions: i64,
    pub(super) share: String,
    pub(super) days: String,
    pub(super) summary: String,
}

pub(super) struct ReadinessPanel {
    pub(super) badge: VerdictBadge,
    pub(super) headline: String,
    pub(super) mode: String,
    pub(super) sessions: i64,
    pub(super) would_fail: i64,
    pub(super) reasons: Vec<ReasonView>,
    pub(super) impact: Vec<ImpactView>,
    pub(super) chart: Chart,
    /// "Switched to enforce on …; failure rate before …, after …".
    pub(super) switch: Option<String>,
    pub(super) failures_rose: bool,
}

pub(super) fn readiness_panel(r: &Readiness) -> ReadinessPanel {
    let range = format!("{} to {}", r.from, r.to);
    let headline = match r.verdict {
        Verdict::Ready => format!(
            "Safe to switch the MTA-STS policy to enforce: from {range}, no session failed in a way enforce would refuse beyond the limit."
        ),
        Verdict::NotReady => format!(
            "Not yet: from {range}, {} of {} sessions ({}) would have been refused under enforce, or the live setup is not in order. The reasons and the impact are below.",
            r.would_fail,
            r.sessions,
            pct(r.would_fail_rate)
        ),
        Verdict::InsufficientData => {
            "Not enough reports to judge yet; the reasons below say what is missing.".to_owned()
        }
        Verdict::Enforced => "Reports show the MTA-STS policy in enforce mode.".to_owned(),
    };
    let switch = r.switch.as_ref().map(|s| {
        let when = s.date.map_or_else(
            || "before the reports read".to_owned(),
            |d| format!("on {d}"),
        );
        let rate = |rate: Option<f64>| rate.map_or_else(|| "n/a".to_owned(), pct);
        format!(
            "Switched to enforce {when}; failure rate before {}, after {}.",
            rate(s.failure_rate_before),
            rate(s.failure_rate_after)
        )
    });
    let days: Vec<DayCounts> = r
        .days
        .iter()
        .map(|d| DayCounts {
            day: d.day,
            successful_sessions: d.sessions - d.would_fail,
            failed_sessions: d.would_fail,
        })
        .collect();
    ReadinessPanel {
        badge: VerdictBadge::of(r.verdict.as_str()),
        headline,
        mode: r.mode.clone().unwrap_or_else(|| "—".to_owned()),
        sessions: r.sessions,
        would_fail: r.would_fail,
        reasons: r
            .reasons
            .iter()
            .map(|reason| ReasonView {
                code: reason.code,
                passed: reason.passed,
                message: reason.message.clone(),
                fix: reason.fix.clone().unwrap_or_default(),
            })
            .collect(),
        impact: r
            .impact
            .iter()
            .map(|row| ImpactView {
                mx: row
                    .receiving_mx
                    .as_deref()
                    .map(short)
                    .unwrap_or_else(|| "(not reported)".to_owned()),
                organization: short(&row.organization),
                ip: row
                    .sending_ip
                    .as_deref()
                    .map(short)
                    .unwrap_or_else(|| "(not reported)".to_owned()),
                result_type: short(&row.result_type),
                sessions: row.sessions,
                share: pct(row.share),
                days: match row.days.as_slice() {
                    [] => String::new(),
                    [one] => one.to_string(),
                    [first, .., last] => format!("{} days, {first} to {last}", row.days.len()),
                },
                summary: row.summary.clone(),
            })
            .collect(),
        chart: build_chart(&days, Series::Failed, 720, 140, true),
        switch,
        failures_rose: r.switch.as_ref().is_some_and(|s| s.failures_rose),
    }
}
