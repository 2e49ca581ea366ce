//! The MTA-STS policy file (RFC 8461 §3.2) and which MX hosts it covers (§4.1).
//!
//! In: the body of `https://mta-sts.<domain>/.well-known/mta-sts.txt` (fetched, within
//! its size and time bounds, by the caller), and the domain's MX host names. Out: the
//! [`Policy`], or the `mta-sts-policy-invalid` [`Finding`]; and the findings about its
//! mode and about MX hosts no pattern matches.

use super::records::is_hostname;
use super::{Finding, Severity};

/// Longest `max_age` allowed (RFC 8461 §3.2: about one year, in seconds).
pub const MAX_AGE_LIMIT: u64 = 31_557_600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Senders refuse to deliver over a failed TLS check.
    Enforce,
    /// Senders deliver anyway and report the failure.
    Testing,
    /// The domain withdraws its policy.
    None,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

/// An `mx:` pattern: a host name, or `*.` and a domain matching one more label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxPattern(String);

impl MxPattern {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// RFC 8461 §4.1: case-insensitive; `*.example.com` matches `mx.example.com` but
    /// neither `example.com` nor `a.mx.example.com`.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        match self.0.strip_prefix("*.") {
            Some(parent) => host
                .split_once('.')
                .is_some_and(|(first, rest)| !first.is_empty() && rest == parent),
            None => host == self.0,
        }
    }
}

/// A valid policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// Seconds a sender may cache the policy.
    pub max_age: u64,
    pub mx: Vec<MxPattern>,
}

/// Parses the policy file of `domain`. Lines end in LF or CRLF; blank lines and unknown
/// fields are ignored, as senders do; `version`, `mode` and `max_age` must appear once.
pub fn parse(domain: &str, body: &str) -> Result<Policy, Finding> {
    let url = format!("https://mta-sts.{domain}/.well-known/mta-sts.txt");
    let invalid = |why: String| {
        Finding::new(
            "mta-sts-policy-invalid",
            Severity::Error,
            format!(
                "the policy at {url} is not valid: {why}; senders treat {domain} as having no MTA-STS policy"
            ),
            format!(
                "serve at {url} a text/plain file of the form \"version: STSv1\\nmode: testing\\nmx: mx1.{domain}\\nmax_age: 604800\\n\" (mode enforce, testing or none; one mx: line per MX host or *. pattern; max_age at most {MAX_AGE_LIMIT})"
            ),
        )
    };
    let (mut version, mut mode, mut max_age) = (None, None, None);
    let mut mx = Vec::new();
    for (n, line) in body.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(invalid(format!(
                "line {} (\"{line}\") is not \"key: value\"",
                n + 1
            )));
        };
        let value = value.trim_matches([' ', '\t']);
        let once = |slot: &Option<String>, key: &str| {
            if slot.is_some() {
                Err(invalid(format!("{key} appears twice")))
            } else {
                Ok(Some(value.to_owned()))
            }
        };
        match key {
            "version" => version = once(&version, key)?,
            "mode" => mode = once(&mode, key)?,
            "max_age" => max_age = once(&max_age, key)?,
            "mx" => {
                let pattern = value.to_ascii_lowercase();
                let host = pattern.strip_prefix("*.").unwrap_or(&pattern);
                if !is_hostname(host) {
                    return Err(invalid(format!(
                        "mx \"{value}\" is not a host name or *. pattern"
                    )));
                }
                mx.push(MxPattern(
                    pattern.strip_suffix('.').unwrap_or(&pattern).to_owned(),
                ));
            }
            _ => {}
        }
    }
    match version.as_deref() {
        Some("STSv1") => {}
        Some(other) => return Err(invalid(format!("version is \"{other}\", not STSv1"))),
        None => return Err(invalid("no version: line".to_owned())),
    }
    let mode = match mode.as_deref() {
        Some("enforce") => Mode::Enforce,
        Some("testing") => Mode::Testing,
        Some("none") => Mode::None,
        Some(other) => {
            return Err(invalid(format!(
                "mode is \"{other}\", not enforce, testing or none"
            )));
        }
        None => return Err(invalid("no mode: line".to_owned())),
    };
    let max_age = match max_age.as_deref() {
        None => return Err(invalid("no max_age: line".to_owned())),
        Some(text) => {
            let seconds = (text.len() <= 10 && text.bytes().all(|b| b.is_ascii_digit()))
                .then(|| text.parse::<u64>().ok())
                .flatten();
            match seconds {
                Some(s) if s <= MAX_AGE_LIMIT => s,
                _ => {
                    return Err(invalid(format!(
                        "max_age \"{text}\" is not a number of seconds up to {MAX_AGE_LIMIT}"
                    )));
                }
            }
        }
    };
    if mx.is_empty() && mode != Mode::None {
        return Err(invalid("no mx: line".to_owned()));
    }
    Ok(Policy { mode, max_age, mx })
}

/// What the policy's mode means for `domain`.
pub fn mode_finding(domain: &str, policy: &Policy) -> Option<Finding> {
    match policy.mode {
        Mode::Enforce => None,
        Mode::Testing => Some(Finding::new(
            "mta-sts-mode-testing",
            Severity::Info,
            format!(
                "the MTA-STS policy of {domain} is in testing mode: TLS failures are reported but mail is still delivered without TLS"
            ),
            "once the reports show TLS succeeding, change mode: testing to mode: enforce in the policy file and publish a new id= in the _mta-sts record",
        )),
        Mode::None => Some(Finding::new(
            "mta-sts-mode-none",
            Severity::Warning,
            format!("the MTA-STS policy of {domain} is mode none: senders do not apply MTA-STS"),
            "set mode: testing (or enforce) in the policy file and publish a new id= in the _mta-sts record, or remove the policy if that is intended",
        )),
    }
}

