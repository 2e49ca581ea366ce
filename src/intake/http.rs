//! RFC 8460 §5.4 HTTPS intake: `POST /v1/reports`.
//!
//! In: an HTTP request from a reporting MTA. Out: the body handed to
//! `pipeline::ingest` and a JSON answer that exists only after the commit:
//! 201 stored, 200 duplicate, 400 not a valid report (body quarantined), 408 body too
//! slow, 413 too large, 415 unknown media type, 429 rate limited (with `Retry-After`),
//! 503 store unavailable (the sender retries).

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http_body_util::BodyExt;
use serde_json::json;

use crate::config::HttpArgs;
use crate::pipeline::{self, IngestError, Limits, Verdict};
use crate::report::{Source, Submission};
use crate::store::Store;

/// How long a 503 asks the sender to wait before retrying: long enough for a database
/// restart, short next to RFC 8460's daily cadence.
const RETRY_AFTER_STORE_DOWN: &str = "60";

/// Client IPs remembered by the rate limiter before idle ones are forgotten; bounds the
/// limiter's memory when many addresses send once.
const RATE_LIMITER_SHRINK_AT: usize = 10_000;

#[derive(Clone)]
struct IntakeState {
    store: Store,
    limits: Arc<Limits>,
    max_body_bytes: usize,
    body_timeout: Duration,
    rate: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
}

pub fn router(store: Store, limits: Limits, http: &HttpArgs) -> axum::Router {
    let rate = NonZeroU32::new(http.rate_limit).map(|per_second| {
        let burst = NonZeroU32::new(http.rate_burst).unwrap_or(per_second);
        Arc::new(RateLimiter::keyed(
            Quota::per_second(per_second).allow_burst(burst),
        ))
    });
    let state = IntakeState {
        store,
        limits: Arc::new(limits),
        max_body_bytes: http.max_body_bytes,
        body_timeout: http.body_timeout,
        rate,
    };
    axum::Router::new()
        .route("/v1/reports", post(submit))
        .with_state(state)
}

/// A JSON error answer: `{"status": "...", "error": {"code": "...", "message": "..."}}`.
pub fn error_response(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let label = if status.is_server_error() {
        "error"
    } else {
        "rejected"
    };
    (
        status,
        Json(json!({
            "status": label,
            "error": { "code": code, "message": message.into() },
        })),
    )
        .into_response()
}

async fn submit(
    State(state): State<IntakeState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(limiter) = &state.rate {
        if let Err(not_until) = limiter.check_key(&peer.ip()) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            metrics::counter!("tlsrpt_http_rate_limited_total").increment(1);
            let mut response = error_response(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                format!(
                    "too many submissions from {}; retry in {seconds} s",
                    peer.ip()
                ),
            );
            if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
        if limiter.len() > RATE_LIMITER_SHRINK_AT {
            limiter.retain_recent();
        }
    }

    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|len| len > state.max_body_bytes as u64) {
        return too_large(state.max_body_bytes);
    }
    let limited = http_body_util::Limited::new(body, state.max_body_bytes);
    let raw = match tokio::time::timeout(state.body_timeout, limited.collect()).await {
        Err(_) => {
            return error_response(
                StatusCode::REQUEST_TIMEOUT,
                "body-timeout",
                format!(
                    "the request body did not arrive within {} s",
                    state.body_timeout.as_secs()
                ),
            );
        }
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return too_large(state.max_body_bytes);
        }
        Ok(Err(e)) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "body-read-error",
                format!("could not read the request body: {e}"),
            );
        }
        Ok(Ok(collected)) => collected.to_bytes().to_vec(),
    };

    let header_text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header_text(header::CONTENT_TYPE);
    let submission = Submission {
        source: Source::Https,
        peer: Some(peer.ip().to_string()),
        envelope: json!({
            "peer": peer.to_string(),
            "content_type": content_type,
            "content_encoding": header_text(header::CONTENT_ENCODING),
            "user_agent": header_text(header::USER_AGENT),
            "request_id": headers.get("x-request-id").and_then(|v| v.to_str().ok()),
        }),
        content_type,
        received_at: Utc::now(),
        raw,
    };
    match pipeline::ingest(&state.store, &state.limits, submission).await {
        Err(IngestError::Store(e)) => {
            tracing::error!(error = %e, "cannot commit an HTTPS submission");
            let mut response = error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "store-unavailable",
                "the report could not be stored right now; please retry later",
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_STORE_DOWN),
            );
            response
        }
        Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
        Ok(outcome) => {
            let verdict = outcome.verdict();
            match verdict {
                Verdict::Stored | Verdict::Duplicate | Verdict::Partial => {
                    let first_stored = outcome
                        .reports
                        .iter()
                        .find(|r| matches!(r.outcome, crate::store::ReportOutcome::Stored { .. }))
                        .or(outcome.reports.first());
                    // 201 only when something new was committed; all duplicates is 200.
                    let any_stored = outcome
                        .reports
                        .iter()
                        .any(|r| matches!(r.outcome, crate::store::ReportOutcome::Stored { .. }));
                    let (status, label) = if any_stored {
                        (StatusCode::CREATED, "stored")
                    } else {
                        (StatusCode::OK, "duplicate")
                    };
                    (
                        status,
                        Json(json!({
                            "status": label,
                            "id": first_stored.map(|r| r.outcome.id()),
                            "reports": outcome.reports,
                            "rejections": outcome.rejections,
                        })),
                    )
                        .into_response()
                }
                Verdict::Rejected => {
                    let first = outcome.first_reason();
                    let code = first.map_or("no-report", |r| r.code.as_str());
                    let status = match code {
                        "too-large" => StatusCode::PAYLOAD_TOO_LARGE,
                        "unsupported-media-type" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        _ => StatusCode::BAD_REQUEST,
                    };
                    (
                        status,
                        Json(json!({
                            "status": "rejected",
                            "error": {
                                "code": code,
                                "message": first.map_or("no TLS-RPT report found", |r| r.reason.as_str()),
                            },
                            "quarantine_id": first.map(|r| r.quarantine_id),
                        })),
                    )
                        .into_response()
                }
            }
        }
    }
}

fn too_large(limit: usize) -> Response {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body-too-large",
        format!("the request body is larger than the {limit} bytes accepted"),
    )
}
