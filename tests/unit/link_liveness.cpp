// A peer link's heartbeat bookkeeping (p2p/detail/link_heartbeat.hpp): who
// asked to watch and to beat, the shortest of each winning, the deadline and
// the beat schedule on a fake clock, and the tag that names the sender.

#include "../support/helpers.hpp"

#include <ucoro/p2p/detail/link_heartbeat.hpp>

#include <chrono>
#include <cstddef>
#include <vector>

using namespace ucoro;
using namespace ucoro::detail;
using namespace std::chrono_literals;
using clock_type = link_liveness::clock;

TEST_CASE("link_liveness: the watch fails past the shortest deadline, and a beat heard resets it", "[unit][heartbeat]") {
  const clock_type::time_point t0{std::chrono::seconds(100)};
  link_liveness l;
  int a = 0, b = 0;
  CHECK_FALSE(l.active());
  CHECK_FALSE(l.overdue(t0 + 1h)); // nobody watches
  l.watch(&a, {1000ms, 5000ms}, t0);
  l.watch(&b, {100ms, 500ms}, t0 + 1s); // a second watch does not restart the clock
  CHECK(l.watching());
  CHECK(l.period() == 100ms);
  CHECK_FALSE(l.overdue(t0 + 500ms));
  CHECK(l.overdue(t0 + 501ms));
  l.heard(t0 + 400ms);
  CHECK_FALSE(l.overdue(t0 + 900ms));
  CHECK(l.overdue(t0 + 901ms));
  l.forget(&b); // the short one goes: the long deadline is left
  CHECK_FALSE(l.overdue(t0 + 5400ms));
  CHECK(l.overdue(t0 + 5401ms));
  CHECK(l.period() == 1000ms);
  l.forget(&a);
  CHECK_FALSE(l.active());
  CHECK_FALSE(l.overdue(t0 + 1h));
}

TEST_CASE("link_liveness: beats are due at once, then every shortest interval asked", "[unit][heartbeat]") {
  const clock_type::time_point t0{std::chrono::seconds(100)};
  link_liveness l;
  int a = 0, b = 0;
  CHECK_FALSE(l.beat_due(t0));
  l.beat(&a, 1000ms);
  CHECK(l.beat_due(t0)); // never sent
  l.sent(t0);
  CHECK_FALSE(l.beat_due(t0 + 999ms));
  CHECK(l.beat_due(t0 + 1000ms));
  l.beat(&b, 200ms);
  CHECK(l.period() == 200ms);
  CHECK(l.beat_due(t0 + 200ms));
  l.beat(&b, 300ms); // the same owner asking again replaces its request
  CHECK(l.period() == 300ms);
  CHECK_FALSE(l.beat_due(t0 + 299ms));
  l.forget(&b);
  l.forget(&a);
  CHECK_FALSE(l.beating());
}

TEST_CASE("link_liveness: the tick period is a quarter of a deadline when that is shorter", "[unit][heartbeat]") {
  link_liveness l;
  int a = 0;
  l.watch(&a, {1000ms, 2000ms}, clock_type::now());
  CHECK(l.period() == 500ms);
}

TEST_CASE("heartbeat tags name the sending worker inside the link heartbeat space", "[unit][heartbeat]") {
  std::vector<std::byte> address(200);
  for (std::size_t i = 0; i < address.size(); ++i)
    address[i] = static_cast<std::byte>(i * 7);
  const std::uint64_t name = heartbeat_name(address);
  CHECK((name & tag_layout::space_mask) == 0);
  const tag_t tag = heartbeat_tag(name);
  CHECK(tag_layout::space_of(tag) == tag_layout::space::link_heartbeat);
  CHECK(heartbeat_sender(tag) == name);
  address[199] ^= std::byte{1};
  CHECK(heartbeat_name(address) != name); // another worker, another name
}
