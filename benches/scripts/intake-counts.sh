#!/usr/bin/env bash
# Counts that do not swing with the machine's load, for HTTPS intake: what the server
# does per report, measured over a run of unique gzip reports after a warm-up of 2,000
# (500 under callgrind).
#
#   benches/scripts/intake-counts.sh callgrind|strace|perf-stat TLSRPTD LOADGEN [COUNT] [OUT]
#
#   callgrind  instructions executed (valgrind; threads run one at a time, 8 clients),
#              written to OUT/callgrind.out; compare two with callgrind-diff.py
#   strace     system calls by kind (strace -f -c), 64 clients
#   perf-stat  context switches, CPU migrations, task clock and page faults, 64 clients
#
# COUNT defaults to 3,000 under callgrind and 10,000 otherwise; OUT to a new directory
# under /tmp. valgrind, strace and perf come from Debian's packages (valgrind, strace,
# linux-perf).
set -uo pipefail
MODE=$1; TLSRPTD=$(realpath "$2"); LOADGEN=$(realpath "$3")
case $MODE in
    callgrind) COUNT=${4:-3000}; CLIENTS=8; WARM=500 ;;
    strace | perf-stat) COUNT=${4:-10000}; CLIENTS=64; WARM=2000 ;;
    *) echo "unknown mode $MODE" >&2; exit 2 ;;
esac
OUT=${5:-$(mktemp -d /tmp/tlsrpt-counts.XXXXXX)}
mkdir -p "$OUT"
"$LOADGEN" cert --out "$OUT/cert" >/dev/null
. "$(dirname "$0")/common.sh"
watch_off_flags "$TLSRPTD"
SERVE=("$TLSRPTD" --log warn serve --database "sqlite://$OUT/bench.db"
    --http-listen 127.0.0.1:18443 --tls-cert "$OUT/cert/cert.pem" --tls-key "$OUT/cert/key.pem"
    --http-rate-limit 0 --no-smtp "${WATCH_OFF[@]}")
if [[ $MODE == callgrind ]]; then
    valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" "${SERVE[@]}" 2>"$OUT/server.log" &
else
    "${SERVE[@]}" 2>"$OUT/server.log" &
fi
PID=$!
wait_for_https 1200 || exit 1
post() {
    "$LOADGEN" http --url https://localhost:18443/v1/reports --ca "$OUT/cert/cert.pem" \
        --clients "$CLIENTS" --count "$1" --seed "$2" | head -1
}
post "$WARM" 7
case $MODE in
    callgrind) callgrind_control -z "$PID" >/dev/null ;;
    strace) strace -f -c -p "$PID" -o "$OUT/strace.txt" & COUNTER=$! ;;
    perf-stat) perf stat -e context-switches,cpu-migrations,task-clock,page-faults -p "$PID" -o "$OUT/perf-stat.txt" & COUNTER=$! ;;
esac
sleep 1
post "$COUNT" 8
sleep 2
case $MODE in
    callgrind)
        # The counts since the zeroing: the run, its commits and folds.
        callgrind_control -d "$PID" >/dev/null
        sleep 1
        mv "$OUT/callgrind.out.1" "$OUT/callgrind.out"
        echo "instructions per report: $(awk '/^summary:/ { printf "%.0f", $2 / '"$COUNT"' }' "$OUT/callgrind.out")"
        ;;
    strace) kill -INT "$COUNTER"; wait "$COUNTER"; head -30 "$OUT/strace.txt" ;;
    perf-stat) kill -INT "$COUNTER"; wait "$COUNTER"; grep -E 'switches|migrations|task-clock|faults' "$OUT/perf-stat.txt" ;;
esac
kill -INT "$PID"; wait "$PID"
echo "output in $OUT"
