//! One store contract, run against SQLite always and against PostgreSQL in `.ci/run`.
//! Every number below is computed by hand from the reports the test writes.

use chrono::{NaiveDate, TimeZone, Utc};
use sha2::{Digest, Sha256};
use tlsrptd::pipeline::ReportOutcome;
use tlsrptd::pipeline::Verdict;
use tlsrptd::store::{FailureCount, ReportFilter, SessionCounts, Store, TimeRange};

use crate::helpers::{gzip, ingest, report_email, report_json};

/// Day 20000 is 2024-10-04.
const D: i64 = 20_000;

macro_rules! contract {
    ($backend:ident, $open:path $(, #[$attr:meta])?) => {
        mod $backend {
            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test]
                    $(#[$attr])?
                    async fn $name() {
                        let (store, _guard) = $open().await;
                        super::$name(&store).await;
                    }
                };
            }
            case!(stores_and_reads_back);
            case!(dedup_across_json_gzip_and_email);
            case!(raw_bytes_come_back_byte_for_byte);
            case!(read_methods_match_hand_computed_numbers);
            case!(reads_are_the_same_before_and_after_folding);
            case!(pagination_walks_without_gaps_or_repeats);
            case!(rejected_submissions_are_quarantined_with_bytes);
            case!(concurrent_commits_store_each_report_once);
        }
    };
}

contract!(sqlite, crate::helpers::sqlite_store);
contract!(postgres, crate::helpers::postgres_store, #[ignore = "needs TLSRPT_TEST_POSTGRES_URL; run by .ci/run"]);

async fn stores_and_reads_back(store: &Store) {
    let json = report_json(
        "Reporter Inc.",
        "r-1",
        D,
        &[
            (
                "Example.ORG.",
                "sts",
                90,
                3,
                &[("certificate-expired", "192.0.2.7", "mx1.example.org", 3)],
            ),
            ("example.org", "tlsa", 93, 0, &[]),
        ],
    );
    let outcome = ingest(store, json).await;
    assert_eq!(outcome.verdict(), Verdict::Stored);
    let id = outcome.reports[0].outcome.id();
    let stored = store.get_report(id).await.unwrap().expect("report exists");
    let r = &stored.report;
    assert_eq!(r.organization_name, "Reporter Inc.");
    assert_eq!(r.report_id, "r-1");
    assert_eq!(r.contact_info.as_deref(), Some("tlsrpt@Reporter Inc."));
    assert_eq!(r.start, Utc.timestamp_opt(D * 86_400, 0).unwrap());
    assert_eq!(r.end, Utc.timestamp_opt(D * 86_400 + 86_399, 0).unwrap());
    assert_eq!(r.policies.len(), 2);
    assert_eq!(r.policies[0].policy_domain.as_deref(), Some("example.org"));
    assert_eq!(r.policies[0].policy_type, "sts");
    assert_eq!(r.policies[0].mx_host, vec!["*.example.org"]);
    assert_eq!(r.policies[0].policy_string.len(), 4);
    assert_eq!(
        (r.policies[0].total_successful, r.policies[0].total_failed),
        (90, 3)
    );
    let d = &r.policies[0].failure_details;
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].result_type, "certificate-expired");
    assert_eq!(d[0].sending_mta_ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(
        d[0].receiving_mx_hostname.as_deref(),
        Some("mx1.example.org")
    );
    assert_eq!(d[0].failed_session_count, 3);
    assert_eq!(r.policies[1].policy_type, "tlsa");
    assert!(r.policies[1].failure_details.is_empty());
    assert_eq!(stored.source, "import");
    assert_eq!(store.get_report(id + 1000).await.unwrap(), None);
}

