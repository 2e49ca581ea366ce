//! The `tlsrptd` binary: parse the command line, set up logging, run one command.

use clap::Parser;

use tlsrptd::cli;
use tlsrptd::config::{Cli, Command};

/// mimalloc instead of glibc's allocator: the pipeline allocates many small strings on
/// reader threads and frees them on the writer, which glibc's per-thread arenas handle
/// slowly (a quarter of import CPU was in malloc/free) and with fragmentation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args = Cli::parse();
    tlsrptd::telemetry::init(&args.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tlsrptd: cannot start the async runtime: {e}");
            std::process::exit(2);
        }
    };
    let code = runtime.block_on(async move {
        match args.command {
            Command::Serve(serve) => cli::serve(*serve).await,
            Command::Import(import) => cli::import::run(import).await,
            Command::Migrate(db) => cli::migrate(db).await,
        }
    });
    std::process::exit(code);
}
