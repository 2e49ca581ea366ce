-- Alerts (src/watch/alerts/) and their notifications. Same in migrations/sqlite and
-- migrations/postgres.
--
-- An alert is one problem (a rule, on a domain, about a subject such as a result type or
-- an organization): it opens once, stays open while its condition holds, and resolves
-- when the condition clears. At most one open alert per problem, whichever node
-- evaluates (the partial unique index).
CREATE TABLE alerts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    domain        TEXT    NOT NULL,
    rule          TEXT    NOT NULL,
    subject       TEXT    NOT NULL,               -- '' when the rule has one problem per domain
    severity      TEXT    NOT NULL,               -- info, warning, critical
    state         TEXT    NOT NULL,               -- open, resolved
    opened_at     BIGINT  NOT NULL,               -- Unix seconds
    last_seen_at  BIGINT  NOT NULL,
    resolved_at   BIGINT,
    notified_at   BIGINT  NOT NULL,               -- last notice: opened or reminder
    summary       TEXT    NOT NULL,
    detail        TEXT    NOT NULL                -- JSON: numbers, explanation, fix
);
CREATE UNIQUE INDEX alerts_one_open ON alerts (domain, rule, subject) WHERE state = 'open';
CREATE INDEX alerts_opened ON alerts (opened_at);

-- The outbox: one row per notice and channel, written in the transaction that changes the
-- alert, so a notice is neither lost nor sent twice across restarts; the sender drains
-- it with retries.
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id        BIGINT  NOT NULL REFERENCES alerts(id),
    channel         TEXT    NOT NULL,
    kind            TEXT    NOT NULL,             -- opened, reminder, resolved
    created_at      BIGINT  NOT NULL,
    state           TEXT    NOT NULL,             -- pending, sent, failed
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    last_error      TEXT,
    sent_at         BIGINT
);
CREATE INDEX notifications_due ON notifications (state, next_attempt_at);
CREATE INDEX notifications_alert ON notifications (alert_id);

-- Jobs one node runs at a time when several serve one database (alert evaluation and
-- sending): the node whose conditional UPDATE (or INSERT) wins holds it until `until`.
CREATE TABLE leases (
    name    TEXT    PRIMARY KEY,
    holder  TEXT    NOT NULL,
    until   BIGINT  NOT NULL
);

-- Digests sent: one row per digest and period (a day, or an ISO week), so a digest goes
-- out once per period whichever node sends it and however often it restarts.
CREATE TABLE digests_sent (
    name     TEXT    NOT NULL,
    period   TEXT    NOT NULL,               -- 2026-12-05, or 2026-W49
    sent_at  BIGINT  NOT NULL,
    PRIMARY KEY (name, period)
);
