//! The JSON query API under `/api/v1`.
//!
//! In: HTTP GET requests (with a bearer token when one is configured). Out: JSON read
//! from the store only — domains, domain summary, daily time series, reports with
//! filters and cursor pagination, one report, its raw bytes, rejections — and the
//! OpenAPI 3 document of these routes, generated from the handlers below.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::posture::check::PostureResult;
use crate::store::{
    Alert, DayCounts, DomainOverview, DomainSummary, Notice, Page, PostureChange, Rejection,
    ReportFilter, ReportListItem, Store, StoreError, StoredReport, TimeRange,
};
use crate::watch::posture::{LatestPosture, PostureWatch, RefreshError};
use crate::watch::readiness::{Readiness, ReadinessOptions};

/// Range used when a request names none: the last 30 days, as the dashboard shows.
const DEFAULT_RANGE_DAYS: u64 = 30;

/// Page size when `limit` is absent.
const DEFAULT_PAGE: u32 = 100;

/// Changes of state listed by `.../posture/history` when the request names no limit.
const DEFAULT_HISTORY: u32 = 100;

#[derive(Clone)]
struct ApiState {
    store: Store,
    posture: PostureWatch,
    readiness: ReadinessOptions,
    token: Option<Arc<str>>,
}

pub fn router(
    store: Store,
    posture: PostureWatch,
    readiness: ReadinessOptions,
    token: Option<String>,
) -> axum::Router {
    let state = ApiState {
        store,
        posture,
        readiness,
        token: token.filter(|t| !t.is_empty()).map(Arc::from),
    };
    axum::Router::new()
        .route("/domains", get(domains))
        .route("/domains/{domain}/summary", get(domain_summary))
        .route("/domains/{domain}/timeseries", get(timeseries))
        .route("/domains/{domain}/posture", get(domain_posture))
        .route("/domains/{domain}/posture/history", get(posture_history))
        .route("/domains/{domain}/readiness", get(domain_readiness))
        .route("/alerts", get(alerts))
        .route("/notifications", get(notifications))
        .route("/reports", get(reports))
        .route("/reports/{id}", get(report))
        .route("/reports/{id}/raw", get(report_raw))
        .route("/rejections", get(rejections))
        .route("/openapi.json", get(openapi))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ))
        .with_state(state)
}

/// A JSON error: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    error: ErrorBody,
}

#[derive(Debug, Serialize, ToSchema)]
struct ErrorBody {
    code: String,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error: ErrorBody {
                code: code.to_owned(),
                message: message.into(),
            },
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", message)
    }

    fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("{what} not found"),
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidCursor(c) => {
                ApiError::bad_request(format!("cursor {c:?} is not one this API returned"))
            }
            other => {
                tracing::error!(error = %other, "query failed");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store-unavailable",
                    "the store cannot answer right now",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self)).into_response()
    }
}

async fn require_token(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        return next.run(request).await;
    };
    if bearer_matches(request.headers(), token) {
        return next.run(request).await;
    }
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "this API requires `Authorization: Bearer <token>`",
    )
    .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"tlsrptd\""),
    );
    response
}

/// Whether the request carries `Authorization: Bearer <token>` with this token (the API
/// and `/metrics` share it).
pub fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes()))
}

/// Compares without an early exit, so response timing does not reveal how much of a
/// guessed token was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `from`/`to`: RFC 3339 timestamps or plain dates (UTC). A date in `to` includes that
/// whole day. Both default to the last 30 days.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeParams {
    /// Start (inclusive): `2024-10-01` or `2024-10-01T00:00:00Z`.
    from: Option<String>,
    /// End: a timestamp (exclusive) or a date (that day included).
    to: Option<String>,
}

fn parse_instant(name: &str, value: &str, end: bool) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(day) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let day = if end {
            day.checked_add_days(Days::new(1))
                .ok_or_else(|| ApiError::bad_request(format!("{name}: date out of range")))?
        } else {
            day
        };
        return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    Err(ApiError::bad_request(format!(
        "{name}={value:?}: expected an RFC 3339 timestamp (2024-10-01T00:00:00Z) or a date (2024-10-01)"
    )))
}

