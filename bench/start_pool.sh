# Sourced by storm_bench.sh and hostile_bench.sh: start_pool <command...> runs a pool that prints
# "port <n>" once it listens, in the background, and sets pid and port (exits 1 if it never
# listens); the pool and its children are killed when the script exits.
start_pool() {
  pool_log=$(mktemp)
  "$@" >"$pool_log" 2>/dev/null &
  pid=$!
  trap 'kill -9 $pid 2>/dev/null || true; pkill -9 -P $pid 2>/dev/null || true; rm -f "$pool_log"' EXIT
  port=
  for _ in $(seq 1 500); do
    port=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$pool_log" | head -1)
    [[ -n $port ]] && return 0
    sleep 0.02
  done
  echo "$(basename "$0"): the pool did not listen" >&2
  exit 1
}
