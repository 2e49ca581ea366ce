//! Every setting: a command-line flag with a `TLSRPT_*` environment variable.
//!
//! In: the process arguments and environment. Out: a parsed [`Cli`] that `main` dispatches
//! on, and the [`pipeline::Limits`](crate::pipeline::Limits) built from the limit flags.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::decode::DecodeLimits;
use crate::intake::smtp::dkim::DkimMode;
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
    /// Run the service: HTTPS intake, query API, health and metrics.
    Serve(Box<ServeArgs>),
    /// Import report files, directories, .eml files, mbox files and Maildir folders.
    Import(ImportArgs),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// Check domains' live TLS-RPT, MTA-STS and MX setup and print every finding with
    /// its fix. Exits 0 when no finding is an error, 1 otherwise, 2 on a usage error.
    Check(CheckArgs),
    /// Alerting: send a test notification through a configured channel.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Judge whether domains' MTA-STS policies can move from testing to enforce, from
    /// their stored reports, and what would break. Exits 0 only when every domain is
    /// ready, 1 otherwise, 2 on a usage error.
    Readiness(ReadinessCmdArgs),
}

/// How posture checks reach the network.
#[derive(Debug, Clone, Args)]
pub struct PostureNetArgs {
    /// Let posture checks connect to loopback, private, link-local and other
    /// special-purpose addresses (refused by default: the names come from DNS anyone
    /// controls).
    #[arg(long, env = "TLSRPT_ALLOW_PRIVATE_ADDRESSES")]
    pub allow_private_addresses: bool,
    /// PEM file of extra root certificates trusted for policy fetches and MX probes,
    /// besides the public ones. Repeatable.
    #[arg(long = "extra-ca", env = "TLSRPT_EXTRA_CA", value_delimiter = ',')]
    pub extra_ca: Vec<PathBuf>,
    /// Port of the MTA-STS policy host (senders use 443).
    #[arg(long, env = "TLSRPT_MTA_STS_PORT", default_value_t = 443)]
    pub mta_sts_port: u16,
    /// SMTP port probed on the MX hosts (senders use 25).
    #[arg(long, env = "TLSRPT_SMTP_PROBE_PORT", default_value_t = 25)]
    pub smtp_probe_port: u16,
    /// Name presented in EHLO by the MX probe.
    #[arg(long, env = "TLSRPT_HELO_NAME", default_value = "localhost")]
    pub helo_name: String,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Domains to check (Unicode names are converted to their ASCII form).
    #[arg(required = true, value_name = "DOMAIN")]
    pub domains: Vec<String>,
    /// Print one JSON object per domain (an array) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Name server for every DNS look-up of ours, as HOST:PORT; default: the system
    /// resolver.
    #[arg(
        long = "dns-server",
        alias = "dkim-nameserver",
        env = "TLSRPT_DNS_SERVER"
    )]
    pub dns_server: Option<SocketAddr>,
    /// Database to read the domains' reports from (for tlsrpt-no-reports and
    /// mta-sts-id-not-bumped); without it those checks are skipped.
    #[arg(long = "database", env = "TLSRPT_CHECK_DATABASE_URL")]
    pub database: Option<String>,
    /// Addresses this service receives reports at (as for serve), to tell whether a
    /// TLS-RPT record points here.
    #[arg(
        long = "smtp-recipient",
        env = "TLSRPT_SMTP_RECIPIENTS",
        value_delimiter = ','
    )]
    pub smtp_recipients: Vec<String>,
    /// Public URL of the HTTPS intake as published in rua= (e.g.
    /// `https://tlsrpt.example.net/v1/reports`).
    #[arg(long = "public-url", env = "TLSRPT_PUBLIC_URL", value_delimiter = ',')]
    pub public_urls: Vec<String>,
    #[command(flatten)]
    pub net: PostureNetArgs,
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
    /// Largest decompressed size of one submission, all layers and parts together, in
    /// bytes (gzip/zip bombs stop here).
    #[arg(long, env = "TLSRPT_MAX_DECOMPRESSED_BYTES", default_value_t = DecodeLimits::default().max_decompressed_bytes)]
    pub max_decompressed_bytes: u64,
    /// Most entries read from one zip archive.
    #[arg(long, env = "TLSRPT_MAX_ZIP_ENTRIES", default_value_t = DecodeLimits::default().max_zip_entries)]
    pub max_zip_entries: usize,
    /// Decompressed bytes all submissions being decoded may hold at once (serve). A
    /// submission that cannot get its share within 5 s is answered 503 or 451 (retry);
    /// must be at least twice --max-decompressed-bytes.
    #[arg(long, env = "TLSRPT_MAX_INFLIGHT_DECOMPRESSED_BYTES", default_value_t = Limits::default().inflight_decompressed_bytes)]
    pub max_inflight_decompressed_bytes: u64,
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
            inflight_decompressed_bytes: self.max_inflight_decompressed_bytes,
            ..Limits::default()
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
    /// Submissions queued for or committing in the store at once: four store batches, so
    /// the writer takes full batches while the readers work ahead (2,048 measured ~10%
    /// slower; 8,192 no faster and +10 MB).
    #[arg(long, env = "TLSRPT_IMPORT_CONCURRENCY", default_value_t = 4096)]
    pub concurrency: usize,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub smtp: SmtpArgs,
    #[command(flatten)]
    pub posture: PostureArgs,
    #[command(flatten)]
    pub readiness: ReadinessArgs,
    #[command(flatten)]
    pub readiness_schedule: ReadinessScheduleArgs,
    /// TOML file of alert thresholds, channels and routing (README, "Alerts"); without
    /// it alerts are kept and listed but sent nowhere.
    #[arg(long = "config", env = "TLSRPT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Do not evaluate alerts or send notifications.
    #[arg(long, env = "TLSRPT_NO_ALERTS")]
    pub no_alerts: bool,
}

