//! Turn the lenient wire shapes into [`Report`], collecting a [`Warning`] for every
//! tolerated deviation from RFC 8460 and rejecting only what has no meaning.
//!
//! In: the parsed top-level `serde_json::Value` and the limits. Out: `Report` or
//! `ParseError`. Every warning and error names the JSON path it is about.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use super::wire::{
    WireDateRange, WireFailureDetail, WirePolicy, WirePolicyResult, WireReport, WireSummary,
    from_object,
};
use super::{ParseError, ParseLimits};
use crate::report::{
    FailureDetail, KNOWN_POLICY_TYPES, KNOWN_RESULT_TYPES, PolicyResult, Report, Warning,
    normalize_domain,
};

/// Keys of other JSON "TLS report" schemas (HPKP / Expect-CT style) that share the
/// `application/tlsrpt+json` media type.
const FOREIGN_SCHEMA_KEYS: &[&str] = &[
    "served-certificate-chain",
    "validated-certificate-chain",
    "noted-hostname",
    "resulting-cipher-suite",
];

struct Ctx<'a> {
    limits: &'a ParseLimits,
    warnings: Vec<Warning>,
    /// Unknown-key paths (indices removed) already warned about.
    unknown_seen: HashSet<String>,
}

impl Ctx<'_> {
    fn warn(&mut self, code: &str, detail: impl Into<String>) {
        self.warnings.push(Warning::new(code, detail));
    }

    fn unknown_keys(&mut self, path: &str, extra: &BTreeMap<String, Value>) {
        for key in extra.keys() {
            let generic = format!("{}.{}", strip_indices(path), key);
            if self.unknown_seen.insert(generic) {
                let shown = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                self.warn(
                    "unknown-field",
                    format!("{shown}: unknown key ignored (warned once per key path)"),
                );
            }
        }
    }

    /// Truncate to `max_string_len` at a char boundary, with a warning.
    fn limit_string(&mut self, path: &str, mut s: String) -> String {
        let max = self.limits.max_string_len;
        if s.len() > max {
            let mut cut = max;
            while cut > 0 && !s.is_char_boundary(cut) {
                cut -= 1;
            }
            let original = s.len();
            s.truncate(cut);
            self.warn(
                "string-truncated",
                format!("{path}: {original} bytes truncated to {cut}"),
            );
        }
        s
    }

    /// An optional free-text field: empty → `None` (warning `empty-field`), number or
    /// bool → its text (warning `non-string-field`), array/object → `None` (warning).
    fn opt_string(&mut self, path: &str, v: Option<Value>) -> Option<String> {
        match v? {
            Value::String(s) => {
                if s.trim().is_empty() {
                    self.warn(
                        "empty-field",
                        format!("{path}: empty string treated as absent"),
                    );
                    None
                } else {
                    Some(self.limit_string(path, s))
                }
            }
            Value::Number(n) => {
                self.warn(
                    "non-string-field",
                    format!("{path}: number {n} taken as text"),
                );
                Some(n.to_string())
            }
            Value::Bool(b) => {
                self.warn(
                    "non-string-field",
                    format!("{path}: boolean {b} taken as text"),
                );
                Some(b.to_string())
            }
            Value::Null => None,
            other => {
                self.warn(
                    "wrong-type",
                    format!("{path}: expected a string, found {}; ignored", kind(&other)),
                );
                None
            }
        }
    }

    /// A session count: integer, integer-valued float or numeric string; never negative.
    fn count(&mut self, path: &str, v: &Value) -> Result<i64, ParseError> {
        let invalid = |message: String| ParseError::InvalidField {
            path: path.to_owned(),
            message,
        };
        let n = match v {
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    i
                } else if n.is_u64() {
                    return Err(invalid(format!("count {n} does not fit in 64 bits")));
                } else {
                    let f = n.as_f64().unwrap_or(f64::NAN);
                    if f.fract() != 0.0 || !f.is_finite() || f.abs() > 9.0e15 {
                        return Err(invalid(format!(
                            "expected a non-negative integer count, found {n}"
                        )));
                    }
                    self.warn(
                        "count-as-float",
                        format!("{path}: count written as float {n}"),
                    );
                    f as i64
                }
            }
            Value::String(s) => match s.trim().parse::<i64>() {
                Ok(i) => {
                    self.warn(
                        "count-as-string",
                        format!("{path}: count written as string {s:?}"),
                    );
                    i
                }
                Err(_) => {
                    return Err(invalid(format!(
                        "expected a non-negative integer count, found string {s:?}"
                    )));
                }
            },
            other => {
                return Err(invalid(format!(
                    "expected a non-negative integer count, found {}",
                    kind(other)
                )));
            }
        };
        if n < 0 {
            return Err(invalid(format!(
                "expected a non-negative integer count, found {n}"
            )));
        }
        Ok(n)
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `policies[3].failure-details[0]` → `policies[].failure-details[]`.
fn strip_indices(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_brackets = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_brackets = true;
                out.push('[');
            }
            ']' => {
                in_brackets = false;
                out.push(']');
            }
            _ if in_brackets => {}
            _ => out.push(c),
        }
    }
    out
}

