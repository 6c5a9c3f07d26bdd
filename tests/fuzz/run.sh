#!/usr/bin/env bash
# Builds the libFuzzer targets in build-fuzz/ (clang, ASan+UBSan) and runs each for the given
# seconds (default 10) over a temporary copy of its seed corpus: the committed corpus never grows.
# Prints one line per target and a last line "N passed, M failed"; exits non-zero on any failure.
# A crash leaves its input in build-fuzz/artifacts/<target>/ (rerun: build-fuzz/tests/fuzz/<target> FILE).
set -uo pipefail
seconds="${1:-10}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$root/build-fuzz"
jobs="${FUZZ_JOBS:-2}"
targets=(fuzz_json_codec fuzz_v8_codec fuzz_handle_wire fuzz_primary_acts fuzz_ring)

start=$(date +%s)
if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: clang++ not found (Debian: apt-get install clang libfuzzer-14-dev)" >&2
  exit 1
fi
mkdir -p "$build"
if ! CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Fuzz -DCPPCLUSTER_FUZZ=ON \
    -DCPPCLUSTER_TESTS=OFF -DCPPCLUSTER_EXAMPLES=OFF -DCPPCLUSTER_BENCH=OFF >"$build/configure.log" 2>&1; then
  cat "$build/configure.log" >&2
  exit 1
fi
if ! cmake --build "$build" -j "$jobs" --target fuzz >"$build/build.log" 2>&1; then
  tail -50 "$build/build.log" >&2
  echo "fuzz: build failed (full log: $build/build.log)" >&2
  exit 1
fi
built=$(date +%s)
echo "fuzz: built in $((built - start)) s; ${seconds} s per target"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
for t in "${targets[@]}"; do
  corpus="$work/$t"
  artifacts="$build/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  cp "$here/corpus/${t#fuzz_}/"* "$corpus/" 2>/dev/null
  log="$work/$t.log"
  # TMPDIR: fuzz_primary_acts makes its Unix socket directory there, removed with $work.
  TMPDIR="$work" "$build/tests/fuzz/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 "$corpus" >"$log" 2>&1
  rc=$?
  # The last status line: "#execs DONE cov: N ft: N corp: N/size ..." (or the last before a crash).
  status=$(grep -E '^#[0-9]+' "$log" | tail -1)
  execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$status")
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$status")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$status")
  corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$status")
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    echo "$t: passed, ${execs:-0} execs, cov ${cov:-?} edges, ft ${ft:-?}, corpus ${corp:-?} inputs"
  else
    failed=$((failed + 1))
    echo "$t: FAILED (exit $rc) after ${execs:-0} execs, cov ${cov:-?}; log and input:"
    grep -E 'ERROR|BROKEN|SUMMARY|runtime error|Test unit written|#[0-9]+ 0x' "$log" | head -30
    cp "$log" "$artifacts/last.log"
  fi
done
echo "fuzz: $(( $(date +%s) - start )) s in all"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
