//! Operational endpoints: `/healthz` (the process answers), `/readyz` (the store
//! answers) and `/metrics` (Prometheus text format).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::store::Store;

/// Health, readiness and metrics: what the read side serves.
pub fn router(store: Store) -> axum::Router {
    health_router(store).route("/metrics", get(metrics))
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

async fn metrics() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::render_metrics(),
    )
        .into_response()
}
