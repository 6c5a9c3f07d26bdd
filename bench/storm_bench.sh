#!/usr/bin/env bash
# Kill-storm figure: starts bench/storm_pool (cppcluster) or bench/node/storm_pool.js (Node.js)
# with 2 workers under a policy, runs bench/storm_client against it (16 connection-per-request
# clients, one worker SIGKILLed every 200 ms for STORM_SECONDS, default 10), stops the pool with
# SIGTERM and prints the client's JSON line with "stopped":1 when the pool ended within 10 s.
# Usage: bench/storm_bench.sh <release-build-dir> cppcluster|node rr|none|reuseport
set -euo pipefail
build=${1:?usage: storm_bench.sh <build-dir> cppcluster|node rr|none|reuseport}
impl=${2:?impl}
policy=${3:?policy}
here=$(cd "$(dirname "$0")" && pwd)
seconds=${STORM_SECONDS:-10}
case $impl in
  cppcluster) pool=("$build/bench/storm_pool") ;;
  node) pool=(node "$here/node/storm_pool.js") ;;
  *) echo "unknown impl $impl" >&2; exit 2 ;;
esac
source "$(dirname "$0")/start_pool.sh"
start_pool env NODE_CLUSTER_SCHED_POLICY="$policy" WORKERS=2 "${pool[@]}"
line=$("$build/bench/storm_client" "$impl" "$policy" "$port" "$pid" "$seconds")
kill -TERM $pid 2>/dev/null || true
stopped=0
for _ in $(seq 1 500); do
  if ! kill -0 $pid 2>/dev/null; then stopped=1; break; fi
  sleep 0.02
done
echo "${line%\}},\"stopped\":$stopped}"
