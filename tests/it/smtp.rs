//! The SMTP intake end to end: lettre (a real SMTP client) over STARTTLS against the app
//! spawned on port 0, results read back through the HTTPS API.

use lettre::address::Envelope;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncTransport, Tokio1Executor};

use crate::helpers::{Db, TestApp, corpus_dir, report_email, report_json, spawn_app};

const D: i64 = 20_000;

async fn smtp_app(tweak: impl FnOnce(&mut tlsrptd::config::SmtpArgs)) -> TestApp {
    spawn_app(Db::Sqlite, |c| {
        c.smtp.no_smtp = false;
        tweak(&mut c.smtp);
    })
    .await
}

/// A client that must use STARTTLS and trusts only the app's certificate.
fn client(app: &TestApp) -> AsyncSmtpTransport<Tokio1Executor> {
    let addr = app.smtp_addr.expect("SMTP listener");
    let tls = TlsParameters::builder("localhost".to_owned())
        .add_root_certificate(Certificate::from_der(app.certificate.clone()).expect("certificate"))
        .build_rustls()
        .expect("TLS parameters");
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(addr.port())
        .tls(Tls::Required(tls))
        .build()
}

fn envelope(to: &str) -> Envelope {
    Envelope::new(
        Some(
            "tlsrpt-noreply@reporter.example"
                .parse::<Address>()
                .unwrap(),
        ),
        vec![to.parse::<Address>().unwrap()],
    )
    .unwrap()
}

#[tokio::test]
async fn report_by_mail_is_stored_and_queryable() {
    let mut app = smtp_app(|_| {}).await;
    let json = report_json(
        "mail.example",
        "m-1",
        D,
        &[(
            "example.com",
            "sts",
            30,
            2,
            &[("certificate-expired", "192.0.2.3", "mx.example.com", 2)],
        )],
    );
    let response = client(&app)
        .send_raw(
            &envelope("tlsrpt@reports.example.com"),
            &report_email(&json, "example.com"),
        )
        .await
        .expect("250 after DATA");
    assert_eq!(response.code().to_string(), "250");
    let text = response.message().collect::<Vec<_>>().join(" ");
    assert!(text.contains("stored"), "{text}");

    let (_, page) = app
        .get_json("/api/v1/reports?from=2024-01-01&to=2025-01-01")
        .await;
    let id = page["items"][0]["id"].as_i64().expect("report listed");
    let (_, report) = app.get_json(&format!("/api/v1/reports/{id}")).await;
    assert_eq!(report["source"], "smtp");
    assert_eq!(
        report["envelope"]["mail_from"],
        "tlsrpt-noreply@reporter.example"
    );
    assert_eq!(
        report["envelope"]["rcpt_to"][0],
        "tlsrpt@reports.example.com"
    );
    assert!(
        report["envelope"]["tls"]
            .as_str()
            .unwrap_or("")
            .contains("TLS"),
        "{report}"
    );
    assert_eq!(report["meta"]["tls_report_domain"], "example.com");

    // The same report by HTTPS is a duplicate.
    let (status, json) = app.post_report(json, "application/tlsrpt+json").await;
    assert_eq!((status, json["id"].as_i64()), (200, Some(id)));
    app.stop().await;
}

#[tokio::test]
async fn corpus_email_is_stored() {
    let Some(dir) = corpus_dir() else { return };
    let mut app = smtp_app(|_| {}).await;
    let message = std::fs::read(dir.join("mjl-__mox/testdata__tlsreports__microsoft.eml")).unwrap();
    let response = client(&app)
        .send_raw(&envelope("reports@tlsrpt.example.net"), &message)
        .await
        .expect("250");
    assert_eq!(response.code().to_string(), "250");
    let (_, domains) = app.get_json("/api/v1/domains?from=2000-01-01").await;
    assert!(
        !domains["domains"].as_array().unwrap().is_empty(),
        "{domains}"
    );
    app.stop().await;
}

