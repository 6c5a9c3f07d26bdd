#!/usr/bin/env bash
# Runs each example once and checks that it ends by itself with status 0 and prints its
# characteristic line.
#
#   examples/smoke_test.sh build          # the CMake build directory holding examples/
set -u

if [ $# -ne 1 ]; then
  echo "usage: $0 <build-dir>" >&2
  exit 2
fi
bin="$1/examples"

passed=0
failed=0

# pass LABEL / fail LABEL LOGFILE: counts one outcome (fail shows the log).
pass() {
  echo "ok   $1"
  passed=$((passed + 1))
}
fail() {
  echo "FAIL $1"
  sed 's/^/     | /' "$2"
  failed=$((failed + 1))
}

# check NAME PATTERN: runs $bin/NAME, wants exit status 0 and a line matching PATTERN (grep -E).
check() {
  local name="$1" pattern="$2" out status
  out=$(timeout 30 "$bin/$name" 2>&1)
  status=$?
  if [ "$status" -ne 0 ]; then
    echo "FAIL $name: exit status $status"
  elif ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL $name: no line matching '$pattern'"
  else
    echo "ok   $name"
    passed=$((passed + 1))
    return
  fi
  sed 's/^/     | /' <<<"$out"
  failed=$((failed + 1))
}

check fork_exit                'worker #1 was killed by signal: SIGTERM'
check exited_after_disconnect  'Oh, it was just voluntary – no need to worry'
check restart_on_exit          'died \(.*\)\. not restarting: 4 unexpected exits'
check echo                     '^primary got back: "hi there"$'
check worker_ids               '^I am worker #2$'
check setup_primary            '^\[worker #1 stdout\] argv: .* --use https$'

check graceful_disconnect      'primary: worker exited \(0\)'

# check_all LABEL CMD PATTERN...: runs CMD (an example with arguments, environment first via env)
# and wants exit status 0 and, for each PATTERN, a line matching it.
check_all() {
  local label="$1" cmd="$2" out status p
  shift 2
  out=$(cd "$bin" && timeout 30 bash -c "$cmd" 2>&1)
  status=$?
  if [ "$status" -ne 0 ]; then
    fail "$label: exit status $status" <(printf '%s\n' "$out")
    return
  fi
  for p in "$@"; do
    if ! grep -qE -- "$p" <<<"$out"; then
      fail "$label: no line matching '$p'" <(printf '%s\n' "$out")
      return
    fi
  done
  pass "$label"
}

# One example per feature; each pattern checks what the feature did, not only that it ran.
check_all udp_shared ./udp_shared \
  '^worker 1 bound udp4 127\.0\.0\.1:[1-9][0-9]*$' '^50 datagrams answered(, worker [12]: [0-9]+)+$'
udp_ports=$(cd "$bin" && timeout 30 ./udp_shared 2>&1 | sed -n 's/^worker [12] bound udp4 .*:\([0-9]*\)$/\1/p' | sort -u | wc -l)
[ "$udp_ports" -eq 1 ] && pass "udp_shared (both workers on one port)" ||
  fail "udp_shared: workers bound $udp_ports different ports" /dev/null
check_all "udp_shared (reuseport)" 'NODE_CLUSTER_SCHED_POLICY=reuseport ./udp_shared' '^50 datagrams answered'
check_all unix_server ./unix_server \
  '^worker 2 listening on /tmp/cluster-.*/cluster\.sock$' '^reply 4: hello from worker [12]$' \
  '^reply [1-4]: hello from worker 1$' '^reply [1-4]: hello from worker 2$'
# rr: the fair round robin gives 20 sequential connections 10 and 10.
check_all "scheduling_policies rr" './scheduling_policies rr' \
  '^policy rr: 20 of 20 answered, worker 1: 10, worker 2: 10$'
check_all "scheduling_policies none (env)" 'NODE_CLUSTER_SCHED_POLICY=none ./scheduling_policies' \
  '^policy none: 20 of 20 answered'
check_all "scheduling_policies reuseport" './scheduling_policies reuseport' \
  '^policy reuseport: 20 of 20 answered'
check_all "scheduling_policies (bogus env refused)" \
  '! NODE_CLUSTER_SCHED_POLICY=bogus ./scheduling_policies' 'rr.*none.*reuseport'
check_all advanced_serialization ./advanced_serialization \
  '^worker got: bytes is a Buffer of 4, nan is NaN, inf is inf$' \
  '^primary got back: bytes 00 ff 0a 00, nan NaN, inf inf, text "héllo"$'
check_all busy_poll ./busy_poll \
  '^ipc_busy_poll_us=0: 2000 round trips, [0-9.]+ us each$' '^ipc_busy_poll_us=50: 2000 round trips, [0-9.]+ us each$'
if command -v node >/dev/null 2>&1; then
  check_all node_workers ./node_workers \
    '^worker 1 says \{"hello":"from node","node":"v[0-9]' '^worker 2 says ' \
    '^reply: node worker 1$' '^reply: node worker 2$' '^worker 1 exited \(0\)$' '^worker 2 exited \(0\)$'
else
  echo "skip node_workers: no node on PATH"
fi
check_all silent_workers ./silent_workers \
  '^\[worker 1 stdout\] result: 1 squared is 1$' '^\[worker 2 stdout\] result: 2 squared is 4$' \
  '^\[worker 1 stderr\] warning: worker 1 is about to leave$' '^\[worker 2 stderr\] warning: worker 2 is about to leave$' \
  '^\[worker 2 stderr\] \(end\)$'
# signals_timers: the interval stops at SIGUSR1 (sent after tick 3; under load a tick may come
# first), so the primary saw exactly as many ticks as the worker counted when the signal came.
check_all signals_timers ./signals_timers \
  '^tick 3$' '^worker got SIGUSR1 after [3-9] ticks: stopping the interval$' '^worker 1 exited \(0\), [3-9] ticks$'
ticks_out=$(cd "$bin" && timeout 30 ./signals_timers 2>&1)
at_signal=$(sed -n 's/^worker got SIGUSR1 after \([0-9]*\) ticks.*/\1/p' <<<"$ticks_out")
seen=$(sed -n 's/^worker 1 exited (0), \([0-9]*\) ticks$/\1/p' <<<"$ticks_out")
if [ -n "$at_signal" ] && [ "$at_signal" = "$seen" ]; then
  pass "signals_timers (no tick after SIGUSR1: $seen)"
else
  fail "signals_timers: $at_signal ticks at SIGUSR1, $seen seen by the primary" <(printf '%s\n' "$ticks_out")
fi
check_all pool_reload ./pool_reload \
  '^ready: worker 1, worker 2$|^ready: worker 2, worker 1$' '^killing worker 1; respawn in 100 ms$' \
  '^ready: worker 3; SIGHUP$' '^reload done: answered by worker [45]$' '^stopped [2-4] worker\(s\), 0 killed$'

# check_server NAME BODY_PATTERN [LOG_PATTERN]: runs NAME with WORKERS=2 on a free port, wants 3
# answers matching BODY_PATTERN, then (within 5 s) a log line matching LOG_PATTERN, then exit 0
# on SIGINT (Ctrl-C).
check_server() {
  local name="$1" body_pattern="$2" log_pattern="${3:-}" log pid port ok=0 status attempt
  log=$(mktemp)
  for attempt in 1 2 3; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null)
    [ -z "$port" ] && { echo "skip $name: no python3 to find a free port"; rm -f "$log"; return; }
    PORT=$port WORKERS=2 "$bin/$name" >"$log" 2>&1 &
    pid=$!
    ok=0
    for _ in $(seq 1 100); do
      curl -s --max-time 10 "http://127.0.0.1:$port/" 2>/dev/null | grep -qE -- "$body_pattern" && { ok=1; break; }
      grep -q EADDRINUSE "$log" && break
      sleep 0.1
    done
    [ "$ok" -eq 1 ] && break
    kill -INT "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    grep -q EADDRINUSE "$log" || break
  done
  if [ "$ok" -eq 1 ]; then
    for _ in 1 2; do curl -s --max-time 10 "http://127.0.0.1:$port/" | grep -qE -- "$body_pattern" || ok=0; done
  fi
  if [ "$ok" -eq 1 ] && [ -n "$log_pattern" ]; then
    ok=0
    for _ in $(seq 1 50); do grep -qE -- "$log_pattern" "$log" && { ok=1; break; }; sleep 0.1; done
  fi
  kill -INT "$pid" 2>/dev/null
  timeout 30 tail --pid="$pid" -f /dev/null
  wait "$pid"
  status=$?
  if [ "$ok" -eq 1 ] && [ "$status" -eq 0 ]; then
    pass "$name (3 answers, exit 0 on Ctrl-C)"
  else
    fail "$name: answers ok=$ok, exit status $status" "$log"
  fi
  rm -f "$log"
}
check_server count_requests '^hello world$' '^numReqs = 3$'
check_server hand_off '^handled outside cppcluster by worker [12]$'


