//! Intakes: where reports arrive. Each turns what it received into a
//! [`Submission`](crate::report::Submission) and calls
//! [`pipeline::ingest`](crate::pipeline::ingest); they share nothing else.
//!
//! - [`http`]: RFC 8460 §5.4 `POST /v1/reports`.
//! - [`smtp`]: RFC 8460 §5.3 receive-only ESMTP; a sans-IO session state machine.

pub mod http;
pub mod smtp;
