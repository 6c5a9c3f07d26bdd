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

# hello_server (what `make run` starts): two workers on a free port, two requests, a SIGHUP
# reload, then SIGTERM.
check_hello_server() {
  local log pid port="" body status
  log=$(mktemp)
  PORT=0 WORKERS=2 "$bin/hello_server" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    port=$(sed -n 's/^Listening on port \([0-9]*\)$/\1/p' "$log")
    [ -n "$port" ] && break
    sleep 0.1
  done
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
  kill -TERM "$pid" 2>/dev/null
  timeout 30 tail --pid="$pid" -f /dev/null
  wait "$pid"
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

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
