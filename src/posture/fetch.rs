//! Fetching a domain's MTA-STS policy file the way a sending MTA does (RFC 8461 §3.3).
//!
//! In: the policy host (`mta-sts.<domain>`), the addresses the check resolved and vetted
//! for it, and the TLS trust roots. Out: the body ([`Fetched`]) or why a sender could not
//! use it ([`FetchError`]): the certificate (with the TLS error), a status other than
//! 200 (a redirect is reported with its target, never followed), the media type, the
//! size, or the time.
//!
//! The client connects only to the addresses given (the check refuses private ones
//! unless allowed), on `--mta-sts-port` (443), with HTTP/1.1 over TLS, no proxy and no
//! cookies, and reads at most [`MAX_POLICY_BYTES`] + 1 bytes.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// RFC 8461 §3.3: senders may refuse policy bodies over 64 KiB.
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// The whole fetch (connect, TLS, request, body). RFC 8461 §3.3 has senders bound the
/// fetch; a policy host that needs longer than this fails some of them already, and a
/// check should not wait longer than a sender would.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

/// Connecting to one address.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A policy body as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub body: String,
    pub content_type: String,
}

/// Why the policy could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    /// The TLS certificate is not valid for the policy host (RFC 8461 §3.3).
    #[error("the certificate of {host} is not valid for it: {reason}")]
    Certificate { host: String, reason: String },
    /// An answer other than 200; a redirect names its target.
    #[error("{url} answered HTTP {status}{}", location.as_ref().map(|l| format!(" (redirect to {l}, which senders do not follow)")).unwrap_or_default())]
    Status {
        url: String,
        status: u16,
        location: Option<String>,
    },
    /// Not `text/plain` (RFC 8461 §3.2).
    #[error("{url} is served as {content_type:?}, not text/plain")]
    MediaType { url: String, content_type: String },
    #[error("{url} is larger than {MAX_POLICY_BYTES} bytes")]
    TooLarge { url: String },
    #[error("{url} did not answer within {seconds}s")]
    Timeout { url: String, seconds: f64 },
    /// Connection refused or reset, TLS failure other than the certificate, bad HTTP.
    #[error("{url}: {reason}")]
    Connect { url: String, reason: String },
}

/// The policy URL for `domain` on `port`.
pub fn policy_url(domain: &str, port: u16) -> String {
    if port == 443 {
        format!("https://mta-sts.{domain}/.well-known/mta-sts.txt")
    } else {
        format!("https://mta-sts.{domain}:{port}/.well-known/mta-sts.txt")
    }
}

/// Fetches `https://mta-sts.<domain>[:port]/.well-known/mta-sts.txt` from `addresses`.
pub async fn fetch_policy(
    domain: &str,
    addresses: &[IpAddr],
    port: u16,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<Fetched, FetchError> {
    let host = format!("mta-sts.{domain}");
    let url = policy_url(domain, port);
    let socket_addrs: Vec<SocketAddr> = addresses
        .iter()
        .map(|ip| SocketAddr::new(*ip, port))
        .collect();
    let connect_error = |reason: String| FetchError::Connect {
        url: url.clone(),
        reason,
    };
    let client = reqwest::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .http1_only()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(timeout)
        .user_agent(concat!(
            "tlsrptd/",
            env!("CARGO_PKG_VERSION"),
            " (MTA-STS policy check)"
        ))
        // Only the vetted addresses: the client never resolves the name itself.
        .resolve_to_addrs(&host, &socket_addrs)
        .build()
        .map_err(|e| connect_error(e.to_string()))?;
    let fetch = async {
        let response = client
            .get(&url)
            .send()
            .await
            .map_err(|e| classify(&url, &host, &e, timeout))?;
        let status = response.status().as_u16();
        if status != 200 {
            let location = response
                .headers()
                .get(http::header::LOCATION)
                .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned());
            return Err(FetchError::Status {
                url: url.clone(),
                status,
                location,
            });
        }
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let media_type = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if media_type != "text/plain" {
            return Err(FetchError::MediaType {
                url: url.clone(),
                content_type,
            });
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_POLICY_BYTES as u64)
        {
            return Err(FetchError::TooLarge { url: url.clone() });
        }
        let mut response = response;
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| classify(&url, &host, &e, timeout))?
        {
            if body.len() + chunk.len() > MAX_POLICY_BYTES {
                return Err(FetchError::TooLarge { url: url.clone() });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            body: String::from_utf8_lossy(&body).into_owned(),
            content_type,
        })
    };
    // The client's own timeout covers the request; this also covers the body.
    match tokio::time::timeout(timeout, fetch).await {
        Ok(result) => result,
        Err(_) => Err(FetchError::Timeout {
            url,
            seconds: timeout.as_secs_f64(),
        }),
    }
}

/// Sorts a client error into the certificate, the time, or the connection.
fn classify(url: &str, host: &str, error: &reqwest::Error, timeout: Duration) -> FetchError {
    if let Some(reason) = certificate_error(error) {
        return FetchError::Certificate {
            host: host.to_owned(),
            reason,
        };
    }
    if error.is_timeout() {
        return FetchError::Timeout {
            url: url.to_owned(),
            seconds: timeout.as_secs_f64(),
        };
    }
    FetchError::Connect {
        url: url.to_owned(),
        reason: error_chain(error),
    }
}

/// The rustls certificate error somewhere in `error`'s sources, as text.
pub(crate) fn certificate_error(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        let tls = e.downcast_ref::<rustls::Error>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(rustls::Error::InvalidCertificate(reason)) = tls {
            return Some(describe_certificate_error(reason));
        }
        source = e.source();
    }
    // The HTTP client boxes the connector's error in a type of its own, which hides the
    // rustls error from downcasting; its text is rustls's Display of it.
    let text = error_chain(error);
    text.split_once("invalid peer certificate: ")
        .map(|(_, reason)| reason.to_owned())
}

/// A certificate error in words a mail administrator acts on.
pub(crate) fn describe_certificate_error(error: &rustls::CertificateError) -> String {
    use rustls::CertificateError as E;
    match error {
        E::Expired | E::ExpiredContext { .. } => "the certificate has expired".to_owned(),
        E::NotValidYet | E::NotValidYetContext { .. } => {
            "the certificate is not valid yet".to_owned()
        }
        E::NotValidForName | E::NotValidForNameContext { .. } => {
            "the certificate does not name this host".to_owned()
        }
        E::UnknownIssuer => {
            "the certificate is not signed by a trusted authority (self-signed, or the chain is incomplete)"
                .to_owned()
        }
        E::Revoked => "the certificate is revoked".to_owned(),
        other => format!("{other:?}"),
    }
}

/// `error` and its sources, joined.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}
