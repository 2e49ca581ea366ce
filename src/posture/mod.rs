//! Posture: whether a domain's live DNS records and MTA-STS policy are right (issue #13).
//!
//! In: the TXT records found at `_smtp._tls.<domain>` and `_mta-sts.<domain>`, and the
//! body of `https://mta-sts.<domain>/.well-known/mta-sts.txt`. Out: what they say
//! ([`records::TlsRptRecord`], [`records::StsRecord`], [`policy::Policy`]) or a
//! [`Finding`] with a stable code, a severity, what is wrong and the concrete fix.
//!
//! This part is pure: the small, strict parsers of RFC 8460 §3 and RFC 8461 §3.1–3.2
//! ([`records`], [`policy`]), MX matching (RFC 8461 §4.1), which names may be checked
//! ([`domain`]) and which addresses contacted ([`address`]), and the state findings put a
//! domain in ([`state`]). Looking
//! the records up, fetching the policy and probing the MX hosts come on top of it. Like
//! the query side, it never touches intake code.

pub mod address;
pub mod check;
pub mod dns;
pub mod domain;
pub mod fetch;
pub mod judge;
pub mod policy;
pub mod probe;
pub mod records;
pub mod state;

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Reports are lost or mail would be refused.
    Error,
    /// Works, but not as recommended or not for long.
    Warning,
    /// Worth knowing; nothing to fix.
    Info,
}

/// One thing found about a domain's setup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Finding {
    /// Stable kebab-case code, e.g. `tlsrpt-no-rua`.
    #[schema(value_type = String)]
    pub code: &'static str,
    pub severity: Severity,
    /// What is wrong, naming the record and what was found.
    pub message: String,
    /// The concrete steps, naming the record and the value to publish.
    pub fix: String,
}

impl Finding {
    pub(crate) fn new(
        code: &'static str,
        severity: Severity,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            code,
            severity,
            message: message.into(),
            fix: fix.into(),
        }
    }
}
