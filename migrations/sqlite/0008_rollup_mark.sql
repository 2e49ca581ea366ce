-- SQLite only: which reports are not yet folded into the rollups (migration 0005) is
-- now a mark instead of a row per report. SQLite runs one write transaction at a time,
-- so report ids are committed in increasing order: the reports above the mark are
-- exactly the unfolded ones. A fold adds their policies to the rollups and moves the
-- mark in one transaction (src/store/rollup.rs). Appending a pending row per stored
-- report, and deleting it again at the fold, was a tenth of bulk import's time
-- (docs/benchmarks.md). PostgreSQL keeps the table: several writers commit there at
-- once, so a later id can commit before an earlier one and a mark would skip it.
-- `rollup_pending` stays as a view with the table's one column, so the read queries
-- (src/store/queries.rs) are the same SQL on both backends.

CREATE TABLE rollup_state (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    folded_through INTEGER NOT NULL             -- reports.id; every report at or below it is folded
);

-- Folds took the lowest pending ids first and reports were appended in id order, so the
-- pending rows are the stored reports above the lowest pending id.
INSERT INTO rollup_state (id, folded_through) VALUES (1, COALESCE(
    (SELECT MIN(report_row) FROM rollup_pending) - 1,
    (SELECT MAX(id) FROM reports),
    0));

DROP TABLE rollup_pending;

CREATE VIEW rollup_pending AS
    SELECT id AS report_row FROM reports
    WHERE id > (SELECT folded_through FROM rollup_state);
