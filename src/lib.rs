//! tlsrptd receives SMTP TLS Reporting (RFC 8460) aggregate reports, stores them without
//! loss and answers where TLS delivery to a domain's mail servers fails.
//!
//! Data flow (each arrow is a narrow, typed seam):
//!
//! ```text
//! intake (SMTP + DKIM | HTTPS | import CLI)
//!     -> report::Submission { source, peer, envelope, received_at, raw bytes }
//! pipeline::ingest(store, limits, submission)    the one entry point every intake calls
//!     (a grant of the in-flight decompression budget, pipeline::InflightBudget)
//!     -> decode::decode   MIME parts / gzip / zip / sniffing -> JSON payloads (bounded)
//!     -> parse::parse_report   tolerant RFC 8460 model       -> report::Report + warnings
//!     -> store::Store::commit  one transaction, dedup, raw kept -> stored | duplicate | quarantined
//! query side (API, dashboard, metrics) reads only from store::Store
//! ```
//!
//! Module map, in pipeline order:
//!
//! - [`config`] — every flag and its `TLSRPT_*` environment variable.
//! - [`app`] — binds the listeners, serves, shuts down gracefully; [`tls`] its certificates.
//! - [`intake`] — where reports arrive: SMTP (sans-IO session, STARTTLS driver, DKIM)
//!   and HTTPS `POST /v1/reports`.
//! - [`cli`] — `serve`, `import` and `migrate`.
//! - [`pipeline`] — decode → parse → store for one submission.
//! - [`decode`] — RFC 5322 messages, gzip, zip, media-type sniffing.
//! - [`parse`] — the tolerant RFC 8460 JSON parser and its warnings.
//! - [`report`] — the domain types shared by every stage.
//! - [`store`] — SQLite and PostgreSQL backends, group commit, the read side.
//! - [`query`] — the read side: JSON API, dashboard, health, metrics.
//! - [`posture`] — checks of a domain's live TLS-RPT, MTA-STS and MX setup.
//! - [`watch`] — what tlsrptd finds out by itself on a schedule: the posture checks of
//!   every watched domain, saved with the history of their state.
//! - [`telemetry`] — logging, request logs and Prometheus metrics.
//! - [`alloc`] — the global allocator, set to hand freed memory back at once.

pub mod alloc;
pub mod app;
pub mod cli;
pub mod config;
pub mod decode;
pub mod intake;
pub mod net;
pub mod parse;
pub mod pipeline;
pub mod posture;
pub mod query;
pub mod report;
pub mod result_types;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod watch;
