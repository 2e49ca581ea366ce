//! Enforce readiness, end to end: reports for known days (counted back from today) posted
//! to the app over HTTPS, then the verdict read through the API, `tlsrptd readiness` and
//! the domain page and overview. One scenario per verdict: clean days from two
//! organizations, certificate failures on one MX, senders that found no usable policy,
//! too few days, a silence at the end, and a policy already in enforce.

use chrono::{NaiveDate, Utc};
use serde_json::{Value, json};

use crate::helpers::{Db, TestApp, spawn_app};

/// `(result-type, sending IP, receiving MX, failed sessions)`
type Failure<'a> = (&'a str, &'a str, &'a str, i64);

fn today() -> i64 {
    Utc::now().timestamp().div_euclid(86_400)
}

fn date(day: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .unwrap()
        .date_naive()
}

/// One day's report from `org` for `domain` under an STS policy in `mode`.
fn report(
    org: &str,
    domain: &str,
    day: i64,
    mode: &str,
    successful: i64,
    failures: &[Failure<'_>],
) -> Vec<u8> {
    let start = chrono::DateTime::from_timestamp(day * 86_400, 0).unwrap();
    let end = chrono::DateTime::from_timestamp(day * 86_400 + 86_399, 0).unwrap();
    let failed: i64 = failures.iter().map(|f| f.3).sum();
    serde_json::to_vec(&json!({
        "organization-name": org,
        "date-range": {
            "start-datetime": start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "end-datetime": end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        },
        "contact-info": format!("tlsrpt@{org}"),
        "report-id": format!("{org}-{domain}-{day}"),
        "policies": [{
            "policy": {
                "policy-type": "sts",
                "policy-string": ["version: STSv1", format!("mode: {mode}"), format!("mx: *.{domain}"), "max_age: 604800"],
                "policy-domain": domain,
                "mx-host": [format!("*.{domain}")]
            },
            "summary": {
                "total-successful-session-count": successful,
                "total-failure-session-count": failed
            },
            "failure-details": failures.iter().map(|(result, ip, mx, count)| json!({
                "result-type": result,
                "sending-mta-ip": ip,
                "receiving-mx-hostname": mx,
                "failed-session-count": count
            })).collect::<Vec<_>>()
        }]
    }))
    .unwrap()
}

async fn post(app: &TestApp, body: Vec<u8>) {
    let (status, json) = app.post_report(body, "application/tlsrpt+json").await;
    assert_eq!(status, 201, "{json}");
}

/// Posts a report from each organization for every day in `days`.
async fn post_days(
    app: &TestApp,
    domain: &str,
    days: std::ops::Range<i64>,
    orgs: &[&str],
    mode: impl Fn(i64) -> &'static str,
    failures: impl Fn(&str, i64) -> Vec<Failure<'static>>,
) {
    for day in days {
        for org in orgs {
            post(
                app,
                report(org, domain, day, mode(day), 1_000, &failures(org, day)),
            )
            .await;
        }
    }
}

async fn readiness(app: &TestApp, domain: &str) -> Value {
    let (status, body) = app
        .get_json(&format!("/api/v1/domains/{domain}/readiness"))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn reason<'a>(r: &'a Value, code: &str) -> &'a Value {
    r["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["code"] == code)
        .unwrap_or_else(|| panic!("no {code} reason in {:#}", r["reasons"]))
}

/// `tlsrptd readiness DOMAIN --json` on the app's database: its exit code and JSON.
async fn command(app: &TestApp, domain: &str) -> (Option<i32>, Value) {
    let url = app.database_url.clone();
    let domain = domain.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tlsrptd"))
            .args(["readiness", &domain, "--json", "--database", &url])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), json[0].clone())
}

