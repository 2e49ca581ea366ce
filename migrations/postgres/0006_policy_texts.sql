-- Each distinct policy (type and text) once, and each policy row naming it by id.
-- The domain page lists the policies seen in a range with their first and last report
-- and how many reports carried them: grouping the domain's policies by their text read
-- every policy row of the range for its text (on PostgreSQL, a quarter of the domain
-- page at 90 days). Grouping by the id reads the covering index only, and the few
-- distinct texts are looked up after. Senders publish one policy per domain for months,
-- so the table stays small: the writers keep the ids they have seen (src/store/insert.rs).
-- Same in migrations/sqlite and migrations/postgres.
CREATE TABLE policy_texts (
    id            BIGSERIAL PRIMARY KEY,
    policy_type   TEXT    NOT NULL,
    policy_string TEXT    NOT NULL,            -- JSON array, as in policies
    UNIQUE (policy_type, policy_string)
);

INSERT INTO policy_texts (policy_type, policy_string)
SELECT DISTINCT policy_type, policy_string FROM policies;

ALTER TABLE policies ADD COLUMN policy_text BIGINT NOT NULL DEFAULT 0;
UPDATE policies SET policy_text = t.id FROM policy_texts t
    WHERE t.policy_type = policies.policy_type AND t.policy_string = policies.policy_string;

DROP INDEX policies_domain_cover;
CREATE INDEX policies_domain_cover ON policies
    (policy_domain, start_at, report_row, organization_name, policy_type, total_successful, total_failed, id, policy_text);
