#!/usr/bin/env bash
# A clean exchange and close prints nothing on stderr: the echo example
# (listener and client in one process, each closing the same connection) in
# every error-handling mode and over tcp, a few times each since close races
# are timing-dependent. Usage: check_quiet.sh ECHO
set -euo pipefail
echo_bin=$1
failed=0
runs=0
for args in "" "--error-handling peer" "--error-handling none" "--tls tcp,self" "--polling"; do
  for round in 1 2 3; do
    runs=$((runs + 1))
    # shellcheck disable=SC2086
    if ! err=$(timeout 60 "$echo_bin" $args 2>&1 >/dev/null); then
      echo "FAIL: echo $args (round $round) exited non-zero: $err"
      failed=$((failed + 1))
    elif [ -n "$err" ]; then
      echo "FAIL: echo $args (round $round) wrote to stderr:"
      echo "$err"
      failed=$((failed + 1))
    fi
  done
done
echo "quiet: $((runs - failed)) of $runs clean runs printed nothing on stderr"
[ "$failed" -eq 0 ]
