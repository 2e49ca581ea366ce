//! One posture check of one domain: look the records up, fetch the policy, probe the MX
//! hosts, and judge.
//!
//! In: a normalized domain, what the store knows of it ([`ReportContext`]) and the
//! previous check ([`Previous`]). Out: a [`PostureResult`]: the findings (each a code,
//! a severity, a message and a fix), the state, and the raw facts they were judged on.
//!
//! Contacted: the resolver (`--dns-server` or the system's), `https://mta-sts.<domain>`
//! on `--mta-sts-port`, and port `--smtp-probe-port` of the MX hosts; only public
//! addresses unless `--allow-private-addresses`. Every step is bounded (`dns.rs`,
//! `fetch.rs`, `probe.rs`), and at most [`MAX_MX_PROBED`] MX hosts are probed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rustls_pki_types::CertificateDer;
use serde::Serialize;

use super::dns::{Lookup, MxRecord, PostureResolver};
use super::fetch;
use super::judge::{
    fetch_finding, id_not_bumped, lookup_failed, own_example, policy_lines, probe_findings,
};
use super::probe::{self, ProbeResult};
use super::records::{self, ReportUri};
use super::state::State;
use super::{Finding, Severity, address, policy};

/// Most MX hosts probed per check: real domains have one to four; the rest are listed
/// but not contacted, so a zone with hundreds of MX records cannot make us open hundreds
/// of connections.
pub const MAX_MX_PROBED: usize = 8;

/// A certificate expiring within this many days is a warning (the threshold;
/// ACME renews 30 days ahead, so a certificate this close has missed its renewal).
pub const EXPIRY_WARNING_DAYS: i64 = 14;

/// With a TLS-RPT record pointing here, no report for this long is a warning: senders
/// report daily, so three days is several missed reports, not a late one.
pub const NO_REPORTS_AFTER_HOURS: i64 = 72;

/// Where this service receives reports, to tell whether a `rua` points here.
#[derive(Debug, Clone, Default)]
pub struct OwnDestinations {
    /// Accepted recipients: addresses or `*@domain` patterns (`--smtp-recipient`).
    pub mailto: Vec<String>,
    /// Public URLs of the HTTPS intake (`--public-url`).
    pub https: Vec<String>,
}

impl OwnDestinations {
    pub fn is_configured(&self) -> bool {
        !self.mailto.is_empty() || !self.https.is_empty()
    }

    /// Whether reports sent to `uri` reach this service.
    pub fn receives(&self, uri: &ReportUri) -> bool {
        match uri {
            ReportUri::Mailto(address) => {
                let address = address.to_ascii_lowercase();
                self.mailto.iter().any(|r| {
                    let r = r.trim().to_ascii_lowercase();
                    match r.strip_prefix("*@") {
                        Some(domain) => address.rsplit_once('@').is_some_and(|(_, d)| d == domain),
                        None => r == address,
                    }
                })
            }
            ReportUri::Https(url) => {
                let url = url.trim_end_matches('/').to_ascii_lowercase();
                self.https
                    .iter()
                    .any(|u| u.trim_end_matches('/').to_ascii_lowercase() == url)
            }
        }
    }
}

/// How the checker connects.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// `--dns-server`: the one name server asked; the system's resolver when `None`.
    pub dns_server: Option<SocketAddr>,
    /// `--allow-private-addresses`: connect to loopback, private and other
    /// special-purpose addresses too (tests, internal mail systems).
    pub allow_private_addresses: bool,
    /// `--extra-ca`: roots trusted besides the public ones (webpki-roots).
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// `--mta-sts-port` (443).
    pub mta_sts_port: u16,
    /// `--smtp-probe-port` (25).
    pub smtp_probe_port: u16,
    /// The name presented in EHLO.
    pub helo_name: String,
    pub own: OwnDestinations,
    /// Bound on one policy fetch ([`fetch::FETCH_TIMEOUT`]).
    pub fetch_timeout: std::time::Duration,
    /// Bound on one MX probe ([`probe::PROBE_TIMEOUT`]).
    pub probe_timeout: std::time::Duration,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            dns_server: None,
            allow_private_addresses: false,
            extra_roots: Vec::new(),
            mta_sts_port: 443,
            smtp_probe_port: 25,
            helo_name: "localhost".to_owned(),
            own: OwnDestinations::default(),
            fetch_timeout: fetch::FETCH_TIMEOUT,
            probe_timeout: probe::PROBE_TIMEOUT,
        }
    }
}

