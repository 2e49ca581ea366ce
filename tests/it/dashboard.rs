//! The dashboard over plain HTTP with reqwest (no browser): security headers, token
//! login, escaping of report strings, the empty state and error pages.

use chrono::Utc;

use crate::helpers::{Db, TestApp, report_json, spawn_app, spawn_plain_app};

/// A payload that runs script if any report string reaches the page unescaped.
pub const XSS: &str = r#"<script>window.__xss=1</script><img src=x onerror="window.__xss=2">"#;

/// Days since 1970 of `days_ago` days before today (UTC), so reports fall in the
/// dashboard's default range.
pub fn day_ago(days_ago: i64) -> i64 {
    Utc::now().timestamp().div_euclid(86_400) - days_ago
}

/// A report whose organization name, failure reason code, MX hostname and additional
/// information all carry [`XSS`].
pub fn xss_report(domain: &str) -> Vec<u8> {
    let mut json: serde_json::Value = serde_json::from_slice(&report_json(
        XSS,
        "xss-1",
        day_ago(2),
        &[(
            domain,
            "sts",
            5,
            2,
            &[("certificate-expired", "192.0.2.66", XSS, 2)],
        )],
    ))
    .expect("report json");
    let detail = &mut json["policies"][0]["failure-details"][0];
    detail["failure-reason-code"] = XSS.into();
    detail["additional-information"] = XSS.into();
    json["policies"][0]["policy"]["policy-string"] =
        serde_json::json!(["version: STSv1", format!("mode: {XSS}")]);
    serde_json::to_vec(&json).expect("serialize")
}

