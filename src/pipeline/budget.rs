//! The process-wide budget of decompressed bytes in flight.
//!
//! In: how many bytes a submission about to be decoded wants to be able to hold. Out: a
//! [`Grant`] of that many bytes, held until the submission is parsed, or nothing when the
//! budget stayed full for [`WAIT`] (the intake then answers 503 or 451 and the sender
//! retries). Every network intake decodes through it, so the sum of what concurrent
//! submissions inflate is bounded whatever their number: without it, each of 32 gzip
//! bombs could inflate to `--max-decompressed-bytes` at once.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Permits are KiB: a `u32` count of them covers 4 TiB.
const UNIT: u64 = 1024;

/// How long a submission waits for its share before it is answered "try again": long
/// enough to ride out a burst of bombs (each refused in tens of milliseconds), short
/// enough that senders' SMTP and HTTP timeouts are far away.
pub const WAIT: Duration = Duration::from_secs(5);

/// What a submission may inflate before it has to ask for the whole limit: real daily
/// reports inflate to well under 1 MiB, so most submissions are decoded once with this.
pub const FIRST_GRANT: u64 = 1024 * 1024;

/// Shared by every intake of one process; cheap to clone.
#[derive(Clone, Debug)]
pub struct InflightBudget {
    permits: Arc<Semaphore>,
    total_units: u32,
}

/// A share of the budget; given back when dropped.
#[derive(Debug)]
pub struct Grant {
    bytes: u64,
    permit: Option<OwnedSemaphorePermit>,
    budget: InflightBudget,
}

impl Drop for Grant {
    fn drop(&mut self) {
        drop(self.permit.take());
        self.budget.publish();
    }
}

impl Grant {
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl InflightBudget {
    pub fn new(total_bytes: u64) -> Self {
        let total_units = (total_bytes / UNIT).clamp(1, u64::from(u32::MAX)) as u32;
        InflightBudget {
            permits: Arc::new(Semaphore::new(total_units as usize)),
            total_units,
        }
    }

    /// Reserves `bytes` (at most the whole budget), waiting up to `wait`. Waiters are
    /// served in order, so a large request is not starved by a stream of small ones.
    pub async fn reserve(&self, bytes: u64, wait: Duration) -> Option<Grant> {
        let units = bytes.div_ceil(UNIT).clamp(1, u64::from(self.total_units)) as u32;
        let acquire = self.permits.clone().acquire_many_owned(units);
        let permit = tokio::time::timeout(wait, acquire).await.ok()?.ok()?;
        self.publish();
        Some(Grant {
            bytes: u64::from(units) * UNIT,
            permit: Some(permit),
            budget: self.clone(),
        })
    }

    /// Sets the `tlsrpt_inflight_decompressed_bytes` gauge.
    fn publish(&self) {
        metrics::gauge!("tlsrpt_inflight_decompressed_bytes").set(self.in_use() as f64);
    }

    /// Bytes currently granted.
    pub fn in_use(&self) -> u64 {
        u64::from(self.total_units).saturating_sub(self.permits.available_permits() as u64) * UNIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_budget_makes_the_next_request_wait_then_fail() {
        let budget = InflightBudget::new(4 * 1024 * 1024);
        let first = budget.reserve(3 * 1024 * 1024, WAIT).await.unwrap();
        assert_eq!(budget.in_use(), 3 * 1024 * 1024);
        assert!(
            budget
                .reserve(2 * 1024 * 1024, Duration::from_millis(50))
                .await
                .is_none()
        );
        drop(first);
        let second = budget
            .reserve(2 * 1024 * 1024, Duration::from_millis(50))
            .await;
        assert_eq!(second.map(|g| g.bytes()), Some(2 * 1024 * 1024));
    }

    #[tokio::test]
    async fn a_request_larger_than_the_budget_gets_all_of_it() {
        let budget = InflightBudget::new(1024 * 1024);
        let grant = budget.reserve(u64::MAX, WAIT).await.unwrap();
        assert_eq!(grant.bytes(), 1024 * 1024);
    }
}
