-- Rollups: per-domain session and failure counts summed per report start time, kept in
-- the same transaction as the reports they count (see docs/ARCHITECTURE.md, "Read side").
-- Reports start at the same instant (usually 00:00 UTC) for a domain and sender, so the
-- rollups hold a few rows per domain and day whatever the number of reports, and any
-- range of start times is answered exactly. Keys that were not reported are ''.
-- Same in migrations/sqlite and migrations/postgres.

-- Domain list and overview: one row per start time, domain and reporting organization.
CREATE TABLE rollup_domains (
    start_at          BIGINT  NOT NULL,
    policy_domain     TEXT    NOT NULL,
    organization_name TEXT    NOT NULL,
    reports           BIGINT  NOT NULL,        -- distinct reports naming the domain
    successful        BIGINT  NOT NULL,
    failed            BIGINT  NOT NULL,
    PRIMARY KEY (start_at, policy_domain, organization_name)
);

-- Domain page: sessions by organization, policy type and policy text.
CREATE TABLE rollup_sessions (
    policy_domain     TEXT    NOT NULL,
    start_at          BIGINT  NOT NULL,
    organization_name TEXT    NOT NULL,
    policy_type       TEXT    NOT NULL,
    policy_string     TEXT    NOT NULL,        -- JSON array, as in policies
    type_reports      BIGINT  NOT NULL,        -- distinct reports with this policy type
    successful        BIGINT  NOT NULL,
    failed            BIGINT  NOT NULL,
    PRIMARY KEY (policy_domain, start_at, organization_name, policy_type, policy_string)
);

-- Domain page: failed sessions by result type, receiving MX and sending IP.
CREATE TABLE rollup_failures (
    policy_domain         TEXT    NOT NULL,
    start_at              BIGINT  NOT NULL,
    result_type           TEXT    NOT NULL,
    receiving_mx_hostname TEXT    NOT NULL,
    sending_mta_ip        TEXT    NOT NULL,
    failed                BIGINT  NOT NULL,
    PRIMARY KEY (policy_domain, start_at, result_type, receiving_mx_hostname, sending_mta_ip)
);

INSERT INTO rollup_domains
SELECT start_at, policy_domain, organization_name,
       SUM(CASE WHEN first_of_domain = 1 THEN 1 ELSE 0 END), SUM(total_successful), SUM(total_failed)
FROM (SELECT start_at, policy_domain, organization_name, total_successful, total_failed,
             ROW_NUMBER() OVER (PARTITION BY report_row, policy_domain ORDER BY position) AS first_of_domain
      FROM policies) p
GROUP BY start_at, policy_domain, organization_name;

INSERT INTO rollup_sessions
SELECT policy_domain, start_at, organization_name, policy_type, policy_string,
       SUM(CASE WHEN first_of_type = 1 THEN 1 ELSE 0 END), SUM(total_successful), SUM(total_failed)
FROM (SELECT policy_domain, start_at, organization_name, policy_type, policy_string,
             total_successful, total_failed,
             ROW_NUMBER() OVER (PARTITION BY report_row, policy_domain, policy_type ORDER BY position) AS first_of_type
      FROM policies) p
GROUP BY policy_domain, start_at, organization_name, policy_type, policy_string;

INSERT INTO rollup_failures
SELECT p.policy_domain, p.start_at, fd.result_type, COALESCE(fd.receiving_mx_hostname, ''),
       COALESCE(fd.sending_mta_ip, ''), SUM(fd.failed_session_count)
FROM policies p JOIN failure_details fd ON fd.policy_row = p.id
GROUP BY p.policy_domain, p.start_at, fd.result_type, COALESCE(fd.receiving_mx_hostname, ''),
         COALESCE(fd.sending_mta_ip, '');

-- The summaries read the rollups now; the report list filtered by domain reads the
-- policies by domain and start time, then the reports.
DROP INDEX policies_domain_cover;
CREATE INDEX policies_domain_start ON policies (policy_domain, start_at, report_row, organization_name);
