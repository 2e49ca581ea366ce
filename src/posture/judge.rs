//! The findings of one check, from the facts it gathered: pure functions, no I/O.
//!
//! In: a probe result, a fetch error, a failed look-up, the live policy against the
//! previous check and the reports. Out: [`Finding`]s, each with a code, a severity, what
//! is wrong and the fix naming the record or host to change. `check.rs` gathers the
//! facts and calls these; the record and policy findings live with their parsers
//! (`records.rs`, `policy.rs`).

use chrono::Utc;

use super::check::{EXPIRY_WARNING_DAYS, OwnDestinations, Previous, ReportContext};
use super::fetch::FetchError;
use super::probe::ProbeResult;
use super::{Finding, Severity};

/// A finding for what a probe found.
pub(super) fn probe_findings(p: &ProbeResult, port: u16) -> Vec<Finding> {
    let host = &p.host;
    let mut out = Vec::new();
    if !p.connected {
        out.push(Finding::new(
            "mx-unreachable",
            Severity::Warning,
            format!(
                "the MX host {host} ({}) could not be probed on port {port}: {}",
                p.address,
                p.error.as_deref().unwrap_or("no SMTP greeting")
            ),
            format!(
                "check that {host} accepts SMTP connections from the internet on port {port}; if this tlsrptd's network blocks outgoing port {port}, the probe cannot run from here"
            ),
        ));
        return out;
    }
    if !p.starttls {
        out.push(Finding::new(
            "mx-starttls-missing",
            Severity::Error,
            format!("the MX host {host} does not offer STARTTLS: mail to it travels unencrypted, and senders in enforce mode refuse to deliver"),
            format!("enable STARTTLS on the SMTP server of {host} with a certificate valid for {host}"),
        ));
        return out;
    }
    if let Some(reason) = &p.certificate_error {
        out.push(Finding::new(
            "mx-certificate-invalid",
            Severity::Error,
            format!("the STARTTLS certificate of the MX host {host} is not valid for it: {reason}; senders with MTA-STS in enforce mode refuse to deliver (in testing mode they report a failure)"),
            format!("install a certificate for {host} from a public certificate authority (e.g. Let's Encrypt), with the full chain, on the SMTP server of {host}"),
        ));
    } else if let Some(error) = &p.error {
        out.push(Finding::new(
            "mx-starttls-failed",
            Severity::Error,
            format!("STARTTLS with the MX host {host} failed: {error}"),
            format!("check the TLS configuration of the SMTP server of {host}: protocol versions (TLS 1.2 or later) and ciphers"),
        ));
    }
    if let Some(days) = p.certificate_days_left
        && days < EXPIRY_WARNING_DAYS
    {
        out.push(Finding::new(
            "mx-certificate-expiring",
            Severity::Warning,
            format!("the certificate of the MX host {host} expires in {days} day(s)"),
            format!(
                "renew the certificate of {host} now and check that its automatic renewal runs"
            ),
        ));
    }
    out
}

pub(super) fn fetch_finding(domain: &str, url: &str, error: &FetchError) -> Finding {
    match error {
        FetchError::Certificate { host, reason } => Finding::new(
            "mta-sts-policy-certificate",
            Severity::Error,
            format!(
                "the policy of {domain} cannot be fetched securely: the certificate of {host} is not valid ({reason}); senders ignore the policy"
            ),
            format!(
                "install a certificate for {host} from a public certificate authority, with the full chain, on the web server serving {url}"
            ),
        ),
        FetchError::MediaType { .. } | FetchError::TooLarge { .. } => Finding::new(
            "mta-sts-policy-invalid",
            Severity::Error,
            format!("the policy of {domain} is not usable: {error}"),
            format!(
                "serve {url} as text/plain, at most 64 KiB, with the lines version, mode, mx and max_age"
            ),
        ),
        FetchError::Status {
            location: Some(_), ..
        } => Finding::new(
            "mta-sts-policy-unreachable",
            Severity::Error,
            format!("the policy of {domain} cannot be fetched: {error}"),
            format!(
                "serve the policy at {url} itself with status 200; senders do not follow redirects (RFC 8461 §3.3)"
            ),
        ),
        _ => Finding::new(
            "mta-sts-policy-unreachable",
            Severity::Error,
            format!("the policy of {domain} cannot be fetched: {error}"),
            format!(
                "serve the policy file at {url} over HTTPS with status 200 and Content-Type: text/plain"
            ),
        ),
    }
}

pub(super) fn lookup_failed(domain: &str, what: &str, error: &str) -> Finding {
    Finding::new(
        "dns-lookup-failed",
        Severity::Warning,
        format!("the look-up of {what} for {domain} failed: {error}; this part was not checked"),
        format!(
            "check that the name servers of {domain} answer (SERVFAIL or a time-out also makes senders skip the record); the next check tries again"
        ),
    )
}

pub(super) fn own_example(own: &OwnDestinations) -> String {
    if let Some(url) = own.https.first() {
        return url.clone();
    }
    own.mailto
        .first()
        .map(|m| {
            let m = m.trim();
            match m.strip_prefix("*@") {
                Some(domain) => format!("mailto:tlsrpt@{domain}"),
                None => format!("mailto:{m}"),
            }
        })
        .unwrap_or_default()
}

/// A policy's lines as compared: trimmed, without empty lines, in order of key.
pub fn policy_lines<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = lines
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    out.sort();
    out
}

/// `mta-sts-id-not-bumped`: the policy text changed while the id stayed, seen against
/// the previous check, or against the reports (which carry the text senders fetched).
pub(super) fn id_not_bumped(
    domain: &str,
    id: &str,
    live: &[String],
    context: &ReportContext,
    previous: Option<&Previous>,
) -> Option<Finding> {
    let same_id_before = previous.filter(|p| p.sts_id.as_deref() == Some(id));
    let changed_since_check = same_id_before
        .and_then(|p| p.policy_lines.as_deref())
        .is_some_and(|before| before != live);
    // A report started after a check that already saw this id used the policy of this
    // id; if its text differs from the live one, the file changed under the same id.
    let changed_since_report = match (same_id_before, &context.latest_reported_policy) {
        (Some(p), Some((start, reported))) => {
            *start >= p.checked_at && policy_lines(reported.iter().map(String::as_str)) != live
        }
        _ => false,
    };
    if !(changed_since_check || changed_since_report) {
        return None;
    }
    Some(Finding::new(
        "mta-sts-id-not-bumped",
        Severity::Error,
        format!(
            "the MTA-STS policy file of {domain} changed but the id in _mta-sts.{domain} is still {id}: senders that cached the old policy keep using it until max_age runs out"
        ),
        format!(
            "publish a new id in the TXT record at _mta-sts.{domain}, e.g. \"v=STSv1; id={}\"",
            Utc::now().format("%Y%m%d%H%M%S")
        ),
    ))
}
