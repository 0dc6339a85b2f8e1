#include "../support/helpers.hpp"

#include <stdexcept>
#include <string>
#include <vector>

using namespace ucoro;
using namespace std::chrono_literals;

namespace {

// The timer awaits make each task really suspend before its outcome.
task<void> fails(worker& w, const char* what) {
  co_await w.sleep(1ms); // the behaviour under test: the task really suspends before its outcome
  throw std::runtime_error(what);
}

task<void> succeeds(worker& w, int& done) {
  co_await w.sleep(1ms); // the behaviour under test: the task really suspends before its outcome
  ++done;
}

task<void> sleeps_long(worker& w, bool& cancelled) {
  try {
    co_await w.sleep(60s); // never runs out: the scope's cancellation is under test
  } catch (const ucx_error& e) {
    cancelled = e.code() == std::errc::operation_canceled;
  }
}

} // namespace

TEST_CASE("a spawned task's exception is reported by join", "[task_scope][error]") {
  context ctx;
  worker w{ctx};
  int done = 0;
  auto body = [&]() -> task<void> {
    task_scope scope{w.engine()};
    scope.spawn(succeeds(w, done));
    scope.spawn(fails(w, "spawned failure"));
    scope.spawn(succeeds(w, done));
    co_await scope.join();
  };
  CHECK_THROWS_WITH(w.run(body()), "spawned failure");
  CHECK(done == 2); // join waited for the others
}

TEST_CASE("an error handler receives every spawned error", "[task_scope][error]") {
  context ctx;
  worker w{ctx};
  std::vector<std::string> seen;
  auto body = [&]() -> task<void> {
    task_scope scope{w.engine()};
    scope.set_error_handler([&](std::exception_ptr e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        seen.emplace_back(ex.what());
      }
    });
    scope.spawn(fails(w, "a"));
    scope.spawn(fails(w, "b"));
    co_await scope.join();
  };
  w.run(body());
  CHECK(seen.size() == 2);
}

TEST_CASE("destroying a scope stops and drains its running tasks", "[task_scope]") {
  context ctx;
  worker w{ctx};
  bool cancelled = false;
  const auto start = std::chrono::steady_clock::now();
  {
    task_scope scope{w.engine()};
    scope.spawn(sleeps_long(w, cancelled));
    CHECK(scope.active() == 1);
  }
  CHECK(cancelled);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("worker::spawn tasks are drained when the worker is destroyed", "[task_scope][worker]") {
  context ctx;
  bool cancelled = false;
  {
    worker w{ctx};
    w.spawn(sleeps_long(w, cancelled));
  }
  CHECK(cancelled);
}