fn no_redirect_client() -> reqwest::Client {
    let _ = tlsrptd::tls::crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn get_text(app: &TestApp, path: &str) -> (u16, String) {
    let response = app.client.get(app.url(path)).send().await.expect("GET");
    (
        response.status().as_u16(),
        response.text().await.expect("body"),
    )
}

#[tokio::test]
async fn dashboard_sends_csp_and_nosniff_on_every_page() {
    let mut app = spawn_app(Db::Sqlite, |_| {}).await;
    for path in [
        "/",
        "/reports",
        "/rejections",
        "/domains/example.com",
        "/reports/999",
    ] {
        let response = app.client.get(app.url(path)).send().await.expect("GET");
        let headers = response.headers();
        assert_eq!(
            headers["content-security-policy"],
            tlsrptd::query::dashboard::CSP,
            "{path}"
        );
        assert!(
            tlsrptd::query::dashboard::CSP.contains("script-src 'self'")
                && !tlsrptd::query::dashboard::CSP.contains("unsafe-inline")
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
    }
    let response = app
        .client
        .get(app.url("/assets/dashboard.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=31536000")
    );
    assert_eq!(
        response.headers()["content-type"],
        "text/css; charset=utf-8"
    );
    // No inline script or style anywhere: the CSP would block them.
    let (status, body) = get_text(&app, "/").await;
    assert_eq!(status, 200);
    assert!(!body.contains("<script"), "{body}");
    assert!(!body.contains("style="), "{body}");
    assert!(!body.contains("<style"), "{body}");
    assert!(
        !body.contains("http://") && !body.contains("//cdn"),
        "no external URLs"
    );
    let (status, _) = get_text(&app, "/reports/999").await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn dashboard_empty_state_explains_dns_and_first_report() {
    let mut app = spawn_plain_app(Db::Sqlite, |_| {}).await;
    let (status, body) = get_text(&app, "/").await;
    assert_eq!(status, 200);
    assert!(body.contains("id=\"empty-state\""), "{body}");
    assert!(body.contains("_smtp._tls.example.com. TXT"), "{body}");
    assert!(body.contains("v=TLSRPTv1; rua=mailto:"), "{body}");
    assert!(body.contains("/v1/reports"));
    assert!(body.contains("curl"));
    assert!(body.contains("tlsrptd import"));
    assert!(
        body.contains(&format!(
            "mailto:tlsrpt@localhost,https://localhost:{}/v1/reports",
            app.addr.port()
        )),
        "{body}"
    );
    // With reports stored but none in the range, the page says so instead.
    let (status, json) = app
        .post_report(
            report_json(
                "old.example",
                "old-1",
                day_ago(200),
                &[("old.example", "sts", 1, 0, &[])],
            ),
            "application/tlsrpt+json",
        )
        .await;
    assert_eq!(status, 201, "{json}");
    let (_, body) = get_text(&app, "/?days=7").await;
    assert!(body.contains("id=\"empty-range\""), "{body}");
    assert!(!body.contains("id=\"empty-state\""));
    let (_, body) = get_text(&app, "/?days=365").await;
    assert!(body.contains("data-domain=\"old.example\""));
    app.stop().await;
}

#[tokio::test]
async fn dashboard_requires_the_token_when_one_is_configured() {
    let mut app = spawn_plain_app(Db::Sqlite, |c| {
        c.http.api_token = Some("dash-secret-0123456".to_owned())
    })
    .await;
    let client = no_redirect_client();
    for path in [
        "/",
        "/reports",
        "/reports/1",
        "/rejections",
        "/domains/a.example",
    ] {
        let response = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 303, "{path}");
        let location = response.headers()["location"].to_str().unwrap();
        assert!(location.starts_with("/login?next="), "{path}: {location}");
        let body = response.text().await.unwrap();
        assert!(!body.contains("<table"), "{path} serves nothing");
    }
    // The login page and the stylesheet are reachable without it.
    let response = client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("name=\"token\""));
    let response = client
        .get(app.url("/assets/dashboard.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // A wrong token: 401, no cookie.
    let response = client
        .post(app.url("/login"))
        .form(&[("token", "wrong"), ("next", "/reports")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().get("set-cookie").is_none());

    // The right token: a Secure, HttpOnly, SameSite=Strict cookie that is not the token.
    let response = client
        .post(app.url("/login"))
        .form(&[
            ("token", "dash-secret-0123456"),
            ("next", "/reports?days=7"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/reports?days=7");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains("dash-secret-0123456"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_owned();
    let response = client
        .get(app.url("/reports"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // An open redirect through `next` is refused.
    let response = client
        .post(app.url("/login"))
        .form(&[
            ("token", "dash-secret-0123456"),
            ("next", "//evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], "/");

    // A forged cookie does not pass.
    let response = client
        .get(app.url("/"))
        .header("cookie", "tlsrptd_session=dash-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    app.stop().await;
}

#[tokio::test]
async fn dashboard_escapes_report_strings() {
    let mut app = spawn_app(Db::Sqlite, |_| {}).await;
    let (status, json) = app
        .post_report(xss_report("xss.example"), "application/tlsrpt+json")
        .await;
    assert_eq!(status, 201, "{json}");
    let id = json["id"].as_i64().expect("id");
    for path in [
        "/".to_owned(),
        "/reports".to_owned(),
        format!("/reports/{id}"),
        "/domains/xss.example".to_owned(),
    ] {
        let (status, body) = get_text(&app, &path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            !body.contains("<script>window.__xss") && !body.contains("<img src=x"),
            "{path}: unescaped report data"
        );
        if path != "/" {
            // askama writes `<` and `>` as numeric references; either form is text.
            let body = body.replace("&#60;", "&lt;").replace("&#62;", "&gt;");
            assert!(
                body.contains("&lt;script&gt;window.__xss=1&lt;/script&gt;"),
                "{path}: {body}"
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn dashboard_report_page_shows_smtp_source_and_dkim() {
    let mut app = spawn_app(Db::Sqlite, |_| {}).await;
    let store = tlsrptd::store::Store::open(&app.database_url)
        .await
        .expect("second handle on the app's database");
    let submission = tlsrptd::pipeline::Submission {
        envelope: tlsrptd::pipeline::Envelope::Smtp(tlsrptd::pipeline::SmtpEnvelope {
            peer: "198.51.100.25:41234".parse().expect("address"),
            helo: "mail-out.reporter.example".to_owned(),
            mail_from: "tlsrpt@reporter.example".to_owned(),
            rcpt_to: vec!["tlsrpt@mail.example".to_owned()],
            tls: None,
            dkim: Some(tlsrptd::pipeline::DkimOutcome {
                result: "pass".to_owned(),
                aligned: true,
                signing_domains: vec!["reporter.example".to_owned()],
                detail: "ok".to_owned(),
            }),
        }),
        content_type: None,
        received_at: Utc::now(),
        raw: crate::helpers::report_email(
            &report_json(
                "reporter.example",
                "smtp-1",
                day_ago(1),
                &[("mail.example", "sts", 3, 0, &[])],
            ),
            "mail.example",
        ),
    };
    tlsrptd::pipeline::Pipeline::new(store, tlsrptd::pipeline::Limits::default())
        .ingest(submission)
        .await
        .expect("ingest");
    let (_, page) = app.get_json("/api/v1/reports?domain=mail.example").await;
    let id = page["items"][0]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{page}"));
    let (status, body) = get_text(&app, &format!("/reports/{id}")).await;
    assert_eq!(status, 200);
    assert!(body.contains("SMTP (emailed report)"), "{body}");
    assert!(body.contains("198.51.100.25:41234"));
    assert!(
        body.contains("pass, aligned with the reporting domain; signed by d=reporter.example"),
        "{body}"
    );
    assert!(body.contains("mail-out.reporter.example"), "envelope shown");
    app.stop().await;
}

/// Ten sign-in attempts a minute per address, then 429 with `Retry-After`; forms from
/// another site are refused; a token shorter than 16 characters stops `serve`.
#[tokio::test]
async fn sign_in_is_rate_limited_and_cross_site_forms_are_refused() {
    let mut app = spawn_plain_app(Db::Sqlite, |c| {
        c.http.api_token = Some("limit-secret-0123456".to_owned())
    })
    .await;
    let client = no_redirect_client();
    let foreign = client
        .post(app.url("/login"))
        .header("origin", "https://evil.example")
        .form(&[("token", "limit-secret-0123456"), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    assert!(foreign.headers().get("set-cookie").is_none());
    let logout = client
        .post(app.url("/logout"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 403);
    // The same origin as the server is fine.
    let own = client
        .post(app.url("/login"))
        .header("origin", app.base.as_str())
        .form(&[("token", "limit-secret-0123456"), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 303);

    // One attempt is used; nine more wrong ones are answered 401, then 429.
    for attempt in 2..=10 {
        let response = client
            .post(app.url("/login"))
            .form(&[("token", "wrong"), ("next", "/")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "attempt {attempt}");
    }
    let limited = client
        .post(app.url("/login"))
        .form(&[("token", "limit-secret-0123456"), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    let wait: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(limited.headers().get("set-cookie").is_none());
    app.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tlsrptd"))
        .args([
            "serve",
            "--posture-interval",
            "0",
            "--no-smtp",
            "--http-plain",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .args([
            "--database",
            &format!("sqlite://{}/t.db", dir.path().display()),
        ])
        .args(["--api-token", "too-short"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--api-token") && stderr.contains("16"),
        "{stderr}"
    );
}

/// Signs in and returns the session cookie pair (`name=value`).
async fn sign_in(app: &TestApp, token: &str) -> String {
    let response = no_redirect_client()
        .post(app.url("/login"))
        .form(&[("token", token), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    cookie.split(';').next().unwrap().to_owned()
}

/// The status of `/reports` with `cookie`: 200 when the session is open, 303 to the login.
async fn with_cookie(app: &TestApp, cookie: &str) -> u16 {
    no_redirect_client()
        .get(app.url("/reports"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Sessions live on the server: sign-out ends a copied cookie too, sessions expire, and
/// a new token ends every session.
#[tokio::test]
async fn sessions_end_on_sign_out_expiry_and_token_change() {
    let mut app = spawn_plain_app(Db::Sqlite, |c| {
        c.http.api_token = Some("session-secret-0123".to_owned());
        c.http.dashboard_session_lifetime = std::time::Duration::from_secs(2);
    })
    .await;
    // Two sign-ins, two sessions; signing out of one leaves the other.
    let first = sign_in(&app, "session-secret-0123").await;
    let second = sign_in(&app, "session-secret-0123").await;
    assert_ne!(first, second, "each sign-in gets its own random session");
    assert_eq!(with_cookie(&app, &first).await, 200);
    let copy = first.clone();
    let out = no_redirect_client()
        .post(app.url("/logout"))
        .header("cookie", &first)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(
        with_cookie(&app, &copy).await,
        303,
        "a copied cookie is signed out too"
    );
    assert_eq!(with_cookie(&app, &second).await, 200);
    // The 2-second lifetime passes.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert_eq!(with_cookie(&app, &second).await, 303, "expired");

    // A session opened under one token does not survive a change of token.
    app.stop().await;
    let mut after = sign_in_then_restart(app).await;
    after.stop().await;
}

/// Signs in on a new app over `old`'s database with the old token, restarts it with a new
/// token, and checks the old session is over; returns the new app.
async fn sign_in_then_restart(old: TestApp) -> TestApp {
    let database = old.database_url.clone();
    let before = spawn_plain_app(Db::Sqlite, |c| {
        c.database_url = database.clone();
        c.http.api_token = Some("session-secret-0123".to_owned());
    })
    .await;
    let cookie = sign_in(&before, "session-secret-0123").await;
    assert_eq!(with_cookie(&before, &cookie).await, 200);
    let mut before = before;
    before.stop().await;
    let after = spawn_plain_app(Db::Sqlite, |c| {
        c.database_url = database.clone();
        c.http.api_token = Some("another-secret-0123".to_owned());
    })
    .await;
    assert_eq!(with_cookie(&after, &cookie).await, 303, "the token changed");
    drop(old);
    after
}
