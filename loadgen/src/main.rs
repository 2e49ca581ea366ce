//! Load generator for benchmarks: unique, realistic RFC 8460 reports.
//!
//! - `files --count N --out DIR`: `.json.gz` files shaped like the reports large senders
//!   send (one or two policies, a few failure details), 100 per subdirectory.
//! - `cert --out DIR`: a self-signed certificate for `serve --tls-cert/--tls-key`, so the
//!   HTTPS load runs over real, verified TLS.
//! - `http --url URL --ca CERT --clients 64 --count N`: posts unique gzip reports over
//!   HTTPS keep-alive connections and prints throughput and latency percentiles.
//! - `fill --database URL --count N`: commits reports through the pipeline's batched
//!   write path (as `tlsrptd import` does), to build large databases for query benchmarks.
//! - `query --url URL [--url URL...] [--ca CERT] --requests N`: times GET requests
//!   (p50/p95/p99) against API routes and dashboard pages, over `https://` or `http://`.
//! - `smtp --addr HOST:PORT --connections 32 --count N`: delivers one report per message
//!   over plain SMTP sessions and times end of DATA → 250.
//! - `idle --addr HOST:PORT --connections 1000`: opens sessions, says EHLO and holds them.
//!
//! Output is deterministic for a given `--seed`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tlsrpt-loadgen",
    about = "Generate TLS-RPT load for tlsrptd benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write unique .json.gz report files.
    Files {
        #[arg(long, default_value_t = 100_000)]
        count: u64,
        #[arg(long)]
        out: PathBuf,
        /// Distinct policy domains the reports are about.
        #[arg(long, default_value_t = 1000)]
        domains: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Write cert.pem and key.pem (self-signed for localhost and 127.0.0.1).
    Cert {
        #[arg(long)]
        out: PathBuf,
    },
    /// POST unique gzip reports to an HTTPS intake.
    Http {
        /// e.g. https://localhost:8080/v1/reports
        #[arg(long)]
        url: String,
        /// PEM certificate to trust (from `cert`).
        #[arg(long)]
        ca: PathBuf,
        #[arg(long, default_value_t = 64)]
        clients: usize,
        #[arg(long, default_value_t = 50_000)]
        count: u64,
        #[arg(long, default_value_t = 1000)]
        domains: u64,
        #[arg(long, default_value_t = 2)]
        seed: u64,
    },
    /// Commit reports directly through the store.
    Fill {
        #[arg(long)]
        database: String,
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
        #[arg(long, default_value_t = 1000)]
        domains: u64,
        #[arg(long, default_value_t = 3)]
        seed: u64,
        /// Last of the 90 days the reports cover (default 2025-01-01, the first day
        /// 2024-10-04); `today` ends them yesterday, for readiness, which judges the
        /// days before today.
        #[arg(long)]
        last_day: Option<String>,
    },
    /// Deliver reports over SMTP, one per message.
    Smtp {
        #[arg(long)]
        addr: String,
        #[arg(long, default_value_t = 32)]
        connections: usize,
        #[arg(long, default_value_t = 20_000)]
        count: u64,
        #[arg(long, default_value = "tlsrpt@reports.example.com")]
        rcpt: String,
        #[arg(long, default_value_t = 1000)]
        domains: u64,
        #[arg(long, default_value_t = 4)]
        seed: u64,
    },
    /// Open idle SMTP sessions (EHLO, then nothing) and hold them until Ctrl-C.
    Idle {
        #[arg(long)]
        addr: String,
        #[arg(long, default_value_t = 1000)]
        connections: usize,
    },
    /// Time GET requests against the query API and the dashboard pages: each `--url` in
    /// turn, with its own latency line.
    Query {
        /// e.g. https://localhost:8080/api/v1/domains/d1.example/summary?from=2024-01-01 or
        /// http://127.0.0.1:8080/domains/d1.example?days=90; repeat for several.
        #[arg(long, required = true)]
        url: Vec<String>,
        /// PEM certificate to trust for https:// URLs (from `cert`).
        #[arg(long)]
        ca: Option<PathBuf>,
        /// Sent as `Authorization: Bearer TOKEN` (API routes).
        #[arg(long)]
        token: Option<String>,
        #[arg(long, default_value_t = 1000)]
        requests: u64,
        #[arg(long, default_value_t = 4)]
        clients: usize,
    },
}

