//! Draining the outbox: each due notice delivered to its channel, retried with
//! exponential backoff, given up after a day of tries.
//!
//! In: due notices from the store, the channels of the [`AlertConfig`], an HTTP client
//! and the time. Out: notices marked sent, or their failed attempt recorded with the next
//! try. A notice is marked sent only after its channel accepted it; each delivery
//! carries the notice id (`X-Tlsrpt-Notification-Id`, `notification_id`) so a receiver
//! can drop a repeat after a crash between the two.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::config::{AlertConfig, Channel, ChannelKind, EmailChannel, EmailTls};
use crate::store::{DueNotice, Store, StoreError};

/// Notices taken per pass.
const PER_PASS: i64 = 100;

/// First retry after this long, doubling per attempt up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(30);

/// Longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Tries before a notice is given up: 30 s doubling to an hour, about a day in all.
pub const MAX_ATTEMPTS: i64 = 28;

/// Largest response body read from a channel (its error text, for `last_error`).
const MAX_REPLY: usize = 2048;

/// The header carrying the body's HMAC-SHA256 under the channel's secret.
pub const SIGNATURE_HEADER: &str = "x-tlsrpt-signature";

/// The header carrying the notice id.
pub const NOTICE_HEADER: &str = "x-tlsrpt-notification-id";

/// The wait before try `attempts + 1` after `attempts` failed ones.
pub fn backoff(attempts: i64) -> Duration {
    let doubled = FIRST_BACKOFF
        .as_secs()
        .saturating_mul(1u64 << attempts.clamp(0, 20).saturating_sub(1) as u32);
    Duration::from_secs(doubled.min(MAX_BACKOFF.as_secs()))
}

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this cannot happen.
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The JSON body of a generic webhook notice.
pub fn webhook_body(notice: &DueNotice, link: &str) -> serde_json::Value {
    serde_json::json!({
        "notification_id": notice.id,
        "kind": notice.kind,
        "alert": notice.alert,
        "link": link,
    })
}

/// The one-paragraph text of a chat notice.
pub fn chat_text(notice: &DueNotice, link: &str) -> String {
    let a = &notice.alert;
    let what = match notice.kind.as_str() {
        "resolved" => "resolved",
        "reminder" => "still open",
        _ => "opened",
    };
    let fix = a
        .detail
        .get("fix")
        .and_then(|f| f.as_str())
        .unwrap_or_default();
    format!(
        "[{}] {} {}: {}\nFix: {fix}\n{link}",
        a.severity.to_uppercase(),
        a.rule,
        what,
        a.summary
    )
}

/// The subject line of an email notice.
pub fn email_subject(notice: &DueNotice) -> String {
    let a = &notice.alert;
    let what = match notice.kind.as_str() {
        "resolved" => "resolved",
        "reminder" => "still open",
        "test" => "test",
        _ => "opened",
    };
    format!(
        "[tlsrptd] [{}] {} {what}: {}",
        a.severity.to_uppercase(),
        a.rule,
        a.domain
    )
}

/// Escapes text for HTML.
fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Sends an email notice through the channel's relay.
async fn send_email(
    email: &EmailChannel,
    channel: &Channel,
    notice: &DueNotice,
    link: &str,
) -> Result<(), String> {
    let a = &notice.alert;
    let text = |key: &str| {
        a.detail
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let plain = format!(
        "{}\n\n{}\n\nFix: {}\n\n{link}\n",
        a.summary,
        text("explanation"),
        text("fix")
    );
    let html = format!(
        "<p><strong>{}</strong></p><p>{}</p><p><strong>Fix:</strong> {}</p><p><a href=\"{}\">{}</a></p>",
        html_escape(&a.summary),
        html_escape(&text("explanation")),
        html_escape(&text("fix")),
        html_escape(link),
        html_escape(link)
    );
    let mail = Mail {
        to: &email.to,
        subject: email_subject(notice),
        plain,
        html,
    };
    send_mail(email, channel.timeout, &mail).await
}

/// One email: recipients, subject, and the plain-text and HTML bodies.
pub struct Mail<'a> {
    pub to: &'a [String],
    pub subject: String,
    pub plain: String,
    pub html: String,
}

