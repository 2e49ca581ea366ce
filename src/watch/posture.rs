//! The posture schedule: which domains are watched, when each is checked, and saving
//! each result with the history of its state.
//!
//! In: the store, a [`Checker`], the [`PostureSchedule`] and a [`Clock`]. Out: checks run
//! (at most `concurrency` at once, each taken under a lease in the store so that with
//! several `serve` nodes on one PostgreSQL database one node runs it), their results and
//! state changes saved, and checks asked for now through the API ([`PostureWatch::refresh`]).

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use super::Clock;
use crate::posture::check::{Checker, PostureResult, Previous, ReportContext};
use crate::posture::state::State;
use crate::store::{PostureSave, Store, StoreError, TakenCheck, TimeRange};

/// How far back a domain's reports make it watched, and are read for its check: the
/// no-reports rule looks at 72 hours, the policy-text rule at the newest report; a
/// month covers both, and a domain silent for a month stops being checked.
const LOOKBACK_DAYS: i64 = 31;

/// How often the schedule looks for due checks. Checks are due every few hours; a
/// minute late is nothing, and each look is two small queries.
const TICK: Duration = Duration::from_secs(60);

/// Checks taken per look: the rest wait for the next one, which comes at once when this
/// one was full, so a restart with thousands due does not hold thousands of leases.
const TAKE_PER_PASS: i64 = 64;

/// How long a node holds a check it took. A check makes about ten DNS queries, a few at
/// a time (3 s × 2 tries each at most), one policy fetch (20 s) and up to eight MX
/// probes side by side (60 s each): about two minutes at worst, so five minutes is well
/// past it, and a node that died mid-check frees the domain after that.
const LEASE: Duration = Duration::from_secs(300);

/// Domain names remembered as already watched, so each look inserts only new ones;
/// past this many the memory starts over (the insert is idempotent).
const WATCHED_REMEMBERED: usize = 100_000;

/// When and what the schedule checks.
#[derive(Debug, Clone)]
pub struct PostureSchedule {
    /// Between two checks of a domain; `None`: no schedule, checks only on request.
    pub interval: Option<Duration>,
    /// Domains watched whether or not they have reports (already normalized).
    pub domains: Vec<String>,
    /// Checks running at once.
    pub concurrency: usize,
    /// Age a result must have before a refresh checks the domain again.
    pub refresh_interval: Duration,
}

impl PostureSchedule {
    /// No schedule, no configured domains; refreshes at most once a minute.
    pub fn off() -> PostureSchedule {
        PostureSchedule {
            interval: None,
            domains: Vec::new(),
            concurrency: 4,
            refresh_interval: Duration::from_secs(60),
        }
    }
}

