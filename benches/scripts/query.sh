#!/usr/bin/env bash
# Latency of every read route on a store filled by
# `tlsrpt-loadgen fill --count 1000000 --domains 200` (served with --http-plain), for a
# 30-day and a 90-day range ending on LAST_DAY. One latency line per URL.
#
#   benches/scripts/query.sh LOADGEN BASE [REQUESTS] [CLIENTS]
#
# BASE is e.g. http://127.0.0.1:18080. LAST_DAY (2025-01-01, the fill's default) and
# DOMAIN (d7.example) may be set in the environment; TOKEN is sent as the API token.
set -euo pipefail
LOADGEN=$(realpath "$1"); B=$2; N=${3:-200}; C=${4:-1}
LAST_DAY=${LAST_DAY:-2025-01-01}; D=${DOMAIN:-d7.example}
AUTH=(); CURL_AUTH=()
if [[ -n ${TOKEN:-} ]]; then AUTH=(--token "$TOKEN"); CURL_AUTH=(-H "Authorization: Bearer $TOKEN"); fi
for DAYS in 30 90; do
    FROM=$(date -u -d "$LAST_DAY - $((DAYS - 1)) days" +%F)
    R="from=$FROM&to=$LAST_DAY"
    echo "== $DAYS days: $R"
    "$LOADGEN" query --requests "$N" --clients "$C" "${AUTH[@]}" \
        --url "$B/api/v1/domains?$R" --url "$B/api/v1/domains/$D/summary?$R" \
        --url "$B/api/v1/domains/$D/timeseries?$R" --url "$B/api/v1/reports?$R" \
        --url "$B/api/v1/reports?domain=$D&$R" --url "$B/?$R" \
        --url "$B/domains/$D?$R" --url "$B/reports?$R" --url "$B/reports?domain=$D&$R"
done
echo "== other routes"
# A stored report of the range (the list's default range is recent days).
ID=$(curl -sf "${CURL_AUTH[@]}" "$B/api/v1/reports?$R&limit=1" | sed -n 's/.*"id":\([0-9]*\).*/\1/p' | head -1)
if [[ -z $ID ]]; then
    echo "no report in $R at $B" >&2
    exit 1
fi
URLS=(--url "$B/api/v1/reports/$ID" --url "$B/reports/$ID" --url "$B/api/v1/rejections"
    --url "$B/rejections" --url "$B/api/v1/domains/$D/readiness" --url "$B/api/v1/alerts"
    --url "$B/alerts" --url "$B/api/v1/notifications")
# The posture routes answer 404 until the domain has been checked once.
if curl -sf "${CURL_AUTH[@]}" -o /dev/null "$B/api/v1/domains/$D/posture"; then
    URLS+=(--url "$B/api/v1/domains/$D/posture" --url "$B/api/v1/domains/$D/posture/history")
fi
"$LOADGEN" query --requests "$N" --clients "$C" "${AUTH[@]}" "${URLS[@]}"
