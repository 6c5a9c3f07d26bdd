#!/usr/bin/env bash
# HTTP hello-world figure: starts bench/http_server (cppcluster) or bench/node/http_server.js
# (Node.js) on a free loopback port, loads it with wrk, stops it, prints one JSON line
#   {"impl":…,"policy":"rr"|"none"|"reuseport"|"single","mode":"keepalive"|"close","req_per_s":N}
# plus, for mode close under rr, "primary_cpu_us_per_conn" (under rr every connection passes
# through the primary). Mode raw is the hand-off figure without HTTP: the server (--raw) ends each
# TCP connection at once, bench/conn_client (in wrk's place) opens them, and the line is
#   {"impl":…,"policy":…,"mode":"raw","conns_per_s":N,"primary_cpu_us_per_conn":U}
# (the primary's CPU under every cluster policy: the hand-off cost under rr, ~0 under none/reuseport).
# Usage: bench/http_bench.sh <release-build-dir> cppcluster|node rr|none|reuseport|single
#        keepalive|close|raw        (reuseport: cppcluster only; Node has no such policy)
# Env: WRK_DURATION (default 5s), WRK_CONNECTIONS (50, also conn_client's concurrency), WORKERS (2),
# SCHEDULER (cppcluster rr: fair, least_connections or sticky; default fair), SOURCES (raw: the
# client's source addresses, default 1; the line then says "scheduler" and "sources").
# Pinning: with 2+ cores wrk runs alone on the last core and the server (primary and workers) on
# the others (on 2 cores: server on core 0, wrk on core 1); on 1 core nothing is pinned. conn_client
# is pinned as wrk is.
set -euo pipefail
build=${1:?usage: http_bench.sh <build-dir> cppcluster|node rr|none|reuseport|single keepalive|close|raw}
impl=${2:?impl}
policy=${3:?policy}
mode=${4:?mode}
here=$(cd "$(dirname "$0")" && pwd)
duration=${WRK_DURATION:-5s}
conns=${WRK_CONNECTIONS:-50}
workers=${WORKERS:-2}

ncpu=$(nproc)
server_pin=() wrk_pin=()
if ((ncpu >= 2)); then
  server_pin=(taskset -c "0-$((ncpu - 2))")
  wrk_pin=(taskset -c "$((ncpu - 1))")
fi

case $impl in
  cppcluster)
    server=("$build/bench/http_server")
    if [[ -n ${SCHEDULER:-} ]]; then server+=(--scheduler "$SCHEDULER"); fi ;;
  node) server=(node "$here/node/http_server.js") ;;
  *) echo "unknown impl $impl" >&2; exit 2 ;;
esac
case $policy in
  rr | none) export NODE_CLUSTER_SCHED_POLICY=$policy; server+=(--workers "$workers") ;;
  reuseport)
    if [[ $impl == node ]]; then
      echo "http_bench: Node.js has no reuseport policy (cppcluster only)" >&2
      exit 2
    fi
    export NODE_CLUSTER_SCHED_POLICY=$policy; server+=(--workers "$workers") ;;
  single) server+=(--single) ;;
  *) echo "unknown policy $policy" >&2; exit 2 ;;
esac
wrk_args=(-t1 -c"$conns" -d"$duration")
case $mode in
  keepalive) ;;
  close) wrk_args+=(-H 'Connection: close') ;;
  raw)
    server+=(--raw)
    client=$build/bench/conn_client
    [[ -x $client ]] || { echo "http_bench: $client not built" >&2; exit 1; } ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac

# The server gets its own process group, so that the exit trap stops the primary and every worker.
# Port 0: the server (the primary's shared handle under cluster) picks a free port and prints it.
stop_grace_tenths=20
source "$(dirname "$0")/server_group.sh"
start_group "${server_pin[@]}" "${server[@]}" --port 0
port=
for _ in $(seq 150); do  # at most 15 s
  port=$(sed -n 's/^ready \([0-9]*\)$/\1/p' "$log" | head -1)
  [[ -n $port ]] && break
  kill -0 "$pgid" 2>/dev/null || break
  sleep 0.1
