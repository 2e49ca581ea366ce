//! The real `tlsrptd` binary as a child process, for the suites that kill it, starve it
//! or measure its memory: started on port 0 (the addresses are read from its JSON log),
//! SIGKILLed or stopped, and its peak RSS read from `/proc`. Also the clients the suites
//! share: HTTP, and a bare SMTP client that reports the reply code to the end of DATA.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader as AsyncBufReader};
use tokio::net::TcpStream;

/// The SMTP recipient every child server accepts.
pub const RECIPIENT: &str = "tlsrpt@reports.test";

pub struct Server {
    child: Child,
    pub http: SocketAddr,
    pub smtp: SocketAddr,
}

impl Server {
    /// Starts `tlsrptd serve` on `database` with plain HTTP and SMTP on loopback port 0,
    /// DKIM off, and `extra` arguments; returns once both listeners are ready.
    pub fn start(database: &str, extra: &[&str]) -> Server {
        Server::start_on(database, "127.0.0.1:0", "127.0.0.1:0", extra)
    }

    /// [`Server::start`] on given addresses (a restart on the same ports).
    pub fn start_on(database: &str, http: &str, smtp: &str, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tlsrptd"))
            .args(["--log-format", "json", "--log", "info", "serve"])
            .args([
                "--database",
                database,
                "--http-listen",
                http,
                "--http-plain",
            ])
            .args(["--smtp-listen", smtp, "--smtp-recipient", RECIPIENT])
            .args(["--dkim", "off", "--http-rate-limit", "100000"])
            // No posture schedule: it would look up the reports' domains in public DNS.
            .args(["--posture-interval", "0"])
            .args(["--http-rate-burst", "100000"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tlsrptd");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Reads the log to its end so the child never blocks on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                let message = v["fields"]["message"].as_str().unwrap_or("");
                if message.ends_with("listener ready") {
                    let addr = v["fields"]["addr"].as_str().unwrap_or("").to_owned();
                    let _ = tx.send((message.starts_with("SMTP"), addr));
                }
            }
        });
        let (mut http, mut smtp) = (None, None);
        while http.is_none() || smtp.is_none() {
            let (is_smtp, addr) = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("tlsrptd did not report its listeners within 60 s");
            let addr: SocketAddr = addr.parse().expect("listener address");
            if is_smtp {
                smtp = Some(addr);
            } else if http.is_none() {
                http = Some(addr);
            }
        }
        Server {
            child,
            http: http.unwrap(),
            smtp: smtp.unwrap(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `VmHWM` of the child: its peak resident memory so far, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        status_kib(self.pid(), "VmHWM:")
    }

    /// `VmRSS` of the child, in KiB.
    pub fn rss_kib(&self) -> u64 {
        status_kib(self.pid(), "VmRSS:")
    }

    /// SIGKILL: no shutdown path runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("memory figure in /proc status")
}

/// An HTTP client for the child server (plain HTTP, generous timeout).
pub fn client() -> reqwest::Client {
    let _ = tlsrptd::tls::crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

/// POSTs `body` and returns the status and JSON answer.
pub async fn post(
    client: &reqwest::Client,
    server_url: &str,
    body: Vec<u8>,
    content_type: &str,
) -> (u16, serde_json::Value) {
    let response = client
        .post(server_url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("HTTP answer");
    let status = response.status().as_u16();
    let json = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// Delivers `message` over SMTP and returns the reply code to the end of DATA (or to the
/// first command refused), or an error when the connection failed.
pub async fn smtp_deliver(addr: SocketAddr, message: &[u8]) -> std::io::Result<u16> {
    let stream = TcpStream::connect(addr).await?;
    let (read, mut write) = stream.into_split();
    let mut read = AsyncBufReader::new(read);
    let mut reply = async || -> std::io::Result<u16> {
        loop {
            let mut line = String::new();
            if read.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return line
                    .get(..3)
                    .and_then(|c| c.parse().ok())
                    .ok_or_else(|| std::io::Error::other(format!("bad reply {line:?}")));
            }
        }
    };
    let greeting = reply().await?;
    if greeting != 220 {
        return Ok(greeting);
    }
    for (command, expect) in [
        ("EHLO sender.test\r\n".to_owned(), 250),
        ("MAIL FROM:<reports@sender.test>\r\n".to_owned(), 250),
        (format!("RCPT TO:<{RECIPIENT}>\r\n"), 250),
        ("DATA\r\n".to_owned(), 354),
    ] {
        write.write_all(command.as_bytes()).await?;
        let code = reply().await?;
        if code != expect {
            return Ok(code);
        }
    }
    let mut data = Vec::with_capacity(message.len() + 1024);
    for line in message.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            data.push(b'.');
        }
        data.extend_from_slice(line);
    }
    if !data.ends_with(b"\n") {
        data.extend_from_slice(b"\r\n");
    }
    data.extend_from_slice(b".\r\n");
    write.write_all(&data).await?;
    let code = reply().await?;
    let _ = write.write_all(b"QUIT\r\n").await;
    Ok(code)
}

/// An RFC 5322 message carrying `attachment` as a base64 `application/tlsrpt+gzip` part.
pub fn report_message(attachment: &[u8], id: &str) -> Vec<u8> {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(attachment);
    let mut body = String::with_capacity(encoded.len() + encoded.len() / 76 * 2 + 1024);
    body.push_str(&format!(
        "From: reports@sender.test\r\nTo: {RECIPIENT}\r\nSubject: Report Domain: example.com\r\n\
         Message-ID: <{id}@sender.test>\r\nTLS-Report-Domain: example.com\r\n\
         TLS-Report-Submitter: sender.test\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=tlsrpt; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nReport.\r\n\
         --b\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"report.json.gz\"\r\n\r\n"
    ));
    for line in encoded.as_bytes().chunks(76) {
        body.push_str(std::str::from_utf8(line).unwrap_or_default());
        body.push_str("\r\n");
    }
    body.push_str("--b--\r\n");
    body.into_bytes()
}
