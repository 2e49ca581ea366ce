//! Folding stored reports into the rollups, and when to do it.
//!
//! In: the reports listed in `rollup_pending` (migration 0005), which every insert
//! transaction appends to. Out: their sessions added to the rollup tables of migration
//! 0004 (per domain, per domain and organization, and the domain-organization pairs) and
//! their pending rows deleted, in one transaction. The read queries (`queries.rs`) add the
//! policies of still-pending reports to the rollup rows in the same statement, so a report
//! is counted once whether it is folded yet or not; folding changes how fast an answer
//! is, never what it says.
//!
//! Why not upsert the rollups in the insert transaction: with reports spread over many
//! domains and days, each commit's rollup keys land on nearly every page of the rollup
//! tables, so every commit rewrote them all (bulk import 20-30% slower, see
//! docs/benchmarks.md). A fold of a few thousand reports writes each of those pages once.
//!
//! The writer loop (`write.rs`) folds after [`FOLD_AFTER_REPORTS`] stored reports, when
//! the oldest unfolded commit is [`FOLD_AFTER`] old, when it has been idle for
//! [`FOLD_WHEN_IDLE`], and on request ([`Store::fold_rollups`](super::Store::fold_rollups)).

use std::time::Duration;

/// When the writer folds stored reports into the rollups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Folding {
    /// After [`FOLD_AFTER_REPORTS`] reports, [`FOLD_AFTER`] or [`FOLD_WHEN_IDLE`], and on
    /// request: what the service and the command-line tools use.
    #[default]
    Automatic,
    /// Only when [`Store::fold_rollups`](super::Store::fold_rollups) asks: for tests that
    /// read a store in a known mix of folded and pending reports.
    OnRequest,
}

/// Stored reports after which the writer folds. The read queries scan the pending
/// reports' policies (a key lookup each), so this bounds what a read adds to its rollup
/// rows: about 4,000 reports, a few milliseconds. Larger folds save little more: at 4,096
/// reports a fold already writes each rollup page about once.
pub(super) const FOLD_AFTER_REPORTS: usize = 4096;

/// The writer folds what it stored at most this long ago, even under a steady trickle
/// that never leaves it idle, so pending reports do not linger until the count is reached.
pub(super) const FOLD_AFTER: Duration = Duration::from_secs(2);

/// With nothing to commit for this long, the writer folds what is pending (including
/// what another process, or a run that stopped, left behind).
pub(super) const FOLD_WHEN_IDLE: Duration = Duration::from_millis(500);

/// Most reports folded in one transaction, so a fold (after a long outage of folding,
/// e.g. a crash mid-import) never holds SQLite's write lock for long: the intakes'
/// commits wait behind it (a fold of this size takes well under a second).
pub(super) const FOLD_CHUNK: i64 = 16_384;

/// The last report id of the next fold: the [`FOLD_CHUNK`]-th lowest pending id (`$1` =
/// the chunk size), `NULL` when nothing is pending.
pub(super) const FOLD_CUTOFF: &str = "SELECT MAX(report_row) AS cutoff FROM \
    (SELECT report_row FROM rollup_pending ORDER BY report_row LIMIT $1) t";

/// The pending reports' policies up to the cutoff `$1` (SQLite form: the writer holds the
/// database's write lock, so the statements of one fold see the same pending rows).
macro_rules! pending_policies {
    () => {
        "FROM rollup_pending q CROSS JOIN policies p \
         WHERE p.report_row = q.report_row AND q.report_row <= $1 "
    };
}

macro_rules! add_sessions {
    ($table:literal) => {
        concat!(
            "reports = ",
            $table,
            ".reports + excluded.reports, successful = ",
            $table,
            ".successful + excluded.successful, failed = ",
            $table,
            ".failed + excluded.failed"
        )
    };
}

