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