done
if [[ -z $port ]]; then
  echo "http_bench: server did not become ready:" >&2
  cat "$log" >&2
  exit 1
fi

# The primary's CPU time (utime+stime of all its threads, clock ticks) around the load: with
# Connection: close or raw under a cluster policy every request is a connection the primary handed
# off (sched_rr) or one the workers accepted themselves (none, reuseport). $pgid is the primary:
# setsid does not fork here (a background job of a script is no group leader) and taskset execs the
# server; the check below makes sure the process sampled is the session leader, not a wrapper.
primary_ticks() { awk '{print $14 + $15}' "/proc/$pgid/stat"; }
stat=$(cat "/proc/$pgid/stat")
comm=${stat#*(} comm=${comm%%)*}
sid=$(awk '{print $4}' <<<"${stat##*)}")  # after "(comm)": state ppid pgrp session
if [[ $sid != "$pgid" || $comm == setsid || $comm == taskset ]]; then
  echo "http_bench: pid $pgid ($comm, session $sid) is not the server's primary" >&2
  exit 1
fi
ticks0=$(primary_ticks)
if [[ $mode == raw ]]; then
  seconds=${duration%s}
  [[ $seconds == *m ]] && seconds=$((${seconds%m} * 60))
  out=$("${wrk_pin[@]}" "$client" "$port" "$conns" "$seconds" "${SOURCES:-1}")
else
  out=$("${wrk_pin[@]}" wrk "${wrk_args[@]}" "http://127.0.0.1:$port/")
fi
ticks1=$(primary_ticks)
hz=$(getconf CLK_TCK)
if [[ $mode == raw ]]; then
  # {"conns":N,"errors":E,"seconds":S,"conns_per_s":X} from conn_client.
  field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$out"; }
  n=$(field conns) errs=$(field errors) cps=$(field conns_per_s)
  if [[ -z $cps ]]; then
    echo "http_bench: no conns_per_s in conn_client output: $out" >&2
    exit 1
  fi
  ((errs > 0)) && echo "http_bench ($impl $policy raw): $errs connection errors" >&2
  extra=
  if [[ $policy != single && $n -gt 0 ]]; then
    extra=$(awk -v d=$((ticks1 - ticks0)) -v hz="$hz" -v n="$n" \
      'BEGIN {printf ",\"primary_cpu_us_per_conn\":%.3f", d / hz * 1e6 / n}')
  fi
  if [[ -n ${SCHEDULER:-} || ${SOURCES:-1} != 1 ]]; then
    extra+=",\"scheduler\":\"${SCHEDULER:-fair}\",\"sources\":${SOURCES:-1}"
  fi
  echo "{\"impl\":\"$impl\",\"policy\":\"$policy\",\"mode\":\"raw\",\"conns_per_s\":$cps$extra}"
  exit 0
fi
rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
requests=$(awk '/requests in/ {print $1}' <<<"$out")
errors=$(grep -E 'Socket errors|Non-2xx' <<<"$out" || true)
[[ -n $errors ]] && echo "http_bench ($impl $policy $mode): $errors" >&2
if [[ -z $rps ]]; then
  echo "http_bench: no Requests/sec in wrk output:" >&2
  echo "$out" >&2
  exit 1
fi
extra=
if [[ $mode == close && $policy == rr && ${requests:-0} -gt 0 ]]; then
  # Hand-off figure: the primary's CPU microseconds per connection (clock-tick resolution).
  extra=$(awk -v d=$((ticks1 - ticks0)) -v hz="$hz" -v n="$requests" \
    'BEGIN {printf ",\"primary_cpu_us_per_conn\":%.3f", d / hz * 1e6 / n}')
fi
echo "{\"impl\":\"$impl\",\"policy\":\"$policy\",\"mode\":\"$mode\",\"req_per_s\":$rps$extra}"
