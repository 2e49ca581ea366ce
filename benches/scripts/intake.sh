#!/usr/bin/env bash
# Intake throughput of one tlsrptd binary: `serve` on a fresh SQLite file, then
# `tlsrpt-loadgen http` (64 HTTPS keep-alive clients, unique gzip reports) and
# `tlsrpt-loadgen smtp` (32 connections, one unsigned report per message, DKIM off)
# against it.
# Prints the load generator's lines, the server's CPU time (utime + stime from
# /proc/PID/stat, in seconds; steadier than throughput when client and server share
# 2 cores) and its peak RSS after each half.
#
#   benches/scripts/intake.sh TLSRPTD LOADGEN [http|smtp|both]
#
# HTTP_COUNT (50000) and SMTP_COUNT (20000) set the sizes; SERVER_CPUS and CLIENT_CPUS
# (taskset lists, e.g. 0 and 1) pin the server and the load generator apart. Pass an older commit's
# binary as TLSRPTD to compare: flags the older binary lacks are left out.
set -euo pipefail
TLSRPTD=$(realpath "$1"); LOADGEN=$(realpath "$2"); WHAT=${3:-both}
HTTP_COUNT=${HTTP_COUNT:-50000}; SMTP_COUNT=${SMTP_COUNT:-20000}
DIR=$(mktemp -d /tmp/tlsrpt-intake.XXXXXX)
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT

"$LOADGEN" cert --out "$DIR/cert" >/dev/null
. "$(dirname "$0")/common.sh"
watch_off_flags "$TLSRPTD"
SERVER=(); CLIENT=()
[[ -n ${SERVER_CPUS:-} ]] && SERVER=(taskset -c "$SERVER_CPUS")
[[ -n ${CLIENT_CPUS:-} ]] && CLIENT=(taskset -c "$CLIENT_CPUS")
"${SERVER[@]}" "$TLSRPTD" --log warn serve --database "sqlite://$DIR/bench.db" \
    --http-listen 127.0.0.1:18443 --tls-cert "$DIR/cert/cert.pem" --tls-key "$DIR/cert/key.pem" \
    --http-rate-limit 0 --smtp-listen 127.0.0.1:12525 --smtp-recipient tlsrpt@reports.example.com --dkim off \
    "${WATCH_OFF[@]}" &
PID=$!
wait_for_https 100

# utime and stime in clock ticks (USER_HZ, 100 on Linux).
cpu() { awk '{ print $14, $15 }' "/proc/$PID/stat"; }
spent() {
    awk -v a="$1" -v b="$(cpu)" 'BEGIN { split(a, x, " "); split(b, y, " ");
        printf "%.2f s (user %.2f, system %.2f)", (y[1] + y[2] - x[1] - x[2]) / 100,
            (y[1] - x[1]) / 100, (y[2] - x[2]) / 100 }'
}
rss() { awk '/VmHWM/ { print $2 " kB" }' "/proc/$PID/status"; }

if [[ $WHAT == http || $WHAT == both ]]; then
    BEFORE=$(cpu)
    "${CLIENT[@]}" "$LOADGEN" http --url https://localhost:18443/v1/reports --ca "$DIR/cert/cert.pem" \
        --clients 64 --count "$HTTP_COUNT"
    echo "https server cpu: $(spent "$BEFORE"), peak rss $(rss)"
fi
if [[ $WHAT == smtp || $WHAT == both ]]; then
    BEFORE=$(cpu)
    "${CLIENT[@]}" "$LOADGEN" smtp --addr 127.0.0.1:12525 --connections 32 --count "$SMTP_COUNT"
    echo "smtp server cpu: $(spent "$BEFORE"), peak rss $(rss)"
fi
