-- Reports stored but not yet added to the rollups of migration 0004. The insert
-- transaction records each stored report here (an append: report ids only grow); the
-- store's writer folds them into the rollups in bulk (src/store/rollup.rs) and deletes
-- them in the same transaction. Reads add the policies of these reports to the rollup
-- rows, in the same statement, so every answer counts each stored report exactly once
-- whether it is folded yet or not. Folding a few thousand reports at a time writes each
-- rollup page once per fold instead of once per commit: a random-key upsert per report
-- in the insert transaction made bulk import 20-30% slower (docs/benchmarks.md).
-- Migration 0004 filled the rollups from every report stored before it, so nothing is
-- pending at first.
-- Same in migrations/sqlite and migrations/postgres.
CREATE TABLE rollup_pending (
    report_row BIGINT PRIMARY KEY
);
