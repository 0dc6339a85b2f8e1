#!/usr/bin/env bash
# Instructions per message, ucoro vs UCX itself, counted by callgrind (exact
# and repeatable, unlike time on a shared 2-core VM). Each variant runs twice,
# with N and 2N messages; the difference divided by N is the per-message cost,
# setup cancelled out.   Usage: bench/profile.sh [BUILD_DIR] [N]
set -euo pipefail
build=${1:-build}
n=${2:-20000}
bin="$build/bench/overhead"
command -v valgrind >/dev/null || { echo "valgrind is not installed"; exit 1; }
count() {
  local out
  out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" --variant "$1" --pattern "$2" --iters "$3" >/dev/null 2>&1
  awk '/^summary:/{print $2}' "$out"
  rm -f "$out"
}
printf "%-10s %-11s %14s %12s\n" variant pattern "instr/message" "vs raw UCX"
for pattern in unexpected expected; do
  raw=""
  for variant in raw tag endpoint; do
    a=$(count "$variant" "$pattern" "$n")
    b=$(count "$variant" "$pattern" $((2 * n)))
    per=$(( (b - a) / n ))
    [ -z "$raw" ] && raw=$per
    printf "%-10s %-11s %14d %+12d\n" "$variant" "$pattern" "$per" $((per - raw))
  done
done
