#!/usr/bin/env bash
# Makes the Debian package from a build tree (cpack -G DEB, as make package does), unpacks it into
# a temporary tree (dpkg-deb -x, no root) and builds and runs tests/install/consumer against it:
#   find_package  cppcluster::cluster (static) and cppcluster::cluster_shared, as C++20 (from the
#                 library's cxx_std_20) and as C++23 (CMAKE_CXX_STANDARD 23)
#   pkg-config    cppcluster (shared), cppcluster --static, cppcluster-static (libcppcluster.a),
#                 with -std=c++20 and -std=c++23
# Also checks that cmake --install (make install) puts the same files in a prefix as the package,
# that no installed header includes uv.h and that the .pc files force no -std.
# Usage: check.sh <build-dir> (libraries built).
# shellcheck disable=SC2046  # pkg-config's output is meant to be split into words
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "install check: $*" >&2; exit 1; }
# A sanitizer build installs an instrumented library: its consumers need the same flags.
flags=""
if grep -q '^CPPCLUSTER_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
  flags="-fsanitize=address,undefined"
fi
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
stds=(20 23)
if ! echo 'int main() {}' | g++ -std=c++23 -x c++ -fsyntax-only - 2>/dev/null; then
  echo "install check: g++ does not know -std=c++23, C++20 only"
  stds=(20)
fi

# The package, unpacked as dpkg would, under $root.
(cd "$tmp" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1) ||
  { cat "$tmp/cpack.log" >&2; fail "cpack failed"; }
deb=$(ls "$tmp"/pkg/*.deb)
echo "package: $(basename "$deb")"
dpkg-deb -f "$deb" Package Version Maintainer Depends | sed 's/^/  /'
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "package version is not $version"
dpkg-deb -f "$deb" Depends | grep -q 'libuv1-dev' || fail "package does not depend on libuv1-dev"
dpkg-deb -f "$deb" Depends | grep -q 'nlohmann-json3-dev' || fail "package does not depend on nlohmann-json3-dev"
root="$tmp/root"
dpkg-deb -x "$deb" "$root"
prefix="$root/usr"

# make install puts the same files under its prefix.
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
diff <(cd "$tmp/prefix" && find . ! -type d | sort) <(cd "$prefix" && find . ! -type d | sort) ||
  fail "cmake --install and the package hold different files"
if grep -rlE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]uv\.h' "$prefix/include"; then
  fail "an installed header includes uv.h: libuv's include directories would have to be public"
fi
pcdir=$(dirname "$(find "$prefix" -name cppcluster.pc | head -1)")
libdir=$(dirname "$pcdir")
if grep -H '^Cflags:.*-std' "$pcdir"/*.pc; then fail "a .pc file forces a C++ standard"; fi

# run NAME BINARY STD: runs a consumer, wants its messages and the __cplusplus of STD (20:
# 202002, later: above it; g++ 12 says 202100 for C++23).
run() {
  local name=$1 bin=$2 std=$3 out cplusplus
  out=$(LD_LIBRARY_PATH="$libdir" timeout 30 "$bin") || fail "$name: exit status $?"
  grep -q "consumer cppcluster $version ($version)" <<<"$out" || fail "$name: not version $version: $out"
  grep -q 'consumer primary got {"echo":"ping"}' <<<"$out" || fail "$name: no echo: $out"
  cplusplus=$(sed -n 's/.*__cplusplus \([0-9]*\).*/\1/p' <<<"$out")
  if [ "$std" = 20 ]; then
    [ "$cplusplus" -eq 202002 ] || fail "$name: __cplusplus is $cplusplus, not C++20's 202002"
  else
    [ "$cplusplus" -gt 202002 ] || fail "$name: __cplusplus is $cplusplus, not above C++20's"
  fi
  echo "ok   $name (__cplusplus $cplusplus)"
}
# linked BINARY yes|no: whether the binary needs libcppcluster.so at run time.
linked() {
  local needed=no
  readelf -d "$1" | grep -q 'NEEDED.*libcppcluster\.so' && needed=yes
  [ "$needed" = "$2" ] || fail "$(basename "$1"): needs libcppcluster.so: $needed, wanted $2"
}

# find_package: the C++20 floor from the compile feature, then a consumer asking for C++23.
for std in "${stds[@]}"; do
  dir="$tmp/cmake$std"
  extra=()
  [ "$std" = 20 ] || extra=(-DCMAKE_CXX_STANDARD="$std")
  cmake -S "$src/consumer" -B "$dir" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" "${extra[@]}" \
    -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >"$tmp/configure.log" 2>&1 ||
    { cat "$tmp/configure.log" >&2; fail "find_package consumer (C++$std) does not configure"; }
  grep -q "^cppcluster_DIR:PATH=$prefix/" "$dir/CMakeCache.txt" || fail "find_package did not find the package's copy"
  cmake --build "$dir" -j 2 >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; fail "find_package consumer (C++$std) does not build"; }
  linked "$dir/consumer" no
  linked "$dir/consumer_shared" yes
  run "find_package C++$std cppcluster::cluster" "$dir/consumer" "$std"
  run "find_package C++$std cppcluster::cluster_shared" "$dir/consumer_shared" "$std"
done

# pkg-config: one object per standard, linked three ways.
export PKG_CONFIG_PATH="$pcdir"
for std in "${stds[@]}"; do
  obj="$tmp/main$std.o"
  g++ -std=c++"$std" $flags -c "$src/consumer/main.cpp" -o "$obj" $(pkg-config --cflags cppcluster)
  g++ $flags "$obj" -o "$tmp/pc-shared$std" $(pkg-config --libs cppcluster)
  g++ $flags "$obj" -o "$tmp/pc-static-flag$std" $(pkg-config --static --libs cppcluster)
  g++ $flags "$obj" -o "$tmp/pc-static$std" $(pkg-config --libs cppcluster-static)
  linked "$tmp/pc-shared$std" yes
  linked "$tmp/pc-static$std" no
  run "pkg-config C++$std cppcluster" "$tmp/pc-shared$std" "$std"
  run "pkg-config C++$std --static cppcluster" "$tmp/pc-static-flag$std" "$std"
  run "pkg-config C++$std cppcluster-static" "$tmp/pc-static$std" "$std"
done
echo "install check: the package's find_package and pkg-config consumers work (C++${stds[*]})"
