// ucoro::event: many waiters, set/reset, and waits bounded by stop tokens.

#include "../support/helpers.hpp"

#include <memory>
#include <thread>

using namespace ucoro;
using namespace std::chrono_literals;

TEST_CASE("set resumes every waiter once, and a set event lets later waits through", "[event]") {
  for (auto mode : {progress_mode::blocking, progress_mode::polling}) {
    INFO(test::mode_name(mode));
    context ctx;
    worker w{ctx, mode};
    // [snippet:event]
    event e{w}; // on the worker's thread; post() to set it from another
    int resumed = 0;
    auto waiter = [&]() -> task<void> {
      co_await e.wait(); // any number may wait; with_timeout bounds each
      ++resumed;
    };
    // [/snippet:event]
    auto setter = [&]() -> task<void> {
      CHECK(resumed == 0); // all three are waiting: when_all started them first
      e.set();
      co_return;
    };
    w.run(test::bounded(when_all(waiter(), waiter(), waiter(), setter())));
    CHECK(resumed == 3);
    CHECK(e.is_set());
    w.run(test::bounded(waiter())); // already set: no suspension
    CHECK(resumed == 4);
    e.reset();
    CHECK_FALSE(e.is_set());
    try {
      w.run(with_timeout(e.wait(), 20ms));
      FAIL("a reset event let a wait through");
    } catch (const ucx_error& ex) {
      CHECK(ex.code() == std::errc::timed_out);
    }
  }
}

TEST_CASE("a waiter set() woke runs without the event, so the event may be destroyed first", "[event]") {
  context ctx;
  worker w{ctx};
  int resumed = 0;
  auto e = std::make_unique<event>(w);
  auto waiter = [&](event& ev) -> task<void> {
    co_await ev.wait();
    ++resumed;
  };
  auto setter = [&]() -> task<void> {
    e->set();  // queues the waiter,
    e.reset(); // which runs after the event is gone (ASan reports any read of it)
    co_return;
  };
  w.run(test::bounded(when_all(waiter(*e), setter())));
  CHECK(resumed == 1);
}

TEST_CASE("a waiter stopped by its timeout leaves the others waiting for set", "[event]") {
  context ctx;
  worker w{ctx};
  event e{w};
  std::error_code first;
  bool second = false;
  w.run(test::bounded([&]() -> task<void> {
    auto impatient = [&]() -> task<void> {
      auto r = co_await as_result(with_timeout(e.wait(), 10ms));
      first = r.error;
      e.set(); // after the impatient one gave up, the patient one is released
    };
    auto patient = [&]() -> task<void> {
      co_await e.wait();
      second = true;
    };
    co_await when_all(patient(), impatient());
  }()));
  CHECK(first == std::errc::timed_out);
  CHECK(second);
}

TEST_CASE("an event set from another thread through post wakes the waiter", "[event][post]") {
  for (auto mode : {progress_mode::blocking, progress_mode::polling}) {
    INFO(test::mode_name(mode));
    context ctx;
    worker w{ctx, mode};
    event e{w};
    std::jthread other{[&] { w.post([&] { e.set(); }); }};
    w.run(test::bounded(e.wait()));
    CHECK(e.is_set());
  }
}
