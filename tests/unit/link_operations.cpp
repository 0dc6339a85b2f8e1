// The peer link ends every owner's operations when it fails
// (peer_link::fail, link_operations): an endpoint's and a communicator's
// rank's alike, in one order (the users learn why first, then the
// operations end), and an owner that goes before its link, or a link that
// goes before its owner, leaves nothing dangling (ASan checks the latter).

#include "../support/helpers.hpp"

#include <ucoro/p2p/detail/peer_link_registry.hpp>
#include <ucoro/p2p/detail/pending_operations.hpp>

#include <algorithm>
#include <string>
#include <vector>

using namespace ucoro;
using namespace ucoro::detail;

namespace {

using event_log = std::vector<std::string>;

struct fake_send;

/// Stands for a receive: a cancel by its peer's end is logged, and, as a
/// real one's completion does, untracks it.
struct fake_recv : list_node {
  std::string name;
  event_log* log;
  pending_operations<fake_recv, fake_send>* set;
  void cancel_pending() noexcept {
    log->push_back(name + " cancelled");
    set->untrack(*this);
  }
};

struct fake_send : list_node {
  std::string name;
  event_log* log;
  pending_operations<fake_recv, fake_send>* set;
  void detach(ucs_status_t status) noexcept {
    log->push_back(name + " detached (" + ucs_status_string(status) + ")");
    set->untrack(*this);
  }
};

/// Stands for an owner that a link tells of its failure (an endpoint).
struct fake_user final : peer_link_user {
  event_log* log;
  explicit fake_user(event_log& l) : log(&l) {}
  void link_failed(std::error_code reason) override { log->push_back("user told: " + reason.message()); }
  [[nodiscard]] bool receives_over_shared_memory() const noexcept override { return false; }
};

std::shared_ptr<peer_link> self_link(worker& w) {
  auto& registry = w.use_service<peer_link_registry>();
  return registry.get(registry.worker_address(), true, "this worker");
}

} // namespace

TEST_CASE("a link's failure ends every registered owner's operations, after its users learn why",
          "[unit][peer_link]") {
  context ctx;
  worker w{ctx};
  auto link = self_link(w);
  event_log log;
  fake_user user{log};
  link->add_user(&user);

  // Two owners on one link, as an endpoint and a communicator's rank are.
  pending_operations<fake_recv, fake_send> endpoint_ops, rank_ops;
  endpoint_ops.register_with(*link);
  rank_ops.register_with(*link);
  fake_recv r1{{}, "endpoint recv", &log, &endpoint_ops};
  fake_send s1{{}, "endpoint send", &log, &endpoint_ops};
  fake_recv r2{{}, "rank recv", &log, &rank_ops};
  endpoint_ops.track(r1);
  endpoint_ops.track(s1);
  rank_ops.track(r2);

  link->fail(make_error_code(errc::peer_failed), peer_state::unknown);
  link->remove_user(&user);

  REQUIRE(log.size() == 4);
  CHECK(log[0] == "user told: " + make_error_code(errc::peer_failed).message()); // first: the state says why
  CHECK(std::count(log.begin(), log.end(), "endpoint recv cancelled") == 1);
  CHECK(std::count(log.begin(), log.end(), "endpoint send detached (Request canceled)") == 1);
  CHECK(std::count(log.begin(), log.end(), "rank recv cancelled") == 1);
  CHECK(link->failed());
  CHECK(link->ucp_endpoint() == nullptr); // force-closed after the operations ended
}

TEST_CASE("an owner that goes before its link is not called by the link's failure", "[unit][peer_link]") {
  context ctx;
  worker w{ctx};
  auto link = self_link(w);
  event_log log;
  {
    pending_operations<fake_recv, fake_send> gone;
    gone.register_with(*link);
    fake_recv r{{}, "gone recv", &log, &gone};
    gone.track(r);
    gone.untrack(r);
  } // unregisters itself
  pending_operations<fake_recv, fake_send> kept;
  kept.register_with(*link);
  fake_recv r{{}, "kept recv", &log, &kept};
  kept.track(r);
  link->fail(make_error_code(errc::peer_unresponsive), peer_state::unknown);
  CHECK(log == event_log{"kept recv cancelled"});
}

TEST_CASE("an owner that outlives its link, or moves to another link, answers only to the one it is on",
          "[unit][peer_link]") {
  context ctx;
  worker w{ctx};
  event_log log;
  pending_operations<fake_recv, fake_send> ops;
  fake_recv r{{}, "recv", &log, &ops};
  {
    auto first = self_link(w);
    ops.register_with(*first);
    first->fail(make_error_code(errc::endpoint_closed), peer_state::unknown); // the registry forgets it
    CHECK(log.empty()); // nothing was pending
  } // the first link goes here: `ops` must not point at it any more
  auto second = self_link(w); // a new link: the failed one was forgotten
  ops.register_with(*second);
  ops.track(r);
  second->fail(make_error_code(errc::peer_failed), peer_state::unknown);
  CHECK(log == event_log{"recv cancelled"});
  ops.unregister(); // a no-op after the link's destructor, and twice is fine
  ops.unregister();
}
