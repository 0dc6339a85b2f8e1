#!/usr/bin/env bash
# Builds ucoro and runs the whole test suite; installs its own dependencies.
#   (no option)  g++, build/ (the directory and options scripts/demo.sh uses,
#                so after the demo nothing is compiled again)
#   --sanitize   clang++ with ASan+UBSan, build-asan/: every test that runs
#                ucoro's code; the checks that do not depend on the sanitizer
#                (install and CMake consumers, bare includes, docs snippets,
#                nvcc, ODR, benchmark output) run in the plain pass only
#   --tsan       the tests that use threads, under ThreadSanitizer
#   --fuzz       every libFuzzer target (tests/fuzz: decoders of bytes from
#                the network) under ASan+UBSan for UCORO_FUZZ_SECONDS (60),
#                the targets side by side, one per core
# Prints how long the build and the tests took and the 10 slowest tests.
# One test after a change: `meson test -C build NAME` rebuilds only what NAME
# depends on.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--fuzz" ]; then
  bash scripts/install-deps.sh clang libclang-rt-14-dev
  seconds=${UCORO_FUZZ_SECONDS:-60}
  mkdir -p build-fuzz
  names=() compiles=()
  for source in tests/fuzz/*.cpp; do
    name=$(basename "$source" .cpp)
    names+=("$name")
    clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
      -Iinclude "$source" -o "build-fuzz/fuzz_$name" &
    compiles+=($!)
  done
  for pid in "${compiles[@]}"; do
    wait "$pid" || { echo "fuzz: a target did not compile"; exit 1; }
  done
  # Seeds and past crashes stay in git; what the fuzzer learns stays in the
  # build. Each target is one process: they run side by side.
  pids=()
  for name in "${names[@]}"; do
    mkdir -p "build-fuzz/corpus_$name" "build-fuzz/crashes_$name"
    echo "fuzz $name: ${seconds}s"
    "build-fuzz/fuzz_$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="build-fuzz/crashes_$name/" "build-fuzz/corpus_$name" "tests/fuzz/corpus/$name" \
      >"build-fuzz/fuzz_$name.log" 2>&1 &
    pids+=($!)
  done
  status=0
  for i in "${!names[@]}"; do
    name=${names[$i]}
    if ! wait "${pids[$i]}"; then
      tail -40 "build-fuzz/fuzz_$name.log"
      echo "fuzz $name: FAILED (inputs in build-fuzz/crashes_$name; add them to tests/fuzz/corpus/$name once fixed)"
      status=1
    else
      echo "fuzz $name: $(grep -E '^Done' "build-fuzz/fuzz_$name.log" || echo done)"
    fi
  done
  exit $status
fi

pass=plain
threaded_tests=(timer worker task_scope when_all event join_blocks)
case "${1:-}" in
--sanitize)
  pass=asan
  bash scripts/install-deps.sh clang libclang-rt-14-dev
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  # Inherited by every rank the tests start (mpirun passes it on too).
  export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
  ;;
--tsan)
  pass=tsan
  bash scripts/install-deps.sh
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1}
  # UCX's memory hooks (libucm) intercept madvise and crash under TSan's own
  # interceptors; ucoro does not need them.
  export UCX_MEM_MALLOC_HOOKS=no UCX_MEM_MMAP_HOOK_MODE=none UCX_MEM_EVENTS=no
  ;;
"") bash scripts/install-deps.sh ;;
*)
  echo "usage: $0 [--sanitize | --tsan | --fuzz]" >&2
  exit 2
  ;;
esac
builddir=$(bash scripts/setup-build.sh "$pass")

started=$SECONDS
if [ "$pass" = tsan ]; then
  ninja -C "$builddir" tests/test_unit # the unit tests' one program
else
  ninja -C "$builddir"
fi
built=$SECONDS
status=0
if [ "$pass" = tsan ]; then
  meson test -C "$builddir" --no-rebuild --print-errorlogs "${threaded_tests[@]}" || status=$?
else
  meson test -C "$builddir" --no-rebuild --print-errorlogs --num-processes 2 || status=$?
fi
echo
echo "$pass pass: build $((built - started)) s, tests $((SECONDS - built)) s ($builddir)"
python3 scripts/summarize-tests.py "$builddir/meson-logs/testlog.json"
exit $status
