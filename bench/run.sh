#!/usr/bin/env bash
# Runs every benchmark for cppcluster and for Node.js alternately, RUNS times each, then writes
# bench/RESULTS.md (median, spread, ratio, machine, commands). Usage: bench/run.sh <release-build-dir>
set -euo pipefail
build=${1:?usage: bench/run.sh <release-build-dir>}
here=$(cd "$(dirname "$0")" && pwd)
runs=${RUNS:-5}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# FIGURES (default all): a comma-separated subset of ipc, fork, http, sched, fair, udpfair, storm,
# hostile, reload, frameworks, cli.
# OUT (default bench/RESULTS.md): where the report goes.
figures=${FIGURES:-ipc,fork,http,sched,fair,udpfair,storm,hostile,reload,frameworks,cli}
want() { [[ ",$figures," == *",$1,"* ]]; }
runs_of() { if want "$1"; then echo "$2"; else echo 0; fi; }  # runs_of <figure> <n>: n, or 0 if not wanted

run() {  # run <figure> <command...>: appends {"figure":…, …result} to $out
  local figure=$1
  shift
  local line
  line=$("$@" | tail -1)
  echo "{\"figure\":\"$figure\",\"cmd\":\"$*\",\"result\":$line}" >>"$out"
  echo "$figure: $line" >&2
}

for ((i = 1; i <= $(runs_of ipc "$runs"); i++)); do
  for mode in json advanced; do
    run "ipc-$mode" "$build/bench/ipc_bench" "$mode" 20000 100000
    run "ipc-$mode" node "$here/node/ipc_bench.js" "$mode" 20000 100000
    # Settings::ipc_busy_poll_us = 50 (beyond Node), beside a fresh Node run of the same mode.
    run "ipc-$mode+busy-poll" "$build/bench/ipc_bench" "$mode" 20000 100000 50
    run "ipc-$mode+busy-poll" node "$here/node/ipc_bench.js" "$mode" 20000 100000
  done
done

# Heavy figures (wrk or conn_client runs WRK_DURATION, default 5s, per line) run HEAVY_RUNS times
# (default: RUNS, at most 3) to keep `make bench` within about 10 minutes on 2 cores.
# sched_reuseport is cppcluster's alone (Node has no such policy): its lines have no Node twin.
heavy_runs=${HEAVY_RUNS:-$((runs < 3 ? runs : 3))}
for ((i = 1; i <= $(runs_of fork "$runs"); i++)); do
  run "fork" "$build/bench/fork_bench" 20 8
  run "fork" node "$here/node/fork_bench.js" 20 8
done

if ! want http; then
  :
elif [[ -x $build/bench/http_server ]]; then
  for ((i = 1; i <= heavy_runs; i++)); do
    for mode in keepalive close; do
      for policy in rr none single; do
        run "http-$mode-$policy" "$here/http_bench.sh" "$build" cppcluster "$policy" "$mode"
        run "http-$mode-$policy" "$here/http_bench.sh" "$build" node "$policy" "$mode"
      done
      run "http-$mode-reuseport" "$here/http_bench.sh" "$build" cppcluster reuseport "$mode"
    done
    # Hand-off rate without HTTP: connections per second and the primary's CPU per connection
    # (workers end each TCP connection at once; under rr each one passes through the primary).
    for policy in rr none; do
      run "handoff-raw-$policy" "$here/http_bench.sh" "$build" cppcluster "$policy" raw
      run "handoff-raw-$policy" "$here/http_bench.sh" "$build" node "$policy" raw
    done
    run "handoff-raw-reuseport" "$here/http_bench.sh" "$build" cppcluster reuseport raw
  done
else
  echo "run.sh: $build/bench/http_server not built (http_parser missing?): HTTP figures skipped" >&2
fi

# Scheduler hand-off rate (sched_rr, cppcluster only): the raw hand-off figure under each built-in
# scheduler, the clients spread over 64 source addresses (sticky hashes them over the workers).
for ((i = 1; i <= $(runs_of sched "$heavy_runs"); i++)); do
  for scheduler in fair least_connections sticky; do
    run "handoff-sched-$scheduler" env SCHEDULER=$scheduler SOURCES=64 "$here/http_bench.sh" "$build" cppcluster rr raw
  done
done

# Fairness: connections per worker (max/min) for 2, 4 and 8 workers under each policy.
for ((i = 1; i <= $(runs_of fair "$heavy_runs"); i++)); do
  for policy in rr none reuseport; do
    for n in 2 4 8; do
      run "fair-$policy-${n}w" env NODE_CLUSTER_SCHED_POLICY=$policy "$build/bench/fair_bench" "$n" 2000 10
      [[ $policy == reuseport ]] && continue  # cppcluster only
      run "fair-$policy-${n}w" env NODE_CLUSTER_SCHED_POLICY=$policy node "$here/node/fair_bench.js" "$n" 2000 10
    done
  done
