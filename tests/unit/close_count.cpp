// The counting half of the close protocol (p2p/detail/close_count.hpp): when
// an endpoint closes after N messages, by the peer's announced count or by
// close_after_n_recv, and what it refuses.

#include "../support/helpers.hpp"

#include <ucoro/p2p/detail/close_count.hpp>

#include <string>

using namespace ucoro;
using ucoro::detail::close_count;
using reached = close_count::reached;

TEST_CASE("close_count: the peer's announced count is reached once, by the last message", "[unit][close]") {
  close_count c;
  CHECK(c.on_received() == reached::not_yet);
  CHECK(c.peer_closed(3) == reached::not_yet); // 1 of 3 arrived
  CHECK(c.on_received() == reached::not_yet);
  CHECK(c.on_received() == reached::peer_closed);
  CHECK(c.on_received() == reached::not_yet); // a stray one after: nothing more
  CHECK(c.received() == 4);
}

TEST_CASE("close_count: a peer's close after everything arrived is complete at once", "[unit][close]") {
  close_count c;
  for (int i = 0; i < 5; ++i)
    CHECK(c.on_received() == reached::not_yet);
  CHECK(c.peer_closed(5) == reached::peer_closed);
  close_count none;
  CHECK(none.peer_closed(0) == reached::peer_closed);
}

TEST_CASE("close_count: close_after_n_recv counts from now, or from creation", "[unit][close]") {
  close_count from_now;
  CHECK(from_now.on_received() == reached::not_yet);
  CHECK(from_now.close_after(2, false, "peer") == reached::not_yet); // 2 more: the 3rd message
  CHECK(from_now.on_received() == reached::not_yet);
  CHECK(from_now.on_received() == reached::user_close);

  close_count from_creation;
  CHECK(from_creation.on_received() == reached::not_yet);
  CHECK(from_creation.close_after(2, true, "peer") == reached::not_yet); // the 2nd message
  CHECK(from_creation.on_received() == reached::user_close);

  close_count already;
  CHECK(already.on_received() == reached::not_yet);
  CHECK(already.close_after(1, true, "peer") == reached::user_close); // reached when asked
}

TEST_CASE("close_count: close_after_n_recv refuses a second count, and a count already passed", "[unit][close]") {
  close_count c;
  CHECK(c.close_after(4, false, "h:1") == reached::not_yet);
  CHECK_THROWS_WITH((void)c.close_after(9, false, "h:1"),
                    Catch::Contains("close_after_n_recv on endpoint to h:1: already set (to 4)"));

  close_count passed;
  for (int i = 0; i < 3; ++i)
    (void)passed.on_received();
  CHECK_THROWS_WITH((void)passed.close_after(2, true, "h:1"),
                    Catch::Contains("close_after_n_recv(2, count_from_ep_creation) on endpoint to h:1: 3 messages "
                                    "were already received"));
  CHECK(passed.close_after(2, false, "h:1") == reached::not_yet); // the refused call left nothing set
}

TEST_CASE("close_count: the peer's close replaces the user's count, even one already reached", "[unit][close]") {
  close_count c;
  CHECK(c.close_after(1, false, "peer") == reached::not_yet);
  CHECK(c.on_received() == reached::user_close);
  // Both sides closing at once: this side's close() is under way, and the
  // peer's count still completes its close.
  CHECK(c.peer_closed(2) == reached::not_yet);
  CHECK(c.on_received() == reached::peer_closed);
}
