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

use crate::query::api::constant_time_eq;

use crate::store::{
    DayCounts, DomainSummary, ReportFilter, Store, StoreError, StoredReport, TimeRange,
};

/// The Content-Security-Policy of every dashboard response.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Name of the session cookie set by `/login`.
pub const SESSION_COOKIE: &str = "tlsrptd_session";

const CSS: &str = include_str!("assets/dashboard.css");

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
/// Longest report string shown in lists before it is cut (full text on the report page).
const SHORT: usize = 120;
/// Largest raw submission shown inline on a report page (decompressed).
const RAW_INLINE: usize = 512 * 1024;

#[derive(Clone)]
struct DashState {
    store: Store,
    /// The expected session cookie value when a token is configured.
    session: Option<Arc<str>>,
    token: Option<Arc<str>>,
}

/// The dashboard routes; merge into the app router.
pub fn router(store: Store, token: Option<String>) -> axum::Router {
    let token: Option<Arc<str>> = token.filter(|t| !t.is_empty()).map(Arc::from);
    let state = DashState {
        store,
        session: token.as_deref().map(|t| Arc::from(session_value(t))),
        token,
    };
    let protected = axum::Router::new()
        .route("/", get(overview))
        .route("/domains/{domain}", get(domain_page))
        .route("/reports", get(reports_page))
        .route("/reports/{id}", get(report_page))
        .route("/reports/{id}/raw", get(report_raw))
        .route("/rejections", get(rejections_page))
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

// ------------------------------------------------------------------ auth

/// HMAC-SHA256(key = token, message = fixed label), hex: what the cookie holds, so the
/// token itself never sits in the browser.
fn session_value(token: &str) -> String {
    const BLOCK: usize = 64;
    let mut key = [0u8; BLOCK];
    if token.len() > BLOCK {
        key[..32].copy_from_slice(&Sha256::digest(token.as_bytes()));
    } else {
        key[..token.len()].copy_from_slice(token.as_bytes());
    }
    let pad = |byte: u8| key.iter().map(move |k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(b"tlsrptd dashboard session v1")
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    hex::encode(outer)
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

async fn require_session(State(state): State<DashState>, request: Request, next: Next) -> Response {
    let Some(expected) = &state.session else {
        return next.run(request).await;
    };
    let ok = cookie(request.headers(), SESSION_COOKIE)
        .is_some_and(|v| constant_time_eq(v.as_bytes(), expected.as_bytes()));
    if ok {
        return next.run(request).await;
    }
    let target = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    Redirect::to(&format!("/login?next={}", enc(target))).into_response()
}

/// Only local absolute paths are followed after login (no `//host` or `scheme:`).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    ctx: Ctx,
    next: String,
    error: Option<String>,
}

async fn login_form(State(state): State<DashState>, Query(q): Query<LoginQuery>) -> Response {
    let next = safe_next(q.next.as_deref());
    if state.token.is_none() {
        return Redirect::to(&next).into_response();
    }
    render(&LoginPage {
        ctx: Ctx::bare("Sign in", false),
        next,
        error: None,
    })
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

async fn login_submit(State(state): State<DashState>, Form(form): Form<LoginForm>) -> Response {
    let next = safe_next(form.next.as_deref());
    let Some(token) = &state.token else {
        return Redirect::to(&next).into_response();
    };
    if !constant_time_eq(form.token.as_bytes(), token.as_bytes()) {
        let mut response = render(&LoginPage {
            ctx: Ctx::bare("Sign in", false),
            next,
            error: Some("That token is not the one configured for this server.".to_owned()),
        });
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        return response;
    }
    let value = session_value(token);
    let mut response = Redirect::to(&next).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=2592000"
    )) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

async fn logout() -> Response {
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "tlsrptd_session=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0",
        ),
    );
    response
}

// ------------------------------------------------------------------ headers, assets, errors

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
        HeaderValue::from_static("no-referrer"),
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

// ------------------------------------------------------------------ range and common context

/// Every query parameter any page takes; unknown ones are ignored.
#[derive(Debug, Default, Deserialize)]
struct Params {
    days: Option<String>,
    from: Option<String>,
    to: Option<String>,
    sort: Option<String>,
    dir: Option<String>,
    domain: Option<String>,
    organization: Option<String>,
    cursor: Option<String>,
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A date (`2024-10-01`) or an RFC 3339 timestamp, as a UTC day.
fn parse_day(value: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(value)
                .ok()
                .map(|t| t.with_timezone(&Utc).date_naive())
        })
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// The chosen range: whole UTC days `[first, last]`, as `[from, to)` instants.
struct Range {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// `days=N` for a preset, `from=..&to=..` for a custom range (already encoded).
    qs: String,
    days: Option<u32>,
    from_input: String,
    to_input: String,
    label: String,
    error: Option<String>,
}

