//! Every setting: a command-line flag with a `TLSRPT_*` environment variable.
//!
//! In: the process arguments and environment. Out: a parsed [`Cli`] that `main` dispatches
//! on, and the [`pipeline::Limits`](crate::pipeline::Limits) built from the limit flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::decode::DecodeLimits;
use crate::parse::ParseLimits;
use crate::pipeline::Limits;

#[derive(Debug, Parser)]
#[command(
    name = "tlsrptd",
    version,
    about = "SMTP TLS Reporting (RFC 8460) report receiver"
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import report files, directories, .eml files, mbox files and Maildir folders.
    Import(ImportArgs),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: sqlite://PATH (created if missing) or postgres://USER@HOST/DB.
    #[arg(
        long = "database",
        env = "TLSRPT_DATABASE_URL",
        default_value = "sqlite://tlsrptd.db"
    )]
    pub url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log format: human-readable text or one JSON object per line.
    #[arg(
        long,
        env = "TLSRPT_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
    /// Log filter in tracing's env-filter syntax, e.g. `info` or `tlsrptd=debug`.
    #[arg(
        long = "log",
        env = "TLSRPT_LOG",
        default_value = "info",
        global = true
    )]
    pub log_filter: String,
}

#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Largest decompressed size of one report, in bytes (gzip/zip bombs stop here).
    #[arg(long, env = "TLSRPT_MAX_DECOMPRESSED_BYTES", default_value_t = DecodeLimits::default().max_decompressed_bytes)]
    pub max_decompressed_bytes: u64,
    /// Most entries read from one zip archive.
    #[arg(long, env = "TLSRPT_MAX_ZIP_ENTRIES", default_value_t = DecodeLimits::default().max_zip_entries)]
    pub max_zip_entries: usize,
    /// Deepest JSON nesting accepted in a report.
    #[arg(long, env = "TLSRPT_MAX_JSON_DEPTH", default_value_t = ParseLimits::default().max_depth)]
    pub max_json_depth: usize,
}

impl LimitArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            decode: DecodeLimits {
                max_decompressed_bytes: self.max_decompressed_bytes,
                max_zip_entries: self.max_zip_entries,
                ..DecodeLimits::default()
            },
            parse: ParseLimits {
                max_depth: self.max_json_depth,
                ..ParseLimits::default()
            },
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Files or directories to import (directories are walked recursively).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Print a JSON summary with an outcome per file instead of the summary line.
    #[arg(long)]
    pub json: bool,
    /// Submissions committing at the same time (two store batches, so the writer never waits).
    #[arg(long, env = "TLSRPT_IMPORT_CONCURRENCY", default_value_t = 1024)]
    pub concurrency: usize,
}