/// Why a check asked for now did not run.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("{domain} was checked {age} s ago; ask again in {retry_after} s")]
    TooSoon {
        domain: String,
        age: u64,
        retry_after: u64,
    },
    #[error("a check of {0} is running")]
    Running(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The latest result of a domain as the API serves it: the stored check and when the
/// next one is due.
#[derive(Debug, Clone)]
pub struct LatestPosture {
    /// The check as [`PostureResult`] serializes it.
    pub result: serde_json::Value,
    pub next_check_at: Option<DateTime<Utc>>,
}

/// Runs the posture schedule and checks asked for now; cheap to clone.
#[derive(Clone)]
pub struct PostureWatch {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    checker: Checker,
    schedule: PostureSchedule,
    clock: Arc<dyn Clock>,
    watched: Mutex<HashSet<String>>,
    jitter: std::collections::hash_map::RandomState,
}

impl PostureWatch {
    pub fn new(
        store: Store,
        checker: Checker,
        schedule: PostureSchedule,
        clock: Arc<dyn Clock>,
    ) -> PostureWatch {
        PostureWatch {
            inner: Arc::new(Inner {
                store,
                checker,
                schedule,
                clock,
                watched: Mutex::new(HashSet::new()),
                jitter: Default::default(),
            }),
        }
    }

    pub fn schedule(&self) -> &PostureSchedule {
        &self.inner.schedule
    }

    /// Runs the schedule until `stop` turns true: looks for due checks every minute
    /// (at once again after a full pass). Returns at once when the schedule is off.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let Some(interval) = self.inner.schedule.interval else {
            return;
        };
        tracing::info!(interval = ?interval, "posture schedule running");
        loop {
            let full = match self.run_due().await {
                Ok(taken) => taken as i64 == TAKE_PER_PASS,
                Err(e) => {
                    tracing::warn!(error = %e, "posture schedule: cannot read the store");
                    false
                }
            };
            if full {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    /// One pass: watches the domains with recent reports and the configured ones, takes
    /// the checks due now and runs them. Returns how many it took.
    pub async fn run_due(&self) -> Result<usize, StoreError> {
        let inner = &self.inner;
        let now = inner.clock.now();
        self.watch_domains(now).await?;
        let lease_until = now + LEASE;
        let taken = inner
            .store
            .take_due_posture(now.timestamp(), lease_until.timestamp(), TAKE_PER_PASS)
            .await?;
        let count = taken.len();
        futures_util::stream::iter(taken)
            .for_each_concurrent(inner.schedule.concurrency.max(1), |taken| async move {
                let domain = taken.domain.clone();
                if let Err(e) = self.run_check(taken).await {
                    tracing::warn!(%domain, error = %e, "posture check not saved");
                }
            })
            .await;
        Ok(count)
    }

    /// Adds the domains not watched yet: those with reports in the last month (names a
    /// check refuses are left out) and the configured ones.
    async fn watch_domains(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let inner = &self.inner;
        let range = TimeRange::new(
            now - chrono::Duration::days(LOOKBACK_DAYS),
            now + chrono::Duration::days(1),
        );
        let reported = inner.store.list_domains(range).await?;
        let candidates = reported
            .into_iter()
            .filter_map(|d| crate::posture::domain::normalize(&d.domain).ok())
            .chain(inner.schedule.domains.iter().cloned());
        let new: Vec<String> = {
            let mut watched = inner.watched.lock().unwrap_or_else(|e| e.into_inner());
            if watched.len() > WATCHED_REMEMBERED {
                watched.clear();
            }
            candidates.filter(|d| watched.insert(d.clone())).collect()
        };
        if new.is_empty() {
            return Ok(());
        }
        let added = inner.store.watch_posture(&new, now.timestamp()).await;
        if added.is_err() {
            // Not stored: forget them so the next look tries again.
            let mut watched = inner.watched.lock().unwrap_or_else(|e| e.into_inner());
            for d in &new {
                watched.remove(d);
            }
        }
        added
    }

    /// Checks `domain` now unless its result is younger than the refresh interval or a
    /// check of it is running; the domain is watched from then on.
    pub async fn refresh(&self, domain: &str) -> Result<LatestPosture, RefreshError> {
        let inner = &self.inner;
        let now = inner.clock.now();
        if let Some(latest) = inner.store.latest_posture(domain).await?
            && let Some(checked_at) = latest.checked_at
        {
            let age = (now.timestamp() - checked_at).max(0) as u64;
            let min = inner.schedule.refresh_interval.as_secs();
            if age < min {
                return Err(RefreshError::TooSoon {
                    domain: domain.to_owned(),
                    age,
                    retry_after: min - age,
                });
            }
        }
        let taken = inner
            .store
            .take_posture_now(domain, now.timestamp(), (now + LEASE).timestamp())
            .await?
            .ok_or_else(|| RefreshError::Running(domain.to_owned()))?;
        let (result, next) = self.run_check(taken).await?;
        Ok(LatestPosture {
            result: serde_json::to_value(&result).unwrap_or_default(),
            next_check_at: self.inner.schedule.interval.map(|_| next),
        })
    }

    /// The latest saved result of `domain`; `None` when it has not been checked.
    pub async fn latest(&self, domain: &str) -> Result<Option<LatestPosture>, StoreError> {
        let Some(latest) = self.inner.store.latest_posture(domain).await? else {
            return Ok(None);
        };
        let Some(json) = latest.result_json else {
            return Ok(None);
        };
        let result = serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("posture result of {domain}: {e}")))?;
        Ok(Some(LatestPosture {
            result,
            next_check_at: self
                .inner
                .schedule
                .interval
                .and_then(|_| DateTime::from_timestamp(latest.next_check_at, 0)),
        }))
    }

    /// Runs a taken check and saves it (releasing the lease either way). Returns the
    /// result and when the next check is due.
    async fn run_check(
        &self,
        taken: TakenCheck,
    ) -> Result<(PostureResult, DateTime<Utc>), StoreError> {
        let inner = &self.inner;
        let now = inner.clock.now();
        let domain = taken.domain.as_str();
        let next = self.next_check(domain, now);
        let context = match report_context(&inner.store, domain, now).await {
            Ok(context) => context,
            Err(e) => {
                let _ = inner.store.release_posture(domain, now.timestamp()).await;
                return Err(e);
            }
        };
        let previous = previous_of(&taken);
        let (result, this) = inner
            .checker
            .check_at(domain, &context, previous.as_ref(), now)
            .await;
        let codes: Vec<&str> = result.findings.iter().map(|f| f.code).collect();
        let save = PostureSave {
            domain: domain.to_owned(),
            checked_at: now.timestamp(),
            state: result.state.as_str().to_owned(),
            previous_state: taken.before.state.clone(),
            result_json: serde_json::to_string(&result).unwrap_or_default(),
            sts_id: this.sts_id,
            policy_lines: this
                .policy_lines
                .map(|lines| serde_json::to_string(&lines).unwrap_or_default()),
            finding_codes: serde_json::to_string(&codes).unwrap_or_default(),
            next_check_at: next.timestamp(),
        };
        if let Err(e) = inner.store.save_posture(&save).await {
            let _ = inner.store.release_posture(domain, now.timestamp()).await;
            return Err(e);
        }
        if taken.before.state.as_deref() != Some(save.state.as_str()) {
            tracing::info!(
                %domain,
                state = %save.state,
                previous = taken.before.state.as_deref().unwrap_or("none"),
                "posture state changed"
            );
        }
        Ok((result, next))
    }

    /// When the check after one at `now` is due: the interval, give or take a tenth, so
    /// domains first watched together spread out over the following checks.
    fn next_check(&self, domain: &str, now: DateTime<Utc>) -> DateTime<Utc> {
        let interval = self
            .inner
            .schedule
            .interval
            .unwrap_or(DEFAULT_INTERVAL)
            .as_secs_f64();
        // A fraction in [0, 1) from the hash.
        let unit = (self.inner.jitter.hash_one((domain, now.timestamp())) >> 11) as f64
            / (1u64 << 53) as f64;
        let seconds = interval * (0.9 + 0.2 * unit);
        now + chrono::Duration::milliseconds((seconds * 1000.0) as i64)
    }
}

