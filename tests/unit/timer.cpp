#include "../support/helpers.hpp"

#include <future>
#include <stop_token>
#include <thread>
#include <vector>

using namespace ucoro;
using namespace std::chrono_literals;

namespace {

task<void> sleep_then_record(worker& w, std::chrono::milliseconds d, int id, std::vector<int>& order) {
  co_await w.sleep(d); // the timer is the behaviour under test: sleepers wake in deadline order
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
  co_await w.sleep(5ms); // the timer is the behaviour under test: a value that takes 5 ms, against a timeout
  co_return 5;
}

} // namespace

TEST_CASE("timers fire in deadline order, not creation order", "[timer]") {
  for (auto mode : {progress_mode::blocking, progress_mode::polling, progress_mode::yielding}) {
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
  w.run(w.sleep(20ms)); // the sleep is the behaviour under test: it lasts at least its duration
  CHECK(std::chrono::steady_clock::now() - start >= 20ms);
}

TEST_CASE("with_timeout passes the value through when the awaitable is faster", "[timer]") {
  context ctx;
  worker w{ctx};
  CHECK(w.run(with_timeout(slow_value(w), 5s)) == 5);
}

TEST_CASE("with_timeout fires, cancels a pending UCX receive and reports timed_out", "[timer][error]") {
  for (auto mode : {progress_mode::blocking, progress_mode::polling, progress_mode::yielding}) {
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
      CHECK_THAT(e.what(), Catch::Contains("no completion within 50 ms") && Catch::Contains("recv of 64 bytes"));
    }
    const auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(elapsed >= 50ms);
    CHECK(elapsed < 5s);
  }
}

TEST_CASE("a stop request from another thread cancels a sleep on the worker", "[timer][cancel]") {
  for (auto mode : {progress_mode::blocking, progress_mode::polling, progress_mode::yielding}) {
    INFO(test::mode_name(mode));
    context ctx;
    worker w{ctx, mode};
    std::stop_source source;
    std::promise<void> armed; // the sleep is registered and suspended: the stop comes after the post
    std::jthread stopper{[&] {
      armed.get_future().wait();
      source.request_stop();
    }};
    try {
      w.run(with_stop_token(when_all([&]() -> task<void> { co_await w.sleep(10s); }(), // the sleep the stop must cut short: the behaviour under test
                                     [&]() -> task<void> { // runs once the sleep (started first) waits
                                       armed.set_value();
                                       co_return;
                                     }()),
                            source.get_token()));
      FAIL("the sleep ran its 10 s: the stop from the other thread did not cancel it");
    } catch (const ucx_error& e) {
      CHECK(e.code() == std::errc::operation_canceled);
    }
  }
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
