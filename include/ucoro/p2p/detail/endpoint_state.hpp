#pragma once
// What one ucoro endpoint is, on its peer link (peer_link.hpp, shared with
// every endpoint to the same worker): its tags (endpoint_tags.hpp), its
// pending operations, its control channel, and its parts with one job each:
// the close count (close_count.hpp), how its peer's failure is detected
// (failure_watch.hpp). Heartbeats and failing once are the link's.
//
// Lifetime: the rule in docs/design.md ("Lifetimes"). Here: the endpoint
// handle and the tasks of its control channel own the state (shared_ptr);
// an operation in flight holds a state_ref (endpoint_ops.hpp), and the
// state's deleter waits for the last one (make_endpoint_state), so a
// receive cancelled by a close can still read the close reason after the
// handle is dropped; the link knows it as a registration (peer_link_user),
// removed in the destructor.

#include <ucoro/error.hpp>
#include <ucoro/p2p/detail/peer_link_registry.hpp>
#include <ucoro/p2p/detail/control.hpp>
#include <ucoro/p2p/detail/close_count.hpp>
#include <ucoro/p2p/detail/endpoint_tags.hpp>
#include <ucoro/p2p/detail/failure_watch.hpp>
#include <ucoro/p2p/detail/pending_operations.hpp>
#include <ucoro/p2p/detail/verdict_hold.hpp>
#include <ucoro/runtime/detail/intrusive_list.hpp>
#include <ucoro/runtime/event.hpp>
#include <ucoro/runtime/task.hpp>
#include <ucoro/runtime/timer.hpp>
#include <ucoro/ucx/detail/request_op.hpp>
#include <ucoro/ucx/tag.hpp>
#include <ucoro/ucx/worker.hpp>

#include <ucp/api/ucp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <cstddef>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ucoro::detail {

/// send_completion::automatic on shared-memory lanes: fast completion for
/// sends below 64 KiB only. Fast completion keeps UCX eager up to its "nbr"
/// threshold (256 KiB here): at 16 KiB that was 0.60-0.68x ucx_perftest's
/// latency, at 32 KiB 0.86-0.91x, but at 64 KiB 2 launches in 3 ran at
/// 25-32 us one-way against 7 us for the rendezvous (`bench/send_recv
/// --sizes 64K --completion fast|standard`, docs/performance.md).
inline constexpr std::size_t automatic_fast_completion_below = 64 * 1024;

/// How long an operation that failed with a transport error is held
/// (verdict_hold.hpp) for the peer's pidfd to confirm its exit.
inline constexpr std::chrono::milliseconds peer_exit_grace{50};

class ep_recv_op;
class ep_send_op;

/// Everything an endpoint is; shared by the endpoint handle, its control
/// loop and in-flight background closes.
class endpoint_state final : public std::enable_shared_from_this<endpoint_state>, private peer_link_user {
public:
  endpoint_state(worker& w, std::string peer, const endpoint_options& options)
      : m_worker(&w), m_peer(std::move(peer)), m_tags(options.guarantee_msg_order),
        m_failure_watch(options, "endpoint to " + m_peer), m_close_timeout(options.close_timeout), m_completion(options.completion), m_close_ack(w.engine()) {}

  ~endpoint_state() {
    if (m_link) {
      m_link->forget_heartbeat(this);
      m_link->remove_user(this);
    }
  }

  endpoint_state(const endpoint_state&) = delete;
  endpoint_state& operator=(const endpoint_state&) = delete;

  // ---- setup -----------------------------------------------------------------

  /// Joins `conn`, sending to the peer's tags; `reason` says how the error
  /// mode was chosen.
  void attach(std::shared_ptr<peer_link> conn, tag_t peer_msg, tag_t peer_ctrl, std::string reason) {
    m_link = std::move(conn);
    m_link->add_user(this);
    register_operations();
    m_tags.send_to(peer_msg, peer_ctrl);
    m_failure_watch.attached(*m_link, std::move(reason));
    m_fast_completion_below = m_completion == send_completion::fast ? std::numeric_limits<std::size_t>::max()
                              : m_completion == send_completion::automatic && m_link->lanes().local
                                  ? automatic_fast_completion_below
                                  : 0;
  }

  /// After the handshake: how the peer's failure is detected
  /// (failure_watch), then the control channel, and the heartbeat if one
  /// was chosen.
  void start(const process_identity& peer) {
    watch_process(peer);
    m_has_control = true;
    spawn_controlled(control_loop(shared_from_this()));
    if (m_failure_watch.watch_heartbeat(*m_link, this))
      request_heartbeat();
  }