/// The interval a refreshed domain is next due at when the schedule is off (it is not
/// run then, but the row needs a time): the default `--posture-interval`.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(6 * 3600);

/// What the previous check left, as the checker takes it.
fn previous_of(taken: &TakenCheck) -> Option<Previous> {
    let before = &taken.before;
    let state = State::parse(before.state.as_deref()?)?;
    let checked_at = DateTime::from_timestamp(before.checked_at?, 0)?;
    Some(Previous {
        checked_at,
        state,
        sts_id: before.sts_id.clone(),
        policy_lines: before
            .policy_lines
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok()),
    })
}

/// What the store knows about `domain` as of `now`, for its check: when its latest
/// report came, and the newest MTA-STS policy text senders reported (what
/// `mta-sts-id-not-bumped` and `tlsrpt-no-reports` are judged on).
pub async fn report_context(
    store: &Store,
    domain: &str,
    now: DateTime<Utc>,
) -> Result<ReportContext, StoreError> {
    let range = TimeRange::new(
        now - chrono::Duration::days(LOOKBACK_DAYS),
        now + chrono::Duration::days(1),
    );
    let last_report_at = store
        .list_domains(range)
        .await?
        .into_iter()
        .find(|d| d.domain == domain)
        .map(|d| d.last_report_at);
    let latest_reported_policy = store
        .policies_seen(domain, range)
        .await?
        .into_iter()
        .filter(|p| p.policy_type == "sts")
        .max_by_key(|p| p.last_start)
        .map(|p| (p.last_start, p.policy_string));
    Ok(ReportContext {
        known: true,
        last_report_at,
        latest_reported_policy,
    })
}