/// What the store knows of the domain.
#[derive(Debug, Clone, Default)]
pub struct ReportContext {
    /// Whether the store was read: without it (`tlsrptd check` without --database),
    /// the report-based findings are not judged.
    pub known: bool,
    /// When the latest report naming the domain was received.
    pub last_report_at: Option<DateTime<Utc>>,
    /// The newest STS policy text in reports, with the start of the report it was in.
    pub latest_reported_policy: Option<(DateTime<Utc>, Vec<String>)>,
}

/// What the previous check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previous {
    pub checked_at: DateTime<Utc>,
    pub state: State,
    /// The MTA-STS id and the policy text (lines) fetched then.
    pub sts_id: Option<String>,
    pub policy_lines: Option<Vec<String>>,
}

/// The result of one check: what `tlsrptd check --json` prints and the API returns.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PostureResult {
    pub domain: String,
    pub checked_at: DateTime<Utc>,
    pub state: State,
    pub findings: Vec<Finding>,
    /// The records, policy file, MX hosts and probe results the findings were judged on
    /// (README, "Posture checks").
    #[schema(value_type = Object)]
    pub facts: Facts,
}

impl PostureResult {
    /// Whether any finding is an error (`tlsrptd check` exits 1).
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// The raw facts the findings were judged on.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    /// TXT records at `_smtp._tls.<domain>`.
    pub tlsrpt_records: Lookup<String>,
    /// TXT records at `_mta-sts.<domain>`.
    pub mta_sts_records: Lookup<String>,
    /// The valid MTA-STS record's id.
    pub mta_sts_id: Option<String>,
    pub policy_host: Option<PolicyHost>,
    pub policy: Option<PolicyFacts>,
    pub mx: Lookup<MxRecord>,
    pub probes: Vec<ProbeResult>,
}

/// `mta-sts.<domain>` in DNS.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyHost {
    pub name: String,
    pub cname: Lookup<String>,
    pub addresses: Lookup<IpAddr>,
}

/// The policy file as fetched.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyFacts {
    pub url: String,
    /// The body, when fetched (at most 64 KiB).
    pub body: Option<String>,
    /// Why it could not be used.
    pub error: Option<String>,
    pub mode: Option<&'static str>,
    pub max_age: Option<u64>,
    pub mx: Vec<String>,
}

