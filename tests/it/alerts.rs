//! Alerts end to end: reports stored for known days, a clock the test moves, and a real
//! webhook receiver on loopback that checks each body's HMAC-SHA256 signature. A spike
//! opens one alert and sends one notice, a clean day resolves it with one more; a
//! reporter that goes quiet is flagged after 48 hours and not before; a new failure type
//! fires once; a receiver that fails three times gets the notice on the fourth try, with a
//! restart between tries; two nodes on one PostgreSQL database send each notice once.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Datelike, Utc};
use tlsrptd::pipeline::{Limits, Pipeline};
use tlsrptd::store::Store;
use tlsrptd::watch::alerts::AlertWatch;
use tlsrptd::watch::alerts::config::{AlertConfig, parse};
use tlsrptd::watch::alerts::send::{NOTICE_HEADER, SIGNATURE_HEADER, signature};

use crate::helpers::{Detail, report_json, submission};
use crate::posture_watch::TestClock;

const SECRET: &str = "a-shared-secret-of-some-length";

/// What the webhook receiver saw: (status it answered, notice id, body).
type Seen = Arc<Mutex<Vec<(u16, i64, serde_json::Value)>>>;

/// A webhook receiver on 127.0.0.1:0 that refuses a body without the right signature
/// (401) and answers 500 to its first `failures` deliveries.
async fn webhook_sink(failures: usize) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let state = (seen.clone(), Arc::new(Mutex::new(failures)));
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |axum::extract::State((seen, left)): axum::extract::State<(
                    Seen,
                    Arc<Mutex<usize>>,
                )>,
                 headers: HeaderMap,
                 body: axum::body::Bytes| async move {
                    let signed = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok())
                        == Some(signature(SECRET, &body).as_str());
                    let id: i64 = headers
                        .get(NOTICE_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(-1);
                    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    let status = if !signed {
                        StatusCode::UNAUTHORIZED
                    } else {
                        let mut left = left.lock().unwrap();
                        if *left > 0 {
                            *left -= 1;
                            StatusCode::INTERNAL_SERVER_ERROR
                        } else {
                            StatusCode::NO_CONTENT
                        }
                    };
                    seen.lock().unwrap().push((status.as_u16(), id, json));
                    status
                },
            ),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), seen)
}

fn config(url: &str) -> AlertConfig {
    let text = format!(
        "[[channels]]\nname = \"ops\"\ntype = \"webhook\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\nmin_severity = \"info\"\n"
    );
    parse("test.toml", &text, &|_| None).unwrap()
}

/// Stores `org`'s report of `day` for `domain`, received at `received`.
async fn store_day(
    store: &Store,
    org: &str,
    domain: &str,
    day: i64,
    ok: i64,
    details: &[Detail<'_>],
    received: DateTime<Utc>,
) {
    let failed: i64 = details.iter().map(|d| d.3).sum();
    let raw = report_json(
        org,
        &format!("{org}-{domain}-{day}"),
        day,
        &[(domain, "sts", ok, failed, details)],
    );
    let mut sub = submission(raw);
    sub.received_at = received;
    Pipeline::new(store.clone(), Limits::default())
        .ingest(sub)
        .await
        .expect("stored");
}

fn today() -> i64 {
    Utc::now().timestamp().div_euclid(86_400)
}

/// 19 steady days (10,005 sessions, 5 failed a day) before yesterday, and yesterday with
/// 60 failed: three times the median and more than 20, under 1 % of the sessions.
async fn spike(store: &Store, domain: &str, now: DateTime<Utc>) {
    let t = today();
    for day in t - 20..t {
        let failed = if day == t - 1 { 60 } else { 5 };
        store_day(store, "a.test", domain, day, 5_000, &[], now).await;
        let detail = [(
            "certificate-expired",
            "192.0.2.1",
            "mx1.example.org",
            failed,
        )];
        store_day(store, "b.test", domain, day, 5_000, &detail, now).await;
    }
}

async fn open_alerts(store: &Store) -> Vec<(String, String)> {
    store
        .list_alerts("", "open", 100)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.rule, a.subject))
        .collect()
}

