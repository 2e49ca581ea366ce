#!/usr/bin/env bash
# Bulk import of a directory of report files into a fresh store, timed by
# /usr/bin/time (wall seconds, peak RSS, CPU share).
#
#   benches/scripts/import.sh TLSRPTD FILES [DATABASE]
#
# FILES comes from `tlsrpt-loadgen files --count 100000 --out FILES`. DATABASE defaults
# to a fresh SQLite file under /tmp; a postgres:// URL names a database that is dropped
# and created again first (psql on PATH, the URL's server reachable).
set -euo pipefail
TLSRPTD=$(realpath "$1"); FILES=$2; DATABASE=${3:-}
if [[ -z $DATABASE ]]; then
    DB=/tmp/tlsrpt-import-bench.db
    rm -f "$DB" "$DB-wal" "$DB-shm"
    DATABASE="sqlite://$DB"
    # The previous run's write-back would otherwise land in this one.
    sync; sleep 5
elif [[ $DATABASE == postgres://* ]]; then
    NAME=${DATABASE##*/}; SERVER=${DATABASE%/*}
    psql -q "$SERVER/postgres" -c "drop database if exists \"$NAME\"" -c "create database \"$NAME\""
fi
/usr/bin/time -f "%e s %M KB %P u=%U s=%S" "$TLSRPTD" --log warn import --database "$DATABASE" "$FILES"
