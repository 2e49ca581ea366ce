-- Rollups: per-domain session counts summed per report start time, kept in the same
-- transaction as the reports they count (src/store/rollup.rs). They serve the domain
-- list, the overview, domain totals, time series and the breakdown by organization.
-- Rollups by policy type, result type, MX or IP were measured and left out: each costs
-- a random-key write per policy or failure detail, and together they made a bulk import
-- 40-75% slower (docs/benchmarks.md); those breakdowns read the policies' covering index.
-- Reports start at the same instant (usually 00:00 UTC) for a domain and sender, so the
-- rollups hold a few rows per domain and day whatever the number of reports, and any
-- range of start times is answered exactly.
-- Same in migrations/sqlite and migrations/postgres.

-- Domain list, overview trends, domain totals and time series.
CREATE TABLE rollup_domains (
    policy_domain     TEXT    NOT NULL,
    start_at          INTEGER NOT NULL,
    reports           INTEGER NOT NULL,        -- distinct reports naming the domain
    successful        INTEGER NOT NULL,
    failed            INTEGER NOT NULL,
    PRIMARY KEY (policy_domain, start_at)
) WITHOUT ROWID;

-- Sessions by reporting organization.
CREATE TABLE rollup_organizations (
    policy_domain     TEXT    NOT NULL,
    organization_name TEXT    NOT NULL,
    start_at          INTEGER NOT NULL,
    reports           INTEGER NOT NULL,
    successful        INTEGER NOT NULL,
    failed            INTEGER NOT NULL,
    PRIMARY KEY (policy_domain, organization_name, start_at)
) WITHOUT ROWID;

-- Every (domain, organization) pair ever reported: the domain list counts a domain's
-- reporters in a range by probing rollup_organizations once per pair.
CREATE TABLE domain_organizations (
    policy_domain     TEXT    NOT NULL,
    organization_name TEXT    NOT NULL,
    PRIMARY KEY (policy_domain, organization_name)
) WITHOUT ROWID;

INSERT INTO rollup_domains
SELECT policy_domain, start_at,
       SUM(CASE WHEN first_of_domain = 1 THEN 1 ELSE 0 END), SUM(total_successful), SUM(total_failed)
FROM (SELECT start_at, policy_domain, total_successful, total_failed,
             ROW_NUMBER() OVER (PARTITION BY report_row, policy_domain ORDER BY position) AS first_of_domain
      FROM policies) p
GROUP BY policy_domain, start_at;

INSERT INTO rollup_organizations
SELECT policy_domain, organization_name, start_at,
       SUM(CASE WHEN first_of_domain = 1 THEN 1 ELSE 0 END), SUM(total_successful), SUM(total_failed)
FROM (SELECT start_at, policy_domain, organization_name, total_successful, total_failed,
             ROW_NUMBER() OVER (PARTITION BY report_row, policy_domain ORDER BY position) AS first_of_domain
      FROM policies) p
GROUP BY policy_domain, organization_name, start_at;

INSERT INTO domain_organizations
SELECT DISTINCT policy_domain, organization_name FROM policies;

-- The domain's breakdowns join its policies to their failure details by policy id, which
-- SQLite's index carries as the row id; migrations/postgres names it in the same index.
DROP INDEX policies_domain_cover;
CREATE INDEX policies_domain_cover ON policies
    (policy_domain, start_at, report_row, organization_name, policy_type, total_successful, total_failed);