/// Errors building a checker.
#[derive(Debug, thiserror::Error)]
pub enum CheckerError {
    #[error(transparent)]
    Dns(#[from] super::dns::DnsError),
    #[error("an --extra-ca certificate is not usable: {0}")]
    Root(String),
}

/// Runs checks; cheap to clone.
#[derive(Debug, Clone)]
pub struct Checker {
    resolver: PostureResolver,
    tls: Arc<rustls::ClientConfig>,
    options: Arc<CheckOptions>,
}

impl Checker {
    pub fn new(options: CheckOptions) -> Result<Checker, CheckerError> {
        let resolver = PostureResolver::new(options.dns_server)?;
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for root in &options.extra_roots {
            roots
                .add(root.clone())
                .map_err(|e| CheckerError::Root(e.to_string()))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| CheckerError::Root(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Checker {
            resolver,
            tls: Arc::new(tls),
            options: Arc::new(options),
        })
    }

    pub fn options(&self) -> &CheckOptions {
        &self.options
    }

    /// Checks `domain` (already normalized by [`super::domain::normalize`]) now.
    pub async fn check(
        &self,
        domain: &str,
        context: &ReportContext,
        previous: Option<&Previous>,
    ) -> (PostureResult, Previous) {
        self.check_at(domain, context, previous, Utc::now()).await
    }

    /// [`check`](Checker::check) as of `now`: the time the result carries and the
    /// report-based findings are judged at (the schedule's clock).
    pub async fn check_at(
        &self,
        domain: &str,
        context: &ReportContext,
        previous: Option<&Previous>,
        now: DateTime<Utc>,
    ) -> (PostureResult, Previous) {
        let mut findings = Vec::new();
        let (tlsrpt_name, sts_name) =
            (format!("_smtp._tls.{domain}"), format!("_mta-sts.{domain}"));
        let (tlsrpt_txt, sts_txt, mx) = tokio::join!(
            self.resolver.txt(&tlsrpt_name),
            self.resolver.txt(&sts_name),
            self.resolver.mx(domain),
        );

        self.judge_tlsrpt(domain, &tlsrpt_txt, context, now, &mut findings)
            .await;
        let sts = self.judge_sts_record(domain, &sts_txt, &mut findings).await;

        let mx_hosts: Vec<String> = mx
            .records()
            .iter()
            .filter(|m| m.host != ".")
            .map(|m| m.host.clone())
            .collect();
        match &mx {
            Lookup::None => findings.push(Finding::new(
                "mx-missing",
                Severity::Error,
                format!("{domain} has no MX record: senders deliver to its address records, if any, and MTA-STS does not apply"),
                format!("publish MX records for {domain} naming the hosts that receive its mail"),
            )),
            Lookup::Found(_) if mx_hosts.is_empty() => findings.push(Finding::new(
                "mx-missing",
                Severity::Warning,
                format!("{domain} publishes a null MX (\"0 .\"): it receives no mail, so there is nothing for TLS reports or MTA-STS to cover"),
                format!("remove the TLS-RPT and MTA-STS records of {domain}, or publish real MX records if it should receive mail"),
            )),
            Lookup::Failed(e) => findings.push(lookup_failed(domain, "MX", e)),
            Lookup::Found(_) => {}
        }

        let mut policy_host = None;
        let mut policy_facts = None;
        let mut current_lines = None;
        if let Some(id) = &sts {
            let (host, facts, lines) = self
                .judge_policy(domain, id, &mx, &mx_hosts, context, previous, &mut findings)
                .await;
            policy_host = Some(host);
            policy_facts = facts;
            current_lines = lines;
        }

        let probes = self.probe_mx(domain, &mx_hosts, &mut findings).await;

        let previous_state = previous.map(|p| p.state);
        let state = State::from_findings(&findings, previous_state);
        let result = PostureResult {
            domain: domain.to_owned(),
            checked_at: now,
            state,
            findings,
            facts: Facts {
                tlsrpt_records: tlsrpt_txt,
                mta_sts_records: sts_txt,
                mta_sts_id: sts.clone(),
                policy_host,
                policy: policy_facts,
                mx,
                probes,
            },
        };
        let this = Previous {
            checked_at: now,
            state,
            sts_id: sts,
            policy_lines: current_lines,
        };
        (result, this)
    }

    async fn judge_tlsrpt(
        &self,
        domain: &str,
        txt: &Lookup<String>,
        context: &ReportContext,
        now: DateTime<Utc>,
        findings: &mut Vec<Finding>,
    ) {
        if let Lookup::Failed(e) = txt {
            findings.push(lookup_failed(
                domain,
                &format!("_smtp._tls.{domain} TXT"),
                e,
            ));
            return;
        }
        match records::tlsrpt(domain, txt.records()) {
            Ok(record) => {
                let own = &self.options.own;
                if !own.is_configured() {
                    return;
                }
                let here = record.rua.iter().any(|u| own.receives(u));
                if !here {
                    let destinations: Vec<String> =
                        record.rua.iter().map(ReportUri::as_uri).collect();
                    findings.push(Finding::new(
                        "tlsrpt-rua-elsewhere",
                        Severity::Info,
                        format!(
                            "the TLS-RPT record of {domain} sends reports to {}, none of which this tlsrptd receives",
                            destinations.join(", ")
                        ),
                        format!(
                            "to receive them here, add {} to the rua= list of the TXT record at _smtp._tls.{domain}",
                            own_example(own)
                        ),
                    ));
                } else if context.known {
                    let stale = context
                        .last_report_at
                        .is_none_or(|t| (now - t).num_hours() >= NO_REPORTS_AFTER_HOURS);
                    if stale {
                        let since = context.last_report_at.map_or_else(
                            || "no report has arrived yet".to_owned(),
                            |t| format!("the last arrived {}", t.format("%Y-%m-%d %H:%M UTC")),
                        );
                        findings.push(Finding::new(
                            "tlsrpt-no-reports",
                            Severity::Warning,
                            format!(
                                "the TLS-RPT record of {domain} points here, but no report for it arrived in the last {NO_REPORTS_AFTER_HOURS} hours ({since})"
                            ),
                            format!(
                                "check that the record at _smtp._tls.{domain} is the one published (senders cache it for a day), that the report address accepts mail, and the quarantine for refused reports"
                            ),
                        ));
                    }
                }
            }
            Err(finding) => {
                let missing = finding.code == "tlsrpt-missing";
                findings.push(finding);
                if missing {
                    self.doubled_name(domain, "_smtp._tls", "v=TLSRPTv1", findings)
                        .await;
                }
            }
        }
    }

    /// The valid MTA-STS record's id, or findings.
    async fn judge_sts_record(
        &self,
        domain: &str,
        txt: &Lookup<String>,
        findings: &mut Vec<Finding>,
    ) -> Option<String> {
        if let Lookup::Failed(e) = txt {
            findings.push(lookup_failed(domain, &format!("_mta-sts.{domain} TXT"), e));
            return None;
        }
        match records::sts(domain, txt.records()) {
            Ok(record) => Some(record.id),
            Err(finding) => {
                let missing = finding.code == "mta-sts-missing";
                findings.push(finding);
                if missing {
                    self.doubled_name(domain, "_mta-sts", "v=STSv1", findings)
                        .await;
                }
                None
            }
        }
    }

    /// `record-doubled-name`: the record exists at `<prefix>.<domain>.<domain>`.
    async fn doubled_name(
        &self,
        domain: &str,
        prefix: &str,
        version: &str,
        findings: &mut Vec<Finding>,
    ) {
        let doubled = format!("{prefix}.{domain}.{domain}");
        let found = self.resolver.txt(&doubled).await;
        if found
            .records()
            .iter()
            .any(|r| r.trim_start().starts_with(version))
        {
            findings.push(Finding::new(
                "record-doubled-name",
                Severity::Error,
                format!(
                    "the {version} record is published at {doubled} instead of {prefix}.{domain}: the DNS provider appended the zone name to a name that already contained it"
                ),
                format!(
                    "in the zone of {domain}, enter the record's name as \"{prefix}\" only (or \"{prefix}.{domain}.\" with the final dot), and delete the one at {doubled}"
                ),
            ));
        }
    }

    /// Vets `addresses` of `name`: the ones that may be contacted, or a finding.
    fn contactable(
        &self,
        name: &str,
        addresses: &[IpAddr],
        findings: &mut Vec<Finding>,
    ) -> Vec<IpAddr> {
        if self.options.allow_private_addresses {
            return addresses.to_vec();
        }
        let public: Vec<IpAddr> = addresses
            .iter()
            .copied()
            .filter(|ip| address::is_public(*ip))
            .collect();
        if public.is_empty() && !addresses.is_empty() {
            let list: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
            findings.push(Finding::new(
                "address-not-public",
                Severity::Error,
                format!(
                    "{name} resolves only to {}, which are not public addresses: senders on the internet cannot reach it, and tlsrptd does not connect to such addresses",
                    list.join(", ")
                ),
                format!(
                    "publish the public address of {name}; for an internal mail system, run tlsrptd with --allow-private-addresses"
                ),
            ));
        }
        public
    }

    #[allow(clippy::too_many_arguments)]
    async fn judge_policy(
        &self,
        domain: &str,
        id: &str,
        mx: &Lookup<MxRecord>,
        mx_hosts: &[String],
        context: &ReportContext,
        previous: Option<&Previous>,
        findings: &mut Vec<Finding>,
    ) -> (PolicyHost, Option<PolicyFacts>, Option<Vec<String>>) {
        let host_name = format!("mta-sts.{domain}");
        let (cname, addresses, owned) = tokio::join!(
            self.resolver.cname(&host_name),
            self.resolver.addresses(&host_name),
            self.resolver.has_own_records(&host_name),
        );
        let host = PolicyHost {
            name: host_name.clone(),
            cname: cname.clone(),
            addresses: addresses.clone(),
        };
        if let Lookup::Found(targets) = &cname
            && owned
        {
            findings.push(Finding::new(
                "mta-sts-host-conflict",
                Severity::Error,
                format!(
                    "{host_name} has a CNAME (to {}) and other records beside it: a CNAME must be the only record at its name (RFC 1034 §3.6.2), so resolvers answer inconsistently",
                    targets.join(", ")
                ),
                format!(
                    "keep either the CNAME at {host_name} or its address records, not both"
                ),
            ));
        }
        let url = fetch::policy_url(domain, self.options.mta_sts_port);
        let addresses = match &addresses {
            Lookup::Found(a) => a.clone(),
            Lookup::None => {
                findings.push(Finding::new(
                    "mta-sts-host-missing",
                    Severity::Error,
                    format!(
                        "{domain} publishes an MTA-STS record (id {id}) but {host_name} has no address: senders cannot fetch the policy"
                    ),
                    format!(
                        "publish an A (and AAAA) record, or a CNAME, for {host_name} pointing at the web server that serves {url}"
                    ),
                ));
                return (host, None, None);
            }
            Lookup::Failed(e) => {
                findings.push(lookup_failed(domain, &format!("{host_name} A/AAAA"), e));
                return (host, None, None);
            }
        };
        let addresses = self.contactable(&host_name, &addresses, findings);
        if addresses.is_empty() {
            return (host, None, None);
        }
        let mut facts = PolicyFacts {
            url: url.clone(),
            body: None,
            error: None,
            mode: None,
            max_age: None,
            mx: Vec::new(),
        };
        let fetched = fetch::fetch_policy(
            domain,
            &addresses,
            self.options.mta_sts_port,
            self.tls.clone(),
            self.options.fetch_timeout,
        )
        .await;
        let fetched = match fetched {
            Ok(f) => f,
            Err(e) => {
                facts.error = Some(e.to_string());
                findings.push(fetch_finding(domain, &url, &e));
                return (host, Some(facts), None);
            }
        };
        facts.body = Some(fetched.body.clone());
        let lines = policy_lines(fetched.body.lines());
        match policy::parse(domain, &fetched.body) {
            Ok(policy) => {
                facts.mode = Some(policy.mode.as_str());
                facts.max_age = Some(policy.max_age);
                facts.mx = policy.mx.iter().map(|p| p.as_str().to_owned()).collect();
                findings.extend(policy::mode_finding(domain, &policy));
                if matches!(mx, Lookup::Found(_)) && !mx_hosts.is_empty() {
                    findings.extend(policy::mx_mismatches(domain, &policy, mx_hosts));
                }
            }
            Err(finding) => findings.push(finding),
        }
        if let Some(f) = id_not_bumped(domain, id, &lines, context, previous) {
            findings.push(f);
        }
        (host, Some(facts), Some(lines))
    }

    async fn probe_mx(
        &self,
        domain: &str,
        mx_hosts: &[String],
        findings: &mut Vec<Finding>,
    ) -> Vec<ProbeResult> {
        let probed: Vec<&String> = mx_hosts.iter().take(MAX_MX_PROBED).collect();
        let lookups = futures_util::future::join_all(probed.iter().map(|host| async move {
            let (addresses, tlsa) = tokio::join!(
                self.resolver.addresses(host),
                self.resolver.tlsa_count(host)
            );
            (host, addresses, tlsa)
        }))
        .await;
        let mut targets = Vec::new();
        for (host, addresses, tlsa) in lookups {
            if let Lookup::Found(n) = &tlsa {
                findings.push(Finding::new(
                    "mx-tlsa-present",
                    Severity::Info,
                    format!(
                        "the MX host {host} publishes {} TLSA record(s) at _25._tcp.{host}: DANE-capable senders authenticate it by those instead of MTA-STS",
                        n.first().copied().unwrap_or(0)
                    ),
                    format!(
                        "keep the TLSA records at _25._tcp.{host} in step with its certificate at every renewal"
                    ),
                ));
            }
            match addresses {
                Lookup::Found(a) => {
                    let usable = self.contactable(host, &a, findings);
                    if let Some(ip) = usable.first() {
                        targets.push(((*host).clone(), *ip));
                    }
                }
                Lookup::None => findings.push(Finding::new(
                    "mx-host-missing",
                    Severity::Error,
                    format!("the MX host {host} of {domain} has no address: mail to it cannot be delivered"),
                    format!("publish an A (and AAAA) record for {host}, or remove the MX record naming it"),
                )),
                Lookup::Failed(e) => findings.push(lookup_failed(domain, &format!("{host} A/AAAA"), &e)),
            }
        }
        let port = self.options.smtp_probe_port;
        let helo = self.options.helo_name.as_str();
        let probes = futures_util::future::join_all(targets.iter().map(|(host, ip)| {
            probe::probe(
                host,
                *ip,
                port,
                helo,
                self.tls.clone(),
                self.options.probe_timeout,
            )
        }))
        .await;
        for p in &probes {
            findings.extend(probe_findings(p, port));
        }
        probes
    }
}