impl RangeParams {
    fn range(&self) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
        let to = match &self.to {
            Some(v) => parse_instant("to", v, true)?,
            None => Utc::now(),
        };
        let from = match &self.from {
            Some(v) => parse_instant("from", v, false)?,
            None => to
                .checked_sub_days(Days::new(DEFAULT_RANGE_DAYS))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        };
        if from >= to {
            return Err(ApiError::bad_request(format!(
                "from ({from}) must be before to ({to})"
            )));
        }
        Ok((from, to))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DomainList {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    domains: Vec<DomainOverview>,
}

/// Every policy domain with reports in the range.
#[utoipa::path(get, path = "/api/v1/domains", params(RangeParams),
    responses((status = 200, body = DomainList), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
async fn domains(
    State(state): State<ApiState>,
    Query(params): Query<RangeParams>,
) -> Result<Json<DomainList>, ApiError> {
    let (from, to) = params.range()?;
    let domains = state.store.list_domains(TimeRange::new(from, to)).await?;
    Ok(Json(DomainList { from, to, domains }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryResponse {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    #[serde(flatten)]
    summary: DomainSummary,
}

/// Totals, failure rate and breakdowns for one policy domain.
#[utoipa::path(get, path = "/api/v1/domains/{domain}/summary",
    params(("domain" = String, Path, description = "policy domain"), RangeParams),
    responses((status = 200, body = SummaryResponse), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
async fn domain_summary(
    State(state): State<ApiState>,
    Path(domain): Path<String>,
    Query(params): Query<RangeParams>,
) -> Result<Json<SummaryResponse>, ApiError> {
    let (from, to) = params.range()?;
    let summary = state
        .store
        .domain_summary(&domain, TimeRange::new(from, to))
        .await?;
    Ok(Json(SummaryResponse { from, to, summary }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Timeseries {
    domain: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    days: Vec<DayCounts>,
}

/// Successful and failed sessions per UTC day (every day of the range present).
#[utoipa::path(get, path = "/api/v1/domains/{domain}/timeseries",
    params(("domain" = String, Path, description = "policy domain"), RangeParams),
    responses((status = 200, body = Timeseries), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
async fn timeseries(
    State(state): State<ApiState>,
    Path(domain): Path<String>,
    Query(params): Query<RangeParams>,
) -> Result<Json<Timeseries>, ApiError> {
    let (from, to) = params.range()?;
    let days = state
        .store
        .timeseries(&domain, TimeRange::new(from, to))
        .await?;
    Ok(Json(Timeseries {
        domain: crate::store::normalize_domain(&domain),
        from,
        to,
        days,
    }))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// Only reports with a policy for this domain.
    domain: Option<String>,
    /// Only reports from this organization (exact `organization-name`).
    organization: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// Page size, 1–1000 (default 100).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Reports, newest first, with cursor pagination.
#[utoipa::path(get, path = "/api/v1/reports", params(ReportParams),
    responses((status = 200, body = Page<ReportListItem>), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
async fn reports(
    State(state): State<ApiState>,
    Query(params): Query<ReportParams>,
) -> Result<Json<Page<ReportListItem>>, ApiError> {
    let (from, to) = RangeParams {
        from: params.from.clone(),
        to: params.to.clone(),
    }
    .range()?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > crate::store::MAX_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {}",
            crate::store::MAX_PAGE
        )));
    }
    let filter = ReportFilter {
        domain: params.domain.filter(|d| !d.is_empty()),
        organization: params.organization.filter(|o| !o.is_empty()),
        range: Some(TimeRange::new(from, to)),
    };
    Ok(Json(
        state
            .store
            .list_reports(&filter, limit, params.cursor.as_deref())
            .await?,
    ))
}

/// One report: normalized content, warnings, source and received time.
#[utoipa::path(get, path = "/api/v1/reports/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = StoredReport), (status = 404, body = ApiError), (status = 401, body = ApiError)))]
async fn report(
    State(state): State<ApiState>,
    Path(id): Path<i64>,
) -> Result<Json<StoredReport>, ApiError> {
    state
        .store
        .get_report(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(&format!("report {id}")))
}

/// The submission bytes that carried the report, exactly as received.
#[utoipa::path(get, path = "/api/v1/reports/{id}/raw", params(("id" = i64, Path)),
    responses((status = 200, description = "the original bytes", content_type = "application/octet-stream"),
              (status = 404, body = ApiError), (status = 401, body = ApiError)))]
async fn report_raw(
    State(state): State<ApiState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let raw = state
        .store
        .get_report_raw(id)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("report {id}")))?;
    let content_type = sniffed_type(&raw.bytes);
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment"),
            ),
        ],
        raw.bytes,
    )
        .into_response())
}

