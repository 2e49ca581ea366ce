//! Folding stored reports into the rollups, and when to do it.
//!
//! In: the reports in `rollup_pending`: on PostgreSQL a table (migration 0005) every
//! insert transaction appends to, on SQLite a view of the reports above a fold mark
//! (migration 0008), with the sums the SQLite writer kept of what it committed. Out:
//! their sessions added to the rollup tables of migration 0004 (per domain, per domain
//! and organization, and the domain-organization pairs) and the reports marked folded
//! (pending rows deleted, or the mark moved), in one transaction. The read queries
//! (`queries.rs`) add the policies of still-pending reports to the rollup rows in the
//! same statement, so a report is counted once whether it is folded yet or not; folding
//! changes how fast an answer is, never what it says.
//!
//! Why not upsert the rollups in the insert transaction: with reports spread over many
//! domains and days, each commit's rollup keys land on nearly every page of the rollup
//! tables, so every commit rewrote them all (bulk import 20-30% slower, see
//! docs/benchmarks.md). A fold of a few thousand reports writes each of those pages once.
//!
//! The writer loop (`write.rs`) folds after [`FOLD_AFTER_REPORTS`] stored reports
//! ([`FOLD_AFTER_REPORTS_BULK`] for bulk writers), when
//! the oldest unfolded commit is [`FOLD_AFTER`] old, when it has been idle for
//! [`FOLD_WHEN_IDLE`], and on request ([`Store::fold_rollups`](super::Store::fold_rollups)).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

/// When the writer folds stored reports into the rollups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Folding {
    /// After 8,192 reports, 2 s, or 0.5 s idle (`FOLD_AFTER_REPORTS`, `FOLD_AFTER`,
    /// `FOLD_WHEN_IDLE`), and on request: what the service uses.
    #[default]
    Automatic,
    /// As `Automatic`, but after `FOLD_AFTER_REPORTS_BULK` (32,768) reports: for bulk writers
    /// (`tlsrptd import`, the load generator's `fill`), whose reports land on every
    /// domain and day, so each fold rewrites most rollup pages whatever its size; fewer,
    /// larger folds write them fewer times. SQLite only; PostgreSQL folds as
    /// `Automatic`.
    Bulk,
    /// Only when [`Store::fold_rollups`](super::Store::fold_rollups) asks: for tests that
    /// read a store in a known mix of folded and pending reports.
    OnRequest,
}

impl Folding {
    /// Stored reports after which the writer folds, if it folds by itself.
    pub(super) fn after_reports(self) -> Option<usize> {
        match self {
            Folding::Automatic => Some(FOLD_AFTER_REPORTS),
            Folding::Bulk => Some(FOLD_AFTER_REPORTS_BULK),
            Folding::OnRequest => None,
        }
    }
}

/// Stored reports after which the writer folds. The read queries scan the pending
/// reports' policies (a key lookup each), so this bounds what a read adds to its rollup
/// rows: about 4,000 reports, a few milliseconds. Larger folds save little more: at 4,096
/// reports a fold already writes each rollup page about once.
pub(super) const FOLD_AFTER_REPORTS: usize = 8192;

/// Stored reports after which a bulk writer folds ([`Folding::Bulk`]). While a bulk
/// import runs, reads add up to this many pending reports' policies to their rollup rows
/// (tens of milliseconds more at worst); in return the import rewrites the rollup pages a
/// quarter as often (bulk import of 100,000 reports: 13 folds instead of 4, about 0.2 s
/// of 4.5 s; docs/benchmarks.md). One fold chunk ([`FOLD_CHUNK`]) holds them.
pub(super) const FOLD_AFTER_REPORTS_BULK: usize = 32_768;

/// The writer folds what it stored at most this long ago, even under a steady trickle
/// that never leaves it idle, so pending reports do not linger until the count is reached.
pub(super) const FOLD_AFTER: Duration = Duration::from_secs(2);

/// With nothing to commit for this long, the writer folds what is pending (including
/// what another process, or a run that stopped, left behind).
pub(super) const FOLD_WHEN_IDLE: Duration = Duration::from_millis(500);

/// Most reports folded in one transaction, so a fold (after a long outage of folding,
/// e.g. a crash mid-import) never holds SQLite's write lock for long: the intakes'
/// commits wait behind it (a fold of this size takes about 0.1 s).
pub(super) const FOLD_CHUNK: i64 = FOLD_AFTER_REPORTS_BULK as i64;

/// The last report id of the next fold: the [`FOLD_CHUNK`]-th lowest pending id (`$1` =
/// the chunk size), `NULL` when nothing is pending.
pub(super) const FOLD_CUTOFF: &str = "SELECT MAX(report_row) AS cutoff FROM \
    (SELECT report_row FROM rollup_pending ORDER BY report_row LIMIT $1) t";

