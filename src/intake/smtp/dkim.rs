//! DKIM check of reports received by SMTP (RFC 8460 §3).
//!
//! - **in**: the raw message bytes as received, and the domains of the reporting side (the
//!   `From` address, the report's `contact-info` and the `TLS-Report-Submitter` header; see
//!   [`reporting_domains`]);
//! - **out**: a [`DkimOutcome`]: the DKIM result (`pass`, `fail`, `none`, `temperror`,
//!   `permerror`, `policy` or `off`), whether a passing signature is aligned with the reporting
//!   side, the `d=` of every signature seen and a human-readable detail.
//!
//! A report counts ([`DkimOutcome::counts`]) only with a passing signature that has no `l=`
//! tag and whose `d=` shares the organizational domain (the registrable domain per the Public
//! Suffix List) with one of the reporting domains. The key record is not required to carry
//! `s=tlsrpt`: real senders do not publish it.
//!
//! Signatures are verified by `mail-auth` through a hickory resolver: the system's
//! ([`DkimVerifier::system`]) or a given name server ([`DkimVerifier::with_nameserver`]).
//! What to do with a report that does not count is [`decide`]d by the [`DkimMode`].

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use mail_auth::dkim::Signature;
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator};

/// What to do with reports whose DKIM check does not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DkimMode {
    /// Reports without a passing, aligned DKIM signature are quarantined (RFC 8460 §3).
    #[default]
    Enforce,
    /// Such reports are stored and flagged.
    Record,
    /// DKIM is not checked.
    Off,
}

impl DkimMode {
    /// The name used on the command line and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            DkimMode::Enforce => "enforce",
            DkimMode::Record => "record",
            DkimMode::Off => "off",
        }
    }
}

impl fmt::Display for DkimMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DkimMode {
    type Err = DkimError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "enforce" => Ok(DkimMode::Enforce),
            "record" => Ok(DkimMode::Record),
            "off" => Ok(DkimMode::Off),
            _ => Err(DkimError::InvalidMode(s.to_string())),
        }
    }
}

/// The DKIM result of one message is kept in the submission's envelope.
pub use crate::pipeline::DkimOutcome;

/// What the intake does with a report given the mode and the DKIM outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DkimDecision {
    /// Store the report normally.
    Accept,
    /// Store the report, flagged as not DKIM-verified.
    AcceptFlagged,
    /// Quarantine the report; the reason carries the DKIM result.
    Quarantine(String),
}

/// Applies the mode to an outcome.
pub fn decide(mode: DkimMode, outcome: &DkimOutcome) -> DkimDecision {
    match mode {
        DkimMode::Off => DkimDecision::Accept,
        _ if outcome.counts() => DkimDecision::Accept,
        DkimMode::Record => DkimDecision::AcceptFlagged,
        DkimMode::Enforce => {
            DkimDecision::Quarantine(format!("dkim={}: {}", outcome.result, outcome.detail))
        }
    }
}

/// Errors setting up DKIM verification.
#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    #[error("cannot set up the DNS resolver: {0}")]
    Resolver(String),
    #[error("unknown DKIM mode {0:?} (expected enforce, record or off)")]
    InvalidMode(String),
}

/// Verifies DKIM signatures through a DNS resolver.
pub struct DkimVerifier {
    authenticator: MessageAuthenticator,
}

impl fmt::Debug for DkimVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkimVerifier").finish_non_exhaustive()
    }
}

impl DkimVerifier {
    /// Uses the system's resolver configuration (`/etc/resolv.conf`).
    pub fn system() -> Result<Self, DkimError> {
        let authenticator = MessageAuthenticator::new_system_conf()
            .map_err(|e| DkimError::Resolver(e.to_string()))?;
        Ok(DkimVerifier { authenticator })
    }

    /// Queries only the name server at `addr`, over UDP (and TCP for truncated answers),
    /// without caching answers.
    pub fn with_nameserver(addr: SocketAddr) -> Result<Self, DkimError> {
        let mut udp = ConnectionConfig::udp();
        udp.port = addr.port();
        let mut tcp = ConnectionConfig::tcp();
        tcp.port = addr.port();
        let server = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
        let config = ResolverConfig::from_parts(None, Vec::new(), vec![server]);
        let mut opts = ResolverOpts::default();
        opts.cache_size = 0;
        opts.timeout = Duration::from_secs(3);
        opts.attempts = 2;
        let authenticator = MessageAuthenticator::new(config, opts)
            .map_err(|e| DkimError::Resolver(e.to_string()))?;
        Ok(DkimVerifier { authenticator })
    }

