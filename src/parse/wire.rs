//! Wire shapes of an RFC 8460 §4.4 report, as lenient as serde allows.
//!
//! In: a `serde_json::Value` already known to be an object. Out: the struct with every
//! field as `Option<Value>` (so a wrong type never fails deserialization; `validate`
//! decides what it means) and every unknown key kept in `extra` for warnings.
//! `null` and a missing key both become `None`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Deserialize a JSON object into one of the wire structs; `None` if `v` is not an
/// object (the caller reports the path).
pub fn from_object<T: DeserializeOwned>(v: Value) -> Option<T> {
    if !v.is_object() {
        return None;
    }
    serde_json::from_value(v).ok()
}

/// The top-level report object.
#[derive(Debug, Deserialize)]
pub struct WireReport {
    #[serde(rename = "organization-name")]
    pub organization_name: Option<Value>,
    #[serde(rename = "date-range")]
    pub date_range: Option<Value>,
    #[serde(rename = "contact-info")]
    pub contact_info: Option<Value>,
    #[serde(rename = "report-id")]
    pub report_id: Option<Value>,
    pub policies: Option<Value>,
    /// Draft-era singular name for `policies`.
    pub policy: Option<Value>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
pub struct WireDateRange {
    #[serde(rename = "start-datetime")]
    pub start_datetime: Option<Value>,
    #[serde(rename = "end-datetime")]
    pub end_datetime: Option<Value>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// One element of `policies`.
#[derive(Debug, Deserialize)]
pub struct WirePolicyResult {
    pub policy: Option<Value>,
    pub summary: Option<Value>,
    #[serde(rename = "failure-details")]
    pub failure_details: Option<Value>,
    /// Draft-era count names, sometimes found beside `summary` instead of inside it.
    #[serde(rename = "success-aggregate")]
    pub success_aggregate: Option<Value>,
    #[serde(rename = "failure-aggregate")]
    pub failure_aggregate: Option<Value>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
pub struct WirePolicy {
    #[serde(rename = "policy-type")]
    pub policy_type: Option<Value>,
    #[serde(rename = "policy-string")]
    pub policy_string: Option<Value>,
    #[serde(rename = "policy-domain")]
    pub policy_domain: Option<Value>,
    #[serde(rename = "mx-host")]
    pub mx_host: Option<Value>,
    /// Draft-era name for `mx-host`.
    #[serde(rename = "mx-host-pattern")]
    pub mx_host_pattern: Option<Value>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
pub struct WireSummary {
    #[serde(rename = "total-successful-session-count")]
    pub total_successful: Option<Value>,
    #[serde(rename = "total-failure-session-count")]
    pub total_failure: Option<Value>,
    #[serde(rename = "success-aggregate")]
    pub success_aggregate: Option<Value>,
    #[serde(rename = "failure-aggregate")]
    pub failure_aggregate: Option<Value>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
pub struct WireFailureDetail {
    #[serde(rename = "result-type")]
    pub result_type: Option<Value>,
    #[serde(rename = "sending-mta-ip")]
    pub sending_mta_ip: Option<Value>,
    #[serde(rename = "receiving-mx-hostname")]
    pub receiving_mx_hostname: Option<Value>,
    /// SocketLabs (2020) misspelling.
    #[serde(rename = "receiving-mx-host-name")]
    pub receiving_mx_host_name: Option<Value>,
    #[serde(rename = "receiving-mx-helo")]
    pub receiving_mx_helo: Option<Value>,
    #[serde(rename = "receiving-ip")]
    pub receiving_ip: Option<Value>,
    #[serde(rename = "failed-session-count")]
    pub failed_session_count: Option<Value>,
    /// Draft-era name for `failed-session-count`.
    #[serde(rename = "session-count")]
    pub session_count: Option<Value>,
    #[serde(rename = "additional-information")]
    pub additional_information: Option<Value>,
    /// Draft-era name for `additional-information`.
    #[serde(rename = "additional-info-uri")]
    pub additional_info_uri: Option<Value>,
    #[serde(rename = "failure-reason-code")]
    pub failure_reason_code: Option<Value>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}
