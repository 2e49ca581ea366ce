//! Corpus conformance: every row of `../shared/corpus/expected.tsv` goes through the real
//! pipeline into a fresh SQLite store. `accept` rows must give exactly the listed reports,
//! policies and session counts; `reject` rows must be rejected with a reason; `either`
//! rows must end stored or quarantined, without a crash.

use tlsrptd::pipeline::ReportOutcome;
use tlsrptd::pipeline::Verdict;
use tlsrptd::store::TimeRange;

use crate::helpers::{corpus_dir, ingest, sqlite_store};

struct Row {
    file: String,
    expect: String,
    reports: Option<usize>,
    policies: Option<usize>,
    successful: Option<i64>,
    failed: Option<i64>,
}

fn rows(tsv: &str) -> Vec<Row> {
    tsv.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let col = |i: usize| f.get(i).map(|s| s.trim()).filter(|s| !s.is_empty());
            Row {
                file: f[0].to_owned(),
                expect: f[1].to_owned(),
                reports: col(2).and_then(|s| s.parse().ok()),
                policies: col(3).and_then(|s| s.parse().ok()),
                successful: col(4).and_then(|s| s.parse().ok()),
                failed: col(5).and_then(|s| s.parse().ok()),
            }
        })
        .collect()
}

#[tokio::test]
async fn every_expected_row_holds() {
    let Some(dir) = corpus_dir() else {
        eprintln!(
            "corpus not found beside the repository; set TLSRPT_CORPUS_DIR (CI always has it)"
        );
        return;
    };
    let tsv = std::fs::read_to_string(dir.join("expected.tsv")).unwrap();
    let rows = rows(&tsv);
    assert!(rows.len() >= 80, "expected.tsv has {} rows", rows.len());
    let mut failures = Vec::new();
    for row in &rows {
        let bytes = std::fs::read(dir.join(&row.file)).unwrap();
        let (store, _dir) = sqlite_store().await;
        let outcome = ingest(&store, bytes).await;
        let stored: Vec<i64> = outcome
            .reports
            .iter()
            .filter_map(|r| match r.outcome {
                ReportOutcome::Stored { id } => Some(id),
                ReportOutcome::Duplicate { .. } => None,
            })
            .collect();
        let mut policies = 0;
        let (mut ok, mut failed) = (0i64, 0i64);
        for id in &stored {
            let r = store.get_report(*id).await.unwrap().unwrap().report;
            policies += r.policies.len();
            ok += r.total_successful();
            failed += r.total_failed();
        }
        let problem = match row.expect.as_str() {
            "accept" => {
                let want = (row.reports, row.policies, row.successful, row.failed);
                let got = (Some(stored.len()), Some(policies), Some(ok), Some(failed));
                (outcome.verdict() != Verdict::Stored || want != got).then(|| {
                    format!("want (reports, policies, ok, failed) {want:?}, got {got:?}; rejections {:?}", outcome.rejections)
                })
            }
            "reject" => {
                let listed = store.list_rejections(10, None).await.unwrap().items;
                if outcome.verdict() != Verdict::Rejected {
                    Some(format!("not rejected: {:?}", outcome.verdict()))
                } else if outcome
                    .rejections
                    .iter()
                    .any(|r| r.reason.trim().is_empty())
                {
                    Some("rejected without a reason".to_owned())
                } else if listed.is_empty() {
                    Some("rejected but not quarantined".to_owned())
                } else {
                    None
                }
            }
            "either" => {
                let quarantined = store.list_rejections(10, None).await.unwrap().items.len();
                (stored.is_empty() && quarantined == 0)
                    .then(|| "neither stored nor quarantined".to_owned())
            }
            other => Some(format!("unknown expectation {other:?}")),
        };
        // Whatever happened, the domain list must be readable.
        store.list_domains(TimeRange::all()).await.unwrap();
        if let Some(p) = problem {
            failures.push(format!("{} ({}): {p}", row.file, row.expect));
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus rows fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
