#!/usr/bin/env bash
# Header-only use without flags: a user's `c++ -std=c++20 -Iinclude` with
# nothing defined gets each optional integration exactly when its header is
# on the include path (plus the dependency's own -I where it has one), and an
# explicit UCORO_HAS_X=0 still wins. One case per run; a case whose
# dependency is not installed here exits 77 (skip).
# Usage: bare_include_check.sh SOURCE_ROOT CASE
set -euo pipefail
src=$1
case_name=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cuda_root=${CUDA_PATH:-/usr/local/cuda}
ucx_libs=$(pkg-config --libs ucx)

skip() {
  echo "SKIP $case_name: $*"
  exit 77
}
# compile_run NAME FLAGS... : builds $tmp/NAME.cpp with bare flags and runs it.
compile_run() {
  local name=$1
  shift
  # shellcheck disable=SC2086
  c++ -std=c++20 -I"$src/include" "$tmp/$name.cpp" -o "$tmp/$name" "$@" $ucx_libs -lpthread
  "$tmp/$name"
}
# expect_error NAME TEXT FLAGS... : the compile must fail with TEXT.
expect_error() {
  local name=$1 text=$2
  shift 2
  if c++ -std=c++20 -I"$src/include" -c "$tmp/$name.cpp" -o "$tmp/$name.o" "$@" 2>"$tmp/$name.log"; then
    echo "FAIL $case_name: $name compiled, expected an error containing: $text"
    exit 1
  fi
  grep -q -- "$text" "$tmp/$name.log" || {
    cat "$tmp/$name.log"
    echo "FAIL $case_name: the error does not say: $text"
    exit 1
  }
}

case "$case_name" in
hwloc)
  [ -f /usr/include/hwloc.h ] || pkg-config --exists hwloc || skip "hwloc is not installed"
  cat >"$tmp/t.cpp" <<'CPP'
#include <ucoro/topology.hpp>
#include <cstdio>
static_assert(UCORO_HAS_HWLOC == 1, "<hwloc.h> is installed, so topology must be on");
int main() {
  auto topo = ucoro::topology::this_machine(); // throws not_supported when built without hwloc
  std::printf("topology with hwloc: %zu GPUs\n", topo.gpus().size());
}
CPP
  # shellcheck disable=SC2046
  compile_run t $(pkg-config --cflags-only-I hwloc) $(pkg-config --libs hwloc)
  ;;
hwloc_off)
  cat >"$tmp/t.cpp" <<'CPP'
#include <ucoro/topology.hpp>
#include <cstdio>
static_assert(UCORO_HAS_HWLOC == 0, "an explicit UCORO_HAS_HWLOC=0 wins over detection");
int main() {
  try {
    (void)ucoro::topology::this_machine();
  } catch (const ucoro::ucx_error& e) {
    if (e.code() == std::errc::not_supported) {
      std::printf("topology without hwloc: %s\n", e.what());
      return 0;
    }
  }
  return 1;
}
CPP
  compile_run t -DUCORO_HAS_HWLOC=0
  ;;
pmix)
  pkg-config --exists pmix || skip "PMIx (libpmix-dev) is not installed"
  cat >"$tmp/t.cpp" <<'CPP'
#include <ucoro/communicator.hpp>
#include <cstdio>
static_assert(UCORO_HAS_PMIX == 1, "<pmix.h> is on the include path, so the PMIx bootstrap must be on");
int main() {
  ucoro::context ctx;
  ucoro::worker w{ctx};
  auto comm = w.run(ucoro::communicator::bootstrap(w)); // no launcher: a singleton
  std::printf("communicator with PMIx compiled in: rank %d of %d\n", comm.rank(), comm.size());
  return comm.size() == 1 ? 0 : 1;
}
CPP
  # shellcheck disable=SC2046
  compile_run t $(pkg-config --cflags --libs pmix)
  # Without PMIx's include path the same program compiles with PMIx off.
  echo '#include <ucoro/communicator.hpp>
static_assert(UCORO_HAS_PMIX == 0);
int main() {}' >"$tmp/off.cpp"
  c++ -std=c++20 -I"$src/include" -fsyntax-only "$tmp/off.cpp"
  ;;
mpi)
  pkg-config --exists mpi-cxx || skip "MPI (libopenmpi-dev) is not installed"
  cat >"$tmp/t.cpp" <<'CPP'
