//! The TXT records a domain publishes for TLS reporting and MTA-STS.
//!
//! In: a domain and the TXT records found at `_smtp._tls.<domain>` (RFC 8460 §3) or
//! `_mta-sts.<domain>` (RFC 8461 §3.1), each record's character-strings already joined.
//! Out: the one record that counts, parsed, or the [`Finding`] that says why none does.
//! Records that do not start with the version tag are not ours and are ignored, as
//! senders ignore them; more than one that does makes senders ignore all of them.

use super::{Finding, Severity};

/// Longest extension name (RFC 8460 §3: a letter or digit and up to 31 more).
const MAX_EXTENSION_NAME: usize = 32;

/// Longest MTA-STS policy id (RFC 8461 §3.1: 1 to 32 letters and digits).
const MAX_STS_ID: usize = 32;

/// Where reports are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportUri {
    /// `mailto:` and the address, lower-cased.
    Mailto(String),
    /// An `https:` URL, as published.
    Https(String),
}

impl ReportUri {
    pub fn as_uri(&self) -> String {
        match self {
            ReportUri::Mailto(address) => format!("mailto:{address}"),
            ReportUri::Https(url) => url.clone(),
        }
    }
}

/// A valid `v=TLSRPTv1` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsRptRecord {
    /// The `rua=` destinations, in order.
    pub rua: Vec<ReportUri>,
    /// Other `name=value` fields, kept for display.
    pub extensions: Vec<(String, String)>,
}

/// A valid `v=STSv1` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsRecord {
    /// The policy id; a new id tells senders to fetch the policy again.
    pub id: String,
    pub extensions: Vec<(String, String)>,
}

/// The TLS-RPT record of `domain` among the TXT records at `_smtp._tls.<domain>`.
pub fn tlsrpt(domain: &str, txt: &[String]) -> Result<TlsRptRecord, Finding> {
    let name = format!("_smtp._tls.{domain}");
    let example = format!("v=TLSRPTv1; rua=mailto:tlsrpt@{domain}");
    let record = the_one_record(
        &name,
        txt,
        "v=TLSRPTv1",
        ("tlsrpt-missing", "tlsrpt-multiple", "tlsrpt-invalid"),
        &example,
    )?;
    let invalid = |why: String| {
        Finding::new(
            "tlsrpt-invalid",
            Severity::Error,
            format!(
                "the TXT record at {name} (\"{record}\") is not valid: {why}; senders ignore it and send no reports"
            ),
            format!(
                "publish one TXT record at {name} of the form \"{example}\": v=TLSRPTv1 first, then rua= with comma-separated mailto: or https: destinations"
            ),
        )
    };
    let fields = fields(record).map_err(&invalid)?;
    let mut rua = None;
    let mut extensions = Vec::new();
    for (key, value) in fields {
        if key == "rua" {
            if rua.is_some() {
                return Err(invalid(
                    "rua= appears twice (list every destination in one rua=, separated by commas)"
                        .to_owned(),
                ));
            }
            let mut uris = Vec::new();
            for uri in value.split(',').map(|u| u.trim_matches([' ', '\t'])) {
                uris.push(report_uri(uri).map_err(&invalid)?);
            }
            rua = Some(uris);
        } else {
            extensions.push((key.to_owned(), value.to_owned()));
        }
    }
    let Some(rua) = rua else {
        return Err(Finding::new(
            "tlsrpt-no-rua",
            Severity::Error,
            format!(
                "the TLS-RPT record at {name} (\"{record}\") has no rua=: senders have nowhere to send reports"
            ),
            format!("add the destinations to the record at {name}, e.g. \"{example}\""),
        ));
    };
    Ok(TlsRptRecord { rua, extensions })
}

/// The MTA-STS record of `domain` among the TXT records at `_mta-sts.<domain>`.
pub fn sts(domain: &str, txt: &[String]) -> Result<StsRecord, Finding> {
    let name = format!("_mta-sts.{domain}");
    let example = "v=STSv1; id=20261205T000000";
    let record = the_one_record(
        &name,
        txt,
        "v=STSv1",
        ("mta-sts-missing", "mta-sts-multiple", "mta-sts-invalid"),
        example,
    )?;
    let invalid = |why: String| {
        Finding::new(
            "mta-sts-invalid",
            Severity::Error,
            format!(
                "the TXT record at {name} (\"{record}\") is not valid: {why}; senders ignore MTA-STS for {domain}"
            ),
            format!(
                "publish one TXT record at {name} of the form \"{example}\": v=STSv1 first, then an id of 1 to 32 letters and digits"
            ),
        )
    };
    let mut id = None;
    let mut extensions = Vec::new();
    for (key, value) in fields(record).map_err(&invalid)? {
        if key == "id" {
            if id.is_some() {
                return Err(invalid("id= appears twice".to_owned()));
            }
            let valid = (1..=MAX_STS_ID).contains(&value.len())
                && value.bytes().all(|b| b.is_ascii_alphanumeric());
            if !valid {
                return Err(invalid(format!(
                    "id \"{value}\" is not 1 to {MAX_STS_ID} letters and digits"
                )));
            }
            id = Some(value.to_owned());
        } else {
            extensions.push((key.to_owned(), value.to_owned()));
        }
    }
    let Some(id) = id else {
        return Err(Finding::new(
            "mta-sts-no-id",
            Severity::Error,
            format!(
                "the MTA-STS record at {name} (\"{record}\") has no id=: senders cannot tell when the policy changes and ignore it"
            ),
            format!(
                "publish \"{example}\" at {name}, and change the id whenever the policy file changes"
            ),
        ));
    };
    Ok(StsRecord { id, extensions })
}

