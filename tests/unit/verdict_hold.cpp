// The verdict hold (p2p/detail/verdict_hold.hpp) that endpoint and
// communicator operations share: a held operation ends once, either when
// the verdict is delivered or when its grace runs out, and the loop runs
// meanwhile (nothing blocks it, as the endpoint's ::poll of the pidfd did).

#include "../support/helpers.hpp"

#include <ucoro/p2p/detail/verdict_hold.hpp>

#include <chrono>
#include <optional>
#include <vector>

using namespace ucoro;
using namespace ucoro::detail;
using namespace std::chrono_literals;

namespace {

/// Stands for an operation: records how its hold ended, and when (the
/// loop's tick count then).
struct fake_op {
  const int* clock = nullptr;
  std::vector<verdict> ends;
  std::vector<int> at;
  verdict_wait<fake_op> wait;
  void end_hold(verdict v) noexcept {
    ends.push_back(v);
    at.push_back(clock ? *clock : -1);
  }
};

task<void> ticks(worker& w, int& count, std::chrono::milliseconds total) {
  for (auto t = 0ms; t < total; t += 5ms) {
    co_await w.sleep(5ms); // a tick of the loop: the test counts ticks to show the loop ran while an operation was held
    ++count;
  }
}

} // namespace

TEST_CASE("a held operation ends when its grace runs out, while the loop keeps running", "[verdict_hold]") {
  context ctx;
  worker w{ctx};
  held_operations held;
  int count = 0;
  fake_op op;
  op.clock = &count;
  op.wait.hold(op, held, w.engine(), 30ms);
  CHECK(op.wait.held());
  w.run(ticks(w, count, 60ms));
  REQUIRE(op.ends.size() == 1);
  CHECK(op.ends[0] == verdict::timed_out);
  // It ended between the loop's ticks: the loop ran while it was held.
  CHECK(op.at[0] >= 1);
  CHECK(op.at[0] < 12);
  CHECK_FALSE(op.wait.held());
  CHECK(held.empty());
}

TEST_CASE("a delivered verdict ends every held operation once, and its grace timer no longer fires", "[verdict_hold]") {
  context ctx;
  worker w{ctx};
  held_operations held;
  fake_op a, b;
  a.wait.hold(a, held, w.engine(), 20ms);
  b.wait.hold(b, held, w.engine(), 20ms);
  held.deliver();
  CHECK(held.empty());
  int count = 0;
  w.run(ticks(w, count, 40ms)); // past both graces
  REQUIRE(a.ends.size() == 1);
  REQUIRE(b.ends.size() == 1);
  CHECK(a.ends[0] == verdict::delivered);
  CHECK(b.ends[0] == verdict::delivered);
}

TEST_CASE("an operation destroyed while held leaves the hold, and neither the verdict nor the timer reaches it",
          "[verdict_hold]") {
  context ctx;
  worker w{ctx};
  held_operations held;
  fake_op kept;
  {
    fake_op gone;
    gone.wait.hold(gone, held, w.engine(), 10ms);
    kept.wait.hold(kept, held, w.engine(), 10ms);
  }
  int count = 0;
  w.run(ticks(w, count, 30ms)); // the destroyed op's grace would have fired here (ASan: no use after free)
  REQUIRE(kept.ends.size() == 1);
  CHECK(kept.ends[0] == verdict::timed_out);
  held.deliver(); // nothing left
  CHECK(kept.ends.size() == 1);
}
