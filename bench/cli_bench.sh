#!/usr/bin/env bash
# The cppcluster command's cost: a plain C++ server (examples/kubernetes/plain_server.cpp, which
# takes its socket from LISTEN_FDS) loaded with wrk, a new connection per request
# (Connection: close), in one of these setups:
#   alone      the server by itself, one process, binding the port
#   prefork2   2 processes of it sharing one socket, pre-forked by a 13-line Python launcher
#              (socket activation by hand: what gunicorn's pre-fork does, without gunicorn)
#   shared     cppcluster run --workers 2 around it (the supervisor's socket, LISTEN_FDS)
#   reuseport  cppcluster run --workers 2 --reuseport (a socket per worker)
# and prints {"impl":"cppcluster","setup":…,"req_per_s":N,"supervisor_cpu_ms":C} (C: the
# supervisor's CPU time during the load; 0 for alone and prefork2, which have none). Setup
# "supervisor" runs cppcluster run --workers 8 instead and, once the 8 are ready, prints the
# supervisor's resident memory and its CPU time over IDLE_SECONDS (10) of idling:
#   {"impl":"cppcluster","setup":"supervisor","workers":8,"rss_kb":R,"idle_cpu_ms":C}
# Usage: bench/cli_bench.sh <build-dir> alone|prefork2|shared|reuseport|supervisor
# Env: WRK_DURATION (5s), WRK_CONNECTIONS (50). Pinning as http_bench.sh: the server on cores
# 0..n-2, wrk on the last one.
set -euo pipefail
build=${1:?usage: cli_bench.sh <build-dir> alone|prefork2|shared|reuseport|supervisor}
setup=${2:?setup}
duration=${WRK_DURATION:-5s}
conns=${WRK_CONNECTIONS:-50}
idle=${IDLE_SECONDS:-10}
cli=$build/bin/cppcluster
server=$build/bench/plain_server
for f in "$cli" "$server"; do [[ -x $f ]] || { echo "cli_bench: $f not built" >&2; exit 1; }; done

ncpu=$(nproc)
server_pin=() wrk_pin=()
if ((ncpu >= 2)); then
  server_pin=(taskset -c "0-$((ncpu - 2))")
  wrk_pin=(taskset -c "$((ncpu - 1))")
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
prefork='import os, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(2048)
for _ in range(2):
    if os.fork() == 0:
        if s.fileno() != 3: os.dup2(s.fileno(), 3)
        os.set_inheritable(3, True)
        os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
        os.execv(sys.argv[2], [sys.argv[2]])
s.close()
print("prefork ready", flush=True)
os.wait(); os.wait()'

case $setup in
  alone) cmd=(env PORT="$port" "$server") ;;
  prefork2) cmd=(python3 -c "$prefork" "$port" "$server") ;;
  shared) cmd=("$cli" run --listen "tcp://127.0.0.1:$port" --workers 2 -- "$server") ;;
  reuseport) cmd=("$cli" run --reuseport --listen "tcp://127.0.0.1:$port" --workers 2 -- "$server") ;;
  supervisor) cmd=("$cli" run --listen "tcp://127.0.0.1:$port" --workers 8 -- "$server") ;;
  *) echo "cli_bench: unknown setup $setup" >&2; exit 2 ;;
esac

source "$(dirname "$0")/server_group.sh"
start_group "${server_pin[@]}" "${cmd[@]}"
want=1
[[ $setup == prefork2 || $setup == shared || $setup == reuseport ]] && want=2
[[ $setup == supervisor ]] && want=8
for _ in $(seq 300); do  # at most 30 s for every server process to say it serves
  (($(grep -c "plain_server pid .* serving" "$log" || true) >= want)) && break
  kill -0 "$pgid" 2>/dev/null || break
  sleep 0.1
done
if (($(grep -c "plain_server pid .* serving" "$log" || true) < want)); then
  echo "cli_bench: $setup did not start:" >&2
  cat "$log" >&2
  exit 1
fi
# The supervisor's CPU time in ns, over its threads (schedstat: finer than stat's clock ticks).
cpu_ns() { cat /proc/"$pgid"/task/*/schedstat | awk '{n += $1} END {print n}'; }
supervised=0
[[ $setup == shared || $setup == reuseport || $setup == supervisor ]] && supervised=1

if [[ $setup == supervisor ]]; then
  t0=$(cpu_ns)
  sleep "$idle"
  t1=$(cpu_ns)
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pgid/status")
  awk -v d=$((t1 - t0)) -v r="$rss" \
    'BEGIN {printf "{\"impl\":\"cppcluster\",\"setup\":\"supervisor\",\"workers\":8,\"rss_kb\":%d,\"idle_cpu_ms\":%.3f}\n", r, d / 1e6}'
  exit 0
fi
t0=0
((supervised)) && t0=$(cpu_ns)
out=$("${wrk_pin[@]}" wrk -t1 -c"$conns" -d"$duration" -H 'Connection: close' "http://127.0.0.1:$port/")
t1=0
((supervised)) && t1=$(cpu_ns)
rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$out")
errors=$(sed -n 's/.*Socket errors: \(.*\)$/\1/p' <<<"$out")
[[ -n $errors ]] && echo "cli_bench ($setup): socket errors: $errors" >&2
[[ -n $rps ]] || { echo "cli_bench: no Requests/sec in wrk's output: $out" >&2; exit 1; }
awk -v r="$rps" -v s="$setup" -v d=$((t1 - t0)) \
  'BEGIN {printf "{\"impl\":\"cppcluster\",\"setup\":\"%s\",\"req_per_s\":%.0f,\"supervisor_cpu_ms\":%.3f}\n", s, r, d / 1e6}'