  /// Chooses how the peer's failure is detected (failure_watch::choose).
  void watch_process(const process_identity& peer) { m_failure_watch.choose(*m_link, *m_worker, peer); }

  [[nodiscard]] const failure_detection& detection() const noexcept { return m_failure_watch.detection(); }
  /// A layer above whose two sides each watch the other (the communicator's
  /// ranks) watches this peer (failure_watch::watch_each_other).
  void watch_each_other(const heartbeat_options& hb, const std::string& why) {
    if (m_link)
      m_failure_watch.watch_each_other(*m_link, this, hb, why);
  }
  /// Its tags and sequence numbers.
  [[nodiscard]] endpoint_tags& tags() noexcept { return m_tags; }
  [[nodiscard]] const endpoint_tags& tags() const noexcept { return m_tags; }

  // ---- data path -----------------------------------------------------------------

  /// Its operations in flight (pending_operations.hpp).
  [[nodiscard]] pending_operations<ep_recv_op, ep_send_op>& pending() noexcept { return m_pending; }
  /// Whether an operation that failed with `status` waits for the verdict:
  /// a transport failure (or a send UCX discarded) while the peer's process
  /// is watched, whose pidfd says within peer_exit_grace whether it died.
  [[nodiscard]] bool awaits_verdict(ucs_status_t status, bool discarded) const noexcept {
    return (discarded || is_transport_failure(status)) && !m_closed && m_link && m_link->process_watched();
  }

  /// Every received message: a count and a compare, the close out of line.
  void on_recv_completed() {
    if (const close_count::reached what = m_count.on_received(); what != close_count::reached::not_yet) [[unlikely]]
      close_when(what);
  }

  void close_after_n_recv(std::uint64_t n, bool count_from_ep_creation) {
    close_when(m_count.close_after(n, count_from_ep_creation, m_peer));
  }

  // ---- closing ---------------------------------------------------------------------

  [[nodiscard]] bool closed() const noexcept { return m_closed; }
  [[nodiscard]] std::error_code close_reason() const noexcept { return m_close_reason; }

  void set_close_callback(std::function<void(std::error_code)> fn) {
    m_close_callback = std::move(fn);
    if (m_closed && !m_close_callback_ran)
      run_close_callback();
  }

  /// Graceful close: tell the peer how many messages to expect, wait for its
  /// acknowledgement (bounded), then release. Never throws for a peer that
  /// does not answer.
  task<void> close() {
    if (m_closed || m_closing) {
      if (m_closed)
        release();
      co_return;
    }
    m_closing = true;
    auto keep_alive = shared_from_this();
    if (m_has_control) {
      control_message msg{control_message::close, 0, m_tags.send_count()};
      auto sent = co_await as_result(with_timeout(send_control(msg), m_close_timeout));
      if (sent)
        (void)co_await as_result(with_timeout(m_close_ack.wait(), m_close_timeout));
    }
    local_close(make_error_code(errc::endpoint_closed));
    release();
  }

  /// Immediate close: pending operations fail with endpoint_closed.
  void abort() { fail(make_error_code(errc::endpoint_closed)); }

  /// Fails the endpoint with `reason` (heartbeat silence, handshake failure).
  void fail(std::error_code reason) {
    local_close(reason);
    release();
  }

  /// Gives up on the whole connection (a send abandoned after a stop): every
  /// endpoint on it fails with `reason` and UCX's endpoint is force-closed.
  /// The peer process is not known to be gone.
  void abandon_link(std::error_code reason) {
    auto keep_alive = shared_from_this();
    if (m_link)
      m_link->fail(reason, peer_state::unknown);
    else
      fail(reason);
  }

  // ---- queries ---------------------------------------------------------------------

  [[nodiscard]] ucp_ep_h ucp_endpoint() const noexcept { return m_link ? m_link->ucp_endpoint() : nullptr; }
  [[nodiscard]] const std::shared_ptr<peer_link>& link() const noexcept { return m_link; }
  [[nodiscard]] worker& get_worker() const noexcept { return *m_worker; }
  [[nodiscard]] const std::string& peer() const noexcept { return m_peer; }
  [[nodiscard]] bool fast_completion() const noexcept { return m_fast_completion_below != 0; }
  /// Sends shorter than this complete fast (UCP_OP_ATTR_FLAG_FAST_CMPL).
  [[nodiscard]] std::size_t fast_completion_below() const noexcept { return m_fast_completion_below; }
  /// Messages arrive over sysv/posix (the worker's shared-memory FIFO).
  [[nodiscard]] bool uses_shared_memory() const noexcept { return m_link && m_link->lanes().shared_memory; }
  /// The message size from which UCX sends by rendezvous on this
  /// endpoint (0: unknown).
  [[nodiscard]] std::size_t rendezvous_from() const noexcept { return m_link ? m_link->lanes().rendezvous_from : 0; }
  [[nodiscard]] std::uint64_t recv_count() const noexcept { return m_count.received(); }

