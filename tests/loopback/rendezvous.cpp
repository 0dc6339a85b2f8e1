// The communicator's TCP rendezvous (detail/rendezvous.hpp): ranks as
// coroutines on one worker, the root on a loopback port. Every wait is
// bounded; refusals carry their reasons and never stop the root.

#include "../support/free_port.hpp"
#include "../support/helpers.hpp"
#include "../support/raw_socket.hpp"

#include <ucoro/comm/detail/rendezvous.hpp>

#include <string>
#include <vector>

using namespace ucoro;
using namespace std::chrono_literals;
using detail::hello::table_entry;

namespace {

/// A recognisable entry for `rank` (the real one comes from the worker;
/// here every rank shares one, so each gets its own name and address).
table_entry entry_for(worker& w, std::uint32_t rank) {
  table_entry e = detail::local_table_entry(w);
  e.host = "rank-" + std::to_string(rank);
  e.worker_address.push_back(static_cast<std::byte>(rank));
  return e;
}

task<std::vector<table_entry>> join(worker& w, std::uint16_t port, std::uint32_t rank, std::uint32_t size,
                                    std::string job, std::chrono::milliseconds timeout = 5s) {
  return detail::rendezvous_join(w, "127.0.0.1", port, rank, size, std::move(job), entry_for(w, rank), timeout);
}

} // namespace

TEST_CASE("every rank gets the same table, each entry at its rank", "[rendezvous]") {
  for (std::uint32_t size : {1U, 2U, 4U, 8U}) {
    INFO(size << " ranks");
    context ctx;
    worker w{ctx};
    detail::rendezvous_root root{w, "127.0.0.1", 0};
    std::vector<task<std::vector<table_entry>>> ranks;
    ranks.push_back(root.run(entry_for(w, 0), size, "job-1", 5s));
    for (std::uint32_t r = 1; r < size; ++r)
      ranks.push_back(join(w, root.port(), r, size, "job-1"));
    const auto tables = w.run(test::bounded(when_all(std::move(ranks))));
    REQUIRE(tables.size() == size);
    for (const auto& table : tables) {
      REQUIRE(table.size() == size);
      CHECK(table == tables[0]);
    }
    for (std::uint32_t r = 0; r < size; ++r) {
      CHECK(tables[0][r].host == "rank-" + std::to_string(r));
      CHECK(tables[0][r].worker_address.back() == static_cast<std::byte>(r));
      CHECK(tables[0][r].identity == detail::this_process());
    }
    CHECK(root.rejected() == 0);
  }
}

TEST_CASE("garbage, another job, a wrong size and a taken rank are refused with the reason; the root keeps serving",
          "[rendezvous][error]") {
  context ctx;
  worker w{ctx};
  detail::rendezvous_root root{w, "127.0.0.1", 0};
  const std::uint16_t port = root.port();
  std::vector<std::string> refusals;
  auto refused = [&](task<std::vector<table_entry>> t, std::errc expected) -> task<void> {
    try {
      (void)co_await std::move(t);
      FAIL("a bad join got the table");
    } catch (const ucx_error& e) {
      CHECK(e.code() == expected);
      refusals.emplace_back(e.what());
    }
  };
  // Two joins claim rank 1: whichever comes second is refused as taken.
  std::vector<std::vector<table_entry>> rank1_tables;
  event duplicate_refused{w};
  auto as_rank1 = [&]() -> task<void> {
    try {
      rank1_tables.push_back(co_await join(w, port, 1, 3, "job-1"));
    } catch (const ucx_error& e) {
      CHECK(e.code() == std::errc::invalid_argument);
      refusals.emplace_back(e.what());
      duplicate_refused.set();
    }
  };
  std::vector<table_entry> root_table, rank2_table;
  w.run(test::bounded(when_all(
      [&]() -> task<void> { root_table = co_await root.run(entry_for(w, 0), 3, "job-1", 5s); }(), as_rank1(),
      [&]() -> task<void> {
        auto garbage = test::raw_connect(port);
        test::raw_send(garbage.get(), std::vector<std::byte>(64, std::byte{0}));
        co_await refused(join(w, port, 1, 3, "job-2"), std::errc::permission_denied);
        co_await refused(join(w, port, 1, 4, "job-1"), std::errc::invalid_argument);
        co_await as_rank1();
      }(),
      [&]() -> task<void> {
        co_await duplicate_refused.wait(); // then the last rank completes the job
        rank2_table = co_await join(w, port, 2, 3, "job-1");
      }())));
  REQUIRE(refusals.size() == 3);
  CHECK_THAT(refusals[0], Catch::Contains("job token differs"));
  CHECK_THAT(refusals[1], Catch::Contains("3 ranks, the joiner says 4"));
  CHECK_THAT(refusals[2], Catch::Contains("rank 1 is taken"));
  CHECK(root.rejected() == 4); // + the garbage
  REQUIRE(rank1_tables.size() == 1);
  CHECK(rank1_tables[0] == root_table);
  CHECK(rank2_table == root_table);
}

