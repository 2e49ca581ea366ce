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

use crate::pipeline::{
    Acknowledgement, Envelope, HttpsEnvelope, IngestError, Pipeline, RejectCode, Submission,
};

/// How long a 503 asks the sender to wait before retrying: long enough for a database
/// restart, short next to RFC 8460's daily cadence.
const RETRY_AFTER_STORE_DOWN: &str = "60";

/// Client IPs remembered by the rate limiter before idle ones are forgotten; bounds the
/// limiter's memory when many addresses send once.
const RATE_LIMITER_SHRINK_AT: usize = 10_000;

/// The HTTPS intake's settings.
#[derive(Debug, Clone)]
pub struct HttpIntakeConfig {
    /// Largest request body read; a bigger one is refused with 413 before it is read.
    pub max_body_bytes: usize,
    /// Time allowed for the whole body to arrive (408 after).
    pub body_timeout: Duration,
    /// Submissions per second per client IP (0 disables), with this burst.
    pub rate_limit: u32,
    pub rate_burst: u32,
}

#[derive(Clone)]
struct IntakeState {
    pipeline: Pipeline,
    max_body_bytes: usize,
    body_timeout: Duration,
    rate: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
}

pub fn router(pipeline: Pipeline, config: &HttpIntakeConfig) -> axum::Router {
    let rate = NonZeroU32::new(config.rate_limit).map(|per_second| {
        let burst = NonZeroU32::new(config.rate_burst).unwrap_or(per_second);
        Arc::new(RateLimiter::keyed(
            Quota::per_second(per_second).allow_burst(burst),
        ))
    });
    let state = IntakeState {
        pipeline,
        max_body_bytes: config.max_body_bytes,
        body_timeout: config.body_timeout,
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
        envelope: Envelope::Https(HttpsEnvelope {
            peer,
            content_type: content_type.clone(),
            content_encoding: header_text(header::CONTENT_ENCODING),
            user_agent: header_text(header::USER_AGENT),
            request_id: header_text(header::HeaderName::from_static("x-request-id")),
        }),
        content_type,
        received_at: Utc::now(),
        raw,
    };
    let outcome = match state.pipeline.ingest(submission).await {
        Ok(outcome) => outcome,
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
            return response;
        }
        Err(e) => {
            return error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string());
        }
    };
    let (status, label, id) = match outcome.acknowledgement() {
        Some(Acknowledgement::Stored(id)) => (StatusCode::CREATED, "stored", id),
        Some(Acknowledgement::Duplicate(id)) => (StatusCode::OK, "duplicate", id),
        None => {
            let first = outcome.first_rejection();
            let code = first.map_or(RejectCode::NoReport, |r| r.code);
            return (
                code.http_status(),
                Json(json!({
                    "status": "rejected",
                    "error": {
                        "code": code,
                        "message": first.map_or("no TLS-RPT report found", |r| r.reason.as_str()),
                    },
                    "quarantine_id": first.map(|r| r.quarantine_id),
                })),
            )
                .into_response();
        }
    };
    (
        status,
        Json(json!({
            "status": label,
            "id": id,
            "reports": outcome.reports,
            "rejections": outcome.rejections,
        })),
    )
        .into_response()
}

fn too_large(limit: usize) -> Response {
    let code = RejectCode::BodyTooLarge;
    error_response(
        code.http_status(),
        code.as_str(),
        format!("the request body is larger than the {limit} bytes accepted"),
    )
}