#[tokio::test]
async fn a_spike_opens_one_alert_and_one_notice_and_a_clean_day_resolves_it() {
    let (url, seen) = webhook_sink(0).await;
    let (store, _dir) = crate::helpers::sqlite_store().await;
    let now = Utc::now();
    spike(&store, "spike.test", now).await;
    let clock = TestClock::new(now);
    let watch = AlertWatch::new(store.clone(), config(&url), clock.clone()).unwrap();

    let changes = watch.evaluate().await.unwrap().expect("holds the lease");
    assert_eq!((changes.opened, changes.notices), (1, 1), "{changes:?}");
    assert_eq!(
        open_alerts(&store).await,
        vec![("failure-spike".into(), String::new())]
    );
    assert_eq!(watch.send().await.unwrap(), 1);
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let (status, id, body) = &seen[0];
        assert_eq!(*status, 204, "signed body accepted");
        assert_eq!(body["notification_id"], *id);
        assert_eq!(body["kind"], "opened");
        assert_eq!(body["alert"]["rule"], "failure-spike");
        assert_eq!(body["alert"]["domain"], "spike.test");
        assert_eq!(body["alert"]["detail"]["numbers"]["failed"], 60);
        assert_eq!(body["link"], "/domains/spike.test");
    }
    // Evaluated again while it holds: no second alert, no second notice.
    clock.advance(chrono::Duration::minutes(5));
    let again = watch.evaluate().await.unwrap().unwrap();
    assert_eq!((again.opened, again.notices), (0, 0));
    assert_eq!(watch.send().await.unwrap(), 0);

    // Today's report is clean again: tomorrow the alert resolves, with one notice.
    let t = today();
    store_day(&store, "a.test", "spike.test", t, 5_000, &[], now).await;
    let detail = [("certificate-expired", "192.0.2.1", "mx1.example.org", 5)];
    store_day(&store, "b.test", "spike.test", t, 5_000, &detail, now).await;
    clock.advance(chrono::Duration::days(1));
    let resolved = watch.evaluate().await.unwrap().unwrap();
    assert_eq!(
        (resolved.resolved, resolved.notices),
        (1, 1),
        "{resolved:?}"
    );
    assert!(open_alerts(&store).await.is_empty());
    assert_eq!(watch.send().await.unwrap(), 1);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].2["kind"], "resolved");
    assert_eq!(seen[1].2["alert"]["state"], "resolved");
}

#[tokio::test]
async fn a_quiet_reporter_is_flagged_after_48_hours_and_not_before() {
    let (store, _dir) = crate::helpers::sqlite_store().await;
    let base = Utc::now();
    let t = today();
    for day in t - 7..t {
        store_day(&store, "a.test", "quiet.test", day, 1_000, &[], base).await;
        store_day(&store, "b.test", "quiet.test", day, 1_000, &[], base).await;
    }
    // b.test goes on reporting; a.test goes quiet after `base`.
    store_day(
        &store,
        "b.test",
        "quiet.test",
        t,
        1_000,
        &[],
        base + chrono::Duration::hours(40),
    )
    .await;
    let clock = TestClock::new(base + chrono::Duration::hours(47));
    let watch = AlertWatch::new(store.clone(), AlertConfig::default(), clock.clone()).unwrap();
    watch.evaluate().await.unwrap().unwrap();
    assert!(
        open_alerts(&store).await.is_empty(),
        "47 hours is not yet silence"
    );
    clock.advance(chrono::Duration::hours(1));
    watch.evaluate().await.unwrap().unwrap();
    assert_eq!(
        open_alerts(&store).await,
        vec![("reporter-silent".into(), "a.test".into())]
    );
    let alert = &store.list_alerts("quiet.test", "open", 10).await.unwrap()[0];
    assert_eq!(alert.detail["numbers"]["hours_silent"], 48);
    // a.test's report days that fall in the 7 days before the clock's day.
    let clock_day = (base + chrono::Duration::hours(48))
        .timestamp()
        .div_euclid(86_400);
    let expected = (t - 7..t).filter(|d| *d >= clock_day - 7).count();
    assert_eq!(alert.detail["numbers"]["days_reported"], expected);
}

