//! RFC 8460 §4.3 result types: what each means, the usual fix, and whether an MTA-STS
//! policy in `enforce` mode would refuse the session.
//!
//! In: a result-type string from a report. Out: a [`ResultType`]. This is the one place
//! that knowledge lives: the dashboard explains failures with it, and readiness and
//! alerts judge with it.

/// A result type, with the ones RFC 8460 defines named and any other kept verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultType {
    /// `starttls-not-supported`
    StarttlsNotSupported,
    /// `certificate-host-mismatch`
    CertificateHostMismatch,
    /// `certificate-expired`
    CertificateExpired,
    /// `certificate-not-trusted`
    CertificateNotTrusted,
    /// `validation-failure`
    ValidationFailure,
    /// `tlsa-invalid`
    TlsaInvalid,
    /// `dnssec-invalid`
    DnssecInvalid,
    /// `dane-required`
    DaneRequired,
    /// `sts-policy-fetch-error`
    StsPolicyFetchError,
    /// `sts-policy-invalid`
    StsPolicyInvalid,
    /// `sts-webpki-invalid`
    StsWebpkiInvalid,
    /// A type RFC 8460 does not define (a sender's own label).
    Other,
}

impl ResultType {
    /// Every type RFC 8460 §4.3 defines.
    pub const KNOWN: [ResultType; 11] = [
        ResultType::StarttlsNotSupported,
        ResultType::CertificateHostMismatch,
        ResultType::CertificateExpired,
        ResultType::CertificateNotTrusted,
        ResultType::ValidationFailure,
        ResultType::TlsaInvalid,
        ResultType::DnssecInvalid,
        ResultType::DaneRequired,
        ResultType::StsPolicyFetchError,
        ResultType::StsPolicyInvalid,
        ResultType::StsWebpkiInvalid,
    ];

    pub fn of(result_type: &str) -> ResultType {
        match result_type {
            "starttls-not-supported" => ResultType::StarttlsNotSupported,
            "certificate-host-mismatch" => ResultType::CertificateHostMismatch,
            "certificate-expired" => ResultType::CertificateExpired,
            "certificate-not-trusted" => ResultType::CertificateNotTrusted,
            "validation-failure" => ResultType::ValidationFailure,
            "tlsa-invalid" => ResultType::TlsaInvalid,
            "dnssec-invalid" => ResultType::DnssecInvalid,
            "dane-required" => ResultType::DaneRequired,
            "sts-policy-fetch-error" => ResultType::StsPolicyFetchError,
            "sts-policy-invalid" => ResultType::StsPolicyInvalid,
            "sts-webpki-invalid" => ResultType::StsWebpkiInvalid,
            _ => ResultType::Other,
        }
    }

