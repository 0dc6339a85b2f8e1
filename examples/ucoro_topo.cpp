// ucoro-topo: for every GPU of this machine (or of an hwloc XML file), the
// network devices by topological distance, and the UCX_NET_DEVICES and CPU
// list to give the process that drives it.
//
//   ucoro-topo                      this machine
//   ucoro-topo --xml FILE           a saved topology (lstopo --of xml)
//   ucoro-topo --pci 0000:3b:00.0   one PCI device instead of every GPU

#include <ucoro/topology.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace {

void print_list(const char* label, const std::vector<ucoro::device_distance>& devices) {
  std::printf("  %-12s", label);
  if (devices.empty())
    std::printf(" (none)");
  for (std::size_t i = 0; i < devices.size(); ++i)
    std::printf("%s %s (%u)", i == 0 ? "" : ",", devices[i].name.c_str(), devices[i].distance);
  std::printf("\n");
}

void report(const ucoro::topology& topo, const std::string& pci, const std::string& names) {
  std::printf("%s%s%s\n", pci.c_str(), names.empty() ? "" : "  ", names.c_str());
  print_list("openfabrics:", topo.distances(pci, ucoro::device_kind::openfabrics));
  print_list("network:", topo.distances(pci, ucoro::device_kind::network));
  const std::string net = topo.ucx_net_devices_for(pci);
  std::printf("  suggested:   UCX_NET_DEVICES=%s  CPUs %s  NUMA node %d\n", net.empty() ? "(none)" : net.c_str(),
              topo.nearest_cpu_list(pci).c_str(), topo.numa_node(pci));
}

} // namespace

int main(int argc, char** argv) {
  std::string xml;
  std::string pci;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--xml" && i + 1 < argc) {
      xml = argv[++i];
    } else if (a == "--pci" && i + 1 < argc) {
      pci = argv[++i];
    } else {
      std::fprintf(stderr, "usage: ucoro-topo [--xml FILE] [--pci DOMAIN:BUS:DEV.FN]\n");
      return 2;
    }
  }
  try {
    const auto topo = xml.empty() ? ucoro::topology::this_machine() : ucoro::topology::from_xml(xml);
    std::printf("topology: %s\n", topo.source().c_str());
    if (!pci.empty()) {
      report(topo, pci, "");
      return 0;
    }
    const auto gpus = topo.gpus();
    if (gpus.empty()) {
      std::printf("no GPUs found\n");
      return 0;
    }
    for (const auto& gpu : gpus) {
      std::string names;
      for (const auto& n : gpu.names)
        names += (names.empty() ? "" : ",") + n;
      report(topo, gpu.pci, names);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ucoro-topo: %s\n", e.what());
    return 1;
  }
}
