//! RFC 8460 (SMTP TLS Reporting) JSON report parser.
//!
//! In: the JSON bytes of one report payload (already decompressed and taken out of
//! its email or HTTP envelope), plus [`ParseLimits`]. Out: a normalized
//! [`Report`] whose `warnings` list every tolerated deviation
//! from RFC 8460 (stable kebab-case codes such as `date-without-offset`), or a
//! [`ParseError`] naming the field and what was expected when the payload has no
//! meaning as a TLS-RPT report (not JSON, not a report, no policies, no counts, too
//! deep or too large).
//!
//! Steps: strip a UTF-8 BOM and surrounding whitespace, sniff DMARC XML, check the
//! nesting depth with a byte scanner (before serde_json builds anything), parse into a
//! `serde_json::Value`, map it onto the lenient shapes of `wire.rs`, and let `validate.rs`
//! turn those into the domain types.

mod policy;
mod validate;
mod wire;

#[cfg(test)]
mod tests;

use crate::report::Report;

/// Bounds on what one payload may contain; exceeding one rejects the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseLimits {
    /// Deepest `[`/`{` nesting accepted.
    pub max_depth: usize,
    /// Most elements accepted in `policies`.
    pub max_policies: usize,
    /// Most elements accepted in one policy's `failure-details`.
    pub max_failure_details: usize,
    /// Longest string kept (in bytes); longer strings are truncated with a warning.
    pub max_string_len: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            // A valid report nests at most 5 levels (report > policies > result >
            // failure-details > detail); 32 leaves room for sender extensions while
            // staying far below serde_json's own recursion limit of 128.
            max_depth: 32,
            // One policy per (type, domain, policy version) per day; even a large
            // provider reports a handful. 10k is far beyond any real report and bounds
            // the child rows one payload can create.
            max_policies: 10_000,
            // A detail is one (result-type, sending IP, receiving MX) combination; a big
            // sender with many outbound IPs can reach thousands. 100k bounds memory and
            // rows per policy while leaving two orders of magnitude of headroom.
            max_failure_details: 100_000,
            // Longest legitimate strings are policy-string lines and free-text
            // failure-reason-code / additional-information; 64 KiB keeps all of them
            // and stops one field from blowing up storage and display.
            max_string_len: 64 * 1024,
        }
    }
}

/// Why a payload was rejected. `pipeline::RejectCode` gives each its stable code.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("not JSON: {message} (line {line}, column {column})")]
    NotJson {
        message: String,
        line: usize,
        column: usize,
    },
    #[error("JSON nesting deeper than {max} levels; a TLS-RPT report needs about 5")]
    TooDeep { max: usize },
    #[error("not a TLS-RPT report: {0}")]
    NotAReport(String),
    #[error(
        "this is a DMARC aggregate report (XML), not a TLS-RPT report; send it to the DMARC rua address"
    )]
    DmarcReport,
    #[error("not the RFC 8460 TLS-RPT schema: {0}")]
    NotTlsrptSchema(String),
    #[error("{path}: required field is missing; expected {expected}")]
    MissingField { path: String, expected: String },
    #[error("{path}: {message}")]
    InvalidField { path: String, message: String },
    #[error("{what}: {count} exceeds the limit of {limit}")]
    TooLarge {
        what: String,
        count: usize,
        limit: usize,
    },
}

/// Parse one RFC 8460 JSON report payload.
pub fn parse_report(json: &[u8], limits: &ParseLimits) -> Result<Report, ParseError> {
    let body = json.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(json);
    let body = body.trim_ascii();
    if body.is_empty() {
        return Err(ParseError::NotJson {
            message: "the payload is empty".to_owned(),
            line: 1,
            column: 0,
        });
    }
    sniff_non_json(body)?;
    check_depth(body, limits.max_depth)?;
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        // serde_json's Display ends in " at line L column C"; we print those ourselves.
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        ParseError::NotJson {
            message: full.strip_suffix(&suffix).unwrap_or(&full).to_owned(),
            line: e.line(),
            column: e.column(),
        }
    })?;
    validate::report(value, limits)
}

/// Recognize well-known non-JSON payloads to give a better reason than a syntax error.
fn sniff_non_json(body: &[u8]) -> Result<(), ParseError> {
    if body.starts_with(b"<?xml") || body.starts_with(b"<feedback") {
        let head = &body[..body.len().min(4096)];
        if body.starts_with(b"<feedback") || head.windows(9).any(|w| w == b"<feedback") {
            return Err(ParseError::DmarcReport);
        }
        return Err(ParseError::NotJson {
            message: "the payload is XML, not JSON".to_owned(),
            line: 1,
            column: 1,
        });
    }
    if body.starts_with(&[0x1f, 0x8b]) {
        return Err(ParseError::NotJson {
            message: "the payload is gzip-compressed; decompress it first".to_owned(),
            line: 1,
            column: 1,
        });
    }
    Ok(())
}

/// Count `[`/`{` nesting outside strings; fail once it exceeds `max`. Runs before
/// serde_json so a hostile payload neither recurses deeply nor gets serde's opaque
/// recursion error. Syntax errors are left for serde_json to describe.
fn check_depth(body: &[u8], max: usize) -> Result<(), ParseError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in body {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(ParseError::TooDeep { max });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}