#[tokio::test]
async fn a_new_failure_type_fires_once() {
    let (store, _dir) = crate::helpers::sqlite_store().await;
    let now = Utc::now();
    let t = today();
    for day in t - 10..t {
        let mut details = vec![("certificate-expired", "192.0.2.1", "mx1.example.org", 3)];
        if day == t - 1 {
            details.push(("starttls-not-supported", "192.0.2.2", "mx2.example.org", 2));
        }
        store_day(&store, "a.test", "new.test", day, 2_000, &details, now).await;
        store_day(&store, "b.test", "new.test", day, 2_000, &[], now).await;
    }
    let clock = TestClock::new(now);
    let watch = AlertWatch::new(store.clone(), AlertConfig::default(), clock.clone()).unwrap();
    let first = watch.evaluate().await.unwrap().unwrap();
    assert_eq!(first.opened, 1);
    assert_eq!(
        open_alerts(&store).await,
        vec![("new-failure-type".into(), "starttls-not-supported".into())]
    );
    assert_eq!(watch.evaluate().await.unwrap().unwrap().opened, 0, "once");
    // The next day the type is no longer new, though it goes on.
    let details = [
        ("certificate-expired", "192.0.2.1", "mx1.example.org", 3),
        ("starttls-not-supported", "192.0.2.2", "mx2.example.org", 2),
    ];
    store_day(&store, "a.test", "new.test", t, 2_000, &details, now).await;
    store_day(&store, "b.test", "new.test", t, 2_000, &[], now).await;
    clock.advance(chrono::Duration::days(1));
    let next = watch.evaluate().await.unwrap().unwrap();
    assert_eq!((next.opened, next.resolved), (0, 1));
    let all = store.list_alerts("new.test", "", 10).await.unwrap();
    assert_eq!(all.len(), 1, "fired once in all");
}

#[tokio::test]
async fn a_failing_receiver_gets_the_notice_on_the_fourth_try_across_a_restart() {
    let (url, seen) = webhook_sink(3).await;
    let dir = tempfile::tempdir().unwrap();
    let db = crate::helpers::sqlite_url(&dir);
    let store = Store::open(&db).await.unwrap();
    let now = Utc::now();
    spike(&store, "retry.test", now).await;
    let clock = TestClock::new(now);
    let watch = AlertWatch::new(store.clone(), config(&url), clock.clone()).unwrap();
    watch.evaluate().await.unwrap().unwrap();
    assert_eq!(watch.send().await.unwrap(), 0, "500");
    assert_eq!(
        watch.send().await.unwrap(),
        0,
        "not due again before the backoff"
    );
    clock.advance(chrono::Duration::seconds(31));
    assert_eq!(watch.send().await.unwrap(), 0, "500 again");

    // A restart: a new store handle and a new node, which takes over once the old
    // node's lease lapses.
    drop(watch);
    drop(store);
    let store = Store::open(&db).await.unwrap();
    let watch = AlertWatch::new(store.clone(), config(&url), clock.clone()).unwrap();
    clock.advance(chrono::Duration::seconds(61));
    assert_eq!(watch.send().await.unwrap(), 0, "third 500");
    clock.advance(chrono::Duration::seconds(121));
    assert_eq!(watch.send().await.unwrap(), 1, "the fourth try is accepted");
    clock.advance(chrono::Duration::hours(2));
    assert_eq!(watch.send().await.unwrap(), 0, "sent once");

    let seen = seen.lock().unwrap().clone();
    let statuses: Vec<u16> = seen.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(statuses, vec![500, 500, 500, 204]);
    assert!(seen.iter().all(|(_, id, _)| *id == seen[0].1), "one notice");
    let notices = store.list_notices("", 10).await.unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(
        (notices[0].state.as_str(), notices[0].attempts),
        ("sent", 4)
    );
}

async fn two_nodes_send_each_notice_once(url: &str) {
    let (hook, seen) = webhook_sink(0).await;
    let a = Store::open(url).await.unwrap();
    let b = Store::open(url).await.unwrap();
    let now = Utc::now();
    spike(&a, "pair.test", now).await;
    let clock = TestClock::new(now);
    let node_a = AlertWatch::new(a.clone(), config(&hook), clock.clone()).unwrap();
    let node_b = AlertWatch::new(b.clone(), config(&hook), clock.clone()).unwrap();
    for _ in 0..3 {
        let (ea, eb) = tokio::join!(node_a.evaluate(), node_b.evaluate());
        let (ea, eb) = (ea.unwrap(), eb.unwrap());
        assert!(ea.is_none() || eb.is_none(), "one node evaluates");
        let (sa, sb) = tokio::join!(node_a.send(), node_b.send());
        let _ = (sa.unwrap(), sb.unwrap());
    }
    assert_eq!(open_alerts(&a).await.len(), 1);
    assert_eq!(seen.lock().unwrap().len(), 1, "one notice sent");
}

#[tokio::test]
async fn sqlite_two_nodes_send_each_notice_once() {
    let dir = tempfile::tempdir().unwrap();
    two_nodes_send_each_notice_once(&crate::helpers::sqlite_url(&dir)).await;
}

