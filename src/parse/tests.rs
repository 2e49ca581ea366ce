//! One test per real-world shape, each on a sample of our own in `sample-reports/`,
//! plus the payloads that must be rejected.

use super::{ParseError, ParseLimits, parse_report};
use crate::report::Report;

fn parse(bytes: &[u8]) -> Report {
    match parse_report(bytes, &ParseLimits::default()) {
        Ok(r) => r,
        Err(e) => panic!("expected a report, got {} ({e})", e.code()),
    }
}

fn reject(bytes: &[u8]) -> ParseError {
    match parse_report(bytes, &ParseLimits::default()) {
        Ok(r) => panic!("expected a rejection, got {r:?}"),
        Err(e) => e,
    }
}

fn codes(r: &Report) -> Vec<&str> {
    r.warnings.iter().map(|w| w.code.as_str()).collect()
}

#[test]
fn rfc_style_mx_host_string() {
    let r = parse(include_bytes!(
        "../../sample-reports/rfc-style-mx-host-string.json"
    ));
    assert_eq!(codes(&r), ["mx-host-not-array"]);
    assert_eq!(r.organization_name, "Example Mail Org");
    assert_eq!(r.report_id, "2026-03-01T00:00:00Z_example.net");
    assert_eq!(r.contact_info.as_deref(), Some("tlsrpt-admin@example.org"));
    assert_eq!(r.start.to_rfc3339(), "2026-03-01T00:00:00+00:00");
    assert_eq!(r.end.to_rfc3339(), "2026-03-01T23:59:59+00:00");
    assert_eq!(r.policies.len(), 1);
    let p = &r.policies[0];
    assert_eq!(p.policy_type, "sts");
    assert_eq!(p.policy_domain.as_deref(), Some("example.net"));
    assert_eq!(p.policy_string.len(), 4);
    assert_eq!(p.mx_host, ["mx1.example.net"]);
    assert_eq!((p.total_successful, p.total_failed), (4200, 7));
    let d = &p.failure_details[0];
    assert_eq!(d.result_type, "certificate-expired");
    assert_eq!(d.sending_mta_ip.as_deref(), Some("192.0.2.10"));
    assert_eq!(d.receiving_mx_hostname.as_deref(), Some("mx1.example.net"));
    assert_eq!(d.receiving_mx_helo.as_deref(), Some("mx1.example.net"));
    assert_eq!(d.receiving_ip.as_deref(), Some("198.51.100.25"));
    assert_eq!(d.failed_session_count, 7);
    assert_eq!(
        d.failure_reason_code.as_deref(),
        Some("X509_V_ERR_CERT_HAS_EXPIRED")
    );
}

#[test]
fn date_without_offset() {
    let r = parse(include_bytes!(
        "../../sample-reports/date-without-offset.json"
    ));
    assert_eq!(codes(&r), ["date-without-offset", "date-without-offset"]);
    assert!(
        r.warnings[0]
            .detail
            .starts_with("date-range.start-datetime")
    );
    assert_eq!(r.start.to_rfc3339(), "2026-02-10T00:00:00+00:00");
    assert_eq!(r.end.to_rfc3339(), "2026-02-10T23:59:59+00:00");
    assert!(r.policies[0].mx_host.is_empty());
    assert_eq!(r.total_successful(), 12);
}

#[test]
fn next_day_midnight_end() {
    let r = parse(include_bytes!(
        "../../sample-reports/next-day-midnight-end.json"
    ));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.end.to_rfc3339(), "2026-04-06T00:00:00+00:00");
    assert_eq!((r.total_successful(), r.total_failed()), (31, 0));
}

#[test]
fn contact_info_null_and_hostname_org() {
    let r = parse(include_bytes!(
        "../../sample-reports/contact-info-null-hostname-org.json"
    ));
    assert_eq!(codes(&r), ["contact-info-missing"]);
    assert_eq!(r.organization_name, "mx.example.org");
    assert_eq!(r.report_id, "1777593600_1234567890123456789");
    assert_eq!(r.contact_info, None);
    let p = &r.policies[0];
    assert_eq!(p.policy_type, "tlsa");
    assert!(p.mx_host.is_empty() && p.failure_details.is_empty());
}

