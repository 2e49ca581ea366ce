-- Enforce readiness (src/watch/readiness.rs): the latest verdict of each domain with
-- reports, as the schedule last judged it, for the overview's column; the domain page,
-- the API and `tlsrptd readiness` judge afresh. Same in migrations/sqlite and
-- migrations/postgres.
CREATE TABLE readiness_latest (
    domain        TEXT    PRIMARY KEY,
    verdict       TEXT    NOT NULL,               -- ready, not-ready, insufficient-data, enforced
    evaluated_at  BIGINT  NOT NULL                -- Unix seconds
);
