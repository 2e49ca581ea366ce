//! The SMTP listener: drives one [`Session`] per connection over TCP and, after
//! STARTTLS, over TLS.
//!
//! In: accepted TCP connections. Out: each delivered message handed to the pipeline as a
//! [`Submission`] with the SMTP source (peer, HELO, MAIL FROM, RCPT, TLS) in its
//! envelope; the reply to the end of DATA is written only after the commit.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use super::dkim::{self, DkimDecision, DkimMode, DkimVerifier};
use super::replies;
use super::session::{Envelope, Event, Session, SessionConfig};
use crate::pipeline::{
    self, Acknowledgement, IngestError, Pipeline, RejectCode, SmtpEnvelope, Submission,
};
use crate::report::Warning;

/// Bytes read from the socket at a time: a few TCP segments; the session buffers lines.
const READ_CHUNK: usize = 16 * 1024;

/// Everything a connection needs; shared by all connections of the listener.
pub struct SmtpContext {
    pub session: SessionConfig,
    pub pipeline: Pipeline,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// No input for this long: `421 4.4.2` and close (RFC 5321 §4.5.3.2 suggests 5 min).
    pub idle_timeout: Duration,
    /// A connection older than this is closed with 421, however busy.
    pub session_lifetime: Duration,
    pub max_connections: usize,
    pub dkim_mode: DkimMode,
    pub dkim: Option<DkimVerifier>,
}

/// Accepts connections until `shutdown` turns true; open sessions then get `421` and
/// the function returns when they have all closed.
pub async fn serve(
    listener: TcpListener,
    context: Arc<SmtpContext>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(context.max_connections.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = crate::net::accept(&listener, "smtp") => accepted,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            // Over the connection cap: say so and hang up instead of queueing.
            metrics::counter!("tlsrpt_smtp_connections_refused_total").increment(1);
            tokio::spawn(async move {
                let mut stream = stream;
                let _ = stream
                    .write_all(replies::TOO_MANY_CONNECTIONS.as_bytes())
                    .await;
                let _ = stream.shutdown().await;
            });
            continue;
        };
        let context = context.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            let _permit = permit;
            if let Err(e) = connection(stream, peer, &context, shutdown).await {
                tracing::debug!(%peer, error = %e, "SMTP connection ended with an error");
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
}

enum Next {
    Close,
    StartTls,
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    context: &SmtpContext,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let deadline = Instant::now() + context.session_lifetime;
    let mut config = context.session.clone();
    config.tls_available = context.tls.is_some();
    let mut session = Session::new(config, peer.to_string());
    stream.write_all(&session.greeting()).await?;
    metrics::counter!("tlsrpt_smtp_sessions_total").increment(1);
    match drive(
        &mut stream,
        &mut session,
        peer,
        context,
        &mut shutdown,
        deadline,
    )
    .await?
    {
        Next::Close => {
            let _ = stream.shutdown().await;
            Ok(())
        }
        Next::StartTls => {
            let Some(acceptor) = &context.tls else {
                return Ok(());
            };
            let Some(mut tls) = crate::net::tls_handshake(acceptor, stream, peer, "smtp").await
            else {
                return Ok(());
            };
            let (_, connection) = tls.get_ref();
            let description = format!(
                "{} {}",
                connection
                    .protocol_version()
                    .map(|v| format!("{v:?}"))
                    .unwrap_or_else(|| "TLS".to_owned()),
                connection
                    .negotiated_cipher_suite()
                    .map(|c| format!("{:?}", c.suite()))
                    .unwrap_or_default()
            );
            session.tls_established(description.trim().to_owned());
            if let Next::StartTls = drive(
                &mut tls,
                &mut session,
                peer,
                context,
                &mut shutdown,
                deadline,
            )
            .await?
            {
                // The session never asks twice (503 when TLS is active); be safe anyway.
                tracing::warn!(%peer, "STARTTLS requested inside TLS");
            }
            let _ = tls.shutdown().await;
            Ok(())
        }
    }
}

/// Reads, feeds the session and carries out its events until it closes or asks for TLS.
async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    session: &mut Session,
    peer: SocketAddr,
    context: &SmtpContext,
    shutdown: &mut watch::Receiver<bool>,
    deadline: Instant,
) -> std::io::Result<Next> {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut events: VecDeque<Event> = VecDeque::new();
    loop {
        while let Some(event) = events.pop_front() {
            match event {
                Event::Reply(bytes) => stream.write_all(&bytes).await?,
                Event::Close => {
                    stream.flush().await?;
                    return Ok(Next::Close);
                }
                Event::StartTls => {
                    stream.flush().await?;
                    return Ok(Next::StartTls);
                }
                Event::Deliver(envelope) => {
                    stream.flush().await?;
                    let reply = deliver(context, peer, envelope).await;
                    events.extend(session.delivery_result(reply));
                }
            }
        }
        stream.flush().await?;
        if *shutdown.borrow() {
            stream.write_all(&Session::shutdown_reply()).await?;
            return Ok(Next::Close);
        }
        let read = tokio::select! {
            _ = shutdown.changed() => {
                stream.write_all(&Session::shutdown_reply()).await?;
                return Ok(Next::Close);
            }
            _ = tokio::time::sleep_until(deadline) => {
                stream.write_all(&Session::session_too_long_reply()).await?;
                return Ok(Next::Close);
            }
            read = tokio::time::timeout(context.idle_timeout, stream.read(&mut buf)) => read,
        };
        let n = match read {
            Err(_) => {
                metrics::counter!("tlsrpt_smtp_idle_timeouts_total").increment(1);
                stream.write_all(&Session::idle_timeout_reply()).await?;
                return Ok(Next::Close);
            }
            Ok(result) => result?,
        };
        if n == 0 {
            return Ok(Next::Close);
        }
        events.extend(session.feed(&buf[..n]));
    }
}

