//! Browser tests: headless Chromium driven over W3C WebDriver (chromedriver) against the
//! app spawned on port 0 over plain HTTP, with a known set of reports. They compare what
//! the pages show with what the JSON API answers, check that report strings holding HTML
//! and script render as text, and that the token login is required and works. Each page
//! is saved as a PNG under `target/screenshots/`.
//!
//! Ignored by default (they need `/usr/bin/chromium` and `/usr/bin/chromedriver`);
//! `.ci/run` installs both and runs `cargo test --test it -- --ignored browser`.
//! `TLSRPT_CHROMIUM` and `TLSRPT_CHROMEDRIVER` override the binaries.
//!
//! The WebDriver client is the few W3C endpoints these tests use, spoken with reqwest
//! (already a dev-dependency) rather than another client crate.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::dashboard::{XSS, day_ago, xss_report};
use crate::helpers::{Db, TestApp, report_json, spawn_plain_app};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const WAIT: Duration = Duration::from_secs(10);

/// chromedriver on a free port with one Chromium session; both end when dropped.
struct Browser {
    http: reqwest::Client,
    session_url: String,
    driver: std::process::Child,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("create target/screenshots");
    dir
}

impl Browser {
    async fn start() -> Browser {
        let _ = tlsrptd::tls::crypto_provider();
        let chromedriver = std::env::var("TLSRPT_CHROMEDRIVER")
            .unwrap_or_else(|_| "/usr/bin/chromedriver".to_owned());
        let chromium =
            std::env::var("TLSRPT_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
        let port = free_port();
        let driver = std::process::Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {chromedriver}: {e}"));
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            let ready = match http.get(format!("{base}/status")).send().await {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                break;
            }
            assert!(
                started.elapsed() < WAIT,
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--window-size=1280,1400".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let response: Value = http
            .post(format!("{base}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": chromium, "args": args}
            }}}))
            .send()
            .await
            .expect("POST /session")
            .json()
            .await
            .expect("session JSON");
        let id = response["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {response}"))
            .to_owned();
        Browser {
            http,
            session_url: format!("{base}/session/{id}"),
            driver,
            _profile: profile,
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.session_url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("WebDriver request");
        let status = response.status();
        let value: Value = response.json().await.expect("WebDriver JSON");
        assert!(
            status.is_success(),
            "WebDriver {method} {path}: {status} {value}"
        );
        value["value"].clone()
    }

    async fn try_cmd(&self, path: &str, body: Value) -> Option<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.session_url))
            .json(&body)
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response
            .json::<Value>()
            .await
            .ok()
            .map(|v| v["value"].clone())
    }

    async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The first element matching `css`, waiting for it up to [`WAIT`].
    async fn find(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let found = self
                .try_cmd("/element", json!({"using": "css selector", "value": css}))
                .await;
            if let Some(id) = found.as_ref().and_then(|v| v[ELEMENT].as_str()) {
                return id.to_owned();
            }
            assert!(started.elapsed() < WAIT, "no element matches {css:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn find_all(&self, css: &str) -> Vec<String> {
        self.cmd(
            reqwest::Method::POST,
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )
        .await
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e[ELEMENT].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
    }

    async fn text(&self, element: &str) -> String {
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{element}/text"),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    async fn attr(&self, element: &str, name: &str) -> Option<String> {
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{element}/attribute/{name}"),
            None,
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    /// `data-value` of the first element matching `css`.
    async fn value_of(&self, css: &str) -> String {
        let element = self.find(css).await;
        self.attr(&element, "data-value")
            .await
            .unwrap_or_else(|| panic!("{css} has no data-value"))
    }

    /// Attribute `name` of the first element matching `css`.
    async fn value_of_attr(&self, css: &str, name: &str) -> String {
        let element = self.find(css).await;
        self.attr(&element, name)
            .await
            .unwrap_or_else(|| panic!("{css} has no {name}"))
    }

    async fn text_of(&self, css: &str) -> String {
        let element = self.find(css).await;
        self.text(&element).await
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn script(&self, script: &str) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    async fn wait_for_url(&self, part: &str) -> String {
        let started = Instant::now();
        loop {
            let url = self.url().await;
            if url.contains(part) {
                return url;
            }
            assert!(started.elapsed() < WAIT, "URL {url} never contained {part}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Presses one key (a WebDriver key code such as `\u{E004}` for Tab).
    async fn press(&self, key: &str) {
        self.cmd(
            reqwest::Method::POST,
            "/actions",
            Some(
                json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                    {"type": "keyDown", "value": key},
                    {"type": "keyUp", "value": key}
                ]}]}),
            ),
        )
        .await;
    }

    async fn window(&self, width: u32, height: u32) {
        self.cmd(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    async fn screenshot(&self, name: &str) {
        let png = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("screenshot base64");
        assert!(bytes.starts_with(b"\x89PNG"), "screenshot is a PNG");
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, bytes).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
    }

    async fn cookies(&self) -> Vec<Value> {
        self.cmd(reqwest::Method::GET, "/cookie", None)
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Ends the session (Chromium exits), then chromedriver (in `Drop`).
    async fn quit(self) {
        let _ = self.http.delete(&self.session_url).send().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn date(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .expect("date")
        .date_naive()
        .to_string()
}

/// Stores the known reports: three domains, three organizations, four result types.
async fn load_reports(app: &TestApp) {
    let reports = [
        report_json(
            "org-a.example",
            "a-1",
            day_ago(3),
            &[
                (
                    "example.org",
                    "sts",
                    100,
                    10,
                    &[
                        ("certificate-expired", "192.0.2.1", "mx1.example.org", 6),
                        ("starttls-not-supported", "192.0.2.2", "mx2.example.org", 4),
                    ],
                ),
                ("example.com", "sts", 500, 0, &[]),
            ],
        ),
        report_json(
            "org-b.example",
            "b-1",
            day_ago(2),
            &[
                (
                    "example.org",
                    "sts",
                    50,
                    5,
                    &[(
                        "sts-policy-fetch-error",
                        "198.51.100.7",
                        "mx1.example.org",
                        5,
                    )],
                ),
                ("example.net", "no-policy-found", 200, 0, &[]),
            ],
        ),
        report_json(
            "org-c.example",
            "c-1",
            day_ago(1),
            &[(
                "example.net",
                "tlsa",
                30,
                3,
                &[("tlsa-invalid", "203.0.113.3", "mx.example.net", 3)],
            )],
        ),
    ];
    for body in reports {
        let (status, json) = app.post_report(body, "application/tlsrpt+json").await;
        assert_eq!(status, 201, "{json}");
    }
    // One rejection for the rejections page.
    let (status, _) = app
        .post_report(
            br#"{"organization-name": "broken.example"}"#.to_vec(),
            "application/tlsrpt+json",
        )
        .await;
    assert_eq!(status, 400);
}

fn num(v: &Value) -> String {
    v.as_i64()
        .map(|n| n.to_string())
        .unwrap_or_else(|| panic!("not an integer: {v}"))
}

#[tokio::test]
#[ignore = "needs chromium + chromedriver; run by .ci/run"]
async fn browser_overview_and_domain_page_show_the_api_numbers() {
    let mut app = spawn_plain_app(Db::Sqlite, |_| {}).await;
    load_reports(&app).await;
    let browser = Browser::start().await;
    let range = format!("from={}&to={}", date(day_ago(10)), date(day_ago(0)));

    // Overview: every domain with the API's numbers, failing domains first.
    let (status, api) = app.get_json(&format!("/api/v1/domains?{range}")).await;
    assert_eq!(status, 200);
    let domains = api["domains"].as_array().expect("domains").clone();
    assert_eq!(domains.len(), 3, "{api}");
    browser.goto(&app.url(&format!("/?{range}"))).await;
    browser.find("table#domains").await;
    for d in &domains {
        let name = d["domain"].as_str().expect("domain");
        let row = format!("tr[data-domain=\"{name}\"]");
        let sessions =
            d["successful_sessions"].as_i64().unwrap() + d["failed_sessions"].as_i64().unwrap();
        assert_eq!(
            browser
                .value_of(&format!("{row} [data-field=sessions]"))
                .await,
            sessions.to_string(),
            "{name}"
        );
        assert_eq!(
            browser
                .text_of(&format!("{row} [data-field=sessions]"))
                .await,
            sessions.to_string()
        );
        assert_eq!(
            browser
                .text_of(&format!("{row} [data-field=failed_sessions]"))
                .await,
            num(&d["failed_sessions"]),
            "{name}"
        );
        assert_eq!(
            browser
                .text_of(&format!("{row} [data-field=organizations]"))
                .await,
            num(&d["organizations"]),
            "{name}"
        );
        let rate: f64 = browser
            .value_of(&format!("{row} [data-field=failure_rate]"))
            .await
            .parse()
            .expect("rate");
        assert!(
            (rate - d["failure_rate"].as_f64().unwrap()).abs() < 1e-9,
            "{name}"
        );
        assert_eq!(
            browser
                .text_of(&format!("{row} [data-field=failure_rate]"))
                .await,
            format!("{:.2}%", d["failure_rate"].as_f64().unwrap() * 100.0)
        );
        let shown = browser
            .value_of(&format!("{row} [data-field=last_report_at]"))
            .await;
        let shown = chrono::DateTime::parse_from_rfc3339(&shown).expect("shown time");
        let api_time = chrono::DateTime::parse_from_rfc3339(d["last_report_at"].as_str().unwrap())
            .expect("api time");
        assert_eq!(shown, api_time, "{name}");
        browser.find(&format!("{row} svg.spark")).await;
    }
    let order = browser
        .script("return [...document.querySelectorAll('tr.domain-row')].map(r => r.dataset.domain)")
        .await;
    assert_eq!(
        order,
        json!(["example.org", "example.net", "example.com"]),
        "failing domains first, most failures first"
    );
    browser.screenshot("overview").await;
    browser.window(390, 844).await;
    assert_eq!(
        browser
            .script("return document.documentElement.scrollWidth <= window.innerWidth")
            .await,
        json!(true),
        "the overview fits a phone's width"
    );
    browser.screenshot("overview-phone").await;
    browser.window(1280, 1400).await;

    // Keyboard only: Tab reaches the skip link first, then the first domain; Enter opens it.
    browser.goto(&app.url(&format!("/?{range}"))).await;
    browser.find("table#domains").await;
    browser.press("\u{E004}").await;
    assert_eq!(
        browser
            .script("return document.activeElement.className")
            .await,
        json!("skip")
    );
    let mut reached = false;
    for _ in 0..40 {
        browser.press("\u{E004}").await;
        let focused = browser
            .script("return document.activeElement.classList.contains('domain-link') ? document.activeElement.textContent : null")
            .await;
        if focused == json!("example.org") {
            reached = true;
            break;
        }
    }
    assert!(reached, "Tab never reached the first domain link");
    browser.press("\u{E007}").await;
    browser.wait_for_url("/domains/example.org").await;
    browser.find("svg#chart-sessions").await;
    browser.window(390, 844).await;
    assert_eq!(
        browser
            .script("return document.documentElement.scrollWidth <= window.innerWidth")
            .await,
        json!(true),
        "the domain page fits a phone's width"
    );
    browser.screenshot("domain-phone").await;
    browser.window(1280, 1400).await;
    browser.goto(&app.url(&format!("/?{range}"))).await;
    browser.find("table#domains").await;

    // Sorting by domain keeps failing domains first and is bookmarkable.
    browser.click("th[aria-sort] a[href*='sort=domain']").await;
    browser.wait_for_url("sort=domain").await;
    let order = browser
        .script("return [...document.querySelectorAll('tr.domain-row')].map(r => r.dataset.domain)")
        .await;
    assert_eq!(order, json!(["example.net", "example.org", "example.com"]));

    // Clicking a domain opens its page with the chart and the API's breakdowns.
    browser
        .click("tr[data-domain=\"example.org\"] a.domain-link")
        .await;
    let url = browser.wait_for_url("/domains/example.org").await;
    assert!(url.contains("from="), "the range follows the link: {url}");
    let (_, summary) = app
        .get_json(&format!("/api/v1/domains/example.org/summary?{range}"))
        .await;
    let (_, series) = app
        .get_json(&format!("/api/v1/domains/example.org/timeseries?{range}"))
        .await;
    browser.find("svg#chart-sessions").await;
    let days = series["days"].as_array().expect("days");
    assert_eq!(days.len(), 11);
    let bars = browser.find_all("svg#chart-sessions g.bar").await;
    assert_eq!(bars.len(), days.len(), "one bar per day");
    let drawn = browser
        .script(
            "return [...document.querySelectorAll('#chart-sessions g.bar')].map(g => \
             [...g.querySelectorAll('rect')].map(r => r.getBBox().height))",
        )
        .await;
    for (day, heights) in days.iter().zip(drawn.as_array().expect("bars")) {
        let ok = day["successful_sessions"].as_i64().unwrap();
        let failed = day["failed_sessions"].as_i64().unwrap();
        let ok_h = heights[0].as_f64().unwrap();
        let fail_h = heights[1].as_f64().unwrap();
        assert_eq!(ok > 0, ok_h > 0.0, "{day}");
        assert_eq!(failed > 0, fail_h > 0.0, "{day}");
        let row = format!(
            "#daily tr[data-day=\"{}\"] td",
            day["day"].as_str().unwrap()
        );
        let cells = browser
            .script(&format!(
                "return [...document.querySelectorAll('{row}')].map(td => td.textContent)"
            ))
            .await;
        assert_eq!(cells, json!([ok.to_string(), failed.to_string()]), "{day}");
    }
    let description = browser
        .script("return document.getElementById('chart-sessions-desc').textContent")
        .await;
    assert!(
        description
            .as_str()
            .is_some_and(|d| d.contains("15 failed")),
        "the chart has a text description with the numbers: {description}"
    );
    assert_eq!(
        browser.value_of("#total-failed").await,
        num(&summary["failed_sessions"])
    );
    assert_eq!(
        browser.value_of("#total-successful").await,
        num(&summary["successful_sessions"])
    );
    assert_eq!(
        browser.value_of("#total-reports").await,
        num(&summary["reports"])
    );
    for r in summary["by_result_type"]
        .as_array()
        .expect("by_result_type")
    {
        let key = r["key"].as_str().unwrap();
        assert_eq!(
            browser
                .value_of(&format!("#by-result-type li[data-key=\"{key}\"] .count"))
                .await,
            num(&r["failed_sessions"]),
            "{key}"
        );
    }
    let explanation = browser
        .text_of("#by-result-type li[data-key=\"certificate-expired\"]")
        .await;
    assert!(
        explanation.contains("Renew the MX certificate"),
        "{explanation}"
    );
    assert!(
        explanation.contains(&format!("reported for {}", date(day_ago(3)))),
        "since when: {explanation}"
    );
    let verdict = browser.text_of("#verdict").await;
    let total = summary["successful_sessions"].as_i64().unwrap()
        + summary["failed_sessions"].as_i64().unwrap();
    assert!(
        verdict.contains(&format!(
            "{} of {total} sessions failed",
            summary["failed_sessions"]
        )) && verdict.contains("certificate-expired"),
        "{verdict}"
    );
    let explanation = browser
        .text_of("#by-result-type li[data-key=\"sts-policy-fetch-error\"]")
        .await;
    assert!(explanation.contains("HTTPS"), "{explanation}");
    for (table, field) in [
        ("by-organization", "by_organization"),
        ("by-policy-type", "by_policy_type"),
    ] {
        for r in summary[field].as_array().expect(field) {
            let row = format!("#{table} tr[data-key=\"{}\"]", r["key"].as_str().unwrap());
            for col in ["reports", "successful_sessions", "failed_sessions"] {
                assert_eq!(
                    browser
                        .text_of(&format!("{row} td[data-field={col}]"))
                        .await,
                    num(&r[col]),
                    "{row} {col}"
                );
            }
        }
    }
    for (table, field) in [
        ("by-receiving-mx", "by_receiving_mx"),
        ("by-sending-ip", "by_sending_ip"),
    ] {
        let rows = summary[field].as_array().expect(field);
        assert!(!rows.is_empty());
        for r in rows {
            let row = format!("#{table} tr[data-key=\"{}\"]", r["key"].as_str().unwrap());
            assert_eq!(
                browser
                    .text_of(&format!("{row} td[data-field=failed_sessions]"))
                    .await,
                num(&r["failed_sessions"]),
                "{row}"
            );
        }
    }
    let policies = browser.text_of("#policies").await;
    assert!(
        policies.contains("testing") && policies.contains("*.example.org"),
        "{policies}"
    );
    assert!(policies.contains("86400 s"), "{policies}");
    browser.screenshot("domain").await;

    // The 7-day preset is a link that keeps the page.
    browser.click(".presets a[href*='days=7']").await;
    browser.wait_for_url("days=7").await;
    assert!(browser.url().await.contains("/domains/example.org"));

    // Reports list, filtered by organization, and a report page.
    browser.goto(&app.url(&format!("/reports?{range}"))).await;
    let (_, page) = app.get_json(&format!("/api/v1/reports?{range}")).await;
    let rows = browser.find_all("#reports tbody tr").await;
    assert_eq!(rows.len(), page["items"].as_array().unwrap().len());
    browser.screenshot("reports").await;
    browser
        .goto(&app.url(&format!("/reports?{range}&organization=org-b.example")))
        .await;
    browser.find("#reports").await;
    assert_eq!(browser.find_all("#reports tbody tr").await.len(), 1);
    browser.click("#reports tbody tr a").await;
    browser.wait_for_url("/reports/").await;
    assert_eq!(browser.text_of("#organization").await, "org-b.example");
    assert_eq!(browser.text_of("#report-id").await, "b-1");
    assert_eq!(browser.value_of("#source").await, "https");
    assert!(
        browser
            .text_of("#raw")
            .await
            .contains("\"report-id\":\"b-1\"")
    );
    browser.screenshot("report").await;

    browser.goto(&app.url("/rejections")).await;
    let reason = browser.text_of("#rejections .reason-code").await;
    assert!(!reason.is_empty());
    browser.screenshot("rejections").await;

    browser.quit().await;
    app.stop().await;

    // A new installation: the empty state says what to publish and how to send a report.
    let mut empty = spawn_plain_app(Db::Sqlite, |_| {}).await;
    let browser = Browser::start().await;
    browser.goto(&empty.url("/")).await;
    let text = browser.text_of("#empty-state").await;
    assert!(
        text.contains("_smtp._tls.example.com. TXT \"v=TLSRPTv1; rua=mailto:"),
        "{text}"
    );
    assert!(
        text.contains("curl") && text.contains("tlsrptd import"),
        "{text}"
    );
    browser.screenshot("overview-empty").await;
    browser.quit().await;
    empty.stop().await;
}

#[tokio::test]
#[ignore = "needs chromium + chromedriver; run by .ci/run"]
async fn browser_report_strings_with_html_and_script_render_as_text() {
    let mut app = spawn_plain_app(Db::Sqlite, |_| {}).await;
    let (status, json) = app
        .post_report(xss_report("xss.example"), "application/tlsrpt+json")
        .await;
    assert_eq!(status, 201, "{json}");
    let id = json["id"].as_i64().expect("id");
    let browser = Browser::start().await;
    for (path, shot) in [
        (format!("/reports/{id}"), "report-xss"),
        ("/reports".to_owned(), "reports-xss"),
        ("/domains/xss.example".to_owned(), "domain-xss"),
        ("/".to_owned(), "overview-xss"),
    ] {
        browser.goto(&app.url(&path)).await;
        browser.find("main").await;
        // Give an injected onerror handler time to fire, were there one.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            browser.script("return typeof window.__xss").await,
            json!("undefined"),
            "{path}: script ran"
        );
        assert_eq!(
            browser
                .script("return document.querySelectorAll('script, img').length")
                .await,
            json!(0),
            "{path}: report markup became elements"
        );
        browser.screenshot(shot).await;
    }
    browser.goto(&app.url(&format!("/reports/{id}"))).await;
    assert_eq!(browser.text_of("#organization").await, XSS);
    let reason = browser.text_of("table.details td.reason-code").await;
    assert_eq!(reason, XSS);
    browser.goto(&app.url("/domains/xss.example")).await;
    let org = browser.text_of("#by-organization tbody th").await;
    assert_eq!(org, XSS);
    browser.quit().await;
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs chromium + chromedriver; run by .ci/run"]
async fn browser_token_login_is_required_and_works() {
    let mut app = spawn_plain_app(Db::Sqlite, |c| {
        c.http.api_token = Some("browser-secret-0123".to_owned())
    })
    .await;
    let browser = Browser::start().await;
    browser.goto(&app.url("/reports?days=7")).await;
    browser.wait_for_url("/login").await;
    assert!(browser.find_all("table").await.is_empty(), "nothing served");
    browser.screenshot("login").await;

    browser.type_into("#token", "not-the-token").await;
    browser.click("#login-submit").await;
    let error = browser.text_of("#login-error").await;
    assert!(error.contains("not the one"), "{error}");
    assert!(browser.cookies().await.is_empty());

    browser.type_into("#token", "browser-secret-0123").await;
    browser.click("#login-submit").await;
    browser.wait_for_url("/reports?days=7").await;
    browser.find("#no-reports").await;
    let cookies = browser.cookies().await;
    let session = cookies
        .iter()
        .find(|c| c["name"] == tlsrptd::query::dashboard::SESSION_COOKIE)
        .unwrap_or_else(|| panic!("no session cookie: {cookies:?}"));
    assert_eq!(session["httpOnly"], true);
    assert_eq!(session["secure"], true);
    assert_eq!(session["sameSite"], "Strict");
    assert_ne!(session["value"], "browser-secret-0123");
    assert_eq!(
        browser.script("return document.cookie").await,
        json!(""),
        "HttpOnly: invisible to script"
    );
    browser.goto(&app.url("/")).await;
    browser.find("#empty-state").await;
    browser.screenshot("after-login").await;

    browser.click("form.logout button").await;
    browser.wait_for_url("/login").await;
    browser.goto(&app.url("/")).await;
    browser.wait_for_url("/login").await;
    browser.quit().await;
    app.stop().await;
}

/// The posture badge on the overview and the posture panel on the domain page show what
/// the API's latest check says: the state, and each finding with its code and fix.
#[tokio::test]
#[ignore = "needs chromium + chromedriver; run by .ci/run"]
async fn browser_posture_badge_and_panel_show_the_checks_findings() {
    use crate::posture::{Pki, options, scenario, start_world, without};
    let pki = Pki::new();
    let scenarios = vec![
        scenario("panel", |d, r, _| without(r, &format!("mta-sts.{d}"))),
        scenario("clean", |_, _, _| {}),
    ];
    let world = start_world(&pki, &scenarios, "mx.unused.test").await;
    let check_options = options(&world, true);
    let mut app = spawn_plain_app(Db::Sqlite, move |c| c.posture.options = check_options).await;
    let day = chrono::Utc::now().timestamp().div_euclid(86_400);
    for (domain, id) in [
        ("panel.test", "p-1"),
        ("clean.test", "c-1"),
        ("unchecked.test", "u-1"),
    ] {
        let report = report_json("sender.test", id, day, &[(domain, "sts", 50, 0, &[])]);
        let (status, body) = app.post_report(report, "application/tlsrpt+json").await;
        assert_eq!(status, 201, "{body}");
    }
    let mut api = std::collections::HashMap::new();
    for domain in ["panel.test", "clean.test"] {
        let (status, check) = app
            .get_json(&format!("/api/v1/domains/{domain}/posture?refresh=true"))
            .await;
        assert_eq!(status, 200, "{check}");
        api.insert(domain, check);
    }
    assert_eq!(api["panel.test"]["state"], "broken");
    assert_eq!(api["clean.test"]["state"], "ok", "{:#}", api["clean.test"]);

    let browser = Browser::start().await;
    browser.goto(&app.url("/")).await;
    for (domain, state) in [
        ("panel.test", "broken"),
        ("clean.test", "ok"),
        ("unchecked.test", ""),
    ] {
        let badge = browser
            .find(&format!(
                "tr[data-domain=\"{domain}\"] td[data-field=\"posture\"] [data-state]"
            ))
            .await;
        assert_eq!(
            browser.attr(&badge, "data-state").await.as_deref(),
            Some(state),
            "{domain}"
        );
    }
    assert_eq!(
        browser
            .text_of("tr[data-domain=\"panel.test\"] td[data-field=\"posture\"]")
            .await,
        "Broken"
    );
    browser.screenshot("overview-posture").await;

    browser.goto(&app.url("/domains/panel.test")).await;
    assert_eq!(
        browser.value_of_attr("#posture-state", "data-state").await,
        "broken"
    );
    let expected = api["panel.test"]["findings"].as_array().unwrap();
    let shown = browser.find_all("#posture-findings li.finding").await;
    assert_eq!(shown.len(), expected.len(), "one item per finding");
    for finding in expected {
        let code = finding["code"].as_str().unwrap();
        let text = browser
            .text_of(&format!("#posture-findings li[data-code=\"{code}\"]"))
            .await;
        assert!(
            text.contains(finding["message"].as_str().unwrap()),
            "{code}: {text}"
        );
        assert!(
            text.contains(finding["fix"].as_str().unwrap()),
            "{code}: {text}"
        );
    }
    let first = browser.find("#posture-findings li.finding").await;
    assert_eq!(
        browser.attr(&first, "data-severity").await.as_deref(),
        Some("error"),
        "errors first"
    );
    browser.screenshot("domain-posture").await;

    browser.goto(&app.url("/domains/clean.test")).await;
    assert_eq!(
        browser.value_of_attr("#posture-state", "data-state").await,
        "ok"
    );
    browser.find("#posture-clean").await;
    browser.goto(&app.url("/domains/unchecked.test")).await;
    browser.find("#posture-none").await;
    browser.quit().await;
    app.stop().await;
}

/// The readiness panel and the overview's Enforce column show the API's verdicts: a
/// clean domain ready, one with certificate failures not ready with its impact rows, and
/// the chart of would-fail sessions over the judged days.
#[tokio::test]
#[ignore = "needs chromium + chromedriver; run by .ci/run"]
async fn browser_readiness_panel_and_column_show_the_verdicts() {
    let mut app = spawn_plain_app(Db::Sqlite, |_| {}).await;
    let t = chrono::Utc::now().timestamp().div_euclid(86_400);
    for day in t - 15..t {
        for (domain, failures) in [("ready.test", 0), ("blocked.test", 25)] {
            for org in ["one.test", "two.test"] {
                let details: Vec<crate::helpers::Detail> = if failures > 0 && org == "two.test" {
                    vec![(
                        "certificate-expired",
                        "192.0.2.7",
                        "mx9.blocked.test",
                        failures,
                    )]
                } else {
                    vec![]
                };
                let body = report_json(
                    org,
                    &format!("{domain}-{org}-{day}"),
                    day,
                    &[(
                        domain,
                        "sts",
                        500,
                        if org == "two.test" { failures } else { 0 },
                        &details,
                    )],
                );
                let (status, json) = app.post_report(body, "application/tlsrpt+json").await;
                assert_eq!(status, 201, "{json}");
            }
        }
    }
    // The overview's column shows what the schedule judged last: judge now.
    let store = tlsrptd::store::Store::open(&app.database_url)
        .await
        .unwrap();
    let judged =
        tlsrptd::watch::readiness::judge_all(&store, Default::default(), chrono::Utc::now())
            .await
            .unwrap();
    assert_eq!(judged, 2);

    let browser = Browser::start().await;
    browser.goto(&app.url("/")).await;
    for (domain, verdict) in [("ready.test", "ready"), ("blocked.test", "not-ready")] {
        let badge = browser
            .find(&format!(
                "tr[data-domain=\"{domain}\"] td[data-field=\"readiness\"] [data-verdict]"
            ))
            .await;
        assert_eq!(
            browser.attr(&badge, "data-verdict").await.as_deref(),
            Some(verdict),
            "{domain}"
        );
    }
    browser.screenshot("overview-readiness").await;

    for domain in ["ready.test", "blocked.test"] {
        let (_, api) = app
            .get_json(&format!("/api/v1/domains/{domain}/readiness"))
            .await;
        browser.goto(&app.url(&format!("/domains/{domain}"))).await;
        assert_eq!(
            browser
                .value_of_attr("#readiness-verdict", "data-verdict")
                .await,
            api["verdict"].as_str().unwrap()
        );
        let reasons = api["reasons"].as_array().unwrap();
        assert_eq!(
            browser.find_all("#readiness-reasons li.reason").await.len(),
            reasons.len()
        );
        for r in reasons {
            let code = r["code"].as_str().unwrap();
            let shown = browser
                .find(&format!("#readiness-reasons li[data-code=\"{code}\"]"))
                .await;
            assert_eq!(
                browser.attr(&shown, "data-passed").await.as_deref(),
                Some(if r["passed"] == true { "true" } else { "false" }),
                "{domain} {code}"
            );
            assert!(
                browser
                    .text(&shown)
                    .await
                    .contains(r["message"].as_str().unwrap())
            );
        }
        let impact = api["impact"].as_array().unwrap();
        if impact.is_empty() {
            assert!(browser.find_all("#readiness-impact").await.is_empty());
        } else {
            let row = browser.find("#readiness-impact tbody tr").await;
            assert_eq!(
                browser.attr(&row, "data-mx").await,
                impact[0]["receiving_mx"].as_str().map(str::to_owned)
            );
            assert_eq!(
                browser.attr(&row, "data-organization").await,
                impact[0]["organization"].as_str().map(str::to_owned)
            );
            assert_eq!(
                browser.attr(&row, "data-sessions").await,
                Some(impact[0]["sessions"].to_string())
            );
            assert_eq!(
                browser
                    .value_of_attr("#chart-would-fail", "data-bars")
                    .await,
                "14"
            );
        }
        browser
            .screenshot(&format!("domain-readiness-{domain}"))
            .await;
    }
    browser.quit().await;
    app.stop().await;
}

/// The alerts page lists what `GET /api/v1/alerts` lists, with the fix, and the
/// navigation counts the open alerts on every page.
#[tokio::test]
#[ignore = "needs chromium + chromedriver; run by .ci/run"]
async fn browser_alerts_page_and_count_show_the_open_alerts() {
    let mut app = spawn_plain_app(Db::Sqlite, |_| {}).await;
    let t = chrono::Utc::now().timestamp().div_euclid(86_400);
    for day in t - 20..t {
        let failed = if day == t - 1 { 60 } else { 5 };
        for org in ["one.test", "two.test"] {
            let details: Vec<crate::helpers::Detail> = if org == "two.test" {
                vec![(
                    "certificate-expired",
                    "192.0.2.7",
                    "mx1.alerted.test",
                    failed,
                )]
            } else {
                vec![]
            };
            let sent = if org == "two.test" { failed } else { 0 };
            let body = report_json(
                org,
                &format!("alerted-{org}-{day}"),
                day,
                &[("alerted.test", "sts", 5_000, sent, &details)],
            );
            let (status, json) = app.post_report(body, "application/tlsrpt+json").await;
            assert_eq!(status, 201, "{json}");
        }
    }
    let store = tlsrptd::store::Store::open(&app.database_url)
        .await
        .unwrap();
    let watch = tlsrptd::watch::alerts::AlertWatch::new(
        store,
        Default::default(),
        std::sync::Arc::new(tlsrptd::watch::SystemClock),
    )
    .unwrap();
    let changes = watch.evaluate().await.unwrap().unwrap();
    assert_eq!(changes.opened, 1, "{changes:?}");
    let (_, api) = app.get_json("/api/v1/alerts?state=open").await;
    let alert = &api["alerts"][0];
    assert_eq!(alert["rule"], "failure-spike");

    let browser = Browser::start().await;
    browser.goto(&app.url("/")).await;
    assert_eq!(
        browser.value_of_attr("#alerts-open", "data-open").await,
        "1"
    );
    browser.click("nav a[href=\"/alerts\"]").await;
    let item = browser
        .find("#open-alerts li[data-rule=\"failure-spike\"][data-domain=\"alerted.test\"]")
        .await;
    let text = browser.text(&item).await;
    assert!(text.contains(alert["summary"].as_str().unwrap()), "{text}");
    assert!(
        text.contains(alert["detail"]["fix"].as_str().unwrap()),
        "{text}"
    );
    assert_eq!(
        browser.attr(&item, "data-severity").await.as_deref(),
        Some("critical")
    );
    browser.find("#no-resolved-alerts").await;
    browser.screenshot("alerts").await;
    browser.quit().await;
    app.stop().await;
}
