//! The HTTPS intake, query API and operational endpoints, against the app spawned on
//! port 0 over real TLS with reqwest. The shared cases run on SQLite always and on
//! PostgreSQL in `.ci/run`.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{Db, gzip, report_json, spawn_app};

const D: i64 = 20_000; // 2024-10-04

macro_rules! http_cases {
    ($backend:ident, $db:expr $(, #[$attr:meta])?) => {
        mod $backend {
            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test]
                    $(#[$attr])?
                    async fn $name() {
                        super::$name($db).await;
                    }
                };
            }
            case!(intake_statuses_and_dedup_across_intakes);
            case!(api_numbers_match_hand_computed);
            case!(api_pagination_walks_without_gaps_or_repeats);
            case!(rejections_are_listed_with_reason);
        }
    };
}

http_cases!(sqlite, crate::helpers::Db::Sqlite);
http_cases!(postgres, crate::helpers::Db::Postgres, #[ignore = "needs TLSRPT_TEST_POSTGRES_URL; run by .ci/run"]);

fn report(org: &str, id: &str) -> Vec<u8> {
    report_json(
        org,
        id,
        D,
        &[(
            "example.com",
            "sts",
            9,
            1,
            &[("certificate-expired", "192.0.2.9", "mx.example.com", 1)],
        )],
    )
}

async fn intake_statuses_and_dedup_across_intakes(db: Db) {
    let mut app = spawn_app(db, |_| {}).await;
    let body = report("http.example", "h-1");

    let (status, json) = app
        .post_report(body.clone(), "application/tlsrpt+json")
        .await;
    assert_eq!(status, 201, "{json}");
    assert_eq!(json["status"], "stored");
    let id = json["id"].as_i64().expect("id");

    let (status, json) = app
        .post_report(gzip(&body), "application/tlsrpt+gzip")
        .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["status"], "duplicate");
    assert_eq!(json["id"].as_i64(), Some(id));

    // Mislabelled but recognisable: sniffed and accepted.
    let (status, json) = app
        .post_report(
            gzip(&report("http.example", "h-2")),
            "application/octet-stream",
        )
        .await;
    assert_eq!(status, 201, "{json}");

    // The same report imported from a file through the binary is a duplicate too.
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("h-1.json.gz");
    std::fs::write(&path, gzip(&body)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tlsrptd"))
        .args(["import", "--database", &app.database_url])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "imported 0, duplicates 1, rejected 0"
    );

    let (status, page) = app
        .get_json("/api/v1/reports?from=2024-01-01&to=2025-01-01")
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");

    // 400: JSON that is not a report; the body is quarantined.
    let (status, json) = app
        .post_report(
            b"{\"organization-name\": \"only\"}".to_vec(),
            "application/tlsrpt+json",
        )
        .await;
    assert_eq!(status, 400, "{json}");
    assert!(json["error"]["code"].is_string());
    assert!(json["error"]["message"].as_str().unwrap().len() > 10);
    assert!(json["quarantine_id"].as_i64().is_some());

    // 415: an unknown media type whose body is not a report either.
    let (status, json) = app
        .post_report(b"<html><body>hello</body></html>".to_vec(), "text/html")
        .await;
    assert_eq!(status, 415, "{json}");
    assert_eq!(json["error"]["code"], "unsupported-media-type");

    app.stop().await;
}