    /// Verifies every DKIM signature of `message` and judges them against the reporting
    /// side's domains (see [`reporting_domains`]).
    pub async fn verify(&self, message: &[u8], reporting_domains: &[String]) -> DkimOutcome {
        // Non-strict: signatures with `l=` are verified too (strict mode would drop them
        // unverified), then refused here as `policy` with their `d=` known.
        let Some(parsed) = AuthenticatedMessage::parse_with_opts(message, None, false) else {
            return DkimOutcome {
                result: "permerror".to_string(),
                aligned: false,
                signing_domains: Vec::new(),
                detail: "permerror: the message headers could not be parsed".to_string(),
            };
        };
        let outputs = self.authenticator.verify_dkim(&parsed).await;
        let evals: Vec<SigEval> = outputs
            .iter()
            .filter_map(|out| {
                let status = match out.result() {
                    DkimResult::Pass => Status::Pass,
                    DkimResult::Fail(e) => Status::Fail(describe_error(e)),
                    DkimResult::Neutral(e) => match e {
                        mail_auth::Error::Dkim(
                            mail_auth::dkim::DkimError::FailedBodyHashMatch
                            | mail_auth::dkim::DkimError::SignatureExpired
                            | mail_auth::dkim::DkimError::FailedAuidMatch,
                        ) => Status::Fail(describe_error(e)),
                        _ => Status::PermError(describe_error(e)),
                    },
                    DkimResult::PermError(e) => Status::PermError(describe_error(e)),
                    DkimResult::TempError(e) => Status::TempError(describe_error(e)),
                    DkimResult::None => return None,
                };
                let signature = out.signature();
                let domain = signature
                    .map(|s| s.d.trim_end_matches('.').to_ascii_lowercase())
                    .unwrap_or_default();
                let has_l = signature.is_some_and(|s| has_length_tag(&parsed, s));
                Some(SigEval {
                    domain,
                    status,
                    has_l,
                })
            })
            .collect();
        judge(&evals, reporting_domains)
    }
}

enum Status {
    Pass,
    Fail(String),
    TempError(String),
    PermError(String),
}

struct SigEval {
    domain: String,
    status: Status,
    has_l: bool,
}

fn describe_error(e: &mail_auth::Error) -> String {
    match e {
        mail_auth::Error::Dkim(mail_auth::dkim::DkimError::FailedBodyHashMatch) => {
            "body hash did not verify".to_string()
        }
        mail_auth::Error::Dkim(mail_auth::dkim::DkimError::SignatureLength) => {
            "l= tag present".to_string()
        }
        mail_auth::Error::Crypto(_) => format!("signature did not verify ({e})"),
        mail_auth::Error::Dns(_) => format!("key lookup failed ({e})"),
        _ => e.to_string(),
    }
}

/// Whether the signature carries an `l=` tag. mail-auth stores `l` as 0 when absent, so the
/// raw header is checked as well (an explicit `l=0` is still a body length limit).
fn has_length_tag(message: &AuthenticatedMessage<'_>, signature: &Signature) -> bool {
    if signature.l > 0 {
        return true;
    }
    message
        .dkim_headers
        .iter()
        .find(|h| std::ptr::eq(&h.header, signature))
        .is_some_and(|h| raw_has_tag(h.value, b"l"))
}

/// Whether a raw tag-list (`a=b; c=d`) has the tag `name`.
fn raw_has_tag(value: &[u8], name: &[u8]) -> bool {
    value.split(|&b| b == b';').any(|tag| {
        let Some(eq) = tag.iter().position(|&b| b == b'=') else {
            return false;
        };
        let key: Vec<u8> = tag[..eq]
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        key.eq_ignore_ascii_case(name)
    })
}

/// The organizational (registrable) domain of `domain` per the Public Suffix List, or the
/// domain itself when it has none (e.g. it is a public suffix).
pub fn organizational_domain(domain: &str) -> String {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    match psl::domain_str(&domain) {
        Some(org) => org.to_string(),
        None => domain,
    }
}

