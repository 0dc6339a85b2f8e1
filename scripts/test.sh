#!/usr/bin/env bash
# Builds ucoro and runs the whole test suite. `--sanitize` does the same in a
# separate ASan+UBSan build. Installs its own dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

builddir=build
opts=(-Dwerror=true)
if [ "${1:-}" = "--sanitize" ]; then
  builddir=build-asan
  opts+=(-Db_sanitize=address,undefined -Dbuildtype=debug)
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi
if [ -f "$builddir/build.ninja" ]; then
  meson configure "$builddir" "${opts[@]}" >/dev/null
else
  meson setup "$builddir" "${opts[@]}" >/dev/null
fi
ninja -C "$builddir"
status=0
meson test -C "$builddir" --print-errorlogs --num-processes 2 || status=$?
python3 scripts/summarize-tests.py "$builddir/meson-logs/testlog.json"
exit $status