impl Range {
    fn from_params(p: &Params) -> Range {
        let today = Utc::now().date_naive();
        let mut error = None;
        if nonempty(&p.from).is_some() || nonempty(&p.to).is_some() {
            let first = nonempty(&p.from).map(parse_day);
            let last = nonempty(&p.to).map(parse_day);
            match (first, last) {
                (Some(None), _) | (_, Some(None)) => {
                    error = Some("Dates must look like 2024-10-01.".to_owned())
                }
                (first, last) => {
                    let last = last.flatten().unwrap_or(today);
                    let first = first.flatten().unwrap_or_else(|| {
                        last.checked_sub_days(Days::new(u64::from(DEFAULT_DAYS - 1)))
                            .unwrap_or(NaiveDate::MIN)
                    });
                    if first > last {
                        error = Some("The start date is after the end date.".to_owned());
                    } else if (last - first).num_days() >= i64::from(MAX_DAYS) {
                        error = Some(format!("Ranges are limited to {MAX_DAYS} days."));
                    } else if let Some(end) = last.checked_add_days(Days::new(1)) {
                        return Range {
                            from: midnight(first),
                            to: midnight(end),
                            qs: format!("from={first}&to={last}"),
                            days: None,
                            from_input: first.to_string(),
                            to_input: last.to_string(),
                            label: format!("{first} to {last} (UTC)"),
                            error: None,
                        };
                    }
                }
            }
        }
        let days = nonempty(&p.days)
            .and_then(|d| d.parse::<u32>().ok())
            .filter(|d| (1..=MAX_DAYS).contains(d))
            .unwrap_or(DEFAULT_DAYS);
        let first = today
            .checked_sub_days(Days::new(u64::from(days - 1)))
            .unwrap_or(NaiveDate::MIN);
        let end = today
            .checked_add_days(Days::new(1))
            .unwrap_or(NaiveDate::MAX);
        Range {
            from: midnight(first),
            to: midnight(end),
            qs: format!("days={days}"),
            days: Some(days),
            from_input: first.to_string(),
            to_input: today.to_string(),
            label: format!("last {days} days ({first} to {today}, UTC)"),
            error,
        }
    }

    fn time_range(&self) -> TimeRange {
        TimeRange::new(self.from, self.to)
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
        }
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

// ------------------------------------------------------------------ charts (server-side SVG)

/// One stacked day bar; coordinates are pre-formatted for the SVG.
struct Bar {
    x: String,
    w: String,
    ok_y: String,
    ok_h: String,
    fail_y: String,
    fail_h: String,
    title: String,
}

struct Tick {
    pos: String,
    label: String,
}

struct Chart {
    width: u32,
    height: u32,
    plot_left: u32,
    plot_bottom: u32,
    plot_right: u32,
    bars: Vec<Bar>,
    yticks: Vec<Tick>,
    xticks: Vec<Tick>,
    description: String,
}

/// Which series a chart stacks.
#[derive(Clone, Copy)]
enum Series {
    /// Successful (bottom) and failed (top) sessions.
    Both,
    /// Failed sessions only, on their own scale.
    Failed,
}

fn build_chart(days: &[DayCounts], series: Series, width: u32, height: u32, axes: bool) -> Chart {
    let (left, right, top, bottom) = if axes {
        (56.0, width as f64 - 8.0, 10.0, height as f64 - 24.0)
    } else {
        (0.0, width as f64, 1.0, height as f64)
    };
    let value = |d: &DayCounts| -> (i64, i64) {
        match series {
            Series::Both => (d.successful_sessions.max(0), d.failed_sessions.max(0)),
            Series::Failed => (0, d.failed_sessions.max(0)),
        }
    };
    let max = days
        .iter()
        .map(|d| {
            let (ok, failed) = value(d);
            ok.saturating_add(failed)
        })
        .max()
        .unwrap_or(0)
        .max(1);
    let n = days.len().max(1) as f64;
    let slot = (right - left) / n;
    let gap = if slot > 3.0 { slot * 0.2 } else { 0.0 };
    let scale = (bottom - top) / max as f64;
    let f = |v: f64| format!("{v:.2}");
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let (ok, failed) = value(d);
            let ok_h = ok as f64 * scale;
            let fail_h = failed as f64 * scale;
            Bar {
                x: f(left + i as f64 * slot + gap / 2.0),
                w: f((slot - gap).max(0.5)),
                ok_y: f(bottom - ok_h),
                ok_h: f(ok_h),
                fail_y: f(bottom - ok_h - fail_h),
                fail_h: f(fail_h),
                title: format!(
                    "{}: {} successful, {} failed",
                    d.day, d.successful_sessions, d.failed_sessions
                ),
            }
        })
        .collect();
    let (yticks, xticks) = if axes {
        let yticks = [0, max / 2, max]
            .iter()
            .map(|&v| Tick {
                pos: f(bottom - v as f64 * scale),
                label: v.to_string(),
            })
            .collect();
        let mut idx = vec![0, days.len().saturating_sub(1)];
        if days.len() > 2 {
            idx.insert(1, days.len() / 2);
        }
        idx.dedup();
        let xticks = idx
            .into_iter()
            .filter_map(|i| days.get(i).map(|d| (i, d)))
            .map(|(i, d)| Tick {
                pos: f(left + (i as f64 + 0.5) * slot),
                label: d.day.format("%b %d").to_string(),
            })
            .collect();
        (yticks, xticks)
    } else {
        (Vec::new(), Vec::new())
    };
    let ok_total: i64 = days.iter().map(|d| d.successful_sessions).sum();
    let failed_total: i64 = days.iter().map(|d| d.failed_sessions).sum();
    let worst = days
        .iter()
        .filter(|d| d.failed_sessions > 0)
        .max_by_key(|d| d.failed_sessions);
    let description = match (days.first(), days.last()) {
        (Some(a), Some(b)) => format!(
            "Sessions per UTC day from {} to {}: {ok_total} successful and {failed_total} failed in total{}.",
            a.day,
            b.day,
            match worst {
                Some(w) => format!("; most failures on {} ({})", w.day, w.failed_sessions),
                None => String::new(),
            }
        ),
        _ => "No days in range.".to_owned(),
    };
    Chart {
        width,
        height,
        plot_left: left as u32,
        plot_bottom: bottom as u32,
        plot_right: right as u32,
        bars,
        yticks,
        xticks,
        description,
    }
}

