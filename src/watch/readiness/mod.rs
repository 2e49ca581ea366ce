//! Enforce readiness: is it safe to move a domain's MTA-STS policy from `testing` to
//! `enforce`, and what would break if it moved now.
//!
//! In: a domain's sessions and failures per UTC day from the store, the policy texts
//! reporters applied, its latest posture check, [`ReadinessOptions`] and the day to
//! judge on. Out: a [`Readiness`]: the verdict, every reason that decided it (each a code,
//! a sentence and a fix), the impact preview (the sessions `enforce` would have refused,
//! by receiving MX, organization, sending IP and result type, with their share and days)
//! and, once reports show `enforce`, the switch date with the failure rate before and
//! after. [`judge`] is pure (`judge.rs`, with the live-setup criteria in `posture.rs`);
//! [`evaluate`] reads the store for it; [`run`] keeps every domain's verdict fresh for
//! the overview.
//!
//! Which result types `enforce` would refuse, and which leave a sender without a policy,
//! is [`ResultType::blocked_by_enforce`] and
//! [`ResultType::leaves_sender_without_policy`], the one place that knowledge lives.
//!
//! [`ResultType::blocked_by_enforce`]: crate::result_types::ResultType::blocked_by_enforce
//! [`ResultType::leaves_sender_without_policy`]: crate::result_types::ResultType::leaves_sender_without_policy

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::Clock;
use crate::store::{DayFailures, DaySessions, Store, StoreError};

mod judge;
mod posture;

pub use judge::judge;
use judge::{modes_by_day, newest_mode};

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
