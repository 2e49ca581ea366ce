//! Intakes: where reports arrive. Each turns what it received into a
//! [`Submission`](crate::pipeline::Submission) and hands it to the pipeline — HTTPS through
//! [`Pipeline::ingest`](crate::pipeline::Pipeline::ingest), SMTP through its two halves
//! ([`Pipeline::prepare`](crate::pipeline::Pipeline::prepare), then DKIM, then
//! [`Pipeline::commit`](crate::pipeline::Pipeline::commit)) because RFC 8460 §3 needs the
//! parsed report's contact-info before deciding. The intakes share nothing else.
//!
//! - [`http`]: RFC 8460 §5.4 `POST /v1/reports`.
//! - [`smtp`]: RFC 8460 §5.3 receive-only ESMTP: sans-IO session, STARTTLS driver, DKIM.

pub mod http;
pub mod smtp;
