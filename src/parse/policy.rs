//! One policy result of a report: its policy, summary and failure details.
//!
//! In: the JSON value of one element of `policies` and the report's validation context.
//! Out: a [`PolicyResult`] with a warning in the context for every tolerated deviation,
//! or the `ParseError` naming the JSON path of what has no meaning.

use serde_json::Value;

use super::ParseError;
use super::validate::{Ctx, invalid, kind};
use super::wire::{WireFailureDetail, WirePolicy, WirePolicyResult, WireSummary, from_object};
use crate::report::{
    FailureDetail, KNOWN_POLICY_TYPES, KNOWN_RESULT_TYPES, PolicyResult, normalize_domain,
};

pub(super) fn policy_result(
    cx: &mut Ctx,
    path: &str,
    item: Value,
) -> Result<PolicyResult, ParseError> {
    let w: WirePolicyResult = from_object(item).ok_or_else(|| {
        invalid(
            path,
            "expected an object with policy, summary and failure-details",
        )
    })?;
    cx.unknown_keys(path, &w.extra);

    // policy
    let ppath = format!("{path}.policy");
    let p: Option<WirePolicy> = match w.policy {
        None => {
            cx.warn(
                "policy-missing",
                format!("{ppath}: missing; policy-type unknown"),
            );
            None
        }
        Some(v) => Some(from_object(v).ok_or_else(|| {
            invalid(
                &ppath,
                "expected an object with policy-type, policy-string, policy-domain and mx-host",
            )
        })?),
    };
    let (policy_type, policy_domain, policy_string, mx_host) = match p {
        None => ("unknown".to_owned(), None, Vec::new(), Vec::new()),
        Some(p) => {
            cx.unknown_keys(&ppath, &p.extra);
            let tpath = format!("{ppath}.policy-type");
            let policy_type = match cx.opt_string(&tpath, p.policy_type) {
                Some(t) => {
                    let t = t.trim().to_owned();
                    if !KNOWN_POLICY_TYPES.contains(&t.as_str()) {
                        cx.warn(
                            "unknown-policy-type",
                            format!("{tpath}: {t:?} is not an RFC 8460 policy type"),
                        );
                    }
                    t
                }
                None => {
                    cx.warn(
                        "policy-type-missing",
                        format!("{tpath}: missing; stored as \"unknown\""),
                    );
                    "unknown".to_owned()
                }
            };
            let dpath = format!("{ppath}.policy-domain");
            let policy_domain = match cx.opt_string(&dpath, p.policy_domain) {
                Some(d) => Some(normalize_domain(&d)).filter(|d| !d.is_empty()),
                None => None,
            };
            if policy_domain.is_none() {
                cx.warn(
                    "policy-domain-missing",
                    format!("{dpath}: missing or empty"),
                );
            }
            let policy_string =
                policy_strings(cx, &format!("{ppath}.policy-string"), p.policy_string);
            let mx = match (p.mx_host, p.mx_host_pattern) {
                (Some(v), _) => mx_hosts(cx, &format!("{ppath}.mx-host"), v),
                (None, Some(v)) => {
                    cx.warn(
                        "draft-field-name",
                        format!("{ppath}.mx-host-pattern: draft-era name for mx-host accepted"),
                    );
                    mx_hosts(cx, &format!("{ppath}.mx-host-pattern"), v)
                }
                (None, None) => Vec::new(),
            };
            (policy_type, policy_domain, policy_string, mx)
        }
    };

    // summary
    let spath = format!("{path}.summary");
    let mut succ = None;
    let mut fail = None;
    if let Some(v) = w.summary {
        let s: WireSummary = from_object(v).ok_or_else(|| {
            invalid(
                &spath,
                "expected an object with total-successful-session-count and total-failure-session-count",
            )
        })?;
        cx.unknown_keys(&spath, &s.extra);
        succ = s
            .total_successful
            .map(|v| (v, "total-successful-session-count"));
        fail = s.total_failure.map(|v| (v, "total-failure-session-count"));
        if succ.is_none() {
            succ = s.success_aggregate.map(|v| (v, "success-aggregate"));
        }
        if fail.is_none() {
            fail = s.failure_aggregate.map(|v| (v, "failure-aggregate"));
        }
    }
    let spath_outer = path.to_owned();
    let (succ, succ_base) = match succ {
        Some(x) => (Some(x), spath.clone()),
        None => (
            w.success_aggregate.map(|v| (v, "success-aggregate")),
            spath_outer.clone(),
        ),
    };
    let (fail, fail_base) = match fail {
        Some(x) => (Some(x), spath.clone()),
        None => (
            w.failure_aggregate.map(|v| (v, "failure-aggregate")),
            spath_outer,
        ),
    };
    if succ.is_none() && fail.is_none() {
        return Err(ParseError::InvalidField {
            path: spath,
            message: "total-successful-session-count and total-failure-session-count are missing"
                .to_owned(),
        });
    }
    let read = |cx: &mut Ctx, c: Option<(Value, &str)>, base: &str, name: &str| match c {
        Some((v, key)) => {
            let p = format!("{base}.{key}");
            if key != name {
                cx.warn(
                    "draft-field-name",
                    format!("{p}: draft-era name for {name} accepted"),
                );
            }
            cx.count(&p, &v)
        }
        None => {
            cx.warn(
                "count-missing",
                format!("{path}.summary.{name}: missing; taken as 0"),
            );
            Ok(0)
        }
    };
    let total_successful = read(cx, succ, &succ_base, "total-successful-session-count")?;
    let total_failed = read(cx, fail, &fail_base, "total-failure-session-count")?;

    // failure-details
    let fpath = format!("{path}.failure-details");
    let details = match w.failure_details {
        None => Vec::new(),
        Some(Value::Array(a)) => a,
        Some(Value::Object(o)) => {
            cx.warn(
                "failure-details-not-array",
                format!("{fpath}: a single object instead of an array"),
            );
            vec![Value::Object(o)]
        }
        Some(other) => {
            return Err(invalid(
                &fpath,
                format!(
                    "expected an array of failure details, found {}",
                    kind(&other)
                ),
            ));
        }
    };
    if details.len() > cx.limits.max_failure_details {
        return Err(ParseError::TooLarge {
            what: fpath,
            count: details.len(),
            limit: cx.limits.max_failure_details,
        });
    }
    let mut failure_details = Vec::with_capacity(details.len());
    for (j, d) in details.into_iter().enumerate() {
        failure_details.push(failure_detail(cx, &format!("{fpath}[{j}]"), d)?);
    }
    if !failure_details.is_empty() {
        let sum = failure_details
            .iter()
            .fold(0i64, |a, d| a.saturating_add(d.failed_session_count));
        if sum != total_failed {
            cx.warn(
                "failure-count-mismatch",
                format!(
                    "{fpath}: failed-session-count sums to {sum} but total-failure-session-count is {total_failed}"
                ),
            );
        }
    }

    Ok(PolicyResult {
        policy_type,
        policy_domain,
        policy_string,
        mx_host,
        total_successful,
        total_failed,
        failure_details,
    })
}

