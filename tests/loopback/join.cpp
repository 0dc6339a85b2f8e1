// The distributed hash join on 3 ranks as separate processes on loopback
// (tests/loopback/comm_rank.cpp is the rank; its join scenario runs every
// key shape x inner/left/semi/anti, shuffled with M = 3 and broadcast, and
// each rank checks its part against a naive join of all ranks' rows,
// tests/support/join_check.hpp). Every combination on 1-4 ranks runs in one
// process, tests/loopback/rank_group.cpp. Every wait is bounded.

#include "../support/helpers.hpp"
#include "../support/job.hpp"

using namespace ucoro;
using namespace ucoro::test;
using namespace std::chrono_literals;

TEST_CASE("as separate processes, hash_join on 3 ranks gives each rank exactly its rows of the naive join",
          "[join]") {
  auto ranks = start_job(3, "join");
  REQUIRE(ranks_ok(ranks, 240s) == 3);
}
