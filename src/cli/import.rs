//! `tlsrptd import PATH...`: bulk import of report files through the pipeline.
//!
//! In: paths to files, directories, mbox files and Maildir folders. Out: each message or
//! file ingested as one submission (source `import`), a line on stderr for every file
//! that was rejected or unreadable, and the summary line `imported N, duplicates N,
//! rejected N` (or, with `--json`, a JSON summary with an outcome per file) on stdout.
//! Exit code 0 when nothing was rejected, 1 when anything was, 2 on usage or I/O errors.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::ImportArgs;
use crate::pipeline::{self, IngestOutcome, Limits, Verdict};
use crate::report::{Source, Submission};
use crate::store::{ReportOutcome, Store};

/// File name endings taken when walking a directory; files named on the command line are
/// always taken.
const REPORT_EXTENSIONS: &[&str] = &["json", "gz", "zip", "eml", "mbox", "msg"];

/// Largest file read into memory. The HTTP and SMTP intakes stop at 10 MiB; an archive
/// of old reports may be bigger, but a file past 256 MiB is not a report.
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub organization_name: String,
    pub report_id: String,
    #[serde(flatten)]
    pub outcome: ReportOutcome,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileRejection {
    pub origin: String,
    pub code: String,
    pub reason: String,
}

/// What happened to one file (all messages of an mbox together).
#[derive(Debug, Clone, Serialize)]
pub struct FileOutcome {
    pub path: PathBuf,
    /// `stored`, `duplicate`, `partial`, `rejected` or `error`.
    pub outcome: &'static str,
    pub reports: Vec<FileReport>,
    pub rejections: Vec<FileRejection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct ImportSummary {
    pub imported: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub errors: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileOutcome>,
}

impl ImportSummary {
    fn add(&mut self, file: &FileOutcome, keep: bool) {
        for r in &file.reports {
            match r.outcome {
                ReportOutcome::Stored { .. } => self.imported += 1,
                ReportOutcome::Duplicate { .. } => self.duplicates += 1,
            }
        }
        self.rejected += file.rejections.len() as u64;
        if file.error.is_some() {
            self.errors += 1;
        }
        if keep {
            self.files.push(file.clone());
        }
    }

    pub fn exit_code(&self) -> i32 {
        if self.errors > 0 {
            2
        } else if self.rejected > 0 {
            1
        } else {
            0
        }
    }
}

pub async fn run(args: ImportArgs) -> i32 {
    let files = match discover(&args.paths) {
        Ok(files) => files,
        Err(message) => {
            eprintln!("tlsrptd import: {message}");
            return 2;
        }
    };
    let store = match Store::open(&args.database.url).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("tlsrptd import: cannot open {}: {e}", args.database.url);
            return 2;
        }
    };
    let summary = import_files(&store, &args.limits.limits(), files, &args).await;
    if args.json {
        match serde_json::to_string_pretty(&summary) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("tlsrptd import: cannot write summary: {e}"),
        }
    } else {
        println!(
            "imported {}, duplicates {}, rejected {}",
            summary.imported, summary.duplicates, summary.rejected
        );
    }
    summary.exit_code()
}

