//! A domain's posture state, from the findings of one check and the previous state.
//!
//! In: the findings and the state of the previous check, if any. Out: one [`State`]:
//! what the overview's badge shows and what the history records when it changes.

use serde::Serialize;

use super::{Finding, Severity};

/// The state of a domain's setup, worst first in [`State::from_findings`]'s reasoning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Nothing is published yet: neither a TLS-RPT nor an MTA-STS record.
    Missing,
    /// Was fine at the previous check and is now unreachable (a policy host that stopped
    /// answering, a name that stopped resolving): most likely an outage, not a mistake.
    Degraded,
    /// An error that loses reports or would refuse mail.
    Broken,
    /// Works, with something to improve (a recommended record missing, testing mode).
    Warning,
    Ok,
}

/// Findings that mean "could not reach it", as opposed to "it is wrong".
const UNREACHABLE: &[&str] = &["mta-sts-policy-unreachable", "mta-sts-host-missing"];

/// Findings that count toward `warning` although they are informational.
const NOT_YET_OK: &[&str] = &["mta-sts-mode-testing"];

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Missing => "missing",
            State::Degraded => "degraded",
            State::Broken => "broken",
            State::Warning => "warning",
            State::Ok => "ok",
        }
    }

    /// The state named by [`as_str`](State::as_str).
    pub fn parse(name: &str) -> Option<State> {
        [
            State::Missing,
            State::Degraded,
            State::Broken,
            State::Warning,
            State::Ok,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }

    /// The state `findings` put a domain in, given the previous check's state.
    pub fn from_findings(findings: &[Finding], previous: Option<State>) -> State {
        let has = |code: &str| findings.iter().any(|f| f.code == code);
        if has("tlsrpt-missing") && has("mta-sts-missing") {
            return State::Missing;
        }
        let errors: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .collect();
        if !errors.is_empty() {
            let only_unreachable = errors.iter().all(|f| UNREACHABLE.contains(&f.code));
            if only_unreachable && previous == Some(State::Ok) {
                return State::Degraded;
            }
            return State::Broken;
        }
        let warned = findings
            .iter()
            .any(|f| f.severity == Severity::Warning || NOT_YET_OK.contains(&f.code));
        if warned { State::Warning } else { State::Ok }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(code: &'static str, severity: Severity) -> Finding {
        Finding::new(code, severity, "m", "f")
    }

    #[test]
    fn states_follow_the_worst_finding() {
        use Severity::*;
        assert_eq!(State::from_findings(&[], None), State::Ok);
        assert_eq!(
            State::from_findings(&[finding("mx-tlsa-present", Info)], None),
            State::Ok
        );
        assert_eq!(
            State::from_findings(&[finding("mta-sts-mode-testing", Info)], None),
            State::Warning
        );
        assert_eq!(
            State::from_findings(&[finding("mta-sts-missing", Warning)], None),
            State::Warning
        );
        assert_eq!(
            State::from_findings(
                &[
                    finding("tlsrpt-missing", Error),
                    finding("mta-sts-missing", Warning)
                ],
                Some(State::Ok)
            ),
            State::Missing
        );
        assert_eq!(
            State::from_findings(&[finding("tlsrpt-no-rua", Error)], Some(State::Ok)),
            State::Broken
        );
    }

    #[test]
    fn unreachable_after_ok_is_degraded_otherwise_broken() {
        let f = [finding("mta-sts-policy-unreachable", Severity::Error)];
        assert_eq!(State::from_findings(&f, Some(State::Ok)), State::Degraded);
        assert_eq!(State::from_findings(&f, Some(State::Broken)), State::Broken);
        assert_eq!(State::from_findings(&f, None), State::Broken);
        let with_other_error = [f[0].clone(), finding("mta-sts-invalid", Severity::Error)];
        assert_eq!(
            State::from_findings(&with_other_error, Some(State::Ok)),
            State::Broken
        );
    }
}
