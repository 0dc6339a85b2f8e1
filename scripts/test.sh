#!/usr/bin/env bash
# Builds ucoro and runs the whole test suite. `--sanitize` does the same in a
# separate ASan+UBSan build; `--tsan` runs the tests that use threads (posts
# and stop requests from other threads) under ThreadSanitizer; `--fuzz` runs
# every libFuzzer target (tests/fuzz: decoders of bytes from the network)
# under ASan+UBSan for UCORO_FUZZ_SECONDS (60) each. Installs its own
# dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--fuzz" ]; then
  bash scripts/install-deps.sh clang libclang-rt-14-dev
  seconds=${UCORO_FUZZ_SECONDS:-60}
  mkdir -p build-fuzz
  status=0
  for source in tests/fuzz/*.cpp; do
    name=$(basename "$source" .cpp)
    clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
      -Iinclude "$source" -o "build-fuzz/fuzz_$name"
    # Seeds and past crashes stay in git; what the fuzzer learns stays in the build.
    mkdir -p "build-fuzz/corpus_$name" "build-fuzz/crashes_$name"
    echo "fuzz $name: ${seconds}s"
    if ! "build-fuzz/fuzz_$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="build-fuzz/crashes_$name/" "build-fuzz/corpus_$name" "tests/fuzz/corpus/$name" \
      >"build-fuzz/fuzz_$name.log" 2>&1; then
      tail -40 "build-fuzz/fuzz_$name.log"
      echo "fuzz $name: FAILED (inputs in build-fuzz/crashes_$name; add them to tests/fuzz/corpus/$name once fixed)"
      status=1
    else
      grep -E '^Done' "build-fuzz/fuzz_$name.log" || true
    fi
  done
  exit $status
fi

bash scripts/install-deps.sh

builddir=build
opts=(-Dwerror=true)
threaded_tests=(timer worker task_scope when_all event join_blocks)
case "${1:-}" in
--sanitize)
  builddir=build-asan
  opts+=(-Db_sanitize=address,undefined -Dbuildtype=debug)
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  # Inherited by every rank the tests start (mpirun passes it on too).
  export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
  ;;
--tsan)
  builddir=build-tsan
  opts+=(-Db_sanitize=thread -Dbuildtype=debug -Dbench=false -Dexamples=false)
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1}
  # UCX's memory hooks (libucm) intercept madvise and crash under TSan's own
  # interceptors; ucoro does not need them.
  export UCX_MEM_MALLOC_HOOKS=no UCX_MEM_MMAP_HOOK_MODE=none UCX_MEM_EVENTS=no
  ;;
esac
if [ -f "$builddir/build.ninja" ]; then
  meson configure "$builddir" "${opts[@]}" >/dev/null
else
  meson setup "$builddir" "${opts[@]}" >/dev/null
fi
status=0
if [ "${1:-}" = "--tsan" ]; then
  ninja -C "$builddir" $(printf 'tests/test_%s ' "${threaded_tests[@]}")
  meson test -C "$builddir" --no-rebuild --print-errorlogs "${threaded_tests[@]}" || status=$?
else
  ninja -C "$builddir"
  meson test -C "$builddir" --print-errorlogs --num-processes 2 || status=$?
fi
python3 scripts/summarize-tests.py "$builddir/meson-logs/testlog.json"
exit $status
