#include "../support/helpers.hpp"

#include <memory>
#include <stdexcept>
#include <string>

using namespace ucoro;
using namespace std::chrono_literals;

namespace {

task<int> answer() { co_return 42; }
task<void> nothing(int& touched) {
  touched = 1;
  co_return;
}
task<int> thrower() {
  throw std::runtime_error("boom");
  co_return 0;
}
task<std::unique_ptr<int>> move_only() { co_return std::make_unique<int>(7); }

task<int> one() { co_return 1; }
task<long> chain(int n) {
  long sum = 0;
  for (int i = 0; i < n; ++i)
    sum += co_await one();
  co_return sum;
}

struct counted {
  static inline int alive = 0;
  counted() { ++alive; }
  counted(const counted&) { ++alive; }
  ~counted() { --alive; }
};
task<void> holds(counted c) {
  (void)c;
  co_return;
}

} // namespace

TEST_CASE("a task returns its value to the awaiter", "[task]") {
  context ctx;
  worker w{ctx};
  CHECK(w.run(answer()) == 42);
}

TEST_CASE("a void task runs its body once awaited", "[task]") {
  context ctx;
  worker w{ctx};
  int touched = 0;
  auto t = nothing(touched);
  CHECK(touched == 0); // lazy
  w.run(std::move(t));
  CHECK(touched == 1);
}

TEST_CASE("an exception in a task propagates to the awaiter", "[task][error]") {
  context ctx;
  worker w{ctx};
  CHECK_THROWS_WITH(w.run(thrower()), "boom");
}

TEST_CASE("a task moves, and a move-only result moves out", "[task]") {
  context ctx;
  worker w{ctx};
  auto a = answer();
  auto b = std::move(a);
  CHECK_FALSE(a.valid());
  CHECK(b.valid());
  CHECK(w.run(std::move(b)) == 42);
  auto p = w.run(move_only());
  REQUIRE(p);
  CHECK(*p == 7);
}

TEST_CASE("destroying an unstarted task destroys its frame and arguments", "[task]") {
  counted::alive = 0;
  {
    auto t = holds(counted{});
    CHECK(counted::alive == 1); // the argument copy lives in the frame
  }
  CHECK(counted::alive == 0);
}

TEST_CASE("a chain of 1,000,000 immediately completing awaits does not overflow the stack", "[task]") {
  context ctx;
  worker w{ctx};
  CHECK(w.run(chain(1'000'000)) == 1'000'000);
}