/// The domain page's readiness verdict (`data-verdict` of the panel's badge).
async fn page_verdict(app: &TestApp, domain: &str) -> String {
    let html = app
        .client
        .get(app.url(&format!("/domains/{domain}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = html
        .find("id=\"readiness-verdict\" data-verdict=\"")
        .expect("readiness panel");
    let rest = &html[at + "id=\"readiness-verdict\" data-verdict=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn fifteen_clean_days_from_two_organizations_are_ready() {
    let app = spawn_app(Db::Sqlite, |_| {}).await;
    let t = today();
    post_days(
        &app,
        "clean.test",
        t - 15..t,
        &["a.test", "b.test"],
        |_| "testing",
        |_, _| vec![],
    )
    .await;
    let r = readiness(&app, "clean.test").await;
    assert_eq!(r["verdict"], "ready", "{r:#}");
    assert_eq!(r["mode"], "testing");
    assert_eq!(r["sessions"], 14 * 2 * 1_000, "the 14 judged days");
    assert_eq!(r["would_fail"], 0);
    assert!(
        r["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["passed"] == true)
    );
    assert_eq!(r["from"], date(t - 14).to_string());
    assert_eq!(r["to"], date(t - 1).to_string());
    assert!(r["impact"].as_array().unwrap().is_empty());

    let (code, cli) = command(&app, "clean.test").await;
    assert_eq!(code, Some(0), "ready exits 0");
    assert_eq!(cli["verdict"], "ready");
    assert_eq!(cli["reasons"], r["reasons"]);
    assert_eq!(page_verdict(&app, "clean.test").await, "ready");
}

#[tokio::test]
async fn certificate_failures_on_one_mx_are_not_ready_with_their_impact() {
    let app = spawn_app(Db::Sqlite, |_| {}).await;
    let t = today();
    post_days(
        &app,
        "mixed.test",
        t - 15..t,
        &["good-sender.test", "example-mailer.test"],
        |_| "testing",
        |org, _| {
            if org == "example-mailer.test" {
                vec![(
                    "certificate-host-mismatch",
                    "192.0.2.9",
                    "mx2.mixed.test",
                    40,
                )]
            } else {
                // Not a failure enforce would refuse: it must not count.
                vec![(
                    "sts-policy-fetch-error",
                    "198.51.100.1",
                    "mx1.mixed.test",
                    5,
                )]
            }
        },
    )
    .await;
    let r = readiness(&app, "mixed.test").await;
    assert_eq!(r["verdict"], "not-ready", "{r:#}");
    assert_eq!(r["would_fail"], 14 * 40);
    let rate = reason(&r, "would-fail-rate");
    assert_eq!(rate["passed"], false);
    assert!(
        rate["fix"].as_str().unwrap().contains("certificate"),
        "{rate}"
    );
    assert_eq!(reason(&r, "failures-on-last-day")["passed"], false);
    let impact = r["impact"].as_array().unwrap();
    assert_eq!(impact.len(), 1, "{impact:#?}");
    let row = &impact[0];
    assert_eq!(row["receiving_mx"], "mx2.mixed.test");
    assert_eq!(row["organization"], "example-mailer.test");
    assert_eq!(row["sending_ip"], "192.0.2.9");
    assert_eq!(row["result_type"], "certificate-host-mismatch");
    assert_eq!(row["sessions"], 14 * 40);
    assert_eq!(row["days"].as_array().unwrap().len(), 14);
    let summary = row["summary"].as_str().unwrap();
    assert!(
        summary.contains("mail from example-mailer.test (192.0.2.9) to mx2.mixed.test would have been refused 560 times")
            && summary.contains("every day"),
        "{summary}"
    );
    let days = r["days"].as_array().unwrap();
    assert_eq!(days.len(), 14);
    assert!(days.iter().all(|d| d["would_fail"] == 40));

    let (code, cli) = command(&app, "mixed.test").await;
    assert_eq!(code, Some(1), "not ready exits 1");
    assert_eq!(cli["impact"], r["impact"]);
    assert_eq!(page_verdict(&app, "mixed.test").await, "not-ready");
}

#[tokio::test]
async fn senders_without_a_usable_policy_are_not_ready_but_not_refused() {
    let app = spawn_app(Db::Sqlite, |_| {}).await;
    let t = today();
    post_days(
        &app,
        "nopolicy.test",
        t - 15..t,
        &["a.test", "b.test"],
        |_| "testing",
        |org, _| {
            if org == "b.test" {
                vec![(
                    "sts-policy-fetch-error",
                    "192.0.2.7",
                    "mx1.nopolicy.test",
                    10,
                )]
            } else {
                vec![]
            }
        },
    )
    .await;
    let r = readiness(&app, "nopolicy.test").await;
    assert_eq!(r["verdict"], "not-ready", "{r:#}");
    // Enforce would refuse none of it: nothing in the impact preview.
    assert_eq!(r["would_fail"], 0);
    assert!(r["impact"].as_array().unwrap().is_empty());
    assert_eq!(reason(&r, "would-fail-rate")["passed"], true);
    let errors = reason(&r, "policy-errors");
    assert_eq!(errors["passed"], false, "{errors}");
    let message = errors["message"].as_str().unwrap();
    assert!(
        message.starts_with("140 of 28140 sessions")
            && message.contains("sts-policy-fetch-error 140"),
        "{message}"
    );
    assert!(
        errors["fix"]
            .as_str()
            .unwrap()
            .contains("https://mta-sts.nopolicy.test/.well-known/mta-sts.txt"),
        "{errors}"
    );
    let (code, cli) = command(&app, "nopolicy.test").await;
    assert_eq!(code, Some(1), "not ready exits 1");
    assert_eq!(cli["verdict"], "not-ready");
}

#[tokio::test]
async fn five_days_of_reports_are_insufficient_data() {
    let app = spawn_app(Db::Sqlite, |_| {}).await;
    let t = today();
    post_days(
        &app,
        "new.test",
        t - 5..t,
        &["a.test", "b.test"],
        |_| "testing",
        |_, _| vec![],
    )
    .await;
    let r = readiness(&app, "new.test").await;
    assert_eq!(r["verdict"], "insufficient-data", "{r:#}");
    let coverage = reason(&r, "coverage");
    assert_eq!(coverage["passed"], false);
    assert!(
        coverage["message"]
            .as_str()
            .unwrap()
            .starts_with("reports on 5 of the last 28 days")
    );
    let (code, cli) = command(&app, "new.test").await;
    assert_eq!(code, Some(1));
    assert_eq!(cli["verdict"], "insufficient-data");
    assert_eq!(page_verdict(&app, "new.test").await, "insufficient-data");
}

#[tokio::test]
async fn a_two_day_silence_at_the_end_is_insufficient_data_naming_the_gap() {
    let app = spawn_app(Db::Sqlite, |_| {}).await;
    let t = today();
    post_days(
        &app,
        "quiet.test",
        t - 17..t - 2,
        &["a.test", "b.test"],
        |_| "testing",
        |_, _| vec![],
    )
    .await;
    let r = readiness(&app, "quiet.test").await;
    assert_eq!(r["verdict"], "insufficient-data", "{r:#}");
    assert_eq!(reason(&r, "coverage")["passed"], true, "15 days are enough");
    let gap = reason(&r, "reports-gap");
    assert_eq!(gap["passed"], false);
    let message = gap["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("({} to {})", date(t - 2), date(t - 1))),
        "{message}"
    );
    assert_eq!(page_verdict(&app, "quiet.test").await, "insufficient-data");
}

#[tokio::test]
async fn an_enforce_policy_is_enforced_with_its_switch_date() {
    let app = spawn_app(Db::Sqlite, |_| {}).await;
    let t = today();
    let switch = t - 10;
    post_days(
        &app,
        "strict.test",
        t - 24..t,
        &["a.test", "b.test"],
        move |day| if day < switch { "testing" } else { "enforce" },
        move |_, day| {
            if day < switch {
                vec![("certificate-expired", "192.0.2.1", "mx.strict.test", 10)]
            } else {
                vec![]
            }
        },
    )
    .await;
    let r = readiness(&app, "strict.test").await;
    assert_eq!(r["verdict"], "enforced", "{r:#}");
    assert_eq!(r["mode"], "enforce");
    let s = &r["switch"];
    assert_eq!(s["date"], date(switch).to_string(), "{s}");
    let before = s["failure_rate_before"].as_f64().unwrap();
    let after = s["failure_rate_after"].as_f64().unwrap();
    assert!((before - 10.0 / 1_010.0).abs() < 1e-9, "{before}");
    assert_eq!(after, 0.0);
    assert_eq!(s["failures_rose"], false);
    let (code, cli) = command(&app, "strict.test").await;
    assert_eq!(code, Some(1), "only ready exits 0");
    assert_eq!(cli["switch"], r["switch"]);
    assert_eq!(page_verdict(&app, "strict.test").await, "enforced");

    let (_, doc) = app.get_json("/api/v1/openapi.json").await;
    assert!(doc["paths"]["/api/v1/domains/{domain}/readiness"]["get"].is_object());
    assert!(doc["components"]["schemas"]["Readiness"].is_object());
}
