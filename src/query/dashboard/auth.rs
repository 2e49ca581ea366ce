//! Dashboard sign-in: the login form, the session cookie and the guard on every page.
//!
//! In: `GET/POST /login`, `POST /logout` and the cookie of every request. Out: a random
//! session cookie whose hash is stored with an expiry (`store/sessions.rs`), redirects to
//! `/login` for requests without an open session.
//! Sign-in attempts are limited per client address; forms that change state are refused
//! when the browser says they come from another site (`Origin`), besides the cookie's
//! `SameSite=Strict`.

use super::*;

use std::collections::HashMap;

use axum::Extension;
use axum::extract::ConnectInfo;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Sign-in attempts per client address per [`LOGIN_WINDOW`]: enough for a person who
/// mistypes, far too few to guess a token of `app::MIN_TOKEN_CHARS` characters.
pub(super) const LOGIN_ATTEMPTS: u32 = 10;
pub(super) const LOGIN_WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most; past it (a flood from that many addresses in a minute)
/// further new addresses wait for the window to pass.
const LOGIN_ADDRESSES: usize = 100_000;

/// Sign-in attempts per client address in the current window.
#[derive(Default)]
pub(super) struct LoginLimiter {
    attempts: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl LoginLimiter {
    /// Counts an attempt; `Err(seconds)` when the address must wait that long first.
    pub(super) fn attempt(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let mut attempts = match self.attempts.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if attempts.len() >= LOGIN_ADDRESSES && !attempts.contains_key(&ip) {
            attempts.retain(|_, (start, _)| now.duration_since(*start) < LOGIN_WINDOW);
            if attempts.len() >= LOGIN_ADDRESSES {
                return Err(LOGIN_WINDOW.as_secs());
            }
        }
        let (start, count) = attempts.entry(ip).or_insert((now, 0));
        if now.duration_since(*start) >= LOGIN_WINDOW {
            (*start, *count) = (now, 0);
        }
        if *count >= LOGIN_ATTEMPTS {
            let left = LOGIN_WINDOW.saturating_sub(now.duration_since(*start));
            return Err(left.as_secs().max(1));
        }
        *count += 1;
        Ok(())
    }
}

/// False when a browser says the form comes from another origin than this server (a
/// cross-site form post). Requests without `Origin` (non-browser clients) pass: the
/// session cookie is `SameSite=Strict`, so other sites' pages never send it anyway.
pub(super) fn same_origin(headers: &HeaderMap, uri: &axum::http::Uri) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, authority)| authority);
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

fn cross_site() -> Response {
    (
        StatusCode::FORBIDDEN,
        "This form was sent from another site; sign in from this server's own pages.",
    )
        .into_response()
}

/// SHA-256 hex: what is stored of a session cookie and of the token.
pub(super) fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// A new session cookie value: 32 random bytes, hex.
fn new_session_value() -> Option<String> {
    let mut bytes = [0u8; 32];
    // The TLS stack's random source (the operating system's), already linked.
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .ok()?;
    Some(hex::encode(bytes))
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5")],
        "The database does not answer; try again in a moment.",
    )
        .into_response()
}

pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub(super) async fn require_session(
    State(state): State<DashState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token_hash) = &state.token_hash else {
        return next.run(request).await;
    };
    if let Some(value) = cookie(request.headers(), SESSION_COOKIE) {
        match state
            .store
            .session_is_open(&sha256_hex(value), token_hash, Utc::now().timestamp())
            .await
        {
            Ok(true) => return next.run(request).await,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot check a dashboard session");
                return unavailable();
            }
        }
    }
    let target = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    Redirect::to(&format!("/login?next={}", enc(target))).into_response()
}

/// Only local absolute paths are followed after login (no `//host` or `scheme:`).
pub(super) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct LoginQuery {
    pub(super) next: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub(super) struct LoginPage {
    pub(super) ctx: Ctx,
    pub(super) next: String,
    pub(super) error: Option<String>,
}

pub(super) async fn login_form(
    State(state): State<DashState>,
    Query(q): Query<LoginQuery>,
) -> Response {
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
pub(super) struct LoginForm {
    pub(super) token: String,
    pub(super) next: Option<String>,
}

pub(super) async fn login_submit(
    State(state): State<DashState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Form(form): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers, &uri) {
        return cross_site();
    }
    let next = safe_next(form.next.as_deref());
    let Some(token) = &state.token else {
        return Redirect::to(&next).into_response();
    };
    if let Some(Extension(ConnectInfo(peer))) = peer
        && let Err(wait) = state.logins.attempt(peer.ip(), Instant::now())
    {
        let mut response = render(&LoginPage {
            ctx: Ctx::bare("Sign in", false),
            next,
            error: Some(format!(
                "Too many sign-in attempts from this address; try again in {wait} seconds."
            )),
        });
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    if !constant_time_eq(form.token.as_bytes(), token.as_bytes()) {
        let mut response = render(&LoginPage {
            ctx: Ctx::bare("Sign in", false),
            next,
            error: Some("That token is not the one configured for this server.".to_owned()),
        });
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        return response;
    }
    let Some(value) = new_session_value() else {
        return unavailable();
    };
    let now = Utc::now().timestamp();
    let lifetime = i64::try_from(state.session_lifetime.as_secs()).unwrap_or(i64::MAX);
    let token_hash = sha256_hex(token);
    if let Err(e) = state
        .store
        .open_session(
            &sha256_hex(&value),
            &token_hash,
            now,
            now.saturating_add(lifetime),
        )
        .await
    {
        tracing::warn!(error = %e, "cannot open a dashboard session");
        return unavailable();
    }
    let mut response = Redirect::to(&next).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={lifetime}"
    )) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

pub(super) async fn logout(
    State(state): State<DashState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if !same_origin(&headers, &uri) {
        return cross_site();
    }
    // The session ends on the server, so a copy of the cookie stops working too.
    if let Some(value) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = state.store.end_session(&sha256_hex(value)).await
    {
        tracing::warn!(error = %e, "cannot end a dashboard session");
        return unavailable();
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "tlsrptd_session=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0",
        ),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_sign_ins_a_minute_per_address() {
        let limiter = LoginLimiter::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..LOGIN_ATTEMPTS {
            assert_eq!(limiter.attempt(a, t0), Ok(()));
        }
        assert_eq!(limiter.attempt(a, t0 + Duration::from_secs(15)), Err(45));
        assert_eq!(
            limiter.attempt(b, t0),
            Ok(()),
            "another address is not limited"
        );
        assert_eq!(
            limiter.attempt(a, t0 + LOGIN_WINDOW),
            Ok(()),
            "a new window"
        );
    }

    #[test]
    fn origin_must_match_the_host_when_given() {
        let uri: axum::http::Uri = "/login".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::HOST,
            HeaderValue::from_static("tlsrpt.example:8443"),
        );
        assert!(same_origin(&headers, &uri), "no Origin: not a browser form");
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://tlsrpt.example:8443"),
        );
        assert!(same_origin(&headers, &uri));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&headers, &uri));
        headers.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&headers, &uri));
    }
}
