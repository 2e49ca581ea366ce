//! The one integration-test binary. Modules follow the pipeline: import through the
//! binary, the store contract (SQLite always; PostgreSQL when `TLSRPT_TEST_POSTGRES_URL`
//! is set, run by `.ci/run` with `--ignored postgres`), migrations, the corpus, and the
//! dashboard (plain HTTP checks always; headless Chromium checks with `--ignored browser`).

mod alerts;
mod browser;
mod corpus;
mod dashboard;
mod dkim;
mod dns;
mod faults;
mod helpers;
mod hostile;
mod http;
mod http2;
mod import;
mod migrations;
mod posture;
mod posture_watch;
mod process;
mod properties;
mod query_counts;
mod read_listen;
mod readiness;
mod smtp;
mod store_contract;
