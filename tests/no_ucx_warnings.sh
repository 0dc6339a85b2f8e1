#!/usr/bin/env bash
# Runs a command and fails if UCX printed a WARN or ERROR line, even when the
# command itself succeeded: a clean run and close is quiet. The command's
# output (stderr merged into stdout) is passed through as it comes; its own
# failure, and a SKIP (77), is returned as it is.
# Usage: no_ucx_warnings.sh COMMAND [ARGS...]
set -uo pipefail
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$@" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
  exit "$status"
fi
if grep -E 'UCX +(WARN|ERROR)' "$out" > /dev/null; then
  echo "FAIL: $(basename "$1") succeeded, but UCX warned:"
  grep -E 'UCX +(WARN|ERROR)' "$out"
  exit 1
fi
