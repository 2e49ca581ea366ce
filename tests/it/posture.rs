//! Posture checks end to end, against real servers on loopback that the test starts: the
//! authoritative DNS server of `dns.rs` serving a test zone, an HTTPS server with a test
//! CA serving policy files (by SNI), and SMTP servers with STARTTLS as MX hosts. One
//! scenario per finding code, each asserting the code, the state, and the fix naming the
//! right record.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Datelike, Utc};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tlsrptd::posture::check::{
    CheckOptions, Checker, OwnDestinations, PostureResult, Previous, ReportContext,
};
use tlsrptd::posture::state::State;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::dns::{Data, Record, TestDns};

const GOOD_MX_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 10);
const PLAIN_MX_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
const WRONG_CERT_MX_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 12);
const EXPIRING_MX_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 13);
pub(crate) const SILENT_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
pub(crate) const POLICY_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
pub(crate) const OWN_ADDRESS: &str = "tlsrpt@reports.test";

/// A test certificate authority.
pub(crate) struct Pki {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub(crate) ca_pem: String,
}

impl Pki {
    pub(crate) fn new() -> Pki {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "tlsrptd posture test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Pki {
            ca_pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    fn ca_der(&self) -> CertificateDer<'static> {
        use rustls_pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).unwrap()
    }

    /// A leaf for `name`, expiring in `days` days (10 years when `None`).
    pub(crate) fn leaf(&self, name: &str, days: Option<i64>) -> Arc<CertifiedKey> {
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        if let Some(days) = days {
            let end = Utc::now() + chrono::Duration::days(days);
            params.not_after = rcgen::date_time_ymd(end.year(), end.month() as u8, end.day() as u8);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let der_key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing = rustls::crypto::ring::sign::any_supported_type(&der_key).unwrap();
        Arc::new(CertifiedKey::new(vec![cert.der().clone()], signing))
    }
}

/// Picks the certificate by SNI; a fallback for every other name.
#[derive(Debug)]
pub(crate) struct BySni {
    pub(crate) certs: HashMap<String, Arc<CertifiedKey>>,
    pub(crate) fallback: Option<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        hello
            .server_name()
            .and_then(|n| self.certs.get(&n.to_ascii_lowercase()).cloned())
            .or_else(|| self.fallback.clone())
    }
}

pub(crate) fn server_config(resolver: BySni) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver)),
    )
}

/// What the policy server answers for one host.
#[derive(Clone)]
pub(crate) struct PolicyResponse {
    status: u16,
    content_type: &'static str,
    body: String,
    location: Option<String>,
}

fn policy_ok(body: &str) -> PolicyResponse {
    PolicyResponse {
        status: 200,
        content_type: "text/plain",
        body: body.to_owned(),
        location: None,
    }
}

