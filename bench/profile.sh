#!/usr/bin/env bash
# Instructions per message, ucoro vs UCX itself, counted by callgrind (exact
# and repeatable, unlike time on a shared 2-core VM). Each variant runs twice,
# with N and 2N iterations; the difference divided by the messages of N
# iterations is the per-message cost, setup cancelled out.
#   Usage: bench/profile.sh [BUILD_DIR] [N] [CASES]
# CASES (default: all), comma-separated:
#   unexpected  8 B, the message already arrived: the awaiter's own cost
#   expected    8 B, the receive posted first and suspended
#   stop        as expected, under a stop-capable token (a listener's
#               handler, a task_scope child): a stop callback per operation
#   window      8 B, 16 receives and 16 sends in flight as one when_all (a
#               bandwidth loop; per message)
#   64k         as expected, 64 KiB messages (a rendezvous)
set -euo pipefail
build=${1:-build}
n=${2:-20000}
cases=${3:-unexpected,expected,stop,window,64k}
bin="$build/bench/overhead"
command -v valgrind >/dev/null || { echo "valgrind is not installed"; exit 1; }
count() { # variant, iterations, overhead arguments...
  local out variant=$1 iters=$2
  shift 2
  out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" --variant "$variant" --iters "$iters" "$@" >/dev/null 2>&1
  awk '/^summary:/{print $2}' "$out"
  rm -f "$out"
}
printf "%-10s %-11s %14s %12s\n" variant case "instr/message" "vs raw UCX"
for c in ${cases//,/ }; do
  iters=$n per=1
  case $c in
  unexpected) args=(--pattern unexpected) ;;
  expected) args=(--pattern expected) ;;
  stop) args=(--pattern expected --token stop) ;;
  window) args=(--pattern window --window 16); iters=$((n / 16)); per=16 ;;
  64k) args=(--pattern expected --size 65536); iters=$((n / 10)) ;;
  *) echo "unknown case $c"; exit 2 ;;
  esac
  raw=""
  for variant in raw tag endpoint; do
    # The raw variant has no token: UCX's own cost is the same either way.
    a=$(count "$variant" "$iters" "${args[@]}")
    b=$(count "$variant" $((2 * iters)) "${args[@]}")
    messages=$((iters * per))
    each=$(( (b - a) / messages ))
    [ -z "$raw" ] && raw=$each
    printf "%-10s %-11s %14d %+12d\n" "$variant" "$c" "$each" $((each - raw))
  done
done
