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
/// Seconds a sender deferred by a full decompression budget should wait: a burst of
/// oversized submissions clears in seconds.
const RETRY_AFTER_BUSY: &str = "10";

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
    version: axum::http::Version,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // On HTTP/2 a refusal is answered after the rest of the request has been read and
    // thrown away (see `after_draining`); on HTTP/1.1 at once, and the connection closes.
    let h2 = version == axum::http::Version::HTTP_2;
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
            return after_draining(response, h2.then_some(body), state.body_timeout).await;
        }
        if limiter.len() > RATE_LIMITER_SHRINK_AT {
            limiter.retain_recent();
        }
    }

    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared_length.filter(|len| *len > state.max_body_bytes as u64) {
        // Decided from the header alone; on HTTP/2 a body of sane size is still read
        // (and dropped) first, so the client gets the answer.
        let drain = h2 && len <= DRAIN_MAX_BYTES as u64;
        let response = too_large(state.max_body_bytes);
        return after_draining(response, drain.then_some(body), state.body_timeout).await;
    }
    let mut body = body;
    // The declared size up front, so the body lands in one buffer instead of one grown
    // to twice its size; at most PRESIZE_MAX, so a header that lies costs little.
    let presize = declared_length.unwrap_or(0).min(PRESIZE_MAX as u64) as usize;
    let mut raw: Vec<u8> = Vec::with_capacity(presize);
    let deadline = tokio::time::Instant::now() + state.body_timeout;
    loop {
        match tokio::time::timeout_at(deadline, body.frame()).await {
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
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "body-read-error",
                    format!("could not read the request body: {e}"),
                );
            }
            Ok(Some(Ok(frame))) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                if raw.len() + data.len() > state.max_body_bytes {
                    let response = too_large(state.max_body_bytes);
                    return after_draining(response, h2.then_some(body), state.body_timeout).await;
                }
                raw.extend_from_slice(&data);
            }
        }
    }

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
            return retry_later(
                "store-unavailable",
                "the report could not be stored right now; please retry later",
                RETRY_AFTER_STORE_DOWN,
            );
        }
        Err(IngestError::Busy) => {
            tracing::warn!("in-flight decompression budget full: HTTPS submission deferred");
            return retry_later(
                "busy",
                "too many reports are being decompressed at once; please retry shortly",
                RETRY_AFTER_BUSY,
            );
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

/// Largest buffer reserved from `Content-Length` before the body arrives: bigger than
/// almost every report, small enough that a thousand idle connections claiming 10 MiB
/// reserve only a gigabyte of address space and no resident memory.
const PRESIZE_MAX: usize = 1024 * 1024;

/// Most request bytes read and thrown away before an HTTP/2 refusal: beyond, the answer
/// goes out at once and the stream is reset (a client sending gigabytes gets its answer
/// and the reset).
const DRAIN_MAX_BYTES: usize = 64 * 1024 * 1024;

/// `response` at once, or on HTTP/2 (`body` given) once the rest of the request is read
/// and discarded (up to [`DRAIN_MAX_BYTES`] and `timeout`). Answered mid-upload, HTTP/2
/// clients such as curl end their stream short of its `content-length`, which the
/// protocol must treat as an error, so the answer is lost; after the upload it arrives
/// whole and the stream ends cleanly. Nothing read is kept.
async fn after_draining(response: Response, body: Option<Body>, timeout: Duration) -> Response {
    let Some(mut body) = body else {
        return response;
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let mut drained = 0usize;
    while drained <= DRAIN_MAX_BYTES {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => drained += frame.data_ref().map_or(0, |d| d.len()),
            _ => break,
        }
    }
    response
}

/// 503 with `code`, `message` and `Retry-After: seconds`: nothing was acknowledged.
fn retry_later(code: &str, message: &str, seconds: &'static str) -> Response {
    let mut response = error_response(StatusCode::SERVICE_UNAVAILABLE, code, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static(seconds));
    response
}

fn too_large(limit: usize) -> Response {
    let code = RejectCode::BodyTooLarge;
    error_response(
        code.http_status(),
        code.as_str(),
        format!("the request body is larger than the {limit} bytes accepted"),
    )
}