/// MX hosts that no pattern matches (a sender in enforce mode refuses to deliver to
/// them), and patterns that match no MX host. None for mode `none`.
pub fn mx_mismatches(domain: &str, policy: &Policy, mx_hosts: &[String]) -> Vec<Finding> {
    if policy.mode == Mode::None {
        return Vec::new();
    }
    let mut findings = Vec::new();
    for host in mx_hosts {
        if !policy.mx.iter().any(|p| p.matches(host)) {
            let (severity, effect) = match policy.mode {
                Mode::Enforce => (Severity::Error, "senders refuse to deliver to it"),
                _ => (
                    Severity::Warning,
                    "in enforce mode senders would refuse to deliver to it",
                ),
            };
            findings.push(Finding::new(
                "mta-sts-mx-mismatch",
                severity,
                format!("the MX host {host} of {domain} matches no mx: pattern of the MTA-STS policy: {effect}"),
                format!("add \"mx: {host}\" to the policy file at https://mta-sts.{domain}/.well-known/mta-sts.txt and publish a new id= in the TXT record at _mta-sts.{domain}"),
            ));
        }
    }
    for pattern in &policy.mx {
        if !mx_hosts.iter().any(|h| pattern.matches(h)) {
            findings.push(Finding::new(
                "mta-sts-mx-mismatch",
                Severity::Warning,
                format!("the mx: pattern {} of the MTA-STS policy of {domain} matches none of its MX hosts", pattern.as_str()),
                format!("remove \"mx: {}\" from the policy file, or publish the MX record it was meant for, then publish a new id= at _mta-sts.{domain}", pattern.as_str()),
            ));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.backup.example.com\r\nmax_age: 604800\r\n";

    #[test]
    fn a_valid_policy_parses() {
        let p = parse("example.com", GOOD).unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 604_800);
        assert_eq!(p.mx.len(), 2);
        assert_eq!(
            parse("example.com", &GOOD.replace("\r\n", "\n")).unwrap(),
            p
        );
    }

    #[test]
    fn invalid_policies_say_why() {
        let why = |body: &str| parse("example.com", body).unwrap_err().message;
        assert!(why(&GOOD.replace("STSv1", "STSv2")).contains("STSv2"));
        assert!(why(&GOOD.replace("mode: enforce", "mode: strict")).contains("strict"));
        assert!(why(&GOOD.replace("604800", "31557601")).contains("max_age"));
        assert!(why(&GOOD.replace("604800", "-1")).contains("max_age"));
        assert!(why("version: STSv1\nmode: enforce\nmax_age: 86400\n").contains("no mx"));
        assert!(why("mode: enforce\nmx: a.example.com\nmax_age: 86400\n").contains("no version"));
        assert!(why(&format!("{GOOD}mode: testing\n")).contains("twice"));
        assert!(why(&GOOD.replace("mx: mx1.example.com", "mx: mx1..example.com")).contains("mx"));
        assert!(why("<html>not found</html>").contains("key: value"));
        let f = parse("example.com", "").unwrap_err();
        assert_eq!(f.code, "mta-sts-policy-invalid");
        assert!(
            f.fix
                .contains("https://mta-sts.example.com/.well-known/mta-sts.txt")
        );
        // Mode none needs no mx.
        assert!(
            parse(
                "example.com",
                "version: STSv1\nmode: none\nmax_age: 86400\n"
            )
            .is_ok()
        );
    }

    #[test]
    fn wildcards_match_one_label() {
        let p = MxPattern("*.example.com".into());
        assert!(p.matches("mx.example.com"));
        assert!(p.matches("MX.Example.COM."));
        assert!(!p.matches("example.com"));
        assert!(!p.matches("a.mx.example.com"));
        assert!(!p.matches("mxexample.com"));
        assert!(MxPattern("mx.example.com".into()).matches("mx.example.com."));
    }

    #[test]
    fn mx_mismatches_name_the_host_and_the_pattern() {
        let p = parse("example.com", GOOD).unwrap();
        let hosts = vec!["mx1.example.com".to_owned(), "mx2.example.com".to_owned()];
        let findings = mx_mismatches("example.com", &p, &hosts);
        assert_eq!(findings.len(), 2, "{findings:?}");
        assert_eq!(findings[0].code, "mta-sts-mx-mismatch");
        assert_eq!(findings[0].severity, Severity::Error);
        assert!(findings[0].fix.contains("mx: mx2.example.com"));
        assert!(findings[1].message.contains("*.backup.example.com"));
        assert_eq!(findings[1].severity, Severity::Warning);
        let testing = Policy {
            mode: Mode::Testing,
            ..p.clone()
        };
        assert_eq!(
            mx_mismatches("example.com", &testing, &hosts)[0].severity,
            Severity::Warning
        );
        let none = Policy {
            mode: Mode::None,
            ..p
        };
        assert!(mx_mismatches("example.com", &none, &hosts).is_empty());
    }

    #[test]
    fn modes() {
        let p = parse("example.com", &GOOD.replace("enforce", "testing")).unwrap();
        assert_eq!(
            mode_finding("example.com", &p).unwrap().code,
            "mta-sts-mode-testing"
        );
        let p = parse("example.com", GOOD).unwrap();
        assert!(mode_finding("example.com", &p).is_none());
    }
}
