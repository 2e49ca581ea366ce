//! The web dashboard: where TLS delivery fails, per policy domain, at a glance.
//!
//! In: browser GET requests (and the `POST /login` / `POST /logout` forms), with the date
//! range and filters in the query string so every view is bookmarkable. Out: HTML pages
//! rendered server-side from askama templates compiled into the binary (overview, domain
//! page with SVG charts, report list, report page, rejections, login) and the stylesheet
//! under `/assets/`. Reads only from the [`Store`]; never from intake code.
//!
//! Security: askama escapes every interpolated value (report strings are never marked
//! safe); every response carries a Content-Security-Policy that forbids inline script and
//! inline style, and `X-Content-Type-Options: nosniff`. When an API token is configured,
//! every page except `/login` and `/assets/` requires the session cookie set by the login
//! form: an HMAC-SHA256 of a fixed label keyed with the token, `HttpOnly; Secure;
//! SameSite=Strict`.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, LazyLock};

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

mod alerts;
mod auth;
mod chart;
mod domain;
mod overview;
mod posture;
mod range;
mod readiness;
mod rejections;
mod reports;

use alerts::*;
use auth::*;
use chart::*;
use domain::*;
use overview::*;
use posture::*;
use range::*;
use readiness::*;
use rejections::*;
use reports::*;

use crate::query::api::constant_time_eq;
use crate::watch::posture::PostureWatch;
use crate::watch::readiness::ReadinessOptions;

use crate::store::{
    DayCounts, DomainSummary, ReportFilter, Store, StoreError, StoredReport, TimeRange,
};

/// The Content-Security-Policy of every dashboard response.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Name of the session cookie set by `/login`.
pub const SESSION_COOKIE: &str = "tlsrptd_session";

const CSS: &str = include_str!("../assets/dashboard.css");

/// Cache-busting suffix for the stylesheet URL (the asset is served with a long max-age).
static CSS_VERSION: LazyLock<String> =
    LazyLock::new(|| hex::encode(&Sha256::digest(CSS.as_bytes())[..6]));

/// Default range when the query string names none.
const DEFAULT_DAYS: u32 = 30;
/// Longest preset-style range accepted in `days=` (10 years, as the store's series bound).
const MAX_DAYS: u32 = 3660;
/// Reports per page in the report list and rejections.
const PAGE: u32 = 50;
/// Domains that get a trend sparkline on the overview: a page of thousands of small
/// charts would be slow to render and to read.
const SPARKLINES: usize = 200;
/// Bars in a sparkline at most: one per day up to a month, wider buckets beyond (90 bars
/// of a 120-pixel sparkline would be thinner than a pixel).
const SPARKLINE_POINTS: u32 = 31;
/// Longest report string shown in lists before it is cut (full text on the report page).
const SHORT: usize = 120;
/// Largest raw submission shown inline on a report page (decompressed).
const RAW_INLINE: usize = 512 * 1024;

#[derive(Clone)]
struct DashState {
    store: Store,
    /// The latest posture check of each domain.
    posture: PostureWatch,
    /// What the readiness panel judges against.
    readiness: ReadinessOptions,
    token: Option<Arc<str>>,
    /// SHA-256 hex of the token: the sessions opened under it.
    token_hash: Option<Arc<str>>,
    /// How long a sign-in lasts.
    session_lifetime: std::time::Duration,
    logins: Arc<LoginLimiter>,
}

/// The dashboard routes; merge into the app router.
pub fn router(
    store: Store,
    posture: PostureWatch,
    readiness: ReadinessOptions,
    token: Option<String>,
    session_lifetime: std::time::Duration,
) -> axum::Router {
    let token: Option<Arc<str>> = token.filter(|t| !t.is_empty()).map(Arc::from);
    let state = DashState {
        store,
        posture,
        readiness,
        token_hash: token.as_deref().map(|t| Arc::from(sha256_hex(t))),
        token,
        session_lifetime,
        logins: Arc::default(),
    };
    let protected = axum::Router::new()
        .route("/", get(overview))
        .route("/domains/{domain}", get(domain_page))
        .route("/reports", get(reports_page))
        .route("/reports/{id}", get(report_page))
        .route("/reports/{id}/raw", get(report_raw))
        .route("/rejections", get(rejections_page))
        .route("/alerts", get(alerts_page))
        .route("/submissions/{id}/raw", get(submission_raw))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_session,
        ));
    axum::Router::new()
        .merge(protected)
        .route("/login", get(login_form).post(login_submit))
        .route("/logout", axum::routing::post(logout))
        .route("/assets/dashboard.css", get(css))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        // Not `no-referrer`: with it browsers send `Origin: null` on the dashboard's own
        // forms, which the cross-site check must refuse. `same-origin` still sends nothing
        // to other sites.
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn css() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        CSS,
    )
        .into_response()
}

fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "dashboard template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    ctx: Ctx,
    message: String,
}

struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    fn not_found(what: String) -> Self {
        PageError {
            status: StatusCode::NOT_FOUND,
            message: format!("{what} was not found."),
        }
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidCursor(_) => PageError {
                status: StatusCode::BAD_REQUEST,
                message: "That page link is not valid any more; start from the first page."
                    .to_owned(),
            },
            other => {
                tracing::error!(error = %other, "dashboard query failed");
                PageError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    message: "The database cannot answer right now. Try again in a moment."
                        .to_owned(),
                }
            }
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut response = render(&ErrorPage {
            ctx: Ctx::bare("Error", true),
            message: self.message,
        });
        *response.status_mut() = self.status;
        response
    }
}

struct Link {
    label: String,
    href: String,
    current: bool,
}

