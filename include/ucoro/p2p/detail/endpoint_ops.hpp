#pragma once
// The endpoint's send and receive: request_op awaiters on the endpoint's
// tags, tracked in its pending lists so that a close or a failed peer
// completes them instead of stranding them.

#include <ucoro/concepts/buffer.hpp>
#include <ucoro/p2p/detail/endpoint_state.hpp>
#include <ucoro/ucx/detail/request_op.hpp>
#include <ucoro/error.hpp>
#include <ucoro/ucx/tag.hpp>

#include <ucp/api/ucp.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>

namespace ucoro::detail {

/// How long a stopped send may still finish by itself before it is
/// abandoned and its connection closed (ep_send_op::on_stop): a send that
/// is merely slow (a large eager copy) completes well within it.
inline constexpr std::chrono::milliseconds send_stop_grace{100};

/// How long a receive of a message that arrived before its endpoint closed
/// may take (ep_recv_op::post_refused). Fragments that were sent are
/// queued already; only those a dead peer never sent are waited for.
inline constexpr std::chrono::milliseconds unfinished_message_grace{1000};

/// A message of the ordered channel whose sequence number was reserved
/// (endpoint_tags::reserve_sends / reserve_recvs), not taken at posting.
struct reserved_seq {
  std::uint64_t seq;
};

/// UCX's count argument for a message of `bytes` bytes: the bytes
/// themselves, or, for one gathered from or scattered into `iov_count`
/// parts, the parts, with the IOV datatype set in `param`.
[[nodiscard, gnu::always_inline]] inline std::size_t with_datatype(ucp_request_param_t& param, std::size_t bytes,
                                                                   std::size_t iov_count) noexcept {
  if (iov_count == 0) [[likely]]
    return bytes;
  param.op_attr_mask |= UCP_OP_ATTR_FIELD_DATATYPE;
  param.datatype = ucp_dt_make_iov();
  return iov_count;
}

[[nodiscard]] inline std::string parts_text(std::size_t iov_count) {
  return iov_count == 0 ? std::string{} : " in " + std::to_string(iov_count) + " parts";
}

/// An operation's reference to its endpoint state: a plain (non-atomic)
/// count, because operations live on the worker's thread. While any
/// operation holds one, the state outlives its last shared owner (see
/// make_endpoint_state), so a receive cancelled by a close can still read
/// the close reason when it resumes after the endpoint is gone.
class state_ref {
public:
  explicit state_ref(endpoint_state* state) noexcept : m_state(state) { ++m_state->m_live_ops; }
  state_ref(const state_ref& other) noexcept : state_ref(other.m_state) {}
  state_ref& operator=(const state_ref&) = delete;
  ~state_ref() {
    if (--m_state->m_live_ops == 0 && m_state->m_orphaned)
      delete m_state;
  }
  endpoint_state* operator->() const noexcept { return m_state; }
  endpoint_state& operator*() const noexcept { return *m_state; }

private:
  endpoint_state* m_state;
};

/// Creates endpoint state owned by shared_ptr whose deleter waits for the
/// last operation referring to it.
template <class... Args>
[[nodiscard]] std::shared_ptr<endpoint_state> make_endpoint_state(Args&&... args) {
  return std::shared_ptr<endpoint_state>(new endpoint_state(std::forward<Args>(args)...), [](endpoint_state* s) {
    if (s->m_live_ops == 0)
      delete s;
    else
      s->m_orphaned = true;
  });
}

/// Send on an endpoint: the endpoint's next data tag; a closed endpoint
/// fails at once with its close reason.
class ep_send_op : public request_op<ep_send_op, void>, public list_node {
  friend class request_op<ep_send_op, void>;
  friend class verdict_wait<ep_send_op>;
  friend class pending_operations<ep_recv_op, ep_send_op>;

public:
  ep_send_op(endpoint_state& state, buffer_view<const void> view)
      : request_op(state.get_worker().engine()), m_state(&state), m_view(view) {}
  /// A tagged send: `tag` (a UCX tag in the endpoint_tagged space) as given,
  /// outside the ordered channel's sequence.
  ep_send_op(endpoint_state& state, buffer_view<const void> view, tag_t tag)
      : request_op(state.get_worker().engine()), m_state(&state), m_view(view), m_tag(tag), m_tagged(true),
        m_given_tag(true) {}
  /// The ordered channel's message `r` (send_many's parts).
  ep_send_op(endpoint_state& state, buffer_view<const void> view, reserved_seq r)
      : request_op(state.get_worker().engine()), m_state(&state), m_view(view), m_tag(state.tags().send_tag_of(r.seq)),
        m_given_tag(true) {}
  /// The ordered channel's message `r`, gathered from `count` host-memory
  /// parts (UCX's IOV datatype), `bytes` in all (send_many).
  ep_send_op(endpoint_state& state, const ucp_dt_iov_t* iov, std::size_t count, std::size_t bytes, reserved_seq r)
      : request_op(state.get_worker().engine()), m_state(&state), m_view{iov, bytes, memory_type::host},
        m_tag(state.tags().send_tag_of(r.seq)), m_given_tag(true), m_iov_count(count) {}
  ep_send_op(ep_send_op&& other) noexcept
      : request_op(std::move(other)), list_node{}, m_state(other.m_state), m_view(other.m_view), m_tag(other.m_tag),
        m_tagged(other.m_tagged), m_given_tag(other.m_given_tag), m_iov_count(other.m_iov_count) {}
  ~ep_send_op() {
    disarm_grace();
    if (m_linked)
      m_state->pending().untrack(*this);
  }

private:
  ucs_status_ptr_t post(ucp_request_param_t& param) {
    if (const ucs_status_t refused = m_state->refusal(m_view.memory); refused != UCS_OK)
      return UCS_STATUS_PTR(refused);
    prepare_send(param);
    if (m_view.size < m_state->fast_completion_below())
      param.op_attr_mask |= UCP_OP_ATTR_FLAG_FAST_CMPL;
    if (!m_given_tag)
      m_tag = m_state->tags().next_send_tag();
    m_posted = true;
    return post_tag_send(m_state->ucp_endpoint(), m_view.data, with_datatype(param, m_view.size, m_iov_count), m_tag,
                         to_ucs(m_view.memory), param);
  }
  void on_pending() noexcept {
    m_state->pending().track(*this);
    m_linked = true;
  }
  void on_done(ucs_status_t) noexcept {
    disarm_grace();
    if (m_linked) {
      m_state->pending().untrack(*this);
      m_linked = false;
    }
  }

