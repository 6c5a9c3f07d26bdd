#!/usr/bin/env bash
# Installs the Debian packages cppcluster needs, only those missing (apt-get update once first).
set -euo pipefail
packages=(make cmake ninja-build g++ pkg-config libuv1-dev nlohmann-json3-dev libgtest-dev
          libhttp-parser-dev nodejs wrk curl clang libfuzzer-14-dev libcli11-dev libtomlplusplus-dev
          doxygen libboost-dev libasio-dev libcpp-httplib-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node may come from elsewhere than Debian's nodejs package; any node 20 on PATH will do.
if command -v node >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do [ "$p" = nodejs ] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