/// An HTTPS server answering each `mta-sts.<domain>` by SNI; counts requests per host.
async fn policy_server(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    responses: Arc<HashMap<String, PolicyResponse>>,
    requests: Arc<std::sync::Mutex<HashMap<String, usize>>>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let responses = responses.clone();
        let requests = requests.clone();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let host = stream
                .get_ref()
                .1
                .server_name()
                .unwrap_or("")
                .to_ascii_lowercase();
            let mut stream = BufReader::new(stream);
            let mut path = String::new();
            loop {
                let mut line = String::new();
                if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if path.is_empty() {
                    path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                }
                if line == "\r\n" {
                    break;
                }
            }
            *requests.lock().unwrap().entry(host.clone()).or_default() += 1;
            let response = match responses.get(&host) {
                Some(r) if path == "/.well-known/mta-sts.txt" => r.clone(),
                _ => PolicyResponse {
                    status: 404,
                    content_type: "text/plain",
                    body: "not found".into(),
                    location: None,
                },
            };
            let mut head = format!(
                "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
                response.status,
                response.content_type,
                response.body.len()
            );
            if let Some(l) = &response.location {
                head.push_str(&format!("Location: {l}\r\n"));
            }
            head.push_str("\r\n");
            let stream = stream.get_mut();
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(response.body.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// An SMTP server as an MX host: STARTTLS offered when `tls` is set.
async fn mx_server(listener: TcpListener, tls: Option<Arc<rustls::ServerConfig>>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            let mut stream = BufReader::new(tcp);
            let _ = stream.get_mut().write_all(b"220 mx.test ESMTP\r\n").await;
            loop {
                let mut line = String::new();
                if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let verb = line.trim().to_ascii_uppercase();
                if verb.starts_with("EHLO") {
                    let reply: &[u8] = if tls.is_some() {
                        b"250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n"
                    } else {
                        b"250-mx.test\r\n250 PIPELINING\r\n"
                    };
                    let _ = stream.get_mut().write_all(reply).await;
                } else if verb == "STARTTLS" {
                    let Some(config) = tls.clone() else { return };
                    let _ = stream.get_mut().write_all(b"220 go ahead\r\n").await;
                    let acceptor = tokio_rustls::TlsAcceptor::from(config);
                    if let Ok(mut tls_stream) = acceptor.accept(stream.into_inner()).await {
                        let mut buf = [0u8; 64];
                        let _ = tls_stream.read(&mut buf).await;
                        let _ = tls_stream.write_all(b"221 bye\r\n").await;
                    }
                    return;
                } else {
                    let _ = stream.get_mut().write_all(b"221 bye\r\n").await;
                    return;
                }
            }
        });
    }
}

/// Binds `ip` on `port` (0: any free port).
async fn bind(ip: Ipv4Addr, port: u16) -> Option<TcpListener> {
    TcpListener::bind(SocketAddr::new(IpAddr::V4(ip), port))
        .await
        .ok()
}

