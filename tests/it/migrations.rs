//! The two migration folders must stay in step: same versions and names, same tables,
//! columns and indexes, differing only in dialect.

use std::collections::BTreeSet;
use std::path::Path;

fn folder(name: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(name);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    files
}

/// `table.column` and `index:name` entries declared by a migration file.
fn shape(sql: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut table: Option<String> = None;
    for line in sql.lines() {
        let line = line.split("--").next().unwrap_or("").trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["CREATE", "TABLE", name, ..] => table = Some(name.trim_end_matches('(').to_owned()),
            ["CREATE", "INDEX", name, ..] | ["CREATE", "UNIQUE", "INDEX", name, ..] => {
                out.insert(format!("index:{name}"));
            }
            ["DROP", "INDEX", name, ..] => {
                out.insert(format!("drop-index:{}", name.trim_end_matches(';')));
            }
            ["ALTER", "TABLE", table, "ADD", "COLUMN", column, ..] => {
                out.insert(format!("{table}.{column}"));
            }
            [");", ..] | [")", ..] => table = None,
            [first, ..]
                if table.is_some()
                    && !first.starts_with("UNIQUE")
                    && !first.starts_with("PRIMARY") =>
            {
                out.insert(format!("{}.{first}", table.as_deref().unwrap_or("")));
            }
            _ => {}
        }
    }
    out
}

#[test]
fn sqlite_and_postgres_folders_match() {
    let sqlite = folder("sqlite");
    let postgres = folder("postgres");
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite, postgres,
        "same migration versions and names in both folders"
    );
    for file in &sqlite {
        let read = |backend: &str| {
            std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("migrations")
                    .join(backend)
                    .join(file),
            )
            .unwrap()
        };
        let (a, b) = (shape(&read("sqlite")), shape(&read("postgres")));
        assert!(!a.is_empty(), "parsed nothing from {file}");
        assert_eq!(
            a, b,
            "{file}: tables, columns and indexes differ between backends"
        );
    }
}

/// Migration 0003 moves failure details to per-policy keys; details stored under 0002
/// must come back with their policy, in their original order, and count in summaries.
#[tokio::test]
async fn failure_details_survive_the_move_to_per_policy_keys() {
    use sqlx::sqlite::SqliteConnectOptions;
    use std::str::FromStr;
    use tlsrptd::store::{Store, TimeRange};

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    let pool = sqlx::SqlitePool::connect_with(
        SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true),
    )
    .await
    .unwrap();
    let migrator = sqlx::migrate::Migrator::new(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite"),
    )
    .await
    .unwrap();
    migrator.run_to(2, &pool).await.unwrap();
    // One report with two policies; the details' ids interleave across the policies.
    sqlx::raw_sql(
        "INSERT INTO submissions (id, source, received_at, envelope, raw_size, raw_sha256, raw_encoding, raw_data)
             VALUES (1, 'import', 1700000000, '{}', 2, 'x', 'identity', x'7b7d');
         INSERT INTO reports (id, submission_id, organization_name, report_id, start_at, end_at, received_at,
                              total_successful, total_failed, origin, warnings)
             VALUES (1, 1, 'Org', 'r-1', 1699920000, 1700006399, 1700000000, 10, 6, 'body', '[]');
         INSERT INTO policies (id, report_row, position, policy_type, policy_domain, policy_string, mx_host,
                               total_successful, total_failed, start_at, organization_name)
             VALUES (1, 1, 0, 'sts', 'old.example', '[]', '[]', 5, 3, 1699920000, 'Org'),
                    (2, 1, 1, 'tlsa', 'old.example', '[]', '[]', 5, 3, 1699920000, 'Org');
         INSERT INTO failure_details (id, policy_row, result_type, receiving_mx_hostname, failed_session_count,
                                      policy_domain, start_at)
             VALUES (1, 1, 'certificate-expired', 'mx1', 1, 'old.example', 1699920000),
                    (2, 2, 'tlsa-invalid', 'mx2', 3, 'old.example', 1699920000),
                    (3, 1, 'starttls-not-supported', 'mx3', 2, 'old.example', 1699920000);",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let store = Store::open(&url).await.unwrap();
    let report = store.get_report(1).await.unwrap().expect("report 1");
    let details = |i: usize| -> Vec<(String, Option<String>, i64)> {
        report.report.policies[i]
            .failure_details
            .iter()
            .map(|d| {
                (
                    d.result_type.clone(),
                    d.receiving_mx_hostname.clone(),
                    d.failed_session_count,
                )
            })
            .collect()
    };
    assert_eq!(
        details(0),
        vec![
            ("certificate-expired".into(), Some("mx1".into()), 1),
            ("starttls-not-supported".into(), Some("mx3".into()), 2),
        ]
    );
    assert_eq!(
        details(1),
        vec![("tlsa-invalid".into(), Some("mx2".into()), 3)]
    );
    // Migrations 0004 and 0006 filled the rollups and the policy texts from the old rows.
    assert_eq!(store.pending_rollup_reports().await.unwrap(), 0);
    let domains = store.list_domains(TimeRange::all()).await.unwrap();
    assert_eq!(
        domains
            .iter()
            .map(|d| (
                d.domain.as_str(),
                d.reports,
                d.successful_sessions,
                d.failed_sessions
            ))
            .collect::<Vec<_>>(),
        vec![("old.example", 1, 10, 6)]
    );
    let seen: Vec<(String, i64)> = store
        .policies_seen("old.example", TimeRange::all())
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.policy_type, p.reports))
        .collect();
    assert_eq!(seen, vec![("sts".into(), 1), ("tlsa".into(), 1)]);
    let summary = store
        .domain_summary("old.example", TimeRange::all())
        .await
        .unwrap();
    let by_type: Vec<(Option<String>, i64)> = summary
        .by_result_type
        .iter()
        .map(|c| (c.key.clone(), c.failed_sessions))
        .collect();
    assert_eq!(
        by_type,
        vec![
            (Some("tlsa-invalid".into()), 3),
            (Some("starttls-not-supported".into()), 2),
            (Some("certificate-expired".into()), 1),
        ]
    );
}

/// The SQLite writer opens its own connection to the database file, which an in-memory
/// database cannot share: such a URL is refused with the reason instead of silently
/// writing to a second, invisible database.
#[tokio::test]
async fn in_memory_sqlite_is_refused_with_the_reason() {
    let err = tlsrptd::store::Store::open("sqlite::memory:")
        .await
        .err()
        .expect("in-memory SQLite is refused");
    let message = err.to_string();
    assert!(
        message.contains("sqlite::memory:") && message.contains("sqlite://PATH"),
        "{message}"
    );
}
