//! Domain types shared by the pipeline stages, the store and the query side.
//!
//! In: nothing (plain data). Out: [`Report`] (what `parse` produces from one JSON
//! payload), [`Source`] (which intake a submission came through) and [`MessageMeta`] (the
//! headers of an emailed report that are kept with it).
//!
//! Counts are `i64` because RFC 8460 does not bound them and both backends store
//! 64-bit integers; timestamps are UTC.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which intake a submission came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Smtp,
    Https,
    Import,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Smtp => "smtp",
            Source::Https => "https",
            Source::Import => "import",
        }
    }
}

/// Headers of an emailed report that are kept with every report it carried.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageMeta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_report_domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_report_submitter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

/// A deviation from RFC 8460 that was tolerated. `code` is stable and machine-readable
/// (e.g. `date-without-offset`), `detail` says where and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Warning {
    pub code: String,
    pub detail: String,
}

impl Warning {
    pub fn new(code: &str, detail: impl Into<String>) -> Self {
        Warning {
            code: code.to_owned(),
            detail: detail.into(),
        }
    }
}

/// One RFC 8460 §4.4 aggregate report, normalized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    pub organization_name: String,
    pub report_id: String,
    pub contact_info: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub policies: Vec<PolicyResult>,
    pub warnings: Vec<Warning>,
}

impl Report {
    /// Successful sessions over all policies (a sender listing `sts` and `tlsa` for the
    /// same sessions is counted twice, as the report says).
    pub fn total_successful(&self) -> i64 {
        self.policies
            .iter()
            .fold(0i64, |acc, p| acc.saturating_add(p.total_successful))
    }

    pub fn total_failed(&self) -> i64 {
        self.policies
            .iter()
            .fold(0i64, |acc, p| acc.saturating_add(p.total_failed))
    }
}

/// One element of the `policies` array: the policy applied and the sessions under it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyResult {
    /// `sts`, `tlsa`, `no-policy-found`, or whatever the sender wrote (kept verbatim).
    pub policy_type: String,
    /// Lower-case, no trailing dot; `None` when the sender omitted it.
    pub policy_domain: Option<String>,
    pub policy_string: Vec<String>,
    pub mx_host: Vec<String>,
    pub total_successful: i64,
    pub total_failed: i64,
    pub failure_details: Vec<FailureDetail>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FailureDetail {
    /// RFC 8460 §4.3 result type or the sender's own (kept verbatim).
    pub result_type: String,
    pub sending_mta_ip: Option<String>,
    pub receiving_mx_hostname: Option<String>,
    pub receiving_mx_helo: Option<String>,
    pub receiving_ip: Option<String>,
    pub failed_session_count: i64,
    pub additional_information: Option<String>,
    pub failure_reason_code: Option<String>,
}

/// Result types named by RFC 8460 §4.3; others are stored verbatim with a warning.
pub const KNOWN_RESULT_TYPES: &[&str] = &[
    "starttls-not-supported",
    "certificate-host-mismatch",
    "certificate-expired",
    "certificate-not-trusted",
    "validation-failure",
    "tlsa-invalid",
    "dnssec-invalid",
    "dane-required",
    "sts-policy-fetch-error",
    "sts-policy-invalid",
    "sts-webpki-invalid",
];

/// Policy types named by RFC 8460 §4.4.
pub const KNOWN_POLICY_TYPES: &[&str] = &["sts", "tlsa", "no-policy-found"];

/// Lower-case a domain and drop a trailing dot, so `Example.COM.` and `example.com`
/// are one domain in every query.
pub fn normalize_domain(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_ascii_lowercase()
}
