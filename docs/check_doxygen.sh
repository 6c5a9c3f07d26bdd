#!/usr/bin/env bash
# Runs Doxygen on the public headers (docs/Doxyfile) into a build directory and fails on any
# warning: an undocumented public declaration, a broken reference, a malformed comment.
#
#   docs/check_doxygen.sh <source-dir> <output-dir>     # ctest runs it as Docs.Doxygen
set -u
if [ $# -ne 2 ]; then
  echo "usage: $0 <source-dir> <output-dir>" >&2
  exit 2
fi
src="$1"
out="$2"
if ! command -v doxygen >/dev/null 2>&1; then
  echo "doxygen not found (apt-get install doxygen, or scripts/setup-debian.sh)" >&2
  exit 1
fi
mkdir -p "$out"
log="$out/warnings.log"
rm -f "$log"
# Paths in the Doxyfile are relative to the source tree; the output goes to the build directory.
(cd "$src" && { cat docs/Doxyfile; echo "OUTPUT_DIRECTORY = $out"; echo "WARN_LOGFILE = $log"; } | doxygen -)
status=$?
if [ "$status" -ne 0 ]; then
  echo "doxygen failed with status $status" >&2
  exit 1
fi
if [ -s "$log" ]; then
  echo "doxygen warnings ($(wc -l <"$log")):" >&2
  cat "$log" >&2
  exit 1
fi
echo "doxygen: no warnings; HTML in $out/html/index.html"
