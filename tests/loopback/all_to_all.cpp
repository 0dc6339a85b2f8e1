// All-to-all(v) on jobs of ranks as separate processes on loopback
// (tests/loopback/comm_rank.cpp is the rank; its all_to_all scenario runs
// every algorithm on two block sizes, all_to_allv and the argument errors,
// tests/support/collective_checks.hpp), and a rank killed in the middle of
// each algorithm. Every combination of algorithm, ranks, block and element
// type runs in one process, tests/loopback/rank_group.cpp. Every wait is
// bounded.

#include "../support/helpers.hpp"
#include "../support/job.hpp"

using namespace ucoro;
using namespace ucoro::test;
using namespace std::chrono_literals;

TEST_CASE("as separate processes, every algorithm on 3 and 8 ranks delivers every element where it belongs",
          "[all_to_all]") {
  for (std::uint32_t size : {3U, 8U}) {
    INFO(size << " ranks");
    auto ranks = start_job(size, "all_to_all");
    REQUIRE(ranks_ok(ranks, 240s) == size); // the first size that fails ends the case
  }
}

TEST_CASE("a rank killed in the middle of each algorithm fails the survivors with peer_failed naming a failed rank "
          "(rank 1 by at least one); slabs come back",
          "[all_to_all][failure]") {
  for (const char* algorithm : {"direct", "pairwise", "bruck", "buffered"}) {
    for (const bool polling : {false, true}) {
      if (polling && std::string(algorithm) != "pairwise")
        continue; // one algorithm polling is enough for the progress mode
      INFO(algorithm << ", " << (polling ? "polling" : "blocking"));
      auto ranks = start_job(3, std::string("victim_all_to_all_") + algorithm,
                             polling ? std::vector<std::string>{"--polling"} : std::vector<std::string>{});
      kill_rank_1_and_check_named(ranks);
    }
  }
}
