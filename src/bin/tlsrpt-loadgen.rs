//! Load generator for benchmarks: writes unique, realistic RFC 8460 reports.
//!
//! `tlsrpt-loadgen files --count 100000 --out DIR` writes `.json.gz` files shaped like the
//! reports large senders send (one or two policies, a few failure details), spread over
//! 100 files per subdirectory so directory walks stay cheap. Output is deterministic for
//! a given `--seed`.

use std::io::Write;
use std::path::PathBuf;

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
fn report(rng: &mut Rng, n: u64, domains: u64) -> String {
    let org = ORGS[rng.below(ORGS.len() as u64) as usize];
    let domain = format!("d{}.example", rng.below(domains));
    let day = 20_000 + rng.below(90) as i64;
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
    }
}