fn policy_strings(cx: &mut Ctx, path: &str, v: Option<Value>) -> Vec<String> {
    let elems: Vec<Value> = match v {
        None => return Vec::new(),
        Some(Value::Array(a)) => a,
        Some(Value::String(s)) => {
            cx.warn(
                "policy-string-not-array",
                format!("{path}: a string instead of an array; taken as one element"),
            );
            vec![Value::String(s)]
        }
        Some(other) => {
            cx.warn(
                "wrong-type",
                format!(
                    "{path}: expected an array of strings, found {}; ignored",
                    kind(&other)
                ),
            );
            return Vec::new();
        }
    };
    let mut out: Vec<String> = Vec::with_capacity(elems.len());
    for (k, e) in elems.into_iter().enumerate() {
        match e {
            Value::String(s) => out.push(s),
            other => cx.warn(
                "wrong-type",
                format!(
                    "{path}[{k}]: expected a string, found {}; dropped",
                    kind(&other)
                ),
            ),
        }
    }
    // Microsoft: one element that is itself a JSON array of strings.
    if out.len() == 1
        && out[0].trim_start().starts_with('[')
        && let Ok(inner) = serde_json::from_str::<Vec<String>>(out[0].trim())
    {
        cx.warn(
            "policy-string-nested-json",
            format!(
                "{path}[0]: one string holding a JSON array; expanded into {} elements",
                inner.len()
            ),
        );
        out = inner;
    }
    let mut trimmed = 0usize;
    let mut result = Vec::with_capacity(out.len());
    for (k, s) in out.into_iter().enumerate() {
        let t = s.trim_end();
        let s = if t.len() != s.len() {
            trimmed += 1;
            t.to_owned()
        } else {
            s
        };
        result.push(cx.limit_string(&format!("{path}[{k}]"), s));
    }
    if trimmed > 0 {
        cx.warn(
            "policy-string-trailing-cr",
            format!("{path}: {trimmed} element(s) ended in CR or whitespace; trimmed"),
        );
    }
    result
}

