//! The posture schedule, its store and its API, against the loopback world of
//! `posture.rs` (test zone, policy server with a test CA, STARTTLS MX servers): a clock
//! the test moves shows when checks are due and a `degraded` transition stored in the
//! history; two stores on one database take each due check once; the API serves the
//! latest check, checks on request within its rate limit, and lists the history.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tlsrptd::posture::check::Checker;
use tlsrptd::store::Store;
use tlsrptd::watch::Clock;
use tlsrptd::watch::posture::{PostureSchedule, PostureWatch};

use crate::dns::Data;
use crate::helpers::{Db, ingest, report_json, spawn_app, sqlite_store};
use crate::posture::{Pki, SILENT_IP, options, replace, scenario, start_world};

/// A clock the test sets.
pub(crate) struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    pub(crate) fn new(at: DateTime<Utc>) -> Arc<TestClock> {
        Arc::new(TestClock(Mutex::new(at)))
    }

    pub(crate) fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

fn hours(h: i64) -> chrono::Duration {
    chrono::Duration::hours(h)
}

fn today() -> i64 {
    Utc::now().timestamp().div_euclid(86_400)
}

/// A domain with reports and a configured one are checked when first seen, not again
/// before the interval, and again after it; the policy host going silent after an `ok`
/// check is stored as a `degraded` change with the time of that check.
#[tokio::test]
async fn the_schedule_stores_a_degraded_transition_in_the_history() {
    let pki = Pki::new();
    let scenarios = vec![
        scenario("reported", |_, _, _| {}),
        scenario("configured", |_, _, _| {}),
    ];
    let world = start_world(&pki, &scenarios, "mx.unused.test").await;
    let (store, _dir) = sqlite_store().await;
    let report = report_json(
        "sender.test",
        "r-1",
        today(),
        &[("reported.test", "sts", 100, 0, &[])],
    );
    ingest(&store, report).await;
    let start = Utc::now();
    let clock = TestClock::new(start);
    let schedule = PostureSchedule {
        interval: Some(Duration::from_secs(6 * 3600)),
        domains: vec!["configured.test".into()],
        concurrency: 2,
        refresh_interval: Duration::from_secs(60),
    };
    let checker = Checker::new(options(&world, true)).unwrap();
    let watch = PostureWatch::new(store.clone(), checker, schedule, clock.clone());

    assert_eq!(
        watch.run_due().await.unwrap(),
        2,
        "both domains checked first"
    );
    let first = watch
        .latest("reported.test")
        .await
        .unwrap()
        .expect("checked");
    assert_eq!(first.result["state"], "ok", "{:#}", first.result);
    let next = first.next_check_at.expect("next check");
    let wait = next - start;
    assert!(
        wait >= hours(5) + chrono::Duration::minutes(24)
            && wait <= hours(6) + chrono::Duration::minutes(36),
        "next check in 6 h give or take a tenth, not {wait}"
    );
    // The configured domain has no reports though its record points here.
    let configured = watch.latest("configured.test").await.unwrap().unwrap();
    assert_eq!(configured.result["state"], "warning");
    assert_eq!(
        configured.result["findings"][0]["code"],
        "tlsrpt-no-reports"
    );

    clock.advance(hours(1));
    assert_eq!(
        watch.run_due().await.unwrap(),
        0,
        "nothing due an hour later"
    );

    // The policy host of reported.test stops answering.
    let mut zone = world.zone.clone();
    replace(&mut zone, "mta-sts.reported.test", Data::A(SILENT_IP));
    world.dns.set_zone(zone);
    clock.advance(hours(6));
    assert_eq!(
        watch.run_due().await.unwrap(),
        2,
        "both due after the interval"
    );

    let degraded = watch.latest("reported.test").await.unwrap().unwrap();
    assert_eq!(
        degraded.result["state"], "degraded",
        "{:#}",
        degraded.result
    );
    let history = store.posture_history("reported.test", 10).await.unwrap();
    let states: Vec<(&str, Option<&str>)> = history
        .iter()
        .map(|c| (c.state.as_str(), c.previous_state.as_deref()))
        .collect();
    assert_eq!(
        states,
        vec![("degraded", Some("ok")), ("ok", None)],
        "newest first"
    );
    assert_eq!(
        history[0].changed_at.timestamp(),
        (start + hours(7)).timestamp()
    );
    assert!(
        history[0]
            .finding_codes
            .contains(&"mta-sts-policy-unreachable".to_owned()),
        "{:?}",
        history[0].finding_codes
    );
    // An unchanged state adds no change.
    let unchanged = store.posture_history("configured.test", 10).await.unwrap();
    assert_eq!(unchanged.len(), 1, "{unchanged:?}");
}