/// The test world: zone, policy server, MX servers.
pub(crate) struct World {
    pub(crate) dns: TestDns,
    /// The zone served at the start (change it with `dns.set_zone`).
    pub(crate) zone: Vec<Record>,
    dns_addr: SocketAddr,
    ca: CertificateDer<'static>,
    https_port: u16,
    smtp_port: u16,
    policy_requests: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

const POLICY_ENFORCE: &str = "version: STSv1\nmode: enforce\nmx: mx.{D}\nmax_age: 86400\n";

/// The records of a domain set up right: TLS-RPT to us, MTA-STS enforce, one MX.
pub(crate) fn good_records(d: &str) -> Vec<Record> {
    vec![
        (
            format!("_smtp._tls.{d}"),
            Data::Txt(format!("v=TLSRPTv1; rua=mailto:{OWN_ADDRESS}")),
        ),
        (
            format!("_mta-sts.{d}"),
            Data::Txt("v=STSv1; id=20261205".into()),
        ),
        (format!("mta-sts.{d}"), Data::A(POLICY_IP)),
        (d.to_owned(), Data::Mx(10, format!("mx.{d}"))),
        (format!("mx.{d}"), Data::A(GOOD_MX_IP)),
    ]
}

/// A scenario: a domain, its records, its policy answer.
pub(crate) struct Scenario {
    domain: String,
    records: Vec<Record>,
    policy: Option<PolicyResponse>,
}

pub(crate) fn scenario(
    name: &str,
    edit: impl FnOnce(&str, &mut Vec<Record>, &mut Option<PolicyResponse>),
) -> Scenario {
    let domain = format!("{name}.test");
    let mut records = good_records(&domain);
    let mut policy = Some(policy_ok(&POLICY_ENFORCE.replace("{D}", &domain)));
    edit(&domain, &mut records, &mut policy);
    Scenario {
        domain,
        records,
        policy,
    }
}

pub(crate) fn without(records: &mut Vec<Record>, name: &str) {
    records.retain(|(n, _)| n != name);
}

pub(crate) fn replace(records: &mut Vec<Record>, name: &str, data: Data) {
    without(records, name);
    records.push((name.to_owned(), data));
}

pub(crate) async fn start_world(pki: &Pki, scenarios: &[Scenario], expiring_mx: &str) -> World {
    let zone: Vec<Record> = scenarios.iter().flat_map(|s| s.records.clone()).collect();
    let dns = TestDns::start_zone(zone.clone()).await;

    // Policy hosts: one certificate per mta-sts name (by SNI).
    let mut certs = HashMap::new();
    let mut responses = HashMap::new();
    for s in scenarios {
        let host = format!("mta-sts.{}", s.domain);
        certs.insert(host.clone(), pki.leaf(&host, None));
        if let Some(p) = &s.policy {
            responses.insert(host, p.clone());
        }
    }
    // The certificate scenario's host gets a certificate for another name.
    certs.insert(
        "mta-sts.policy-cert.test".into(),
        pki.leaf("elsewhere.test", None),
    );
    let policy_tls = server_config(BySni {
        certs,
        fallback: None,
    });
    // Same port on 127.0.0.1 (answers) and 127.0.0.2 (silent).
    let (https, silent) = loop {
        let https = bind(POLICY_IP, 0).await.unwrap();
        let port = https.local_addr().unwrap().port();
        if let Some(silent) = bind(SILENT_IP, port).await {
            break (https, silent);
        }
    };
    let https_port = https.local_addr().unwrap().port();
    let requests = Arc::new(std::sync::Mutex::new(HashMap::new()));
    let mut tasks = vec![
        tokio::spawn(policy_server(
            https,
            policy_tls,
            Arc::new(responses),
            requests.clone(),
        )),
        tokio::spawn(async move {
            // Accepts and never answers.
            let mut held = Vec::new();
            while let Ok((c, _)) = silent.accept().await {
                held.push(c);
            }
        }),
    ];

    // MX hosts: good (per-name certificates), plain (no STARTTLS), wrong certificate,
    // expiring certificate.
    let mut mx_certs = HashMap::new();
    for s in scenarios {
        let host = format!("mx.{}", s.domain);
        mx_certs.insert(host.clone(), pki.leaf(&host, None));
    }
    let good = server_config(BySni {
        certs: mx_certs,
        fallback: None,
    });
    let wrong = server_config(BySni {
        certs: HashMap::new(),
        fallback: Some(pki.leaf("not-this-mx.test", None)),
    });
    let expiring = server_config(BySni {
        certs: HashMap::from([(expiring_mx.to_owned(), pki.leaf(expiring_mx, Some(5)))]),
        fallback: None,
    });
    let (listeners, smtp_port) = 'ports: loop {
        let first = bind(GOOD_MX_IP, 0).await.unwrap();
        let port = first.local_addr().unwrap().port();
        let mut all = vec![first];
        for ip in [PLAIN_MX_IP, WRONG_CERT_MX_IP, EXPIRING_MX_IP] {
            match bind(ip, port).await {
                Some(l) => all.push(l),
                None => continue 'ports,
            }
        }
        break (all, port);
    };
    let mut listeners = listeners.into_iter();
    for tls in [Some(good), None, Some(wrong), Some(expiring)] {
        let listener = listeners.next().unwrap();
        tasks.push(tokio::spawn(mx_server(listener, tls)));
    }
    World {
        dns_addr: dns.addr,
        dns,
        zone,
        ca: pki.ca_der(),
        https_port,
        smtp_port,
        policy_requests: requests,
        _tasks: tasks,
    }
}

pub(crate) fn options(world: &World, allow_private: bool) -> CheckOptions {
    CheckOptions {
        dns_server: Some(world.dns_addr),
        allow_private_addresses: allow_private,
        extra_roots: vec![world.ca.clone()],
        mta_sts_port: world.https_port,
        smtp_probe_port: world.smtp_port,
        helo_name: "checker.test".into(),
        own: OwnDestinations {
            mailto: vec![OWN_ADDRESS.into()],
            https: vec![],
        },
        fetch_timeout: Duration::from_secs(2),
        probe_timeout: Duration::from_secs(5),
    }
}

