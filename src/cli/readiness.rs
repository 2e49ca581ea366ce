//! `tlsrptd readiness DOMAIN...`: the enforce-readiness verdict from the command line.
//!
//! In: policy domains, the database and the readiness thresholds ([`ReadinessCmdArgs`]).
//! Out: per domain, the verdict with every reason and the impact preview (text, or a
//! JSON array with `--json`); exit 0 only when every domain is ready, 1 otherwise, 2 when
//! the database cannot be read.

use std::io::Write;

use crate::config::ReadinessCmdArgs;
use crate::watch::readiness::{Readiness, Verdict, evaluate};

pub async fn run(args: ReadinessCmdArgs) -> i32 {
    let store = match super::open_store(&args.database.url).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tlsrptd readiness: {}: {e}", args.database.url);
            return 2;
        }
    };
    let options = args.readiness.options();
    let now = chrono::Utc::now();
    let mut results = Vec::new();
    for name in &args.domains {
        let domain = crate::store::normalize_domain(name);
        match evaluate(&store, &domain, options, now).await {
            Ok(r) => results.push(r),
            Err(e) => {
                eprintln!("tlsrptd readiness: reading the reports of {domain}: {e}");
                return 2;
            }
        }
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
        eprintln!("tlsrptd readiness: writing the result: {e}");
        return 2;
    }
    if results.iter().all(|r| r.verdict == Verdict::Ready) {
        0
    } else {
        1
    }
}

fn write_text(out: &mut impl Write, r: &Readiness) -> std::io::Result<()> {
    writeln!(
        out,
        "{}: {} (mode {}, {} to {}: {} sessions, {} would have been refused)",
        r.domain,
        r.verdict.as_str(),
        r.mode.as_deref().unwrap_or("unknown"),
        r.from,
        r.to,
        r.sessions,
        r.would_fail
    )?;
    for reason in &r.reasons {
        let mark = if reason.passed { "ok  " } else { "FAIL" };
        writeln!(out, "  [{mark}] {}: {}", reason.code, reason.message)?;
        if let Some(fix) = &reason.fix {
            writeln!(out, "         fix: {fix}")?;
        }
    }
    if let Some(switch) = &r.switch {
        let date = switch
            .date
            .map_or_else(|| "before the reports read".to_owned(), |d| d.to_string());
        writeln!(
            out,
            "  switched to enforce: {date}; failure rate before {}, after {}{}",
            rate(switch.failure_rate_before),
            rate(switch.failure_rate_after),
            if switch.failures_rose { " (rose)" } else { "" }
        )?;
    }
    for row in &r.impact {
        writeln!(out, "  - {}", row.summary)?;
    }
    writeln!(out)
}

fn rate(rate: Option<f64>) -> String {
    rate.map_or_else(|| "n/a".to_owned(), |r| format!("{:.2} %", r * 100.0))
}