# hello_server (what `make run` starts): two workers on a free port, two requests, a SIGHUP
# reload, then SIGTERM.
# start_demo LOG VAR=VALUE...: starts hello_server with that environment, its output in LOG; sets
# demo_pid, and demo_port once it prints "Listening on port" (empty if it has not within 15 s).
start_demo() {
  local log="$1"
  shift
  env "$@" "$bin/hello_server" >"$log" 2>&1 &
  demo_pid=$!
  demo_port=""
  for _ in $(seq 1 150); do
    demo_port=$(sed -n 's/^Listening on port \([0-9]*\)$/\1/p' "$log")
    [ -n "$demo_port" ] && return
    sleep 0.1
  done
}

# stop_demo: SIGTERM to the demo, then its exit status.
stop_demo() {
  kill -TERM "$demo_pid" 2>/dev/null
  timeout 30 tail --pid="$demo_pid" -f /dev/null
  wait "$demo_pid"
}

check_hello_server() {
  local log pid port body status
  log=$(mktemp)
  start_demo "$log" PORT=0 WORKERS=2
  pid=$demo_pid
  port=$demo_port
  if [ -z "$port" ]; then
    echo "FAIL hello_server: no 'Listening on port' line"
    failed=$((failed + 1))
  else
    body=$(curl -s -i --max-time 10 "http://127.0.0.1:$port/" "http://127.0.0.1:$port/")
    if grep -q '^hello world' <<<"$body" && grep -qi '^X-Worker-Id: [0-9]' <<<"$body"; then
      echo "ok   hello_server"
      passed=$((passed + 1))
    else
      echo "FAIL hello_server: unexpected response"
      sed 's/^/     | /' <<<"$body"
      failed=$((failed + 1))
    fi
  fi
  if [ -n "$port" ]; then
    check_hello_server_reload "$pid" "$port" "$log"
  fi
  if grep -q '^warning:' "$log"; then
    fail "hello_server: a warning in a normal run" "$log"
  fi
  stop_demo
  status=$?
  if [ "$status" -ne 0 ]; then
    fail "hello_server: exit status $status after SIGTERM" "$log"
  fi
  rm -f "$log"
}