fn recent_reports() -> ReportContext {
    ReportContext {
        known: true,
        last_report_at: Some(Utc::now() - chrono::Duration::hours(3)),
        latest_reported_policy: None,
    }
}

fn codes(r: &PostureResult) -> Vec<&'static str> {
    r.findings.iter().map(|f| f.code).collect()
}

fn finding<'a>(r: &'a PostureResult, code: &str) -> &'a tlsrptd::posture::Finding {
    r.findings
        .iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("{}: no {code} finding in {:?}", r.domain, r.findings))
}

/// Every scenario, with the code it must produce, the state, and a text the fix must
/// contain (the record or host to change).
#[tokio::test]
async fn every_finding_code_from_live_servers() {
    let pki = Pki::new();
    let expiring_mx = "mx.cert-expiring.test".to_owned();
    let scenarios = vec![
        scenario("good", |_, _, _| {}),
        scenario("tlsrpt-missing", |d, r, _| {
            without(r, &format!("_smtp._tls.{d}"))
        }),
        scenario("tlsrpt-multiple", |d, r, _| {
            r.push((
                format!("_smtp._tls.{d}"),
                Data::Txt("v=TLSRPTv1; rua=mailto:other@x.test".into()),
            ))
        }),
        scenario("tlsrpt-invalid", |d, r, _| {
            replace(
                r,
                &format!("_smtp._tls.{d}"),
                Data::Txt("v=TLSRPTv1; rua=ftp://x.test".into()),
            )
        }),
        scenario("tlsrpt-no-rua", |d, r, _| {
            replace(
                r,
                &format!("_smtp._tls.{d}"),
                Data::Txt("v=TLSRPTv1;".into()),
            )
        }),
        scenario("rua-elsewhere", |d, r, _| {
            replace(
                r,
                &format!("_smtp._tls.{d}"),
                Data::Txt("v=TLSRPTv1; rua=mailto:reports@elsewhere.test".into()),
            )
        }),
        scenario("sts-missing", |d, r, _| {
            without(r, &format!("_mta-sts.{d}"))
        }),
        scenario("sts-multiple", |d, r, _| {
            r.push((format!("_mta-sts.{d}"), Data::Txt("v=STSv1; id=2".into())))
        }),
        scenario("sts-no-id", |d, r, _| {
            replace(r, &format!("_mta-sts.{d}"), Data::Txt("v=STSv1;".into()))
        }),
        scenario("sts-invalid", |d, r, _| {
            replace(
                r,
                &format!("_mta-sts.{d}"),
                Data::Txt("v=STSv1; id=not_valid!".into()),
            )
        }),
        scenario("host-missing", |d, r, _| {
            without(r, &format!("mta-sts.{d}"))
        }),
        scenario("host-conflict", |d, r, _| {
            r.push((
                format!("mta-sts.{d}"),
                Data::Cname("policy-host.test".into()),
            ));
            r.push(("policy-host.test".into(), Data::A(POLICY_IP)));
        }),
        scenario("policy-404", |_, _, p| *p = None),
        scenario("policy-redirect", |d, _, p| {
            *p = Some(PolicyResponse {
                status: 301,
                content_type: "text/plain",
                body: String::new(),
                location: Some(format!(
                    "https://mta-sts.good.test/.well-known/mta-sts.txt?from={d}"
                )),
            })
        }),
        scenario("policy-silent", |d, r, _| {
            replace(r, &format!("mta-sts.{d}"), Data::A(SILENT_IP))
        }),
        scenario("policy-cert", |_, _, _| {}),
        scenario("policy-invalid", |_, _, p| {
            *p = Some(policy_ok("version: STSv1\nmode: sometimes\n"))
        }),
        scenario("policy-large", |d, _, p| {
            let body = POLICY_ENFORCE.replace("{D}", d) + &"# padding\n".repeat(7000);
            *p = Some(policy_ok(&body))
        }),
        scenario("policy-html", |d, _, p| {
            *p = Some(PolicyResponse {
                content_type: "text/html",
                ..policy_ok(&POLICY_ENFORCE.replace("{D}", d))
            })
        }),
        scenario("mode-testing", |d, _, p| {
            *p = Some(policy_ok(
                &POLICY_ENFORCE
                    .replace("{D}", d)
                    .replace("enforce", "testing"),
            ))
        }),
        scenario("mode-none", |d, _, p| {
            *p = Some(policy_ok(
                &POLICY_ENFORCE.replace("{D}", d).replace("enforce", "none"),
            ))
        }),
        scenario("mx-missing", |d, r, _| without(r, d)),
        scenario("mx-mismatch", |d, r, _| {
            r.push((d.to_owned(), Data::Mx(20, format!("backup.{d}"))));
            r.push((format!("backup.{d}"), Data::A(GOOD_MX_IP)));
        }),
        scenario("starttls-missing", |d, r, _| {
            replace(r, &format!("mx.{d}"), Data::A(PLAIN_MX_IP))
        }),
        scenario("cert-invalid", |d, r, _| {
            replace(r, &format!("mx.{d}"), Data::A(WRONG_CERT_MX_IP))
        }),
        // The expiring MX host is served on its own address.
        scenario("cert-expiring", |d, r, _| {
            replace(r, &format!("mx.{d}"), Data::A(EXPIRING_MX_IP))
        }),
        scenario("tlsa", |d, r, _| {
            r.push((
                format!("_25._tcp.mx.{d}"),
                Data::Tlsa(3, 1, 1, vec![0xAB; 32]),
            ))
        }),
        scenario("doubled", |d, r, _| {
            let record = r
                .iter()
                .find(|(n, _)| *n == format!("_smtp._tls.{d}"))
                .unwrap()
                .1
                .clone();
            without(r, &format!("_smtp._tls.{d}"));
            r.push((format!("_smtp._tls.{d}.{d}"), record));
        }),
    ];
    let world = start_world(&pki, &scenarios, &expiring_mx).await;
    let checker = Checker::new(options(&world, true)).unwrap();
    let mut results = HashMap::new();
    for s in &scenarios {
        let started = Instant::now();
        let (result, _) = checker.check(&s.domain, &recent_reports(), None).await;
        results.insert(s.domain.clone(), (result, started.elapsed()));
    }
    let get = |name: &str| &results[&format!("{name}.test")].0;

    let good = get("good");
    assert_eq!(codes(good), Vec::<&str>::new(), "{:#?}", good.findings);
    assert_eq!(good.state, State::Ok);
    assert_eq!(good.facts.probes.len(), 1);
    assert!(good.facts.probes[0].tls_ok);
    assert!(good.facts.probes[0].certificate_days_left.unwrap() > 300);
    assert_eq!(good.facts.policy.as_ref().unwrap().mode, Some("enforce"));

    // (scenario, code, state, text the fix names)
    let table: &[(&str, &str, State, &str)] = &[
        (
            "tlsrpt-missing",
            "tlsrpt-missing",
            State::Broken,
            "_smtp._tls.tlsrpt-missing.test",
        ),
        (
            "tlsrpt-multiple",
            "tlsrpt-multiple",
            State::Broken,
            "_smtp._tls.tlsrpt-multiple.test",
        ),
        (
            "tlsrpt-invalid",
            "tlsrpt-invalid",
            State::Broken,
            "_smtp._tls.tlsrpt-invalid.test",
        ),
        (
            "tlsrpt-no-rua",
            "tlsrpt-no-rua",
            State::Broken,
            "_smtp._tls.tlsrpt-no-rua.test",
        ),
        (
            "rua-elsewhere",
            "tlsrpt-rua-elsewhere",
            State::Ok,
            "mailto:tlsrpt@reports.test",
        ),
        (
            "sts-missing",
            "mta-sts-missing",
            State::Warning,
            "_mta-sts.sts-missing.test",
        ),
        (
            "sts-multiple",
            "mta-sts-multiple",
            State::Broken,
            "_mta-sts.sts-multiple.test",
        ),
        (
            "sts-no-id",
            "mta-sts-no-id",
            State::Broken,
            "_mta-sts.sts-no-id.test",
        ),
        (
            "sts-invalid",
            "mta-sts-invalid",
            State::Broken,
            "_mta-sts.sts-invalid.test",
        ),
        (
            "host-missing",
            "mta-sts-host-missing",
            State::Broken,
            "mta-sts.host-missing.test",
        ),
        (
            "host-conflict",
            "mta-sts-host-conflict",
            State::Broken,
            "mta-sts.host-conflict.test",
        ),
        (
            "policy-404",
            "mta-sts-policy-unreachable",
            State::Broken,
            "/.well-known/mta-sts.txt",
        ),
        (
            "policy-redirect",
            "mta-sts-policy-unreachable",
            State::Broken,
            "do not follow redirects",
        ),
        (
            "policy-silent",
            "mta-sts-policy-unreachable",
            State::Broken,
            "mta-sts.policy-silent.test",
        ),
        (
            "policy-cert",
            "mta-sts-policy-certificate",
            State::Broken,
            "mta-sts.policy-cert.test",
        ),
        (
            "policy-invalid",
            "mta-sts-policy-invalid",
            State::Broken,
            "mta-sts.txt",
        ),
        (
            "policy-html",
            "mta-sts-policy-invalid",
            State::Broken,
            "text/plain",
        ),
        (
            "mode-testing",
            "mta-sts-mode-testing",
            State::Warning,
            "mode: enforce",
        ),
        (
            "mode-none",
            "mta-sts-mode-none",
            State::Warning,
            "mode: testing",
        ),
        (
            "mx-missing",
            "mx-missing",
            State::Broken,
            "MX records for mx-missing.test",
        ),
        (
            "mx-mismatch",
            "mta-sts-mx-mismatch",
            State::Broken,
            "mx: backup.mx-mismatch.test",
        ),
        (
            "starttls-missing",
            "mx-starttls-missing",
            State::Broken,
            "mx.starttls-missing.test",
        ),
        (
            "cert-invalid",
            "mx-certificate-invalid",
            State::Broken,
            "mx.cert-invalid.test",
        ),
        (
            "cert-expiring",
            "mx-certificate-expiring",
            State::Warning,
            "mx.cert-expiring.test",
        ),
        (
            "tlsa",
            "mx-tlsa-present",
            State::Ok,
            "_25._tcp.mx.tlsa.test",
        ),
        (
            "doubled",
            "record-doubled-name",
            State::Broken,
            "_smtp._tls.doubled.test.doubled.test",
        ),
    ];
    for (name, code, state, fix) in table {
        let r = get(name);
        let f = finding(r, code);
        assert_eq!(r.state, *state, "{name}: state with {:#?}", r.findings);
        assert!(
            f.fix.contains(fix),
            "{name}: the fix of {code} should name {fix:?}: {}",
            f.fix
        );
        assert!(!f.message.is_empty());
    }

    // Specifics: the redirect names its target and was not followed; the silent host
    // was given up within the bound; the certificate error is in words.
    let redirect = finding(get("policy-redirect"), "mta-sts-policy-unreachable");
    assert!(
        redirect.message.contains("301") && redirect.message.contains("?from=policy-redirect.test"),
        "{}",
        redirect.message
    );
    let good_host_requests = world
        .policy_requests
        .lock()
        .unwrap()
        .get("mta-sts.good.test")
        .copied();
    assert_eq!(
        good_host_requests,
        Some(1),
        "only good.test's own check fetched its policy"
    );
    let (_, silent_time) = &results["policy-silent.test"];
    assert!(
        *silent_time < Duration::from_secs(10),
        "silent host took {silent_time:?}"
    );
    assert!(
        finding(get("policy-silent"), "mta-sts-policy-unreachable")
            .message
            .contains("did not answer within")
    );
    let large = finding(get("policy-large"), "mta-sts-policy-invalid");
    assert!(
        large.message.contains("larger than 65536 bytes"),
        "{}",
        large.message
    );
    let cert = finding(get("policy-cert"), "mta-sts-policy-certificate");
    assert!(
        cert.message.contains("mta-sts.policy-cert.test")
            && cert.message.contains("elsewhere.test"),
        "{}",
        cert.message
    );
    assert!(
        finding(get("cert-invalid"), "mx-certificate-invalid")
            .message
            .contains("does not name this host")
    );
    let expiring = get("cert-expiring");
    let days = expiring.facts.probes[0].certificate_days_left.unwrap();
    assert!((3..=5).contains(&days), "{days}");
    // The state rules: only the "missing" case is missing.
    assert_eq!(get("sts-missing").state, State::Warning);
}

