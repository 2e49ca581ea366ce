//! The live-setup criteria of readiness, from the latest posture check: the policy is
//! reachable, every MX is matched by it, and no MX certificate expires within its max_age.

use super::Reason;

/// The posture criteria: the policy is reachable, every MX is matched, and no MX
/// certificate expires within the policy's max_age.
pub(super) fn posture_reasons(domain: &str, posture: &serde_json::Value) -> Vec<Reason> {
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