#[tokio::test]
#[ignore = "needs TLSRPT_TEST_POSTGRES_URL; run by .ci/run"]
async fn postgres_two_nodes_send_each_notice_once() {
    two_nodes_send_each_notice_once(&crate::helpers::postgres_url().await).await;
}

/// `tlsrptd alerts test CHANNEL`: accepted (0), refused by the receiver (1, with its
/// answer), an unknown channel or a bad file (2, naming the file and the key); `serve`
/// refuses to start on a bad file.
#[tokio::test]
async fn the_test_command_reports_the_channels_answer() {
    let (good, seen) = webhook_sink(0).await;
    let (bad, _) = webhook_sink(usize::MAX).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alerts.toml");
    std::fs::write(
        &file,
        format!(
            "[[channels]]\nname = \"good\"\ntype = \"webhook\"\nurl = \"{good}\"\nsecret = \"{SECRET}\"\n\n\
             [[channels]]\nname = \"bad\"\ntype = \"webhook\"\nurl = \"{bad}\"\nsecret = \"{SECRET}\"\n"
        ),
    )
    .unwrap();
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[alerts]\ncooldown_hours = -1\n").unwrap();
    let run = |args: Vec<String>| async move {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_tlsrptd"))
                .args(&args)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    let path = file.display().to_string();
    let out = run(vec![
        "alerts".into(),
        "test".into(),
        "good".into(),
        "--config".into(),
        path.clone(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, 204, "signed");
        assert_eq!(seen[0].2["kind"], "test");
    }
    let out = run(vec![
        "alerts".into(),
        "test".into(),
        "bad".into(),
        "--config".into(),
        path.clone(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("500"),
        "{out:?}"
    );
    let out = run(vec![
        "alerts".into(),
        "test".into(),
        "pager".into(),
        "--config".into(),
        path,
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the file names: good, bad"));
    let broken = broken.display().to_string();
    for args in [
        vec![
            "alerts".to_owned(),
            "test".into(),
            "good".into(),
            "--config".into(),
            broken.clone(),
        ],
        vec![
            "serve".to_owned(),
            "--database".into(),
            format!("sqlite://{}/t.db", dir.path().display()),
            "--http-listen".into(),
            "127.0.0.1:0".into(),
            "--no-smtp".into(),
            "--config".into(),
            broken.clone(),
        ],
    ] {
        let out = run(args).await;
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "{broken}: alerts.cooldown_hours: must be a number above 0"
            )),
            "{err}"
        );
    }
}

/// Messages an SMTP sink received: (over TLS, the DATA).
type Mail = Arc<Mutex<Vec<(bool, String)>>>;

/// One SMTP conversation; returns the stream when the client asked for STARTTLS. Over
/// TLS it offers AUTH PLAIN and keeps the credentials it was given in the mail log as
/// `AUTH <base64>`.
async fn smtp_conversation<S>(stream: S, secure: bool, greet: bool, mail: Mail) -> Option<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut s = BufReader::new(stream);
    if greet {
        s.write_all(b"220 sink.test ESMTP\r\n").await.ok()?;
    }
    loop {
        let mut line = String::new();
        if s.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let command = line.to_ascii_uppercase();
        let reply: &[u8] = if command.starts_with("EHLO") {
            if secure {
                b"250-sink.test\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
            } else {
                b"250-sink.test\r\n250 STARTTLS\r\n"
            }
        } else if command.starts_with("AUTH PLAIN ") {
            let token = line.trim_end()["AUTH PLAIN ".len()..].to_owned();
            mail.lock().unwrap().push((secure, format!("AUTH {token}")));
            b"235 2.7.0 accepted\r\n"
        } else if command.starts_with("STARTTLS") {
            s.write_all(b"220 go ahead\r\n").await.ok()?;
            return Some(s.into_inner());
        } else if command.starts_with("DATA") {
            s.write_all(b"354 end with .\r\n").await.ok()?;
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if s.read_line(&mut l).await.ok()? == 0 || l == ".\r\n" {
                    break;
                }
                // Undo dot-stuffing (RFC 5321 §4.5.2).
                data.push_str(l.strip_prefix('.').unwrap_or(&l));
            }
            mail.lock().unwrap().push((secure, data));
            b"250 queued\r\n"
        } else if command.starts_with("QUIT") {
            let _ = s.write_all(b"221 bye\r\n").await;
            return None;
        } else {
            b"250 ok\r\n"
        };
        s.write_all(reply).await.ok()?;
    }
}

/// An SMTP relay on 127.0.0.1:0 offering STARTTLS with a certificate for `localhost`
/// from a test CA; returns its port, the CA's PEM and what it received.
async fn smtp_sink() -> (u16, String, Mail) {
    smtp_relay(false).await
}

/// [`smtp_sink`], or with `implicit` TLS from the first byte (as on port 465).
async fn smtp_relay(implicit: bool) -> (u16, String, Mail) {
    let pki = crate::posture::Pki::new();
    let tls = crate::posture::server_config(crate::posture::BySni {
        certs: Default::default(),
        fallback: Some(pki.leaf("localhost", None)),
    });
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mail: Mail = Arc::default();
    let received = mail.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, mail) = (acceptor.clone(), mail.clone());
            tokio::spawn(async move {
                if implicit {
                    if let Ok(secure) = acceptor.accept(tcp).await {
                        smtp_conversation(secure, true, true, mail).await;
                    }
                } else if let Some(plain) = smtp_conversation(tcp, false, true, mail.clone()).await
                    && let Ok(secure) = acceptor.accept(plain).await
                {
                    smtp_conversation(secure, true, false, mail).await;
                }
            });
        }
    });
    (port, pki.ca_pem.clone(), received)
}

