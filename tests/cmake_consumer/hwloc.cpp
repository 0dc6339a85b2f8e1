// With the hwloc component: topology works (UCORO_HAS_HWLOC=1 and linked).
#include <ucoro/topology.hpp>

#include <cstdio>

int main() {
  static_assert(UCORO_HAS_HWLOC == 1);
  auto topo = ucoro::topology::this_machine();
  std::printf("cmake consumer (hwloc): %zu GPUs\n", topo.gpus().size()); // throws not_supported without hwloc
  return 0;
}
