#include "../support/process.hpp"

#include <ucoro/topology.hpp>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>
#include <vector>

using ucoro::device_distance;
using ucoro::device_kind;
using ucoro::topology;

namespace {

std::string data(const char* name) { return std::string(UCORO_TEST_DATA) + "/" + name; }

// GPU i of dgx1.xml sits behind PCIe switch (socket s = i/4, switch k = (i/2)%2),
// bus base 0x40*s + 0x10 + 0x10*k, GPU j = i%2 at base + 1 + j.
std::string gpu_pci(int i) {
  const int s = i / 4, k = (i / 2) % 2, j = i % 2;
  char buf[16];
  std::snprintf(buf, sizeof buf, "0000:%02x:00.0", 0x40 * s + 0x10 + 0x10 * k + 1 + j);
  return buf;
}

} // namespace

TEST_CASE("on a DGX-1-like machine GPU i's nearest HCA is mlx5_{i/2} and its nearest interface ib{i/2}",
          "[topology]") {
  const auto topo = topology::from_xml(data("dgx1.xml"));
  REQUIRE(topo.gpus().size() == 8);
  for (int i = 0; i < 8; ++i) {
    INFO("GPU " << i << " at " << gpu_pci(i));
    const auto hcas = topo.distances(gpu_pci(i), device_kind::openfabrics);
    const auto nics = topo.distances(gpu_pci(i), device_kind::network);
    REQUIRE(hcas.size() == 4);
    REQUIRE(nics.size() == 6);
    CHECK(hcas[0].name == "mlx5_" + std::to_string(i / 2));
    CHECK(nics[0].name == "ib" + std::to_string(i / 2));
    CHECK(topo.ucx_net_devices_for(gpu_pci(i)) == "mlx5_" + std::to_string(i / 2) + ":1");
  }
}

TEST_CASE("distances count hops up to the common ancestor, sorted by distance then name", "[topology]") {
  const auto topo = topology::from_xml(data("dgx1.xml"));
  // GPU 0: same switch as mlx5_0 (1 hop), same host bridge as the other
  // switch and eno1 (2), the other socket only through the machine (4).
  CHECK(topo.distances(gpu_pci(0), device_kind::openfabrics) ==
        std::vector<device_distance>{{"mlx5_0", 1, "0000:13:00.0"},
                                     {"mlx5_1", 2, "0000:23:00.0"},
                                     {"mlx5_2", 4, "0000:53:00.0"},
                                     {"mlx5_3", 4, "0000:63:00.0"}});
  const auto nics = topo.distances(gpu_pci(5), device_kind::network);
  std::vector<std::pair<std::string, unsigned>> got;
  for (const auto& d : nics)
    got.emplace_back(d.name, d.distance);
  CHECK(got == std::vector<std::pair<std::string, unsigned>>{
                   {"ib2", 1}, {"eno2", 2}, {"ib3", 2}, {"eno1", 4}, {"ib0", 4}, {"ib1", 4}});
  // From one GPU to the others (GPU/compute devices are kinds too).
  const auto peers = topo.distances(gpu_pci(0), device_kind::coproc);
  REQUIRE(peers.size() == 8);
  CHECK(peers[0].name == "cuda0");
  CHECK(peers[0].distance == 0);
  CHECK(peers[1].name == "cuda1");
  CHECK(peers[1].distance == 1);
}

