#pragma once
// The operations in flight with one peer, for endpoint and communicator
// operations alike (an endpoint's, and a communicator's per rank), and how a
// failure or a close ends them, written once:
//  - receives are cancelled: UCX's tag receives belong to the worker, not to
//    an endpoint, so closing or failing a UCX endpoint would not end them;
//  - sends are detached (request_op::detach): in UCX's mode none a force
//    close leaves a rendezvous send to a dead peer pending forever;
//  - operations held for the failure verdict (verdict_hold.hpp) get it.
// An operation is tracked while UCX holds its request. Each receive type
// says what a cancel by its peer's end means to it (cancel_pending()).
// The set is registered with its peer link (link_operations), whose failure
// ends it in the one order of peer_link::fail; its owner ends it too when
// the owner closes or learns of the failure another way.

#include <ucoro/p2p/detail/peer_link.hpp>
#include <ucoro/p2p/detail/verdict_hold.hpp>
#include <ucoro/runtime/detail/intrusive_list.hpp>

#include <ucp/api/ucp.h>

namespace ucoro::detail {

template <class RecvOp, class SendOp>
class pending_operations final : public link_operations {
public:
  pending_operations() noexcept = default;
  pending_operations(const pending_operations&) = delete;
  pending_operations& operator=(const pending_operations&) = delete;

  void track(RecvOp& op) noexcept { m_recvs.push_front(op); }
  void untrack(RecvOp& op) noexcept { m_recvs.erase(op); }
  void track(SendOp& op) noexcept { m_sends.push_front(op); }
  void untrack(SendOp& op) noexcept { m_sends.erase(op); }

  /// Registers the set with `link` (link_operations), whose failure calls
  /// fail_all. Called where RecvOp and SendOp are complete.
  void register_with(peer_link& link) noexcept {
    link_operations::register_with(link, [](link_operations& self) noexcept {
      static_cast<pending_operations&>(self).fail_all();
    });
  }

  /// Operations that failed in the transport, waiting for the verdict.
  [[nodiscard]] held_operations& held() noexcept { return m_held; }

  /// Every pending receive is cancelled; each completes through its usual
  /// path, which untracks it.
  void cancel_receives() noexcept {
    for (RecvOp* op : m_recvs.template snapshot<RecvOp>())
      op->cancel_pending();
  }
  /// Every pending send completes now with UCS_ERR_CANCELED, its request
  /// handed back to UCX.
  void detach_sends() noexcept {
    for (SendOp* op : m_sends.template snapshot<SendOp>())
      op->detach(UCS_ERR_CANCELED);
  }
  /// The peer's failure is known: held operations report it.
  void deliver_verdict() noexcept { m_held.deliver(); }

  /// The peer failed: all of the above.
  void fail_all() noexcept {
    cancel_receives();
    detach_sends();
    deliver_verdict();
  }

private:
  intrusive_list m_recvs;
  intrusive_list m_sends;
  held_operations m_held;
};

} // namespace ucoro::detail
