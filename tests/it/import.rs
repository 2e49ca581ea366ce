//! `tlsrptd import` end to end through the built binary: summary line, `--json`, exit
//! codes, directories, Maildir and mbox.

use std::path::Path;
use std::process::{Command, Output};

use tempfile::TempDir;

use crate::helpers::{gzip, report_email, report_json};

fn import(db: &TempDir, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tlsrptd"))
        .arg("import")
        .arg("--database")
        .arg(format!("sqlite://{}/t.db", db.path().display()))
        .args(args)
        .env_remove("TLSRPT_DATABASE_URL")
        .output()
        .expect("run tlsrptd")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn one(org: &str, id: &str) -> Vec<u8> {
    report_json(
        org,
        id,
        20_000,
        &[(
            "example.com",
            "sts",
            5,
            1,
            &[("certificate-expired", "192.0.2.1", "mx.example.com", 1)],
        )],
    )
}

#[test]
fn directory_then_rerun_counts_duplicates() {
    let db = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    write(&files.path().join("a.json"), &one("org.example", "1"));
    write(
        &files.path().join("nested/deeper/b.json.gz"),
        &gzip(&one("org.example", "2")),
    );
    write(
        &files.path().join("nested/c.eml"),
        &report_email(&one("org.example", "3"), "example.com"),
    );
    write(
        &files.path().join("notes.txt"),
        b"not taken: unknown extension inside a directory",
    );
    let dir = files.path().to_str().unwrap();

    let first = import(&db, &[dir]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(
        stdout(&first).trim(),
        "imported 3, duplicates 0, rejected 0"
    );

    let again = import(&db, &[dir]);
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(
        stdout(&again).trim(),
        "imported 0, duplicates 3, rejected 0"
    );
}

#[test]
fn rejected_file_is_named_and_exits_1() {
    let db = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let good = files.path().join("good.json");
    let bad = files.path().join("dmarc.xml.gz");
    write(&good, &one("org.example", "g"));
    write(
        &bad,
        &gzip(b"<?xml version=\"1.0\"?><feedback><report_metadata/></feedback>"),
    );
    let out = import(&db, &[good.to_str().unwrap(), bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out).trim(), "imported 1, duplicates 0, rejected 1");
    let err = stderr(&out);
    assert!(
        err.contains("dmarc.xml.gz") && err.contains("DMARC"),
        "{err}"
    );
}

#[test]
fn json_summary_has_an_outcome_per_file() {
    let db = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    write(&files.path().join("1.json"), &one("org.example", "j1"));
    write(&files.path().join("2.json"), &one("org.example", "j1"));
    write(
        &files.path().join("3.json"),
        b"{\"organization-name\": \"only this\"}",
    );
    // One file at a time, so "first copy stored, second duplicate" is deterministic.
    let out = import(
        &db,
        &[
            "--json",
            "--concurrency",
            "1",
            files.path().to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(summary["imported"], 1);
    assert_eq!(summary["duplicates"], 1);
    assert_eq!(summary["rejected"], 1);
    let files = summary["files"].as_array().unwrap();
    let outcomes: Vec<&str> = files
        .iter()
        .map(|f| f["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, vec!["stored", "duplicate", "rejected"]);
    assert!(files[0]["path"].as_str().unwrap().ends_with("1.json"));
    assert_eq!(files[0]["reports"][0]["status"], "stored");
    assert_eq!(files[1]["reports"][0]["id"], files[0]["reports"][0]["id"]);
    let reason = files[2]["rejections"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("report-id")
            || reason.contains("date-range")
            || reason.contains("policies"),
        "{reason}"
    );
}

#[test]
fn maildir_takes_cur_and_new_but_not_tmp() {
    let db = tempfile::tempdir().unwrap();
    let maildir = tempfile::tempdir().unwrap();
    let m = maildir.path();
    write(
        &m.join("cur/1700000000.1.host:2,S"),
        &report_email(&one("mail.example", "m1"), "example.com"),
    );
    write(
        &m.join("new/1700000001.2.host"),
        &report_email(&one("mail.example", "m2"), "example.com"),
    );
    write(
        &m.join("tmp/1700000002.3.host"),
        &report_email(&one("mail.example", "m3"), "example.com"),
    );
    let out = import(&db, &[m.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "imported 2, duplicates 0, rejected 0");
}

#[test]
fn mbox_without_extension_is_split_into_messages() {
    let db = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let mut mbox = Vec::new();
    for id in ["x1", "x2", "x3"] {
        mbox.extend_from_slice(b"From tlsrpt@reporter.example Mon Jan  1 00:00:00 2024\n");
        let email =
            String::from_utf8(report_email(&one("mbox.example", id), "example.com")).unwrap();
        mbox.extend_from_slice(email.replace("\r\n", "\n").as_bytes());
        mbox.extend_from_slice(b"\n");
    }
    write(&files.path().join("Reports"), &mbox);
    let out = import(&db, &[files.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "imported 3, duplicates 0, rejected 0");
}

#[test]
fn usage_and_io_errors_exit_2() {
    let db = tempfile::tempdir().unwrap();
    let missing = import(&db, &["/nonexistent/tlsrpt/report.json"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("/nonexistent/tlsrpt/report.json"));
    let no_paths = import(&db, &[]);
    assert_eq!(no_paths.status.code(), Some(2));
    assert!(stderr(&no_paths).contains("PATH"), "{}", stderr(&no_paths));
}

#[test]
fn file_over_the_size_limit_is_an_error_naming_it() {
    let db = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let big = files.path().join("huge.json");
    // Sparse: 257 MiB on paper, nothing on disk.
    std::fs::File::create(&big)
        .unwrap()
        .set_len(257 * 1024 * 1024)
        .unwrap();
    let out = import(&db, &[big.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("huge.json") && err.contains("bytes"), "{err}");
}

/// A submission the store refuses fails its batch; the writer retries each submission
/// alone, so only that file is an error and the files around it in the same chunk are
/// stored with their own outcomes.
#[test]
fn store_error_on_one_file_leaves_its_neighbours_stored() {
    let db = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    write(&files.path().join("1.json"), &one("org.example", "good-1"));
    write(&files.path().join("2.json"), &one("org.example", "refused"));
    write(&files.path().join("3.json"), &one("org.example", "good-3"));
    let url = format!("sqlite://{}/t.db", db.path().display());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        tlsrptd::store::Store::open(&url).await.unwrap();
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query("CREATE TRIGGER refuse BEFORE INSERT ON reports WHEN NEW.report_id = 'refused' BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
    let out = import(&db, &["--json", files.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(summary["imported"], 2);
    assert_eq!(summary["errors"], 1);
    let outcomes: Vec<(&str, &str)> = summary["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let path = f["path"].as_str().unwrap();
            (&path[path.len() - 6..], f["outcome"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("1.json", "stored"),
            ("2.json", "error"),
            ("3.json", "stored")
        ]
    );
    assert!(
        stderr(&out).contains("2.json: error")
            && stderr(&out).contains("simulated storage failure"),
        "{}",
        stderr(&out)
    );
}