#[test]
fn no_policy_found_without_domain() {
    let r = parse(include_bytes!(
        "../../sample-reports/no-policy-found-no-domain.json"
    ));
    assert_eq!(codes(&r), ["policy-domain-missing"]);
    assert_eq!(
        r.warnings[0].detail,
        "policies[0].policy.policy-domain: missing or empty"
    );
    let p = &r.policies[0];
    assert_eq!(p.policy_type, "no-policy-found");
    assert_eq!(p.policy_domain, None);
    assert!(p.policy_string.is_empty() && p.mx_host.is_empty());
    assert_eq!((p.total_successful, p.total_failed), (2, 0));
}

#[test]
fn microsoft_style_tlsa_and_sts() {
    let r = parse(include_bytes!(
        "../../sample-reports/microsoft-style-tlsa-sts.json"
    ));
    assert_eq!(codes(&r), ["policy-string-nested-json"]);
    assert_eq!(r.policies.len(), 2);
    let tlsa = &r.policies[0];
    assert_eq!(tlsa.policy_type, "tlsa");
    assert_eq!(tlsa.policy_string.len(), 2);
    assert!(tlsa.policy_string[0].starts_with("3 1 1 AAAA"));
    assert!(tlsa.policy_string[1].starts_with("3 1 1 CCCC"));
    let d = &tlsa.failure_details[0];
    assert_eq!(d.result_type, "validation-failure");
    assert_eq!(d.failed_session_count, 2);
    assert_eq!(d.sending_mta_ip, None);
    assert_eq!(d.receiving_mx_hostname, None);
    assert_eq!(r.policies[1].policy_type, "sts");
    // Same sessions under both policies: counted twice, as reported.
    assert_eq!((r.total_successful(), r.total_failed()), (80, 4));
}

#[test]
fn policy_string_trailing_cr() {
    let r = parse(include_bytes!(
        "../../sample-reports/policy-string-trailing-cr.json"
    ));
    assert_eq!(codes(&r), ["policy-string-trailing-cr"]);
    assert_eq!(
        r.policies[0].policy_string,
        [
            "version: STSv1",
            "mode: testing",
            "mx: mx.example.net",
            "max_age: 86400"
        ]
    );
}

#[test]
fn empty_sending_mta_ip() {
    let r = parse(include_bytes!(
        "../../sample-reports/empty-sending-mta-ip.json"
    ));
    assert_eq!(codes(&r), ["empty-field"]);
    assert!(
        r.warnings[0]
            .detail
            .starts_with("policies[0].failure-details[0].sending-mta-ip")
    );
    let d = &r.policies[0].failure_details[0];
    assert_eq!(d.sending_mta_ip, None);
    assert_eq!(d.receiving_ip.as_deref(), Some("203.0.113.5"));
    assert_eq!(d.failed_session_count, 1);
}

#[test]
fn misspelled_receiving_mx_host_name() {
    let r = parse(include_bytes!(
        "../../sample-reports/misspelled-receiving-mx-host-name.json"
    ));
    assert_eq!(codes(&r), ["misspelled-field"]);
    let d = &r.policies[0].failure_details[0];
    assert_eq!(d.receiving_mx_hostname.as_deref(), Some("mail.example.net"));
    assert_eq!(d.result_type, "starttls-not-supported");
    assert_eq!((r.total_successful(), r.total_failed()), (100, 3));
}

#[test]
fn free_text_failure_reason_code() {
    let r = parse(include_bytes!(
        "../../sample-reports/free-text-failure-reason.json"
    ));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let d = &r.policies[0].failure_details[0];
    assert_eq!(d.sending_mta_ip, None);
    let reason = d.failure_reason_code.as_deref().unwrap_or_default();
    assert!(reason.starts_with("unable to do http request: Get \"https://mta-sts.example.net/"));
    assert!(reason.ends_with("awaiting headers)"));
}

