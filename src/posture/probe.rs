//! The STARTTLS probe of one MX host, as a sending MTA would connect (RFC 3207, RFC 8461
//! §4.2: a certificate valid for the MX name, from a trusted authority).
//!
//! In: the MX host name, one vetted address, the port (`--smtp-probe-port`, 25) and the
//! TLS trust roots. Out: a [`ProbeResult`]: whether STARTTLS is offered, whether the
//! handshake and certificate pass (with the TLS error if not), and the days until the
//! certificate expires. Nothing but EHLO, STARTTLS and QUIT is sent.
//!
//! Every step is bounded by [`STEP_TIMEOUT`], the whole probe by [`PROBE_TIMEOUT`], and a
//! reply by `MAX_REPLY_BYTES`: the host is named by the domain's DNS, so anyone's.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Waiting for the greeting or one reply: RFC 5321 §4.5.3.2 lets servers take 5 minutes
/// for the greeting, but a receiving MX that takes more than 30 s fails real senders.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// The whole probe of one address.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest reply read (all lines of a multi-line reply): EHLO replies are a few hundred
/// bytes.
const MAX_REPLY_BYTES: usize = 16 * 1024;

/// What the probe of one MX host found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeResult {
    pub host: String,
    /// The address probed.
    pub address: IpAddr,
    /// Connected and read a 220 greeting.
    pub connected: bool,
    /// EHLO listed STARTTLS.
    pub starttls: bool,
    /// The TLS handshake and the certificate check passed.
    pub tls_ok: bool,
    /// Why not, when the connection, the session or TLS failed.
    pub error: Option<String>,
    /// The certificate is not valid for the host (the TLS error in words).
    pub certificate_error: Option<String>,
    /// Days from now until the certificate's notAfter (negative when past).
    pub certificate_days_left: Option<i64>,
}

/// Probes `host` at `address`:`port`, presenting `helo` in EHLO.
pub async fn probe(
    host: &str,
    address: IpAddr,
    port: u16,
    helo: &str,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> ProbeResult {
    let mut result = ProbeResult {
        host: host.to_owned(),
        address,
        connected: false,
        starttls: false,
        tls_ok: false,
        error: None,
        certificate_error: None,
        certificate_days_left: None,
    };
    let run = run_probe(&mut result, host, SocketAddr::new(address, port), helo, tls);
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => result.error = Some(e),
        Err(_) => {
            result.error = Some(format!(
                "the probe did not finish within {}s",
                timeout.as_secs_f64()
            ))
        }
    }
    result
}

async fn run_probe(
    result: &mut ProbeResult,
    host: &str,
    addr: SocketAddr,
    helo: &str,
    tls: Arc<rustls::ClientConfig>,
) -> Result<(), String> {
    let stream = step(TcpStream::connect(addr), "connecting")
        .await?
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let mut stream = BufReader::new(stream);
    let (code, _) = read_reply(&mut stream, "the greeting").await?;
    if code != 220 {
        return Err(format!("{addr} greeted with {code}, not 220"));
    }
    result.connected = true;
    write_line(&mut stream, &format!("EHLO {helo}")).await?;
    let (code, lines) = read_reply(&mut stream, "the EHLO reply").await?;
    if code != 250 {
        return Err(format!("EHLO was answered {code}"));
    }
    result.starttls = lines.iter().skip(1).any(|l| {
        l.split_whitespace()
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case("STARTTLS"))
    });
    if !result.starttls {
        let _ = write_line(&mut stream, "QUIT").await;
        return Ok(());
    }
    write_line(&mut stream, "STARTTLS").await?;
    let (code, _) = read_reply(&mut stream, "the STARTTLS reply").await?;
    if code != 220 {
        return Err(format!("STARTTLS was answered {code}"));
    }
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| format!("{host} is not a valid TLS server name"))?;
    let connector = tokio_rustls::TlsConnector::from(tls);
    // Anything the server sent after 220 would be a protocol violation; the handshake
    // starts on the raw stream.
    let tcp = stream.into_inner();
    match step(connector.connect(name, tcp), "the TLS handshake").await? {
        Ok(mut tls_stream) => {
            result.tls_ok = true;
            let (_, connection) = tls_stream.get_ref();
            if let Some(leaf) = connection.peer_certificates().and_then(|c| c.first()) {
                result.certificate_days_left = days_left(leaf.as_ref());
            }
            let _ = tls_stream.write_all(b"QUIT\r\n").await;
            let _ = tls_stream.shutdown().await;
            Ok(())
        }
        Err(e) => {
            if let Some(reason) = super::fetch::certificate_error(&e) {
                result.certificate_error = Some(reason);
                Ok(())
            } else {
                Err(format!("the TLS handshake failed: {e}"))
            }
        }
    }
}

/// Days from now to the certificate's notAfter.
fn days_left(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let not_after = cert.validity().not_after.timestamp();
    Some((not_after - chrono::Utc::now().timestamp()).div_euclid(86_400))
}

async fn step<F: std::future::Future>(future: F, what: &str) -> Result<F::Output, String> {
    tokio::time::timeout(STEP_TIMEOUT, future)
        .await
        .map_err(|_| format!("no answer within {}s while {what}", STEP_TIMEOUT.as_secs()))
}

async fn write_line(stream: &mut BufReader<TcpStream>, line: &str) -> Result<(), String> {
    let line = format!("{line}\r\n");
    let write = stream.get_mut().write_all(line.as_bytes());
    step(write, "sending")
        .await?
        .map_err(|e| format!("the connection broke: {e}"))
}

/// Reads one (multi-line) reply: its code and the text of each line.
async fn read_reply<S: AsyncRead + Unpin>(
    stream: &mut BufReader<S>,
    what: &str,
) -> Result<(u16, Vec<String>), String> {
    let mut lines = Vec::new();
    let mut total = 0;
    loop {
        let mut line = Vec::new();
        let read = step(
            (&mut *stream)
                .take((MAX_REPLY_BYTES - total + 1) as u64)
                .read_until(b'\n', &mut line),
            what,
        )
        .await?
        .map_err(|e| format!("the connection broke while reading {what}: {e}"))?;
        if read == 0 {
            return Err(format!("the connection closed before {what}"));
        }
        total += read;
        if total > MAX_REPLY_BYTES {
            return Err(format!("{what} is longer than {MAX_REPLY_BYTES} bytes"));
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let code = text
            .get(..3)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| format!("{what} is not an SMTP reply: {text:?}"))?;
        let more = text.as_bytes().get(3) == Some(&b'-');
        lines.push(text.get(4..).unwrap_or("").to_owned());
        if !more {
            return Ok((code, lines));
        }
    }
}