/// What enforce readiness is judged against.
#[derive(Debug, Clone, Args)]
pub struct ReadinessArgs {
    /// Days with reports needed before a verdict, and the span the failure rate is
    /// measured over.
    #[arg(long, env = "TLSRPT_READINESS_DAYS", default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=366))]
    pub readiness_days: u32,
    /// The last this many days are searched for those days with reports (at least
    /// --readiness-days).
    #[arg(long, env = "TLSRPT_READINESS_WINDOW", default_value_t = 28, value_parser = clap::value_parser!(u32).range(1..=366))]
    pub readiness_window: u32,
    /// Highest share of sessions, in percent, that enforce would have refused for a
    /// domain to be ready.
    #[arg(long, env = "TLSRPT_READINESS_MAX_FAILURE_RATE", default_value_t = 0.1, value_parser = parse_percent)]
    pub readiness_max_failure_rate: f64,
}

/// How often `serve` re-judges every domain for the overview's Enforce column.
#[derive(Debug, Clone, Args)]
pub struct ReadinessScheduleArgs {
    /// Seconds between two judgings of every domain with reports (the overview's
    /// column; the domain page, the API and the command judge afresh); 0 turns it off.
    #[arg(long, env = "TLSRPT_READINESS_INTERVAL", value_parser = parse_seconds, default_value = "600")]
    pub readiness_interval: Duration,
}

impl ReadinessArgs {
    pub fn options(&self) -> crate::watch::readiness::ReadinessOptions {
        crate::watch::readiness::ReadinessOptions {
            days: self.readiness_days,
            window: self.readiness_window.max(self.readiness_days),
            max_failure_rate: self.readiness_max_failure_rate / 100.0,
        }
    }
}