done

# UDP fairness: flows per worker (max/min) for 3 workers; rr and none are Node's one shared
# socket, reuseport one SO_REUSEPORT socket per worker (cppcluster only).
for ((i = 1; i <= $(runs_of udpfair "$heavy_runs"); i++)); do
  for policy in rr none reuseport; do
    run "udpfair-$policy-3w" env NODE_CLUSTER_SCHED_POLICY=$policy "$build/bench/udp_fair_bench" 3 3000 10
    [[ $policy == reuseport ]] && continue  # cppcluster only
    run "udpfair-$policy-3w" env NODE_CLUSTER_SCHED_POLICY=$policy node "$here/node/udp_fair_bench.js" 3 3000 10
  done
done

# Kill storm: a worker of 2 SIGKILLed every 200 ms under connection-per-request load for
# STORM_SECONDS (default 10), every request's outcome counted, each policy.
for ((i = 1; i <= $(runs_of storm "$heavy_runs"); i++)); do
  for policy in rr none reuseport; do
    run "storm-$policy" "$here/storm_bench.sh" "$build" cppcluster "$policy"
    [[ $policy == reuseport ]] && continue  # cppcluster only
    run "storm-$policy" "$here/storm_bench.sh" "$build" node "$policy"
  done
done

# Hostile workers: what 2 good workers serve while a third misbehaves, and what the primary holds.
for ((i = 1; i <= $(runs_of hostile "$heavy_runs"); i++)); do
  for kind in none fds queryserver noread; do
    run "hostile-rr-$kind" env STORM_SECONDS=5 "$here/hostile_bench.sh" "$build" rr "$kind"
  done
  for kind in none stop; do
    run "hostile-reuseport-$kind" env STORM_SECONDS=5 "$here/hostile_bench.sh" "$build" reuseport "$kind"
  done
done

# Rolling reload of 4 HTTP workers under keep-alive and connection-per-request load: its
# duration, failed requests and throughput; the pool's (examples/hello_server, SIGHUP) beside
# Node's usual hand-written rolling restart and a PM2-style all-at-once restart.
if want reload && [[ -x $build/examples/hello_server ]]; then
  for ((i = 1; i <= heavy_runs; i++)); do
    run "reload-rolling-4w" "$build/bench/reload_bench" cppcluster "$build/examples/hello_server"
    run "reload-rolling-4w" env MODE=rolling "$build/bench/reload_bench" node node "$here/node/reload_server.js"
    run "reload-all-at-once-4w" env MODE=all "$build/bench/reload_bench" node node "$here/node/reload_server.js"
  done
fi

# HTTP frameworks (examples/asio): Beast and cpp-httplib alone in one process beside the same
# server as 2 cluster workers (Beast by round robin through cluster/asio.hpp and under
# sched_reuseport, cpp-httplib with its own SO_REUSEPORT sockets), keep-alive and a new
# connection per request; cppcluster only (no Node twin).
if want frameworks; then
  for ((i = 1; i <= heavy_runs; i++)); do
    for framework in beast httplib; do
      if [[ ! -x $build/examples/asio/${framework}_server ]]; then
        echo "run.sh: examples/asio/${framework}_server not built: its figure is skipped" >&2
        continue
      fi
      for mode in keepalive close; do
        for setup in alone cluster reuseport; do
          [[ $framework == httplib && $setup == reuseport ]] && continue  # it binds its own
          run "$framework-$mode-$setup" "$here/framework_bench.sh" "$build" "$framework" "$setup" "$mode"
        done
      done
    done
    # A handler that spends 100 us of CPU per request: the server saturates before wrk does, so
    # what the cluster adds shows as scaling (on 2 cores shared with wrk, at most about 2x).
    if [[ -x $build/examples/asio/beast_server ]]; then
      for mode in keepalive close; do
        for setup in alone cluster reuseport; do
          run "beast-work100-$mode-$setup" env WORK_US=100 "$here/framework_bench.sh" "$build" beast "$setup" "$mode"
        done
      done
    fi
  done
fi

# The cppcluster command's cost (cli_bench.sh, cppcluster only): a plain server alone, under a
# 2-process pre-fork, under `cppcluster run` (shared socket, --reuseport), a new connection per
# request; and the supervisor's RSS and idle CPU with 8 workers.
if want cli && [[ -x $build/bin/cppcluster && -x $build/bench/plain_server ]]; then
  for ((i = 1; i <= heavy_runs; i++)); do
    for setup in alone prefork2 shared reuseport; do
      run "cli-$setup" "$here/cli_bench.sh" "$build" "$setup"
    done
    run "cli-supervisor" "$here/cli_bench.sh" "$build" supervisor
  done
fi

report=${OUT:-$here/RESULTS.md}
node "$here/report.js" "$out" "$report" "$runs"
echo "wrote $report" >&2
