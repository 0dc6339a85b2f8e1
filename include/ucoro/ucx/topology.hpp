#pragma once
// Which network devices and CPUs are closest to a GPU (or any PCI device),
// from hwloc: UCX-Py's TopologicalDistance, turned into settings.
//
//   auto topo = ucoro::topology::this_machine();          // or topology::from_xml("dgx1.xml")
//   for (auto& d : topo.distances("0000:11:00.0", ucoro::device_kind::openfabrics))
//     std::cout << d.name << " " << d.distance << "\n";  // mlx5_0 1, mlx5_1 2, ...
//   setenv("UCX_NET_DEVICES", topo.ucx_net_devices_for("0000:11:00.0").c_str(), 1);
//
// Distance: the number of parent links from the source PCI device up to the
// lowest object it shares with the target device in hwloc's tree (a PCIe
// switch, a host bridge, a package, the machine). 1 = behind the same switch;
// more = the traffic crosses more of the PCI hierarchy (or the socket link).
// This is the quantity UCX-Py's helper meant to compute (its hwloc 1 code
// read bridge depths); on hwloc 2 it is computed from the tree directly.
// Results are sorted by distance, then name.
//
// Without hwloc (no <hwloc.h> on the include path, or UCORO_HAS_HWLOC=0) this
// header still compiles and every call throws ucx_error equal to
// std::errc::not_supported. With it, link hwloc too (pkg-config hwloc).

#include <ucoro/error.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#if UCORO_HAS_HWLOC
#include <hwloc.h>
#endif

namespace ucoro {

/// Kinds of OS devices hwloc reports under PCI devices.
enum class device_kind {
  network,     ///< network interfaces: eth*, ib*, eno*
  openfabrics, ///< RDMA HCAs: mlx5_N (what UCX_NET_DEVICES names, with ":port")
  block,       ///< disks
  gpu,         ///< GPUs as the driver names them (nvidiaN)
  coproc,      ///< compute devices (cudaN)
};

[[nodiscard]] constexpr const char* to_string(device_kind kind) noexcept {
  switch (kind) {
  case device_kind::network: return "network";
  case device_kind::openfabrics: return "openfabrics";
  case device_kind::block: return "block";
  case device_kind::gpu: return "gpu";
  case device_kind::coproc: return "coproc";
  }
  return "?";
}

struct device_distance {
  std::string name;      ///< e.g. "mlx5_0", "ib0"
  unsigned distance = 0; ///< see the header comment
  std::string pci;       ///< the PCI device it belongs to, "0000:13:00.0"
  friend bool operator==(const device_distance&, const device_distance&) = default;
};

/// A GPU (or compute device) found in the topology.
struct gpu_device {
  std::string pci;                ///< "0000:11:00.0"
  std::vector<std::string> names; ///< its OS devices: "cuda0", "nvidia0"
};

namespace detail {

/// Parses "dddd:bb:dd.f", "bb:dd.f" or "dddd:bb:dd" (hex); false if malformed.
[[nodiscard]] inline bool parse_pci_id(std::string_view text, unsigned& domain, unsigned& bus, unsigned& dev,
                                       unsigned& func) {
  const std::string s(text);
  char tail = 0;
  domain = 0;
  func = 0;
  if (std::sscanf(s.c_str(), "%x:%x:%x.%x%c", &domain, &bus, &dev, &func, &tail) == 4)
    return domain <= 0xffff && bus <= 0xff && dev <= 0x1f && func <= 7;
  domain = 0;
  func = 0;
  if (std::sscanf(s.c_str(), "%x:%x.%x%c", &bus, &dev, &func, &tail) == 3 && s.find(':') == s.rfind(':'))
    return bus <= 0xff && dev <= 0x1f && func <= 7;
  if (std::sscanf(s.c_str(), "%x:%x:%x%c", &domain, &bus, &dev, &tail) == 3 && s.find('.') == std::string::npos)
    return domain <= 0xffff && bus <= 0xff && dev <= 0x1f;
  return false;
}

[[noreturn]] inline void throw_no_hwloc(const char* what) {
  throw ucx_error(std::make_error_code(std::errc::not_supported),
                  std::string(what) +
                      ": ucoro was compiled without hwloc (UCORO_HAS_HWLOC=0: install libhwloc-dev so that <hwloc.h> is found, "
                      "link `pkg-config --libs hwloc`, or in meson configure with -Dhwloc=enabled)");
}

} // namespace detail

class topology {
public:
  /// The machine this process runs on, I/O devices included.
  [[nodiscard]] static topology this_machine() { return topology(nullptr); }

  /// A topology saved by `lstopo --of xml` (for tests, or to plan a cluster
  /// one is not on). An unreadable or invalid file is a clear error.
  [[nodiscard]] static topology from_xml(const std::string& path) { return topology(&path); }