async fn dedup_across_json_gzip_and_email(store: &Store) {
    let json = report_json(
        "dup.example",
        "same-id",
        D,
        &[("example.com", "sts", 10, 2, &[])],
    );
    let first = ingest(store, json.clone()).await;
    assert_eq!(first.verdict(), Verdict::Stored);
    let id = first.reports[0].outcome.id();
    for copy in [gzip(&json), report_email(&json, "example.com")] {
        let again = ingest(store, copy).await;
        assert_eq!(again.verdict(), Verdict::Duplicate);
        assert_eq!(again.reports[0].outcome, ReportOutcome::Duplicate { id });
        assert_eq!(
            again.submission_id, None,
            "a duplicate's bytes are not kept twice"
        );
    }
    let page = store
        .list_reports(&ReportFilter::default(), 100, None)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    let summary = store
        .domain_summary("example.com", TimeRange::all())
        .await
        .unwrap();
    assert_eq!(
        (
            summary.reports,
            summary.successful_sessions,
            summary.failed_sessions
        ),
        (1, 10, 2)
    );
    // The rollups count the report once too.
    assert_eq!(summary.by_organization, vec![sc("dup.example", 1, 10, 2)]);
    let domains = store.list_domains(TimeRange::all()).await.unwrap();
    let listed: Vec<_> = domains
        .iter()
        .map(|d| {
            (
                d.domain.as_str(),
                d.reports,
                d.successful_sessions,
                d.failed_sessions,
                d.organizations,
            )
        })
        .collect();
    assert_eq!(listed, vec![("example.com", 1, 10, 2, 1)]);
}

