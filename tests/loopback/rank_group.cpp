// All-to-all(v) and the distributed hash join on groups of ranks in one
// process (tests/support/rank_group.hpp: a thread, a worker and a
// communicator per rank, joined over loopback). Each case is a GENERATE over
// algorithm x ranks x size x element type (or key shape), and a rank's
// failure is named in this test's output with its rank and values. The kill
// tests stay with child processes (tests/loopback/all_to_all.cpp,
// communicator.cpp). Every wait is bounded by the group's bound.

#include "../support/rank_group.hpp"
#include "../support/collective_checks.hpp"
#include "../support/helpers.hpp"
#include "../support/string_join_check.hpp"

#include <cstdint>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

using namespace ucoro;
using namespace ucoro::test;
using namespace std::chrono_literals;

TEMPLATE_TEST_CASE("all_to_all in one process: every algorithm on 1-4 and 8 ranks, blocks of 0, 1, 37 and 20000 "
                   "elements, delivers every element where it belongs",
                   "[rank_group][all_to_all]", std::uint8_t, std::uint64_t, record) {
  const auto algorithm = GENERATE(from_range(std::begin(algorithms), std::end(algorithms)));
  const auto ranks = GENERATE(1U, 2U, 3U, 4U, 8U);
  const auto block = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{37}, std::size_t{20000});
  INFO(to_string(algorithm) << ", " << ranks << " ranks, blocks of " << block << " elements of " << sizeof(TestType)
                            << " bytes");
  const std::string failed = run_rank_group(ranks, [&](communicator& comm, worker& w) -> task<void> {
    co_await check_all_to_all<TestType>(comm, w, algorithm, block, std::size_t{4} << 20);
  });
  CHECK(failed == "");
}

TEST_CASE("all_to_all in one process: blocks above zero_copy_above go from the caller's memory under every "
          "algorithm",
          "[rank_group][all_to_all]") {
  const auto algorithm = GENERATE(from_range(std::begin(algorithms), std::end(algorithms)));
  const auto ranks = GENERATE(2U, 3U);
  INFO(to_string(algorithm) << ", " << ranks << " ranks");
  const std::string failed = run_rank_group(ranks, [&](communicator& comm, worker& w) -> task<void> {
    co_await check_all_to_all<std::uint64_t>(comm, w, algorithm, 20000, 100000);
  });
  CHECK(failed == "");
}

TEMPLATE_TEST_CASE("all_to_allv in one process: every algorithm on 1-4 ranks, uneven, empty and skewed parts, "
                   "returned and into given ranges",
                   "[rank_group][all_to_all]", std::uint32_t, record) {
  const auto algorithm = GENERATE(all_to_all_algorithm::direct, all_to_all_algorithm::pairwise,
                                  all_to_all_algorithm::buffered, all_to_all_algorithm::automatic);
  const auto ranks = GENERATE(1U, 2U, 3U, 4U);
  const auto shape = GENERATE(from_range(std::begin(part_shapes), std::end(part_shapes)));
  INFO(to_string(algorithm) << ", " << ranks << " ranks, " << shape.name << ", elements of " << sizeof(TestType)
                            << " bytes");
  const std::string failed = run_rank_group(ranks, [&](communicator& comm, worker& w) -> task<void> {
    co_await check_all_to_allv<TestType>(comm, w, algorithm, shape);
  });
  CHECK(failed == "");
}

TEST_CASE("all_to_allv in one process: bruck, which needs equal blocks, runs pairwise and the report says why",
          "[rank_group][all_to_all]") {
  const std::string failed = run_rank_group(2, [&](communicator& comm, worker&) -> task<void> {
    std::vector<std::vector<int>> parts(comm.size(), std::vector<int>(3, 7));
    all_to_all_report report;
    all_to_all_options o;
    o.algorithm = all_to_all_algorithm::bruck;
    o.report = &report;
    const auto got = co_await all_to_allv(comm, parts, o);
    check(got == parts, "the parts arrived changed");
    check(report.algorithm == all_to_all_algorithm::pairwise, std::string("ran ") + to_string(report.algorithm));
    check(std::string(report.reason).find("bruck needs equal blocks") != std::string::npos,
          std::string("the reason given: ") + report.reason);
  });
  CHECK(failed == "");
}