async fn import_files(
    store: &Store,
    limits: &Limits,
    files: Vec<PathBuf>,
    args: &ImportArgs,
) -> ImportSummary {
    let progress = if std::io::stderr().is_terminal() && !args.json {
        let bar = ProgressBar::new(files.len() as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{bar:40} {pos}/{len} files  {per_sec}  eta {eta}  {msg}")
        {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let permits = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let limits = Arc::new(limits.clone());
    let mut tasks = JoinSet::new();
    let mut summary = ImportSummary::default();
    let mut finished: Vec<Option<FileOutcome>> = Vec::new();
    let total = files.len();
    if args.json {
        finished.resize(total, None);
    }
    for (index, path) in files.into_iter().enumerate() {
        // Bounded in-flight work: at most `concurrency` files read and decoded at once.
        let permit = match permits.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => break,
        };
        let store = store.clone();
        let limits = limits.clone();
        tasks.spawn(async move {
            let outcome = import_file(&store, &limits, path).await;
            drop(permit);
            (index, outcome)
        });
        while let Some(done) = tasks.try_join_next() {
            record(done, &mut summary, &mut finished, &progress);
        }
    }
    while let Some(done) = tasks.join_next().await {
        record(done, &mut summary, &mut finished, &progress);
    }
    progress.finish_and_clear();
    summary.files = finished.into_iter().flatten().collect();
    summary
}

fn record(
    done: Result<(usize, FileOutcome), tokio::task::JoinError>,
    summary: &mut ImportSummary,
    finished: &mut [Option<FileOutcome>],
    progress: &ProgressBar,
) {
    progress.inc(1);
    let (index, file) = match done {
        Ok(done) => done,
        Err(e) => {
            summary.errors += 1;
            progress.suspend(|| eprintln!("tlsrptd import: internal error: {e}"));
            return;
        }
    };
    if let Some(error) = &file.error {
        progress.suspend(|| eprintln!("{}: error: {error}", file.path.display()));
    }
    for r in &file.rejections {
        progress.suspend(|| {
            eprintln!(
                "{}: rejected ({}): {}",
                file.path.display(),
                r.origin,
                r.reason
            )
        });
    }
    summary.add(&file, false);
    if let Some(slot) = finished.get_mut(index) {
        *slot = Some(file);
    }
}

async fn import_file(store: &Store, limits: &Limits, path: PathBuf) -> FileOutcome {
    let mut file = FileOutcome {
        path: path.clone(),
        outcome: "error",
        reports: Vec::new(),
        rejections: Vec::new(),
        error: None,
    };
    let bytes = match read_bounded(&path).await {
        Ok(bytes) => bytes,
        Err(e) => {
            file.error = Some(e);
            return file;
        }
    };
    let messages = if bytes.starts_with(b"From ") {
        split_mbox(bytes)
    } else {
        vec![bytes]
    };
    let many = messages.len() > 1;
    for (n, raw) in messages.into_iter().enumerate() {
        let submission = Submission {
            source: Source::Import,
            peer: None,
            envelope: serde_json::json!({
                "path": path.display().to_string(),
                "mbox_message": many.then_some(n + 1),
            }),
            content_type: None,
            received_at: Utc::now(),
            raw,
        };
        match pipeline::ingest(store, limits, submission).await {
            Ok(outcome) => add_outcome(&mut file, outcome, many.then_some(n + 1)),
            Err(e) => {
                file.error = Some(e.to_string());
                break;
            }
        }
    }
    file.outcome = if file.error.is_some() {
        "error"
    } else if file.reports.is_empty() {
        "rejected"
    } else if !file.rejections.is_empty() {
        "partial"
    } else if file
        .reports
        .iter()
        .any(|r| matches!(r.outcome, ReportOutcome::Stored { .. }))
    {
        "stored"
    } else {
        "duplicate"
    };
    file
}

fn add_outcome(file: &mut FileOutcome, outcome: IngestOutcome, message: Option<usize>) {
    debug_assert!(outcome.verdict() != Verdict::Rejected || outcome.reports.is_empty());
    file.reports
        .extend(outcome.reports.into_iter().map(|r| FileReport {
            organization_name: r.organization_name,
            report_id: r.report_id,
            outcome: r.outcome,
        }));
    file.rejections
        .extend(outcome.rejections.into_iter().map(|r| FileRejection {
            origin: match message {
                Some(n) => format!("message {n}, {}", r.origin),
                None => r.origin,
            },
            code: r.code,
            reason: r.reason,
        }));
}

async fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "file is {} bytes, more than the {MAX_FILE_BYTES} bytes a report file can be",
            meta.len()
        ));
    }
    tokio::fs::read(path)
        .await
        .map_err(|e| format!("cannot read: {e}"))
}

/// Splits an mbox file into its messages (mail-parser's reader handles `>From ` quoting).
fn split_mbox(bytes: Vec<u8>) -> Vec<Vec<u8>> {
    let messages: Vec<Vec<u8>> =
        mail_parser::mailbox::mbox::MessageIterator::new(std::io::Cursor::new(bytes.as_slice()))
            .filter_map(Result::ok)
            .map(|m| m.unwrap_contents())
            .collect();
    if messages.is_empty() {
        vec![bytes]
    } else {
        messages
    }
}

/// Expands the command-line paths into the files to import, in a stable order.
fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.is_dir() {
            walk(path, &mut files).map_err(|e| format!("{}: {e}", path.display()))?;
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() && dir.join("new").is_dir()
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if is_maildir(dir) {
        // Maildir: delivered messages live in cur/ and new/; tmp/ holds deliveries in
        // progress, which are not complete messages yet.
        for sub in ["cur", "new"] {
            let mut entries = sorted_entries(&dir.join(sub))?;
            entries.retain(|p| p.is_file() && !is_hidden(p));
            files.extend(entries);
        }
        for sub in sorted_entries(dir)? {
            let name = sub.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if sub.is_dir() && name.starts_with('.') && is_maildir(&sub) {
                // Maildir++ subfolders (.Reports, .Archive) are folders of the same box.
                walk(&sub, files)?;
            }
        }
        return Ok(());
    }
    for entry in sorted_entries(dir)? {
        if is_hidden(&entry) {
            continue;
        }
        if entry.is_dir() {
            walk(&entry, files)?;
        } else if entry.is_file() && looks_like_report_file(&entry) {
            files.push(entry);
        }
    }
    Ok(())
}

fn sorted_entries(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut entries = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort();
    Ok(entries)
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// Report files by extension, and extension-less files that start like an mbox or a
/// mail message (mail clients export mailboxes without an extension).
fn looks_like_report_file(path: &Path) -> bool {
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) => REPORT_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()),
        None => {
            let mut head = [0u8; 5];
            std::fs::File::open(path)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
                .is_ok()
                && (&head == b"From "
                    || head.iter().all(|b| b.is_ascii_graphic()) && head.contains(&b':'))
        }
    }
}