// ------------------------------------------------------------------ overview

struct DomainRow {
    domain: String,
    href: String,
    sessions: i64,
    failed: i64,
    rate: f64,
    rate_text: String,
    reporters: i64,
    reports: i64,
    last_report: String,
    last_report_iso: String,
    health: &'static str,
    spark: Option<Chart>,
}

struct SortLink {
    label: &'static str,
    key: &'static str,
    href: String,
    aria: &'static str,
    arrow: &'static str,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    ctx: Ctx,
    rows: Vec<DomainRow>,
    columns: Vec<SortLink>,
    failing: usize,
    /// `Host` of the request (with port), for the HTTPS reporting URL.
    host: String,
    /// `Host` without the port, for the `mailto:` address.
    mail_host: String,
    /// Whether any report is stored at all (outside the range too).
    has_any: bool,
}

const SORT_KEYS: &[(&str, &str)] = &[
    ("domain", "Domain"),
    ("sessions", "Sessions"),
    ("rate", "Failure rate"),
    ("failed", "Failed sessions"),
    ("reporters", "Reporters"),
    ("last", "Last report"),
];

async fn overview(
    State(state): State<DashState>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let range = Range::from_params(&p);
    let domains = state.store.list_domains(range.time_range()).await?;
    let sort = nonempty(&p.sort)
        .filter(|s| SORT_KEYS.iter().any(|(k, _)| k == s))
        .unwrap_or("failed");
    let default_dir = if sort == "domain" { "asc" } else { "desc" };
    let dir = match nonempty(&p.dir) {
        Some("asc") => "asc",
        Some("desc") => "desc",
        _ => default_dir,
    };
    let mut rows: Vec<DomainRow> = domains
        .into_iter()
        .map(|d| {
            let sessions = d.successful_sessions.saturating_add(d.failed_sessions);
            DomainRow {
                href: format!("/domains/{}?{}", enc(&d.domain), range.qs),
                domain: d.domain,
                sessions,
                failed: d.failed_sessions,
                rate: d.failure_rate,
                rate_text: pct(d.failure_rate),
                reporters: d.organizations,
                reports: d.reports,
                last_report: when(d.last_report_at),
                last_report_iso: d.last_report_at.to_rfc3339(),
                health: health_class(d.failed_sessions, d.failure_rate),
                spark: None,
            }
        })
        .collect();
    // Domains with failures first whatever the column, then the chosen order.
    rows.sort_by(|a, b| {
        let key = match sort {
            "domain" => a.domain.cmp(&b.domain),
            "sessions" => a.sessions.cmp(&b.sessions),
            "rate" => a.rate.total_cmp(&b.rate),
            "reporters" => a.reporters.cmp(&b.reporters),
            "last" => a.last_report_iso.cmp(&b.last_report_iso),
            _ => a.failed.cmp(&b.failed),
        };
        let key = if dir == "desc" { key.reverse() } else { key };
        (b.failed > 0)
            .cmp(&(a.failed > 0))
            .then(key)
            .then_with(|| a.domain.cmp(&b.domain))
    });
    // Trends of the first rows, from one query over every domain.
    let mut series: std::collections::HashMap<String, Vec<DayCounts>> = state
        .store
        .domains_daily(range.time_range())
        .await?
        .into_iter()
        .collect();
    for row in rows.iter_mut().take(SPARKLINES) {
        if let Some(days) = series.remove(&row.domain) {
            row.spark = Some(build_chart(&days, Series::Both, 120, 28, false));
        }
    }
    let columns = SORT_KEYS
        .iter()
        .map(|&(key, label)| {
            let active = key == sort;
            let next_dir = if active {
                if dir == "asc" { "desc" } else { "asc" }
            } else if key == "domain" {
                "asc"
            } else {
                "desc"
            };
            SortLink {
                label,
                key,
                href: format!("/?{}&sort={key}&dir={next_dir}", range.qs),
                aria: match (active, dir) {
                    (false, _) => "none",
                    (true, "asc") => "ascending",
                    (true, _) => "descending",
                },
                arrow: match (active, dir) {
                    (false, _) => "",
                    (true, "asc") => " ▲",
                    (true, _) => " ▼",
                },
            }
        })
        .collect();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(short)
        .unwrap_or_else(|| "reports.example.com".to_owned());
    let failing = rows.iter().filter(|r| r.failed > 0).count();
    let mail_host = strip_port(&host).to_owned();
    let has_any = !rows.is_empty()
        || !state
            .store
            .list_reports(&ReportFilter::default(), 1, None)
            .await?
            .items
            .is_empty();
    Ok(render(&OverviewPage {
        ctx: Ctx::page(
            "Overview".to_owned(),
            "overview",
            &state,
            &range,
            "/".to_owned(),
            Vec::new(),
        ),
        rows,
        columns,
        failing,
        host,
        mail_host,
        has_any,
    }))
}

