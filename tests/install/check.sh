#!/usr/bin/env bash
# Installs cppcluster from a build tree into a temporary prefix, then builds and runs a consumer
# with find_package(cppcluster) and compiles it again with pkg-config. Usage: check.sh <build-dir>
set -euo pipefail
build=$1
src=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A sanitizer build installs an instrumented library: its consumers need the same flags.
flags=""
if grep -q '^CPPCLUSTER_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
  flags="-fsanitize=address,undefined"
fi
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$src/consumer" -B "$tmp/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
out=$(timeout 30 "$tmp/consumer/consumer")
echo "$out"
grep -q 'consumer primary got {"echo":"ping"}' <<<"$out"

pcdir=$(dirname "$(find "$tmp/prefix" -name cppcluster.pc | head -1)")
g++ -std=c++20 $flags "$src/consumer/main.cpp" -o "$tmp/pc-consumer" $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs cppcluster)
timeout 30 "$tmp/pc-consumer" | grep -q 'consumer primary got'
echo "install check: find_package and pkg-config consumers work"
