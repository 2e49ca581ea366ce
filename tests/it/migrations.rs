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

/// Migrations only one backend has, with the reason.
const SQLITE_ONLY: &[(&str, &str)] = &[(
    "0008_rollup_mark.sql",
    "a fold mark needs report ids committed in order, which SQLite's single writer gives \
     and PostgreSQL's concurrent writers do not",
)];

#[test]
fn sqlite_and_postgres_folders_match() {
    let sqlite = folder("sqlite");
    let postgres = folder("postgres");
    assert!(!sqlite.is_empty());
    let shared: Vec<String> = sqlite
        .iter()
        .filter(|f| !SQLITE_ONLY.iter().any(|(only, _)| only == f))
        .cloned()
        .collect();
    for (only, _) in SQLITE_ONLY {
        assert!(
            sqlite.contains(&only.to_string()),
            "{only} is in migrations/sqlite"
        );
    }
    assert_eq!(
        shared, postgres,
        "same migration versions and names in both folders"
    );
    for file in &shared {
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

/// Migration 0008 replaces SQLite's pending table with a fold mark: reports stored and
/// still pending under 0007 stay pending (counted once, folded later), folded ones stay
/// folded.
#[tokio::test]
async fn pending_reports_survive_the_move_to_a_fold_mark() {
    use sqlx::sqlite::SqliteConnectOptions;
    use std::str::FromStr;
    use tlsrptd::store::{Folding, Store, TimeRange};

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
    migrator.run_to(7, &pool).await.unwrap();
    // Reports 1-3 of one domain on one day; report 1 is folded, 2 and 3 pending.
    sqlx::raw_sql(
        "INSERT INTO submissions (id, source, received_at, envelope, raw_size, raw_sha256, raw_encoding, raw_data)
             VALUES (1, 'import', 1700000000, '{}', 2, 'x', 'identity', x'7b7d');
         INSERT INTO reports (id, submission_id, organization_name, report_id, start_at, end_at, received_at,
                              total_successful, total_failed, origin, warnings)
             VALUES (1, 1, 'Org', 'r-1', 1699920000, 1700006399, 1700000000, 10, 1, 'body', '[]'),
                    (2, 1, 'Org', 'r-2', 1699920000, 1700006399, 1700000000, 20, 2, 'body', '[]'),
                    (3, 1, 'Other', 'r-3', 1699920000, 1700006399, 1700000000, 30, 3, 'body', '[]');
         INSERT INTO policies (id, report_row, position, policy_type, policy_domain, policy_string, mx_host,
                               total_successful, total_failed, start_at, organization_name)
             VALUES (1, 1, 0, 'sts', 'old.example', '[]', '[]', 10, 1, 1699920000, 'Org'),
                    (2, 2, 0, 'sts', 'old.example', '[]', '[]', 20, 2, 1699920000, 'Org'),
                    (3, 3, 0, 'sts', 'old.example', '[]', '[]', 30, 3, 1699920000, 'Other');
         INSERT INTO rollup_domains VALUES ('old.example', 1699920000, 1, 10, 1);
         INSERT INTO rollup_organizations VALUES ('old.example', 'Org', 1699920000, 1, 10, 1);
         INSERT INTO domain_organizations VALUES ('old.example', 'Org');
         INSERT INTO rollup_pending (report_row) VALUES (2), (3);",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let store = Store::open_with(&url, Folding::OnRequest).await.unwrap();
    let totals = || async {
        let domains = store.list_domains(TimeRange::all()).await.unwrap();
        domains
            .iter()
            .map(|d| {
                (
                    d.domain.clone(),
                    d.reports,
                    d.successful_sessions,
                    d.failed_sessions,
                    d.organizations,
                )
            })
            .collect::<Vec<_>>()
    };
    let expected = vec![("old.example".to_owned(), 3, 60, 6, 2)];
    assert_eq!(store.pending_rollup_reports().await.unwrap(), 2);
    assert_eq!(totals().await, expected);
    assert_eq!(store.fold_rollups().await.unwrap(), 2);
    assert_eq!(store.pending_rollup_reports().await.unwrap(), 0);
    assert_eq!(totals().await, expected);
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
