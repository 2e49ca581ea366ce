//! `tlsrptd check DOMAIN...`: the posture check from the command line.
//!
//! In: domain names and how to reach the network ([`CheckArgs`]). Out: per domain, the
//! state and every finding with its fix (text, or a JSON array with `--json`); exit 0
//! when no finding is an error, 1 when one is, 2 when a name or a setting is unusable.

use std::io::Write;

use crate::config::{CheckArgs, PostureNetArgs};
use crate::posture::check::{CheckOptions, Checker, OwnDestinations, PostureResult, ReportContext};
use crate::posture::{Severity, domain};

/// The checker options of the network flags; an unreadable --extra-ca names the file.
pub fn check_options(
    net: &PostureNetArgs,
    dns_server: Option<std::net::SocketAddr>,
    own: OwnDestinations,
) -> Result<CheckOptions, String> {
    let mut extra_roots = Vec::new();
    for path in &net.extra_ca {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut reader = std::io::BufReader::new(pem.as_slice());
        let certs: Vec<_> =
            rustls_pemfile_certs(&mut reader).map_err(|e| format!("{}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "{}: no PEM certificate in the file",
                path.display()
            ));
        }
        extra_roots.extend(certs);
    }
    Ok(CheckOptions {
        dns_server,
        allow_private_addresses: net.allow_private_addresses,
        extra_roots,
        mta_sts_port: net.mta_sts_port,
        smtp_probe_port: net.smtp_probe_port,
        helo_name: net.helo_name.clone(),
        own,
        ..CheckOptions::default()
    })
}

/// The certificates of a PEM file.
fn rustls_pemfile_certs(
    reader: &mut dyn std::io::BufRead,
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, String> {
    use rustls_pki_types::pem::PemObject;
    let mut text = Vec::new();
    reader.read_to_end(&mut text).map_err(|e| e.to_string())?;
    rustls_pki_types::CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate: {e}"))
}

pub async fn run(args: CheckArgs) -> i32 {
    let own = OwnDestinations {
        mailto: args.smtp_recipients.clone(),
        https: args.public_urls.clone(),
    };
    let options = match check_options(&args.net, args.dns_server, own) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("tlsrptd check: --extra-ca {e}");
            return 2;
        }
    };
    let checker = match Checker::new(options) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tlsrptd check: {e}");
            return 2;
        }
    };
    let mut domains = Vec::new();
    for name in &args.domains {
        match domain::normalize(name) {
            Ok(d) => domains.push(d),
            Err(e) => {
                eprintln!("tlsrptd check: {name:?}: {e}");
                return 2;
            }
        }
    }
    let store = match &args.database {
        Some(url) => match super::open_store(url).await {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("tlsrptd check: {url}: {e}");
                return 2;
            }
        },
        None => None,
    };
    let mut results = Vec::new();
    for d in &domains {
        let context = match &store {
            Some(store) => {
                match crate::watch::posture::report_context(store, d, chrono::Utc::now()).await {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("tlsrptd check: reading the reports of {d}: {e}");
                        return 2;
                    }
                }
            }
            None => ReportContext::default(),
        };
        let (result, _) = checker.check(d, &context, None).await;
        results.push(result);
    }
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        serde_json::to_writer_pretty(&mut out, &results)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out))
    } else {
        results.iter().try_for_each(|r| write_text(&mut out, r))
    };
    if let Err(e) = written {
        eprintln!("tlsrptd check: writing the result: {e}");
        return 2;
    }
    if results.iter().any(PostureResult::has_errors) {
        1
    } else {
        0
    }
}

fn write_text(out: &mut impl Write, r: &PostureResult) -> std::io::Result<()> {
    writeln!(out, "{}: {}", r.domain, r.state.as_str())?;
    if r.findings.is_empty() {
        writeln!(
            out,
            "  no findings: TLS-RPT, MTA-STS and the MX hosts are in order"
        )?;
    }
    for f in &r.findings {
        let severity = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        writeln!(out, "  [{severity}] {}: {}", f.code, f.message)?;
        writeln!(out, "      fix: {}", f.fix)?;
    }
    writeln!(out)
}