fn parse_percent(s: &str) -> Result<f64, String> {
    s.trim_end_matches('%')
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && (0.0..=100.0).contains(v))
        .ok_or_else(|| format!("{s:?} is not a percentage between 0 and 100"))
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Send a test notification through CHANNEL of the --config file and say whether it
    /// was accepted (exit 0) or not (exit 1, with the reason).
    Test {
        /// The channel's `name` in the file.
        channel: String,
        /// The alerting configuration file.
        #[arg(long = "config", env = "TLSRPT_CONFIG")]
        config: PathBuf,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ReadinessCmdArgs {
    /// Policy domains to judge.
    #[arg(required = true, value_name = "DOMAIN")]
    pub domains: Vec<String>,
    /// Print a JSON array instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub readiness: ReadinessArgs,
}

/// The posture schedule of `serve` (the name server is `--dns-server`).
#[derive(Debug, Clone, Args)]
pub struct PostureArgs {
    /// Seconds between posture checks of each domain with reports in the last 30 days
    /// or named by --posture-domain (jittered by up to a tenth); 0 turns the schedule
    /// off (checks then run only when the API asks for one).
    #[arg(long, env = "TLSRPT_POSTURE_INTERVAL", value_parser = parse_seconds, default_value = "21600")]
    pub posture_interval: Duration,
    /// A domain to watch whether or not it has reports yet. Repeatable.
    #[arg(
        long = "posture-domain",
        env = "TLSRPT_POSTURE_DOMAINS",
        value_delimiter = ','
    )]
    pub posture_domains: Vec<String>,
    /// Checks running at once.
    #[arg(long, env = "TLSRPT_POSTURE_CONCURRENCY", default_value_t = 4)]
    pub posture_concurrency: usize,
    /// Seconds a domain's result must be old before `?refresh=true` checks it again
    /// (429 with Retry-After sooner): each check sends DNS queries and opens
    /// connections to the domain's hosts.
    #[arg(long, env = "TLSRPT_POSTURE_REFRESH_INTERVAL", value_parser = parse_seconds, default_value = "60")]
    pub posture_refresh_interval: Duration,
    /// Public URL of the HTTPS intake as published in rua= (e.g.
    /// `https://tlsrpt.example.net/v1/reports`): a TLS-RPT record naming it, or an
    /// --smtp-recipient, points here.
    #[arg(long = "public-url", env = "TLSRPT_PUBLIC_URL", value_delimiter = ',')]
    pub public_urls: Vec<String>,
    #[command(flatten)]
    pub net: PostureNetArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SmtpArgs {
    /// Address of the SMTP listener (receive-only, never relays).
    #[arg(long, env = "TLSRPT_SMTP_LISTEN", default_value = "127.0.0.1:2525")]
    pub smtp_listen: SocketAddr,
    /// Do not start the SMTP listener.
    #[arg(long, env = "TLSRPT_NO_SMTP")]
    pub no_smtp: bool,
    /// Accepted recipient: an address (`tlsrpt@example.com`) or a domain pattern
    /// (`*@reports.example.com`). Repeat or separate with commas. Others get 550 5.1.1.
    #[arg(
        long = "smtp-recipient",
        env = "TLSRPT_SMTP_RECIPIENTS",
        value_delimiter = ','
    )]
    pub smtp_recipients: Vec<String>,
    /// Refuse MAIL until the client has issued STARTTLS.
    #[arg(long, env = "TLSRPT_SMTP_REQUIRE_TLS")]
    pub smtp_require_tls: bool,
    /// Largest message accepted, in bytes (advertised with SIZE).
    #[arg(long, env = "TLSRPT_SMTP_MAX_MESSAGE_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub smtp_max_message_bytes: usize,
    /// Recipients per message.
    #[arg(long, env = "TLSRPT_SMTP_MAX_RECIPIENTS", default_value_t = 100)]
    pub smtp_max_recipients: usize,
    /// Error replies before the connection is closed.
    #[arg(long, env = "TLSRPT_SMTP_MAX_ERRORS", default_value_t = 10)]
    pub smtp_max_errors: usize,
    /// Seconds without input before `421` and close (RFC 5321 suggests 5 minutes).
    #[arg(long, env = "TLSRPT_SMTP_IDLE_TIMEOUT", value_parser = parse_seconds, default_value = "300")]
    pub smtp_idle_timeout: Duration,
    /// Seconds a connection may last in total.
    #[arg(long, env = "TLSRPT_SMTP_SESSION_LIFETIME", value_parser = parse_seconds, default_value = "900")]
    pub smtp_session_lifetime: Duration,
    /// Concurrent SMTP connections; more get `421` at once.
    #[arg(long, env = "TLSRPT_SMTP_MAX_CONNECTIONS", default_value_t = 2000)]
    pub smtp_max_connections: usize,
    /// DKIM policy for emailed reports.
    #[arg(long, env = "TLSRPT_DKIM", value_enum, default_value = "enforce")]
    pub dkim: DkimMode,
    /// Name server for every DNS look-up of ours (DKIM keys, posture checks), as
    /// HOST:PORT; default: the system resolver. `--dkim-nameserver` is an alias.
    #[arg(
        long = "dns-server",
        alias = "dkim-nameserver",
        env = "TLSRPT_DNS_SERVER"
    )]
    pub dkim_nameserver: Option<SocketAddr>,
}