/// Nothing published at all: `missing`. A name resolving to a private address is refused
/// (and not contacted) without --allow-private-addresses.
#[tokio::test]
async fn missing_state_and_private_addresses_refused() {
    let pki = Pki::new();
    let scenarios = vec![
        scenario("nothing", |d, r, _| {
            without(r, &format!("_smtp._tls.{d}"));
            without(r, &format!("_mta-sts.{d}"));
        }),
        scenario("private", |_, _, _| {}),
    ];
    let world = start_world(&pki, &scenarios, "mx.unused.test").await;
    let strict = Checker::new(options(&world, false)).unwrap();
    let (nothing, _) = strict.check("nothing.test", &recent_reports(), None).await;
    assert_eq!(nothing.state, State::Missing);
    let (private, _) = strict.check("private.test", &recent_reports(), None).await;
    let refused = finding(&private, "address-not-public");
    assert!(refused.message.contains("127.0.0.1"), "{}", refused.message);
    assert!(refused.fix.contains("--allow-private-addresses"));
    assert_eq!(private.state, State::Broken);
    assert!(
        private.facts.probes.is_empty(),
        "the private MX was not probed"
    );
    assert_eq!(
        world
            .policy_requests
            .lock()
            .unwrap()
            .get("mta-sts.private.test"),
        None,
        "the private policy host was not contacted"
    );
}