/// The one record starting with `version`: missing, several, or one that starts with
/// the version in the wrong case or place (invalid rather than missing: it was meant).
fn the_one_record<'a>(
    name: &str,
    txt: &'a [String],
    version: &str,
    (missing, multiple, invalid): (&'static str, &'static str, &'static str),
    example: &str,
) -> Result<&'a str, Finding> {
    let ours: Vec<&str> = txt
        .iter()
        .map(|t| t.trim_matches([' ', '\t']))
        .filter(|t| is_version(t, version))
        .collect();
    match ours.as_slice() {
        [one] => Ok(one),
        [] => {
            let lower = version.to_ascii_lowercase();
            if let Some(near) = txt.iter().find(|t| t.to_ascii_lowercase().contains(&lower)) {
                return Err(Finding::new(
                    invalid,
                    Severity::Error,
                    format!(
                        "the TXT record at {name} (\"{near}\") does not start with exactly \"{version}\"; senders ignore it"
                    ),
                    format!("publish it as \"{example}\": \"{version}\" first, in this case"),
                ));
            }
            Err(Finding::new(
                missing,
                if missing == "tlsrpt-missing" {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                format!("no TXT record starting with \"{version}\" at {name}"),
                format!("publish a TXT record at {name}: \"{example}\""),
            ))
        }
        several => Err(Finding::new(
            multiple,
            Severity::Error,
            format!(
                "{} TXT records at {name} start with \"{version}\" ({}); senders then ignore all of them",
                several.len(),
                several
                    .iter()
                    .map(|r| format!("\"{r}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            if multiple == "tlsrpt-multiple" {
                format!(
                    "merge them into one record at {name}, listing every destination in one rua= separated by commas, e.g. \"v=TLSRPTv1; rua=mailto:a@example.com,https://reports.example.com/v1/reports\""
                )
            } else {
                format!("keep exactly one record at {name}: \"{example}\"")
            },
        )),
    }
}

/// True when `text` is `version` followed by the end or a field delimiter.
fn is_version(text: &str, version: &str) -> bool {
    text.strip_prefix(version).is_some_and(|rest| {
        rest.trim_start_matches([' ', '\t']).is_empty()
            || rest.trim_start_matches([' ', '\t']).starts_with(';')
    })
}

/// The `name=value` fields after the version; an empty last field (a trailing `;`) is
/// allowed.
fn fields(record: &str) -> Result<Vec<(&str, &str)>, String> {
    let mut parts = record.split(';').map(|p| p.trim_matches([' ', '\t']));
    parts.next();
    let parts: Vec<&str> = parts.collect();
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            if i + 1 == parts.len() {
                break;
            }
            return Err("an empty field between two \";\"".to_owned());
        }
        let Some((key, value)) = part.split_once('=') else {
            return Err(format!("\"{part}\" is not name=value"));
        };
        let valid_name = key.len() <= MAX_EXTENSION_NAME
            && key
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric())
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid_name {
            return Err(format!("\"{key}\" is not a field name"));
        }
        // Values are printable ASCII without ";" or "=" (RFC 8460 §3, RFC 8461 §3.1);
        // rua= holds URIs separated by commas and spaces, checked one by one later.
        let printable = value
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b';' && b != b'=');
        if value.is_empty() || (key != "rua" && !printable) {
            return Err(format!(
                "the value of {key}= is empty or has characters not allowed"
            ));
        }
        out.push((key, value));
    }
    Ok(out)
}

/// One `rua=` destination.
fn report_uri(uri: &str) -> Result<ReportUri, String> {
    let lower = uri.to_ascii_lowercase();
    if let Some(address) = lower.strip_prefix("mailto:") {
        // A `mailto:` may carry `?headers`; reports go to the address.
        let address = address.split('?').next().unwrap_or("");
        let valid = address
            .split_once('@')
            .is_some_and(|(local, host)| !local.is_empty() && is_hostname(host));
        if !valid {
            return Err(format!("\"{uri}\" is not a mailto: address"));
        }
        return Ok(ReportUri::Mailto(address.to_owned()));
    }
    if let Some(rest) = lower.strip_prefix("https://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        if !is_hostname(host) {
            return Err(format!("\"{uri}\" has no valid host"));
        }
        return Ok(ReportUri::Https(uri.to_owned()));
    }
    Err(format!(
        "\"{uri}\" is neither a mailto: nor an https: destination"
    ))
}