TEST_CASE("nearest CPUs and NUMA node are those of the device's socket", "[topology]") {
  const auto topo = topology::from_xml(data("dgx1.xml"));
  CHECK(topo.nearest_cpus(gpu_pci(1)) == std::vector<unsigned>{0, 1, 2, 3});
  CHECK(topo.nearest_cpu_list(gpu_pci(6)) == "4-7");
  CHECK(topo.numa_node(gpu_pci(1)) == 0);
  CHECK(topo.numa_node(gpu_pci(6)) == 1);
  CHECK(topology::format_cpu_list({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8");
}

TEST_CASE("a machine with no I/O devices has no GPUs and is not an error", "[topology]") {
  const auto topo = topology::from_xml(data("no_io.xml"));
  CHECK(topo.gpus().empty());
}

TEST_CASE("a bad PCI id and an unknown device are clear errors", "[topology][error]") {
  const auto topo = topology::from_xml(data("dgx1.xml"));
  try {
    (void)topo.distances("not-a-pci-id", device_kind::network);
    FAIL("accepted a malformed PCI id");
  } catch (const ucoro::ucx_error& e) {
    CHECK(e.code() == std::errc::invalid_argument);
    CHECK_THAT(e.what(), Catch::Contains("not-a-pci-id") && Catch::Contains("not a PCI id"));
  }
  try {
    (void)topo.distances("0000:99:00.0", device_kind::network);
    FAIL("found a device that is not there");
  } catch (const ucoro::ucx_error& e) {
    CHECK(e.code() == std::errc::no_such_device);
    CHECK_THAT(e.what(), Catch::Contains("0000:99:00.0") && Catch::Contains("dgx1.xml"));
  }
  CHECK(topo.distances("13:00.0", device_kind::openfabrics).front().name == "mlx5_0"); // short form
}

TEST_CASE("an unreadable XML file is a clear error", "[topology][error]") {
  CHECK_THROWS_MATCHES(topology::from_xml("/nonexistent/topo.xml"), ucoro::ucx_error,
                       Catch::Predicate<ucoro::ucx_error>([](const ucoro::ucx_error& e) {
                         return std::string(e.what()).find("/nonexistent/topo.xml") != std::string::npos;
                       }));
  CHECK_THROWS_AS(topology::from_xml(data("../meson.build")), ucoro::ucx_error); // not XML
}

TEST_CASE("this machine's topology loads", "[topology]") {
  const auto topo = topology::this_machine();
  CHECK(topo.source() == "this machine");
  (void)topo.gpus(); // none here; must not throw
}

TEST_CASE("ucoro-topo prints each GPU's nearest devices and suggestions", "[topology][tool]") {
  const char* tool = std::getenv("UCORO_TOPO");
  REQUIRE(tool != nullptr);
  ucoro::test::child_process run{{tool, "--xml", data("dgx1.xml")}};
  std::vector<std::string> lines;
  while (auto line = run.read_line(std::chrono::seconds(20)))
    lines.push_back(*line);
  CHECK(run.wait_exit(std::chrono::seconds(20)) == 0);
  REQUIRE(lines.size() == 1 + 8 * 4);
  CHECK_THAT(lines[0], Catch::Contains("dgx1.xml"));
  CHECK(lines[1] == "0000:11:00.0  cuda0,nvidia0");
  CHECK(lines[2] == "  openfabrics: mlx5_0 (1), mlx5_1 (2), mlx5_2 (4), mlx5_3 (4)");
  CHECK(lines[3] == "  network:     ib0 (1), eno1 (2), ib1 (2), eno2 (4), ib2 (4), ib3 (4)");
  CHECK(lines[4] == "  suggested:   UCX_NET_DEVICES=mlx5_0:1  CPUs 0-3  NUMA node 0");
  CHECK(lines[29] == "0000:62:00.0  cuda7,nvidia7");
  CHECK(lines[32] == "  suggested:   UCX_NET_DEVICES=mlx5_3:1  CPUs 4-7  NUMA node 1");

  ucoro::test::child_process none{{tool, "--xml", data("no_io.xml")}};
  std::vector<std::string> out;
  while (auto line = none.read_line(std::chrono::seconds(20)))
    out.push_back(*line);
  CHECK(none.wait_exit(std::chrono::seconds(20)) == 0);
  CHECK(out == std::vector<std::string>{"topology: " + data("no_io.xml"), "no GPUs found"});

  ucoro::test::child_process bad{{tool, "--xml", data("dgx1.xml"), "--pci", "zz"}};
  CHECK(bad.wait_exit(std::chrono::seconds(20)) == 1);
}