/// Findings judged against the store's reports and the previous check: the policy text
/// changed under the same id; no report for 72 hours though the record points here;
/// unreachable after ok is `degraded`.
#[tokio::test]
async fn findings_against_reports_and_the_previous_check() {
    let pki = Pki::new();
    let scenarios = vec![
        scenario("history", |_, _, _| {}),
        scenario("gone", |d, r, _| {
            replace(r, &format!("mta-sts.{d}"), Data::A(SILENT_IP))
        }),
    ];
    let world = start_world(&pki, &scenarios, "mx.unused.test").await;
    let checker = Checker::new(options(&world, true)).unwrap();

    let (first, previous) = checker.check("history.test", &recent_reports(), None).await;
    assert_eq!(first.state, State::Ok);
    let mut previous = previous;
    // The check before saw other policy lines under the same id.
    previous.policy_lines = Some(vec!["max_age: 1".into(), "mode: testing".into()]);
    let (second, _) = checker
        .check("history.test", &recent_reports(), Some(&previous))
        .await;
    let f = finding(&second, "mta-sts-id-not-bumped");
    assert!(f.fix.contains("_mta-sts.history.test"));
    assert_eq!(second.state, State::Broken);

    let stale = ReportContext {
        known: true,
        last_report_at: Some(Utc::now() - chrono::Duration::hours(80)),
        latest_reported_policy: None,
    };
    let (quiet, _) = checker.check("history.test", &stale, None).await;
    assert_eq!(codes(&quiet), vec!["tlsrpt-no-reports"]);
    assert_eq!(quiet.state, State::Warning);

    let was_ok = Previous {
        checked_at: Utc::now() - chrono::Duration::hours(6),
        state: State::Ok,
        sts_id: Some("20261205".into()),
        policy_lines: None,
    };
    let (degraded, _) = checker
        .check("gone.test", &recent_reports(), Some(&was_ok))
        .await;
    assert_eq!(degraded.state, State::Degraded, "{:#?}", degraded.findings);
    let (broken, _) = checker.check("gone.test", &recent_reports(), None).await;
    assert_eq!(broken.state, State::Broken);
}

