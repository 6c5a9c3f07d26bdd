#!/usr/bin/env bash
# Runs each HTTP framework example (examples/asio) as 2 cluster workers on a free port: 20
# requests, each on a new connection, must all be answered and by more than one worker pid; then
# SIGTERM to the primary must end everything with status 0 within 30 s.
#
#   examples/asio/smoke_test.sh build          # the CMake build directory holding examples/asio/
set -u
bin="${1:?usage: $0 <build-dir>}/examples/asio"
passed=0 failed=0

# outcome ok|FAIL TEXT [LOGFILE]: prints and counts one outcome (a failure with its log).
outcome() {
  printf '%-4s %s\n' "$1" "$2"
  if [ "$1" = ok ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    [ -n "${3:-}" ] && sed 's/^/     | /' "$3"
  fi
}

# check NAME: the run described above, for $bin/NAME.
check() {
  local name="$1" log pid port="" pids answered=0 status
  if [ ! -x "$bin/$name" ]; then
    echo "skip $name: not built (its package is not installed)"
    return
  fi
  log=$(mktemp)
  PORT=0 WORKERS=2 "$bin/$name" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 150); do
    port=$(sed -n 's/^Listening on port \([0-9]*\)$/\1/p' "$log")
    [ -n "$port" ] && [ "$(grep -c '^Worker [0-9]* started' "$log")" -eq 2 ] && break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    outcome FAIL "$name: no 'Listening on port' line" "$log"
  else
    pids=$(for _ in $(seq 1 20); do
             curl -s --max-time 10 -H 'Connection: close' "http://127.0.0.1:$port/"
           done | sed -n 's/^hello from worker \([0-9]*\)$/\1/p')
    answered=$(grep -c . <<<"$pids")
    pids=$(sort -u <<<"$pids" | tr '\n' ' ')
    if [ "$answered" -eq 20 ] && [ "$(wc -w <<<"$pids")" -ge 2 ]; then
      outcome ok "$name (20 of 20 answered, by workers ${pids% })"
    else
      outcome FAIL "$name: $answered of 20 answered, by workers '${pids% }'" "$log"
    fi
  fi
  kill -TERM "$pid" 2>/dev/null
  timeout 30 tail --pid="$pid" -f /dev/null
  if kill -0 "$pid" 2>/dev/null; then
    pkill -KILL -P "$pid" 2>/dev/null  # its workers, while they are still its children
    kill -KILL "$pid" 2>/dev/null
    outcome FAIL "$name: still running 30 s after SIGTERM" "$log"
  else
    wait "$pid"
    status=$?
    if [ "$status" -eq 0 ] && [ "$(grep -c '^worker [0-9]* exited (0)$' "$log")" -eq 2 ]; then
      outcome ok "$name (SIGTERM: workers exited 0, primary 0)"
    else
      outcome FAIL "$name: exit status $status after SIGTERM" "$log"
    fi
  fi
  rm -f "$log"
}

check beast_server
check httplib_server

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
