-- Rollups: per-domain session and failure counts summed per report start time, kept in
-- the same transaction as the reports they count (src/store/rollup.rs).
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

-- Sessions by policy type.
CREATE TABLE rollup_policy_types (
    policy_domain     TEXT    NOT NULL,
    start_at          INTEGER NOT NULL,
    policy_type       TEXT    NOT NULL,
    reports           INTEGER NOT NULL,        -- distinct reports with this policy type
    successful        INTEGER NOT NULL,
    failed            INTEGER NOT NULL,
    PRIMARY KEY (policy_domain, start_at, policy_type)
) WITHOUT ROWID;

-- Failed sessions by result type. Breakdowns by receiving MX and sending IP have nearly
-- one row per failure detail, so a rollup of them would cost a random-key write per
-- detail on every import (what migration 0003 removed); they are read from the
-- policies and their failure details instead.
CREATE TABLE rollup_result_types (
    policy_domain     TEXT    NOT NULL,
    start_at          INTEGER NOT NULL,
    result_type       TEXT    NOT NULL,
    failed            INTEGER NOT NULL,
    PRIMARY KEY (policy_domain, start_at, result_type)
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

INSERT INTO rollup_policy_types
SELECT policy_domain, start_at, policy_type,
       SUM(CASE WHEN first_of_type = 1 THEN 1 ELSE 0 END), SUM(total_successful), SUM(total_failed)
FROM (SELECT policy_domain, start_at, policy_type, total_successful, total_failed,
             ROW_NUMBER() OVER (PARTITION BY report_row, policy_domain, policy_type ORDER BY position) AS first_of_type
      FROM policies) p
GROUP BY policy_domain, start_at, policy_type;

INSERT INTO rollup_result_types
SELECT p.policy_domain, p.start_at, fd.result_type, SUM(fd.failed_session_count)
FROM policies p JOIN failure_details fd ON fd.policy_row = p.id
GROUP BY p.policy_domain, p.start_at, fd.result_type;

-- The rollups replace the covering index for sums. The report list filtered by domain,
-- the breakdowns by MX and IP and the policies seen read the policies by domain and start
-- time (with the policy id, to reach its failure details), then what they need.
DROP INDEX policies_domain_cover;
CREATE INDEX policies_domain_start ON policies (policy_domain, start_at, report_row, organization_name, id);
