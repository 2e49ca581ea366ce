//! Alerts: failures, spikes, silent reporters and posture changes, judged per policy
//! domain.
//!
//! In: what the store knows of each domain. Out: the conditions that hold
//! ([`rules::evaluate`]), which the alert lifecycle turns into alerts that open once,
//! notify, and resolve by themselves.
//!
//! - `rules.rs`: the rules and their thresholds, pure.
//! - `config.rs`: the `--config` file: thresholds, per-domain overrides, channels,
//!   routing.
//! - `evaluate.rs`: one evaluation of every domain, applied in the store (alerts and
//!   their outbox rows in one transaction).
//! - `send.rs`: the outbox drained to the channels, with retries and backoff.
//! - `digest.rs`: daily and weekly summary emails, once per period.

pub mod config;
pub mod digest;
pub mod evaluate;
pub mod rules;
pub mod send;

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Clock;
use crate::store::{AlertChanges, Store, StoreError};
use config::AlertConfig;

/// How often the loop looks: for due notices, the lease, and reports stored meanwhile
/// (evaluated `evaluate_after_reports` after the first of them).
const TICK: Duration = Duration::from_secs(5);

/// How long a node's hold on evaluating and sending lasts without renewal (it renews
/// every tick): a node that stops lets another take over within a minute.
const LEASE: Duration = Duration::from_secs(60);

/// The lease's name in the store.
const LEASE_NAME: &str = "alerts";

/// The client channels are reached with: the public roots, no redirects (a channel's URL
/// is the one configured; a redirect elsewhere is an error).
pub fn http_client() -> Result<reqwest::Client, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())
}

/// Evaluates the alert rules and drains the outbox; with several nodes on one database,
/// only the one holding the lease does either. Cheap to clone.
#[derive(Clone)]
pub struct AlertWatch {
    store: Store,
    config: Arc<AlertConfig>,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    /// This node's name in the lease.
    node: Arc<str>,
}

impl AlertWatch {
    pub fn new(
        store: Store,
        config: AlertConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<AlertWatch, String> {
        let client = http_client()?;
        let node = format!(
            "{}-{}",
            std::process::id(),
            std::hash::BuildHasher::hash_one(
                &std::collections::hash_map::RandomState::new(),
                Instant::now()
            )
        );
        Ok(AlertWatch {
            store,
            config: Arc::new(config),
            clock,
            client,
            node: Arc::from(node),
        })
    }

    pub fn config(&self) -> &AlertConfig {
        &self.config
    }

    /// Whether this node holds (or just took) the lease.
    async fn lease(&self) -> Result<bool, StoreError> {
        let now = self.clock.now().timestamp();
        self.store
            .take_lease(LEASE_NAME, &self.node, now, now + LEASE.as_secs() as i64)
            .await
    }

    /// Evaluates every domain now, if this node holds the lease (`None` otherwise).
    pub async fn evaluate(&self) -> Result<Option<AlertChanges>, StoreError> {
        if !self.lease().await? {
            return Ok(None);
        }
        evaluate::evaluate_all(&self.store, &self.config, self.clock.now())
            .await
            .map(Some)
    }

    /// Delivers the notices due now, if this node holds the lease; how many were sent.
    pub async fn send(&self) -> Result<usize, StoreError> {
        if !self.lease().await? {
            return Ok(0);
        }
        send::send_due(&self.store, &self.config, &self.client, self.clock.now()).await
    }

    /// Sends the digests due now and not yet sent, if this node holds the lease.
    pub async fn send_digests(&self) -> Result<usize, StoreError> {
        if self.config.digests.is_empty() || !self.lease().await? {
            return Ok(0);
        }
        digest::send_due(&self.store, &self.config, self.clock.now()).await
    }

    /// Evaluates every `evaluate_every` and after reports are stored (debounced), and
    /// sends due notices every few seconds, until `stop` turns true.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut stored = self.store.stored_reports();
        let mut stored_open = true;
        let mut next_evaluation = Instant::now();
        let mut stored_since: Option<Instant> = None;
        loop {
            let debounced =
                stored_since.is_some_and(|t| t.elapsed() >= self.config.evaluate_after_reports);
            if Instant::now() >= next_evaluation || debounced {
                match self.evaluate().await {
                    Ok(Some(c)) if c.opened + c.resolved + c.reminded > 0 => tracing::info!(
                        opened = c.opened,
                        reminded = c.reminded,
                        resolved = c.resolved,
                        notices = c.notices,
                        "alerts evaluated"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "alerts: evaluation failed"),
                }
                next_evaluation = Instant::now() + self.config.evaluate_every;
                stored_since = None;
            }
            // Without channels no notice is ever queued.
            if !self.config.channels.is_empty()
                && let Err(e) = self.send().await
            {
                tracing::warn!(error = %e, "alerts: cannot read the outbox");
            }
            if let Err(e) = self.send_digests().await {
                tracing::warn!(error = %e, "alerts: cannot prepare the digests");
            }
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                changed = stored.changed(), if stored_open => match changed {
                    Ok(()) => {
                        stored_since.get_or_insert_with(Instant::now);
                        // Look again when the wait is over rather than at the next tick.
                        let wait = self.config.evaluate_after_reports;
                        if wait < TICK {
                            tokio::time::sleep(wait).await;
                        }
                    }
                    Err(_) => stored_open = false,
                },
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}