/// `host:port` -> `host` (`[::1]:8080` -> `[::1]`); anything else unchanged.
fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!name.contains(':') || name.ends_with(']')) =>
        {
            name
        }
        _ => host,
    }
}

// ------------------------------------------------------------------ domain page

/// Plain-language meaning and usual fix of an RFC 8460 §4.3 result type.
pub fn explain_result_type(result_type: &str) -> (&'static str, &'static str) {
    match result_type {
        "starttls-not-supported" => (
            "The receiving MX did not offer STARTTLS, so the sender could not encrypt the session.",
            "Enable STARTTLS on every MX host, and check that no firewall or middlebox strips STARTTLS from the EHLO response.",
        ),
        "certificate-host-mismatch" => (
            "The MX presented a certificate whose names do not match the MX hostname the sender connected to.",
            "Install a certificate whose subjectAltName covers every MX hostname in your MX records (and in your MTA-STS policy's mx lines).",
        ),
        "certificate-expired" => (
            "The MX presented a certificate that has expired.",
            "Renew the MX certificate, install it on every MX host and reload the mail server; automate renewal.",
        ),
        "certificate-not-trusted" => (
            "The MX certificate does not chain to a root the sender trusts (self-signed, private CA or missing intermediate).",
            "Use a certificate from a publicly trusted CA and serve the full chain including intermediates.",
        ),
        "validation-failure" => (
            "A general failure to validate the TLS session that fits no more specific type.",
            "Look at the failure-reason-code and additional information in the reports; test the MX with an external STARTTLS checker.",
        ),
        "tlsa-invalid" => (
            "DANE: the TLSA records published for the MX did not match the certificate or were malformed.",
            "Publish TLSA records that match the certificate or key now in use; on rollover publish the new TLSA record before switching the certificate.",
        ),
        "dnssec-invalid" => (
            "DANE: DNSSEC validation of the MX or TLSA records failed.",
            "Check the DNSSEC chain of the zone (DS at the parent, DNSKEY, expired RRSIG signatures) with a DNSSEC debugger.",
        ),
        "dane-required" => (
            "DANE: the sender requires DANE for this domain but found no usable TLSA records.",
            "Publish DNSSEC-signed TLSA records for every MX host, or stop signalling that DANE is required.",
        ),
        "sts-policy-fetch-error" => (
            "MTA-STS: the sender could not fetch the policy — the policy host or its certificate is not reachable over HTTPS.",
            "Make https://mta-sts.<domain>/.well-known/mta-sts.txt answer 200 with text/plain over a valid, publicly trusted certificate; check DNS for mta-sts.<domain>.",
        ),
        "sts-policy-invalid" => (
            "MTA-STS: the policy was fetched but is not valid (syntax, or the _mta-sts TXT record and the policy disagree).",
            "Fix the policy file: version: STSv1, mode, one mx line per pattern and max_age, one per line; and publish a valid _mta-sts TXT record with a new id.",
        ),
        "sts-webpki-invalid" => (
            "MTA-STS: the MX certificate failed PKIX validation required by the policy (untrusted, expired or wrong name).",
            "Serve a publicly trusted, unexpired certificate valid for the MX names your policy lists; until fixed, consider mode: testing.",
        ),
        _ => (
            "A result type not defined by RFC 8460 §4.3; the sender's own label, kept verbatim.",
            "Read the failure-reason-code and additional information in the reports, or ask the reporting organization (contact-info) what it means.",
        ),
    }
}

struct ResultRow {
    result_type: String,
    /// First and last day with this failure among the scanned reports.
    seen: String,
    known: bool,
    failed: i64,
    share: String,
    meaning: &'static str,
    fix: &'static str,
}

struct CountRow {
    key: String,
    failed: i64,
}

