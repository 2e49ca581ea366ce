-- Initial schema (SQLite dialect). Timestamps are Unix seconds (UTC); counts are 64-bit.
-- Keep in step with migrations/postgres/0001_initial.sql: same tables, columns and indexes.

-- Every submission whose bytes we keep: stored reports and quarantined ones alike.
CREATE TABLE submissions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    source        TEXT    NOT NULL,            -- smtp | https | import
    received_at   INTEGER NOT NULL,
    peer          TEXT,
    content_type  TEXT,
    envelope      TEXT    NOT NULL,            -- JSON: intake-specific envelope
    message_meta  TEXT,                        -- JSON: TLS-Report-Domain, From, Subject, ...
    raw_size      INTEGER NOT NULL,            -- size of the original bytes
    raw_sha256    TEXT    NOT NULL,            -- of the original bytes
    raw_encoding  TEXT    NOT NULL,            -- identity (already compressed) | gzip
    raw_data      BLOB    NOT NULL
);

CREATE TABLE reports (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    submission_id     INTEGER NOT NULL REFERENCES submissions(id),
    organization_name TEXT    NOT NULL,
    report_id         TEXT    NOT NULL,
    contact_info      TEXT,
    start_at          INTEGER NOT NULL,
    end_at            INTEGER NOT NULL,
    received_at       INTEGER NOT NULL,
    total_successful  INTEGER NOT NULL,
    total_failed      INTEGER NOT NULL,
    origin            TEXT    NOT NULL,        -- where in the submission the payload was
    warnings          TEXT    NOT NULL,        -- JSON array of {code, detail}
    UNIQUE (organization_name, report_id)
);
CREATE INDEX reports_start ON reports (start_at, id);
CREATE INDEX reports_org_start ON reports (organization_name, start_at);

CREATE TABLE policies (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    report_row        INTEGER NOT NULL REFERENCES reports(id),
    position          INTEGER NOT NULL,
    policy_type       TEXT    NOT NULL,
    policy_domain     TEXT    NOT NULL,        -- normalized; '' when the sender gave none
    policy_string     TEXT    NOT NULL,        -- JSON array
    mx_host           TEXT    NOT NULL,        -- JSON array
    total_successful  INTEGER NOT NULL,
    total_failed      INTEGER NOT NULL,
    start_at          INTEGER NOT NULL,        -- copied from the report for range queries
    organization_name TEXT    NOT NULL         -- copied from the report for breakdowns
);
CREATE INDEX policies_report ON policies (report_row);
CREATE INDEX policies_domain_start ON policies (policy_domain, start_at);

CREATE TABLE failure_details (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    policy_row             INTEGER NOT NULL REFERENCES policies(id),
    result_type            TEXT    NOT NULL,
    sending_mta_ip         TEXT,
    receiving_mx_hostname  TEXT,
    receiving_mx_helo      TEXT,
    receiving_ip           TEXT,
    failed_session_count   INTEGER NOT NULL,
    additional_information TEXT,
    failure_reason_code    TEXT
);
CREATE INDEX failure_details_policy ON failure_details (policy_row);

-- Submissions (or parts of them) that carried no valid report, with the reason.
CREATE TABLE quarantine (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    received_at   INTEGER NOT NULL,
    origin        TEXT    NOT NULL,
    reason_code   TEXT    NOT NULL,
    reason        TEXT    NOT NULL
);
CREATE INDEX quarantine_received ON quarantine (received_at, id);