/// `tlsrptd check` prints the same JSON and exits 1 on an error finding, 0 otherwise.
#[tokio::test]
async fn the_check_command_prints_json_and_exits_by_severity() {
    let pki = Pki::new();
    let scenarios = vec![
        scenario("cli-good", |_, _, _| {}),
        scenario("cli-bad", |d, r, _| without(r, &format!("mta-sts.{d}"))),
    ];
    let world = start_world(&pki, &scenarios, "mx.unused.test").await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let run = |domain: &'static str| {
        let ca = ca.clone();
        let (dns, https, smtp) = (world.dns_addr, world.https_port, world.smtp_port);
        async move {
            tokio::task::spawn_blocking(move || {
                std::process::Command::new(env!("CARGO_BIN_EXE_tlsrptd"))
                    .args(["check", domain, "--json", "--allow-private-addresses"])
                    .args(["--dns-server", &dns.to_string()])
                    .args(["--mta-sts-port", &https.to_string()])
                    .args(["--smtp-probe-port", &smtp.to_string()])
                    .arg("--extra-ca")
                    .arg(&ca)
                    .args(["--smtp-recipient", OWN_ADDRESS])
                    .output()
                    .unwrap()
            })
            .await
            .unwrap()
        }
    };
    let good = run("CLI-GOOD.test").await;
    assert_eq!(
        good.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&good.stdout).unwrap();
    assert_eq!(json[0]["domain"], "cli-good.test");
    assert_eq!(json[0]["state"], "ok");
    // No report database given: the report-based findings are not judged.
    assert_eq!(json[0]["findings"], serde_json::json!([]));
    assert_eq!(json[0]["facts"]["policy"]["mode"], "enforce");

    let bad = run("cli-bad.test").await;
    assert_eq!(bad.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    let f = &json[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "mta-sts-host-missing")
        .cloned()
        .expect("mta-sts-host-missing");
    assert_eq!(f["severity"], "error");
    assert!(f["fix"].as_str().unwrap().contains("mta-sts.cli-bad.test"));

    let usage = std::process::Command::new(env!("CARGO_BIN_EXE_tlsrptd"))
        .args(["check", "not a domain"])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("not a domain"));
}

