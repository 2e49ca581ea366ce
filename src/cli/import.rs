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
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::config::ImportArgs;
use crate::pipeline::{self, IngestOutcome, Limits, Verdict};
use crate::report::{Source, Submission};
use crate::store::NewSubmission;
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

/// Bulk import in two stages: a few threads (one per core) read files and run the CPU
/// side of the pipeline, and async tasks commit what they prepared, up to
/// `concurrency` at once, so the store writer always has a full batch waiting.
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
    let total = files.len();
    let files = Arc::new(files);
    let next_file = Arc::new(AtomicUsize::new(0));
    let (prepared_tx, mut prepared_rx) = mpsc::channel::<Prepared>(PREPARED_QUEUE);
    // One core is left to the store writer: its commit chain is serial and latency-bound,
    // so starving it of CPU costs more than one fewer reader.
    let threads =
        std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1));
    let mut readers = Vec::with_capacity(threads);
    for n in 0..threads {
        let files = files.clone();
        let next_file = next_file.clone();
        let prepared_tx = prepared_tx.clone();
        let limits = limits.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("import-{n}"))
            .spawn(move || {
                loop {
                    let index = next_file.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(index) else { break };
                    let prepared = read_and_prepare(&limits, path);
                    if prepared_tx
                        .blocking_send((index, path.clone(), prepared))
                        .is_err()
                    {
                        break;
                    }
                }
            });
        match spawned {
            Ok(handle) => readers.push(handle),
            Err(e) => eprintln!("tlsrptd import: cannot start a reader thread: {e}"),
        }
    }
    drop(prepared_tx);

    let permits = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    let mut summary = ImportSummary::default();
    let mut finished: Vec<Option<FileOutcome>> = Vec::new();
    if args.json {
        finished.resize(total, None);
    }
    while let Some((index, path, prepared)) = prepared_rx.recv().await {
        // Bounded in-flight commits; while we wait here the readers fill the queue.
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let store = store.clone();
        tasks.spawn(async move {
            let outcome = commit_file(&store, path, prepared).await;
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
    for reader in readers {
        if reader.join().is_err() {
            summary.errors += 1;
            eprintln!("tlsrptd import: a reader thread panicked");
        }
    }
    progress.finish_and_clear();
    summary.files = finished.into_iter().flatten().collect();
    summary
}

/// A file's index, path, and its prepared submissions (one per mbox message) or the
/// reason it could not be read.
type Prepared = (usize, PathBuf, Result<Vec<NewSubmission>, String>);

/// Prepared files waiting for a commit slot: enough to keep the committers busy while
/// the readers work ahead, small enough to bound memory (a few MiB of small reports).
const PREPARED_QUEUE: usize = 256;

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

/// Reads one file and runs decode + parse on each message in it.
fn read_and_prepare(limits: &Limits, path: &Path) -> Result<Vec<NewSubmission>, String> {
    let bytes = read_bounded(path)?;
    let messages = if bytes.starts_with(b"From ") {
        split_mbox(bytes)
    } else {
        vec![bytes]
    };
    let many = messages.len() > 1;
    Ok(messages
        .into_iter()
        .enumerate()
        .map(|(n, raw)| {
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
            pipeline::prepare(limits, submission)
        })
        .collect())
}

async fn commit_file(
    store: &Store,
    path: PathBuf,
    prepared: Result<Vec<NewSubmission>, String>,
) -> FileOutcome {
    let mut file = FileOutcome {
        path,
        outcome: "error",
        reports: Vec::new(),
        rejections: Vec::new(),
        error: None,
    };
    match prepared {
        Err(e) => file.error = Some(e),
        Ok(submissions) => {
            let many = submissions.len() > 1;
            for (n, submission) in submissions.into_iter().enumerate() {
                match pipeline::commit_prepared(store, submission).await {
                    Ok(outcome) => add_outcome(&mut file, outcome, many.then_some(n + 1)),
                    Err(e) => {
                        file.error = Some(e.to_string());
                        break;
                    }
                }
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

fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let len = file
        .metadata()
        .map_err(|e| format!("cannot read: {e}"))?
        .len();
    if len > MAX_FILE_BYTES {
        return Err(format!(
            "file is {len} bytes, more than the {MAX_FILE_BYTES} bytes a report file can be"
        ));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_FILE_BYTES), &mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    Ok(bytes)
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
