#!/usr/bin/env bash
# HTTP framework figure: starts examples/asio/<framework>_server alone in one process (WORKERS=0:
# the framework by itself, no cluster) or as 2 cluster workers (WORKERS, default 2) on a free
# loopback port, loads it with wrk, stops it, prints one JSON line
#   {"impl":"cppcluster","framework":…,"setup":…,"mode":…,"req_per_s":N,"failed":F,
#    "server_cpu_us_per_req":C}
# (failed: wrk's socket errors and non-2xx answers; C: the CPU time of the server's processes,
# primary included, per request). Setup cluster: Beast workers get connections
# by round robin through the primary (sched_rr), cpp-httplib workers bind one SO_REUSEPORT socket
# each (see the example); setup reuseport (Beast): the cluster's sched_reuseport, one SO_REUSEPORT
# socket per worker bound by the primary, each worker accepting its own connections.
# Nothing is pinned: wrk and the server share the machine's cores, so that the cluster can use
# the cores one process leaves idle (with wrk on a core of its own, a 2-core box leaves one core
# to the server and nothing to scale to).
# Usage: bench/framework_bench.sh <release-build-dir> beast|httplib alone|cluster|reuseport keepalive|close
# Env: WRK_DURATION (default 5s), WRK_CONNECTIONS (50), WORKERS (2), WORK_US (0; Beast only: the
# CPU each request costs in the handler, so that the server is what saturates, not wrk; reported
# as "work_us").
set -euo pipefail
build=${1:?usage: framework_bench.sh <build-dir> beast|httplib alone|cluster|reuseport keepalive|close}
framework=${2:?framework}
setup=${3:?setup}
mode=${4:?mode}
duration=${WRK_DURATION:-5s}
conns=${WRK_CONNECTIONS:-50}
server=$build/examples/asio/${framework}_server
[[ -x $server ]] || { echo "framework_bench: $server not built" >&2; exit 1; }
case $setup in
  alone) workers=0 ;;
  cluster) workers=${WORKERS:-2} && export NODE_CLUSTER_SCHED_POLICY=rr ;;
  reuseport) workers=${WORKERS:-2} && export NODE_CLUSTER_SCHED_POLICY=reuseport ;;
  *) echo "unknown setup $setup" >&2; exit 2 ;;
esac
wrk_args=(-t1 -c"$conns" -d"$duration")
case $mode in
  keepalive) ;;
  close) wrk_args+=(-H 'Connection: close') ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac

# Its own process group, so that the exit trap reaches the primary and every worker.
work_us=${WORK_US:-0}
source "$(dirname "$0")/server_group.sh"
start_group env PORT=0 WORKERS="$workers" WORK_US="$work_us" "$server"
# Ready: its port line and, under the cluster, every worker's start line (at most 15 s).
ready() {
  grep -q '^Listening on port' "$log" && (($(grep -c '^Worker [0-9]* started' "$log") >= workers))
}
for ((tries = 0; tries < 150; tries++)); do ready && break; sleep 0.1; done
if ! ready; then
  echo "framework_bench: $framework ($setup) did not become ready:" >&2
  cat "$log" >&2
  exit 1
fi
port=$(sed -n 's/^Listening on port \([0-9]*\)$/\1/p' "$log" | head -1)

# The server's CPU (utime+stime of the primary, the workers and their threads, clock ticks)
# around the load: what each request costs, whatever the machine's other load leaves it.
server_ticks() {
  local p t=0
  for p in $(pgrep -g "$pgid"); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
ticks0=$(server_ticks)
out=$(wrk "${wrk_args[@]}" "http://127.0.0.1:$port/")
ticks1=$(server_ticks)
rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
failed=$(awk '/Socket errors:/ {gsub(",", ""); s += $4 + $6 + $8 + $10} /Non-2xx/ {s += $NF} END {print s + 0}' <<<"$out")
if [[ -z $rps ]]; then
  echo "framework_bench: no Requests/sec in wrk output:" >&2
  echo "$out" >&2
  exit 1
fi
requests=$(awk '/requests in/ {print $1}' <<<"$out")
cpu=$(awk -v d=$((ticks1 - ticks0)) -v hz="$(getconf CLK_TCK)" -v n="${requests:-0}" \
  'BEGIN {printf "%.2f", (n > 0 ? d / hz * 1e6 / n : 0)}')
echo "{\"impl\":\"cppcluster\",\"framework\":\"$framework\",\"setup\":\"$setup\",\"mode\":\"$mode\",\"work_us\":$work_us,\"req_per_s\":$rps,\"failed\":$failed,\"server_cpu_us_per_req\":$cpu}"
