//! One-shot commands: `import` and `migrate`.
//!
//! In: parsed command-line arguments. Out: an exit code (0 success, 1 something was
//! rejected, 2 usage or I/O error) and lines on stdout/stderr.

pub mod import;

use crate::config::DatabaseArgs;
use crate::store::Store;

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