/// Stores one delivered message and returns the reply to the end of DATA.
async fn deliver(context: &SmtpContext, peer: SocketAddr, envelope: Envelope) -> Vec<u8> {
    let submission = Submission {
        envelope: pipeline::Envelope::Smtp(SmtpEnvelope {
            peer,
            helo: envelope.helo,
            mail_from: envelope.mail_from,
            rcpt_to: envelope.rcpt_to,
            tls: envelope.tls,
            dkim: None,
        }),
        content_type: None,
        received_at: Utc::now(),
        raw: envelope.message,
    };
    let mut prepared = match context.pipeline.prepare(submission).await {
        Ok(prepared) => prepared,
        Err(IngestError::Busy) => {
            tracing::warn!("in-flight decompression budget full: SMTP message deferred");
            return replies::BUSY.as_bytes().to_vec();
        }
        Err(e) => {
            tracing::error!(error = %e, "decoding task failed");
            return replies::TEMP_FAIL.as_bytes().to_vec();
        }
    };

    // RFC 8460 §3: emailed reports count only with a valid, aligned DKIM signature.
    if context.dkim_mode != DkimMode::Off && prepared.has_reports() {
        // DKIM verifies the message exactly as received: restored from the stored copy
        // rather than kept twice while it is decoded.
        let message = match prepared.original() {
            Ok(message) => message,
            Err(e) => {
                tracing::error!(error = %e, "cannot restore a received message for DKIM");
                return replies::TEMP_FAIL.as_bytes().to_vec();
            }
        };
        let meta = prepared.meta().cloned().unwrap_or_default();
        let mut domains = Vec::new();
        for report in prepared.reports() {
            domains.extend(dkim::reporting_domains(
                meta.from.as_deref(),
                report.contact_info.as_deref(),
                meta.tls_report_submitter.as_deref(),
            ));
        }
        domains.sort();
        domains.dedup();
        let outcome = match &context.dkim {
            Some(verifier) => verifier.verify(&message, &domains).await,
            None => dkim::DkimOutcome::off(),
        };
        metrics::counter!("tlsrpt_smtp_dkim_total", "result" => outcome.result.clone(), "aligned" => outcome.aligned.to_string())
            .increment(1);
        let decision = dkim::decide(context.dkim_mode, &outcome);
        let detail = outcome.detail.clone();
        if let pipeline::Envelope::Smtp(env) = prepared.envelope_mut() {
            env.dkim = Some(outcome);
        }
        match decision {
            DkimDecision::Accept => {}
            DkimDecision::AcceptFlagged => {
                prepared.flag_reports(Warning::new("dkim-not-valid", detail));
            }
            DkimDecision::Quarantine(reason) => {
                prepared.quarantine_reports(RejectCode::Dkim, &reason);
            }
        }
    }

    match context.pipeline.commit(prepared).await {
        Err(e) => {
            tracing::error!(error = %e, "cannot commit an SMTP submission");
            replies::TEMP_FAIL.as_bytes().to_vec()
        }
        Ok(outcome) => match outcome.acknowledgement() {
            Some(Acknowledgement::Stored(id)) => replies::stored(id).into_bytes(),
            Some(Acknowledgement::Duplicate(id)) => replies::duplicate(id).into_bytes(),
            None => {
                let first = outcome.first_rejection();
                replies::rejected(
                    first.map_or(RejectCode::NoReport, |r| r.code),
                    first.map_or("no TLS-RPT report found", |r| r.reason.as_str()),
                )
                .into_bytes()
            }
        },
    }
}