#[tokio::test]
async fn non_report_message_is_refused_and_quarantined() {
    let mut app = smtp_app(|_| {}).await;
    let message = b"From: someone@example.org\r\nTo: tlsrpt@reports.example.com\r\nSubject: hello\r\n\r\nJust a note.\r\n";
    let error = client(&app)
        .send_raw(&envelope("tlsrpt@reports.example.com"), message)
        .await
        .expect_err("refused");
    assert!(error.is_permanent(), "{error}");
    let code = error.status().map(|c| c.to_string()).unwrap_or_default();
    assert!(code == "550" || code == "554", "{code}: {error}");
    let (_, rejections) = app.get_json("/api/v1/rejections").await;
    assert_eq!(rejections["items"][0]["source"], "smtp");
    app.stop().await;
}

#[tokio::test]
async fn report_over_the_policy_limit_gets_550_report_too_large() {
    let mut app = smtp_app(|_| {}).await;
    let json = crate::helpers::report_with_policies(10_001);
    let error = client(&app)
        .send_raw(
            &envelope("tlsrpt@reports.example.com"),
            &report_email(&json, "many.example"),
        )
        .await
        .expect_err("refused");
    assert!(error.is_permanent(), "{error}");
    assert_eq!(
        error.status().map(|c| c.to_string()).as_deref(),
        Some("550"),
        "{error}"
    );
    assert!(error.to_string().contains("report-too-large"), "{error}");
    let (_, rejections) = app.get_json("/api/v1/rejections").await;
    assert_eq!(rejections["items"][0]["source"], "smtp");
    assert_eq!(rejections["items"][0]["reason_code"], "report-too-large");
    app.stop().await;
}

#[tokio::test]
async fn oversized_message_gets_552() {
    let mut app = smtp_app(|s| s.smtp_max_message_bytes = 4096).await;
    let mut big = report_email(
        &report_json(
            "big.example",
            "b-1",
            D,
            &[("example.com", "sts", 1, 0, &[])],
        ),
        "example.com",
    );
    big.extend(std::iter::repeat_n(b'x', 8192));
    big.extend_from_slice(b"\r\n");
    let error = client(&app)
        .send_raw(&envelope("tlsrpt@reports.example.com"), &big)
        .await
        .expect_err("too big");
    assert_eq!(
        error.status().map(|c| c.to_string()).as_deref(),
        Some("552"),
        "{error}"
    );
    app.stop().await;
}

#[tokio::test]
async fn wrong_recipient_gets_550() {
    let mut app = smtp_app(|_| {}).await;
    let json = report_json(
        "rcpt.example",
        "r-1",
        D,
        &[("example.com", "sts", 1, 0, &[])],
    );
    let error = client(&app)
        .send_raw(
            &envelope("postmaster@elsewhere.example"),
            &report_email(&json, "example.com"),
        )
        .await
        .expect_err("refused");
    assert_eq!(
        error.status().map(|c| c.to_string()).as_deref(),
        Some("550"),
        "{error}"
    );
    assert!(error.to_string().contains("5.1.1"), "{error}");
    app.stop().await;
}

/// A report email from reporter.example, signed by `signer` with the test key.
fn signed_report(key: &crate::dkim::Key, signer: &str, id: &str) -> Vec<u8> {
    let json = report_json(
        "reporter.example",
        id,
        D,
        &[("example.com", "sts", 5, 0, &[])],
    );
    let email = String::from_utf8(report_email(&json, "example.com")).unwrap();
    crate::dkim::sign(key, signer, &email, false).into_bytes()
}

async fn dkim_app(
    mode: tlsrptd::intake::smtp::dkim::DkimMode,
    dns: &crate::dns::TestDns,
) -> TestApp {
    let ns = dns.addr;
    smtp_app(move |s| {
        s.dkim = mode;
        s.dkim_nameserver = Some(ns);
    })
    .await
}