  /// Devices of `kind` with their distance from the PCI device `pci_id`.
  [[nodiscard]] std::vector<device_distance> distances(std::string_view pci_id, device_kind kind) const {
#if UCORO_HAS_HWLOC
    hwloc_obj_t source = find_pci(pci_id, "distances");
    std::vector<device_distance> out;
    for (hwloc_obj_t os = hwloc_get_next_osdev(m_handle.get(), nullptr); os != nullptr;
         os = hwloc_get_next_osdev(m_handle.get(), os)) {
      if (!is_kind(os, kind))
        continue;
      hwloc_obj_t ancestor = common_ancestor(source, os);
      unsigned hops = 0;
      for (hwloc_obj_t o = source; o != ancestor; o = o->parent)
        ++hops;
      out.push_back({os->name != nullptr ? os->name : "", hops, pci_of(os)});
    }
    std::sort(out.begin(), out.end(), [](const device_distance& a, const device_distance& b) {
      return a.distance != b.distance ? a.distance < b.distance : a.name < b.name;
    });
    return out;
#else
    (void)pci_id;
    (void)kind;
    detail::throw_no_hwloc("topology::distances");
#endif
  }

  /// OS indices of the PUs local to the device: where to pin the process
  /// that drives it.
  [[nodiscard]] std::vector<unsigned> nearest_cpus(std::string_view pci_id) const {
#if UCORO_HAS_HWLOC
    hwloc_obj_t local = non_io_ancestor(find_pci(pci_id, "nearest_cpus"));
    std::vector<unsigned> out;
    if (local == nullptr || local->cpuset == nullptr)
      return out;
    unsigned index = 0;
    hwloc_bitmap_foreach_begin(index, local->cpuset) { out.push_back(index); }
    hwloc_bitmap_foreach_end();
    return out;
#else
    (void)pci_id;
    detail::throw_no_hwloc("topology::nearest_cpus");
#endif
  }

  /// nearest_cpus as a list for taskset / numactl / --cpu-set: "0-3,8".
  [[nodiscard]] std::string nearest_cpu_list(std::string_view pci_id) const {
    return format_cpu_list(nearest_cpus(pci_id));
  }

  /// OS index of the NUMA node local to the device, or -1 if hwloc knows none.
  [[nodiscard]] int numa_node(std::string_view pci_id) const {
#if UCORO_HAS_HWLOC
    hwloc_obj_t local = non_io_ancestor(find_pci(pci_id, "numa_node"));
    if (local == nullptr || local->nodeset == nullptr || hwloc_bitmap_weight(local->nodeset) != 1)
      return -1;
    return hwloc_bitmap_first(local->nodeset);
#else
    (void)pci_id;
    detail::throw_no_hwloc("topology::numa_node");
#endif
  }

  /// A UCX_NET_DEVICES value for the device: its nearest HCA ("mlx5_0:1"),
  /// or, without HCAs, its nearest network interface; "" if it has neither.
  [[nodiscard]] std::string ucx_net_devices_for(std::string_view pci_id, unsigned port = 1) const {
    const auto hcas = distances(pci_id, device_kind::openfabrics);
    if (!hcas.empty())
      return hcas.front().name + ":" + std::to_string(port);
    const auto nics = distances(pci_id, device_kind::network);
    return nics.empty() ? std::string{} : nics.front().name;
  }

  /// PCI devices that carry a GPU or compute OS device, in PCI order.
  [[nodiscard]] std::vector<gpu_device> gpus() const {
#if UCORO_HAS_HWLOC
    std::vector<gpu_device> out;
    for (hwloc_obj_t pci = hwloc_get_next_pcidev(m_handle.get(), nullptr); pci != nullptr;
         pci = hwloc_get_next_pcidev(m_handle.get(), pci)) {
      gpu_device gpu{pci_of(pci), {}};
      for (hwloc_obj_t child = pci->io_first_child; child != nullptr; child = child->next_sibling)
        if (child->type == HWLOC_OBJ_OS_DEVICE &&
            (child->attr->osdev.type == HWLOC_OBJ_OSDEV_GPU || child->attr->osdev.type == HWLOC_OBJ_OSDEV_COPROC))
          gpu.names.emplace_back(child->name != nullptr ? child->name : "");
      if (!gpu.names.empty())
        out.push_back(std::move(gpu));
    }
    return out;
#else
    detail::throw_no_hwloc("topology::gpus");
#endif
  }

  /// Where this topology came from: "this machine" or the XML path.
  [[nodiscard]] const std::string& source() const noexcept { return m_source; }