/// SQLite: how many reports are pending and their lowest and highest ids.
pub(super) const SQLITE_PENDING_SPAN: &str =
    "SELECT COUNT(*), MIN(report_row), MAX(report_row) FROM rollup_pending";

/// SQLite: [`FOLD_CUTOFF`] and the number of reports up to it (`rollup_pending` being a
/// view there, no statement's row count says how many a fold took).
pub(super) const SQLITE_FOLD_CUTOFF: &str = "SELECT MAX(report_row) AS cutoff, COUNT(*) AS n FROM \
    (SELECT report_row FROM rollup_pending ORDER BY report_row LIMIT $1) t";

/// SQLite: the pending reports' policies up to the cutoff `$1`, report by report. The
/// writer sums them in memory ([`Deltas`]) — sorting them in SQL for three `GROUP BY`s
/// took most of a fold's time — and upserts the sums in key order ([`DOMAINS`],
/// [`ORGANIZATIONS`], [`PAIRS`] for pairs it does not know to be stored), all while it
/// holds the database's write lock, so the rows read are exactly the reports
/// [`SQLITE_MOVE_MARK`] marks folded.
pub(super) const PENDING_POLICIES: &str = "SELECT p.report_row, p.policy_domain, \
    p.organization_name, p.start_at, p.total_successful, p.total_failed \
    FROM rollup_pending q CROSS JOIN policies p \
    WHERE p.report_row = q.report_row AND q.report_row <= $1 ORDER BY q.report_row";

/// SQLite: `rollup_pending` is a view of the reports above the fold mark (migration
/// 0008), so a fold moves the mark. One write transaction at a time means report ids
/// are committed in increasing order: every report above the mark is unfolded, every
/// report at or below it folded.
pub(super) const SQLITE_MOVE_MARK: &str = "UPDATE rollup_state SET folded_through = $1";

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

pub(super) const DOMAINS: &str = concat!(
    "INSERT INTO rollup_domains (policy_domain, start_at, reports, successful, failed) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (policy_domain, start_at) DO UPDATE SET ",
    add_sessions!("rollup_domains")
);

pub(super) const ORGANIZATIONS: &str = concat!(
    "INSERT INTO rollup_organizations \
     (policy_domain, organization_name, start_at, reports, successful, failed) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (policy_domain, organization_name, start_at) DO UPDATE SET ",
    add_sessions!("rollup_organizations")
);

pub(super) const PAIRS: &str = "INSERT INTO domain_organizations (policy_domain, organization_name) \
    VALUES ($1, $2) ON CONFLICT (policy_domain, organization_name) DO NOTHING";

/// Sessions summed for one rollup row.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sessions {
    /// Distinct reports counted in the row.
    pub reports: i64,
    pub successful: i64,
    pub failed: i64,
}

impl Sessions {
    fn add(&mut self, other: Sessions) {
        self.reports += other.reports;
        self.successful = self.successful.saturating_add(other.successful);
        self.failed = self.failed.saturating_add(other.failed);
    }
}

/// One row of [`PENDING_POLICIES`], borrowed from the result row.
pub(super) struct PendingPolicy<'a> {
    pub report_row: i64,
    pub domain: &'a str,
    pub organization: &'a str,
    pub start: i64,
    pub successful: i64,
    pub failed: i64,
}

/// The rollup rows a fold adds, summed from the pending reports' policies. Domain and
/// organization names are interned: a fold reads tens of thousands of policies naming a
/// few hundred names, and allocating two strings per policy was a quarter of its time.
#[derive(Debug, Default)]
pub(super) struct Deltas {
    names: Vec<String>,
    ids: HashMap<String, u32>,
    /// (domain id, organization id, start) → sessions.
    organizations: HashMap<(u32, u32, i64), Sessions>,
    /// The report being read and the domains already counted for it: a report counts
    /// once per domain however many of its policies name it. Its policies arrive
    /// together (the query reads report by report).
    report: Option<i64>,
    counted: Vec<u32>,
}

impl Deltas {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        // Names come from stored reports; a fold holds at most FOLD_CHUNK reports'.
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), id);
        id
    }

    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", String::as_str)
    }

    pub(super) fn add(&mut self, p: PendingPolicy<'_>) {
        if self.report != Some(p.report_row) {
            self.report = Some(p.report_row);
            self.counted.clear();
        }
        let domain = self.intern(p.domain);
        let organization = self.intern(p.organization);
        let first_of_domain = !self.counted.contains(&domain);
        if first_of_domain {
            self.counted.push(domain);
        }
        self.organizations
            .entry((domain, organization, p.start))
            .or_default()
            .add(Sessions {
                reports: i64::from(first_of_domain),
                successful: p.successful,
                failed: p.failed,
            });
    }

    /// `rollup_organizations` deltas in key order (writes in key order touch each page
    /// of the table's B-tree once).
    pub(super) fn organizations(&self) -> Vec<((&str, &str, i64), Sessions)> {
        let mut rows: Vec<_> = self
            .organizations
            .iter()
            .map(|(&(d, o, start), s)| ((self.name(d), self.name(o), start), *s))
            .collect();
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        rows
    }

    /// `rollup_domains` deltas in key order: the organization rows summed per (domain,
    /// start). A report has one organization, so its distinct reports add up.
    pub(super) fn domains(&self) -> BTreeMap<(&str, i64), Sessions> {
        let mut rows: BTreeMap<(&str, i64), Sessions> = BTreeMap::new();
        for (&(domain, _, start), s) in &self.organizations {
            rows.entry((self.name(domain), start)).or_default().add(*s);
        }
        rows
    }

    /// `domain_organizations` pairs in key order.
    pub(super) fn pairs(&self) -> BTreeSet<(&str, &str)> {
        self.organizations
            .keys()
            .map(|&(domain, org, _)| (self.name(domain), self.name(org)))
            .collect()
    }
}