#[tokio::test]
async fn dkim_enforce_stores_aligned_reports_and_quarantines_the_rest() {
    let key = crate::dkim::ed25519_key();
    let dns = crate::dkim::dns(&key).await;
    let mut app = dkim_app(tlsrptd::intake::smtp::dkim::DkimMode::Enforce, &dns).await;
    let smtp = client(&app);
    let to = envelope("tlsrpt@reports.example.com");

    let ok = smtp
        .send_raw(&to, &signed_report(&key, "reporter.example", "k-1"))
        .await
        .expect("250");
    assert_eq!(ok.code().to_string(), "250");
    let (_, page) = app
        .get_json("/api/v1/reports?from=2024-01-01&to=2025-01-01")
        .await;
    let id = page["items"][0]["id"].as_i64().unwrap();
    let (_, report) = app.get_json(&format!("/api/v1/reports/{id}")).await;
    assert_eq!(report["envelope"]["dkim"]["result"], "pass", "{report}");
    assert_eq!(report["envelope"]["dkim"]["aligned"], true);

    // Unsigned, misaligned and altered messages are refused and quarantined with the reason.
    let unsigned = report_email(
        &report_json(
            "reporter.example",
            "k-2",
            D,
            &[("example.com", "sts", 5, 0, &[])],
        ),
        "example.com",
    );
    let misaligned = signed_report(&key, "other.example", "k-3");
    // Body altered after signing (a gateway banner would do this): the report still parses.
    let altered = String::from_utf8(signed_report(&key, "reporter.example", "k-4"))
        .unwrap()
        .replace(
            "This is an aggregate TLS report",
            "EXTERNAL EMAIL. This is an aggregate TLS report",
        )
        .into_bytes();
    for (case, message) in [
        ("unsigned", unsigned),
        ("misaligned", misaligned),
        ("altered", altered),
    ] {
        let error = smtp.send_raw(&to, &message).await.expect_err(case);
        assert_eq!(
            error.status().map(|c| c.to_string()).as_deref(),
            Some("550"),
            "{case}: {error}"
        );
        assert!(
            error.to_string().to_lowercase().contains("dkim"),
            "{case}: {error}"
        );
    }
    let (_, rejections) = app.get_json("/api/v1/rejections").await;
    let codes: Vec<&str> = rejections["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason_code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["dkim", "dkim", "dkim"], "{rejections}");
    let (_, page) = app
        .get_json("/api/v1/reports?from=2024-01-01&to=2025-01-01")
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn dkim_record_stores_and_flags() {
    let key = crate::dkim::ed25519_key();
    let dns = crate::dkim::dns(&key).await;
    let mut app = dkim_app(tlsrptd::intake::smtp::dkim::DkimMode::Record, &dns).await;
    let unsigned = report_email(
        &report_json(
            "reporter.example",
            "rec-1",
            D,
            &[("example.com", "sts", 5, 0, &[])],
        ),
        "example.com",
    );
    let ok = client(&app)
        .send_raw(&envelope("tlsrpt@reports.example.com"), &unsigned)
        .await
        .expect("250 in record mode");
    assert_eq!(ok.code().to_string(), "250");
    let (_, page) = app
        .get_json("/api/v1/reports?from=2024-01-01&to=2025-01-01")
        .await;
    let id = page["items"][0]["id"].as_i64().unwrap();
    let (_, report) = app.get_json(&format!("/api/v1/reports/{id}")).await;
    assert_eq!(report["envelope"]["dkim"]["result"], "none");
    let codes: Vec<&str> = report["report"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"dkim-not-valid"), "{codes:?}");
    app.stop().await;
}

#[tokio::test]
async fn store_failure_answers_451_so_the_sender_retries() {
    let mut app = smtp_app(|_| {}).await;
    let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
    sqlx::query("CREATE TRIGGER fail_reports BEFORE INSERT ON reports BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END")
        .execute(&pool)
        .await
        .unwrap();
    let json = report_json(
        "retry.example",
        "t-1",
        D,
        &[("example.com", "sts", 1, 0, &[])],
    );
    let error = client(&app)
        .send_raw(
            &envelope("tlsrpt@reports.example.com"),
            &report_email(&json, "example.com"),
        )
        .await
        .expect_err("451");
    assert!(error.is_transient(), "{error}");
    assert_eq!(
        error.status().map(|c| c.to_string()).as_deref(),
        Some("451")
    );
    sqlx::query("DROP TRIGGER fail_reports")
        .execute(&pool)
        .await
        .unwrap();
    let ok = client(&app)
        .send_raw(
            &envelope("tlsrpt@reports.example.com"),
            &report_email(&json, "example.com"),
        )
        .await
        .expect("retry succeeds");
    assert_eq!(ok.code().to_string(), "250");
    app.stop().await;
}

#[tokio::test]
async fn shutdown_answers_421_to_open_sessions() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut app = smtp_app(|_| {}).await;
    let stream = tokio::net::TcpStream::connect(app.smtp_addr.unwrap())
        .await
        .unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = tokio::io::BufReader::new(read).lines();
    assert!(
        lines
            .next_line()
            .await
            .unwrap()
            .unwrap()
            .starts_with("220 ")
    );
    write.write_all(b"EHLO client.example\r\n").await.unwrap();
    while let Some(line) = lines.next_line().await.unwrap() {
        if line.starts_with("250 ") {
            break;
        }
    }
    app.trigger_shutdown();
    let line = tokio::time::timeout(std::time::Duration::from_secs(5), lines.next_line())
        .await
        .expect("reply before timeout")
        .unwrap()
        .unwrap();
    assert!(line.starts_with("421 4.3.2"), "{line}");
    let handle = app.handle.take().unwrap();
    handle.await.unwrap().unwrap();
}

