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

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