#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Address of the HTTP(S) listener: the report intake and health checks, and the
    /// API, dashboard and metrics too unless --read-listen moves them.
    #[arg(long, env = "TLSRPT_HTTP_LISTEN", default_value = "127.0.0.1:8080")]
    pub http_listen: SocketAddr,
    /// Address of a listener of its own for the read side (JSON API, dashboard,
    /// /metrics), e.g. on loopback or an admin network while --http-listen faces the
    /// internet; --http-listen then answers 404 to everything but the intake and health.
    #[arg(long, env = "TLSRPT_READ_LISTEN")]
    pub read_listen: Option<SocketAddr>,
    /// PEM certificate chain for HTTPS (and STARTTLS). Without it a self-signed
    /// certificate is generated.
    #[arg(long, env = "TLSRPT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key matching --tls-cert. Reloaded with the certificate on SIGHUP.
    #[arg(long, env = "TLSRPT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP, for running behind a TLS-terminating reverse proxy.
    #[arg(long, env = "TLSRPT_HTTP_PLAIN")]
    pub http_plain: bool,
    /// Bearer token required on every /api route (and the dashboard). Unset: open.
    #[arg(long, env = "TLSRPT_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// How long a dashboard sign-in lasts, in seconds (30 days); sign-out or a new
    /// --api-token ends it sooner.
    #[arg(long, env = "TLSRPT_DASHBOARD_SESSION_LIFETIME", value_parser = parse_seconds, default_value = "2592000")]
    pub dashboard_session_lifetime: Duration,
    /// Largest accepted report body, in bytes (RFC 8460 reports are a few KiB; 10 MiB
    /// leaves room for the largest senders without letting one client fill memory).
    #[arg(long = "http-max-body-bytes", env = "TLSRPT_HTTP_MAX_BODY_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Time a client has to send a request's headers (HTTP/1; a client trickling header
    /// bytes is disconnected instead of holding a connection slot).
    #[arg(long = "http-header-timeout", env = "TLSRPT_HTTP_HEADER_TIMEOUT", value_parser = parse_seconds, default_value = "30")]
    pub header_timeout: Duration,
    /// Time a client has to send the whole request body (slow senders are cut off).
    #[arg(long = "http-body-timeout", env = "TLSRPT_HTTP_BODY_TIMEOUT", value_parser = parse_seconds, default_value = "30")]
    pub body_timeout: Duration,
    /// Report submissions per second allowed per client IP (0 disables the limit).
    #[arg(
        long = "http-rate-limit",
        env = "TLSRPT_HTTP_RATE_LIMIT",
        default_value_t = 50
    )]
    pub rate_limit: u32,
    /// Burst of submissions a client IP may send at once before the rate applies.
    #[arg(
        long = "http-rate-burst",
        env = "TLSRPT_HTTP_RATE_BURST",
        default_value_t = 500
    )]
    pub rate_burst: u32,
    /// Open connections at most; further clients wait in the kernel's accept queue.
    #[arg(
        long = "http-max-connections",
        env = "TLSRPT_HTTP_MAX_CONNECTIONS",
        default_value_t = 1024
    )]
    pub max_connections: usize,
    /// On SIGTERM/Ctrl-C, how long in-flight requests may take to finish (seconds).
    #[arg(long, env = "TLSRPT_SHUTDOWN_GRACE", value_parser = parse_seconds, default_value = "30")]
    pub shutdown_grace: Duration,
    /// Name used for the self-signed certificate.
    #[arg(long, env = "TLSRPT_HOSTNAME", default_value = "localhost")]
    pub hostname: String,
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    s.trim_end_matches('s')
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{s:?} is not a number of seconds"))
}

impl HttpArgs {
    /// The HTTPS intake's own settings.
    pub fn intake(&self) -> crate::intake::http::HttpIntakeConfig {
        crate::intake::http::HttpIntakeConfig {
            max_body_bytes: self.max_body_bytes,
            body_timeout: self.body_timeout,
            rate_limit: self.rate_limit,
            rate_burst: self.rate_burst,
        }
    }
}