  /// Why an operation on `memory` must fail before posting (UCS_OK: it may
  /// be posted): the endpoint is closed, or this UCX cannot move that memory.
  [[nodiscard]] ucs_status_t refusal(memory_type memory) const noexcept {
    if (m_closed || ucp_endpoint() == nullptr)
      return UCS_ERR_NOT_CONNECTED;
    if (!m_worker->engine().supports_memory(to_ucs(memory)))
      return UCS_ERR_UNSUPPORTED;
    return UCS_OK;
  }

  /// Why an operation failed with `status`, for the operation itself (called
  /// as it resumes, on the worker's thread, outside UCX). A transport error
  /// means the connection is unusable, and it may be the first sign: UCX's
  /// error callback is still on its way (peer mode), or there is none (mode
  /// none: a CMA read from an exited process, a reset connection). So the
  /// connection fails now, with this reason, before the caller can drop it.
  /// When the peer's pidfd confirmed its exit while the operation was held
  /// (awaits_verdict), the endpoint is closed already and the reason is
  /// errc::peer_failed. `discarded`: UCX cancelled a posted send itself,
  /// which it does when it fails the endpoint.
  [[nodiscard]] std::error_code operation_error(ucs_status_t status, bool discarded = false) {
    if (m_closed)
      return m_close_reason;
    if (!discarded && !is_transport_failure(status))
      return make_error_code(status);
    const ucs_status_t ucx_reason = m_link ? m_link->ucx_error_status() : UCS_OK;
    const std::error_code reason =
        make_error_code(ucx_reason != UCS_OK                           ? ucx_reason
                        : status == UCS_ERR_NOT_CONNECTED || discarded ? UCS_ERR_CONNECTION_RESET
                                                                       : status);
    auto keep_alive = shared_from_this();
    if (m_link)
      m_link->fail(reason, peer_state::gone);
    else
      fail(reason);
    return m_closed ? m_close_reason : reason;
  }

private:
  /// The link failed: the endpoint closes with its reason. Its operations
  /// are the link's to end next (peer_link::fail).
  void link_failed(std::error_code reason) override {
    auto keep_alive = shared_from_this();
    fail(reason);
  }
  [[nodiscard]] bool receives_over_shared_memory() const noexcept override { return uses_shared_memory(); }

  /// The close count was reached (close_count): acts from the loop, since
  /// a receive's completion may run inside a UCX callback.
  [[gnu::noinline]] void close_when(close_count::reached what) {
    if (what == close_count::reached::peer_closed)
      m_worker->post([self = shared_from_this()] { self->peer_close_complete(); });
    else if (what == close_count::reached::user_close)
      m_worker->post([self = shared_from_this()] { self->m_worker->spawn(self->close()); });
  }

  /// The peer said it sent N messages and all N have arrived: acknowledge,
  /// then close with closed_by_peer.
  void peer_close_complete() {
    if (m_closed)
      return;
    local_close(make_error_code(errc::closed_by_peer));
    // Acknowledge even when our own close() is under way: both sides closing
    // at once each wait for the other's ack, and without it both would sit
    // out close_timeout. That close() releases once the peer's ack arrives.
    const bool release_after_ack = !m_closing;
    m_closing = true;
    m_worker->spawn([](std::shared_ptr<endpoint_state> self, bool release_after_ack) -> task<void> {
      control_message ack{control_message::close_ack, 0, self->m_count.received()};
      (void)co_await as_result(with_timeout(self->send_control(ack), self->m_close_timeout));
      if (release_after_ack)
        self->release();
    }(shared_from_this(), release_after_ack));
  }

