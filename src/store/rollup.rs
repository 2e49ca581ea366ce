//! The rollups a batch adds to, computed from the reports it stored.
//!
//! In: the reports of a write batch that were stored (not duplicates). Out: one delta per
//! row of the rollup tables of migration 0004 (per domain, per domain and organization,
//! and the domain-organization pairs), summed over the batch, in key order. Both
//! backends upsert these in the transaction that inserts the reports, so the rollups
//! always count exactly the stored reports; the key order makes concurrent PostgreSQL
//! writers lock rollup rows in the same order, so they wait for each other instead of
//! deadlocking.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::report::{PolicyResult, Report};

/// `rollup_domains` key: (domain, start).
pub(super) type DomainKey<'a> = (&'a str, i64);
/// `rollup_organizations` key: (domain, organization, start).
pub(super) type OrganizationKey<'a> = (&'a str, &'a str, i64);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sessions {
    /// Distinct reports counted in the row.
    pub reports: i64,
    pub successful: i64,
    pub failed: i64,
}

impl Sessions {
    fn add(&mut self, first: bool, p: &PolicyResult) {
        self.reports += i64::from(first);
        self.successful = self.successful.saturating_add(p.total_successful);
        self.failed = self.failed.saturating_add(p.total_failed);
    }
}

#[derive(Debug, Default)]
pub(super) struct Rollup<'a> {
    pub domains: BTreeMap<DomainKey<'a>, Sessions>,
    pub organizations: BTreeMap<OrganizationKey<'a>, Sessions>,
    /// (domain, organization) pairs for `domain_organizations`.
    pub pairs: BTreeSet<(&'a str, &'a str)>,
}

impl<'a> Rollup<'a> {
    /// Adds one stored report.
    pub(super) fn add(&mut self, report: &'a Report) {
        let start = report.start.timestamp();
        let org = report.organization_name.as_str();
        // A report counts once per domain. A set, not a look back over the earlier
        // policies: a report may carry 10,000 policies, and this runs on the one writer.
        let mut counted: HashSet<&str> = HashSet::new();
        for p in &report.policies {
            let domain = p.policy_domain.as_deref().unwrap_or("");
            let first_of_domain = counted.insert(domain);
            self.domains
                .entry((domain, start))
                .or_default()
                .add(first_of_domain, p);
            self.organizations
                .entry((domain, org, start))
                .or_default()
                .add(first_of_domain, p);
            self.pairs.insert((domain, org));
        }
    }
}

/// Upsert statements, `INSERT INTO t (cols) ` + values + the conflict clause.
pub(super) struct Upsert {
    pub insert: &'static str,
    pub columns: usize,
    pub on_conflict: &'static str,
}

pub(super) const DOMAINS: Upsert = Upsert {
    insert: "INSERT INTO rollup_domains (policy_domain, start_at, reports, successful, failed) ",
    columns: 5,
    on_conflict: " ON CONFLICT (policy_domain, start_at) DO UPDATE SET \
        reports = rollup_domains.reports + excluded.reports, \
        successful = rollup_domains.successful + excluded.successful, \
        failed = rollup_domains.failed + excluded.failed",
};

pub(super) const ORGANIZATIONS: Upsert = Upsert {
    insert: "INSERT INTO rollup_organizations \
        (policy_domain, organization_name, start_at, reports, successful, failed) ",
    columns: 6,
    on_conflict: " ON CONFLICT (policy_domain, organization_name, start_at) DO UPDATE SET \
        reports = rollup_organizations.reports + excluded.reports, \
        successful = rollup_organizations.successful + excluded.successful, \
        failed = rollup_organizations.failed + excluded.failed",
};

pub(super) const PAIRS: Upsert = Upsert {
    insert: "INSERT INTO domain_organizations (policy_domain, organization_name) ",
    columns: 2,
    on_conflict: " ON CONFLICT (policy_domain, organization_name) DO NOTHING",
};

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
    fn a_report_counts_once_per_domain() {
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
        let a = rollup.domains[&("a.example", 86_400)];
        assert_eq!(
            a,
            Sessions {
                reports: 1,
                successful: 16,
                failed: 3
            }
        );
        assert_eq!(rollup.organizations[&("a.example", "Org", 86_400)], a);
        assert_eq!(rollup.domains[&("b.example", 86_400)].reports, 1);
        assert_eq!(rollup.pairs.len(), 2);
    }
}
