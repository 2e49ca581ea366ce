#!/usr/bin/env bash
# Where the store writer's time went, from a log written with
# `--log warn,tlsrptd::store=debug`: the batches committed and the rollup folds, each
# counted and their `ms=` summed.
#
#   benches/scripts/writer-time.sh LOGFILE
set -euo pipefail
sed 's/\x1b\[[0-9;]*m//g' "$1" | awk '
    /batch committed/ { for (i = 1; i <= NF; i++) if ($i ~ /^ms=/) { b += substr($i, 4); nb++ } }
    /rollups folded/  { for (i = 1; i <= NF; i++) if ($i ~ /^ms=/) { f += substr($i, 4); nf++ } }
    END { printf "%d batches in %.0f ms; %d folds in %.0f ms\n", nb, b, nf, f }'