# SIGHUP to hello_server: a rolling reload, after which only new workers (ids 3 and 4) answer.
check_hello_server_reload() {
  local pid="$1" port="$2" log="$3" ids
  kill -HUP "$pid"
  for _ in $(seq 1 300); do
    grep -q 'reload done' "$log" && break
    sleep 0.1
  done
  ids=$(for _ in 1 2 3 4; do curl -s -i --max-time 10 "http://127.0.0.1:$port/"; done |
        sed -n 's/^X-Worker-Id: \([0-9]*\).*/\1/ip' | sort -u | tr '\n' ' ')
  if grep -q 'reload done, workers 3, 4' "$log" && [ -n "$ids" ] && ! grep -qwE '1|2' <<<"$ids"; then
    pass "hello_server (SIGHUP: rolling reload, new workers ${ids% } answer)"
  else
    fail "hello_server (SIGHUP): answered by workers '$ids'" "$log"
  fi
}
check_hello_server

# hello_server whose worker waits 2 s before listening (WARMUP_MS) with LISTEN_WARN_MS=300: the
# primary warns, naming the worker's id and pid, and the worker then serves as usual. The demo's
# run above (the default 10 s) printed no warning.
check_hello_server_listen_warning() {
  local log port warn_line listen_line status
  log=$(mktemp)
  start_demo "$log" PORT=0 WORKERS=1 WARMUP_MS=2000 LISTEN_WARN_MS=300
  port=$demo_port
  warn_line=$(grep -nE '^warning: worker 1 \(pid [0-9]+\) is online but has not listened after 300 ms$' "$log" | cut -d: -f1)
  listen_line=$(grep -n '^Listening on port' "$log" | cut -d: -f1)
  if [ -n "$port" ] && [ -n "$warn_line" ] && [ "$warn_line" -lt "$listen_line" ] &&
     curl -s --max-time 10 "http://127.0.0.1:$port/" | grep -q '^hello world'; then
    pass "hello_server (worker not listening after LISTEN_WARN_MS: warned, then serves)"
  else
    fail "hello_server (LISTEN_WARN_MS): no warning before listening, or not serving" "$log"
  fi
  stop_demo
  status=$?
  [ "$status" -eq 0 ] || fail "hello_server (LISTEN_WARN_MS): exit status $status after SIGTERM" "$log"
  rm -f "$log"
}
check_hello_server_listen_warning