/// An email channel delivers the notice over STARTTLS to the relay, with a plain-text and
/// an HTML part naming the problem and its fix.
#[tokio::test]
async fn an_email_channel_sends_the_notice_over_starttls() {
    let (port, ca, mail) = smtp_sink().await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("relay-ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    let text = format!(
        "[alerts]\ndashboard_url = \"https://tlsrpt.example.net\"\n\n[[channels]]\nname = \"mail\"\ntype = \"email\"\n\
         smtp_host = \"localhost\"\nsmtp_port = {port}\ntls = \"starttls\"\nca_file = \"{}\"\n\
         from = \"tlsrptd@example.net\"\nto = [\"ops@example.net\"]\nmin_severity = \"warning\"\n",
        ca_file.display()
    );
    let config = parse("mail.toml", &text, &|_| None).unwrap();
    let (store, _dir) = crate::helpers::sqlite_store().await;
    let now = Utc::now();
    spike(&store, "mailed.test", now).await;
    let watch = AlertWatch::new(store.clone(), config, TestClock::new(now)).unwrap();
    watch.evaluate().await.unwrap().unwrap();
    assert_eq!(
        watch.send().await.unwrap(),
        1,
        "{:?}",
        store.list_notices("", 5).await.unwrap()
    );
    let mail = mail.lock().unwrap();
    assert_eq!(mail.len(), 1);
    let (secure, data) = &mail[0];
    assert!(*secure, "sent after STARTTLS");
    assert!(
        data.contains("Subject: [tlsrptd] [CRITICAL] failure-spike opened: mailed.test"),
        "{data}"
    );
    assert!(data.contains("To: ops@example.net"));
    assert!(data.contains("Content-Type: text/plain") && data.contains("Content-Type: text/html"));
    assert!(
        data.contains("https://tlsrpt.example.net/domains/mailed.test"),
        "{data}"
    );
    assert!(data.contains("Renew the MX certificate"), "{data}");
}

