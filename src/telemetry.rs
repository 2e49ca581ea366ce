//! Logging setup.
//!
//! In: the log flags. Out: a global tracing subscriber writing text or JSON to stderr
//! (stdout stays free for command output such as `import --json`).

use tracing_subscriber::EnvFilter;

use crate::config::{LogArgs, LogFormat};

pub fn init(args: &LogArgs) {
    let filter = EnvFilter::try_new(&args.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // Already initialised (tests call this more than once): keep the first.
    let _ = result;
}

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder (once per process) and returns its handle.
fn prometheus() -> Option<&'static PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                // Commit latency: from sub-millisecond SQLite batches to multi-second stalls.
                .set_buckets_for_metric(
                    Matcher::Full("tlsrpt_store_commit_seconds".into()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    ],
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("tlsrpt_http_request_duration_seconds".into()),
                        &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0],
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("tlsrpt_store_batch_size".into()),
                        &[1.0, 2.0, 8.0, 32.0, 128.0, 512.0],
                    )
                })
                .map(|b| b.build_recorder());
            match recorder {
                Ok(recorder) => {
                    let handle = recorder.handle();
                    if metrics::set_global_recorder(recorder).is_err() {
                        tracing::warn!("a metrics recorder was already installed");
                    }
                    Some(handle)
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot build the Prometheus recorder");
                    None
                }
            }
        })
        .as_ref()
}

/// Starts recording metrics; call before serving.
pub fn init_metrics() {
    let _ = prometheus();
}

/// The current metrics in Prometheus text format.
pub fn render_metrics() -> String {
    prometheus().map(|h| h.render()).unwrap_or_default()
}

/// Policy domains that get their own label on `tlsrpt_policy_sessions_total`. Any sender
/// can name any domain, and every label value is a series kept for the life of the
/// process; past this many, sessions count under `domain="other"` (the API has the rest).
pub const METRIC_DOMAINS: usize = 500;

/// The `domain` label values handed out so far, at most `cap`.
pub struct DomainLabels {
    cap: usize,
    labelled: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl DomainLabels {
    pub fn new(cap: usize) -> Self {
        DomainLabels {
            cap,
            labelled: Default::default(),
        }
    }

    /// `domain` itself while fewer than the cap have a label (or it has one), else
    /// `other`.
    pub fn label(&self, domain: &str) -> String {
        let mut labelled = match self.labelled.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if labelled.contains(domain) {
            return domain.to_owned();
        }
        if labelled.len() < self.cap {
            labelled.insert(domain.to_owned());
            return domain.to_owned();
        }
        "other".to_owned()
    }
}

/// Counts a stored report's sessions for one policy domain: per result in total, and per
/// domain up to [`METRIC_DOMAINS`] domains.
pub fn count_policy_sessions(domain: &str, successful: u64, failed: u64) {
    static LABELS: OnceLock<DomainLabels> = OnceLock::new();
    let label = LABELS
        .get_or_init(|| DomainLabels::new(METRIC_DOMAINS))
        .label(domain);
    metrics::counter!("tlsrpt_sessions_total", "result" => "successful").increment(successful);
    metrics::counter!("tlsrpt_sessions_total", "result" => "failed").increment(failed);
    metrics::counter!("tlsrpt_policy_sessions_total", "domain" => label.clone(), "result" => "successful")
        .increment(successful);
    metrics::counter!("tlsrpt_policy_sessions_total", "domain" => label, "result" => "failed")
        .increment(failed);
}

/// Counts requests by route and status and records their duration.
pub async fn http_metrics(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("tlsrpt_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("tlsrpt_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

type MakeSpan = fn(&axum::http::Request<axum::body::Body>) -> tracing::Span;
type TraceLayer = tower_http::trace::TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    MakeSpan,
>;

/// Request logs: one span per request carrying the request id, one line per response.
pub fn trace_layer() -> TraceLayer {
    fn make_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
        let request_id = request
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.uri().path(),
            request_id = %request_id,
        )
    }
    tower_http::trace::TraceLayer::new_for_http()
        .make_span_with(make_span as MakeSpan)
        .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO))
}

#[cfg(test)]
mod tests {
    use super::DomainLabels;

    #[test]
    fn domains_past_the_cap_share_the_other_label() {
        let labels = DomainLabels::new(2);
        assert_eq!(labels.label("a.example"), "a.example");
        assert_eq!(labels.label("b.example"), "b.example");
        assert_eq!(labels.label("c.example"), "other");
        assert_eq!(
            labels.label("a.example"),
            "a.example",
            "a labelled domain keeps it"
        );
        assert_eq!(labels.label("d.example"), "other");
    }
}
