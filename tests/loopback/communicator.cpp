// Communicator jobs of 1-8 ranks as separate processes on loopback,
// bootstrapped through UCORO_RANK/SIZE/ROOT/JOB (tests/loopback/comm_rank.cpp
// is the rank). Every wait is bounded; a rank that fails prints why.

#include "../support/helpers.hpp"
#include "../support/job.hpp"
#include "../support/process.hpp"
#include "../support/raw_socket.hpp"

#include <ucoro/comm/detail/rendezvous.hpp>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

using namespace ucoro;
using namespace ucoro::test;
using namespace std::chrono_literals;


TEST_CASE("1, 2, 3, 4 and 8 ranks, lazy and eager: ring, order, self-send, recv_any and the collectives", "[communicator]") {
  for (const bool polling : {false, true}) {
    for (std::uint32_t size : {1U, 2U, 3U, 4U, 8U}) {
      // Blocking ranks connect lazily, polling ones eagerly: both ways are covered.
      INFO(size << " ranks, " << (polling ? "polling, eager" : "blocking, lazy"));
      auto ranks =
          start_job(size, "basic", polling ? std::vector<std::string>{"--polling", "--eager"} : std::vector<std::string>{});
      CHECK(ranks_ok(ranks, 60s) == size);
    }
  }
}

TEST_CASE("a rank killed while idle fails receives from it and sends to it with peer_failed; the rest go on",
          "[communicator][failure]") {
  for (const bool polling : {false, true}) {
    INFO((polling ? "polling" : "blocking"));
    constexpr std::uint32_t size = 3;
    auto ranks = start_job(size, "victim", polling ? std::vector<std::string>{"--polling"} : std::vector<std::string>{});
    kill_rank_1_and_check_survivors(ranks);
  }
}

TEST_CASE("a message a rank sent just before it exited is received; the next receive from it fails with peer_failed",
          "[communicator][failure]") {
  // The message and the exit race (the rank's pidfd and the shared-memory
  // FIFO wake the same loop): repeated, in both progress modes.
  for (const bool polling : {false, true})
    for (int round = 0; round < 5; ++round) {
      INFO((polling ? "polling" : "blocking") << ", round " << round);
      auto ranks = start_job(2, "send_exit", polling ? std::vector<std::string>{"--polling"} : std::vector<std::string>{});
      CHECK(ranks_ok(ranks, 30s) == 2);
    }
}

TEST_CASE("a receive posted after its rank is known to have exited still gets what the rank sent before; the next "
          "one fails with peer_failed", "[communicator][failure]") {
  for (const bool polling : {false, true})
    for (int round = 0; round < 3; ++round) {
      INFO((polling ? "polling" : "blocking") << ", round " << round);
      auto ranks =
          start_job(2, "send_exit_late", polling ? std::vector<std::string>{"--polling"} : std::vector<std::string>{});
      CHECK(ranks_ok(ranks, 30s) == 2);
    }
}

TEST_CASE("a rank killed inside a barrier or mid-way through 64 MiB transfers fails the survivors' operations",
          "[communicator][failure]") {
  for (const char* scenario : {"victim_in_barrier", "victim_streaming"}) {
    for (const bool polling : {false, true}) {
      INFO(scenario << ", " << (polling ? "polling" : "blocking"));
      constexpr std::uint32_t size = 3;
      auto ranks = start_job(size, scenario, polling ? std::vector<std::string>{"--polling"} : std::vector<std::string>{});
      kill_rank_1_and_check_survivors(ranks);
    }
  }
}

TEST_CASE("a rank that never comes fails the bootstrap on the others, naming it", "[communicator][failure]") {
  auto ranks = start_job(3, "basic", {"--timeout-ms", "1000"}, 2);
  for (std::uint32_t r = 0; r < 2; ++r) {
    INFO("rank " << r);
    const auto line = ranks[r]->read_output_line(30s);
    REQUIRE(line);
    CHECK_THAT(*line, Catch::Contains("rank 2 never joined"));
    CHECK(ranks[r]->wait_exit(10s) == 1);
  }
}

TEST_CASE("a send to a live rank that never receives, under with_timeout, returns and fails that rank with the "
          "abandoned send as the cause", "[communicator][failure]") {
  auto ranks = start_job(2, "stalled_send");
  CHECK(ranks_ok(ranks, 60s) == 2);
}

TEST_CASE("a job whose root is [::1] bootstraps over IPv6 loopback (rank 0 binds the root host itself)",
          "[communicator]") {
  auto ranks = start_job(3, "basic", {}, 0, "ipv6-job", "[::1]");
  CHECK(ranks_ok(ranks, 60s) == 3);
}

TEST_CASE("rank 0 binds a loopback root host itself and anything else on all interfaces, unless told", "[communicator]") {
  CHECK(detail::rendezvous_bind_address("", "127.0.0.1") == "127.0.0.1");
  CHECK(detail::rendezvous_bind_address("", "127.0.0.5") == "127.0.0.5");
  CHECK(detail::rendezvous_bind_address("", "::1") == "::1");
  CHECK(detail::rendezvous_bind_address("", "localhost") == "127.0.0.1");
  CHECK(detail::rendezvous_bind_address("", "198.18.0.1") == "0.0.0.0");
  CHECK(detail::rendezvous_bind_address("", "node-17") == "0.0.0.0");
  CHECK(detail::rendezvous_bind_address("198.18.0.9", "127.0.0.1") == "198.18.0.9");
}

TEST_CASE("a process without UCORO_* is a singleton", "[communicator]") {
  test::child_process single{{rank_binary(), "basic"}};
  CHECK(single.read_output_line(30s) == std::optional<std::string>("rank 0 of 1 ok (singleton)"));
  CHECK(single.wait_exit(10s) == 0);
}

TEST_CASE("a rank that runs out of time says which wait it was in", "[communicator][bounds]") {
  auto ranks = start_job(2, "stuck_in_barrier", {"--bound-ms", "2000"});
  const std::pair<std::uint32_t, const char*> expected[] = {{0, "(in barrier with a rank that never comes)"},
                                                             {1, "(in sleeping instead of entering the barrier)"}};
  for (const auto& [r, step] : expected) {
    INFO("rank " << r);
    const auto line = ranks[r]->read_output_line(30s);
    REQUIRE(line);
    CHECK_THAT(*line, Catch::StartsWith("error: ") && Catch::EndsWith(step));
    CHECK(ranks[r]->wait_exit(10s) == 1);
  }
}