/// A safe content type for raw bytes: never `text/html`, whatever the sender claimed.
fn sniffed_type(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        "application/gzip"
    } else if bytes.starts_with(b"PK\x03\x04") {
        "application/zip"
    } else if bytes.trim_ascii_start().starts_with(b"{") {
        "application/json"
    } else {
        "application/octet-stream"
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1–1000 (default 100).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Quarantined submissions with the reason, newest first.
#[utoipa::path(get, path = "/api/v1/rejections", params(PageParams),
    responses((status = 200, body = Page<Rejection>), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
async fn rejections(
    State(state): State<ApiState>,
    Query(params): Query<PageParams>,
) -> Result<Json<Page<Rejection>>, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > crate::store::MAX_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {}",
            crate::store::MAX_PAGE
        )));
    }
    Ok(Json(
        state
            .store
            .list_rejections(limit, params.cursor.as_deref())
            .await?,
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PostureParams {
    /// `true`: check the domain now (429 with Retry-After when its result is younger
    /// than `--posture-refresh-interval`, 409 while another check of it runs).
    refresh: Option<bool>,
}

/// A domain's latest posture check.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostureResponse {
    #[serde(flatten)]
    #[schema(value_type = PostureResult)]
    result: serde_json::Value,
    /// When the schedule checks it next; absent when the schedule is off.
    next_check_at: Option<DateTime<Utc>>,
}

impl From<LatestPosture> for PostureResponse {
    fn from(latest: LatestPosture) -> Self {
        PostureResponse {
            result: latest.result,
            next_check_at: latest.next_check_at,
        }
    }
}

/// The domain name of a posture route, normalized as the checks name it.
fn posture_domain(domain: &str) -> Result<String, ApiError> {
    crate::posture::domain::normalize(domain).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-domain",
            format!("{domain:?}: {e}"),
        )
    })
}

/// The latest check of a domain's live TLS-RPT, MTA-STS and MX setup: its state, every
/// finding with its fix, and the facts found; `?refresh=true` checks it now.
#[utoipa::path(get, path = "/api/v1/domains/{domain}/posture",
    params(("domain" = String, Path, description = "domain name (Unicode names are converted to their ASCII form)"), PostureParams),
    responses((status = 200, body = PostureResponse), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 404, body = ApiError, description = "not checked yet"),
        (status = 409, body = ApiError, description = "a check of the domain is running"),
        (status = 429, body = ApiError, description = "checked too recently to check again; see Retry-After")))]
async fn domain_posture(
    State(state): State<ApiState>,
    Path(domain): Path<String>,
    Query(params): Query<PostureParams>,
) -> Result<Json<PostureResponse>, Response> {
    let domain = posture_domain(&domain).map_err(IntoResponse::into_response)?;
    if params.refresh == Some(true) {
        return match state.posture.refresh(&domain).await {
            Ok(latest) => Ok(Json(latest.into())),
            Err(RefreshError::TooSoon { retry_after, .. }) => {
                let message = format!(
                    "{domain} was checked less than --posture-refresh-interval ago; ask again in {retry_after} s"
                );
                let mut response =
                    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "refresh-too-soon", message)
                        .into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                Err(response)
            }
            Err(e @ RefreshError::Running(_)) => {
                Err(
                    ApiError::new(StatusCode::CONFLICT, "check-running", e.to_string())
                        .into_response(),
                )
            }
            Err(RefreshError::Store(e)) => Err(ApiError::from(e).into_response()),
        };
    }
    match state.posture.latest(&domain).await {
        Ok(Some(latest)) => Ok(Json(latest.into())),
        Ok(None) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not-checked",
            format!("{domain} has not been checked yet; ask for a check with ?refresh=true"),
        )
        .into_response()),
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Changes listed, 1–1000 (default 100).
    limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PostureHistory {
    domain: String,
    /// Newest first.
    changes: Vec<PostureChange>,
}

/// Every change of a domain's posture state (the first check included), newest first.
#[utoipa::path(get, path = "/api/v1/domains/{domain}/posture/history",
    params(("domain" = String, Path, description = "domain name"), HistoryParams),
    responses((status = 200, body = PostureHistory), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
async fn posture_history(
    State(state): State<ApiState>,
    Path(domain): Path<String>,
    Query(params): Query<HistoryParams>,
) -> Result<Json<PostureHistory>, ApiError> {
    let domain = posture_domain(&domain)?;
    let limit = params.limit.unwrap_or(DEFAULT_HISTORY);
    if limit == 0 || limit > crate::store::MAX_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {}",
            crate::store::MAX_PAGE
        )));
    }
    let changes = state
        .store
        .posture_history(&domain, i64::from(limit))
        .await?;
    Ok(Json(PostureHistory { domain, changes }))
}

/// Whether the domain's MTA-STS policy can move from `testing` to `enforce`: the verdict
/// (`ready`, `not-ready`, `insufficient-data` or `enforced`), every reason that decided
/// it, and the sessions `enforce` would have refused over the judged days.
#[utoipa::path(get, path = "/api/v1/domains/{domain}/readiness",
    params(("domain" = String, Path, description = "policy domain")),
    responses((status = 200, body = Readiness), (status = 401, body = ApiError)))]
