#include "../support/helpers.hpp"

#include <stdexcept>
#include <string>
#include <vector>

using namespace ucoro;
using namespace std::chrono_literals;

namespace {

task<int> after(worker& w, std::chrono::milliseconds d, int value, std::vector<int>& order) {
  co_await w.sleep(d); // the behaviour under test: children that finish in a known order, by timer
  order.push_back(value);
  co_return value;
}

task<void> fail_after(worker& w, std::chrono::milliseconds d) {
  co_await w.sleep(d); // the behaviour under test: a child that fails after its siblings started
  throw std::runtime_error("first failure");
}

task<std::string> text() { co_return "x"; }

} // namespace

TEST_CASE("when_all returns results in argument order, not completion order", "[when_all]") {
  context ctx;
  worker w{ctx};
  std::vector<int> order;
  auto [a, b, c] = w.run(when_all(after(w, 30ms, 1, order), after(w, 10ms, 2, order), text()));
  CHECK(a == 1);
  CHECK(b == 2);
  CHECK(c == "x");
  CHECK(order == std::vector<int>{2, 1});
}

TEST_CASE("when_all over a vector returns results in input order", "[when_all]") {
  context ctx;
  worker w{ctx};
  std::vector<int> order;
  std::vector<task<int>> tasks;
  for (int i = 0; i < 5; ++i)
    tasks.push_back(after(w, std::chrono::milliseconds(25 - 5 * i), i, order));
  const auto results = w.run(when_all(std::move(tasks)));
  CHECK(results == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(order == std::vector<int>{4, 3, 2, 1, 0});
}

TEST_CASE("when_all of nothing completes at once", "[when_all]") {
  context ctx;
  worker w{ctx};
  CHECK(w.run(when_all(std::vector<task<int>>{})).empty());
}

TEST_CASE("when_all rethrows the first exception and stops the siblings", "[when_all][error]") {
  context ctx;
  worker w{ctx};
  std::vector<int> order;
  const auto start = std::chrono::steady_clock::now();
  // The sibling would sleep 10 s; the failure must cancel it, not wait for it.
  CHECK_THROWS_WITH(w.run(when_all(fail_after(w, 10ms), after(w, 10s, 1, order))), "first failure");
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(order.empty());
}