  /// A stop request (with_timeout, with_stop_token, a failed when_all
  /// sibling): request_op::stop_send's rule, with send_stop_grace.
  void on_stop() noexcept {
    m_stopped = true;
    stop_send(m_grace, send_stop_grace);
  }
  /// The grace ran out: the awaiter resumes with operation_canceled, and
  /// the connection is force-closed (errc::send_abandoned), which stops UCX
  /// from touching the buffer and tells every other operation on it why.
  void abandoned() noexcept {
    const auto state = m_state->shared_from_this(); // the resumed awaiter may drop the endpoint
    detach(UCS_ERR_CANCELED);
    state->abandon_link(make_error_code(errc::send_abandoned));
  }
  /// Asked at every completion: the common case (success) stays inline,
  /// the failure's checks do not (GCC inlined a whole hold() into every
  /// await_suspend or none of it: +8 instructions a message out of line).
  [[nodiscard, gnu::always_inline]] bool hold(ucs_status_t status) noexcept {
    return status != UCS_OK && hold_failed(status);
  }
  [[nodiscard, gnu::noinline]] bool hold_failed(ucs_status_t status) noexcept {
    if (status == UCS_ERR_CANCELED && m_stopped)
      return false; // the caller's stop
    if (!m_state->awaits_verdict(status, status == UCS_ERR_CANCELED && m_posted))
      return false;
    disarm_grace();
    m_wait.hold(*this, m_state->pending().held(), engine(), peer_exit_grace);
    return true;
  }
  void end_hold(verdict) noexcept { release(); }
  void disarm_grace() noexcept { m_state->get_worker().engine().remove_timer(m_grace); }

  void value() const noexcept {}
  [[nodiscard]] std::error_code error_code(ucs_status_t status) const noexcept {
    if (status == UCS_ERR_MESSAGE_TRUNCATED || status == UCS_ERR_UNSUPPORTED)
      return make_error_code(status);
    if (status == UCS_ERR_CANCELED && m_stopped)
      return make_error_code(status); // the caller's stop, before posting or abandoned after
    // Cancelled before posting: the caller's stop token. After: UCX's doing.
    return m_state->operation_error(status, status == UCS_ERR_CANCELED && m_posted);
  }
  [[nodiscard]] std::string describe(ucs_status_t status) const {
    // The code's message follows (ucx_error adds it): only the context here.
    std::string out = "send of " + std::to_string(m_view.size) + " bytes of " + to_string(m_view.memory) +
                      " memory" + parts_text(m_iov_count) + " to " + m_state->peer();
    if (m_tagged)
      out += " (tag " + hex(m_tag & ~tag_layout::space_mask) + ")";
    if (status == UCS_ERR_UNSUPPORTED)
      out += ": " + unsupported_memory_text(to_ucs(m_view.memory));
    return out;
  }

