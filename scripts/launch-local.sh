#!/usr/bin/env bash
# Starts N ranks of a ucoro communicator program on this host through the
# TCP rendezvous (UCORO_RANK, UCORO_SIZE, UCORO_ROOT on a free loopback
# port, UCORO_JOB unique to this launch), waits for all (bounded by
# UCORO_LAUNCH_TIMEOUT seconds, 120 by default), and exits with the first
# failing rank's status. Usage: launch-local.sh N PROGRAM [ARGS...]
set -uo pipefail
n=$1
shift
port=$(python3 "$(dirname "$0")/free_port.py") || exit 1
export UCORO_SIZE=$n UCORO_ROOT=127.0.0.1:$port UCORO_JOB="launch-$$-$RANDOM"
export UCX_NET_DEVICES=${UCX_NET_DEVICES:-lo}
pids=()
for ((rank = 0; rank < n; rank++)); do
  UCORO_RANK=$rank timeout "${UCORO_LAUNCH_TIMEOUT:-120}" "$@" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do
  wait "$pid" || { rc=$?; [ $status -eq 0 ] && status=$rc; }
done
exit $status