/// Two nodes on one database taking the due checks at the same time: each domain goes
/// to exactly one of them.
async fn two_nodes_take_each_check_once(a: Store, b: Store) {
    let domains: Vec<String> = (0..40).map(|i| format!("d{i}.test")).collect();
    a.watch_posture(&domains, 1_000).await.unwrap();
    let (taken_a, taken_b) = tokio::join!(
        a.take_due_posture(2_000, 2_300, 64),
        b.take_due_posture(2_000, 2_300, 64)
    );
    let mut all: Vec<String> = taken_a
        .unwrap()
        .into_iter()
        .chain(taken_b.unwrap())
        .map(|t| t.domain)
        .collect();
    all.sort();
    let mut expected = domains.clone();
    expected.sort();
    assert_eq!(all, expected, "every domain taken, none twice");
    // Leased: not taken again until the lease lapses.
    assert!(
        a.take_due_posture(2_100, 2_400, 64)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        b.take_due_posture(2_301, 2_600, 64).await.unwrap().len(),
        40
    );
}

#[tokio::test]
async fn sqlite_two_nodes_take_each_check_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::helpers::sqlite_url(&dir);
    let a = Store::open(&url).await.unwrap();
    let b = Store::open(&url).await.unwrap();
    two_nodes_take_each_check_once(a, b).await;
}

#[tokio::test]
#[ignore = "needs TLSRPT_TEST_POSTGRES_URL; run by .ci/run"]
async fn postgres_two_nodes_take_each_check_once() {
    let url = crate::helpers::postgres_url().await;
    let a = Store::open(&url).await.unwrap();
    let b = Store::open(&url).await.unwrap();
    two_nodes_take_each_check_once(a, b).await;
}

/// The API: nothing before a check; `?refresh=true` checks now and answers the result;
/// the same result read back; a second refresh within the interval is 429 with
/// Retry-After; the history lists the first state; bad names are 400; both routes are in
/// the OpenAPI document.
#[tokio::test]
async fn the_api_serves_checks_refreshes_within_a_limit_and_lists_the_history() {
    let pki = Pki::new();
    let scenarios = vec![
        scenario("api", |_, _, _| {}),
        scenario("api-broken", |d, r, _| {
            crate::posture::without(r, &format!("mta-sts.{d}"))
        }),
    ];
    let world = start_world(&pki, &scenarios, "mx.unused.test").await;
    let check_options = options(&world, true);
    let app = spawn_app(Db::Sqlite, move |c| {
        c.posture.options = check_options;
    })
    .await;

    let (status, body) = app.get_json("/api/v1/domains/api.test/posture").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not-checked");

    let (status, fresh) = app
        .get_json("/api/v1/domains/API.test/posture?refresh=true")
        .await;
    assert_eq!(status, 200, "{fresh}");
    assert_eq!(fresh["domain"], "api.test");
    assert_eq!(fresh["state"], "warning", "no reports yet: {fresh:#}");
    assert!(
        fresh["facts"]["tlsrpt_records"]["records"][0]
            .as_str()
            .unwrap()
            .starts_with("v=TLSRPTv1")
    );
    assert!(
        fresh["next_check_at"].is_null(),
        "schedule off in the test app"
    );

    let (status, stored) = app.get_json("/api/v1/domains/api.test/posture").await;
    assert_eq!(status, 200);
    assert_eq!(stored["checked_at"], fresh["checked_at"]);
    assert_eq!(stored["findings"], fresh["findings"]);

    let again = app
        .client
        .get(app.url("/api/v1/domains/api.test/posture?refresh=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 429);
    let retry: u64 = again.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body: serde_json::Value = again.json().await.unwrap();
    assert_eq!(body["error"]["code"], "refresh-too-soon");

    let (status, broken) = app
        .get_json("/api/v1/domains/api-broken.test/posture?refresh=true")
        .await;
    assert_eq!(status, 200);
    assert_eq!(broken["state"], "broken");
    let host_missing = broken["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "mta-sts-host-missing")
        .expect("mta-sts-host-missing");
    assert_eq!(host_missing["severity"], "error");
    assert!(
        host_missing["fix"]
            .as_str()
            .unwrap()
            .contains("mta-sts.api-broken.test")
    );

    let (status, history) = app
        .get_json("/api/v1/domains/api.test/posture/history")
        .await;
    assert_eq!(status, 200);
    assert_eq!(history["domain"], "api.test");
    assert_eq!(history["changes"].as_array().unwrap().len(), 1);
    assert_eq!(history["changes"][0]["state"], "warning");
    assert!(history["changes"][0]["previous_state"].is_null());

    for bad in [
        "/api/v1/domains/127.0.0.1/posture",
        "/api/v1/domains/nodots/posture/history",
    ] {
        let (status, body) = app.get_json(bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid-domain");
    }

    let (_, doc) = app.get_json("/api/v1/openapi.json").await;
    assert!(doc["paths"]["/api/v1/domains/{domain}/posture"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/domains/{domain}/posture/history"]["get"].is_object());
    assert!(doc["components"]["schemas"]["PostureResult"].is_object());
}
