// Communicator jobs started the ways users start them: Open MPI's mpirun
// (PMIx, no MPI in the rank), an MPI program's MPI_COMM_WORLD
// (bootstrap_mpi), and ranks on three "hosts" (network namespaces joined by
// a bridge, UCX over tcp on their veths), where a rank killed in one
// namespace is seen by the others. Each case needs something this machine
// may lack (mpirun, PMIx, root for ip netns) and skips (77) without it.

#ifndef UCORO_HAS_PMIX
#define UCORO_HAS_PMIX 0
#endif

#include "../support/helpers.hpp"
#include "../support/netns.hpp"
#include "../support/process.hpp"
#include "../support/skip.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

using namespace ucoro;
using namespace std::chrono_literals;

namespace {

std::string env_path(const char* name) {
  const char* path = std::getenv(name);
  if (path == nullptr)
    FAIL(name << " is not set (run through meson test)");
  return path;
}

std::optional<std::string> find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  for (std::size_t start = 0; start <= dirs.size();) {
    const auto end = std::min(dirs.find(':', start), dirs.size());
    const std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

/// mpirun as root and past two ranks on two cores, with Open MPI's own
/// traffic (MPI_Init's, the runtime's) kept on this host's loopback and
/// shared memory.
std::vector<std::string> mpirun_command(const std::string& mpirun, std::uint32_t ranks) {
  return {mpirun,     "--allow-run-as-root", "--oversubscribe", "-n", std::to_string(ranks),
          "--mca",    "btl",                 "self,vader",      "--mca", "pml",
          "ob1",      "--mca",               "oob_tcp_if_include", "lo", "-x",
          "UCX_NET_DEVICES", "-x",          "UCX_WARN_UNUSED_ENV_VARS"};
}

/// Reads one line per rank (mpirun interleaves them) and expects every
/// rank's "rank R of N ok (method)", then mpirun's exit 0.
void expect_all_ranks_ok(test::child_process& job, std::uint32_t size, const std::string& method) {
  std::vector<std::string> lines;
  for (std::uint32_t r = 0; r < size; ++r) {
    const auto line = job.read_output_line(90s);
    REQUIRE(line);
    lines.push_back(*line);
  }
  std::vector<std::string> expected;
  for (std::uint32_t r = 0; r < size; ++r)
    expected.push_back("rank " + std::to_string(r) + " of " + std::to_string(size) + " ok (" + method + ")");
  std::sort(lines.begin(), lines.end());
  std::sort(expected.begin(), expected.end());
  CHECK(lines == expected);
  CHECK(job.wait_exit(30s) == 0);
}

/// mpirun's path, if this build's ranks can be started by it through PMIx;
/// else nothing and why not.
std::optional<std::string> mpirun_for_pmix(std::string& why) {
  auto mpirun = find_program("mpirun");
  if (!mpirun)
    why = "mpirun not found (Debian: openmpi-bin)";
  else if (!UCORO_HAS_PMIX)
    why = "ucoro was built without PMIx (Debian: libpmix-dev)";
  return why.empty() ? mpirun : std::nullopt;
}

} // namespace

TEST_CASE("mpirun -n 1, 2, 3, 4 and 8 bootstraps through PMIx, without MPI in the ranks", "[.mpirun_pmix]") {
  std::string why;
  const auto mpirun = mpirun_for_pmix(why);
  if (!mpirun)
    UCORO_SKIP(why);
  for (const bool eager : {false, true}) {
    for (std::uint32_t size : {1U, 2U, 3U, 4U, 8U}) {
      INFO(size << " ranks, " << (eager ? "eager" : "lazy"));
      auto command = mpirun_command(*mpirun, size);
      command.push_back(env_path("UCORO_TEST_COMM_RANK"));
      command.push_back("basic");
      if (eager)
        command.push_back("--eager");
      test::child_process job{command};
      expect_all_ranks_ok(job, size, "PMIx");
    }
  }
}

TEST_CASE("examples/ring under mpirun -n 4", "[.mpirun_pmix]") {
  std::string why;
  const auto mpirun = mpirun_for_pmix(why);
  if (!mpirun)
    UCORO_SKIP(why);
  auto command = mpirun_command(*mpirun, 4);
  command.push_back(env_path("UCORO_TEST_RING"));
  test::child_process job{command};
  std::vector<std::string> lines;
  for (int r = 0; r < 4; ++r) {
    const auto line = job.read_output_line(90s);
    REQUIRE(line);
    lines.push_back(*line);
  }
  std::sort(lines.begin(), lines.end());
  // Rank r sees 0 + 1 + ... + r; the checksum is their sum: 0 + 1 + 3 + 6.
  const std::uint64_t seen[] = {6, 1, 3, 6};
  for (int r = 0; r < 4; ++r)
    CHECK(lines[r] == "rank " + std::to_string(r) + " of 4 (PMIx): token " + std::to_string(seen[r]) + ", checksum 16");
  CHECK(job.wait_exit(30s) == 0);
}

TEST_CASE("a PMIx launch that ucoro cannot serve is an error naming the launcher, not a singleton", "[launchers]") {
  // PMIX_RANK and PMIX_NAMESPACE without a PMIx server: PMIx_Init fails (or,
  // built without PMIx, not_supported): either way the rank says so.
  test::child_process rank{{"/usr/bin/env", "PMIX_RANK=0", "PMIX_NAMESPACE=ucoro-test-none",
                            env_path("UCORO_TEST_COMM_RANK"), "basic", "--timeout-ms", "2000"}};
  const auto line = rank.read_output_line(60s);
  REQUIRE(line);
  CHECK_THAT(*line, Catch::StartsWith("error: communicator bootstrap") && Catch::Contains("PMIx"));
  CHECK(rank.wait_exit(30s) == 1);
}

TEST_CASE("bootstrap_mpi over MPI_COMM_WORLD under mpirun -n 1, 2, 4 and 8", "[.mpi]") {
  const auto mpirun = find_program("mpirun");
  if (!mpirun)
    UCORO_SKIP("mpirun not found (Debian: openmpi-bin)");
  const char* binary = std::getenv("UCORO_TEST_COMM_RANK_MPI");
  if (binary == nullptr || *binary == '\0')
    UCORO_SKIP("ucoro's tests were built without MPI (Debian: libopenmpi-dev)");
  for (std::uint32_t size : {1U, 2U, 4U, 8U}) {
    INFO(size << " ranks");
    auto command = mpirun_command(*mpirun, size);
    // Under ASan: Open MPI's components, dlopen'ed and unloaded again, leave
    // allocations LeakSanitizer cannot attribute to any module, so no
    // suppression can name them; the MPI ranks go without leak checking
    // (the same ucoro code is leak-checked in the PMIx and UCORO_* ranks).
    command.insert(command.end(), {"-x", "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1"});
    command.push_back(binary);
    command.push_back("basic");
    test::child_process job{command};
    expect_all_ranks_ok(job, size, "MPI communicator");
  }
}

namespace {

using test::test_hosts;

/// A rank on host i of a job whose root is host 1's rendezvous.
std::unique_ptr<test::child_process> start_rank(const test_hosts& hosts, int i, std::uint32_t rank, std::uint32_t size,
                                                const std::string& scenario, const std::vector<std::string>& extra) {
  std::vector<std::string> command{env_path("UCORO_TEST_COMM_RANK"), scenario};
  command.insert(command.end(), extra.begin(), extra.end());
  return hosts.run_on(i,
                      {"UCORO_RANK=" + std::to_string(rank), "UCORO_SIZE=" + std::to_string(size),
                       "UCORO_ROOT=" + test_hosts::address(1) + ":29170", "UCORO_JOB=netns"},
                      command);
}

} // namespace

TEST_CASE("ranks on three network-namespace hosts: collectives over tcp, and a killed remote rank", "[.netns]") {
  test_hosts hosts;
  if (!hosts.ok())
    UCORO_SKIP("cannot create network namespaces here (ip netns needs root)");
  SECTION("4 ranks (two on the first host): ring, order, recv_any and the collectives") {
    for (const bool polling : {false, true}) {
      INFO((polling ? "polling" : "blocking"));
      const std::vector<std::string> extra = polling ? std::vector<std::string>{"--polling"} : std::vector<std::string>{};
      std::vector<std::unique_ptr<test::child_process>> ranks;
      const std::uint64_t before[] = {hosts.bytes_to_host(2), hosts.bytes_to_host(3)};
      const int host_of[] = {1, 2, 3, 1};
      for (std::uint32_t r = 0; r < 4; ++r)
        ranks.push_back(start_rank(hosts, host_of[r], r, 4, "basic", extra));
      for (std::uint32_t r = 0; r < 4; ++r) {
        INFO("rank " << r);
        const auto line = ranks[r]->read_output_line(90s);
        REQUIRE(line);
        CHECK(*line == "rank " + std::to_string(r) + " of 4 ok (TCP rendezvous (UCORO_*))");
        CHECK(ranks[r]->wait_exit(30s) == 0);
      }
      // Ranks 1 and 2 received at least the broadcasts (4 x 4000 bytes)
      // from the other hosts: over the bridge, not a shortcut.
      CHECK(hosts.bytes_to_host(2) - before[0] > 16000);
      CHECK(hosts.bytes_to_host(3) - before[1] > 16000);
    }
  }
  SECTION("rank 1, alone on the second host, is killed: ranks 0 and 2 see peer_failed within 10 s") {
    for (const bool polling : {false, true}) {
      INFO((polling ? "polling" : "blocking"));
      const std::vector<std::string> extra = polling ? std::vector<std::string>{"--polling"} : std::vector<std::string>{};
      std::vector<std::unique_ptr<test::child_process>> ranks;
      for (std::uint32_t r = 0; r < 3; ++r)
        ranks.push_back(start_rank(hosts, static_cast<int>(r) + 1, r, 3, "victim", extra));
      for (auto& rank : ranks)
        REQUIRE(rank->read_output_line(60s).value_or("(nothing, or the rank ended)") == "ready");
      ranks[1]->kill();
      CHECK(ranks[1]->wait_exit(10s) == 128 + SIGKILL);
      for (std::uint32_t r : {0U, 2U}) {
        INFO("rank " << r);
        const auto line = ranks[r]->read_output_line(30s); // the rank itself bounds its wait at 10 s
        REQUIRE(line);
        CHECK(*line == "survived");
        CHECK(ranks[r]->wait_exit(30s) == 0);
      }
    }
  }
  // Link down, every process alive; idle, or streaming 64 MiB: the pending
  // operations on both sides fail within 10 s naming the missed heartbeat,
  // and every rank exits by itself.
  SECTION("rank 1's host is cut off") {
    for (const char* scenario : {"partitioned", "partitioned_streaming"}) {
      INFO(scenario);
      std::vector<std::unique_ptr<test::child_process>> ranks;
      for (std::uint32_t r = 0; r < 3; ++r)
        ranks.push_back(start_rank(hosts, static_cast<int>(r) + 1, r, 3, scenario, {}));
      for (auto& rank : ranks)
        REQUIRE(rank->read_output_line(60s).value_or("(nothing, or the rank ended)") == "ready");
      hosts.set_link(2, false);
      // Each rank bounds its own waits at 10 s (20 s for a 64 MiB send) and
      // prints why when an operation ends otherwise.
      for (std::uint32_t r = 0; r < 3; ++r) {
        INFO("rank " << r);
        const auto line = ranks[r]->read_output_line(40s);
        REQUIRE(line);
        CHECK(*line == (r == 1 ? "cut off" : "survived"));
        CHECK(ranks[r]->wait_exit(30s) == 0);
      }
      hosts.set_link(2, true);
    }
  }
}