struct SessionRow {
    key: String,
    reports: i64,
    successful: i64,
    failed: i64,
    rate: String,
    href: Option<String>,
}

struct PolicySeen {
    policy_type: String,
    mode: String,
    mx: Vec<String>,
    max_age: String,
    lines: Vec<String>,
    first_seen: String,
    last_seen: String,
    reports: i64,
}

#[derive(Template)]
#[template(path = "domain.html")]
struct DomainPage {
    ctx: Ctx,
    domain: String,
    reports: i64,
    sessions: i64,
    successful: i64,
    failed: i64,
    rate: f64,
    rate_text: String,
    health: &'static str,
    chart: Chart,
    failed_chart: Chart,
    days: Vec<DayCounts>,
    by_result: Vec<ResultRow>,
    by_org: Vec<SessionRow>,
    by_policy: Vec<SessionRow>,
    by_mx: Vec<CountRow>,
    by_ip: Vec<CountRow>,
    policies: Vec<PolicySeen>,
    reports_href: String,
    verdict: String,
}

/// One sentence on the state of the domain in the range.
fn verdict(summary: &DomainSummary) -> String {
    let sessions = summary
        .successful_sessions
        .saturating_add(summary.failed_sessions);
    if sessions == 0 {
        return "No sessions reported in this range.".to_owned();
    }
    if summary.failed_sessions == 0 {
        return format!(
            "Healthy: all {sessions} reported sessions to your mail servers used TLS successfully."
        );
    }
    let top = summary
        .by_result_type
        .iter()
        .max_by_key(|r| r.failed_sessions)
        .and_then(|r| r.key.as_deref());
    match top {
        Some(rt) => format!(
            "{} of {sessions} sessions failed ({}); the most common cause is {}. See below for what it means and how to fix it.",
            summary.failed_sessions,
            pct(summary.failure_rate),
            short(rt)
        ),
        None => format!(
            "{} of {sessions} sessions failed ({}); the reporters gave no failure details.",
            summary.failed_sessions,
            pct(summary.failure_rate)
        ),
    }
}

fn session_rows(
    rows: &[crate::store::SessionCounts],
    link: impl Fn(&str) -> Option<String>,
) -> Vec<SessionRow> {
    rows.iter()
        .map(|r| SessionRow {
            key: short(&r.key),
            reports: r.reports,
            successful: r.successful_sessions,
            failed: r.failed_sessions,
            rate: pct(crate::store::failure_rate(
                r.successful_sessions,
                r.failed_sessions,
            )),
            href: link(&r.key),
        })
        .collect()
}

fn count_rows(rows: &[crate::store::FailureCount]) -> Vec<CountRow> {
    rows.iter()
        .map(|r| CountRow {
            key: r
                .key
                .as_deref()
                .map(short)
                .unwrap_or_else(|| "(not reported)".to_owned()),
            failed: r.failed_sessions,
        })
        .collect()
}

async fn domain_page(
    State(state): State<DashState>,
    Path(domain): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, PageError> {
    let domain = crate::store::normalize_domain(&domain);
    let range = Range::from_params(&p);
    let summary: DomainSummary = state
        .store
        .domain_summary(&domain, range.time_range())
        .await?;
    let days = state.store.timeseries(&domain, range.time_range()).await?;
    let policies = policies_seen(&state.store, &domain, &range).await?;
    let failures_seen: BTreeMap<String, (NaiveDate, NaiveDate)> = state
        .store
        .failures_seen(&domain, range.time_range())
        .await?
        .into_iter()
        .map(|f| {
            (
                f.result_type,
                (f.first_start.date_naive(), f.last_start.date_naive()),
            )
        })
        .collect();
    let total_failed = summary.failed_sessions.max(0);
    let by_result = summary
        .by_result_type
        .iter()
        .map(|r| {
            let rt = r.key.clone().unwrap_or_else(|| "(not reported)".to_owned());
            let (meaning, fix) = explain_result_type(&rt);
            ResultRow {
                seen: failures_seen
                    .get(&rt)
                    .map(|(first, last)| {
                        if first == last {
                            format!("reported for {first}")
                        } else {
                            format!("reported from {first} to {last}")
                        }
                    })
                    .unwrap_or_default(),
                known: crate::report::KNOWN_RESULT_TYPES.contains(&rt.as_str()),
                result_type: short(&rt),
                failed: r.failed_sessions,
                share: if total_failed > 0 {
                    pct(r.failed_sessions as f64 / total_failed as f64)
                } else {
                    "—".to_owned()
                },
                meaning,
                fix,
            }
        })
        .collect();
    let qs = range.qs.clone();
    let d = domain.clone();
    let by_org = session_rows(&summary.by_organization, |org| {
        Some(format!(
            "/reports?domain={}&organization={}&{qs}",
            enc(&d),
            enc(org)
        ))
    });
    let by_policy = session_rows(&summary.by_policy_type, |_| None);
    let sessions = summary
        .successful_sessions
        .saturating_add(summary.failed_sessions);
    Ok(render(&DomainPage {
        ctx: Ctx::page(
            domain.clone(),
            "overview",
            &state,
            &range,
            format!("/domains/{}", enc(&domain)),
            Vec::new(),
        ),
        reports_href: format!("/reports?domain={}&{}", enc(&domain), range.qs),
        chart: build_chart(&days, Series::Both, 720, 220, true),
        failed_chart: build_chart(&days, Series::Failed, 720, 160, true),
        days,
        reports: summary.reports,
        sessions,
        successful: summary.successful_sessions,
        failed: summary.failed_sessions,
        rate: summary.failure_rate,
        rate_text: pct(summary.failure_rate),
        health: health_class(summary.failed_sessions, summary.failure_rate),
        by_result,
        by_org,
        by_policy,
        by_mx: count_rows(&summary.by_receiving_mx),
        by_ip: count_rows(&summary.by_sending_ip),
        verdict: verdict(&summary),
        policies,
        domain,
    }))
}

/// `mode`, `mx` and `max_age` from the `key: value` lines of an MTA-STS policy string.
fn parse_policy_lines(lines: &[String]) -> (String, Vec<String>, String) {
    let mut mode = String::new();
    let mut mx = Vec::new();
    let mut max_age = String::new();
    for line in lines.iter().flat_map(|l| l.split(['\n', '\r'])) {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "mode" => mode = short(value),
            "mx" => mx.push(short(value)),
            "max_age" => {
                max_age = match value.parse::<u64>() {
                    Ok(secs) => format!("{secs} s ({:.1} days)", secs as f64 / 86_400.0),
                    Err(_) => short(value),
                }
            }
            _ => {}
        }
    }
    (mode, mx, max_age)
}

