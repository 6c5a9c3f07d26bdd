# Sourced by http_bench.sh, cli_bench.sh and framework_bench.sh: one server, with its workers, in
# a process group of its own. Sets log (a temporary file for the server's output). start_group
# <command...> runs the command under setsid (stdin /dev/null, stdout and stderr to $log) and sets
# pgid, the group's id (the server's own pid: setsid does not fork for a background job of a
# script). At exit the group gets SIGTERM, stop_grace_tenths (default 50) tenths of a second to
# end, then SIGKILL, and log is removed.
log=$(mktemp)
pgid=
stop_grace_tenths=${stop_grace_tenths:-50}
stop_group() {
  if [[ -n $pgid ]]; then
    kill -TERM -- "-$pgid" 2>/dev/null || true
    for ((i = 0; i < stop_grace_tenths; i++)); do
      kill -0 -- "-$pgid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pgid" 2>/dev/null || true
  fi
  rm -f "$log"
}
start_group() {
  setsid "$@" >"$log" 2>&1 </dev/null &
  pgid=$!
}
trap stop_group EXIT
trap 'exit 130' INT TERM