fn missing(path: &str, expected: &str) -> ParseError {
    ParseError::MissingField {
        path: path.to_owned(),
        expected: expected.to_owned(),
    }
}

fn invalid(path: &str, message: impl Into<String>) -> ParseError {
    ParseError::InvalidField {
        path: path.to_owned(),
        message: message.into(),
    }
}

pub(super) fn report(value: Value, limits: &ParseLimits) -> Result<Report, ParseError> {
    let obj = match &value {
        Value::Object(o) => o,
        other => {
            return Err(ParseError::NotAReport(format!(
                "expected a JSON object at the top level, found {}",
                kind(other)
            )));
        }
    };
    let has_policies = obj.contains_key("policies") || obj.contains_key("policy");
    if !has_policies {
        if let Some(k) = FOREIGN_SCHEMA_KEYS.iter().find(|k| obj.contains_key(**k)) {
            return Err(ParseError::NotTlsrptSchema(format!(
                "it has \"{k}\" but no \"policies\"; this looks like an HPKP/Expect-CT-style \
                 certificate report, not an RFC 8460 aggregate report"
            )));
        }
        if !obj.contains_key("organization-name") && !obj.contains_key("report-id") {
            return Err(ParseError::NotAReport(
                "none of \"organization-name\", \"report-id\" or \"policies\" is present"
                    .to_owned(),
            ));
        }
    }
    let wire: WireReport = from_object(value)
        .ok_or_else(|| ParseError::NotAReport("the top-level object is unreadable".to_owned()))?;
    let mut cx = Ctx {
        limits,
        warnings: Vec::new(),
        unknown_seen: HashSet::new(),
    };

    let organization_name = match wire.organization_name {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            cx.limit_string("organization-name", s.trim().to_owned())
        }
        None | Some(Value::String(_)) => {
            return Err(missing(
                "organization-name",
                "a non-empty string naming the reporting organization",
            ));
        }
        Some(other) => {
            return Err(invalid(
                "organization-name",
                format!("expected a string, found {}", kind(&other)),
            ));
        }
    };

    let report_id = match wire.report_id {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            cx.limit_string("report-id", s.trim().to_owned())
        }
        Some(Value::Number(n)) => {
            cx.warn(
                "report-id-not-string",
                format!("report-id: number {n} taken as text"),
            );
            n.to_string()
        }
        None | Some(Value::String(_)) => {
            return Err(missing(
                "report-id",
                "a non-empty string identifying the report",
            ));
        }
        Some(other) => {
            return Err(invalid(
                "report-id",
                format!("expected a string, found {}", kind(&other)),
            ));
        }
    };

    let contact_info = match wire.contact_info {
        None => {
            cx.warn("contact-info-missing", "contact-info: missing or null");
            None
        }
        Some(v) => {
            let c = cx.opt_string("contact-info", Some(v));
            if c.is_none() {
                cx.warn("contact-info-missing", "contact-info: empty or unusable");
            }
            c
        }
    };

    let dr_value = wire.date_range.ok_or_else(|| {
        missing(
            "date-range",
            "an object with start-datetime and end-datetime",
        )
    })?;
    let dr: WireDateRange = from_object(dr_value).ok_or_else(|| {
        invalid(
            "date-range",
            "expected an object with start-datetime and end-datetime",
        )
    })?;
    cx.unknown_keys("date-range", &dr.extra);
    let start = date(&mut cx, "date-range.start-datetime", dr.start_datetime)?;
    let end = date(&mut cx, "date-range.end-datetime", dr.end_datetime)?;
    if end < start {
        cx.warn(
            "date-range-reversed",
            format!(
                "date-range: end-datetime {end} is before start-datetime {start}; kept as given"
            ),
        );
    }

    let (policies_value, policies_path) = match (wire.policies, wire.policy) {
        (Some(p), _) => (p, "policies"),
        (None, Some(p)) => {
            cx.warn(
                "draft-field-name",
                "policy: draft-era name for \"policies\" accepted",
            );
            (p, "policy")
        }
        (None, None) => {
            return Err(missing("policies", "an array of policy results"));
        }
    };
    let items = match policies_value {
        Value::Array(a) => a,
        Value::Object(o) if policies_path == "policy" => vec![Value::Object(o)],
        _ => {
            return Err(invalid(
                policies_path,
                "policies must be an array of policy results",
            ));
        }
    };
    if items.len() > limits.max_policies {
        return Err(ParseError::TooLarge {
            what: "policies".to_owned(),
            count: items.len(),
            limit: limits.max_policies,
        });
    }
    cx.unknown_keys("", &wire.extra);

    let mut policies = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        policies.push(policy_result(&mut cx, &format!("policies[{i}]"), item)?);
    }

    Ok(Report {
        organization_name,
        report_id,
        contact_info,
        start,
        end,
        policies,
        warnings: cx.warnings,
    })
}