/// A DNS host name of at least two labels (letters, digits, hyphens; no label starting or
/// ending with a hyphen; 63 bytes a label, 253 in all).
pub(crate) fn is_hostname(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    host.len() <= 253
        && host.contains('.')
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txt(records: &[&str]) -> Vec<String> {
        records.iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn a_valid_tlsrpt_record_lists_its_destinations() {
        let r = tlsrpt(
            "example.com",
            &txt(&[
                "google-site-verification=abc",
                "v=TLSRPTv1; rua=mailto:TLS@Example.com, https://reports.example.net/v1/reports;",
            ]),
        )
        .unwrap();
        assert_eq!(
            r.rua,
            vec![
                ReportUri::Mailto("tls@example.com".into()),
                ReportUri::Https("https://reports.example.net/v1/reports".into())
            ]
        );
    }

    #[test]
    fn tlsrpt_record_problems_have_their_codes() {
        let code = |records: &[&str]| tlsrpt("example.com", &txt(records)).unwrap_err().code;
        assert_eq!(code(&[]), "tlsrpt-missing");
        assert_eq!(code(&["v=spf1 -all"]), "tlsrpt-missing");
        assert_eq!(
            code(&[
                "v=TLSRPTv1; rua=mailto:a@example.com",
                "v=TLSRPTv1; rua=mailto:b@example.com"
            ]),
            "tlsrpt-multiple"
        );
        assert_eq!(code(&["v=TLSRPTv1"]), "tlsrpt-no-rua");
        assert_eq!(code(&["v=TLSRPTv1; foo=bar"]), "tlsrpt-no-rua");
        assert_eq!(
            code(&["v=tlsrptv1; rua=mailto:a@example.com"]),
            "tlsrpt-invalid"
        );
        assert_eq!(
            code(&["rua=mailto:a@example.com; v=TLSRPTv1"]),
            "tlsrpt-invalid"
        );
        assert_eq!(
            code(&["v=TLSRPTv1; rua=http://example.com/r"]),
            "tlsrpt-invalid"
        );
        assert_eq!(code(&["v=TLSRPTv1; rua=mailto:nobody"]), "tlsrpt-invalid");
        assert_eq!(
            code(&["v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com"]),
            "tlsrpt-invalid"
        );
        assert_eq!(
            code(&["v=TLSRPTv1;; rua=mailto:a@example.com"]),
            "tlsrpt-invalid"
        );
        assert_eq!(
            code(&["v=TLSRPTv1 rua=mailto:a@example.com"]),
            "tlsrpt-invalid"
        );
    }

    #[test]
    fn the_multiple_fix_says_to_merge_and_the_missing_fix_names_the_record() {
        let f = tlsrpt(
            "example.com",
            &txt(&[
                "v=TLSRPTv1; rua=mailto:a@example.com",
                "v=TLSRPTv1; rua=mailto:b@example.com",
            ]),
        )
        .unwrap_err();
        assert!(
            f.fix.contains("merge") && f.fix.contains("_smtp._tls.example.com"),
            "{}",
            f.fix
        );
        let f = tlsrpt("example.com", &[]).unwrap_err();
        assert!(
            f.fix.contains("_smtp._tls.example.com") && f.fix.contains("v=TLSRPTv1; rua="),
            "{}",
            f.fix
        );
        assert_eq!(f.severity, Severity::Error);
    }

    #[test]
    fn sts_records() {
        let r = sts("example.com", &txt(&["v=STSv1; id=20261205T0000;"])).unwrap();
        assert_eq!(r.id, "20261205T0000");
        let code = |records: &[&str]| sts("example.com", &txt(records)).unwrap_err().code;
        assert_eq!(code(&[]), "mta-sts-missing");
        assert_eq!(
            code(&["v=STSv1; id=1", "v=STSv1; id=2"]),
            "mta-sts-multiple"
        );
        assert_eq!(code(&["v=STSv1"]), "mta-sts-no-id");
        assert_eq!(code(&["v=STSv1; id=2026-12-05"]), "mta-sts-invalid");
        assert_eq!(
            code(&["v=STSv1; id=abcdefghijklmnopqrstuvwxyz0123456"]),
            "mta-sts-invalid"
        );
        assert_eq!(code(&["v=stsv1; id=1"]), "mta-sts-invalid");
        assert_eq!(
            sts("example.com", &[]).unwrap_err().severity,
            Severity::Warning
        );
    }
}