async fn api_numbers_match_hand_computed(db: Db) {
    let mut app = spawn_app(db, |_| {}).await;
    let bodies = crate::helpers::known_set();
    for body in bodies {
        assert_eq!(
            app.post_report(gzip(&body), "application/tlsrpt+gzip")
                .await
                .0,
            201
        );
    }
    let range = "from=2024-10-04&to=2024-10-08"; // dates: `to` includes 2024-10-08

    let (status, json) = app.get_json(&format!("/api/v1/domains?{range}")).await;
    assert_eq!(status, 200);
    let domains: Vec<(String, i64, i64, i64)> = json["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["domain"].as_str().unwrap().to_owned(),
                d["reports"].as_i64().unwrap(),
                d["successful_sessions"].as_i64().unwrap(),
                d["failed_sessions"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        domains,
        vec![
            ("example.net".into(), 1, 7, 0),
            ("example.org".into(), 3, 170, 15)
        ]
    );

    let (status, s) = app
        .get_json(&format!("/api/v1/domains/example.org/summary?{range}"))
        .await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(
        (
            s["reports"].as_i64(),
            s["successful_sessions"].as_i64(),
            s["failed_sessions"].as_i64()
        ),
        (Some(3), Some(170), Some(15))
    );
    assert!((s["failure_rate"].as_f64().unwrap() - 15.0 / 185.0).abs() < 1e-9);
    let pairs = |v: &Value| -> Vec<(String, i64)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["key"].as_str().unwrap_or("").to_owned(),
                    x["failed_sessions"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        pairs(&s["by_result_type"]),
        vec![
            ("certificate-expired".into(), 11),
            ("starttls-not-supported".into(), 4)
        ]
    );
    assert_eq!(
        pairs(&s["by_receiving_mx"]),
        vec![
            ("mx1.example.org".into(), 11),
            ("mx2.example.org".into(), 4)
        ]
    );
    assert_eq!(
        pairs(&s["by_sending_ip"]),
        vec![("192.0.2.1".into(), 11), ("192.0.2.2".into(), 4)]
    );
    assert_eq!(
        pairs(&s["by_organization"]),
        vec![("org-a.example".into(), 10), ("org-b.example".into(), 5)]
    );
    assert_eq!(
        pairs(&s["by_policy_type"]),
        vec![("sts".into(), 15), ("tlsa".into(), 0)]
    );

    let (status, t) = app
        .get_json(&format!("/api/v1/domains/example.org/timeseries?{range}"))
        .await;
    assert_eq!(status, 200);
    let days: Vec<(String, i64, i64)> = t["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["day"].as_str().unwrap().to_owned(),
                d["successful_sessions"].as_i64().unwrap(),
                d["failed_sessions"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        days,
        vec![
            ("2024-10-04".into(), 100, 10),
            ("2024-10-05".into(), 50, 5),
            ("2024-10-06".into(), 0, 0),
            ("2024-10-07".into(), 20, 0),
            ("2024-10-08".into(), 0, 0),
        ]
    );

    // A report by id, with its raw bytes back exactly.
    let (_, list) = app
        .get_json("/api/v1/reports?organization=org-b.example&from=2024-10-05&to=2024-10-05")
        .await;
    let id = list["items"][0]["id"].as_i64().unwrap();
    let (status, r) = app.get_json(&format!("/api/v1/reports/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(r["report"]["report_id"], "b-1");
    assert_eq!(r["source"], "https");
    assert_eq!(r["report"]["policies"].as_array().unwrap().len(), 2);
    let raw = app
        .client
        .get(app.url(&format!("/api/v1/reports/{id}/raw")))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    let raw = raw.bytes().await.unwrap();
    let mut original = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut original).unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&original).unwrap()["report-id"],
        "b-1"
    );
    assert_eq!(app.get_json("/api/v1/reports/999999").await.0, 404);

    // Bad parameters: 400 with a JSON error.
    let (status, e) = app.get_json("/api/v1/domains?from=yesterday").await;
    assert_eq!(status, 400);
    assert!(e["error"]["message"].as_str().unwrap().contains("from"));
    assert_eq!(app.get_json("/api/v1/reports?limit=0").await.0, 400);
    assert_eq!(app.get_json("/api/v1/reports?cursor=nope").await.0, 400);
    assert_eq!(
        app.get_json("/api/v1/domains?from=2024-10-09&to=2024-10-01")
            .await
            .0,
        400
    );
    app.stop().await;
}

async fn api_pagination_walks_without_gaps_or_repeats(db: Db) {
    let mut app = spawn_app(db, |_| {}).await;
    for n in 0..23 {
        let body = report_json(
            "pager.example",
            &format!("p-{n}"),
            D + n % 4,
            &[("page.example", "sts", 1, 0, &[])],
        );
        assert_eq!(
            app.post_report(body, "application/tlsrpt+json").await.0,
            201
        );
    }
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/reports?from=2024-01-01&limit=5&cursor={c}"),
            None => "/api/v1/reports?from=2024-01-01&limit=5".to_owned(),
        };
        let (status, page) = app.get_json(&path).await;
        assert_eq!(status, 200, "{page}");
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(ids.len(), 23);
    assert_eq!(unique.len(), 23, "no repeats");
    app.stop().await;
}

