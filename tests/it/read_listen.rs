//! A public intake and a private read side (`--read-listen`): the intake listener serves
//! only the intake and health checks; the API, dashboard and metrics answer on the read
//! listener; and `serve` refuses a read side on a non-loopback address without a token.

use crate::helpers::{Db, gzip, report_json, spawn_plain_app};

#[tokio::test]
async fn the_intake_listener_serves_only_intake_and_health() {
    let app = spawn_plain_app(Db::Sqlite, |c| {
        c.http.read_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let read = format!(
        "http://127.0.0.1:{}",
        app.read_addr.expect("read listener").port()
    );
    let body = report_json(
        "org.example",
        "split-1",
        20_000,
        &[("split.example", "sts", 9, 1, &[])],
    );
    let (status, json) = app
        .post_report(gzip(&body), "application/tlsrpt+gzip")
        .await;
    assert_eq!(status, 201, "{json}");

    for path in ["/healthz", "/readyz"] {
        let (status, _) = app.get_json(path).await;
        assert_eq!(status, 200, "intake {path}");
    }
    for path in [
        "/api/v1/domains",
        "/api/v1/reports",
        "/",
        "/reports",
        "/metrics",
    ] {
        let (status, json) = app.get_json(path).await;
        assert_eq!(status, 404, "intake {path}");
        assert_eq!(json["error"]["code"], "not-found", "intake {path}: {json}");
    }

    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{read}{path}")).send();
    let domains: serde_json::Value = get("/api/v1/domains?from=2024-10-01&to=2024-11-01")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        domains["domains"][0]["domain"], "split.example",
        "{domains}"
    );
    for path in ["/", "/metrics", "/healthz", "/readyz"] {
        assert_eq!(get(path).await.unwrap().status(), 200, "read {path}");
    }
    // Reports are not taken on the read side.
    let posted = client
        .post(format!("{read}/v1/reports"))
        .header("content-type", "application/tlsrpt+gzip")
        .body(gzip(&body))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert!(
        matches!(posted, 404 | 405),
        "read POST /v1/reports: {posted}"
    );
}

/// `serve` with the read side on a public address and no token exits 2 before opening
/// anything, naming both ways out.
#[test]
fn serve_refuses_a_public_read_side_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/t.db", dir.path().display());
    for listen in [
        vec!["--http-listen", "0.0.0.0:0"],
        vec!["--http-listen", "127.0.0.1:0", "--read-listen", "0.0.0.0:0"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tlsrptd"))
            .args([
                "serve",
                "--posture-interval",
                "0",
                "--database",
                &database,
                "--no-smtp",
                "--http-plain",
            ])
            .args(&listen)
            .env_remove("TLSRPT_API_TOKEN")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{listen:?}: {stderr}");
        assert!(
            stderr.contains("--api-token") && stderr.contains("--read-listen"),
            "{listen:?}: {stderr}"
        );
        assert!(!dir.path().join("t.db").exists(), "nothing opened");
    }
}

/// A public intake with the read side on loopback needs no token; a token allows a
/// public read side.
#[tokio::test]
async fn a_public_intake_with_a_private_or_protected_read_side_starts() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = tlsrptd::app::AppConfig {
        database_url: crate::helpers::sqlite_url(&dir),
        limits: tlsrptd::pipeline::Limits::default(),
        http: crate::helpers::http_args(),
        smtp: crate::helpers::smtp_args(),
        posture: tlsrptd::app::PostureConfig::off(),
        readiness: Default::default(),
        readiness_interval: None,
        alerts: None,
    };
    config.http.http_plain = true;
    config.http.http_listen = "0.0.0.0:0".parse().unwrap();
    config.http.read_listen = Some("127.0.0.1:0".parse().unwrap());
    let app = tlsrptd::app::App::build(config.clone())
        .await
        .expect("loopback read side");
    assert!(app.read_addr().is_some_and(|a| a.ip().is_loopback()));
    drop(app);

    config.http.read_listen = Some("0.0.0.0:0".parse().unwrap());
    assert!(matches!(
        tlsrptd::app::App::build(config.clone()).await,
        Err(tlsrptd::app::AppError::ReadSideExposed { .. })
    ));
    config.http.api_token = Some("a-token-of-some-length".into());
    tlsrptd::app::App::build(config)
        .await
        .expect("a token protects it");
}

/// `/metrics` names policy domains: with a token set it asks for it, as the API does.
#[tokio::test]
async fn metrics_ask_for_the_token() {
    let app = spawn_plain_app(Db::Sqlite, |c| {
        c.http.api_token = Some("metrics-token-0123456789".into());
    })
    .await;
    let (status, json) = app.get_json("/metrics").await;
    assert_eq!(status, 401, "{json}");
    assert_eq!(json["error"]["code"], "unauthorized");
    let response = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("metrics-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let wrong = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("metrics-token-0123456788")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
}
