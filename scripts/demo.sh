#!/usr/bin/env bash
# Builds ucoro and runs the main job on local ranks. Installs its own
# dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build
export UCX_NET_DEVICES=${UCX_NET_DEVICES:-lo}
echo "== ping-pong over one worker (runtime demo)"
./build/examples/pingpong
