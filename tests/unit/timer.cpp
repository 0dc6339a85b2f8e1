#include "../support/helpers.hpp"

#include <stop_token>
#include <thread>
#include <vector>

using namespace ucoro;
using namespace std::chrono_literals;

namespace {

task<void> sleep_then_record(worker& w, std::chrono::milliseconds d, int id, std::vector<int>& order) {
  co_await w.sleep(d);
  order.push_back(id);
}

task<void> sleepers(worker& w, std::vector<int>& order) {
  task_scope scope{w.engine()};
  scope.spawn(sleep_then_record(w, 40ms, 4, order));
  scope.spawn(sleep_then_record(w, 10ms, 1, order));
  scope.spawn(sleep_then_record(w, 30ms, 3, order));
  scope.spawn(sleep_then_record(w, 20ms, 2, order));
  co_await scope.join();
}

task<int> slow_value(worker& w) {
  co_await w.sleep(5ms);
  co_return 5;
}

} // namespace

TEST_CASE("timers fire in deadline order, not creation order", "[timer]") {
  for (auto mode : {progress_mode::blocking, progress_mode::polling}) {
    INFO(test::mode_name(mode));
    context ctx;
    worker w{ctx, mode};
    std::vector<int> order;
    w.run(sleepers(w, order));
    CHECK(order == std::vector<int>{1, 2, 3, 4});
  }
}

TEST_CASE("a sleep lasts at least its duration", "[timer]") {
  context ctx;
  worker w{ctx};
  const auto start = std::chrono::steady_clock::now();
  w.run(w.sleep(20ms));
  CHECK(std::chrono::steady_clock::now() - start >= 20ms);
}

TEST_CASE("with_timeout passes the value through when the awaitable is faster", "[timer]") {
  context ctx;
  worker w{ctx};
  CHECK(w.run(with_timeout(slow_value(w), 5s)) == 5);
}

TEST_CASE("with_timeout fires, cancels a pending UCX receive and reports timed_out", "[timer][error]") {
  for (auto mode : {progress_mode::blocking, progress_mode::polling}) {
    INFO(test::mode_name(mode));
    context ctx;
    worker w{ctx, mode};
    std::vector<std::byte> buffer(64);
    const auto start = std::chrono::steady_clock::now();
    try {
      w.run(with_timeout(tag_recv(w.engine(), buffer.data(), buffer.size(), 0x1234), 50ms));
      FAIL("receive with nobody sending completed");
    } catch (const ucx_error& e) {
      CHECK(e.code() == std::errc::timed_out);
      CHECK_THAT(e.what(), Catch::Contains("timed out after 50 ms") && Catch::Contains("recv of 64 bytes"));
    }
    const auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(elapsed >= 50ms);
    CHECK(elapsed < 5s);
  }
}

TEST_CASE("a stop request from another thread cancels a sleep on the worker", "[timer][cancel]") {
  context ctx;
  worker w{ctx};
  std::stop_source source;
  std::jthread stopper{[&] {
    std::this_thread::sleep_for(20ms); // the behaviour under test: a stop that arrives later, from elsewhere
    source.request_stop();
  }};
  const auto start = std::chrono::steady_clock::now();
  try {
    w.run(with_stop_token(w.sleep(10s), source.get_token()));
    FAIL("sleep was not cancelled");
  } catch (const ucx_error& e) {
    CHECK(e.code() == std::errc::operation_canceled);
  }
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("an already stopped token cancels before anything is posted", "[timer][cancel]") {
  context ctx;
  worker w{ctx};
  std::stop_source source;
  source.request_stop();
  std::vector<std::byte> buffer(8);
  try {
    w.run(with_stop_token(tag_recv(w.engine(), buffer.data(), buffer.size(), 7), source.get_token()));
    FAIL("not cancelled");
  } catch (const ucx_error& e) {
    CHECK(e.code() == std::errc::operation_canceled);
  }
}
