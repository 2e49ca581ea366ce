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
use tokio::sync::mpsc;

use crate::config::ImportArgs;
use crate::pipeline::{
    self, Envelope, ImportEnvelope, IngestError, IngestOutcome, Limits, PendingBatch, Pipeline,
    Prepared, RejectCode, ReportOutcome, Submission, Verdict,
};

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
    pub code: RejectCode,
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
            if r.outcome.is_stored() {
                self.imported += 1;
            } else {
                self.duplicates += 1;
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
    let pipeline = match super::open_pipeline(&args.database.url, args.limits.limits()).await {
        Ok(pipeline) => pipeline,
        Err(e) => {
            eprintln!("tlsrptd import: cannot open {}: {e}", args.database.url);
            return 2;
        }
    };
    let summary = import_files(&pipeline, files, &args).await;
    if let Err(e) = pipeline.settle().await {
        // Everything imported is committed; the service folds it when it next runs.
        eprintln!("tlsrptd import: the imported reports are stored but not summarized yet: {e}");
    }
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

/// Most submissions per job handed to the store. One channel message and one reply for
/// many small files keeps per-file async bookkeeping from competing with the readers and
/// the writer for the CPU; 128 is small next to a store batch (1,024), so a batch still
/// fills from several chunks and a reader never holds much back (64 and 512 measured
/// slower).
const CHUNK_SUBMISSIONS: usize = 128;

/// Bulk import in two stages: a few threads (one per core but one) read files, run the
/// CPU side of the pipeline and queue chunks of prepared submissions for the store; this
/// task waits for each chunk's commit in turn and records what happened to every file.
/// At most `concurrency` submissions are queued or committing at once, so the store
/// writer always has a full batch waiting while memory stays bounded.
async fn import_files(
    pipeline: &Pipeline,
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
    let concurrency = args.concurrency.max(1);
    let chunk_size = concurrency.min(CHUNK_SUBMISSIONS);
    let (chunk_tx, mut chunk_rx) = mpsc::channel::<InFlight>((concurrency / chunk_size).max(1));
    // One core is left to the store writer: its commit chain is serial and latency-bound,
    // so starving it of CPU costs more than one fewer reader. With `--concurrency 1` one
    // reader takes the files strictly in order.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get().saturating_sub(1).max(1))
        .min(concurrency);
    let mut readers = Vec::with_capacity(threads);
    for n in 0..threads {
        let reader = Reader {
            files: files.clone(),
            next_file: next_file.clone(),
            pipeline: pipeline.clone(),
            chunks: chunk_tx.clone(),
            chunk_size,
        };
        match std::thread::Builder::new()
            .name(format!("import-{n}"))
            .spawn(move || reader.run())
        {
            Ok(handle) => readers.push(handle),
            Err(e) => eprintln!("tlsrptd import: cannot start a reader thread: {e}"),
        }
    }
    drop(chunk_tx);

    let mut summary = ImportSummary::default();
    let mut finished: Vec<Option<FileOutcome>> = Vec::new();
    if args.json {
        finished.resize(total, None);
    }
    while let Some(chunk) = chunk_rx.recv().await {
        for (index, file) in chunk.finish().await {
            record(index, file, &mut summary, &mut finished, &progress);
        }
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

/// One reader thread: takes the next file, prepares it, and queues a chunk for the store
/// whenever it holds `chunk_size` submissions (or files).
struct Reader {
    files: Arc<Vec<PathBuf>>,
    next_file: Arc<AtomicUsize>,
    pipeline: Pipeline,
    chunks: mpsc::Sender<InFlight>,
    chunk_size: usize,
}

impl Reader {
    fn run(self) {
        let mut chunk = Chunk::default();
        loop {
            let index = self.next_file.fetch_add(1, Ordering::Relaxed);
            let Some(path) = self.files.get(index) else {
                break;
            };
            chunk.add(
                index,
                path.clone(),
                read_and_prepare(self.pipeline.limits(), path),
            );
            if (chunk.submissions.len() >= self.chunk_size || chunk.files.len() >= self.chunk_size)
                && !self.send(std::mem::take(&mut chunk))
            {
                return;
            }
        }
        if !chunk.files.is_empty() {
            self.send(chunk);
        }
    }

    /// Queues the chunk's submissions with the store and hands the pending commit to the
    /// collector (waiting while `concurrency` submissions are in flight). False when the
    /// collector has gone.
    fn send(&self, chunk: Chunk) -> bool {
        let pending = (!chunk.submissions.is_empty())
            .then(|| self.pipeline.queue_blocking(chunk.submissions));
        self.chunks
            .blocking_send(InFlight {
                files: chunk.files,
                pending,
            })
            .is_ok()
    }
}

/// A file read by a reader: its index and path, and how many submissions it gave (one
/// per mbox message) or why it could not be read.
struct ReadFile {
    index: usize,
    path: PathBuf,
    submissions: Result<usize, String>,
}

/// Files prepared by one reader and not yet queued.
#[derive(Default)]
struct Chunk {
    files: Vec<ReadFile>,
    submissions: Vec<Prepared>,
}

impl Chunk {
    fn add(&mut self, index: usize, path: PathBuf, prepared: Result<Vec<Prepared>, String>) {
        let submissions = prepared.map(|submissions| {
            let n = submissions.len();
            self.submissions.extend(submissions);
            n
        });
        self.files.push(ReadFile {
            index,
            path,
            submissions,
        });
    }
}

/// A chunk queued with the store, on its way to the collector.
struct InFlight {
    files: Vec<ReadFile>,
    pending: Option<PendingBatch>,
}

impl InFlight {
    /// Waits for the chunk's commit and says what happened to each of its files.
    async fn finish(self) -> Vec<(usize, FileOutcome)> {
        let results: Vec<Result<IngestOutcome, IngestError>> = match self.pending {
            Some(pending) => pending.wait().await,
            None => Vec::new(),
        };
        let mut results = results.into_iter();
        self.files
            .into_iter()
            .map(|read| {
                let mut file = FileOutcome {
                    path: read.path,
                    outcome: "error",
                    reports: Vec::new(),
                    rejections: Vec::new(),
                    error: None,
                };
                match read.submissions {
                    Err(e) => file.error = Some(e),
                    Ok(n) => {
                        // Take exactly this file's results, even after an error, so the
                        // next file gets its own.
                        for (k, result) in results.by_ref().take(n).enumerate() {
                            match result {
                                Ok(outcome) if file.error.is_none() => {
                                    add_outcome(&mut file, outcome, (n > 1).then_some(k + 1))
                                }
                                Ok(_) => {}
                                Err(e) => {
                                    file.error.get_or_insert_with(|| e.to_string());
                                }
                            }
                        }
                    }
                }
                file.outcome = file_verdict(&file);
                (read.index, file)
            })
            .collect()
    }
}

fn file_verdict(file: &FileOutcome) -> &'static str {
    if file.error.is_some() {
        return "error";
    }
    Verdict::of(
        file.reports.iter().map(|r| r.outcome),
        file.rejections.len(),
    )
    .as_str()
}

fn record(
    index: usize,
    file: FileOutcome,
    summary: &mut ImportSummary,
    finished: &mut [Option<FileOutcome>],
    progress: &ProgressBar,
) {
    progress.inc(1);
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
fn read_and_prepare(limits: &Limits, path: &Path) -> Result<Vec<Prepared>, String> {
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
                envelope: Envelope::Import(ImportEnvelope {
                    path: path.display().to_string(),
                    mbox_message: many.then_some(n + 1),
                }),
                content_type: None,
                received_at: Utc::now(),
                raw,
            };
            pipeline::prepare(limits, submission)
        })
        .collect())
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
            files.extend(
                sorted_entries(&dir.join(sub))?
                    .into_iter()
                    .filter(|e| e.kind == EntryKind::File && !is_hidden(&e.path))
                    .map(|e| e.path),
            );
        }
        for sub in sorted_entries(dir)? {
            let name = sub.path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if sub.kind == EntryKind::Dir && name.starts_with('.') && is_maildir(&sub.path) {
                // Maildir++ subfolders (.Reports, .Archive) are folders of the same box.
                walk(&sub.path, files)?;
            }
        }
        return Ok(());
    }
    for entry in sorted_entries(dir)? {
        if is_hidden(&entry.path) {
            continue;
        }
        match entry.kind {
            EntryKind::Dir => walk(&entry.path, files)?,
            EntryKind::File if looks_like_report_file(&entry.path) => files.push(entry.path),
            _ => {}
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    File,
    Dir,
    Other,
}

struct Entry {
    path: PathBuf,
    kind: EntryKind,
}

/// A directory's entries sorted by path. The kind comes from the directory listing, so a
/// directory of 100,000 reports costs no stat call per file; symbolic links are followed.
fn sorted_entries(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let mut file_type = entry.file_type()?;
        if file_type.is_symlink() {
            match std::fs::metadata(entry.path()) {
                Ok(meta) => file_type = meta.file_type(),
                // A dangling link is neither a file nor a directory.
                Err(_) => continue,
            }
        }
        let kind = if file_type.is_dir() {
            EntryKind::Dir
        } else if file_type.is_file() {
            EntryKind::File
        } else {
            EntryKind::Other
        };
        entries.push(Entry {
            path: entry.path(),
            kind,
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
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