/// What the layout needs on every page.
struct Ctx {
    title: String,
    nav: &'static str,
    show_range: bool,
    range_label: String,
    range_error: Option<String>,
    presets: Vec<Link>,
    /// Form action of the custom-range picker and hidden filters it keeps.
    path: String,
    hidden: Vec<(String, String)>,
    from_input: String,
    to_input: String,
    /// `days=30` or `from=..&to=..`, for links that keep the range.
    qs: String,
    logout: bool,
    /// The main navigation (hidden on the login page, which cannot use it).
    show_nav: bool,
    css: String,
    /// Open alerts, for the count in the navigation.
    alerts_open: i64,
}

impl Ctx {
    /// A page without range picker or sign-out button (login, errors).
    fn bare(title: &str, show_nav: bool) -> Ctx {
        Ctx {
            title: title.to_owned(),
            nav: "",
            show_range: false,
            range_label: String::new(),
            range_error: None,
            presets: Vec::new(),
            path: "/".to_owned(),
            hidden: Vec::new(),
            from_input: String::new(),
            to_input: String::new(),
            qs: format!("days={DEFAULT_DAYS}"),
            logout: false,
            show_nav,
            css: format!("/assets/dashboard.css?v={}", *CSS_VERSION),
            alerts_open: 0,
        }
    }

    /// The page with the count of open alerts in its navigation.
    fn with_alerts(mut self, open: i64) -> Ctx {
        self.alerts_open = open;
        self
    }

    fn page(
        title: String,
        nav: &'static str,
        state: &DashState,
        range: &Range,
        path: String,
        hidden: Vec<(String, String)>,
    ) -> Ctx {
        let keep: String = hidden
            .iter()
            .map(|(k, v)| format!("&{k}={}", enc(v)))
            .collect();
        let presets = [7u32, 30, 90]
            .iter()
            .map(|&d| Link {
                label: format!("{d} days"),
                href: format!("{path}?days={d}{keep}"),
                current: range.days == Some(d),
            })
            .collect();
        Ctx {
            title,
            nav,
            show_range: true,
            range_label: range.label.clone(),
            range_error: range.error.clone(),
            presets,
            path,
            hidden,
            from_input: range.from_input.clone(),
            to_input: range.to_input.clone(),
            alerts_open: 0,
            qs: range.qs.clone(),
            logout: state.token.is_some(),
            show_nav: true,
            css: format!("/assets/dashboard.css?v={}", *CSS_VERSION),
        }
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986 §2.3), for path
/// segments and query values built here.
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Cuts a report string for list display (on a character boundary).
fn short(s: &str) -> String {
    match s.char_indices().nth(SHORT) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn pct(rate: f64) -> String {
    if rate > 0.0 && rate < 0.0001 {
        "<0.01%".to_owned()
    } else {
        format!("{:.2}%", rate * 100.0)
    }
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn health_class(failed: i64, rate: f64) -> &'static str {
    if failed == 0 {
        "ok"
    } else if rate >= 0.05 {
        "bad"
    } else {
        "warn"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_be_local() {
        assert_eq!(safe_next(Some("/reports?days=7")), "/reports?days=7");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn range_presets_and_custom() {
        let r = Range::from_params(&Params::default());
        assert_eq!((r.to - r.from).num_days(), 30);
        assert_eq!(r.qs, "days=30");
        let r = Range::from_params(&Params {
            from: Some("2024-10-01".into()),
            to: Some("2024-10-03".into()),
            ..Params::default()
        });
        assert_eq!(r.from.to_rfc3339(), "2024-10-01T00:00:00+00:00");
        assert_eq!(r.to.to_rfc3339(), "2024-10-04T00:00:00+00:00");
        let r = Range::from_params(&Params {
            from: Some("2024-10-05".into()),
            to: Some("2024-10-01".into()),
            ..Params::default()
        });
        assert!(r.error.is_some());
        assert_eq!(r.qs, "days=30");
        // Extreme dates give an error or a range, never a panic.
        for (from, to) in [
            (None, Some("+262142-12-31")),
            (Some("-262143-01-01"), None),
            (None, Some("0001-01-01")),
            (Some("not-a-date"), Some("2024-01-01")),
        ] {
            let _ = Range::from_params(&Params {
                from: from.map(str::to_owned),
                to: to.map(str::to_owned),
                ..Params::default()
            });
        }
    }

    #[test]
    fn policy_lines_are_parsed() {
        let lines = vec![
            "version: STSv1".to_owned(),
            "mode: enforce\r".to_owned(),
            "mx: mx1.example.com".to_owned(),
            "mx: *.example.net".to_owned(),
            "max_age: 604800".to_owned(),
        ];
        let (mode, mx, max_age) = parse_policy_lines(&lines);
        assert_eq!(mode, "enforce");
        assert_eq!(mx, ["mx1.example.com", "*.example.net"]);
        assert!(max_age.starts_with("604800 s (7.0 days)"));
    }

    #[test]
    fn dkim_outcome_in_words() {
        let v = serde_json::json!({"result": "pass", "aligned": true,
            "signing_domains": ["google.com"], "detail": "signature verified"});
        assert_eq!(
            describe_dkim(&v),
            "pass, aligned with the reporting domain; signed by d=google.com (signature verified)"
        );
        assert_eq!(describe_dkim(&serde_json::json!("none")), "none");
    }

    #[test]
    fn ports_are_stripped_for_mail() {
        assert_eq!(
            strip_port("reports.example.com:8443"),
            "reports.example.com"
        );
        assert_eq!(strip_port("reports.example.com"), "reports.example.com");
        assert_eq!(strip_port("[::1]:8080"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }

    #[test]
    fn encoding_and_cutting() {
        assert_eq!(enc("a b/<c>"), "a%20b%2F%3Cc%3E");
        assert_eq!(short(&"é".repeat(200)).chars().count(), SHORT + 1);
    }
}