# hello_server on a port another program holds: it says why and exits 1 (instead of 0).
check_hello_server_port_in_use() {
  local out status port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null)
  if [ -z "$port" ]; then
    echo "skip hello_server (port in use): no python3 to hold a port"
    return
  fi
  # The holder listens on all addresses, as a server already running would.
  out=$(python3 -c "
import socket, subprocess, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('', $port)); s.listen()
r = subprocess.run(['timeout', '30', '$bin/hello_server'], env={'PORT': '$port', 'WORKERS': '2'},
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
print(r.stdout, end=''); sys.exit(r.returncode)" 2>&1)
  status=$?
  if [ "$status" -eq 1 ] && grep -q 'EADDRINUSE' <<<"$out"; then
    echo "ok   hello_server (port in use: exit 1)"
    passed=$((passed + 1))
  else
    echo "FAIL hello_server (port in use): exit status $status"
    sed 's/^/     | /' <<<"$out"
    failed=$((failed + 1))
  fi
}
check_hello_server_port_in_use

# hello_server whose stdout reader goes away (| head -1): SIGPIPE is ignored, it still serves.
check_hello_server_sigpipe() {
  local log pid port served="" attempt
  log=$(mktemp)
  # A free port can be taken by another test's connection before the demo binds it: try another.
  for attempt in 1 2 3 4 5; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null)
    if [ -z "$port" ]; then
      echo "skip hello_server (stdout closed): no python3 to find a free port"
      rm -f "$log"
      return
    fi
    (PORT=$port WORKERS=1 "$bin/hello_server" 2>"$log" | head -1 >/dev/null) &
    pid=$!
    for _ in $(seq 1 100); do
      if curl -s --max-time 10 "http://127.0.0.1:$port/" 2>/dev/null | grep -q '^hello world'; then
        served=1
        break
      fi
      grep -q EADDRINUSE "$log" && break
      sleep 0.1
    done
    [ -n "$served" ] && break
    grep -q EADDRINUSE "$log" || break
    pkill -KILL -f "^$bin/hello_server" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [ -n "$served" ]; then
    pass "hello_server (stdout closed: still serving)"
  else
    fail "hello_server (stdout closed): not serving" "$log"
  fi
  pkill -TERM -f "^$bin/hello_server" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -f "$log"
}
check_hello_server_sigpipe

# The cppcluster command around the plain server of examples/kubernetes (what
# `make run-cppcluster` starts): 2 workers on a port the kernel picks, requests answered by both
# pids, /readyz 200, then SIGTERM and exit 0.
check_cppcluster_run() {
  local tool="$1/../bin/cppcluster" server="$1/../bench/plain_server" log port admin pids status
  if [ ! -x "$tool" ] || [ ! -x "$server" ]; then
    echo "FAIL cppcluster run: $tool or $server not built"
    failed=$((failed + 1))
    return
  fi
  log=$(mktemp)
  "$tool" run --listen tcp://127.0.0.1:0 --workers 2 --admin 127.0.0.1:0 -- "$server" >"$log" 2>&1 &
  local sup=$!
  for _ in $(seq 1 300); do
    [ "$(grep -c 'plain_server pid .* serving' "$log")" -ge 2 ] && break
    sleep 0.1
  done
  port=$(sed -nE 's/.*listening on tcp:\/\/127\.0\.0\.1:([0-9]+).*/\1/p' "$log" | head -1)
  admin=$(sed -nE 's/.*admin on http:\/\/127\.0\.0\.1:([0-9]+).*/\1/p' "$log" | head -1)
  pids=""
  if [ -n "$port" ]; then
    pids=$(for _ in $(seq 1 40); do curl -s --max-time 10 -H 'Connection: close' "http://127.0.0.1:$port/"; done |
           sed -nE 's/^hello from pid ([0-9]+).*/\1/p' | sort -u | wc -l)
  fi
  local ready
  ready=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:${admin:-1}/readyz")
  kill -TERM "$sup"
  wait "$sup"
  status=$?
  if [ "${pids:-0}" -ge 2 ] && [ "$ready" = 200 ] && [ "$status" -eq 0 ]; then
    pass "cppcluster run (plain_server: 2 pids answered, /readyz 200, exit 0 on SIGTERM)"
  else
    fail "cppcluster run: pids answering ${pids:-0}, /readyz $ready, exit $status" "$log"
  fi
  rm -f "$log"
}
check_cppcluster_run "$bin"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
