//! The posture badge of the overview and the posture panel of the domain page.
//!
//! In: a domain's state name, or its latest posture check as the API serves it. Out: the
//! badge (label and class) and the panel's findings, worst first, each with its fix.

use super::*;

/// A state badge: the CSS class names the state, the label says it in words.
pub(super) struct Badge {
    pub(super) state: String,
    pub(super) label: &'static str,
}

impl Badge {
    pub(super) fn of(state: &str) -> Badge {
        let label = match state {
            "ok" => "OK",
            "warning" => "Warning",
            "missing" => "Not set up",
            "broken" => "Broken",
            "degraded" => "Degraded",
            _ => "Unknown",
        };
        Badge {
            state: state.to_owned(),
            label,
        }
    }
}

pub(super) struct FindingView {
    pub(super) severity: String,
    pub(super) code: String,
    pub(super) message: String,
    pub(super) fix: String,
}

/// The domain page's posture panel.
pub(super) struct PosturePanel {
    pub(super) badge: Badge,
    pub(super) checked_at: String,
    pub(super) checked_at_iso: String,
    pub(super) findings: Vec<FindingView>,
}

/// The panel of a stored check (the JSON of `GET .../posture`); `None` when the JSON
/// lacks the state.
pub(super) fn posture_panel(result: &serde_json::Value) -> Option<PosturePanel> {
    let text = |v: &serde_json::Value, key: &str| {
        v.get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let state = result.get("state")?.as_str()?;
    let checked_at = result
        .get("checked_at")
        .and_then(serde_json::Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let mut findings: Vec<FindingView> = result
        .get("findings")
        .and_then(serde_json::Value::as_array)
        .map(|list| {
            list.iter()
                .map(|f| FindingView {
                    severity: text(f, "severity"),
                    code: text(f, "code"),
                    message: text(f, "message"),
                    fix: text(f, "fix"),
                })
                .collect()
        })
        .unwrap_or_default();
    let rank = |severity: &str| match severity {
        "error" => 0,
        "warning" => 1,
        _ => 2,
    };
    findings.sort_by_key(|f| rank(&f.severity));
    Some(PosturePanel {
        badge: Badge::of(state),
        checked_at: checked_at.map(when).unwrap_or_default(),
        checked_at_iso: checked_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        findings,
    })
}