fn judge(evals: &[SigEval], reporting_domains: &[String]) -> DkimOutcome {
    let mut signing_domains: Vec<String> = Vec::new();
    for e in evals {
        if !e.domain.is_empty() && !signing_domains.contains(&e.domain) {
            signing_domains.push(e.domain.clone());
        }
    }
    let reporting_orgs: Vec<(String, &str)> = reporting_domains
        .iter()
        .map(|d| (organizational_domain(d), d.as_str()))
        .collect();
    let aligned_with = |domain: &str| -> Option<&str> {
        let org = organizational_domain(domain);
        reporting_orgs
            .iter()
            .find(|(o, _)| !o.is_empty() && *o == org)
            .map(|(_, d)| *d)
    };
    let outcome = |result: &str, aligned: bool, detail: String| DkimOutcome {
        result: result.to_string(),
        aligned,
        signing_domains: signing_domains.clone(),
        detail,
    };

    let passing: Vec<&SigEval> = evals
        .iter()
        .filter(|e| matches!(e.status, Status::Pass))
        .collect();
    // 1. a passing signature without l= that is aligned
    for e in passing.iter().filter(|e| !e.has_l) {
        if let Some(with) = aligned_with(&e.domain) {
            return outcome(
                "pass",
                true,
                format!(
                    "pass: d={} aligned with reporting domain {}",
                    e.domain, with
                ),
            );
        }
    }
    // 2. a passing signature without l= that is not aligned
    if let Some(e) = passing.iter().find(|e| !e.has_l) {
        let detail = if reporting_domains.is_empty() {
            format!(
                "pass but d={} cannot be aligned: no reporting domain known",
                e.domain
            )
        } else {
            format!(
                "pass but d={} does not share the organizational domain of {}",
                e.domain,
                reporting_domains.join(", ")
            )
        };
        return outcome("pass", false, detail);
    }
    // 3. passing only with l=
    if let Some(e) = passing.first() {
        return outcome(
            "policy",
            false,
            format!("pass but l= tag present (d={})", e.domain),
        );
    }
    // 4. failures, most transient first
    let pick = |want: fn(&Status) -> Option<&String>| {
        evals
            .iter()
            .find_map(|e| want(&e.status).map(|why| (e.domain.as_str(), why.as_str())))
    };
    let with_domain = |result: &str, (domain, why): (&str, &str)| {
        if domain.is_empty() {
            format!("{result}: {why}")
        } else {
            format!("{result}: {why} (d={domain})")
        }
    };
    if let Some(found) = pick(|s| match s {
        Status::TempError(w) => Some(w),
        _ => None,
    }) {
        return outcome("temperror", false, with_domain("temperror", found));
    }
    if let Some(found) = pick(|s| match s {
        Status::Fail(w) => Some(w),
        _ => None,
    }) {
        return outcome("fail", false, with_domain("fail", found));
    }
    if let Some(found) = pick(|s| match s {
        Status::PermError(w) => Some(w),
        _ => None,
    }) {
        return outcome("permerror", false, with_domain("permerror", found));
    }
    outcome(
        "none",
        false,
        "none: the message has no DKIM signature".to_string(),
    )
}

/// Domains of the reporting side: from the `From` header value, the report's `contact-info`
/// and the `TLS-Report-Submitter` header. Each may be an address (`tlsrpt@x.com`,
/// `Name <tlsrpt@x.com>`), a `mailto:` URI, an `https://` URL or a plain domain; several may
/// be separated by commas. Returns them lowercased and deduplicated.
pub fn reporting_domains(
    from: Option<&str>,
    contact_info: Option<&str>,
    submitter: Option<&str>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in [from, contact_info, submitter].into_iter().flatten() {
        for part in value.split(',') {
            if let Some(domain) = domain_of(part)
                && !out.contains(&domain)
            {
                out.push(domain);
            }
        }
    }
    out
}