/// The distinct policies reported for `domain` in the range, most recently seen first,
/// with their `mode`, `mx` and `max_age` lines picked out.
async fn policies_seen(
    store: &Store,
    domain: &str,
    range: &Range,
) -> Result<Vec<PolicySeen>, StoreError> {
    let seen = store.policies_seen(domain, range.time_range()).await?;
    // Reporters differ only in whitespace around lines: merge those.
    type Key = (String, Vec<String>);
    let mut merged: BTreeMap<Key, (DateTime<Utc>, DateTime<Utc>, i64)> = BTreeMap::new();
    for p in seen {
        let lines: Vec<String> = p
            .policy_string
            .iter()
            .map(|l| l.trim().to_owned())
            .collect();
        let entry =
            merged
                .entry((p.policy_type, lines))
                .or_insert((p.first_start, p.last_start, 0));
        entry.0 = entry.0.min(p.first_start);
        entry.1 = entry.1.max(p.last_start);
        entry.2 += p.reports;
    }
    let mut out: Vec<PolicySeen> = merged
        .into_iter()
        .map(|((policy_type, lines), (first, last, reports))| {
            let (mode, mx, max_age) = parse_policy_lines(&lines);
            PolicySeen {
                policy_type: short(&policy_type),
                mode: if mode.is_empty() {
                    "—".to_owned()
                } else {
                    mode
                },
                mx,
                max_age: if max_age.is_empty() {
                    "—".to_owned()
                } else {
                    max_age
                },
                lines: lines.iter().map(|l| short(l)).collect(),
                first_seen: first.format("%Y-%m-%d").to_string(),
                last_seen: last.format("%Y-%m-%d").to_string(),
                reports,
            }
        })
        .collect();
    out.sort_by(|a, b| b.last_seen.cmp(&a.last_seen));
    Ok(out)
}

// ------------------------------------------------------------------ reports

struct ReportRow {
    id: i64,
    href: String,
    organization: String,
    report_id: String,
    start: String,
    end: String,
    received: String,
    source: String,
    successful: i64,
    failed: i64,
    domains: String,
    warnings: usize,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    ctx: Ctx,
    domain: String,
    organization: String,
    rows: Vec<ReportRow>,
    next: Option<String>,
    first_page: Option<String>,
}

