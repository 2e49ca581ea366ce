-- Dashboard sessions: one row per sign-in, deleted by sign-out, expired after the session
-- lifetime (`--dashboard-session-lifetime`). The cookie holds a random value; only its
-- SHA-256 is stored, so a copy of the database holds no usable cookie. Each session names
-- the SHA-256 of the API token it was opened with: changing the token ends every session.
-- Same in migrations/sqlite and migrations/postgres.
CREATE TABLE dashboard_sessions (
    id_hash    TEXT   PRIMARY KEY,
    token_hash TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_expires ON dashboard_sessions (expires_at);