  void local_close(std::error_code reason) {
    if (m_closed)
      return;
    m_closed = true;
    m_close_reason = reason;
    if (m_link)
      m_link->forget_heartbeat(this); // this endpoint no longer watches, nor beats for its peer
    cancel_pending_receives();
    m_pending.deliver_verdict(); // operations held for the verdict: this is it
    // A close() waiting for the peer's ack is released: no ack will come.
    // Except when both sides closed at once: the peer acknowledges our
    // close as we do its (peer_close_complete), and close() waits for that
    // ack, or it would arrive after the control loop stopped and sit
    // unmatched (UCX warned of it at every simultaneous close).
    if (!(m_closing && reason == errc::closed_by_peer))
      m_close_ack.set();
    run_close_callback();
  }


  // Defined in endpoint_ops.hpp, where the operation types are complete.
  void cancel_pending_receives() noexcept;
  void register_operations() noexcept;

  void run_close_callback() {
    if (m_close_callback_ran || !m_close_callback)
      return;
    m_close_callback_ran = true;
    auto fn = std::move(m_close_callback);
    try {
      fn(m_close_reason);
    } catch (...) {
      // Not lost: kept with the worker's spawned-task errors.
      m_worker->spawned().report(std::current_exception());
    }
  }

  /// Stops the control channel. The UCX connection stays for other
  /// endpoints to the same peer.
  void release() { m_control_stop.request_stop(); }

  /// Asks the peer to beat to this side (failure_watch chose a heartbeat).
  void request_heartbeat() {
    spawn_controlled([](std::shared_ptr<endpoint_state> self) -> task<void> {
      const heartbeat_options& hb = self->m_failure_watch.heartbeat();
      control_message request{control_message::heartbeat_request, 0, static_cast<std::uint64_t>(hb.interval.count())};
      (void)co_await as_result(with_timeout(self->send_control(request), hb.timeout));
    }(shared_from_this()));
  }

  /// Spawns a task that stops with the control channel.
  void spawn_controlled(task<void> t) {
    t.set_stop_token(m_control_stop.get_token());
    m_worker->spawn(std::move(t));
  }

public:
  task<void> send_control(control_message msg) {
    if (ucp_endpoint() == nullptr)
      throw ucx_error(make_error_code(errc::endpoint_closed), "control message to " + m_peer + ": not connected");
    const auto wire = msg.encode();
    co_await tag_send_op(m_worker->engine(), ucp_endpoint(), wire.data(), wire.size(), m_tags.send_ctrl_tag(),
                         UCS_MEMORY_TYPE_HOST, peer_label{&m_peer});
  }

private:
  static task<void> control_loop(std::shared_ptr<endpoint_state> self) {
    std::array<std::byte, control_message::wire_size> wire{};
    while (!self->m_control_stop.stop_requested()) {
      auto r = co_await tag_recv_op(self->m_worker->engine(), wire.data(), wire.size(), self->m_tags.recv_ctrl_tag(),
                                    tag_layout::full_mask, UCS_MEMORY_TYPE_HOST, peer_label{&self->m_peer})
                   .nothrow();
      if (!r)
        co_return; // stopped or failed: the endpoint is closing
      const auto msg = control_message::decode(std::span(wire).first(std::min(r.value.length, wire.size())));
      if (!msg)
        continue; // not a control message of ours: ignored, as UDP-style noise
      if (msg->type == control_message::close) {
        if (self->m_count.peer_closed(msg->count) == close_count::reached::peer_closed)
          self->peer_close_complete(); // on the loop already
      } else if (msg->type == control_message::close_ack) {
        self->m_close_ack.set();
      } else if (msg->type == control_message::heartbeat_request && !self->m_closed && self->m_link) {
        self->m_link->send_heartbeats(self.get(), std::chrono::milliseconds(static_cast<std::int64_t>(msg->count)));
      }
    }
  }

  worker* m_worker;
  std::shared_ptr<peer_link> m_link;
  std::string m_peer;
  endpoint_tags m_tags;
  failure_watch m_failure_watch;
  std::chrono::milliseconds m_close_timeout;
  send_completion m_completion;
  std::size_t m_fast_completion_below = 0;

  close_count m_count;
  bool m_has_control = false;
  bool m_closing = false;
  bool m_closed = false;
  std::error_code m_close_reason;
  std::function<void(std::error_code)> m_close_callback;
  bool m_close_callback_ran = false;
  pending_operations<ep_recv_op, ep_send_op> m_pending;
  std::stop_source m_control_stop;
  event m_close_ack;

  friend class state_ref;
  template <class... Args>
  friend std::shared_ptr<endpoint_state> make_endpoint_state(Args&&...);
  std::size_t m_live_ops = 0;
  bool m_orphaned = false;
};

} // namespace ucoro::detail
