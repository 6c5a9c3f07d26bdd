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
check restart_on_exit          'died \(.*\)\. not restarting'
check echo                     '^primary got back: "hi there"$'
check worker_ids               '^I am worker #2$'
check setup_primary            '^\[worker #1 stdout\] argv: .* --use https$'

check graceful_disconnect      'primary: worker exited \(0\)'

# hello_server (what `make run` starts): two workers on a free port, two requests, then SIGTERM.
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
  kill -TERM "$pid" 2>/dev/null
  timeout 30 tail --pid="$pid" -f /dev/null
  wait "$pid"
  status=$?
  if [ "$status" -ne 0 ]; then
    echo "FAIL hello_server: exit status $status after SIGTERM"
    sed 's/^/     | /' "$log"
    failed=$((failed + 1))
  fi
  rm -f "$log"
}
check_hello_server

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
