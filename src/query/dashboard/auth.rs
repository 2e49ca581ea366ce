//! Dashboard sign-in: the login form, the session cookie and the guard on every page.
//!
//! In: `GET/POST /login`, `POST /logout` and the cookie of every request. Out: the session
//! cookie (an HMAC of the API token), redirects to `/login` for requests without it.
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

/// HMAC-SHA256(key = token, message = fixed label), hex: what the cookie holds, so the
/// token itself never sits in the browser.
pub(super) fn session_value(token: &str) -> String {
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
    let value = session_value(token);
    let mut response = Redirect::to(&next).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=2592000"
    )) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

pub(super) async fn logout(headers: HeaderMap, uri: axum::http::Uri) -> Response {
    if !same_origin(&headers, &uri) {
        return cross_site();
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
