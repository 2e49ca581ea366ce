//! Turn the lenient wire shapes into [`Report`], collecting a [`Warning`] for every
//! tolerated deviation from RFC 8460 and rejecting only what has no meaning.
//!
//! In: the parsed top-level `serde_json::Value` and the limits. Out: `Report` or
//! `ParseError`. Every warning and error names the JSON path it is about.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use super::wire::{WireDateRange, WireReport, from_object};
use super::{ParseError, ParseLimits};
use crate::report::{Report, Warning};

/// Keys of other JSON "TLS report" schemas (HPKP / Expect-CT style) that share the
/// `application/tlsrpt+json` media type.
const FOREIGN_SCHEMA_KEYS: &[&str] = &[
    "served-certificate-chain",
    "validated-certificate-chain",
    "noted-hostname",
    "resulting-cipher-suite",
];

pub(super) struct Ctx<'a> {
    pub(super) limits: &'a ParseLimits,
    pub(super) warnings: Vec<Warning>,
    /// Unknown-key paths (indices removed) already warned about.
    pub(super) unknown_seen: HashSet<String>,
}

impl Ctx<'_> {
    pub(super) fn warn(&mut self, code: &str, detail: impl Into<String>) {
        self.warnings.push(Warning::new(code, detail));
    }

    pub(super) fn unknown_keys(&mut self, path: &str, extra: &BTreeMap<String, Value>) {
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
    pub(super) fn limit_string(&mut self, path: &str, mut s: String) -> String {
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
    pub(super) fn opt_string(&mut self, path: &str, v: Option<Value>) -> Option<String> {
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
    pub(super) fn count(&mut self, path: &str, v: &Value) -> Result<i64, ParseError> {
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

pub(super) fn kind(v: &Value) -> &'static str {
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
pub(super) fn strip_indices(path: &str) -> String {
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

pub(super) fn missing(path: &str, expected: &str) -> ParseError {
    ParseError::MissingField {
        path: path.to_owned(),
        expected: expected.to_owned(),
    }
}

pub(super) fn invalid(path: &str, message: impl Into<String>) -> ParseError {
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
        policies.push(super::policy::policy_result(
            &mut cx,
            &format!("policies[{i}]"),
            item,
        )?);
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