async fn raw_bytes_come_back_byte_for_byte(store: &Store) {
    let json = report_json(
        "raw.example",
        "raw-1",
        D,
        &[("example.net", "sts", 1, 0, &[])],
    );
    let gz = gzip(&report_json(
        "raw.example",
        "raw-2",
        D,
        &[("example.net", "sts", 1, 0, &[])],
    ));
    let eml = report_email(
        &report_json(
            "raw.example",
            "raw-3",
            D,
            &[("example.net", "sts", 1, 0, &[])],
        ),
        "example.net",
    );
    for original in [json, gz, eml] {
        let outcome = ingest(store, original.clone()).await;
        assert_eq!(outcome.verdict(), Verdict::Stored);
        let raw = store
            .get_report_raw(outcome.reports[0].outcome.id())
            .await
            .unwrap()
            .expect("raw exists");
        assert_eq!(raw.bytes, original);
        assert_eq!(raw.sha256, hex_sha256(&original));
        assert_eq!(Some(raw.submission_id), outcome.submission_id);
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Four reports; the one 40 days earlier is outside the queried range.
async fn seed_known_set(store: &Store) {
    let reports = crate::helpers::known_set();
    for r in reports {
        assert_eq!(ingest(store, r).await.verdict(), Verdict::Stored);
    }
}

fn range(from_day: i64, to_day: i64) -> TimeRange {
    TimeRange {
        from: from_day * 86_400,
        to: to_day * 86_400,
    }
}

fn fc(key: &str, failed: i64) -> FailureCount {
    FailureCount {
        key: Some(key.to_owned()),
        failed_sessions: failed,
    }
}

fn sc(key: &str, reports: i64, ok: i64, failed: i64) -> SessionCounts {
    SessionCounts {
        key: key.to_owned(),
        reports,
        successful_sessions: ok,
        failed_sessions: failed,
    }
}

/// Two reports folded into the rollups, two pending: the answers count both kinds.
async fn read_methods_match_hand_computed_numbers(store: &Store) {
    let reports = crate::helpers::known_set();
    let (first, rest) = reports.split_at(2);
    for r in first {
        assert_eq!(ingest(store, r.clone()).await.verdict(), Verdict::Stored);
    }
    assert_eq!(store.fold_rollups().await.unwrap(), 2);
    for r in rest {
        assert_eq!(ingest(store, r.clone()).await.verdict(), Verdict::Stored);
    }
    assert_known_set_reads(store).await;
    assert_eq!(store.fold_rollups().await.unwrap(), 2);
    assert_eq!(store.fold_rollups().await.unwrap(), 0, "nothing left");
    assert_known_set_reads(store).await;
}

/// No report folded yet, then all of them: the same answers.
async fn reads_are_the_same_before_and_after_folding(store: &Store) {
    seed_known_set(store).await;
    assert_known_set_reads(store).await;
    assert_eq!(store.fold_rollups().await.unwrap(), 4);
    assert_known_set_reads(store).await;

    // A report naming a domain in two policies counts once for it, pending or folded;
    // a duplicate adds nothing to fold.
    let two_policies = report_json(
        "org-c.example",
        "c-1",
        D + 2,
        &[
            ("example.com", "sts", 3, 1, &[]),
            ("example.com", "tlsa", 2, 0, &[]),
        ],
    );
    assert_eq!(
        ingest(store, two_policies.clone()).await.verdict(),
        Verdict::Stored
    );
    assert_eq!(
        ingest(store, two_policies).await.verdict(),
        Verdict::Duplicate
    );
    let counts = |domains: Vec<tlsrptd::store::DomainOverview>| {
        domains
            .into_iter()
            .find(|d| d.domain == "example.com")
            .map(|d| {
                (
                    d.reports,
                    d.successful_sessions,
                    d.failed_sessions,
                    d.organizations,
                )
            })
    };
    let window = range(D, D + 5);
    let pending = counts(store.list_domains(window).await.unwrap());
    assert_eq!(pending, Some((1, 5, 1, 1)));
    assert_eq!(store.fold_rollups().await.unwrap(), 1);
    assert_eq!(counts(store.list_domains(window).await.unwrap()), pending);
    let summary = store.domain_summary("example.com", window).await.unwrap();
    assert_eq!(summary.by_organization, vec![sc("org-c.example", 1, 5, 1)]);
}

async fn assert_known_set_reads(store: &Store) {
    let window = range(D, D + 5);

    // The policies seen, newest first: one text, reported as sts (a-1, b-1) and tlsa (a-2).
    let seen: Vec<_> = store
        .policies_seen("example.org", window)
        .await
        .unwrap()
        .into_iter()
        .map(|p| {
            (
                p.policy_type,
                p.policy_string.len(),
                p.first_start.timestamp() / 86_400 - D,
                p.last_start.timestamp() / 86_400 - D,
                p.reports,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("tlsa".to_owned(), 4, 3, 3, 1),
            ("sts".to_owned(), 4, 0, 1, 2)
        ]
    );

    let domains = store.list_domains(window).await.unwrap();
    let got: Vec<_> = domains
        .iter()
        .map(|d| {
            (
                d.domain.as_str(),
                d.reports,
                d.successful_sessions,
                d.failed_sessions,
                d.organizations,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![("example.net", 1, 7, 0, 1), ("example.org", 3, 170, 15, 2)]
    );
    assert!((domains[1].failure_rate - 15.0 / 185.0).abs() < 1e-12);
    assert_eq!(domains[1].last_report_at.timestamp(), (D + 3) * 86_400);
    let all = store.list_domains(TimeRange::all()).await.unwrap();
    assert_eq!(all[1].reports, 4);
    assert_eq!(all[1].failed_sessions, 1015);

    let s = store.domain_summary("EXAMPLE.org", window).await.unwrap();
    assert_eq!(s.domain, "example.org");
    assert_eq!(
        (s.reports, s.successful_sessions, s.failed_sessions),
        (3, 170, 15)
    );
    assert!((s.failure_rate - 15.0 / 185.0).abs() < 1e-12);
    assert_eq!(
        s.by_result_type,
        vec![
            fc("certificate-expired", 11),
            fc("starttls-not-supported", 4)
        ]
    );
    assert_eq!(
        s.by_receiving_mx,
        vec![fc("mx1.example.org", 11), fc("mx2.example.org", 4)]
    );
    assert_eq!(
        s.by_sending_ip,
        vec![fc("192.0.2.1", 11), fc("192.0.2.2", 4)]
    );
    assert_eq!(
        s.by_organization,
        vec![
            sc("org-a.example", 2, 120, 10),
            sc("org-b.example", 1, 50, 5)
        ]
    );
    assert_eq!(
        s.by_policy_type,
        vec![sc("sts", 2, 150, 15), sc("tlsa", 1, 20, 0)]
    );

    let empty = store
        .domain_summary("nothing.example", window)
        .await
        .unwrap();
    assert_eq!(
        (
            empty.reports,
            empty.successful_sessions,
            empty.failed_sessions
        ),
        (0, 0, 0)
    );
    assert!(empty.by_result_type.is_empty());

    let series = store.timeseries("example.org", window).await.unwrap();
    let got: Vec<_> = series
        .iter()
        .map(|d| (d.day, d.successful_sessions, d.failed_sessions))
        .collect();
    let day = |n: i64| NaiveDate::from_ymd_opt(2024, 10, 4).unwrap() + chrono::Days::new(n as u64);
    assert_eq!(
        got,
        vec![
            (day(0), 100, 10),
            (day(1), 50, 5),
            (day(2), 0, 0),
            (day(3), 20, 0),
            (day(4), 0, 0)
        ]
    );

    // The overview's trends: the same days in buckets of two (five days, at most three
    // points), one series per domain from one query.
    let trends = store.domain_trends(window, 3).await.unwrap();
    let org = trends
        .iter()
        .find(|(domain, _)| domain == "example.org")
        .map(|(_, series)| {
            series
                .iter()
                .map(|d| (d.day, d.successful_sessions, d.failed_sessions))
                .collect::<Vec<_>>()
        });
    assert_eq!(
        org,
        Some(vec![(day(0), 150, 15), (day(2), 20, 0), (day(4), 0, 0)])
    );
    assert!(trends.iter().all(|(_, series)| series.len() == 3));

    let by_domain = ReportFilter {
        domain: Some("example.org".into()),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_reports(&by_domain, 100, None)
            .await
            .unwrap()
            .items
            .len(),
        4
    );
    let in_window = ReportFilter {
        range: Some(window),
        ..by_domain.clone()
    };
    let items = store
        .list_reports(&in_window, 100, None)
        .await
        .unwrap()
        .items;
    let ids: Vec<_> = items.iter().map(|i| i.report_id.as_str()).collect();
    assert_eq!(ids, vec!["a-2", "b-1", "a-1"], "newest first");
    assert_eq!(items[1].domains, vec!["example.net", "example.org"]);
    assert_eq!(
        (items[1].successful_sessions, items[1].failed_sessions),
        (57, 5)
    );
    let by_org = ReportFilter {
        organization: Some("org-b.example".into()),
        ..Default::default()
    };
    let ids: Vec<_> = store
        .list_reports(&by_org, 100, None)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|i| i.report_id)
        .collect();
    assert_eq!(ids, vec!["b-1", "b-old"]);
    let net = ReportFilter {
        domain: Some("example.net".into()),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_reports(&net, 100, None)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

async fn pagination_walks_without_gaps_or_repeats(store: &Store) {
    // 25 reports over 5 days, several sharing a start time, so the cursor's id tiebreak matters.
    for n in 0..25 {
        let json = report_json(
            "pager.example",
            &format!("p-{n}"),
            D + n % 5,
            &[("page.example", "sts", 1, 0, &[])],
        );
        ingest(store, json).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_reports(&ReportFilter::default(), 7, cursor.as_deref())
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 7);
        seen.extend(page.items.iter().map(|i| (i.start, i.id)));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(seen.len(), 25);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(seen, sorted, "strictly descending, no repeats");
    assert!(
        store
            .list_reports(&ReportFilter::default(), 7, Some("garbage"))
            .await
            .is_err()
    );
}

async fn rejected_submissions_are_quarantined_with_bytes(store: &Store) {
    let dmarc = b"<?xml version=\"1.0\"?><feedback><report_metadata><org_name>x</org_name></report_metadata></feedback>".to_vec();
    let not_json = b"{\"organization-name\": \"cut off".to_vec();
    for body in [dmarc.clone(), not_json] {
        let outcome = ingest(store, body).await;
        assert_eq!(outcome.verdict(), Verdict::Rejected);
        assert!(outcome.reports.is_empty());
        assert!(!outcome.rejections[0].reason.is_empty());
    }
    let page = store.list_rejections(100, None).await.unwrap();
    assert_eq!(page.items.len(), 2);
    let dmarc_row = page
        .items
        .iter()
        .find(|r| r.reason_code.contains("dmarc"))
        .expect("dmarc rejection listed");
    assert!(dmarc_row.reason.contains("DMARC"), "{}", dmarc_row.reason);
    let raw = store
        .get_submission_raw(dmarc_row.submission_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(raw.bytes, dmarc);
    // Pagination over rejections.
    let first = store.list_rejections(1, None).await.unwrap();
    let second = store
        .list_rejections(1, first.next_cursor.as_deref())
        .await
        .unwrap();
    assert_ne!(first.items[0].id, second.items[0].id);
    assert_eq!(second.next_cursor, None);
}

async fn concurrent_commits_store_each_report_once(store: &Store) {
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..300 {
        for _copy in 0..2 {
            let store = store.clone();
            tasks.spawn(async move {
                let json = report_json(
                    "busy.example",
                    &format!("c-{n}"),
                    D,
                    &[("busy.example", "sts", 1, 1, &[])],
                );
                ingest(&store, json).await.verdict()
            });
        }
    }
    let mut stored = 0;
    let mut duplicates = 0;
    while let Some(v) = tasks.join_next().await {
        match v.unwrap() {
            Verdict::Stored => stored += 1,
            Verdict::Duplicate => duplicates += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((stored, duplicates), (300, 300));
    let s = store
        .domain_summary("busy.example", TimeRange::all())
        .await
        .unwrap();
    assert_eq!(
        (s.reports, s.successful_sessions, s.failed_sessions),
        (300, 300, 300)
    );
}

/// Without being asked, the writer folds what it stored once it has nothing to commit.
async fn idle_writer_folds_what_it_stored(url: &str) {
    let store = Store::open(url).await.expect("open store");
    seed_known_set(&store).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while store.pending_rollup_reports().await.unwrap() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "reports still pending after 30 s of idle writer"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_known_set_reads(&store).await;
}

#[tokio::test]
async fn sqlite_idle_writer_folds_what_it_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    idle_writer_folds_what_it_stored(&crate::helpers::sqlite_url(&dir)).await;
}

#[tokio::test]
#[ignore = "needs TLSRPT_TEST_POSTGRES_URL; run by .ci/run"]
async fn postgres_idle_writer_folds_what_it_stored() {
    idle_writer_folds_what_it_stored(&crate::helpers::postgres_url().await).await;
}

/// Two writers on one database (`serve` and an `import`, or two nodes) commit reports
/// in turn and fold each other's: every report is counted once, and a writer whose own
/// reports were folded by the other does not add them again.
async fn two_writers_count_each_report_once(url: &str) {
    use tlsrptd::store::Folding;
    let a = Store::open_with(url, Folding::OnRequest)
        .await
        .expect("open a");
    let b = Store::open_with(url, Folding::OnRequest)
        .await
        .expect("open b");
    let report = |org: &str, id: &str, day: i64, ok: i64, failed: i64| {
        report_json(org, id, day, &[("example.com", "sts", ok, failed, &[])])
    };
    let window = range(D, D + 5);
    let totals = |store: Store| async move {
        let domains = store.list_domains(window).await.unwrap();
        let d = domains
            .into_iter()
            .find(|d| d.domain == "example.com")
            .expect("example.com listed");
        let by_org = store
            .domain_summary("example.com", window)
            .await
            .unwrap()
            .by_organization;
        (
            (
                d.reports,
                d.successful_sessions,
                d.failed_sessions,
                d.organizations,
            ),
            by_org,
        )
    };

    for (store, json) in [
        (&a, report("org-a.example", "1", D, 10, 1)),
        (&b, report("org-b.example", "2", D, 20, 2)),
        (&a, report("org-a.example", "3", D + 1, 5, 0)),
    ] {
        assert_eq!(ingest(store, json).await.verdict(), Verdict::Stored);
    }
    // A's own two reports are not all that is pending: it folds all three.
    assert_eq!(a.fold_rollups().await.unwrap(), 3);
    assert_eq!(
        b.fold_rollups().await.unwrap(),
        0,
        "b's report was folded by a"
    );
    let expected_orgs = vec![sc("org-b.example", 1, 20, 2), sc("org-a.example", 2, 15, 1)];
    assert_eq!(
        totals(a.clone()).await,
        ((3, 35, 3, 2), expected_orgs.clone())
    );

    for (store, json) in [
        (&b, report("org-b.example", "4", D + 1, 7, 1)),
        (&a, report("org-c.example", "5", D + 2, 1, 1)),
    ] {
        assert_eq!(ingest(store, json).await.verdict(), Verdict::Stored);
    }
    let expected = (
        (5, 43, 5, 3),
        vec![
            sc("org-b.example", 2, 27, 3),
            sc("org-a.example", 2, 15, 1),
            sc("org-c.example", 1, 1, 1),
        ],
    );
    // Pending and read from both handles: the same answer before and after folds.
    assert_eq!(totals(b.clone()).await, expected);
    assert_eq!(b.fold_rollups().await.unwrap(), 2);
    assert_eq!(
        a.fold_rollups().await.unwrap(),
        0,
        "a's report was folded by b"
    );
    assert_eq!(totals(a.clone()).await, expected);

    // One writer alone again: its own report, folded from what it committed.
    assert_eq!(
        ingest(&a, report("org-c.example", "6", D + 3, 4, 0))
            .await
            .verdict(),
        Verdict::Stored
    );
    assert_eq!(a.fold_rollups().await.unwrap(), 1);
    assert_eq!(b.fold_rollups().await.unwrap(), 0);
    let (counts, _) = totals(b.clone()).await;
    assert_eq!(counts, (6, 47, 5, 3));
    assert_eq!(a.pending_rollup_reports().await.unwrap(), 0);
}

#[tokio::test]
async fn sqlite_two_writers_count_each_report_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    two_writers_count_each_report_once(&crate::helpers::sqlite_url(&dir)).await;
}

#[tokio::test]
#[ignore = "needs TLSRPT_TEST_POSTGRES_URL; run by .ci/run"]
async fn postgres_two_writers_count_each_report_once() {
    two_writers_count_each_report_once(&crate::helpers::postgres_url().await).await;
}

/// The WAL checkpoint the service runs after a quiet minute copies the recent pages back
/// into the database file and truncates the WAL, and every report stays readable.
#[tokio::test]
async fn sqlite_wal_checkpoint_truncates_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::helpers::sqlite_url(&dir);
    let store = Store::open(&url).await.unwrap();
    for i in 0..50 {
        let raw = crate::helpers::report_json(
            "org.test",
            &format!("wal-{i}"),
            20_000 + i,
            &[("wal.test", "sts", 10, 0, &[])],
        );
        crate::helpers::ingest(&store, raw).await;
    }
    let wal = dir.path().join("tlsrptd.db-wal");
    let before = std::fs::metadata(&wal).unwrap().len();
    assert!(before > 0, "the commits are in the WAL");
    assert!(store.checkpoint_wal().await.unwrap(), "completed");
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0, "truncated");
    let range = tlsrptd::store::TimeRange::new(
        chrono::DateTime::from_timestamp(20_000 * 86_400, 0).unwrap(),
        chrono::DateTime::from_timestamp(20_100 * 86_400, 0).unwrap(),
    );
    let domains = store.list_domains(range).await.unwrap();
    assert_eq!(domains[0].reports, 50);
}
