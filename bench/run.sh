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

node "$here/report.js" "$out" "$here/RESULTS.md" "$runs"
echo "wrote $here/RESULTS.md" >&2