TEST_CASE("a rank that never comes: the timeout names it, on the root and on the ranks that came", "[rendezvous][error]") {
  context ctx;
  worker w{ctx};
  detail::rendezvous_root root{w, "127.0.0.1", 0};
  std::string root_error, rank1_error;
  w.run(test::bounded(when_all(
      [&]() -> task<void> {
        try {
          (void)co_await root.run(entry_for(w, 0), 4, "job-3", 300ms);
        } catch (const ucx_error& e) {
          CHECK(e.code() == std::errc::timed_out);
          root_error = e.what();
        }
      }(),
      [&]() -> task<void> {
        try {
          (void)co_await join(w, root.port(), 1, 4, "job-3");
        } catch (const ucx_error& e) {
          CHECK(e.code() == std::errc::timed_out);
          rank1_error = e.what();
        }
      }())));
  CHECK_THAT(root_error, Catch::Contains("ranks 2 and 3 never joined within 300 ms"));
  CHECK_THAT(rank1_error, Catch::Contains("ranks 2 and 3 never joined"));
}

TEST_CASE("two jobs side by side on one host never mix", "[rendezvous]") {
  context ctx;
  worker w{ctx};
  detail::rendezvous_root a{w, "127.0.0.1", 0};
  detail::rendezvous_root b{w, "127.0.0.1", 0};
  std::string stray_error;
  auto stray_then_b = [&]() -> task<std::vector<table_entry>> {
    try {
      (void)co_await join(w, b.port(), 1, 2, "job-A"); // job A's rank at job B's root
      FAIL("job A's rank joined job B");
    } catch (const ucx_error& e) {
      CHECK(e.code() == std::errc::permission_denied);
      stray_error = e.what();
    }
    co_return co_await join(w, b.port(), 1, 2, "job-B");
  };
  std::vector<task<std::vector<table_entry>>> ranks;
  ranks.push_back(a.run(entry_for(w, 10), 2, "job-A", 5s));
  ranks.push_back(join(w, a.port(), 1, 2, "job-A"));
  ranks.push_back(b.run(entry_for(w, 20), 2, "job-B", 5s));
  ranks.push_back(stray_then_b());
  const auto tables = w.run(test::bounded(when_all(std::move(ranks))));
  CHECK_THAT(stray_error, Catch::Contains("job token differs"));
  CHECK(tables[0][0].host == "rank-10");
  CHECK(tables[2][0].host == "rank-20");
  CHECK(tables[1] == tables[0]);
  CHECK(tables[3] == tables[2]);
  CHECK(b.rejected() == 1);
}

TEST_CASE("a rank that starts before its root retries until the root listens", "[rendezvous]") {
  context ctx;
  worker w{ctx};
  // A free port, then nobody there for a while: ranks start in any order.
  const std::uint16_t port = test::unused_fixed_port();
  const auto tables = w.run(test::bounded(when_all(
      join(w, port, 1, 2, "job-4"),
      [&]() -> task<std::vector<table_entry>> {
        co_await w.sleep(200ms); // the behaviour under test: the root starts 200 ms after its rank, which must retry meanwhile
        detail::rendezvous_root root{w, "127.0.0.1", port};
        co_return co_await root.run(entry_for(w, 0), 2, "job-4", 5s);
      }())));
  CHECK(std::get<0>(tables) == std::get<1>(tables));
}

TEST_CASE("rank and size out of range are refused before anything is sent", "[rendezvous][error]") {
  context ctx;
  worker w{ctx};
  for (auto [rank, size] : {std::pair{0U, 2U}, std::pair{2U, 2U}, std::pair{1U, 0U}}) {
    INFO("rank " << rank << " of " << size);
    try {
      (void)w.run(test::bounded(join(w, 1, rank, size, "job")));
      FAIL("accepted");
    } catch (const ucx_error& e) {
      CHECK(e.code() == std::errc::invalid_argument);
      CHECK_THAT(e.what(), Catch::Contains("rank out of range"));
    }
  }
}