/// Reads one reply line (the last line of a multi-line reply).
async fn reply_line(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>>,
) -> String {
    loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(10), lines.next_line())
            .await
            .expect("reply in time")
            .unwrap()
            .unwrap_or_default();
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return line;
        }
    }
}

async fn open_session(
    app: &TestApp,
) -> (
    tokio::io::Lines<tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>>,
    tokio::net::tcp::OwnedWriteHalf,
) {
    use tokio::io::AsyncBufReadExt;
    let stream = tokio::net::TcpStream::connect(app.smtp_addr.unwrap())
        .await
        .unwrap();
    let (read, write) = stream.into_split();
    (tokio::io::BufReader::new(read).lines(), write)
}

#[tokio::test]
async fn idle_timeout_and_session_lifetime_answer_421() {
    use tokio::io::AsyncWriteExt;
    let mut app = smtp_app(|s| s.smtp_idle_timeout = std::time::Duration::from_millis(300)).await;
    let (mut lines, _write) = open_session(&app).await;
    assert!(reply_line(&mut lines).await.starts_with("220 "));
    let line = reply_line(&mut lines).await;
    assert!(
        line.starts_with("421 4.4.2") && line.contains("Idle"),
        "{line}"
    );
    app.stop().await;

    let mut app =
        smtp_app(|s| s.smtp_session_lifetime = std::time::Duration::from_millis(600)).await;
    let (mut lines, mut write) = open_session(&app).await;
    assert!(reply_line(&mut lines).await.starts_with("220 "));
    // Busy, never idle: NOOP every 100 ms until the lifetime is over.
    let mut last = String::new();
    for _ in 0..20 {
        if write.write_all(b"NOOP\r\n").await.is_err() {
            break;
        }
        last = reply_line(&mut lines).await;
        if last.starts_with("421") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        last.starts_with("421 4.4.2") && last.contains("too long"),
        "{last}"
    );
    app.stop().await;
}

#[tokio::test]
async fn connections_over_the_cap_get_421() {
    let mut app = smtp_app(|s| s.smtp_max_connections = 1).await;
    let (mut first, _w1) = open_session(&app).await;
    assert!(reply_line(&mut first).await.starts_with("220 "));
    let (mut second, _w2) = open_session(&app).await;
    let line = reply_line(&mut second).await;
    assert!(line.starts_with("421 4.7.0"), "{line}");
    app.stop().await;
}