/// xorshift64*: deterministic and dependency-free; statistical quality is irrelevant here.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const ORGS: &[&str] = &[
    "Google Inc.",
    "Microsoft Corporation",
    "Mail.ru",
    "Mimecast",
    "mx.example-relay.net",
];
const RESULT_TYPES: &[&str] = &[
    "certificate-expired",
    "certificate-host-mismatch",
    "starttls-not-supported",
    "sts-policy-fetch-error",
    "validation-failure",
];

/// One report as single-line JSON, the way Google and Microsoft send it.
/// First of the 90 days generated reports cover unless `fill --last-day` moves them:
/// 2024-10-04 (days since 1970).
const FIRST_DAY: i64 = 20_000;

fn report(rng: &mut Rng, n: u64, domains: u64) -> String {
    report_from(rng, n, domains, FIRST_DAY)
}

fn report_from(rng: &mut Rng, n: u64, domains: u64, first_day: i64) -> String {
    let org = ORGS[rng.below(ORGS.len() as u64) as usize];
    let domain = format!("d{}.example", rng.below(domains));
    let day = first_day + rng.below(90) as i64;
    let start = chrono::DateTime::from_timestamp(day * 86_400, 0).unwrap_or_default();
    let end = chrono::DateTime::from_timestamp(day * 86_400 + 86_399, 0).unwrap_or_default();
    let mut policies = Vec::new();
    for kind in ["sts", "tlsa"].iter().take(1 + rng.below(2) as usize) {
        let failed_details: Vec<serde_json::Value> = (0..rng.below(4))
            .map(|i| {
                serde_json::json!({
                    "result-type": RESULT_TYPES[rng.below(RESULT_TYPES.len() as u64) as usize],
                    "sending-mta-ip": format!("198.51.100.{}", rng.below(250) + 1),
                    "receiving-mx-hostname": format!("mx{}.{domain}", i + 1),
                    "failed-session-count": rng.below(20) + 1,
                })
            })
            .collect();
        let failed: u64 = failed_details
            .iter()
            .filter_map(|d| d["failed-session-count"].as_u64())
            .sum();
        policies.push(serde_json::json!({
            "policy": {
                "policy-type": kind,
                "policy-string": ["version: STSv1", "mode: enforce", format!("mx: mx1.{domain}"), "max_age: 604800"],
                "policy-domain": domain,
                "mx-host": [format!("mx1.{domain}")],
            },
            "summary": {
                "total-successful-session-count": rng.below(5000),
                "total-failure-session-count": failed,
            },
            "failure-details": failed_details,
        }));
    }
    serde_json::json!({
        "organization-name": org,
        "date-range": {
            "start-datetime": start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "end-datetime": end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        },
        "contact-info": "smtp-tls-reporting@example.net",
        "report-id": format!("{}_{domain}_{n:08}", start.format("%Y-%m-%dT%H:%M:%SZ")),
        "policies": policies,
    })
    .to_string()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = gz.write_all(bytes);
    gz.finish().unwrap_or_default()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn print_latencies(what: &str, count: usize, elapsed: Duration, mut latencies: Vec<Duration>) {
    latencies.sort();
    println!(
        "{what}: {count} in {:.2} s = {:.0}/s; latency p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 50.0).as_secs_f64() * 1e3,
        percentile(&latencies, 95.0).as_secs_f64() * 1e3,
        percentile(&latencies, 99.0).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

type Fail = Box<dyn std::error::Error + Send + Sync>;

type Sender = hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>;

/// One HTTP/1.1 keep-alive connection: over verified TLS when `tls` is given (https://
/// URLs), plain TCP otherwise.
async fn connect(
    url: &hyper::Uri,
    tls: Option<&tokio_rustls::TlsConnector>,
) -> Result<Sender, Fail> {
    let host = url.host().ok_or("URL has no host")?.to_owned();
    let default_port = if tls.is_some() { 443 } else { 80 };
    let port = url.port_u16().unwrap_or(default_port);
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
    tcp.set_nodelay(true)?;
    let Some(tls) = tls else {
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
        tokio::spawn(connection);
        return Ok(sender);
    };
    let name = rustls_pki_types::ServerName::try_from(host)?;
    let stream = tls.connect(name, tcp).await?;
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// The TLS connector an `https://` URL needs (trusting `ca`), `None` for `http://`.
fn connector_for(
    uri: &hyper::Uri,
    ca: Option<&std::path::Path>,
) -> Result<Option<tokio_rustls::TlsConnector>, Fail> {
    match uri.scheme_str() {
        Some("http") => Ok(None),
        Some("https") => {
            let ca = ca.ok_or("an https:// URL needs --ca")?;
            Ok(Some(tls_connector(ca)?))
        }
        other => Err(format!("unsupported URL scheme {other:?}").into()),
    }
}

fn tls_connector(ca: &std::path::Path) -> Result<tokio_rustls::TlsConnector, Fail> {
    use rustls_pki_types::pem::PemObject;
    let provider = tlsrptd::tls::crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(ca)? {
        roots.add(cert?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

async fn http_load(
    url: String,
    ca: PathBuf,
    clients: usize,
    count: u64,
    domains: u64,
    seed: u64,
) -> Result<(), Fail> {
    let uri: hyper::Uri = url.parse()?;
    let tls = tls_connector(&ca)?;
    // Bodies are generated up front so the measurement is the server, not the generator.
    let mut rng = Rng(seed.max(1));
    let bodies: Vec<bytes::Bytes> = (0..count)
        .map(|n| {
            bytes::Bytes::from(gzip(
                report(&mut rng, n + seed * 1_000_000_000, domains).as_bytes(),
            ))
        })
        .collect();
    let bodies = Arc::new(bodies);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients.max(1) {
        let (uri, tls, bodies, next) = (uri.clone(), tls.clone(), bodies.clone(), next.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
            let mut sender = connect(&uri, Some(&tls)).await?;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let request = hyper::Request::post(uri.clone())
                    .header(
                        hyper::header::HOST,
                        uri.authority().map(|a| a.as_str()).unwrap_or("localhost"),
                    )
                    .header(hyper::header::CONTENT_TYPE, "application/tlsrpt+gzip")
                    .body(http_body_util::Full::new(body.clone()))?;
                let sent = Instant::now();
                let response = sender.send_request(request).await?;
                let status = response.status().as_u16();
                http_body_util::BodyExt::collect(response.into_body()).await?;
                latencies.push(sent.elapsed());
                *statuses.entry(status).or_default() += 1;
            }
            Ok::<_, Fail>((latencies, statuses))
        });
    }
    let mut latencies = Vec::new();
    let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
    while let Some(done) = tasks.join_next().await {
        let (l, s) = done??;
        latencies.extend(l);
        for (k, v) in s {
            *statuses.entry(k).or_default() += v;
        }
    }
    let elapsed = started.elapsed();
    print_latencies("POST /v1/reports", latencies.len(), elapsed, latencies);
    println!("statuses: {statuses:?}");
    Ok(())
}

async fn query_load(
    urls: Vec<String>,
    ca: Option<PathBuf>,
    token: Option<String>,
    requests: u64,
    clients: usize,
) -> Result<(), Fail> {
    for url in urls {
        let uri: hyper::Uri = url.parse()?;
        let tls = connector_for(&uri, ca.as_deref())?;
        let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..clients.max(1) {
            let (uri, tls, next, token) = (uri.clone(), tls.clone(), next.clone(), token.clone());
            tasks.spawn(async move {
                let mut latencies = Vec::new();
                let mut sender = connect(&uri, tls.as_ref()).await?;
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < requests {
                    let mut request = hyper::Request::get(uri.clone()).header(
                        hyper::header::HOST,
                        uri.authority().map(|a| a.as_str()).unwrap_or("localhost"),
                    );
                    if let Some(token) = &token {
                        request =
                            request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
                    }
                    let request = request.body(http_body_util::Full::new(bytes::Bytes::new()))?;
                    let sent = Instant::now();
                    let response = sender.send_request(request).await?;
                    if !response.status().is_success() {
                        return Err(format!("{uri}: status {}", response.status()).into());
                    }
                    http_body_util::BodyExt::collect(response.into_body()).await?;
                    latencies.push(sent.elapsed());
                }
                Ok::<_, Fail>(latencies)
            });
        }
        let mut latencies = Vec::new();
        while let Some(done) = tasks.join_next().await {
            latencies.extend(done??);
        }
        print_latencies(
            &format!("GET {url}"),
            latencies.len(),
            started.elapsed(),
            latencies,
        );
    }
    Ok(())
}

/// Reads one (possibly multi-line) SMTP reply and returns its code.
async fn smtp_reply<R: tokio::io::AsyncBufRead + Unpin>(reader: &mut R) -> Result<u16, Fail> {
    use tokio::io::AsyncBufReadExt;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Err("connection closed".into());
        }
        if line.len() < 4 {
            return Err(format!("bad reply {line:?}").into());
        }
        if line.as_bytes()[3] != b'-' {
            return Ok(line[..3].parse()?);
        }
    }
}

fn email(json: &str, n: u64) -> Vec<u8> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(gzip(json.as_bytes()));
    let body: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    format!(
        "From: tlsrpt@reporter.example\r\nTo: tlsrpt@reports.example.com\r\nSubject: Report {n}\r\n\
         Message-ID: <{n}@reporter.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nTLS report\r\n\
         --b\r\nContent-Type: application/tlsrpt+gzip; name=\"r{n}.json.gz\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {}\r\n--b--\r\n",
        body.join("\r\n")
    )
    .into_bytes()
}

async fn smtp_load(
    addr: String,
    connections: usize,
    count: u64,
    rcpt: String,
    domains: u64,
    seed: u64,
) -> Result<(), Fail> {
    use tokio::io::AsyncWriteExt;
    let mut rng = Rng(seed.max(1));
    let messages: Vec<Vec<u8>> = (0..count)
        .map(|n| email(&report(&mut rng, n + seed * 1_000_000_000, domains), n))
        .collect();
    let messages = Arc::new(messages);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections.max(1) {
        let (addr, rcpt, messages, next) =
            (addr.clone(), rcpt.clone(), messages.clone(), next.clone());
        tasks.spawn(async move {
            let stream = tokio::net::TcpStream::connect(&addr).await?;
            stream.set_nodelay(true)?;
            let (read, mut write) = stream.into_split();
            let mut read = tokio::io::BufReader::new(read);
            let mut latencies = Vec::new();
            let mut codes = std::collections::BTreeMap::<u16, u64>::new();
            if smtp_reply(&mut read).await? != 220 {
                return Err::<_, Fail>("no greeting".into());
            }
            write.write_all(b"EHLO loadgen.example\r\n").await?;
            smtp_reply(&mut read).await?;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(message) = messages.get(i) else {
                    break;
                };
                // PIPELINING: envelope and DATA in one write.
                write
                    .write_all(
                        format!(
                            "MAIL FROM:<tlsrpt@reporter.example>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n"
                        )
                        .as_bytes(),
                    )
                    .await?;
                for _ in 0..3 {
                    smtp_reply(&mut read).await?;
                }
                write.write_all(message).await?;
                write.write_all(b".\r\n").await?;
                let sent = Instant::now();
                let code = smtp_reply(&mut read).await?;
                latencies.push(sent.elapsed());
                *codes.entry(code).or_default() += 1;
            }
            write.write_all(b"QUIT\r\n").await?;
            Ok((latencies, codes))
        });
    }
    let mut latencies = Vec::new();
    let mut codes = std::collections::BTreeMap::<u16, u64>::new();
    while let Some(done) = tasks.join_next().await {
        let (l, c) = done??;
        latencies.extend(l);
        for (k, v) in c {
            *codes.entry(k).or_default() += v;
        }
    }
    print_latencies(
        "SMTP messages (end of DATA -> reply)",
        latencies.len(),
        started.elapsed(),
        latencies,
    );
    println!("reply codes: {codes:?}");
    Ok(())
}

async fn idle(addr: String, connections: usize) -> Result<(), Fail> {
    use tokio::io::AsyncWriteExt;
    let mut held = Vec::with_capacity(connections);
    for _ in 0..connections {
        let stream = tokio::net::TcpStream::connect(&addr).await?;
        let (read, mut write) = stream.into_split();
        let mut read = tokio::io::BufReader::new(read);
        smtp_reply(&mut read).await?;
        write.write_all(b"EHLO idle.example\r\n").await?;
        smtp_reply(&mut read).await?;
        held.push((read, write));
    }
    println!(
        "holding {} idle SMTP sessions; Ctrl-C to release",
        held.len()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// Commits generated reports through the same batched write path as `tlsrptd import`:
/// a thread prepares chunks of submissions and queues them with the pipeline, this task
/// waits for each chunk's commit.
async fn fill(
    database: String,
    count: u64,
    domains: u64,
    seed: u64,
    last_day: Option<String>,
) -> Result<(), Fail> {
    let first_day = match last_day.as_deref() {
        None => FIRST_DAY,
        Some(day) => {
            let last = if day == "today" {
                chrono::Utc::now().date_naive() - chrono::Days::new(1)
            } else {
                chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
                    .map_err(|e| format!("--last-day {day:?}: {e}"))?
            };
            last.and_hms_opt(0, 0, 0)
                .map_or(FIRST_DAY, |t| t.and_utc().timestamp().div_euclid(86_400))
                - 89
        }
    };
    use tlsrptd::pipeline::{Envelope, ImportEnvelope, Pipeline, Submission};
    /// Submissions per queued chunk, and chunks in flight: as the importer does.
    const CHUNK: u64 = 128;
    const IN_FLIGHT: usize = 32;
    let pipeline = Pipeline::new(
        tlsrptd::store::Store::open_with(&database, tlsrptd::store::Folding::Bulk).await?,
        tlsrptd::pipeline::Limits::default(),
    );
    let started = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::channel(IN_FLIGHT);
    let producer = {
        let pipeline = pipeline.clone();
        std::thread::spawn(move || {
            let mut rng = Rng(seed.max(1));
            let mut n = 0;
            while n < count {
                let chunk: Vec<_> = (n..count.min(n + CHUNK))
                    .map(|i| {
                        let raw = gzip(
                            report_from(&mut rng, i + seed * 1_000_000_000, domains, first_day)
                                .as_bytes(),
                        );
                        let submission = Submission {
                            envelope: Envelope::Import(ImportEnvelope {
                                path: format!("loadgen-fill-{i}"),
                                mbox_message: None,
                            }),
                            content_type: None,
                            received_at: chrono::Utc::now(),
                            raw,
                        };
                        tlsrptd::pipeline::prepare(pipeline.limits(), submission)
                    })
                    .collect();
                n += chunk.len() as u64;
                if tx.blocking_send(pipeline.queue_blocking(chunk)).is_err() {
                    return;
                }
            }
        })
    };
    let mut done = 0u64;
    while let Some(pending) = rx.recv().await {
        for outcome in pending.wait().await {
            outcome?;
            done += 1;
            if done.is_multiple_of(100_000) {
                eprintln!(
                    "{done} reports, {:.0}/s",
                    done as f64 / started.elapsed().as_secs_f64()
                );
            }
        }
    }
    producer
        .join()
        .map_err(|_| "the producer thread panicked")?;
    pipeline.settle().await?;
    println!(
        "filled {count} reports in {:.1} s ({:.0}/s)",
        started.elapsed().as_secs_f64(),
        count as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Files {
            count,
            out,
            domains,
            seed,
        } => {
            let mut rng = Rng(seed.max(1));
            for n in 0..count {
                let dir = out.join(format!("{:05}", n / 100));
                let json = report(&mut rng, n, domains);
                let path = dir.join(format!("report-{n:08}.json.gz"));
                let written = std::fs::create_dir_all(&dir).and_then(|_| {
                    let mut gz = flate2::write::GzEncoder::new(
                        std::fs::File::create(&path)?,
                        flate2::Compression::default(),
                    );
                    gz.write_all(json.as_bytes())?;
                    gz.finish().map(|_| ())
                });
                if let Err(e) = written {
                    eprintln!("tlsrpt-loadgen: {}: {e}", path.display());
                    return std::process::ExitCode::from(2);
                }
            }
            println!("wrote {count} reports to {}", out.display());
            std::process::ExitCode::SUCCESS
        }
        Cmd::Cert { out } => {
            let written = rcgen::generate_simple_self_signed(vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
            ])
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|c| {
                std::fs::create_dir_all(&out)?;
                std::fs::write(out.join("cert.pem"), c.cert.pem())?;
                std::fs::write(out.join("key.pem"), c.signing_key.serialize_pem())
            });
            match written {
                Ok(()) => {
                    println!("wrote {0}/cert.pem and {0}/key.pem", out.display());
                    std::process::ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("tlsrpt-loadgen: {}: {e}", out.display());
                    std::process::ExitCode::from(2)
                }
            }
        }
        Cmd::Http {
            url,
            ca,
            clients,
            count,
            domains,
            seed,
        } => run(http_load(url, ca, clients, count, domains, seed)),
        Cmd::Fill {
            database,
            count,
            domains,
            seed,
            last_day,
        } => run(fill(database, count, domains, seed, last_day)),
        Cmd::Query {
            url,
            ca,
            token,
            requests,
            clients,
        } => run(query_load(url, ca, token, requests, clients)),
        Cmd::Smtp {
            addr,
            connections,
            count,
            rcpt,
            domains,
            seed,
        } => run(smtp_load(addr, connections, count, rcpt, domains, seed)),
        Cmd::Idle { addr, connections } => run(idle(addr, connections)),
    }
}

fn run(work: impl std::future::Future<Output = Result<(), Fail>>) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tlsrpt-loadgen: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match runtime.block_on(work) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tlsrpt-loadgen: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