#[test]
fn counts_mismatch_is_flagged_not_rejected() {
    let r = parse(include_bytes!("../../sample-reports/counts-mismatch.json"));
    assert_eq!(codes(&r), ["failure-count-mismatch"]);
    assert_eq!(
        r.warnings[0].detail,
        "policies[0].failure-details: failed-session-count sums to 2 but total-failure-session-count is 1"
    );
    assert_eq!(r.total_failed(), 1);
    assert_eq!(r.policies[0].failure_details.len(), 2);
}

#[test]
fn two_sts_policies_same_domain() {
    let r = parse(include_bytes!(
        "../../sample-reports/two-sts-policies-same-domain.json"
    ));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.policies.len(), 2);
    assert!(
        r.policies
            .iter()
            .all(|p| p.policy_type == "sts" && p.policy_domain.as_deref() == Some("example.net"))
    );
    assert_ne!(r.policies[0].policy_string, r.policies[1].policy_string);
    assert_eq!((r.total_successful(), r.total_failed()), (13, 1));
}

#[test]
fn unknown_result_type_kept_verbatim() {
    let r = parse(include_bytes!(
        "../../sample-reports/unknown-result-type.json"
    ));
    assert_eq!(codes(&r), ["unknown-result-type"]);
    assert_eq!(
        r.warnings[0].detail,
        "policies[0].failure-details[0].result-type: \"Testing\" is not an RFC 8460 result type"
    );
    assert_eq!(r.policies[0].failure_details[0].result_type, "Testing");
}

#[test]
fn unknown_keys_ignored_once_per_path() {
    let r = parse(include_bytes!("../../sample-reports/unknown-keys.json"));
    assert!(codes(&r).iter().all(|c| *c == "unknown-field"));
    let mut details: Vec<&str> = r.warnings.iter().map(|w| w.detail.as_str()).collect();
    details.sort_unstable();
    // x-fetched-at appears in both policies but is warned about once.
    assert_eq!(details.len(), 5, "{details:?}");
    assert!(details[0].starts_with("date-range.timezone-hint"));
    assert!(details[1].starts_with("policies[0].failure-details[0].x-note"));
    assert!(details[2].starts_with("policies[0].policy.x-fetched-at"));
    assert!(details[3].starts_with("policies[0].summary.x-tls13-sessions"));
    assert!(details[4].starts_with("x-sender-version"));
    assert_eq!(r.policies.len(), 2);
    assert_eq!((r.total_successful(), r.total_failed()), (10, 1));
}

// ---- rejections ----