fn date(cx: &mut Ctx, path: &str, v: Option<Value>) -> Result<DateTime<Utc>, ParseError> {
    let s = match v {
        Some(Value::String(s)) => s,
        None => return Err(missing(path, "an RFC 3339 date-time")),
        Some(other) => {
            return Err(invalid(
                path,
                format!(
                    "expected an RFC 3339 date-time string, found {}",
                    kind(&other)
                ),
            ));
        }
    };
    let t = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    // Space instead of `T`, or lower-case separators.
    let fixed: String = t
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 10 && (c == ' ' || c == 't') {
                'T'
            } else {
                c
            }
        })
        .collect();
    if let Ok(d) = DateTime::parse_from_rfc3339(&fixed) {
        cx.warn(
            "date-not-rfc3339",
            format!(
                "{path}: {s:?} is not RFC 3339; read as {}",
                d.with_timezone(&Utc)
            ),
        );
        return Ok(d.with_timezone(&Utc));
    }
    if let Ok(n) = NaiveDateTime::parse_from_str(&fixed, "%Y-%m-%dT%H:%M:%S%.f") {
        cx.warn(
            "date-without-offset",
            format!("{path}: {s:?} has no UTC offset; assumed UTC"),
        );
        return Ok(n.and_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        cx.warn(
            "date-without-time",
            format!("{path}: {s:?} is a date only; read as 00:00:00 UTC"),
        );
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    Err(invalid(
        path,
        format!("{s:?} is not a date-time; expected RFC 3339 such as 2026-01-31T00:00:00Z"),
    ))
}

fn policy_result(cx: &mut Ctx, path: &str, item: Value) -> Result<PolicyResult, ParseError> {
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