/// A zone with more MX hosts than `MAX_MX_PROBED`: every one is listed in the facts, the
/// first eight by preference are probed, the rest are not contacted.
#[tokio::test]
async fn at_most_eight_mx_hosts_are_probed() {
    use tlsrptd::posture::check::MAX_MX_PROBED;
    let pki = Pki::new();
    let scenarios = vec![scenario("many-mx", |d, r, _| {
        without(r, d);
        // Listed least preferred first: the order of the answer must not decide.
        for i in (0..12u16).rev() {
            r.push((d.to_owned(), Data::Mx(i, format!("mx{i}.{d}"))));
            r.push((format!("mx{i}.{d}"), Data::A(GOOD_MX_IP)));
        }
    })];
    let world = start_world(&pki, &scenarios, "mx.unused.test").await;
    let checker = Checker::new(options(&world, true)).unwrap();
    let (result, _) = checker.check("many-mx.test", &recent_reports(), None).await;
    assert_eq!(result.facts.mx.records().len(), 12);
    let probed: Vec<&str> = result
        .facts
        .probes
        .iter()
        .map(|p| p.host.as_str())
        .collect();
    assert_eq!(probed.len(), MAX_MX_PROBED, "{probed:?}");
    let expected: Vec<String> = (0..MAX_MX_PROBED)
        .map(|i| format!("mx{i}.many-mx.test"))
        .collect();
    assert_eq!(probed, expected, "the most preferred hosts");
}
