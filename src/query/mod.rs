//! The read side: answers from the store only, never from intake code.
//!
//! In: HTTP requests. Out: the JSON API ([`api`]), the HTML dashboard ([`dashboard`])
//! and the operational endpoints ([`ops`]: health, readiness, Prometheus metrics).

pub mod api;
pub mod dashboard;
pub mod ops;