async fn reports_page(
    State(state): State<DashState>,
    Query(p): Query<Params>,
) -> Result<Response, PageError> {
    let range = Range::from_params(&p);
    let domain = nonempty(&p.domain).map(str::to_owned);
    let organization = nonempty(&p.organization).map(str::to_owned);
    let filter = ReportFilter {
        domain: domain.clone(),
        organization: organization.clone(),
        range: Some(range.time_range()),
    };
    let page = state
        .store
        .list_reports(&filter, PAGE, nonempty(&p.cursor))
        .await?;
    let mut hidden = Vec::new();
    if let Some(d) = &domain {
        hidden.push(("domain".to_owned(), d.clone()));
    }
    if let Some(o) = &organization {
        hidden.push(("organization".to_owned(), o.clone()));
    }
    let keep: String = hidden
        .iter()
        .map(|(k, v)| format!("&{k}={}", enc(v)))
        .collect();
    let rows = page
        .items
        .iter()
        .map(|r| ReportRow {
            id: r.id,
            href: format!("/reports/{}?{}", r.id, range.qs),
            organization: short(&r.organization_name),
            report_id: short(&r.report_id),
            start: when(r.start),
            end: when(r.end),
            received: when(r.received_at),
            source: r.source.clone(),
            successful: r.successful_sessions,
            failed: r.failed_sessions,
            domains: short(&r.domains.join(", ")),
            warnings: r.warnings,
        })
        .collect();
    Ok(render(&ReportsPage {
        next: page
            .next_cursor
            .map(|c| format!("/reports?{}{keep}&cursor={}", range.qs, enc(&c))),
        first_page: nonempty(&p.cursor).map(|_| format!("/reports?{}{keep}", range.qs)),
        ctx: Ctx::page(
            "Reports".to_owned(),
            "reports",
            &state,
            &range,
            "/reports".to_owned(),
            hidden,
        ),
        domain: domain.unwrap_or_default(),
        organization: organization.unwrap_or_default(),
        rows,
    }))
}

struct DetailRow {
    result_type: String,
    sending_ip: String,
    mx: String,
    helo: String,
    receiving_ip: String,
    count: i64,
    reason_code: String,
    info: String,
}

struct PolicyView {
    policy_type: String,
    domain: String,
    domain_href: Option<String>,
    lines: Vec<String>,
    mx_host: String,
    successful: i64,
    failed: i64,
    details: Vec<DetailRow>,
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    ctx: Ctx,
    id: i64,
    organization: String,
    report_id: String,
    contact: String,
    start: String,
    end: String,
    received: String,
    source: String,
    source_label: &'static str,
    peer: String,
    origin: String,
    dkim: Option<String>,
    envelope: String,
    meta: Vec<(&'static str, String)>,
    warnings: Vec<(String, String)>,
    policies: Vec<PolicyView>,
    normalized: String,
    raw: Option<String>,
    raw_note: String,
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "—".to_owned())
}

/// The DKIM outcome the SMTP intake records in the envelope
/// (`{"result", "aligned", "signing_domains", "detail"}`), in words.
fn describe_dkim(value: &serde_json::Value) -> String {
    use serde_json::Value;
    let Value::Object(o) = value else {
        return match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
    };
    let mut out = o
        .get("result")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned();
    match o.get("aligned").and_then(Value::as_bool) {
        Some(true) => out.push_str(", aligned with the reporting domain"),
        Some(false) => out.push_str(", not aligned with the reporting domain"),
        None => {}
    }
    let domains: Vec<&str> = o
        .get("signing_domains")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !domains.is_empty() {
        out.push_str(&format!("; signed by d={}", domains.join(", d=")));
    }
    if let Some(detail) = o
        .get("detail")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
    {
        out.push_str(&format!(" ({detail})"));
    }
    out
}

/// The raw submission as text when it is (or gunzips to) UTF-8, cut at [`RAW_INLINE`].
fn raw_text(bytes: &[u8]) -> (Option<String>, String) {
    let mut data = bytes.to_vec();
    let mut note = format!("{} bytes as received", bytes.len());
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let limit = (RAW_INLINE + 1) as u64;
        match flate2::read::MultiGzDecoder::new(bytes)
            .take(limit)
            .read_to_end(&mut out)
        {
            Ok(_) => {
                note = format!("{} bytes gzip, shown decompressed", bytes.len());
                data = out;
            }
            Err(_) => return (None, format!("{} bytes of unreadable gzip", bytes.len())),
        }
    }
    let cut = data.len() > RAW_INLINE;
    data.truncate(RAW_INLINE);
    let text = String::from_utf8_lossy(&data).into_owned();
    if text.contains('\u{0}') {
        return (None, format!("{note}; binary, use the download link"));
    }
    if cut {
        note.push_str(&format!("; first {RAW_INLINE} bytes shown"));
    }
    (Some(text), note)
}

