#!/usr/bin/env bash
# Installs what ucoro needs on Debian 12, only if something is missing, so
# that running it again costs nothing.
set -euo pipefail
# openmpi-bin, libopenmpi-dev, libpmix-dev: the communicator under mpirun (PMIx) and
# bootstrap_mpi; iproute2: the multi-host tests in network namespaces; cmake:
# the CMake consumer test; libasio-dev: examples/asio_echo; libcli11-dev and
# nlohmann-json3-dev: the command lines and JSON reports of ucoro-join and bench/.
packages=(g++ meson ninja-build pkg-config python3 libucx-dev ucx-utils catch2 libhwloc-dev hwloc gnuplot-nox
  openmpi-bin libopenmpi-dev libpmix-dev iproute2 cmake libasio-dev libcli11-dev nlohmann-json3-dev "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
