//! Commands: `serve`, and the one-shot `import` and `migrate`.
//!
//! In: parsed command-line arguments. Out: an exit code (0 success, 1 something was
//! rejected, 2 usage or I/O error) and lines on stdout/stderr.

pub mod alerts;
pub mod check;
pub mod import;
pub mod readiness;

use crate::app::{App, AppConfig};
use crate::config::{DatabaseArgs, ServeArgs};
use crate::pipeline::{Limits, Pipeline};
use crate::store::{Folding, Store, StoreError};

/// Opens the store (migrating it) and the pipeline that writes to it, for a bulk writer
/// (`import`): the one place a command touches the store directly.
pub async fn open_pipeline(url: &str, limits: Limits) -> Result<Pipeline, StoreError> {
    Ok(Pipeline::new(
        Store::open_with(url, Folding::Bulk).await?,
        limits,
    ))
}

/// Opens the store (migrating it) for a command that reads it.
pub async fn open_store(url: &str) -> Result<Store, StoreError> {
    Store::open(url).await
}

/// `tlsrptd migrate`: opening the store applies pending migrations.
pub async fn migrate(args: DatabaseArgs) -> i32 {
    match Store::open(&args.url).await {
        Ok(store) => {
            println!(
                "database {} is up to date ({})",
                args.url,
                store.backend_name()
            );
            0
        }
        Err(e) => {
            eprintln!("tlsrptd migrate: {}: {e}", args.url);
            2
        }
    }
}

/// `tlsrptd serve`: runs until SIGTERM or Ctrl-C, then shuts down gracefully.
/// The posture schedule and checker options of serve's flags; a bad --posture-domain or
/// --extra-ca is named.
fn posture_config(args: &ServeArgs) -> Result<crate::app::PostureConfig, String> {
    let p = &args.posture;
    let own = crate::posture::check::OwnDestinations {
        mailto: args.smtp.smtp_recipients.clone(),
        https: p.public_urls.clone(),
    };
    let options = check::check_options(&p.net, args.smtp.dkim_nameserver, own)
        .map_err(|e| format!("--extra-ca {e}"))?;
    let domains = p
        .posture_domains
        .iter()
        .map(|d| {
            crate::posture::domain::normalize(d).map_err(|e| format!("--posture-domain {d:?}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::app::PostureConfig {
        schedule: crate::watch::posture::PostureSchedule {
            interval: Some(p.posture_interval).filter(|i| !i.is_zero()),
            domains,
            concurrency: p.posture_concurrency.max(1),
            refresh_interval: p.posture_refresh_interval,
        },
        options,
    })
}

pub async fn serve(args: ServeArgs) -> i32 {
    crate::telemetry::init_metrics();
    let posture = match posture_config(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("tlsrptd serve: {e}");
            return 2;
        }
    };
    let alerts = match &args.config {
        Some(path) => match crate::watch::alerts::config::load(path) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("tlsrptd serve: {e}");
                return 2;
            }
        },
        None => Some(Default::default()),
    }
    .filter(|_| !args.no_alerts);
    let config = AppConfig {
        database_url: args.database.url.clone(),
        limits: args.limits.limits(),
        http: args.http.clone(),
        smtp: args.smtp.clone(),
        posture,
        readiness: args.readiness.options(),
        readiness_interval: Some(args.readiness_schedule.readiness_interval)
            .filter(|i| !i.is_zero()),
        alerts,
    };
    let app = match App::build(config).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("tlsrptd serve: {e}");
            return 2;
        }
    };
    match app.run(crate::app::shutdown_signal()).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("tlsrptd serve: {e}");
            1
        }
    }
}