async fn report_page(
    State(state): State<DashState>,
    Path(id): Path<i64>,
    Query(p): Query<Params>,
) -> Result<Response, PageError> {
    let range = Range::from_params(&p);
    let stored: StoredReport = state
        .store
        .get_report(id)
        .await?
        .ok_or_else(|| PageError::not_found(format!("Report {id}")))?;
    let raw = state.store.get_report_raw(id).await?;
    let (raw, raw_note) = match &raw {
        Some(r) => raw_text(&r.bytes),
        None => (None, "not kept".to_owned()),
    };
    let r = &stored.report;
    let dkim = stored.envelope.get("dkim").map(describe_dkim);
    let mut meta = Vec::new();
    if let Some(m) = &stored.meta {
        for (label, value) in [
            ("From", &m.from),
            ("Subject", &m.subject),
            ("Message-ID", &m.message_id),
            ("TLS-Report-Domain", &m.tls_report_domain),
            ("TLS-Report-Submitter", &m.tls_report_submitter),
        ] {
            if let Some(v) = value {
                meta.push((label, v.clone()));
            }
        }
    }
    let policies = r
        .policies
        .iter()
        .map(|pol| PolicyView {
            policy_type: pol.policy_type.clone(),
            domain: opt(&pol.policy_domain),
            domain_href: pol
                .policy_domain
                .as_deref()
                .map(|d| format!("/domains/{}?{}", enc(d), range.qs)),
            lines: pol.policy_string.clone(),
            mx_host: pol.mx_host.join(", "),
            successful: pol.total_successful,
            failed: pol.total_failed,
            details: pol
                .failure_details
                .iter()
                .map(|d| DetailRow {
                    result_type: d.result_type.clone(),
                    sending_ip: opt(&d.sending_mta_ip),
                    mx: opt(&d.receiving_mx_hostname),
                    helo: opt(&d.receiving_mx_helo),
                    receiving_ip: opt(&d.receiving_ip),
                    count: d.failed_session_count,
                    reason_code: opt(&d.failure_reason_code),
                    info: opt(&d.additional_information),
                })
                .collect(),
        })
        .collect();
    let source_label = match stored.source.as_str() {
        "smtp" => "SMTP (emailed report)",
        "https" => "HTTPS (POST /v1/reports)",
        "import" => "import (tlsrptd import)",
        _ => "other",
    };
    Ok(render(&ReportPage {
        ctx: Ctx::page(
            format!("Report {id}"),
            "reports",
            &state,
            &range,
            "/reports".to_owned(),
            Vec::new(),
        ),
        id,
        organization: r.organization_name.clone(),
        report_id: r.report_id.clone(),
        contact: opt(&r.contact_info),
        start: when(r.start),
        end: when(r.end),
        received: when(stored.received_at),
        source: stored.source.clone(),
        source_label,
        peer: opt(&stored.peer),
        origin: stored.origin.clone(),
        dkim,
        envelope: serde_json::to_string_pretty(&stored.envelope).unwrap_or_default(),
        meta,
        warnings: r
            .warnings
            .iter()
            .map(|w| (w.code.clone(), w.detail.clone()))
            .collect(),
        policies,
        normalized: serde_json::to_string_pretty(r).unwrap_or_default(),
        raw,
        raw_note,
    }))
}

fn download(bytes: Vec<u8>, name: String) -> Response {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response()
}

async fn report_raw(
    State(state): State<DashState>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let raw = state
        .store
        .get_report_raw(id)
        .await?
        .ok_or_else(|| PageError::not_found(format!("Report {id}")))?;
    Ok(download(raw.bytes, format!("report-{id}.raw")))
}

async fn submission_raw(
    State(state): State<DashState>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let raw = state
        .store
        .get_submission_raw(id)
        .await?
        .ok_or_else(|| PageError::not_found(format!("Submission {id}")))?;
    Ok(download(raw.bytes, format!("submission-{id}.raw")))
}

// ------------------------------------------------------------------ rejections

struct RejectionRow {
    received: String,
    source: String,
    peer: String,
    origin: String,
    code: String,
    reason: String,
    raw_href: String,
}

#[derive(Template)]
#[template(path = "rejections.html")]
struct RejectionsPage {
    ctx: Ctx,
    rows: Vec<RejectionRow>,
    next: Option<String>,
}

async fn rejections_page(
    State(state): State<DashState>,
    Query(p): Query<Params>,
) -> Result<Response, PageError> {
    let range = Range::from_params(&p);
    let page = state
        .store
        .list_rejections(PAGE, nonempty(&p.cursor))
        .await?;
    let rows = page
        .items
        .iter()
        .map(|r| RejectionRow {
            received: when(r.received_at),
            source: r.source.clone(),
            peer: opt(&r.peer),
            origin: short(&r.origin),
            code: r.reason_code.clone(),
            reason: r.reason.clone(),
            raw_href: format!("/submissions/{}/raw", r.submission_id),
        })
        .collect();
    let mut ctx = Ctx::page(
        "Rejections".to_owned(),
        "rejections",
        &state,
        &range,
        "/rejections".to_owned(),
        Vec::new(),
    );
    ctx.show_range = false;
    Ok(render(&RejectionsPage {
        ctx,
        rows,
        next: page
            .next_cursor
            .map(|c| format!("/rejections?cursor={}", enc(&c))),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rfc_result_type_has_its_own_explanation() {
        let generic = explain_result_type("made-up-type");
        for rt in crate::report::KNOWN_RESULT_TYPES {
            assert_ne!(explain_result_type(rt), generic, "{rt}");
        }
    }

    #[test]
    fn session_value_is_hmac_sha256() {
        // RFC 4231 test case 2 shape: key "Jefe" would need a different message; check
        // stability and that it depends on the token instead.
        assert_eq!(session_value("a"), session_value("a"));
        assert_ne!(session_value("a"), session_value("b"));
        assert_eq!(session_value("a").len(), 64);
        assert_ne!(
            session_value(&"x".repeat(100)),
            session_value(&"x".repeat(101))
        );
    }

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
