-- Failure details are stored clustered by their policy, keyed (policy_row, position), with
-- no secondary index. The per-domain covering index of 0002 cost a random-key index insert
-- per detail, the largest share of the pages a bulk import dirties; domain summaries now
-- read the policies' covering index and look up each policy's details by key.
-- Same in migrations/sqlite and migrations/postgres.

CREATE TABLE failure_details_by_policy (
    policy_row             INTEGER NOT NULL REFERENCES policies(id),
    position               INTEGER NOT NULL,   -- index in the policy's failure-details
    result_type            TEXT    NOT NULL,
    sending_mta_ip         TEXT,
    receiving_mx_hostname  TEXT,
    receiving_mx_helo      TEXT,
    receiving_ip           TEXT,
    failed_session_count   INTEGER NOT NULL,
    additional_information TEXT,
    failure_reason_code    TEXT,
    PRIMARY KEY (policy_row, position)
) WITHOUT ROWID;

INSERT INTO failure_details_by_policy
SELECT policy_row, ROW_NUMBER() OVER (PARTITION BY policy_row ORDER BY id) - 1, result_type,
       sending_mta_ip, receiving_mx_hostname, receiving_mx_helo, receiving_ip,
       failed_session_count, additional_information, failure_reason_code
FROM failure_details;

DROP TABLE failure_details;
ALTER TABLE failure_details_by_policy RENAME TO failure_details;
