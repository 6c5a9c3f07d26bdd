#!/usr/bin/env bash
# Runs every benchmark for cppcluster and for Node.js alternately, RUNS times each, then writes
# bench/RESULTS.md (median, spread, ratio, machine, commands). Usage: bench/run.sh <release-build-dir>
set -euo pipefail
build=${1:?usage: bench/run.sh <release-build-dir>}
here=$(cd "$(dirname "$0")" && pwd)
runs=${RUNS:-5}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

run() {  # run <figure> <command...>: appends {"figure":…, …result} to $out
  local figure=$1
  shift
  local line
  line=$("$@" | tail -1)
  echo "{\"figure\":\"$figure\",\"cmd\":\"$*\",\"result\":$line}" >>"$out"
  echo "$figure: $line" >&2
}

for ((i = 1; i <= runs; i++)); do
  for mode in json advanced; do
    run "ipc-$mode" "$build/bench/ipc_bench" "$mode" 20000 100000
    run "ipc-$mode" node "$here/node/ipc_bench.js" "$mode" 20000 100000
  done
done

# Heavy figures (wrk runs WRK_DURATION, default 5s, per line) run HEAVY_RUNS times (default: RUNS, at
# most 3) to keep `make bench` within about 10 minutes on 2 cores.
heavy_runs=${HEAVY_RUNS:-$((runs < 3 ? runs : 3))}
for ((i = 1; i <= runs; i++)); do
  run "fork" "$build/bench/fork_bench" 20 8
  run "fork" node "$here/node/fork_bench.js" 20 8
done

if [[ -x $build/bench/http_server ]]; then
  for ((i = 1; i <= heavy_runs; i++)); do
    for mode in keepalive close; do
      for policy in rr none single; do
        run "http-$mode-$policy" "$here/http_bench.sh" "$build" cppcluster "$policy" "$mode"
        run "http-$mode-$policy" "$here/http_bench.sh" "$build" node "$policy" "$mode"
      done
    done
  done
else
  echo "run.sh: $build/bench/http_server not built (http_parser missing?): HTTP figures skipped" >&2
fi

# Fairness: connections per worker (max/min) for 2, 4 and 8 workers under each policy.
for ((i = 1; i <= heavy_runs; i++)); do
  for policy in rr none; do
    for n in 2 4 8; do
      run "fair-$policy-${n}w" env NODE_CLUSTER_SCHED_POLICY=$policy "$build/bench/fair_bench" "$n" 2000 10
      run "fair-$policy-${n}w" env NODE_CLUSTER_SCHED_POLICY=$policy node "$here/node/fair_bench.js" "$n" 2000 10
    done
  done
done

node "$here/report.js" "$out" "$here/RESULTS.md" "$runs"
echo "wrote $here/RESULTS.md" >&2
