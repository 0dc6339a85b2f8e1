#pragma once
// A communicator job of separate processes on loopback for the tests:
// tests/loopback/comm_rank.cpp is the rank, bootstrapped through
// UCORO_RANK/SIZE/ROOT/JOB (each rank sees only its own variables).

#include "free_port.hpp"
#include "process.hpp"
#include "raw_socket.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ucoro::test {

using namespace std::chrono_literals;

inline std::string rank_binary() {
  const char* path = std::getenv("UCORO_TEST_COMM_RANK");
  if (path == nullptr)
    FAIL("UCORO_TEST_COMM_RANK is not set (run through meson test)");
  return path;
}

/// Starts ranks [0, started) of a job of `size` (env passes the UCORO_*
/// variables, so each rank sees only its own).
inline std::vector<std::unique_ptr<test::child_process>> start_job(std::uint32_t size, const std::string& scenario,
                                                            std::vector<std::string> extra = {},
                                                            std::uint32_t started = 0, std::string job = "test-job",
                                                            const std::string& root_host = "127.0.0.1") {
  const std::string root = root_host + ":" + std::to_string(test::unused_fixed_port());
  std::vector<std::unique_ptr<test::child_process>> ranks;
  for (std::uint32_t r = 0; r < (started == 0 ? size : started); ++r) {
    std::vector<std::string> args{"/usr/bin/env",
                                  "UCORO_RANK=" + std::to_string(r),
                                  "UCORO_SIZE=" + std::to_string(size),
                                  "UCORO_ROOT=" + root,
                                  "UCORO_JOB=" + job,
                                  rank_binary(),
                                  scenario};
    args.insert(args.end(), extra.begin(), extra.end());
    ranks.push_back(std::make_unique<test::child_process>(args));
  }
  return ranks;
}

/// How many ranks of a TCP-rendezvous job printed "rank R of N ok (...)"
/// within `wait` and exited 0 (each miss is reported as it is found).
[[nodiscard]] inline std::uint32_t ranks_ok(std::vector<std::unique_ptr<test::child_process>>& ranks,
                                            std::chrono::seconds wait) {
  const auto size = static_cast<std::uint32_t>(ranks.size());
  std::uint32_t ok = 0;
  for (std::uint32_t r = 0; r < size; ++r) {
    INFO("rank " << r);
    const auto line = ranks[r]->read_output_line(wait);
    REQUIRE(line);
    // Compared whole, so a failure shows the rank's line: its error and the
    // step it was in (comm_rank.cpp's step()).
    const std::string expected =
        "rank " + std::to_string(r) + " of " + std::to_string(size) + " ok (TCP rendezvous (UCORO_*))";
    CHECK(*line == expected);
    const bool said_ok = *line == expected;
    const auto status = ranks[r]->wait_exit(std::chrono::seconds(10));
    CHECK(status == 0);
    ok += said_ok && status == 0 ? 1 : 0;
  }
  return ok;
}

/// Kills rank 1 once every rank said "ready"; ranks 0 and 2 must then
/// print "survived" and exit 0.
inline void kill_rank_1_and_check_survivors(std::vector<std::unique_ptr<test::child_process>>& ranks) {
  for (auto& rank : ranks)
    REQUIRE(rank->read_output_line(30s) == std::optional<std::string>("ready"));
  ranks[1]->kill();
  CHECK(ranks[1]->wait_exit(10s) == 128 + SIGKILL);
  for (std::uint32_t r : {0U, 2U}) {
    INFO("rank " << r);
    const auto line = ranks[r]->read_output_line(30s);
    REQUIRE(line);
    CHECK(*line == "survived");
    CHECK(ranks[r]->wait_exit(10s) == 0);
  }
}

/// The same for survivors that print "failed: WHY" before "survived": each
/// names a failed rank (rank 1, or the other survivor: one still in the
/// previous exchange leaves after rank 1's failure and fails the one already
/// in the next, docs/all_to_all.md), and at least one names rank 1.
inline void kill_rank_1_and_check_named(std::vector<std::unique_ptr<test::child_process>>& ranks) {
  for (auto& rank : ranks)
    REQUIRE(rank->read_output_line(30s) == std::optional<std::string>("ready"));
  ranks[1]->kill();
  CHECK(ranks[1]->wait_exit(10s) == 128 + SIGKILL);
  int named_rank_1 = 0;
  for (std::uint32_t r : {0U, 2U}) {
    INFO("rank " << r);
    const auto why = ranks[r]->read_output_line(30s);
    REQUIRE(why);
    INFO(*why);
    const std::string other = "rank " + std::to_string(2 - r) + " failed";
    CHECK(why->rfind("failed: ", 0) == 0);
    CHECK((why->find("rank 1 failed") != std::string::npos || why->find(other) != std::string::npos));
    named_rank_1 += why->find("rank 1 failed") != std::string::npos ? 1 : 0;
    const auto line = ranks[r]->read_output_line(30s);
    REQUIRE(line);
    CHECK(*line == "survived");
    CHECK(ranks[r]->wait_exit(10s) == 0);
  }
  CHECK(named_rank_1 >= 1);
}

} // namespace ucoro::test