async fn domain_readiness(
    State(state): State<ApiState>,
    Path(domain): Path<String>,
) -> Result<Json<Readiness>, ApiError> {
    let domain = crate::store::normalize_domain(&domain);
    let readiness =
        crate::watch::readiness::evaluate(&state.store, &domain, state.readiness, Utc::now())
            .await?;
    Ok(Json(readiness))
}

/// Alerts or notifications listed when the request names no limit.
const DEFAULT_ALERTS: u32 = 100;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertParams {
    /// Only this policy domain's alerts.
    domain: Option<String>,
    /// `open` or `resolved`; both when absent.
    state: Option<String>,
    /// 1–1000 (default 100).
    limit: Option<u32>,
}

fn list_limit(limit: Option<u32>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_ALERTS);
    if limit == 0 || limit > crate::store::MAX_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {}",
            crate::store::MAX_PAGE
        )));
    }
    Ok(i64::from(limit))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertList {
    /// Newest first.
    alerts: Vec<Alert>,
}

/// Open and recent alerts, newest first: each with its rule, severity, the numbers that
/// triggered it, the explanation and the fix.
#[utoipa::path(get, path = "/api/v1/alerts", params(AlertParams),
    responses((status = 200, body = AlertList), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
async fn alerts(
    State(state): State<ApiState>,
    Query(params): Query<AlertParams>,
) -> Result<Json<AlertList>, ApiError> {
    let filter = params.state.as_deref().unwrap_or_default();
    if !["", "open", "resolved"].contains(&filter) {
        return Err(ApiError::bad_request(format!(
            "state={filter:?}: expected open or resolved"
        )));
    }
    let domain = params
        .domain
        .as_deref()
        .map(crate::store::normalize_domain)
        .unwrap_or_default();
    let alerts = state
        .store
        .list_alerts(&domain, filter, list_limit(params.limit)?)
        .await?;
    Ok(Json(AlertList { alerts }))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NoticeParams {
    /// `pending`, `sent` or `failed`; all when absent.
    state: Option<String>,
    /// 1–1000 (default 100).
    limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeList {
    /// Newest first.
    notifications: Vec<Notice>,
}

/// Notifications of alerts to their channels, newest first, with their delivery state,
/// attempts, next try and last error.
#[utoipa::path(get, path = "/api/v1/notifications", params(NoticeParams),
    responses((status = 200, body = NoticeList), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
async fn notifications(
    State(state): State<ApiState>,
    Query(params): Query<NoticeParams>,
) -> Result<Json<NoticeList>, ApiError> {
    let filter = params.state.as_deref().unwrap_or_default();
    if !["", "pending", "sent", "failed"].contains(&filter) {
        return Err(ApiError::bad_request(format!(
            "state={filter:?}: expected pending, sent or failed"
        )));
    }
    let notifications = state
        .store
        .list_notices(filter, list_limit(params.limit)?)
        .await?;
    Ok(Json(NoticeList { notifications }))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "tlsrptd query API", description = "Read access to stored SMTP TLS reports (RFC 8460) and to the posture checks of each domain's live setup."),
    paths(domains, domain_summary, timeseries, domain_posture, posture_history, domain_readiness, alerts, notifications, reports, report, report_raw, rejections, openapi),
    components(schemas(ApiError)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json",
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json")))]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_timestamps() {
        let p = RangeParams {
            from: Some("2024-10-01".into()),
            to: Some("2024-10-03".into()),
        };
        let (from, to) = p.range().unwrap();
        assert_eq!(from.to_rfc3339(), "2024-10-01T00:00:00+00:00");
        assert_eq!(
            to.to_rfc3339(),
            "2024-10-04T00:00:00+00:00",
            "a date in `to` is included"
        );
        let p = RangeParams {
            from: Some("2024-10-01T12:00:00+02:00".into()),
            to: Some("2024-10-01T12:00:01Z".into()),
        };
        assert_eq!(
            p.range().unwrap().0.to_rfc3339(),
            "2024-10-01T10:00:00+00:00"
        );
        assert!(
            RangeParams {
                from: Some("yesterday".into()),
                to: None
            }
            .range()
            .is_err()
        );
        let reversed = RangeParams {
            from: Some("2024-10-05".into()),
            to: Some("2024-10-01".into()),
        };
        assert!(reversed.range().is_err());
    }

    #[test]
    fn default_range_is_thirty_days() {
        let (from, to) = RangeParams::default().range().unwrap();
        assert_eq!((to - from).num_days(), 30);
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
