#!/usr/bin/env bash
# Hostile-worker figure: bench/storm_pool with 2 good workers and, beside them, one misbehaving
# worker of the given kind (HOSTILE: fds, queryserver, noread, stop; "none" for the baseline),
# loaded for STORM_SECONDS (default 10) by bench/storm_client without kills. Prints its JSON line
# with "hostile":kind: ok_per_s is what the good workers served meanwhile, primary_max_rss_mb and
# primary_max_fds what the primary held at most (sampled every 100 ms).
# Usage: bench/hostile_bench.sh <release-build-dir> rr|none|reuseport none|fds|queryserver|noread|stop
set -euo pipefail
build=${1:?usage: hostile_bench.sh <build-dir> <policy> <kind>}
policy=${2:?policy}
kind=${3:?kind}
seconds=${STORM_SECONDS:-10}
source "$(dirname "$0")/start_pool.sh"
hostile=()
[[ $kind != none ]] && hostile=(HOSTILE="$kind")
start_pool env NODE_CLUSTER_SCHED_POLICY="$policy" WORKERS=2 "${hostile[@]}" "$build/bench/storm_pool"
line=$("$build/bench/storm_client" cppcluster "$policy" "$port" "$pid" "$seconds" 0)
echo "${line%\}},\"hostile\":\"$kind\"}"
