//! Listener plumbing shared by the HTTPS and SMTP listeners.
//!
//! In: a bound [`TcpListener`], or an accepted stream and a TLS acceptor. Out: accepted
//! connections (transient accept errors logged and retried, Nagle off), and TLS streams
//! whose handshake finished within one timeout for every listener.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Time a client has to finish a TLS handshake, on connect (HTTPS) or after STARTTLS
/// (SMTP). A real client needs a few round trips; ten seconds covers slow links while
/// a connection that never completes cannot hold a slot for long.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause after a failed accept (out of file descriptors, mostly) so the loop does not
/// spin while the condition lasts.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// The next connection of `listener`. Accept errors are logged and retried; the result
/// is cancel-safe, so it can be raced against a shutdown signal.
pub async fn accept(listener: &TcpListener, what: &'static str) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                // Replies are small and written whole: do not hold them back.
                let _ = stream.set_nodelay(true);
                return (stream, peer);
            }
            Err(e) => {
                tracing::warn!(listener = what, error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_RETRY).await;
            }
        }
    }
}

/// Runs the server side of a TLS handshake within [`TLS_HANDSHAKE_TIMEOUT`]; `None` when
/// it failed or timed out (logged at debug: scanners do this all day).
pub async fn tls_handshake<IO>(
    acceptor: &TlsAcceptor,
    stream: IO,
    peer: SocketAddr,
    what: &'static str,
) -> Option<TlsStream<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            tracing::debug!(%peer, listener = what, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, listener = what, "TLS handshake timed out");
            None
        }
    }
}

/// How far ahead a timer is always pending while the listeners run (see
/// [`keep_a_timer_pending`]).
const TIMER_FLOOR: Duration = Duration::from_secs(1);

/// Keeps a timer pending within a second (`TIMER_FLOOR`) for as long as it runs.
///
/// hyper arms a header-read timer for every request and drops it as soon as the head has
/// arrived. When no other timer is pending, tokio's time driver sleeps without a
/// deadline, and then every new timer wakes it through its eventfd: a system call, and
/// often a thread woken only to sleep again, for about every other HTTPS request. A
/// timer that is always due within a second keeps the driver's next wake ahead of every
/// header, body or handshake deadline (10 s and more), and registering one of those
/// then wakes nobody. The cost is one wake-up a second.
pub async fn keep_a_timer_pending() {
    let mut tick = tokio::time::interval(TIMER_FLOOR);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}
