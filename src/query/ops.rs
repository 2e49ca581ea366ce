//! Operational endpoints: `/healthz` (the process answers), `/readyz` (the store
//! answers) and `/metrics` (Prometheus text format).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::store::Store;

/// Health, readiness and metrics: what the read side serves. With a token, `/metrics`
/// asks for it as the API does: its series name policy domains and their failures.
pub fn router(store: Store, token: Option<String>) -> axum::Router {
    health_router(store).merge(
        axum::Router::new()
            .route("/metrics", get(metrics))
            .with_state(token),
    )
}

/// Health and readiness only: what a public intake listener serves beside the intake.
pub fn health_router(store: Store) -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(store)
}

/// The answer of an intake listener to anything but the intake and health checks.
pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": {"code": "not-found", "message": "this listener serves only POST /v1/reports, /healthz and /readyz"}})),
    )
        .into_response()
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(store): State<Store>) -> Response {
    match store.ping().await {
        Ok(()) => Json(json!({"status": "ready", "store": store.backend_name()})).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "error": {"code": "store-unavailable", "message": e.to_string()}})),
        )
            .into_response(),
    }
}

async fn metrics(State(token): State<Option<String>>, headers: HeaderMap) -> Response {
    if let Some(token) = &token
        && !super::api::bearer_matches(&headers, token)
    {
        return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"tlsrptd\"")],
                Json(json!({"error": {"code": "unauthorized", "message": "/metrics requires `Authorization: Bearer <token>`"}})),
            )
                .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::render_metrics(),
    )
        .into_response()
}