  state_ref m_state;
  buffer_view<const void> m_view;
  tag_t m_tag = 0;
  bool m_tagged = false;    ///< the endpoint_tagged space's, not the ordered channel's
  bool m_given_tag = false; ///< m_tag is set (tagged, or a reserved message of the channel)
  std::size_t m_iov_count = 0; ///< 0: m_view is one contiguous buffer
  bool m_posted = false;
  bool m_linked = false;
  bool m_stopped = false;
  op_timer<ep_send_op> m_grace;
  verdict_wait<ep_send_op> m_wait;
};

/// Receive on an endpoint; tracked by the endpoint so that closing it (or
/// the peer closing or dying) fails this receive instead of stranding it.
class ep_recv_op : public request_op<ep_recv_op, std::size_t>, public list_node {
  friend class request_op<ep_recv_op, std::size_t>;
  friend class verdict_wait<ep_recv_op>;
  friend class pending_operations<ep_recv_op, ep_send_op>;

public:
  ep_recv_op(endpoint_state& state, buffer_view<void> view)
      : request_op(state.get_worker().engine()), m_state(&state), m_view(view) {}
  /// A tagged receive: the message with `tag` (endpoint_tagged space),
  /// outside the ordered channel's sequence and its receive count.
  ep_recv_op(endpoint_state& state, buffer_view<void> view, tag_t tag)
      : request_op(state.get_worker().engine()), m_state(&state), m_view(view), m_tag(tag), m_tagged(true),
        m_given_tag(true) {}
  /// The ordered channel's message `r` (recv_many's header and parts).
  ep_recv_op(endpoint_state& state, buffer_view<void> view, reserved_seq r)
      : request_op(state.get_worker().engine()), m_state(&state), m_view(view), m_tag(state.tags().recv_tag_of(r.seq)),
        m_given_tag(true), m_seq(r.seq) {}
  /// The ordered channel's message `r`, scattered into `count` host-memory
  /// parts (UCX's IOV datatype), `bytes` in all (recv_many).
  ep_recv_op(endpoint_state& state, const ucp_dt_iov_t* iov, std::size_t count, std::size_t bytes, reserved_seq r)
      : request_op(state.get_worker().engine()), m_state(&state),
        m_view{const_cast<ucp_dt_iov_t*>(iov), bytes, memory_type::host}, m_tag(state.tags().recv_tag_of(r.seq)),
        m_given_tag(true), m_iov_count(count), m_seq(r.seq) {}
  ep_recv_op(ep_recv_op&& other) noexcept
      : request_op(std::move(other)), list_node{}, m_state(other.m_state), m_view(other.m_view), m_tag(other.m_tag),
        m_tagged(other.m_tagged), m_given_tag(other.m_given_tag), m_iov_count(other.m_iov_count), m_seq(other.m_seq) {}
  ~ep_recv_op() {
    if (m_linked)
      m_state->pending().untrack(*this);
    if (m_after_close) [[unlikely]]
      engine().remove_timer(m_give_up);
  }

private:
  ucs_status_ptr_t post(ucp_request_param_t& param) {
    if (const ucs_status_t refused = m_state->refusal(m_view.memory); refused != UCS_OK) [[unlikely]]
      return post_refused(refused, param);
    prepare_recv(param);
    param.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMORY_TYPE;
    param.memory_type = to_ucs(m_view.memory);
    if (!m_given_tag)
      m_tag = m_state->tags().next_recv_tag(m_seq);
    m_posted = true;
    ucp_worker_h worker = m_state->get_worker().ucp_worker();
    return post_tag_recv(worker, m_view.data, with_datatype(param, m_view.size, m_iov_count), m_tag,
                         tag_layout::full_mask, param);
  }
  /// The endpoint is closed. If its peer closed it or failed (not this
  /// side), what the peer sent before may still wait in UCX's unexpected
  /// queue: it is delivered, and receives fail with the close reason only
  /// once none is left. The rest of a multi-fragment message from a peer
  /// that died mid-way never comes: such a receive is given up after
  /// unfinished_message_grace.
  [[gnu::noinline]] ucs_status_ptr_t post_refused(ucs_status_t refused, ucp_request_param_t& param) {
    if (refused != UCS_ERR_NOT_CONNECTED || !m_state->closed() || m_state->close_reason() == errc::endpoint_closed)
      return UCS_STATUS_PTR(refused);
    prepare_recv(param);
    param.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMORY_TYPE;
    param.memory_type = to_ucs(m_view.memory);
    if (!m_given_tag)
      m_tag = m_state->tags().next_recv_tag(m_seq);
    auto posted = post_arrived_tag_recv(m_state->get_worker().ucp_worker(), m_view.data,
                                        with_datatype(param, m_view.size, m_iov_count), m_tag, tag_layout::full_mask,
                                        param);
    if (!posted)
      return UCS_STATUS_PTR(refused);
    m_after_close = true;
    return *posted;
  }
  void on_pending() noexcept {
    if (m_after_close) [[unlikely]] {
      give_up_after(unfinished_message_grace);
      return; // the endpoint's pending lists were ended with its close
    }
    m_state->pending().track(*this);
    m_linked = true;
  }
  void give_up_after(std::chrono::milliseconds grace) noexcept {
    m_give_up.op = this;
    m_give_up.deadline = clock::now() + grace;
    m_give_up.fire = [](timer_node* node) noexcept {
      static_cast<op_timer<ep_recv_op>*>(node)->op->detach(UCS_ERR_NOT_CONNECTED);
    };
    engine().add_timer(m_give_up);
  }
  void on_recv_info(const ucp_tag_recv_info_t& info) noexcept { m_info = info; }
  void on_done(ucs_status_t status) noexcept {
    if (m_linked) {
      m_state->pending().untrack(*this);
      m_linked = false;
    }
    if (m_after_close) [[unlikely]] {
      engine().remove_timer(m_give_up);
      return; // the endpoint is closed: nothing to count towards
    }
    if (m_tagged)
      return; // not the ordered channel's: no sequence, not counted for close_after_n_recv
    if (status == UCS_OK || status == UCS_ERR_MESSAGE_TRUNCATED)
      m_state->on_recv_completed();
    else if (status == UCS_ERR_CANCELED && m_posted)
      m_state->tags().return_recv_seq(m_seq);
  }
  /// As the send's: the success check inline, the rest not.
  [[nodiscard, gnu::always_inline]] bool hold(ucs_status_t status) noexcept {
    return status != UCS_OK && hold_failed(status);
  }
  [[nodiscard, gnu::noinline]] bool hold_failed(ucs_status_t status) noexcept {
    // NOT_CONNECTED: the endpoint's own close (error_code gives its reason).
    if (status == UCS_ERR_NOT_CONNECTED || !m_state->awaits_verdict(status, false))
      return false;
    m_wait.hold(*this, m_state->pending().held(), engine(), peer_exit_grace);
    return true;
  }
  void end_hold(verdict) noexcept { release(); }
  /// Its endpoint closed or failed (pending_operations::cancel_receives):
  /// the receive reports the close reason.
  void cancel_pending() noexcept {
    m_cancelled_by_close = true;
    cancel_request();
  }
  [[nodiscard]] std::size_t value() const noexcept { return m_info.length; }
  [[nodiscard]] std::error_code error_code(ucs_status_t status) const noexcept {
    if (status == UCS_ERR_NOT_CONNECTED || m_cancelled_by_close)
      return m_state->close_reason();
    if (m_after_close && status != UCS_ERR_MESSAGE_TRUNCATED) // the dead peer's message could not be read
      return m_state->close_reason();
    if (status == UCS_ERR_MESSAGE_TRUNCATED || status == UCS_ERR_UNSUPPORTED || status == UCS_ERR_CANCELED)
      return make_error_code(status);
    return m_state->operation_error(status);
  }
  [[nodiscard]] std::string describe(ucs_status_t status) const {
    // The code's message follows (ucx_error adds it): only the context here.
    std::string out = "recv of " + std::to_string(m_view.size) + " bytes of " + to_string(m_view.memory) +
                      " memory" + parts_text(m_iov_count) + " from " + m_state->peer();
    if (m_tagged)
      out += " (tag " + hex(m_tag & ~tag_layout::space_mask) + ")";
    if (status == UCS_ERR_UNSUPPORTED)
      out += ": " + unsupported_memory_text(to_ucs(m_view.memory));
    if (status == UCS_ERR_MESSAGE_TRUNCATED && m_info.length > m_view.size)
      out += ": the peer sent " + std::to_string(m_info.length) + " bytes";
    return out;
  }

  state_ref m_state;
  buffer_view<void> m_view;
  ucp_tag_recv_info_t m_info{};
  tag_t m_tag = 0;
  bool m_tagged = false;    ///< the endpoint_tagged space's, not the ordered channel's
  bool m_given_tag = false; ///< m_tag is set (tagged, or a reserved message of the channel)
  std::size_t m_iov_count = 0; ///< 0: m_view is one contiguous buffer
  std::uint64_t m_seq = 0;
  bool m_posted = false;
  bool m_linked = false;
  bool m_cancelled_by_close = false;
  bool m_after_close = false;
  verdict_wait<ep_recv_op> m_wait;
  op_timer<ep_recv_op> m_give_up;
};

inline void endpoint_state::cancel_pending_receives() noexcept { m_pending.cancel_receives(); }
inline void endpoint_state::register_operations() noexcept { m_pending.register_with(*m_link); }

} // namespace ucoro::detail
