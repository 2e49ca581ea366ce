-- Domain summaries read only indexes: failure details carry their policy's domain and
-- start time, and both tables get covering indexes for the summary's breakdowns, so a
-- summary over a domain with thousands of reports never touches table rows.
-- Same in migrations/sqlite and migrations/postgres.

ALTER TABLE failure_details ADD COLUMN policy_domain TEXT NOT NULL DEFAULT '';
ALTER TABLE failure_details ADD COLUMN start_at BIGINT NOT NULL DEFAULT 0;
UPDATE failure_details SET
    policy_domain = (SELECT p.policy_domain FROM policies p WHERE p.id = failure_details.policy_row),
    start_at = (SELECT p.start_at FROM policies p WHERE p.id = failure_details.policy_row);

CREATE INDEX failure_details_domain_start ON failure_details
    (policy_domain, start_at, result_type, receiving_mx_hostname, sending_mta_ip, failed_session_count);

CREATE INDEX policies_domain_cover ON policies
    (policy_domain, start_at, report_row, organization_name, policy_type, total_successful, total_failed);
DROP INDEX policies_domain_start;