async fn rejections_are_listed_with_reason(db: Db) {
    let mut app = spawn_app(db, |_| {}).await;
    let dmarc = gzip(b"<?xml version=\"1.0\"?><feedback><report_metadata/></feedback>");
    let (status, json) = app.post_report(dmarc, "application/tlsrpt+gzip").await;
    assert_eq!(status, 400, "{json}");
    let (status, list) = app.get_json("/api/v1/rejections").await;
    assert_eq!(status, 200);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["source"], "https");
    assert!(
        items[0]["reason"].as_str().unwrap().contains("DMARC"),
        "{list}"
    );
    app.stop().await;
}

#[tokio::test]
async fn oversized_body_gets_413() {
    let mut app = spawn_app(Db::Sqlite, |c| c.http.max_body_bytes = 1024).await;
    let (status, json) = app
        .post_report(vec![b' '; 4096], "application/tlsrpt+json")
        .await;
    assert_eq!(status, 413, "{json}");
    assert_eq!(json["error"]["code"], "body-too-large");
    app.stop().await;
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn gzip_bomb_is_refused_within_the_limit() {
    const LIMIT: u64 = 4 * 1024 * 1024;
    let mut app = spawn_app(Db::Sqlite, |c| {
        c.limits.decode.max_decompressed_bytes = LIMIT
    })
    .await;
    // 512 MiB of zeros compresses to about 500 KiB.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..512 {
        std::io::Write::write_all(&mut encoder, &zeros).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    drop(zeros);
    assert!(bomb.len() < 1024 * 1024);
    let before = rss_kib();
    let (status, json) = app.post_report(bomb, "application/tlsrpt+gzip").await;
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    assert_eq!(status, 413, "{json}");
    assert_eq!(json["error"]["code"], "decompressed-too-large");
    // Inflating it would take 512 MiB; the limit keeps us near 4 MiB (other tests share
    // the process, hence the margin).
    assert!(grown_mib < 100, "RSS grew by {grown_mib} MiB");
    let (_, rejections) = app.get_json("/api/v1/rejections").await;
    assert_eq!(
        rejections["items"][0]["reason_code"],
        "decompressed-too-large"
    );
    app.stop().await;
}

#[tokio::test]
async fn report_over_the_policy_limit_is_400_report_too_large_and_quarantined() {
    let mut app = spawn_app(Db::Sqlite, |_| {}).await;
    let body = crate::helpers::gzip(&crate::helpers::report_with_policies(10_001));
    assert!(body.len() < 64 * 1024, "the body itself is small");
    let (status, json) = app.post_report(body, "application/tlsrpt+gzip").await;
    assert_eq!(status, 400, "{json}");
    assert_eq!(json["error"]["code"], "report-too-large");
    let quarantine_id = json["quarantine_id"].as_i64().expect("quarantined");
    let (_, rejections) = app.get_json("/api/v1/rejections").await;
    assert_eq!(rejections["items"][0]["id"], quarantine_id);
    assert_eq!(rejections["items"][0]["reason_code"], "report-too-large");
    // A body over the byte limit is another code and status.
    let mut small = spawn_app(Db::Sqlite, |c| c.http.max_body_bytes = 1024).await;
    let (status, json) = small
        .post_report(vec![b' '; 4096], "application/tlsrpt+json")
        .await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (413, Some("body-too-large"))
    );
    small.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let mut app = spawn_app(Db::Sqlite, |c| {
        c.http.rate_limit = 1;
        c.http.rate_burst = 2;
    })
    .await;
    for n in 0..2 {
        let (status, _) = app
            .post_report(
                report("rate.example", &format!("r-{n}")),
                "application/tlsrpt+json",
            )
            .await;
        assert_eq!(status, 201);
    }
    let response = app
        .client
        .post(app.url("/v1/reports"))
        .header("content-type", "application/tlsrpt+json")
        .body(report("rate.example", "r-3"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["error"]["code"], "rate-limited");
    app.stop().await;
}

#[tokio::test]
async fn store_failure_answers_503_and_nothing_is_acknowledged() {
    let mut app = spawn_app(Db::Sqlite, |_| {}).await;
    // Make every report insert fail, as a full disk or broken database would.
    let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
    sqlx::query("CREATE TRIGGER fail_reports BEFORE INSERT ON reports BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END")
        .execute(&pool)
        .await
        .unwrap();
    let response = app
        .client
        .post(app.url("/v1/reports"))
        .header("content-type", "application/tlsrpt+json")
        .body(report("down.example", "d-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["error"]["code"], "store-unavailable");
    sqlx::query("DROP TRIGGER fail_reports")
        .execute(&pool)
        .await
        .unwrap();
    // The sender retries and the report is stored.
    assert_eq!(
        app.post_report(report("down.example", "d-1"), "application/tlsrpt+json")
            .await
            .0,
        201
    );
    app.stop().await;
}

#[tokio::test]
async fn slow_body_gets_408() {
    let mut app = spawn_app(Db::Sqlite, |c| {
        c.http.body_timeout = Duration::from_millis(500)
    })
    .await;
    let stream = futures_stream(
        vec![b"{\"organization-name\":".to_vec()],
        Duration::from_secs(3),
    );
    let response = app
        .client
        .post(app.url("/v1/reports"))
        .header("content-type", "application/tlsrpt+json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 408);
    app.stop().await;
}

/// A body that sends `chunks` and then stalls for `stall` before ending.
fn futures_stream(
    chunks: Vec<Vec<u8>>,
    stall: Duration,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        for c in chunks {
            let _ = tx.send(Ok(c)).await;
        }
        tokio::time::sleep(stall).await;
        drop(tx);
    });
    tokio_stream_from(rx)
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn token_is_required_on_the_api_only() {
    let mut app = spawn_app(Db::Sqlite, |c| {
        c.http.api_token = Some("s3cret-token-01234".into())
    })
    .await;
    assert_eq!(app.get_json("/api/v1/domains").await.0, 401);
    let wrong = app
        .client
        .get(app.url("/api/v1/domains"))
        .bearer_auth("s3cret-tokeN")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    assert!(wrong.headers().contains_key("www-authenticate"));
    let right = app
        .client
        .get(app.url("/api/v1/domains"))
        .bearer_auth("s3cret-token-01234")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status().as_u16(), 200);
    assert_eq!(app.get_json("/api/v1/openapi.json").await.0, 401);
    // RFC 8460 senders do not authenticate: intake and health stay open.
    assert_eq!(
        app.post_report(report("tok.example", "t-1"), "application/tlsrpt+json")
            .await
            .0,
        201
    );
    assert_eq!(app.get_json("/healthz").await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn openapi_document_names_every_route() {
    let mut app = spawn_app(Db::Sqlite, |_| {}).await;
    let (status, doc) = app.get_json("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for route in [
        "/api/v1/domains",
        "/api/v1/domains/{domain}/summary",
        "/api/v1/domains/{domain}/timeseries",
        "/api/v1/reports",
        "/api/v1/reports/{id}",
        "/api/v1/reports/{id}/raw",
        "/api/v1/rejections",
        "/api/v1/openapi.json",
    ] {
        assert!(paths.contains(&route), "{route} missing from {paths:?}");
        // Every documented route answers (no drift between document and router).
        let concrete = route
            .replace("{domain}", "example.org")
            .replace("{id}", "1");
        let status = app.get_json(&concrete).await.0;
        assert!(status == 200 || status == 404, "{concrete}: {status}");
    }
    app.stop().await;
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let mut app = spawn_app(Db::Sqlite, |_| {}).await;
    tlsrptd::telemetry::init_metrics();
    assert_eq!(app.get_json("/healthz").await.0, 200);
    let (status, ready) = app.get_json("/readyz").await;
    assert_eq!((status, ready["status"].as_str()), (200, Some("ready")));
    assert_eq!(
        app.post_report(report("metrics.example", "m-1"), "application/tlsrpt+json")
            .await
            .0,
        201
    );
    assert_eq!(
        app.post_report(b"nope".to_vec(), "application/tlsrpt+json")
            .await
            .0,
        400
    );
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "tlsrpt_submissions_total{intake=\"https\",outcome=\"stored\"}",
        "tlsrpt_received_bytes_total{intake=\"https\"}",
        "tlsrpt_rejections_total{reason=",
        "tlsrpt_store_commit_seconds_bucket",
        "tlsrpt_http_requests_total{route=\"/v1/reports\",method=\"POST\",status=\"201\"}",
        "tlsrpt_policy_sessions_total{domain=\"example.com\",result=\"failed\"}",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from /metrics:\n{text}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_lets_an_in_flight_request_finish() {
    let mut app = spawn_app(Db::Sqlite, |_| {}).await;
    let body = report("slow.example", "s-1");
    let (first, rest) = body.split_at(10);
    // Send the first bytes now and the rest after shutdown has begun.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let rest = rest.to_vec();
    let first = first.to_vec();
    let request = app
        .client
        .post(app.url("/v1/reports"))
        .header("content-type", "application/tlsrpt+json")
        .body(reqwest::Body::wrap_stream(tokio_stream_from(rx)))
        .send();
    let in_flight = tokio::spawn(request);
    tx.send(Ok(first)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.trigger_shutdown();
    tokio::time::sleep(Duration::from_millis(300)).await;
    tx.send(Ok(rest)).await.unwrap();
    drop(tx);
    let response = in_flight
        .await
        .unwrap()
        .expect("in-flight request completes");
    assert_eq!(response.status().as_u16(), 201);
    let handle = app.handle.take().unwrap();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("run returns")
        .unwrap()
        .unwrap();
    // No longer accepting.
    assert!(tokio::net::TcpStream::connect(app.addr).await.is_err());
}

#[tokio::test]
async fn http2_is_negotiated() {
    let mut app = spawn_app(Db::Sqlite, |_| {}).await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    app.stop().await;
}

fn write_cert(dir: &std::path::Path) -> Vec<u8> {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.join("cert.pem"), c.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), c.signing_key.serialize_pem()).unwrap();
    c.cert.der().to_vec()
}

fn client_trusting(der: &[u8], addr: std::net::SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_der(der).unwrap())
        .resolve("localhost", addr)
        .build()
        .unwrap()
}

#[tokio::test]
async fn sighup_reloads_the_certificate_without_dropping_connections() {
    let dir = tempfile::tempdir().unwrap();
    let first = write_cert(dir.path());
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let mut app = spawn_app(Db::Sqlite, |c| {
        c.http.tls_cert = Some(cert.clone());
        c.http.tls_key = Some(key.clone());
    })
    .await;
    let old_client = client_trusting(&first, app.addr);
    assert_eq!(
        old_client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let second = write_cert(dir.path());
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(500)).await;

    // New handshakes get the new certificate...
    let new_client = client_trusting(&second, app.addr);
    assert_eq!(
        new_client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let fresh_old = client_trusting(&first, app.addr);
    assert!(
        fresh_old.get(app.url("/healthz")).send().await.is_err(),
        "old certificate still served"
    );
    // ...while the connection opened before the reload keeps working.
    assert_eq!(
        old_client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    let mut app = spawn_app(Db::Sqlite, |c| c.http.max_connections = 1).await;
    // Holds the only slot: connected, but never completes the TLS handshake.
    let holder = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waiting = tokio::spawn({
        let client = app.client.clone();
        let url = app.url("/healthz");
        async move { client.get(url).send().await.map(|r| r.status().as_u16()) }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "a second connection was served over the cap"
    );
    drop(holder);
    let status = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("served once the slot is free")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    app.stop().await;
}

/// A `Content-Length` over the limit is answered from the headers alone: the 413 arrives
/// although not one body byte was sent.
#[tokio::test]
async fn declared_length_over_the_limit_is_refused_before_any_body_byte() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut app =
        crate::helpers::spawn_plain_app(Db::Sqlite, |c| c.http.max_body_bytes = 1024).await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(
            b"POST /v1/reports HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/tlsrpt+gzip\r\n\
              Content-Length: 10000000\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
            if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "answered without the body");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("body-too-large"), "{text}");
    app.stop().await;
}

/// A client that trickles its request headers is disconnected after
/// `--http-header-timeout`, freeing its connection slot.
#[tokio::test]
async fn headers_that_never_end_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut app = crate::helpers::spawn_plain_app(Db::Sqlite, |c| {
        c.http.header_timeout = Duration::from_secs(1)
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(b"POST /v1/reports HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let closed =
        tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer)).await;
    assert!(closed.is_ok(), "the connection was not closed");
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    eprintln!("header timeout answer: {text:?}");
    app.stop().await;
}