    /// The RFC's name; `None` for [`ResultType::Other`].
    pub fn as_str(self) -> Option<&'static str> {
        Some(match self {
            ResultType::StarttlsNotSupported => "starttls-not-supported",
            ResultType::CertificateHostMismatch => "certificate-host-mismatch",
            ResultType::CertificateExpired => "certificate-expired",
            ResultType::CertificateNotTrusted => "certificate-not-trusted",
            ResultType::ValidationFailure => "validation-failure",
            ResultType::TlsaInvalid => "tlsa-invalid",
            ResultType::DnssecInvalid => "dnssec-invalid",
            ResultType::DaneRequired => "dane-required",
            ResultType::StsPolicyFetchError => "sts-policy-fetch-error",
            ResultType::StsPolicyInvalid => "sts-policy-invalid",
            ResultType::StsWebpkiInvalid => "sts-webpki-invalid",
            ResultType::Other => return None,
        })
    }

    pub fn is_known(self) -> bool {
        self != ResultType::Other
    }

    /// What the failure means, in plain language.
    pub fn meaning(self) -> &'static str {
        self.explanation().0
    }

    /// The usual fix.
    pub fn fix(self) -> &'static str {
        self.explanation().1
    }

    /// Whether a sender that reported this failure under an MTA-STS policy in `testing`
    /// mode would refuse to deliver under `enforce` (RFC 8461 §5): the MX failed
    /// STARTTLS or certificate validation. Policy fetch and syntax errors do not block:
    /// a sender without a valid policy delivers as without MTA-STS. DANE types are
    /// judged by DANE, not by the MTA-STS mode.
    pub fn blocked_by_enforce(self) -> bool {
        matches!(
            self,
            ResultType::StarttlsNotSupported
                | ResultType::CertificateHostMismatch
                | ResultType::CertificateExpired
                | ResultType::CertificateNotTrusted
                | ResultType::ValidationFailure
                | ResultType::StsWebpkiInvalid
        )
    }

    /// Whether the sender reported that it had no usable MTA-STS policy for the domain
    /// (RFC 8460 §4.3.2.1: the policy could not be fetched or was not valid). Under
    /// `enforce` such a sender does not refuse the mail: it delivers as without MTA-STS
    /// (RFC 8461 §3.3), so the policy protects none of those sessions.
    pub fn leaves_sender_without_policy(self) -> bool {
        matches!(
            self,
            ResultType::StsPolicyFetchError | ResultType::StsPolicyInvalid
        )
    }

    fn explanation(self) -> (&'static str, &'static str) {
        match self {
            ResultType::StarttlsNotSupported => (
                "The receiving MX did not offer STARTTLS, so the sender could not encrypt the session.",
                "Enable STARTTLS on every MX host, and check that no firewall or middlebox strips STARTTLS from the EHLO response.",
            ),
            ResultType::CertificateHostMismatch => (
                "The MX presented a certificate whose names do not match the MX hostname the sender connected to.",
                "Install a certificate whose subjectAltName covers every MX hostname in your MX records (and in your MTA-STS policy's mx lines).",
            ),
            ResultType::CertificateExpired => (
                "The MX presented a certificate that has expired.",
                "Renew the MX certificate, install it on every MX host and reload the mail server; automate renewal.",
            ),
            ResultType::CertificateNotTrusted => (
                "The MX certificate does not chain to a root the sender trusts (self-signed, private CA or missing intermediate).",
                "Use a certificate from a publicly trusted CA and serve the full chain including intermediates.",
            ),
            ResultType::ValidationFailure => (
                "A general failure to validate the TLS session that fits no more specific type.",
                "Look at the failure-reason-code and additional information in the reports; test the MX with an external STARTTLS checker.",
            ),
            ResultType::TlsaInvalid => (
                "DANE: the TLSA records published for the MX did not match the certificate or were malformed.",
                "Publish TLSA records that match the certificate or key now in use; on rollover publish the new TLSA record before switching the certificate.",
            ),
            ResultType::DnssecInvalid => (
                "DANE: DNSSEC validation of the MX or TLSA records failed.",
                "Check the DNSSEC chain of the zone (DS at the parent, DNSKEY, expired RRSIG signatures) with a DNSSEC debugger.",
            ),
            ResultType::DaneRequired => (
                "DANE: the sender requires DANE for this domain but found no usable TLSA records.",
                "Publish DNSSEC-signed TLSA records for every MX host, or stop signalling that DANE is required.",
            ),
            ResultType::StsPolicyFetchError => (
                "MTA-STS: the sender could not fetch the policy — the policy host or its certificate is not reachable over HTTPS.",
                "Make https://mta-sts.<domain>/.well-known/mta-sts.txt answer 200 with text/plain over a valid, publicly trusted certificate; check DNS for mta-sts.<domain>.",
            ),
            ResultType::StsPolicyInvalid => (
                "MTA-STS: the policy was fetched but is not valid (syntax, or the _mta-sts TXT record and the policy disagree).",
                "Fix the policy file: version: STSv1, mode, one mx line per pattern and max_age, one per line; and publish a valid _mta-sts TXT record with a new id.",
            ),
            ResultType::StsWebpkiInvalid => (
                "MTA-STS: the MX certificate failed PKIX validation required by the policy (untrusted, expired or wrong name).",
                "Serve a publicly trusted, unexpired certificate valid for the MX names your policy lists; until fixed, consider mode: testing.",
            ),
            ResultType::Other => (
                "A result type not defined by RFC 8460 §4.3; the sender's own label, kept verbatim.",
                "Read the failure-reason-code and additional information in the reports, or ask the reporting organization (contact-info) what it means.",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rfc_result_type_has_its_own_explanation() {
        let generic = ResultType::Other.explanation();
        for t in ResultType::KNOWN {
            assert_ne!(t.explanation(), generic, "{t:?}");
            let name = t.as_str().expect("known types have a name");
            assert_eq!(ResultType::of(name), t);
            assert!(crate::report::KNOWN_RESULT_TYPES.contains(&name));
        }
        assert_eq!(
            ResultType::KNOWN.len(),
            crate::report::KNOWN_RESULT_TYPES.len()
        );
        assert_eq!(ResultType::of("made-up-type"), ResultType::Other);
    }

    #[test]
    fn enforce_blocks_certificate_and_starttls_failures_only() {
        // Every RFC 8460 §4.3 type, and whether a sender holding an enforce policy would
        // refuse (or defer) the delivery it reported as failed.
        let table = [
            ("starttls-not-supported", true),
            ("certificate-host-mismatch", true),
            ("certificate-expired", true),
            ("certificate-not-trusted", true),
            ("validation-failure", true),
            ("sts-webpki-invalid", true),
            // No valid policy fetched: the sender delivers as without MTA-STS.
            ("sts-policy-fetch-error", false),
            ("sts-policy-invalid", false),
            // DANE's verdicts, not the MTA-STS mode's.
            ("tlsa-invalid", false),
            ("dnssec-invalid", false),
            ("dane-required", false),
            // A sender's own label: not counted against readiness.
            ("x-vendor-specific", false),
        ];
        for (name, blocked) in table {
            assert_eq!(ResultType::of(name).blocked_by_enforce(), blocked, "{name}");
        }
        // Of the rest, the two that leave the sender without a policy: readiness
        // counts them apart, as sessions the policy would not reach.
        for (name, blocked) in table {
            let without_policy = ResultType::of(name).leaves_sender_without_policy();
            assert_eq!(
                without_policy,
                matches!(name, "sts-policy-fetch-error" | "sts-policy-invalid"),
                "{name}"
            );
            assert!(!(blocked && without_policy), "{name}");
        }
        let listed: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
        for known in ResultType::KNOWN {
            let name = known.as_str().unwrap();
            assert!(listed.contains(&name), "{name} is in the table");
        }
    }
}
