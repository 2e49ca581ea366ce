//! The watch side: what tlsrptd finds out about each domain by itself, on a schedule,
//! from the store and the network — never from intake code.
//!
//! In: the store (reports received, earlier results) and a [`Clock`]. Out: results
//! saved in the store for the API and the dashboard to read.
//!
//! - [`posture`]: each watched domain's live TLS-RPT, MTA-STS and MX setup, checked by
//!   [`crate::posture`] every `--posture-interval`, with the history of its state.

pub mod alerts;
pub mod posture;
pub mod readiness;

use chrono::{DateTime, Utc};

/// Where the schedule reads the time: the system clock in the service, a clock the test
/// moves in the scheduler tests.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
