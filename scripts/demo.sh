#!/usr/bin/env bash
# Builds ucoro and runs the main job on local ranks: the distributed hash
# join (ucoro-join on 2 ranks over generated rows, verified against a
# single-process join), then the join benchmark against the anchor's
# open-addressing baseline and DuckDB on the same rows; then the echo
# example in one process and as two processes (tcp, then shared memory), the
# send/recv table against ucx_perftest and TCP, and the roundtrip table.
# Installs its own dependencies (apt-get; DuckDB from npm into build/duckdb).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# build/ with the options scripts/test.sh uses too: the suite afterwards
# compiles nothing this built.
bash scripts/setup-build.sh plain >/dev/null
ninja -C build
export UCX_NET_DEVICES=${UCX_NET_DEVICES:-lo}   # loopback only
rows=${UCORO_DEMO_ROWS:-10000000}

# DuckDB, the join's yardstick, from npm (node's own package manager).
command -v npm >/dev/null || bash scripts/install-deps.sh nodejs npm
if [ ! -d build/duckdb/node_modules/@duckdb/node-api ]; then
  mkdir -p build/duckdb
  npm install --prefix build/duckdb --silent --no-audit --no-fund @duckdb/node-api >/dev/null ||
    echo "(npm install @duckdb/node-api failed: the benchmark runs without DuckDB)"
fi

echo
echo "== distributed hash join: ${rows} x ${rows} generated rows on 2 local ranks, verified"
./scripts/launch-local.sh 2 ./build/examples/ucoro-join --generate "${rows}x${rows}" --verify --repeat 3
echo
echo "== join benchmark: ucoro vs the anchor baseline and DuckDB, same rows, same cores (about 5 minutes)"
python3 bench/join.py --build build --rows "$rows" --repeat 5 --plot build/join.png
echo
echo "== echo, one process"
./build/examples/echo --size 67108864

two_process_echo() {
  local log
  log=$(mktemp)
  ./build/examples/echo --server "$@" >"$log" &
  local server=$!
  local port=""
  for _ in $(seq 100); do
    port=$(awk '/listening on/{print $3}' "$log")
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "server did not start"; kill "$server"; return 1; }
  timeout 60 ./build/examples/echo --client "127.0.0.1:$port" --size 67108864 "$@"
  wait "$server"
  cat "$log"
  rm -f "$log"
}
echo
echo "== echo, two processes over tcp (peer error handling on)"
two_process_echo --tls tcp
echo
echo "== echo, two processes on one host, default error handling (automatic: sysv + cma, peer process watched)"
two_process_echo
echo
echo "== send/recv: ucoro vs ucx_perftest vs tcp, two processes (about 2 minutes)"
./build/bench/send_recv --sizes 8,4K,64K,1M,16M --error-handling automatic,peer --repeat 3
echo
echo "== roundtrip: 2 workers exchanging 16 x 64 MiB both ways"
./build/bench/roundtrip --chunks 16 --chunk-size 64MiB --protocol ucx
./build/bench/roundtrip --chunks 16 --chunk-size 64MiB --protocol tcp