/// Sends `mail` through the relay of `email` (its TLS, credentials and From).
pub async fn send_mail(
    email: &EmailChannel,
    timeout: Duration,
    mail: &Mail<'_>,
) -> Result<(), String> {
    use lettre::message::{Mailbox, MultiPart};
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    let mut builder = Message::builder()
        .from(email.from.parse::<Mailbox>().map_err(|e| e.to_string())?)
        .subject(mail.subject.clone())
        .message_id(None);
    for to in mail.to {
        builder = builder.to(to.parse::<Mailbox>().map_err(|e| e.to_string())?);
    }
    let message = builder
        .multipart(MultiPart::alternative_plain_html(
            mail.plain.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| e.to_string())?;
    let parameters = || -> Result<TlsParameters, String> {
        let mut params = TlsParameters::builder(email.host.clone());
        if let Some(pem) = &email.extra_root {
            params = params.add_root_certificate(
                Certificate::from_pem(pem).map_err(|e| format!("ca_file: {e}"))?,
            );
        }
        params.build_rustls().map_err(|e| e.to_string())
    };
    let tls = match email.tls {
        EmailTls::StartTls => Tls::Required(parameters()?),
        EmailTls::Implicit => Tls::Wrapper(parameters()?),
        EmailTls::None => Tls::None,
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&email.host)
        .port(email.port)
        .tls(tls)
        .timeout(Some(timeout));
    if let Some((user, pass)) = &email.credentials {
        transport = transport.credentials(Credentials::new(user.clone(), pass.clone()));
    }
    transport
        .build()
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Delivers one notice to `channel`; the error says why not.
pub async fn deliver(
    client: &reqwest::Client,
    channel: &Channel,
    notice: &DueNotice,
    link: &str,
) -> Result<(), String> {
    let (url, body, signature) = match &channel.kind {
        ChannelKind::Email(email) => return send_email(email, channel, notice, link).await,
        ChannelKind::Webhook { url, secret } => {
            let body = webhook_body(notice, link).to_string();
            let sig = signature(secret, body.as_bytes());
            (url, body, Some(sig))
        }
        ChannelKind::Slack { url } | ChannelKind::Mattermost { url } => {
            let body = serde_json::json!({ "text": chat_text(notice, link) }).to_string();
            (url, body, None)
        }
    };
    let mut request = client
        .post(url)
        .timeout(channel.timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(NOTICE_HEADER, notice.id.to_string())
        .body(body);
    if let Some(sig) = signature {
        request = request.header(SIGNATURE_HEADER, sig);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.unwrap_or_default();
    let cut: String = text.chars().take(MAX_REPLY).collect();
    Err(format!("{status}: {cut}"))
}

/// A notice of a made-up alert, for `tlsrptd alerts test`.
pub fn test_notice(channel: &str, now: DateTime<Utc>) -> DueNotice {
    DueNotice {
        id: 0,
        channel: channel.to_owned(),
        kind: "test".to_owned(),
        attempts: 0,
        alert: crate::store::Alert {
            id: 0,
            domain: "example.com".to_owned(),
            rule: "failure-spike".to_owned(),
            subject: String::new(),
            severity: "info".to_owned(),
            state: "open".to_owned(),
            opened_at: now,
            last_seen_at: now,
            resolved_at: None,
            summary: "a test notification from tlsrptd: this channel works".to_owned(),
            link: "/alerts".to_owned(),
            detail: serde_json::json!({
                "numbers": {},
                "explanation": "sent by `tlsrptd alerts test`",
                "fix": "nothing to do",
            }),
        },
    }
}

/// Delivers the notices due at `now`; returns how many were sent.
pub async fn send_due(
    store: &Store,
    config: &AlertConfig,
    client: &reqwest::Client,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let due = store.due_notices(now.timestamp(), PER_PASS).await?;
    let mut sent = 0;
    // A channel that failed in this pass is not tried again until the next: a channel
    // that is down costs one attempt (and one write) per pass, not one per notice.
    let mut down: std::collections::HashSet<String> = std::collections::HashSet::new();
    for notice in due {
        if down.contains(&notice.channel) {
            continue;
        }
        let link = match &config.dashboard_url {
            Some(base) => format!(
                "{}/domains/{}",
                base.trim_end_matches('/'),
                notice.alert.domain
            ),
            None => format!("/domains/{}", notice.alert.domain),
        };
        let result = match config.channel(&notice.channel) {
            Some(channel) => deliver(client, channel, &notice, &link).await,
            None => Err(format!(
                "no channel named {:?} in the configuration",
                notice.channel
            )),
        };
        match result {
            Ok(()) => {
                store.notice_sent(notice.id, now.timestamp()).await?;
                metrics::counter!("tlsrpt_notifications_sent_total", "channel" => notice.channel.clone())
                    .increment(1);
                sent += 1;
            }
            Err(error) => {
                down.insert(notice.channel.clone());
                let attempts = notice.attempts + 1;
                let give_up = attempts >= MAX_ATTEMPTS || config.channel(&notice.channel).is_none();
                let next = now.timestamp() + backoff(attempts).as_secs() as i64;
                tracing::warn!(
                    notice = notice.id,
                    channel = %notice.channel,
                    attempts,
                    give_up,
                    error = %error,
                    "notification not delivered"
                );
                store
                    .notice_failed(notice.id, next, &error, give_up)
                    .await?;
                metrics::counter!("tlsrpt_notifications_failed_total", "channel" => notice.channel.clone())
                    .increment(1);
            }
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_thirty_seconds_to_an_hour() {
        let waits: Vec<u64> = (1..=9).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(waits, vec![30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        let total: u64 = (1..MAX_ATTEMPTS).map(|a| backoff(a).as_secs()).sum();
        assert!(
            (20 * 3600..=30 * 3600).contains(&total),
            "about a day: {total} s"
        );
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
