//! Dashboard sign-in: the login form, the session cookie and the guard on every page.
//!
//! In: `GET/POST /login`, `POST /logout` and the cookie of every request. Out: the session
//! cookie (an HMAC of the API token), redirects to `/login` for requests without it.

use super::*;

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
    Form(form): Form<LoginForm>,
) -> Response {
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

pub(super) async fn logout() -> Response {
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "tlsrptd_session=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0",
        ),
    );
    response
}