  [[nodiscard]] static std::string format_cpu_list(const std::vector<unsigned>& cpus) {
    std::string out;
    for (std::size_t i = 0; i < cpus.size();) {
      std::size_t j = i;
      while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1)
        ++j;
      if (!out.empty())
        out += ",";
      out += std::to_string(cpus[i]);
      if (j > i)
        out += "-" + std::to_string(cpus[j]);
      i = j + 1;
    }
    return out;
  }

private:
#if UCORO_HAS_HWLOC
  struct deleter {
    void operator()(hwloc_topology* t) const noexcept { hwloc_topology_destroy(t); }
  };

  explicit topology(const std::string* xml) : m_source(xml != nullptr ? *xml : "this machine") {
    hwloc_topology_t raw = nullptr;
    if (hwloc_topology_init(&raw) != 0)
      throw ucx_error(std::error_code(errno, std::generic_category()), "topology: hwloc_topology_init failed");
    m_handle.reset(raw);
    hwloc_topology_set_io_types_filter(raw, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if (xml != nullptr && hwloc_topology_set_xml(raw, xml->c_str()) != 0)
      throw ucx_error(std::error_code(errno != 0 ? errno : EINVAL, std::generic_category()),
                      "topology: cannot read hwloc XML '" + *xml + "'");
    if (hwloc_topology_load(raw) != 0)
      throw ucx_error(std::error_code(errno != 0 ? errno : EINVAL, std::generic_category()),
                      "topology: cannot load " + (xml != nullptr ? "hwloc XML '" + *xml + "'" : m_source));
  }

  [[nodiscard]] hwloc_obj_t find_pci(std::string_view pci_id, const char* what) const {
    unsigned domain = 0, bus = 0, dev = 0, func = 0;
    if (!detail::parse_pci_id(pci_id, domain, bus, dev, func))
      throw ucx_error(std::make_error_code(std::errc::invalid_argument),
                      std::string("topology::") + what + ": '" + std::string(pci_id) +
                          "' is not a PCI id (expected domain:bus:device.function, e.g. 0000:3b:00.0)");
    hwloc_obj_t obj = hwloc_get_pcidev_by_busid(m_handle.get(), domain, bus, dev, func);
    if (obj == nullptr)
      throw ucx_error(std::make_error_code(std::errc::no_such_device),
                      std::string("topology::") + what + ": no PCI device " + std::string(pci_id) + " in " + m_source);
    return obj;
  }

  [[nodiscard]] static bool is_kind(hwloc_obj_t os, device_kind kind) noexcept {
    switch (kind) {
    case device_kind::network: return os->attr->osdev.type == HWLOC_OBJ_OSDEV_NETWORK;
    case device_kind::openfabrics: return os->attr->osdev.type == HWLOC_OBJ_OSDEV_OPENFABRICS;
    case device_kind::block: return os->attr->osdev.type == HWLOC_OBJ_OSDEV_BLOCK;
    case device_kind::gpu: return os->attr->osdev.type == HWLOC_OBJ_OSDEV_GPU;
    case device_kind::coproc: return os->attr->osdev.type == HWLOC_OBJ_OSDEV_COPROC;
    }
    return false;
  }

  /// Lowest common ancestor, by walking parent chains (I/O objects have no
  /// meaningful depth in hwloc 2, so depths cannot be compared).
  [[nodiscard]] static hwloc_obj_t common_ancestor(hwloc_obj_t a, hwloc_obj_t b) noexcept {
    for (hwloc_obj_t x = a; x != nullptr; x = x->parent)
      for (hwloc_obj_t y = b; y != nullptr; y = y->parent)
        if (x == y)
          return x;
    return nullptr;
  }

  [[nodiscard]] static hwloc_obj_t non_io_ancestor(hwloc_obj_t obj) noexcept {
    while (obj != nullptr && obj->cpuset == nullptr)
      obj = obj->parent;
    return obj;
  }

  /// "dddd:bb:dd.f" of the PCI device an OS device hangs under (or of a PCI device).
  [[nodiscard]] static std::string pci_of(hwloc_obj_t obj) {
    while (obj != nullptr && obj->type != HWLOC_OBJ_PCI_DEVICE)
      obj = obj->parent;
    if (obj == nullptr)
      return {};
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04x:%02x:%02x.%01x", obj->attr->pcidev.domain, obj->attr->pcidev.bus,
                  obj->attr->pcidev.dev, obj->attr->pcidev.func);
    return buf;
  }

  std::string m_source;
  std::unique_ptr<hwloc_topology, deleter> m_handle;
#else
  explicit topology(const std::string* xml) : m_source(xml != nullptr ? *xml : "this machine") {
    detail::throw_no_hwloc(xml != nullptr ? "topology::from_xml" : "topology::this_machine");
  }
  std::string m_source;
#endif
};

} // namespace ucoro