#include <ucoro/communicator_mpi.hpp>
static_assert(UCORO_HAS_MPI == 1);
#include <cstdio>
int main(int argc, char** argv) {
  MPI_Init(&argc, &argv); // no launcher: an MPI singleton
  int size = 0;
  {
    ucoro::context ctx;
    ucoro::worker w{ctx};
    auto comm = w.run(ucoro::communicator::bootstrap_mpi(w, MPI_COMM_WORLD));
    size = comm.size();
  }
  MPI_Finalize();
  std::printf("communicator over MPI: size %d\n", size);
  return size == 1 ? 0 : 1;
}
CPP
  # shellcheck disable=SC2046
  compile_run t $(pkg-config --cflags --libs mpi-cxx)
  echo '#include <ucoro/communicator_mpi.hpp>
int main() {}' >"$tmp/nompi.cpp"
  expect_error nompi "communicator_mpi.hpp needs mpi.h"
  ;;
cuda)
  [ -f "$cuda_root/include/cuda_runtime_api.h" ] || skip "no CUDA toolkit at $cuda_root"
  cat >"$tmp/t.cpp" <<'CPP'
#include <ucoro/cuda.hpp>
#include <cstdio>
static_assert(UCORO_HAS_CUDA == 1);
int main() {
  // No GPU needed: the error category is host code over cudart.
  const std::error_code ec(cudaErrorInvalidValue, ucoro::cuda_category());
  std::printf("cuda category: %s\n", ec.message().c_str());
  return ec == std::errc::invalid_argument ? 0 : 1;
}
CPP
  compile_run t -I"$cuda_root/include" -L"$cuda_root/lib64" -lcudart -Wl,-rpath,"$cuda_root/lib64"
  echo '#include <ucoro/cuda.hpp>
int main() {}' >"$tmp/nocuda.cpp"
  expect_error nocuda "ucoro/cuda.hpp needs the CUDA runtime"
  ;;
thrust)
  # CUDA 13 keeps thrust under include/cccl, older toolkits under include.
  thrust_inc=""
  for dir in "$cuda_root/include/cccl" "$cuda_root/include"; do
    [ -z "$thrust_inc" ] && [ -f "$dir/thrust/device_vector.h" ] && thrust_inc=$dir
  done
  [ -n "$thrust_inc" ] || skip "no thrust under $cuda_root/include"
  cat >"$tmp/t.cpp" <<'CPP'
#include <ucoro/buffer/cuda.hpp>
#include <cstdio>
static_assert(UCORO_HAS_THRUST == 1);
static_assert(ucoro::host_buffer<thrust::device_vector<int>>, "thrust's CPP backend keeps host memory");
int main() {
  thrust::device_vector<int> v(4, 7);
  std::printf("thrust buffer: %zu bytes\n", ucoro::buffer_traits<thrust::device_vector<int>>::size_bytes(v));
  return ucoro::buffer_traits<thrust::device_vector<int>>::size_bytes(v) == 16 ? 0 : 1;
}
CPP
  compile_run t -I"$thrust_inc" -DTHRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_CPP -Wno-pedantic
  # Without thrust on the path, buffer/cuda.hpp adds nothing and compiles.
  echo '#include <ucoro/buffer/cuda.hpp>
static_assert(UCORO_HAS_THRUST == 0);
int main() {}' >"$tmp/off.cpp"
  c++ -std=c++20 -I"$src/include" -fsyntax-only "$tmp/off.cpp"
  ;;
rmm)
  echo '#include <ucoro/buffer/rmm.hpp>
#if __has_include(<rmm/device_buffer.hpp>)
static_assert(UCORO_HAS_RMM == 1);
static_assert(ucoro::device_buffer<rmm::device_buffer>);
#else
static_assert(UCORO_HAS_RMM == 0);
#endif
int main() {}' >"$tmp/t.cpp"
  c++ -std=c++20 -I"$src/include" -I"$cuda_root/include" -I"$cuda_root/include/cccl" -fsyntax-only "$tmp/t.cpp"
  echo "rmm: detection agrees with the include path"
  ;;
*)
  echo "unknown case $case_name"
  exit 2
  ;;
esac
echo "bare include $case_name: ok"
