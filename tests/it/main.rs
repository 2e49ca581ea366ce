//! The one integration-test binary. Modules follow the pipeline: import through the
//! binary, the store contract (SQLite always; PostgreSQL when `TLSRPT_TEST_POSTGRES_URL`
//! is set, run by `.ci/run` with `--ignored postgres`), migrations and the corpus.

mod corpus;
mod dkim;
mod dns;
mod helpers;
mod http;
mod import;
mod migrations;
mod smtp;
mod store_contract;
