# Shared by intake.sh and intake-counts.sh (sourced, not run).

# Sets WATCH_OFF to the flags that turn the watch side (posture checks, readiness,
# alerts) off in the binary $1: it would contact the network for the generated domains
# and compete for the cores. Flags an older binary lacks are left out, so older commits
# can be measured the same way.
watch_off_flags() {
    local help
    help=$("$1" serve --help)
    WATCH_OFF=()
    grep -q -- --posture-interval <<<"$help" && WATCH_OFF+=(--posture-interval 0)
    grep -q -- --readiness-interval <<<"$help" && WATCH_OFF+=(--readiness-interval 0)
    grep -q -- --no-alerts <<<"$help" && WATCH_OFF+=(--no-alerts)
    return 0
}

# Waits up to $1 tenths of a second for the HTTPS listener on 127.0.0.1:18443.
wait_for_https() {
    for _ in $(seq "$1"); do
        curl -skf https://127.0.0.1:18443/healthz >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "the server did not answer on 127.0.0.1:18443" >&2
    return 1
}