fn domain_of(part: &str) -> Option<String> {
    let mut s = part.trim();
    // `Name <addr>` form
    if let (Some(open), Some(close)) = (s.rfind('<'), s.rfind('>'))
        && open < close
    {
        s = s[open + 1..close].trim();
    }
    let lower = s.to_ascii_lowercase();
    let mut s = lower.as_str();
    if let Some(rest) = s.strip_prefix("mailto:") {
        s = rest;
    } else if let Some(idx) = s.find("://") {
        // URL: take the authority
        let rest = &s[idx + 3..];
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        s = &rest[..end];
        if let Some(at) = s.rfind('@') {
            s = &s[at + 1..];
        }
        if let Some(colon) = s.find(':') {
            s = &s[..colon];
        }
    }
    let end = s.find(['?', '#', '/', '>', ' ', '\t']).unwrap_or(s.len());
    s = &s[..end];
    if let Some(at) = s.rfind('@') {
        s = &s[at + 1..];
    }
    let s = s.trim().trim_end_matches('.');
    let valid = !s.is_empty()
        && s.contains('.')
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    valid.then(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(result: &str, aligned: bool) -> DkimOutcome {
        DkimOutcome {
            result: result.to_string(),
            aligned,
            signing_domains: vec!["reporter.example".to_string()],
            detail: format!("{result}: test"),
        }
    }

    #[test]
    fn mode_parses_and_displays() {
        for mode in [DkimMode::Enforce, DkimMode::Record, DkimMode::Off] {
            assert_eq!(mode.to_string().parse::<DkimMode>().unwrap(), mode);
        }
        assert_eq!("ENFORCE".parse::<DkimMode>().unwrap(), DkimMode::Enforce);
        assert!("strict".parse::<DkimMode>().is_err());
        assert_eq!(DkimMode::default(), DkimMode::Enforce);
    }

    #[test]
    fn decide_each_mode_and_case() {
        let pass = outcome("pass", true);
        let misaligned = outcome("pass", false);
        let cases = [
            outcome("fail", false),
            outcome("none", false),
            outcome("policy", false),
            outcome("temperror", false),
            outcome("permerror", false),
            misaligned,
        ];
        assert!(pass.counts());
        assert_eq!(decide(DkimMode::Enforce, &pass), DkimDecision::Accept);
        assert_eq!(decide(DkimMode::Record, &pass), DkimDecision::Accept);
        assert_eq!(decide(DkimMode::Off, &pass), DkimDecision::Accept);
        for o in &cases {
            assert!(!o.counts(), "{o:?}");
            match decide(DkimMode::Enforce, o) {
                DkimDecision::Quarantine(reason) => {
                    assert!(reason.contains(&o.result), "{reason}")
                }
                other => panic!("{other:?} for {o:?}"),
            }
            assert_eq!(decide(DkimMode::Record, o), DkimDecision::AcceptFlagged);
            assert_eq!(decide(DkimMode::Off, o), DkimDecision::Accept);
        }
        assert_eq!(
            decide(DkimMode::Enforce, &DkimOutcome::off()),
            DkimDecision::Quarantine("dkim=off: off: DKIM checking is disabled".to_string())
        );
        assert_eq!(
            decide(DkimMode::Off, &DkimOutcome::off()),
            DkimDecision::Accept
        );
    }

    #[test]
    fn extracts_reporting_domains() {
        let d = reporting_domains(
            Some("TLS Reports <NoReply-SMTP-TLS@Google.com>"),
            Some("mailto:smtp-tls-reporting@google.com?subject=x"),
            Some("google.com"),
        );
        assert_eq!(d, vec!["google.com".to_string()]);
        let d = reporting_domains(
            Some("tlsrpt@mail.example.net"),
            Some("https://user@reports.example.org:8443/contact?x=y"),
            None,
        );
        assert_eq!(
            d,
            vec![
                "mail.example.net".to_string(),
                "reports.example.org".to_string()
            ]
        );
        assert!(reporting_domains(Some("not an address"), Some(""), None).is_empty());
        assert_eq!(
            reporting_domains(None, Some("a@x.example, b@y.example."), None),
            vec!["x.example".to_string(), "y.example".to_string()]
        );
    }

    #[test]
    fn organizational_domains_use_the_psl() {
        assert_eq!(organizational_domain("mx.mail.google.com"), "google.com");
        assert_eq!(organizational_domain("a.b.example.co.uk"), "example.co.uk");
        assert_eq!(
            organizational_domain("reporter.example"),
            "reporter.example"
        );
        assert_eq!(
            organizational_domain("Sub.Reporter.Example."),
            "reporter.example"
        );
        assert_eq!(organizational_domain("co.uk"), "co.uk");
    }

    #[test]
    fn raw_tag_detection() {
        assert!(raw_has_tag(b"v=1; a=rsa-sha256; l=0; d=x", b"l"));
        assert!(raw_has_tag(b"v=1;\r\n\tL = 12", b"l"));
        assert!(!raw_has_tag(b"v=1; a=rsa-sha256; d=l.example; b=l=", b"l"));
    }

    fn eval(domain: &str, status: Status, has_l: bool) -> SigEval {
        SigEval {
            domain: domain.to_string(),
            status,
            has_l,
        }
    }

    #[test]
    fn judge_prefers_counting_signature() {
        let rep = vec!["reporter.example".to_string()];
        let o = judge(
            &[
                eval("evil.example", Status::Pass, false),
                eval("mail.reporter.example", Status::Pass, false),
            ],
            &rep,
        );
        assert!(o.counts(), "{o:?}");
        assert_eq!(
            o.signing_domains,
            vec!["evil.example", "mail.reporter.example"]
        );
        let o = judge(
            &[
                eval("reporter.example", Status::Pass, true),
                eval("reporter.example", Status::Fail("x".into()), false),
            ],
            &rep,
        );
        assert_eq!(o.result, "policy");
        let o = judge(
            &[
                eval(
                    "reporter.example",
                    Status::PermError("no key".into()),
                    false,
                ),
                eval(
                    "reporter.example",
                    Status::TempError("timeout".into()),
                    false,
                ),
            ],
            &rep,
        );
        assert_eq!(o.result, "temperror");
        assert_eq!(o.detail, "temperror: timeout (d=reporter.example)");
        let o = judge(&[], &rep);
        assert_eq!(o.result, "none");
    }
}