#[test]
fn reject_not_json() {
    let e = reject(b"{\"organization-name\": \"x\",\n  \"policies\": [}");
    assert_eq!(e.code(), "not-json");
    match e {
        ParseError::NotJson {
            line, ref message, ..
        } => {
            assert_eq!(line, 2);
            assert!(!message.contains("at line"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(reject(b"").code(), "not-json");
    assert_eq!(reject(b"hello").code(), "not-json");
}

#[test]
fn reject_organization_name_only() {
    let e = reject(br#"{"organization-name":"test"}"#);
    assert_eq!(e.code(), "missing-field");
}

#[test]
fn reject_policies_not_array() {
    let e = reject(
        br#"{"organization-name":"o","report-id":"r","date-range":{"start-datetime":"2026-01-01T00:00:00Z","end-datetime":"2026-01-01T23:59:59Z"},"policies":"none"}"#,
    );
    assert_eq!(e.code(), "invalid-field");
    assert_eq!(
        e.to_string(),
        "policies: policies must be an array of policy results"
    );
}

#[test]
fn reject_policy_without_counts() {
    let e = reject(
        br#"{"organization-name":"o","report-id":"r","date-range":{"start-datetime":"2026-01-01T00:00:00Z","end-datetime":"2026-01-01T23:59:59Z"},"policies":[{"policy":{"policy-type":"sts","policy-domain":"example.net"},"summary":{}}]}"#,
    );
    assert_eq!(e.code(), "invalid-field");
    assert_eq!(
        e.to_string(),
        "policies[0].summary: total-successful-session-count and total-failure-session-count are missing"
    );
}

#[test]
fn one_count_missing_is_zero_with_warning() {
    let r = parse(
        br#"{"organization-name":"o","report-id":"r","contact-info":"c","date-range":{"start-datetime":"2026-01-01T00:00:00Z","end-datetime":"2026-01-01T23:59:59Z"},"policies":[{"policy":{"policy-type":"sts","policy-domain":"example.net"},"summary":{"total-successful-session-count":"5"}}]}"#,
    );
    assert_eq!(codes(&r), ["count-as-string", "count-missing"]);
    assert_eq!((r.total_successful(), r.total_failed()), (5, 0));
}

#[test]
fn reject_too_deep() {
    let mut deep = Vec::new();
    deep.extend(std::iter::repeat_n(b'[', 10_000));
    deep.extend(std::iter::repeat_n(b']', 10_000));
    let e = reject(&deep);
    assert_eq!(e.code(), "too-deep");
    // Brackets inside strings do not count.
    let s = format!(
        r#"{{"organization-name":"{}","report-id":"r","date-range":{{"start-datetime":"2026-01-01","end-datetime":"2026-01-01"}},"policies":[]}}"#,
        "[".repeat(100)
    );
    let r = parse(s.as_bytes());
    assert_eq!(
        codes(&r),
        [
            "contact-info-missing",
            "date-without-time",
            "date-without-time"
        ]
    );
}

#[test]
fn reject_dmarc_xml() {
    let e = reject(
        b"\xEF\xBB\xBF <?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feedback><report_metadata><org_name>example.com</org_name></report_metadata></feedback>",
    );
    assert_eq!(e.code(), "dmarc-report");
    assert!(e.to_string().contains("DMARC aggregate report (XML)"));
}

#[test]
fn reject_other_schemas() {
    let e = reject(br#"{"date-time":"2026-01-01T00:00:00Z","noted-hostname":"example.net","served-certificate-chain":[]}"#);
    assert_eq!(e.code(), "not-tlsrpt-schema");
    assert_eq!(reject(b"[1,2]").code(), "not-a-report");
    assert_eq!(reject(b"{\"a\":1}").code(), "not-a-report");
}

#[test]
fn limits_reject_too_many_and_truncate_long_strings() {
    let limits = ParseLimits {
        max_policies: 1,
        max_string_len: 8,
        ..ParseLimits::default()
    };
    let two = include_bytes!("../../sample-reports/two-sts-policies-same-domain.json");
    let e = parse_report(two, &limits).err();
    assert_eq!(e.map(|e| e.code()), Some("report-too-large"));
    let one = include_bytes!("../../sample-reports/next-day-midnight-end.json");
    let r = parse_report(one, &limits).ok();
    let r = r.as_ref().map(codes).unwrap_or_default();
    assert!(r.contains(&"string-truncated"), "{r:?}");
}

#[test]
fn reject_bad_dates_and_negative_counts() {
    let e = reject(
        br#"{"organization-name":"o","report-id":"r","date-range":{"start-datetime":"yesterday","end-datetime":"2026-01-01T23:59:59Z"},"policies":[]}"#,
    );
    assert_eq!(e.code(), "invalid-field");
    assert!(e.to_string().starts_with("date-range.start-datetime:"));
    let e = reject(
        br#"{"organization-name":"o","report-id":"r","date-range":{"start-datetime":"2026-01-02 00:00:00Z","end-datetime":"2026-01-01T23:59:59Z"},"policies":[{"policy":{"policy-type":"sts"},"summary":{"total-successful-session-count":-1,"total-failure-session-count":0}}]}"#,
    );
    assert_eq!(e.code(), "invalid-field");
}

/// The stable code an error is stored and answered with.
trait Code {
    fn code(&self) -> &'static str;
}

impl Code for crate::parse::ParseError {
    fn code(&self) -> &'static str {
        crate::pipeline::RejectCode::from(self).as_str()
    }
}
