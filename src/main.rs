//! The `tlsrptd` binary: parse the command line, set up logging, run one command.

use clap::Parser;

use tlsrptd::cli;
use tlsrptd::config::{Cli, Command};

fn main() {
    tlsrptd::alloc::configure();
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
            Command::Check(check) => cli::check::run(check).await,
            Command::Readiness(args) => cli::readiness::run(args).await,
            Command::Alerts(command) => cli::alerts::run(command).await,
        }
    });
    std::process::exit(code);
}
