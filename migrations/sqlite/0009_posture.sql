-- Posture checks (src/watch/posture.rs): the latest check of each watched domain, and
-- every change of its state. Same in migrations/sqlite and migrations/postgres.
--
-- One row per domain the service watches (it has reports, or serve names it with
-- --posture-domain). A row is added before its first check, so result, state and
-- checked_at are NULL until then. next_check_at is when the schedule checks it again
-- (jittered); lease_until is set by the node that took the check, so with several serve
-- nodes on one database only one runs it (a node that dies mid-check lets the lease
-- lapse and another takes it).
CREATE TABLE posture_latest (
    domain          TEXT    PRIMARY KEY,
    checked_at      BIGINT,                   -- Unix seconds
    state           TEXT,                     -- ok, warning, missing, broken, degraded
    result_json     TEXT,                     -- the check as GET .../posture returns it
    sts_id          TEXT,                     -- what the next check compares with
    policy_lines    TEXT,                     -- JSON array of the policy file's lines
    next_check_at   BIGINT  NOT NULL,
    lease_until     BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX posture_latest_due ON posture_latest (next_check_at);

-- One row per change of state (the first check counts as one): what
-- GET .../posture/history lists, newest first.
CREATE TABLE posture_history (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    domain          TEXT    NOT NULL,
    changed_at      BIGINT  NOT NULL,
    state           TEXT    NOT NULL,
    previous_state  TEXT,
    finding_codes   TEXT    NOT NULL          -- JSON array of the check's finding codes
);
CREATE INDEX posture_history_domain ON posture_history (domain, changed_at);
