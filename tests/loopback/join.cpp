// The distributed hash join on 1-4 ranks as separate processes on loopback
// (tests/loopback/comm_rank.cpp is the rank; its join scenario runs every
// key shape x inner/left/semi/anti x shuffle M = 1, shuffle M = 3 and
// broadcast, and each rank checks its part against a naive join of all
// ranks' rows, tests/support/join_check.hpp). Every wait is bounded.

#include "../support/helpers.hpp"
#include "../support/job.hpp"

using namespace ucoro;
using namespace ucoro::test;
using namespace std::chrono_literals;

TEST_CASE("hash_join on 1, 2, 3 and 4 ranks gives each rank exactly its rows of the naive join", "[join]") {
  for (std::uint32_t size : {1U, 2U, 3U, 4U}) {
    INFO(size << " ranks");
    auto ranks = start_job(size, "join");
    REQUIRE(ranks_ok(ranks, 240s) == size); // the first size that fails ends the case
  }
}