TEST_CASE("all_to_all in one process: wrong sizes, part counts and pools are invalid_argument naming them; a range "
          "too small for a part is message_size on that rank only, and the other parts arrive",
          "[rank_group][all_to_all]") {
  const auto ranks = GENERATE(1U, 2U, 3U);
  INFO(ranks << " ranks");
  const std::string failed = run_rank_group(
      ranks, [&](communicator& comm, worker& w) -> task<void> { co_await check_all_to_all_errors(comm, w); });
  CHECK(failed == "");
}

TEST_CASE("hash_join in one process: every key shape x inner, left, semi and anti x shuffle (M = 1, 3) and "
          "broadcast on 1-4 ranks gives each rank exactly its rows of the naive join",
          "[rank_group][join]") {
  const auto [algorithm, m] =
      GENERATE(std::pair{join::join_algorithm::shuffle, 1U}, std::pair{join::join_algorithm::shuffle, 3U},
               std::pair{join::join_algorithm::broadcast, 1U});
  const auto ranks = GENERATE(1U, 2U, 3U, 4U);
  const auto mode = GENERATE(from_range(std::begin(key_modes), std::end(key_modes)));
  INFO(join::to_string(algorithm) << " M " << m << ", " << ranks << " ranks, " << to_string(mode) << " keys");
  const join::join_algorithm algo = algorithm; // bindings are not captured by a lambda in Clang 14
  const unsigned over = m;
  const std::string failed = run_rank_group(
      ranks, [&](communicator& comm, worker&) -> task<void> { co_await check_join(comm, mode, algo, over); });
  CHECK(failed == "");
}

TEST_CASE("hash_join in one process with string keys and string payloads: inner, left, semi and anti x shuffle "
          "(M = 1, 3) and broadcast x either side empty on 1-4 ranks gives each rank exactly its rows of the naive join",
          "[rank_group][join][strings]") {
  const auto [algorithm, m] =
      GENERATE(std::pair{join::join_algorithm::shuffle, 1U}, std::pair{join::join_algorithm::shuffle, 3U},
               std::pair{join::join_algorithm::broadcast, 1U});
  const auto ranks = GENERATE(1U, 2U, 3U, 4U);
  INFO(join::to_string(algorithm) << " M " << m << ", " << ranks << " ranks");
  const join::join_algorithm algo = algorithm; // bindings are not captured by a lambda in Clang 14
  const unsigned over = m;
  const std::string failed = run_rank_group(
      ranks, [&](communicator& comm, worker&) -> task<void> { co_await check_string_join(comm, algo, over); });
  CHECK(failed == "");
}

TEST_CASE("a rank group names the rank that failed and what it found, and bounds a rank left waiting", "[rank_group]") {
  // Rank 1 fails its check; rank 0 then waits in a barrier for it, which
  // the bound (5 s) ends: both are reported, each with its rank. A first
  // barrier connects the two before rank 1 leaves: connecting lazily to a
  // rank whose worker is gone reaches for its removed shared-memory FIFO,
  // and UCX 1.13 leaks in that error path (LSan failed the ASan run once).
  const std::string failed = run_rank_group(
      2,
      [&](communicator& comm, worker&) -> task<void> {
        co_await comm.barrier();
        check(comm.rank() != 1, "rank 1 found 41, expected 42");
        co_await comm.barrier();
      },
      5s);
  CHECK_THAT(failed, Catch::Contains("rank 1 of 2: rank 1 found 41, expected 42"));
  CHECK_THAT(failed, Catch::Contains("rank 0 of 2: "));
}