/// A domain whose reports stopped raises `no-reports` after 72 hours, and stays on the
/// overview marked silent even for a range that holds none of its reports.
#[tokio::test]
async fn a_silent_domain_stays_on_the_overview() {
    let app = crate::helpers::spawn_app(crate::helpers::Db::Sqlite, |_| {}).await;
    let store = Store::open(&app.database_url).await.unwrap();
    let now = Utc::now();
    let t = today();
    let received = now - chrono::Duration::hours(96);
    for day in t - 10..t - 4 {
        store_day(&store, "a.test", "gone.test", day, 1_000, &[], received).await;
    }
    let watch =
        AlertWatch::new(store.clone(), AlertConfig::default(), TestClock::new(now)).unwrap();
    watch.evaluate().await.unwrap().unwrap();
    let open = open_alerts(&store).await;
    assert!(
        open.contains(&("no-reports".into(), String::new())),
        "{open:?}"
    );
    let html = app
        .client
        .get(app.url("/?days=3"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let row = html
        .find("data-domain=\"gone.test\"")
        .expect("the silent domain is listed");
    assert!(
        html[row..].contains("data-silent=\"true\""),
        "marked silent"
    );
    // It stays open (and listed) after its reports leave the evaluated month.
    let later = AlertWatch::new(
        store.clone(),
        AlertConfig::default(),
        TestClock::new(now + chrono::Duration::days(40)),
    )
    .unwrap();
    later.evaluate().await.unwrap().unwrap();
    let open = open_alerts(&store).await;
    assert!(
        open.contains(&("no-reports".into(), String::new())),
        "{open:?}"
    );
}

/// Slack- and Mattermost-compatible channels post `{"text": …}` with the severity, the
/// rule, what happened, the fix and the link.
#[tokio::test]
async fn chat_channels_post_their_text() {
    let bodies: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let seen = bodies.clone();
    let app = axum::Router::new().route(
        "/{chat}",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(body);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let text = format!(
        "[[channels]]\nname = \"slack\"\ntype = \"slack\"\nurl = \"http://{addr}/slack\"\n\n\
         [[channels]]\nname = \"mm\"\ntype = \"mattermost\"\nurl = \"http://{addr}/mattermost\"\n"
    );
    let config = parse("chat.toml", &text, &|_| None).unwrap();
    let (store, _dir) = crate::helpers::sqlite_store().await;
    let now = Utc::now();
    spike(&store, "chat.test", now).await;
    let watch = AlertWatch::new(store.clone(), config, TestClock::new(now)).unwrap();
    watch.evaluate().await.unwrap().unwrap();
    assert_eq!(watch.send().await.unwrap(), 2);
    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies.len(), 2);
    for body in bodies.iter() {
        let text = body["text"].as_str().unwrap();
        assert!(
            text.starts_with("[CRITICAL] failure-spike opened: chat.test: 60 failed sessions"),
            "{text}"
        );
        assert!(text.contains("Fix: Renew the MX certificate"), "{text}");
        assert!(text.ends_with("/domains/chat.test"), "{text}");
    }
}

/// A daily digest goes out once per day from its hour, through the email channel's relay,
/// with each domain's sessions, failure rate, readiness and open alerts.
#[tokio::test]
async fn a_daily_digest_goes_out_once_a_day() {
    let (port, ca, mail) = smtp_sink().await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("relay-ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    let text = format!(
        "[[channels]]\nname = \"mail\"\ntype = \"email\"\nsmtp_host = \"localhost\"\nsmtp_port = {port}\n\
         ca_file = \"{}\"\nfrom = \"tlsrptd@example.net\"\nto = [\"ops@example.net\"]\n\n\
         [[digests]]\nname = \"daily\"\nchannel = \"mail\"\nto = [\"owner@example.net\"]\nevery = \"daily\"\nhour = 7\n",
        ca_file.display()
    );
    let config = parse("digest.toml", &text, &|_| None).unwrap();
    let (store, _dir) = crate::helpers::sqlite_store().await;
    let t = today();
    let yesterday = t - 1;
    let detail = [("certificate-expired", "192.0.2.1", "mx1.example.org", 25)];
    store_day(
        &store,
        "a.test",
        "digest.test",
        yesterday,
        975,
        &detail,
        Utc::now(),
    )
    .await;
    let seven = DateTime::from_timestamp(t * 86_400 + 7 * 3600, 0).unwrap();
    let clock = TestClock::new(seven - chrono::Duration::seconds(1));
    let watch = AlertWatch::new(store.clone(), config, clock.clone()).unwrap();
    assert_eq!(watch.send_digests().await.unwrap(), 0, "not before 07:00");
    clock.advance(chrono::Duration::seconds(1));
    assert_eq!(watch.send_digests().await.unwrap(), 1);
    assert_eq!(watch.send_digests().await.unwrap(), 0, "once a day");
    {
        let mail = mail.lock().unwrap();
        assert_eq!(mail.len(), 1);
        // Quoted-printable soft line breaks joined.
        let data = mail[0].1.replace("=\r\n", "");
        assert!(data.contains("To: owner@example.net"), "{data}");
        assert!(data.contains("Subject: [tlsrptd] daily digest "), "{data}");
        assert!(
            data.contains("digest.test: 1000 sessions, 25 failed (2.50 %); enforce readiness: not judged; open alerts: 0"),
            "{data}"
        );
    }
    clock.advance(chrono::Duration::days(1));
    assert_eq!(watch.send_digests().await.unwrap(), 1, "the next day's");
    assert_eq!(mail.lock().unwrap().len(), 2);
}

/// The running service evaluates after reports are stored (here one second after) and
/// sends the notice, with no request to do so.
#[tokio::test]
async fn the_service_evaluates_after_reports_and_sends() {
    tlsrptd::telemetry::init_metrics();
    let (url, seen) = webhook_sink(0).await;
    let text = format!(
        "[alerts]\nevaluate_after_reports_seconds = 1\nevaluate_every_seconds = 3600\n\n\
         [[channels]]\nname = \"ops\"\ntype = \"webhook\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\n"
    );
    let config = parse("svc.toml", &text, &|_| None).unwrap();
    let mut app = crate::helpers::spawn_app(crate::helpers::Db::Sqlite, move |c| {
        c.alerts = Some(config);
    })
    .await;
    let t = today();
    for day in t - 20..t {
        let failed = if day == t - 1 { 60 } else { 5 };
        let details = [(
            "certificate-expired",
            "192.0.2.1",
            "mx1.example.org",
            failed,
        )];
        let body = report_json(
            "b.test",
            &format!("svc-{day}"),
            day,
            &[("svc.test", "sts", 10_000, failed, &details)],
        );
        let (status, json) = app.post_report(body, "application/tlsrpt+json").await;
        assert_eq!(status, 201, "{json}");
    }
    let started = std::time::Instant::now();
    while seen.lock().unwrap().is_empty() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "no notice within 20 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (status, _, body) = seen.lock().unwrap()[0].clone();
    assert_eq!(status, 204);
    assert_eq!(body["alert"]["rule"], "failure-spike");
    let (_, listed) = app.get_json("/api/v1/notifications?state=sent").await;
    assert_eq!(
        listed["notifications"].as_array().unwrap().len(),
        1,
        "{listed}"
    );
    let (_, alerts) = app
        .get_json("/api/v1/alerts?domain=svc.test&state=open")
        .await;
    assert_eq!(alerts["alerts"][0]["rule"], "failure-spike");
    app.stop().await;
}

/// An alert still open is reminded once the cooldown (24 h by default) has passed since
/// its last notice, and not before.
#[tokio::test]
async fn an_open_alert_is_reminded_after_the_cooldown() {
    let (url, seen) = webhook_sink(0).await;
    let (store, _dir) = crate::helpers::sqlite_store().await;
    let now = Utc::now();
    spike(&store, "remind.test", now).await;
    let clock = TestClock::new(now);
    let watch = AlertWatch::new(store.clone(), config(&url), clock.clone()).unwrap();
    watch.evaluate().await.unwrap().unwrap();
    assert_eq!(watch.send().await.unwrap(), 1);
    clock.advance(chrono::Duration::hours(23));
    let c = watch.evaluate().await.unwrap().unwrap();
    assert_eq!(
        (c.reminded, c.notices),
        (0, 0),
        "within the cooldown: {c:?}"
    );
    clock.advance(chrono::Duration::hours(1));
    let c = watch.evaluate().await.unwrap().unwrap();
    assert_eq!((c.reminded, c.notices), (1, 1));
    assert_eq!(watch.send().await.unwrap(), 1);
    let seen = seen.lock().unwrap().clone();
    let kinds: Vec<&str> = seen
        .iter()
        .map(|(_, _, b)| b["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["opened", "reminder"]);
    assert_eq!(
        seen[0].2["alert"]["id"], seen[1].2["alert"]["id"],
        "the same alert"
    );
}

/// A channel that fails is tried once per pass, not once per due notice: the others wait
/// for the next pass untouched.
#[tokio::test]
async fn a_failing_channel_is_tried_once_per_pass() {
    let (url, seen) = webhook_sink(usize::MAX).await;
    let (store, _dir) = crate::helpers::sqlite_store().await;
    let now = Utc::now();
    let t = today();
    for day in t - 20..t {
        // Yesterday: 150 failed of 10,150 (1.5 %): a spike and a failure rate, two alerts.
        let failed = if day == t - 1 { 150 } else { 5 };
        let detail = [(
            "certificate-expired",
            "192.0.2.1",
            "mx1.example.org",
            failed,
        )];
        store_day(&store, "b.test", "down.test", day, 10_000, &detail, now).await;
    }
    let watch = AlertWatch::new(store.clone(), config(&url), TestClock::new(now)).unwrap();
    assert_eq!(watch.evaluate().await.unwrap().unwrap().notices, 2);
    assert_eq!(watch.send().await.unwrap(), 0);
    assert_eq!(seen.lock().unwrap().len(), 1, "one attempt this pass");
    let mut attempts: Vec<i64> = store
        .list_notices("pending", 10)
        .await
        .unwrap()
        .iter()
        .map(|n| n.attempts)
        .collect();
    attempts.sort();
    assert_eq!(attempts, vec![0, 1]);
    assert_eq!(watch.send().await.unwrap(), 0);
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "the other one on the next pass"
    );
}

/// A weekly digest goes out once in its week, on its weekday from its hour.
#[tokio::test]
async fn a_weekly_digest_goes_out_once_a_week() {
    let (port, ca, mail) = smtp_sink().await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("relay-ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    let t = today();
    let seven = DateTime::from_timestamp(t * 86_400 + 7 * 3600, 0).unwrap();
    let weekday = format!("{:?}", seven.date_naive().weekday()).to_lowercase();
    let text = format!(
        "[[channels]]\nname = \"mail\"\ntype = \"email\"\nsmtp_host = \"localhost\"\nsmtp_port = {port}\n\
         ca_file = \"{}\"\nfrom = \"tlsrptd@example.net\"\nto = [\"ops@example.net\"]\n\n\
         [[digests]]\nname = \"weekly\"\nchannel = \"mail\"\nevery = \"weekly\"\nweekday = \"{weekday}\"\nhour = 7\n",
        ca_file.display()
    );
    let config = parse("weekly.toml", &text, &|_| None).unwrap();
    let (store, _dir) = crate::helpers::sqlite_store().await;
    store_day(&store, "a.test", "weekly.test", t - 3, 500, &[], Utc::now()).await;
    let clock = TestClock::new(seven - chrono::Duration::minutes(1));
    let watch = AlertWatch::new(store.clone(), config, clock.clone()).unwrap();
    assert_eq!(watch.send_digests().await.unwrap(), 0, "before its hour");
    clock.advance(chrono::Duration::minutes(1));
    assert_eq!(watch.send_digests().await.unwrap(), 1);
    for _ in 0..6 {
        clock.advance(chrono::Duration::days(1));
        assert_eq!(watch.send_digests().await.unwrap(), 0, "once in the week");
    }
    clock.advance(chrono::Duration::days(1));
    assert_eq!(watch.send_digests().await.unwrap(), 1, "the next week's");
    let mail = mail.lock().unwrap();
    assert_eq!(mail.len(), 2);
    let first = mail[0].1.replace("=\r\n", "");
    assert!(
        first.contains("Subject: [tlsrptd] weekly digest "),
        "{first}"
    );
    assert!(
        first.contains("To: ops@example.net"),
        "the channel's recipients"
    );
    assert!(first.contains("weekly.test: 500 sessions"), "{first}");
}

/// Implicit TLS (as on port 465) with authentication: the relay receives the password
/// given by `password_env`, over TLS, then the message.
#[tokio::test]
async fn an_email_channel_authenticates_over_implicit_tls() {
    use base64::Engine as _;
    let (port, ca, mail) = smtp_relay(true).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("relay-ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    let text = format!(
        "[[channels]]\nname = \"mail\"\ntype = \"email\"\nsmtp_host = \"localhost\"\nsmtp_port = {port}\n\
         tls = \"implicit\"\nca_file = \"{}\"\nusername = \"tlsrptd\"\npassword_env = \"RELAY_PASSWORD\"\n\
         from = \"tlsrptd@example.net\"\nto = [\"ops@example.net\"]\n",
        ca_file.display()
    );
    let env = |name: &str| (name == "RELAY_PASSWORD").then(|| "relay-secret".to_owned());
    let config = parse("implicit.toml", &text, &env).unwrap();
    let (store, _dir) = crate::helpers::sqlite_store().await;
    let now = Utc::now();
    spike(&store, "implicit.test", now).await;
    let watch = AlertWatch::new(store.clone(), config, TestClock::new(now)).unwrap();
    watch.evaluate().await.unwrap().unwrap();
    assert_eq!(
        watch.send().await.unwrap(),
        1,
        "{:?}",
        store.list_notices("", 5).await.unwrap()
    );
    let mail = mail.lock().unwrap();
    assert_eq!(mail.len(), 2, "the credentials, then the message");
    let (secure, auth) = &mail[0];
    assert!(*secure);
    let token = auth.strip_prefix("AUTH ").unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .unwrap();
    assert_eq!(decoded, b"\0tlsrptd\0relay-secret");
    assert!(mail[1].0, "the message over TLS");
    assert!(
        mail[1]
            .1
            .contains("Subject: [tlsrptd] [CRITICAL] failure-spike opened: implicit.test")
    );
}
