//! The read side runs a fixed number of SQL statements per page, whatever the number of
//! domains and days: the overview and the domain page are served by the real binary with
//! sqlx's statement log on (`sqlx::query=debug`, JSON), and the statements logged while a
//! page is served are counted. `/readyz` (one `SELECT 1`, not counted) marks the end.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tempfile::TempDir;
use tlsrptd::pipeline::{Limits, Pipeline};
use tlsrptd::store::Store;

use crate::helpers::{report_json, sqlite_url, submission};

/// First UTC day of the generated reports (2024-10-04).
const DAY0: i64 = 20_000;

/// A database with one report per domain and day, from each of two organizations.
async fn filled(domains: usize, days: i64) -> (TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = sqlite_url(&dir);
    let pipeline = Pipeline::new(Store::open(&url).await.expect("open"), Limits::default());
    let mut batch = Vec::new();
    for d in 0..domains {
        let domain = format!("d{d}.example");
        for day in 0..days {
            for org in ["a.example", "b.example"] {
                let json = report_json(
                    org,
                    &format!("{domain}-{day}"),
                    DAY0 + day,
                    &[(
                        domain.as_str(),
                        "sts",
                        10,
                        1,
                        &[("certificate-expired", "192.0.2.1", "mx.example", 1)],
                    )],
                );
                batch.push(tlsrptd::pipeline::prepare(
                    pipeline.limits(),
                    submission(json),
                ));
            }
        }
    }
    let queued = {
        let pipeline = pipeline.clone();
        tokio::task::spawn_blocking(move || pipeline.queue_blocking(batch))
            .await
            .expect("queue")
    };
    for outcome in queued.wait().await {
        outcome.expect("stored");
    }
    (dir, url)
}

/// `tlsrptd serve` on port 0 with the statement log on stderr, read line by line.
struct LoggedServer {
    child: Child,
    lines: mpsc::Receiver<serde_json::Value>,
    base: String,
}

impl LoggedServer {
    fn start(url: &str) -> LoggedServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tlsrptd"))
            .args([
                "--log-format",
                "json",
                "--log",
                "warn,tlsrptd::app=info,sqlx::query=debug",
            ])
            .args(["serve", "--database", url, "--http-listen", "127.0.0.1:0"])
            .args(["--http-plain", "--no-smtp", "--posture-interval", "0"])
            .args(["--readiness-interval", "0", "--no-alerts"])
            .env_remove("TLSRPT_API_TOKEN")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("run tlsrptd serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Ok(value) = serde_json::from_str(&line)
                    && tx.send(value).is_err()
                {
                    break;
                }
            }
        });
        let mut server = LoggedServer {
            child,
            lines,
            base: String::new(),
        };
        let ready = server.next_matching(|v| v["fields"]["message"] == "HTTP listener ready");
        let addr = ready["fields"]["addr"].as_str().expect("addr").to_owned();
        server.base = format!("http://{addr}");
        server
    }

    fn next_matching(&self, want: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .expect("the server logs");
            if want(&line) {
                return line;
            }
        }
    }

    /// SQL statements run while `path` is served (answered 200).
    async fn statements(&self, path: &str) -> usize {
        // Anything logged before this request is not counted.
        while self.lines.try_recv().is_ok() {}
        // reqwest uses the process-wide rustls provider the service installs.
        let _ = tlsrptd::tls::crypto_provider();
        let client = reqwest::Client::new();
        let status = client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET")
            .status();
        assert_eq!(status, 200, "{path}");
        // sqlx writes a statement's log line when its worker drops the statement, which
        // may come just after the answer. Two `/readyz` markers 200 ms apart: a late line
        // of the page still lands before the second one, and is counted.
        let mut count = 0;
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let ready = client
                .get(format!("{}/readyz", self.base))
                .send()
                .await
                .expect("GET /readyz");
            assert_eq!(ready.status(), 200);
            loop {
                let line = self.next_matching(|v| v["target"] == "sqlx::query");
                // sqlx logs a one-line statement as its summary alone.
                let fields = &line["fields"];
                let statement = fields["db.statement"].as_str().unwrap_or_default().trim();
                if fields["summary"] == "SELECT 1" && statement.is_empty() {
                    break;
                }
                // A new pool connection's settings are not the page's work.
                if !statement.starts_with("PRAGMA") {
                    count += 1;
                }
            }
        }
        count
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Statements of the overview, a domain page and their API routes, for 7- and 90-day
/// ranges.
async fn page_statements(domains: usize, days: i64) -> Vec<(String, usize)> {
    let (_dir, url) = filled(domains, days).await;
    let server = LoggedServer::start(&url);
    let from = "2024-10-04";
    let mut out = Vec::new();
    for to in ["2024-10-10", "2025-01-01"] {
        for path in [
            format!("/?from={from}&to={to}"),
            format!("/domains/d0.example?from={from}&to={to}"),
            format!("/api/v1/domains?from={from}&to={to}"),
            format!("/api/v1/domains/d0.example/summary?from={from}&to={to}"),
        ] {
            let n = server.statements(&path).await;
            out.push((path, n));
        }
    }
    out
}

#[tokio::test]
async fn pages_run_a_fixed_number_of_statements() {
    let small = page_statements(1, 2).await;
    let large = page_statements(200, 5).await;
    assert_eq!(small, large, "statement counts must not grow with data");
    let count = |prefix: &str| {
        large
            .iter()
            .find(|(path, _)| path.starts_with(prefix))
            .map(|(_, n)| *n)
            .unwrap_or_default()
    };
    // Overview: domain sums, reporters, trends, posture states, readiness verdicts, the
    // open alerts (silent domains), the open-alert count of the navigation (the "any
    // report at all?" check runs only when the range is empty).
    assert_eq!(count("/?"), 7, "{large:?}");
    // Domain page: the summary's 4 (with the failure days), time series, policies seen,
    // the latest posture check; readiness: sessions by day (with their policy texts),
    // failures by day, the posture check it weighs; the open-alert count.
    assert_eq!(count("/domains/"), 11, "{large:?}");
    // Sums, then reporters.
    assert_eq!(count("/api/v1/domains?"), 2, "{large:?}");
    // Totals, failures (three breakdowns in one statement), organizations, policy types.
    assert_eq!(count("/api/v1/domains/d0"), 4, "{large:?}");
}