fn mx_hosts(cx: &mut Ctx, path: &str, v: Value) -> Vec<String> {
    match v {
        Value::Null => Vec::new(),
        Value::String(s) => {
            cx.warn(
                "mx-host-not-array",
                format!("{path}: a string instead of an array"),
            );
            if s.trim().is_empty() {
                Vec::new()
            } else {
                vec![cx.limit_string(path, s.trim().to_owned())]
            }
        }
        Value::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for (k, e) in a.into_iter().enumerate() {
                let p = format!("{path}[{k}]");
                match e {
                    Value::String(s) => out.push(cx.limit_string(&p, s.trim().to_owned())),
                    other => cx.warn(
                        "wrong-type",
                        format!("{p}: expected a string, found {}; dropped", kind(&other)),
                    ),
                }
            }
            out
        }
        other => {
            cx.warn(
                "wrong-type",
                format!(
                    "{path}: expected an array of strings, found {}; ignored",
                    kind(&other)
                ),
            );
            Vec::new()
        }
    }
}

fn failure_detail(cx: &mut Ctx, path: &str, v: Value) -> Result<FailureDetail, ParseError> {
    let d: WireFailureDetail =
        from_object(v).ok_or_else(|| invalid(path, "expected a failure-detail object"))?;
    cx.unknown_keys(path, &d.extra);

    let rpath = format!("{path}.result-type");
    let result_type = match cx.opt_string(&rpath, d.result_type) {
        Some(t) => {
            if !KNOWN_RESULT_TYPES.contains(&t.as_str()) {
                cx.warn(
                    "unknown-result-type",
                    format!("{rpath}: {t:?} is not an RFC 8460 result type"),
                );
            }
            t
        }
        None => {
            cx.warn(
                "result-type-missing",
                format!("{rpath}: missing; stored as \"unknown\""),
            );
            "unknown".to_owned()
        }
    };

    let sending_mta_ip = cx.opt_string(&format!("{path}.sending-mta-ip"), d.sending_mta_ip);
    let receiving_mx_hostname = match (d.receiving_mx_hostname, d.receiving_mx_host_name) {
        (Some(v), _) => cx.opt_string(&format!("{path}.receiving-mx-hostname"), Some(v)),
        (None, Some(v)) => {
            let p = format!("{path}.receiving-mx-host-name");
            cx.warn(
                "misspelled-field",
                format!("{p}: read as receiving-mx-hostname"),
            );
            cx.opt_string(&p, Some(v))
        }
        (None, None) => None,
    };
    let receiving_mx_helo =
        cx.opt_string(&format!("{path}.receiving-mx-helo"), d.receiving_mx_helo);
    let receiving_ip = cx.opt_string(&format!("{path}.receiving-ip"), d.receiving_ip);

    let failed_session_count = match (d.failed_session_count, d.session_count) {
        (Some(v), _) => cx.count(&format!("{path}.failed-session-count"), &v)?,
        (None, Some(v)) => {
            let p = format!("{path}.session-count");
            cx.warn(
                "draft-field-name",
                format!("{p}: draft-era name for failed-session-count accepted"),
            );
            cx.count(&p, &v)?
        }
        (None, None) => {
            cx.warn(
                "count-missing",
                format!("{path}.failed-session-count: missing; taken as 0"),
            );
            0
        }
    };

    let additional_information = match (d.additional_information, d.additional_info_uri) {
        (Some(v), _) => cx.opt_string(&format!("{path}.additional-information"), Some(v)),
        (None, Some(v)) => {
            let p = format!("{path}.additional-info-uri");
            cx.warn(
                "draft-field-name",
                format!("{p}: draft-era name for additional-information accepted"),
            );
            cx.opt_string(&p, Some(v))
        }
        (None, None) => None,
    };
    let failure_reason_code = cx.opt_string(
        &format!("{path}.failure-reason-code"),
        d.failure_reason_code,
    );

    Ok(FailureDetail {
        result_type,
        sending_mta_ip,
        receiving_mx_hostname,
        receiving_mx_helo,
        receiving_ip,
        failed_session_count,
        additional_information,
        failure_reason_code,
    })
}
