//! Shared fixtures: stores on both backends, report builders and encoders.

use std::io::Write;

use base64::Engine as _;
use chrono::{TimeZone, Utc};
use sqlx::Connection;
use tempfile::TempDir;
use tlsrptd::pipeline::{Envelope, ImportEnvelope, IngestOutcome, Limits, Pipeline, Submission};
use tlsrptd::store::{Folding, Store};

/// A store on a fresh SQLite file; keep the `TempDir` alive as long as the store.
/// A store that folds reports into the rollups only when asked
/// ([`Store::fold_rollups`]), so a test knows which reads run on pending reports.
pub async fn sqlite_store() -> (Store, TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_with(&sqlite_url(&dir), Folding::OnRequest)
        .await
        .expect("open sqlite");
    (store, dir)
}

pub fn sqlite_url(dir: &TempDir) -> String {
    format!("sqlite://{}/tlsrptd.db", dir.path().display())
}

/// A fresh PostgreSQL database per test, created on the server named by
/// `TLSRPT_TEST_POSTGRES_URL` (set by `.ci/run`).
pub async fn postgres_url() -> String {
    let base = std::env::var("TLSRPT_TEST_POSTGRES_URL").expect(
        "TLSRPT_TEST_POSTGRES_URL must point at a PostgreSQL server for the postgres tests",
    );
    let name = format!(
        "tlsrpt_test_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .expect("connect to TLSRPT_TEST_POSTGRES_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    match base.rfind('/') {
        Some(slash) if base[..slash].contains('@') || base[..slash].matches('/').count() >= 2 => {
            format!("{}/{name}", &base[..slash])
        }
        _ => format!("{base}/{name}"),
    }
}

static NEXT_DB: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub async fn postgres_store() -> (Store, ()) {
    let url = postgres_url().await;
    let store = Store::open_with(&url, Folding::OnRequest)
        .await
        .expect("open postgres");
    (store, ())
}

/// `(result-type, sending-mta-ip, receiving-mx-hostname, failed-session-count)`
pub type Detail<'a> = (&'a str, &'a str, &'a str, i64);
/// `(policy-domain, policy-type, successful, failed, details)`
pub type Policy<'a> = (&'a str, &'a str, i64, i64, &'a [Detail<'a>]);

/// A well-formed RFC 8460 report starting at midnight UTC of `day` (days since 1970).
pub fn report_json(org: &str, report_id: &str, day: i64, policies: &[Policy<'_>]) -> Vec<u8> {
    let start = Utc.timestamp_opt(day * 86_400, 0).unwrap();
    let end = Utc.timestamp_opt(day * 86_400 + 86_399, 0).unwrap();
    let policies: Vec<serde_json::Value> = policies
        .iter()
        .map(|(domain, kind, ok, failed, details)| {
            serde_json::json!({
                "policy": {
                    "policy-type": kind,
                    "policy-string": ["version: STSv1", "mode: testing", "mx: *.example.org", "max_age: 86400"],
                    "policy-domain": domain,
                    "mx-host": ["*.example.org"]
                },
                "summary": {
                    "total-successful-session-count": ok,
                    "total-failure-session-count": failed
                },
                "failure-details": details.iter().map(|(result, ip, mx, count)| serde_json::json!({
                    "result-type": result,
                    "sending-mta-ip": ip,
                    "receiving-mx-hostname": mx,
                    "failed-session-count": count
                })).collect::<Vec<_>>()
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "organization-name": org,
        "date-range": {
            "start-datetime": start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "end-datetime": end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        },
        "contact-info": format!("tlsrpt@{org}"),
        "report-id": report_id,
        "policies": policies
    }))
    .unwrap()
}

/// A report with `n` small policies: over the parser's limit of 10,000 policies while
/// the gzipped body stays far under every byte limit.
pub fn report_with_policies(n: usize) -> Vec<u8> {
    let policy = r#"{"policy":{"policy-type":"no-policy-found","policy-domain":"many.example"},"summary":{"total-successful-session-count":1,"total-failure-session-count":0}}"#;
    let policies = vec![policy; n].join(",");
    format!(
        r#"{{"organization-name":"big.example","date-range":{{"start-datetime":"2024-10-01T00:00:00Z","end-datetime":"2024-10-01T23:59:59Z"}},"contact-info":"tlsrpt@big.example","report-id":"many-policies","policies":[{policies}]}}"#
    )
    .into_bytes()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// An RFC 8460 §5.3 email carrying `json` as a gzip attachment.
pub fn report_email(json: &[u8], domain: &str) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(gzip(json));
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "From: tlsrpt@reporter.example\r\n\
         To: tlsrpt@{domain}\r\n\
         Subject: Report Domain: {domain} Submitter: reporter.example Report-ID: <x@reporter.example>\r\n\
         Message-ID: <msg-{domain}@reporter.example>\r\n\
         TLS-Report-Domain: {domain}\r\n\
         TLS-Report-Submitter: reporter.example\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"b1\"\r\n\
         \r\n\
         --b1\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\
         \r\n\
         This is an aggregate TLS report from reporter.example\r\n\
         --b1\r\n\
         Content-Type: application/tlsrpt+gzip; name=\"reporter.example!{domain}!1!2.json.gz\"\r\n\
         Content-Disposition: attachment; filename=\"reporter.example!{domain}!1!2.json.gz\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {}\r\n\
         --b1--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

pub fn submission(raw: Vec<u8>) -> Submission {
    Submission {
        envelope: Envelope::Import(ImportEnvelope {
            path: "test".to_owned(),
            mbox_message: None,
        }),
        content_type: None,
        received_at: Utc::now(),
        raw,
    }
}

pub async fn ingest(store: &Store, raw: Vec<u8>) -> IngestOutcome {
    Pipeline::new(store.clone(), Limits::default())
        .ingest(submission(raw))
        .await
        .expect("ingest")
}

/// The corpus beside the repository (`../shared/corpus`) or `TLSRPT_CORPUS_DIR`.
pub fn corpus_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("TLSRPT_CORPUS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
        });
    if dir.join("expected.tsv").is_file() {
        Some(dir)
    } else if std::env::var_os("TLSRPT_REQUIRE_CORPUS").is_some() {
        panic!("corpus required but {} has no expected.tsv", dir.display());
    } else {
        None
    }
}

/// The app spawned on port 0 over real TLS, with a client that trusts its certificate.
pub struct TestApp {
    pub addr: std::net::SocketAddr,
    /// The read side's own listener, when the test set `read_listen`.
    pub read_addr: Option<std::net::SocketAddr>,
    pub smtp_addr: Option<std::net::SocketAddr>,
    pub certificate: Vec<u8>,
    pub base: String,
    pub client: reqwest::Client,
    pub database_url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub handle: Option<tokio::task::JoinHandle<Result<(), tlsrptd::app::AppError>>>,
    _dir: Option<TempDir>,
}

pub fn http_args() -> tlsrptd::config::HttpArgs {
    tlsrptd::config::HttpArgs {
        http_listen: "127.0.0.1:0".parse().unwrap(),
        read_listen: None,
        tls_cert: None,
        tls_key: None,
        http_plain: false,
        api_token: None,
        dashboard_session_lifetime: std::time::Duration::from_secs(30 * 86_400),
        max_body_bytes: 10 * 1024 * 1024,
        header_timeout: std::time::Duration::from_secs(30),
        body_timeout: std::time::Duration::from_secs(30),
        rate_limit: 0,
        rate_burst: 0,
        max_connections: 1024,
        shutdown_grace: std::time::Duration::from_secs(10),
        hostname: "localhost".to_owned(),
    }
}

/// SMTP settings for tests: disabled unless a test turns it on.
pub fn smtp_args() -> tlsrptd::config::SmtpArgs {
    tlsrptd::config::SmtpArgs {
        smtp_listen: "127.0.0.1:0".parse().unwrap(),
        no_smtp: true,
        smtp_recipients: vec![
            "tlsrpt@reports.example.com".into(),
            "*@tlsrpt.example.net".into(),
        ],
        smtp_require_tls: false,
        smtp_max_message_bytes: 10 * 1024 * 1024,
        smtp_max_recipients: 100,
        smtp_max_errors: 10,
        smtp_idle_timeout: std::time::Duration::from_secs(300),
        smtp_session_lifetime: std::time::Duration::from_secs(900),
        smtp_max_connections: 100,
        dkim: tlsrptd::intake::smtp::dkim::DkimMode::Off,
        dkim_nameserver: None,
    }
}

/// Which database a test app runs on.
#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub async fn spawn_app(db: Db, tweak: impl FnOnce(&mut tlsrptd::app::AppConfig)) -> TestApp {
    spawn(db, false, tweak).await
}

/// The app on port 0 over plain HTTP (`--http-plain`), reached as `http://localhost:PORT`:
/// what a browser in the dashboard tests talks to without certificate trouble.
pub async fn spawn_plain_app(db: Db, tweak: impl FnOnce(&mut tlsrptd::app::AppConfig)) -> TestApp {
    spawn(db, true, tweak).await
}

async fn spawn(db: Db, plain: bool, tweak: impl FnOnce(&mut tlsrptd::app::AppConfig)) -> TestApp {
    let (database_url, dir) = match db {
        Db::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            (sqlite_url(&dir), Some(dir))
        }
        Db::Postgres => (postgres_url().await, None),
    };
    let mut config = tlsrptd::app::AppConfig {
        database_url: database_url.clone(),
        limits: Limits::default(),
        http: http_args(),
        smtp: smtp_args(),
        posture: tlsrptd::app::PostureConfig::off(),
        readiness: Default::default(),
        readiness_interval: None,
        alerts: None,
    };
    config.http.http_plain = plain;
    tweak(&mut config);
    let app = tlsrptd::app::App::build(config).await.expect("app builds");
    let addr = app.http_addr();
    let read_addr = app.read_addr();
    let smtp_addr = app.smtp_addr();
    let cert = app.certificate();
    assert!(plain || cert.is_some(), "TLS certificate");
    let _ = tlsrptd::tls::crypto_provider();
    let mut client = reqwest::Client::builder();
    if let Some(cert) = &cert {
        client =
            client.add_root_certificate(reqwest::Certificate::from_der(cert.as_ref()).unwrap());
    }
    let client = client.resolve("localhost", addr).build().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    let scheme = if plain { "http" } else { "https" };
    TestApp {
        addr,
        read_addr,
        smtp_addr,
        certificate: cert.map(|c| c.as_ref().to_vec()).unwrap_or_default(),
        base: format!("{scheme}://localhost:{}", addr.port()),
        client,
        database_url,
        shutdown: Some(tx),
        handle: Some(handle),
        _dir: dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_report(&self, body: Vec<u8>, content_type: &str) -> (u16, serde_json::Value) {
        let response = self
            .client
            .post(self.url("/v1/reports"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("POST /v1/reports");
        let status = response.status().as_u16();
        let json = response.json().await.unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self.client.get(self.url(path)).send().await.expect("GET");
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// Signals shutdown and waits for `run` to return.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("app task").expect("app run");
        }
    }

    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Four reports whose numbers the tests compute by hand (day 20000 is 2024-10-04; the
/// one 40 days earlier falls outside the ranges the tests query):
/// example.org: a-1 (org-a, day 0, sts 100 ok / 10 failed: certificate-expired 6 via
/// mx1 from 192.0.2.1, starttls-not-supported 4 via mx2 from 192.0.2.2), b-1 (org-b,
/// day 1, sts 50/5: certificate-expired 5 via mx1 from 192.0.2.1; plus example.net
/// 7/0), a-2 (org-a, day 3, tlsa 20/0), b-old (org-b, day -40, 1000/1000).
pub fn known_set() -> Vec<Vec<u8>> {
    const D: i64 = 20_000;
    vec![
        report_json(
            "org-a.example",
            "a-1",
            D,
            &[(
                "example.org",
                "sts",
                100,
                10,
                &[
                    ("certificate-expired", "192.0.2.1", "mx1.example.org", 6),
                    ("starttls-not-supported", "192.0.2.2", "mx2.example.org", 4),
                ],
            )],
        ),
        report_json(
            "org-b.example",
            "b-1",
            D + 1,
            &[
                (
                    "example.org",
                    "sts",
                    50,
                    5,
                    &[("certificate-expired", "192.0.2.1", "mx1.example.org", 5)],
                ),
                ("example.net", "sts", 7, 0, &[]),
            ],
        ),
        report_json(
            "org-a.example",
            "a-2",
            D + 3,
            &[("example.org", "tlsa", 20, 0, &[])],
        ),
        report_json(
            "org-b.example",
            "b-old",
            D - 40,
            &[("example.org", "sts", 1000, 1000, &[])],
        ),
    ]
}