/// SQLite: the fold's statements, run in order in one `BEGIN IMMEDIATE` transaction with
/// the cutoff as `$1`. A report counts once per domain (`COUNT(DISTINCT report_row)`),
/// however many of its policies name the domain.
pub(super) const SQLITE_FOLD: [&str; 4] = [
    concat!(
        "INSERT INTO rollup_domains (policy_domain, start_at, reports, successful, failed) \
         SELECT p.policy_domain, p.start_at, COUNT(DISTINCT p.report_row), \
         SUM(p.total_successful), SUM(p.total_failed) ",
        pending_policies!(),
        "GROUP BY p.policy_domain, p.start_at \
         ON CONFLICT (policy_domain, start_at) DO UPDATE SET ",
        add_sessions!("rollup_domains")
    ),
    concat!(
        "INSERT INTO rollup_organizations \
         (policy_domain, organization_name, start_at, reports, successful, failed) \
         SELECT p.policy_domain, p.organization_name, p.start_at, COUNT(DISTINCT p.report_row), \
         SUM(p.total_successful), SUM(p.total_failed) ",
        pending_policies!(),
        "GROUP BY p.policy_domain, p.organization_name, p.start_at \
         ON CONFLICT (policy_domain, organization_name, start_at) DO UPDATE SET ",
        add_sessions!("rollup_organizations")
    ),
    concat!(
        "INSERT INTO domain_organizations (policy_domain, organization_name) \
         SELECT DISTINCT p.policy_domain, p.organization_name ",
        pending_policies!(),
        "ON CONFLICT (policy_domain, organization_name) DO NOTHING"
    ),
    "DELETE FROM rollup_pending WHERE report_row <= $1",
];

/// PostgreSQL: the whole fold as one statement, so it reads one snapshot. Several writers
/// (and nodes) commit concurrently and a report id is allocated before its transaction
/// commits, so a pending row below the cutoff may become visible between two statements;
/// in one statement it is either deleted and added, or left for the next fold. Folds
/// take turns on a transaction advisory lock ([`PG_FOLD_LOCK`]) taken by the statement
/// before, so they never update the same rollup rows at once. Returns the reports folded.
pub(super) const POSTGRES_FOLD: &str = concat!(
    "WITH taken AS (DELETE FROM rollup_pending WHERE report_row <= $1 RETURNING report_row), \
     p AS MATERIALIZED (SELECT p.report_row, p.policy_domain, p.organization_name, p.start_at, \
        p.total_successful, p.total_failed \
        FROM taken JOIN policies p ON p.report_row = taken.report_row), \
     d AS (INSERT INTO rollup_domains (policy_domain, start_at, reports, successful, failed) \
        SELECT policy_domain, start_at, COUNT(DISTINCT report_row), SUM(total_successful), \
        SUM(total_failed) FROM p GROUP BY policy_domain, start_at \
        ON CONFLICT (policy_domain, start_at) DO UPDATE SET ",
    add_sessions!("rollup_domains"),
    "), \
     o AS (INSERT INTO rollup_organizations \
        (policy_domain, organization_name, start_at, reports, successful, failed) \
        SELECT policy_domain, organization_name, start_at, COUNT(DISTINCT report_row), \
        SUM(total_successful), SUM(total_failed) FROM p \
        GROUP BY policy_domain, organization_name, start_at \
        ON CONFLICT (policy_domain, organization_name, start_at) DO UPDATE SET ",
    add_sessions!("rollup_organizations"),
    "), \
     pairs AS (INSERT INTO domain_organizations (policy_domain, organization_name) \
        SELECT DISTINCT policy_domain, organization_name FROM p \
        ON CONFLICT (policy_domain, organization_name) DO NOTHING) \
     SELECT COUNT(*) FROM taken"
);

/// Key of the PostgreSQL advisory lock folds take turns on (any fixed number that no
/// other user of the database takes; this one spells "tlsrollu").
pub(super) const PG_FOLD_LOCK: i64 = 0x746c_7372_6f6c_6c75;

/// Records a stored report as not yet folded; run in the insert transaction.
pub(super) const INSERT_PENDING: &str = "INSERT INTO rollup_pending (report_row) ";