/// PostgreSQL: the whole fold as one statement, so it reads one snapshot. Several writers
/// (and nodes) commit concurrently and a report id is allocated before its transaction
/// commits, so a pending row below the cutoff may become visible between two statements;
/// in one statement it is either deleted and added, or left for the next fold. Folds
/// take turns on a transaction advisory lock ([`PG_FOLD_LOCK`]) taken by the statement
/// before, so they never update the same rollup rows at once. The policies are looked up
/// by `= ANY (ARRAY(..))` so the planner reads them through `policies_report` (joined
/// with the CTE it scanned the whole table: a second per fold at 100,000 reports).
/// Returns the reports folded.
pub(super) const POSTGRES_FOLD: &str = concat!(
    "WITH taken AS (DELETE FROM rollup_pending WHERE report_row <= $1 RETURNING report_row), \
     p AS MATERIALIZED (SELECT p.report_row, p.policy_domain, p.organization_name, p.start_at, \
        p.total_successful, p.total_failed \
        FROM policies p WHERE p.report_row = ANY (ARRAY(SELECT report_row FROM taken))), \
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

/// Most (domain, organization) pairs the SQLite writer remembers as stored in
/// `domain_organizations`, so a fold does not insert them again: ~10 MB at most, room for
/// thousands of domains with their reporters; beyond, the writer starts over (reports
/// can name new domains without limit).
pub(super) const KNOWN_PAIRS: usize = 100_000;

/// Key of the PostgreSQL advisory lock folds take turns on (any fixed number that no
/// other user of the database takes; this one spells "tlsrollu").
pub(super) const PG_FOLD_LOCK: i64 = 0x746c_7372_6f6c_6c75;

/// PostgreSQL: records a stored report as not yet folded; run in the insert transaction.
/// (Several writers commit concurrently there, so ids do not commit in order and a mark
/// as on SQLite would skip reports.)
pub(super) const INSERT_PENDING: &str = "INSERT INTO rollup_pending (report_row) ";

#[cfg(test)]
mod tests {
    use super::*;

    fn policy<'a>(
        report_row: i64,
        domain: &'a str,
        org: &'a str,
        start: i64,
        ok: i64,
        failed: i64,
    ) -> PendingPolicy<'a> {
        PendingPolicy {
            report_row,
            domain,
            organization: org,
            start,
            successful: ok,
            failed,
        }
    }

    #[test]
    fn a_report_counts_once_per_domain_and_domains_sum_organizations() {
        let mut deltas = Deltas::default();
        // Report 1 names a.example twice (two policy types) and b.example once.
        deltas.add(policy(1, "a.example", "Org", 86_400, 10, 2));
        deltas.add(policy(1, "a.example", "Org", 86_400, 5, 1));
        deltas.add(policy(1, "b.example", "Org", 86_400, 7, 0));
        // Report 2, same day and domain, another organization.
        deltas.add(policy(2, "a.example", "Other", 86_400, 1, 1));
        // Report 3, the first organization again, names a.example once.
        deltas.add(policy(3, "a.example", "Org", 86_400, 4, 0));

        let s = |reports, successful, failed| Sessions {
            reports,
            successful,
            failed,
        };
        let domains: Vec<_> = deltas.domains().into_iter().collect();
        assert_eq!(
            domains,
            vec![
                (("a.example", 86_400), s(3, 20, 4)),
                (("b.example", 86_400), s(1, 7, 0)),
            ]
        );
        let organizations = deltas.organizations();
        assert_eq!(
            organizations,
            vec![
                (("a.example", "Org", 86_400), s(2, 19, 3)),
                (("a.example", "Other", 86_400), s(1, 1, 1)),
                (("b.example", "Org", 86_400), s(1, 7, 0)),
            ]
        );
        let pairs: Vec<_> = deltas.pairs().into_iter().collect();
        assert_eq!(
            pairs,
            vec![
                ("a.example", "Org"),
                ("a.example", "Other"),
                ("b.example", "Org")
            ]
        );
    }
}
