//! The rollups a batch adds to, computed from the reports it stored.
//!
//! In: the reports of a write batch that were stored (not duplicates). Out: one delta per
//! row of `rollup_domains`, `rollup_sessions` and `rollup_failures` (migration 0004),
//! summed over the batch, in key order. Both backends upsert these in the transaction
//! that inserts the reports, so the rollups always count exactly the stored reports; the
//! key order makes concurrent PostgreSQL writers lock rollup rows in the same order, so
//! they wait for each other instead of deadlocking.

use std::collections::BTreeMap;

use super::queries as q;
use crate::report::Report;

/// `rollup_domains` key: (start, domain, organization).
pub(super) type DomainKey<'a> = (i64, &'a str, &'a str);
/// `rollup_sessions` key: (domain, start, organization, policy type, policy string JSON).
pub(super) type SessionKey<'a> = (&'a str, i64, &'a str, &'a str, String);
/// `rollup_failures` key: (domain, start, result type, receiving MX, sending IP).
pub(super) type FailureKey<'a> = (&'a str, i64, &'a str, &'a str, &'a str);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sessions {
    /// Distinct reports (`rollup_domains`) or distinct reports with the policy type
    /// (`rollup_sessions`).
    pub reports: i64,
    pub successful: i64,
    pub failed: i64,
}

#[derive(Debug, Default)]
pub(super) struct Rollup<'a> {
    pub domains: BTreeMap<DomainKey<'a>, Sessions>,
    pub sessions: BTreeMap<SessionKey<'a>, Sessions>,
    pub failures: BTreeMap<FailureKey<'a>, i64>,
}

impl<'a> Rollup<'a> {
    /// Adds one stored report.
    pub(super) fn add(&mut self, report: &'a Report) {
        let start = report.start.timestamp();
        let org = report.organization_name.as_str();
        for (i, p) in report.policies.iter().enumerate() {
            let domain = p.policy_domain.as_deref().unwrap_or("");
            let earlier = &report.policies[..i];
            let same_domain = |o: &&crate::report::PolicyResult| {
                o.policy_domain.as_deref().unwrap_or("") == domain
            };
            // A report counts once per domain, and once per policy type of the domain.
            let first_of_domain = !earlier.iter().any(|o| same_domain(&o));
            let first_of_type = !earlier
                .iter()
                .any(|o| same_domain(&o) && o.policy_type == p.policy_type);
            let d = self.domains.entry((start, domain, org)).or_default();
            d.reports += i64::from(first_of_domain);
            d.successful = d.successful.saturating_add(p.total_successful);
            d.failed = d.failed.saturating_add(p.total_failed);
            let key = (
                domain,
                start,
                org,
                p.policy_type.as_str(),
                q::to_json(&p.policy_string),
            );
            let s = self.sessions.entry(key).or_default();
            s.reports += i64::from(first_of_type);
            s.successful = s.successful.saturating_add(p.total_successful);
            s.failed = s.failed.saturating_add(p.total_failed);
            for fd in &p.failure_details {
                let key = (
                    domain,
                    start,
                    fd.result_type.as_str(),
                    fd.receiving_mx_hostname.as_deref().unwrap_or(""),
                    fd.sending_mta_ip.as_deref().unwrap_or(""),
                );
                let f = self.failures.entry(key).or_default();
                *f = f.saturating_add(fd.failed_session_count);
            }
        }
    }
}

pub(super) const UPSERT_DOMAINS: &str = "INSERT INTO rollup_domains \
    (start_at, policy_domain, organization_name, reports, successful, failed) ";
pub(super) const ON_DOMAINS_CONFLICT: &str = " ON CONFLICT (start_at, policy_domain, organization_name) DO UPDATE SET \
    reports = rollup_domains.reports + excluded.reports, \
    successful = rollup_domains.successful + excluded.successful, \
    failed = rollup_domains.failed + excluded.failed";

pub(super) const UPSERT_SESSIONS: &str = "INSERT INTO rollup_sessions \
    (policy_domain, start_at, organization_name, policy_type, policy_string, type_reports, successful, failed) ";
pub(super) const ON_SESSIONS_CONFLICT: &str = " ON CONFLICT (policy_domain, start_at, organization_name, policy_type, policy_string) DO UPDATE SET \
    type_reports = rollup_sessions.type_reports + excluded.type_reports, \
    successful = rollup_sessions.successful + excluded.successful, \
    failed = rollup_sessions.failed + excluded.failed";

pub(super) const UPSERT_FAILURES: &str = "INSERT INTO rollup_failures \
    (policy_domain, start_at, result_type, receiving_mx_hostname, sending_mta_ip, failed) ";
pub(super) const ON_FAILURES_CONFLICT: &str = " ON CONFLICT (policy_domain, start_at, result_type, receiving_mx_hostname, sending_mta_ip) DO UPDATE SET \
    failed = rollup_failures.failed + excluded.failed";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{FailureDetail, PolicyResult};
    use chrono::{TimeZone, Utc};

    fn policy(domain: &str, kind: &str, ok: i64, failed: &[(&str, i64)]) -> PolicyResult {
        PolicyResult {
            policy_type: kind.to_owned(),
            policy_domain: Some(domain.to_owned()),
            policy_string: vec![],
            mx_host: vec![],
            total_successful: ok,
            total_failed: failed.iter().map(|f| f.1).sum(),
            failure_details: failed
                .iter()
                .map(|(rt, n)| FailureDetail {
                    result_type: (*rt).to_owned(),
                    sending_mta_ip: None,
                    receiving_mx_hostname: Some("mx".into()),
                    receiving_mx_helo: None,
                    receiving_ip: None,
                    failed_session_count: *n,
                    additional_information: None,
                    failure_reason_code: None,
                })
                .collect(),
        }
    }

    #[test]
    fn a_report_counts_once_per_domain_and_once_per_type() {
        let report = Report {
            organization_name: "Org".into(),
            report_id: "r".into(),
            contact_info: None,
            start: Utc.timestamp_opt(86_400, 0).unwrap(),
            end: Utc.timestamp_opt(2 * 86_400, 0).unwrap(),
            policies: vec![
                policy("a.example", "sts", 10, &[("certificate-expired", 2)]),
                policy("a.example", "sts", 5, &[("certificate-expired", 1)]),
                policy("a.example", "tlsa", 1, &[]),
                policy("b.example", "sts", 7, &[]),
            ],
            warnings: vec![],
        };
        let mut rollup = Rollup::default();
        rollup.add(&report);
        let a = rollup.domains[&(86_400, "a.example", "Org")];
        assert_eq!(
            a,
            Sessions {
                reports: 1,
                successful: 16,
                failed: 3
            }
        );
        assert_eq!(rollup.domains[&(86_400, "b.example", "Org")].reports, 1);
        let sts = rollup.sessions[&("a.example", 86_400, "Org", "sts", "[]".to_owned())];
        assert_eq!((sts.reports, sts.successful, sts.failed), (1, 15, 3));
        let tlsa = rollup.sessions[&("a.example", 86_400, "Org", "tlsa", "[]".to_owned())];
        assert_eq!(tlsa.reports, 1);
        assert_eq!(
            rollup.failures[&("a.example", 86_400, "certificate-expired", "mx", "")],
            3
        );
    }
}
