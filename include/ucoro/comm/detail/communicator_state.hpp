#pragma once
// A communicator's shared state and its two operations. A send or receive
// between ranks is one UCX tag request awaited in place (request_op: no
// allocation), tracked by its rank's pending_operations while UCX holds it,
// so that the rank's failure fails it: receives are cancelled, sends
// detached (UCX 1.13 may never complete a rendezvous send to a dead peer).
// That is the whole per-message cost over a bare endpoint: a list link and
// a flag.

#include <ucoro/comm/bootstrap_method.hpp>
#include <ucoro/comm/detail/tag_fields.hpp>
#include <ucoro/error.hpp>
#include <ucoro/p2p/detail/heartbeat.hpp>
#include <ucoro/p2p/detail/hello.hpp>
#include <ucoro/p2p/detail/peer_link_registry.hpp>
#include <ucoro/p2p/detail/pending_operations.hpp>
#include <ucoro/p2p/detail/verdict_hold.hpp>
#include <ucoro/p2p/endpoint.hpp>
#include <ucoro/runtime/detail/intrusive_list.hpp>
#include <ucoro/runtime/event.hpp>
#include <ucoro/ucx/detail/request_op.hpp>
#include <ucoro/ucx/worker.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <optional>
#include <string>
#include <vector>

namespace ucoro {

namespace detail {

class comm_send_op;
class comm_recv_op;

struct communicator_state : std::enable_shared_from_this<communicator_state> {
  worker* w = nullptr;
  std::uint32_t rank = 0;
  std::uint32_t size = 1;
  bootstrap_method method = bootstrap_method::singleton;
  std::vector<hello::table_entry> table;          ///< every rank's entry, indexed by rank
  std::vector<std::optional<endpoint>> peers;     ///< indexed by rank (self included); made by connect()
  std::vector<char> failed;                       ///< per rank: it failed (not vector<bool>: read per message)
  std::vector<std::unique_ptr<event>> failure_known; ///< set when `failed` is, to await
  /// Per rank: operations UCX holds, and failed ones waiting to learn whether it died.
  std::unique_ptr<pending_operations<comm_recv_op, comm_send_op>[]> pending;
  std::vector<std::uint32_t> failed_ranks;        ///< in the order they failed
  std::uint32_t collective_round = 0;             ///< batch field of collective tags
  std::vector<std::error_code> failure_cause;     ///< per rank: why it failed (its endpoint's close reason)
  // Heartbeats, for ranks reached over a network transport (a pidfd or UCX
  // sees a same-host rank die; nothing sees a partitioned one): the two
  // ranks' link each beats every interval and fails on `timeout` of silence
  // (p2p/detail/link_heartbeat.hpp).
  heartbeat_options heartbeat{};                  ///< zero interval: off
  std::shared_ptr<void> launcher;                 ///< e.g. the PMIx session, finalized after the last use

  communicator_state() = default;
  communicator_state(const communicator_state&) = delete;
  communicator_state& operator=(const communicator_state&) = delete;

  /// The endpoint to rank r, made now if it is not yet.
  endpoint& connect(std::uint32_t r) {
    if (peers[r]) [[likely]]
      return *peers[r];
    return make_endpoint(r);
  }

  /// Rank r failed: every operation with it pending now fails, and later
  /// ones fail before posting.
  void fail_rank(std::uint32_t r) noexcept;

  /// Force-closes the connection to rank r (alive or not, it cannot be
  /// trusted any more): pending sends complete, and the close callback
  /// fails the rank with `reason` as its cause.
  void abandon_link(std::uint32_t r, std::error_code reason) {
    if (peers[r] && !failed[r])
      endpoint_access::state(*peers[r])->abandon_link(reason);
  }

  /// A rank that watches this one makes this one watch it back: a beat
  /// from a rank not yet connected connects it (lazy connection), and the
  /// ranks then watch each other. from_table calls it.
  void start_heartbeats();

private:
  endpoint& make_endpoint(std::uint32_t r);
};

/// "communicator send of 8 bytes to rank 3: rank 3 failed (peer missed
/// its heartbeat deadline)".
[[nodiscard]] inline std::string comm_op_text(const char* what, std::size_t size, const char* direction,
                                              std::uint32_t rank, std::error_code error, std::error_code cause = {}) {
  std::string out = std::string("communicator ") + what + " of " + std::to_string(size) + " bytes " + direction +
                    " rank " + std::to_string(rank) + ": ";
  if (error != errc::peer_failed)
    return out + error.message();
  out += "rank " + std::to_string(rank) + " failed";
  if (cause && cause != errc::peer_failed)
    out += " (" + cause.message() + ")";
  return out;
}

/// What the two operations share: their rank's pending list while UCX
/// holds the request, and, when UCX failed it with a transport error
/// before the rank's failure is known (a CMA read from a process that just
/// died, a reset connection), a wait of up to failure_grace for that
/// verdict, so the error says peer_failed. The wait is held inside the
/// operation (request_op::hold), so the fast path costs no coroutine frame.
/// Communicator operations awaited as one (comm_batch): each one's end
/// counts down, the last resumes the awaiting coroutine.
struct op_group {
  std::size_t pending = 0;
  std::coroutine_handle<> awaiting;
};

template <class Derived, class Value>
class comm_op : public request_op<Derived, Value>, public list_node {
  friend class request_op<Derived, Value>;
  friend class verdict_wait<Derived>;
  friend struct communicator_state;
  using base = request_op<Derived, Value>;

public:
  /// Same host: the pidfd fires within milliseconds of the exit; UCX's
  /// own error callback for a remote peer comes with the transport error.
  static constexpr std::chrono::milliseconds failure_grace{1000};

  comm_op(communicator_state& s, std::uint32_t rank, tag_t tag, ucs_memory_type_t memory, std::size_t size) noexcept
      : base(s.w->engine()), m_state(&s), m_rank(rank), m_tag(tag), m_memory(memory), m_size(size) {}
  comm_op(comm_op&& other) noexcept
      : base(std::move(other)), list_node{}, m_state(other.m_state), m_rank(other.m_rank), m_tag(other.m_tag),
        m_memory(other.m_memory), m_size(other.m_size) {}
  ~comm_op() {
    if (m_linked)
      pending().untrack(static_cast<Derived&>(*this));
    this->engine().remove_timer(m_grace); // a stopped send's grace
  }

  /// Posts as a member of `group`, with no coroutine of its own. False if
  /// it finished already (then it is not counted).
  bool start_in(op_group& group, const std::stop_token& token) {
    m_group = &group;
    const bool pending = this->begin(token);
    group.pending += pending ? 1 : 0;
    return pending;
  }
  using base::engine;
  using base::outcome;

protected:
  /// A stop request on a send: request_op::stop_send's rule, with
  /// send_stop_grace.
  void stop_started_send() noexcept { this->stop_send(m_grace, send_stop_grace); }

  /// Refusals before posting; nothing (UCS_OK) when the op may post.
  [[nodiscard]] ucs_status_t refusal() const noexcept {
    if (m_state->failed[m_rank])
      return UCS_ERR_CONNECTION_RESET; // mapped to peer_failed by error_code
    if (!this->engine().supports_memory(m_memory))
      return UCS_ERR_UNSUPPORTED;
    return UCS_OK;
  }
  [[nodiscard]] bool rank_failed() const noexcept { return m_state->failed[m_rank] != 0; }
  [[nodiscard]] std::string unsupported_text(const char* what) const {
    return std::string("communicator ") + what + " rank " + std::to_string(m_rank) + ": " +
           unsupported_memory_text(m_memory);
  }

  communicator_state* m_state;
  std::uint32_t m_rank;
  tag_t m_tag;
  ucs_memory_type_t m_memory;
  std::size_t m_size;

  // Derived ops that do more on these call them first.
  void on_pending() noexcept {
    pending().track(static_cast<Derived&>(*this));
    m_linked = true;
  }
  void on_done(ucs_status_t) noexcept {
    if (m_linked) {
      pending().untrack(static_cast<Derived&>(*this));
      m_linked = false;
    }
  }

private:
  [[nodiscard]] pending_operations<comm_recv_op, comm_send_op>& pending() const noexcept {
    return m_state->pending[m_rank];
  }
  [[nodiscard]] bool hold(ucs_status_t status) noexcept {
    if (status == UCS_OK || rank_failed() || !static_cast<const Derived*>(this)->awaits_verdict(status))
      return false;
    this->engine().remove_timer(m_grace); // a stopped send's grace, if UCX ended it meanwhile
    m_wait.hold(static_cast<Derived&>(*this), pending().held(), this->engine(), failure_grace);
    return true;
  }
  /// The verdict came (the rank failed: error_code says peer_failed), or
  /// the grace ran out.
  void end_hold(verdict) noexcept { this->release(); }

  void resume_awaiting() noexcept {
    if (m_group == nullptr)
      base::resume_awaiting();
    else if (--m_group->pending == 0)
      this->engine().schedule(m_group->awaiting);
  }

  op_timer<Derived> m_grace; // a stopped send's grace
  verdict_wait<Derived> m_wait;
  op_group* m_group = nullptr;
  bool m_linked = false;
};

class comm_send_op : public comm_op<comm_send_op, void> {
  friend class request_op<comm_send_op, void>;
  friend class comm_op<comm_send_op, void>;
  friend class pending_operations<comm_recv_op, comm_send_op>;
  friend struct communicator_state;

public:
  static constexpr bool is_send = true;

  comm_send_op(communicator_state& s, std::uint32_t dst, const void* data, std::size_t size, tag_t tag,
               ucs_memory_type_t memory) noexcept
      : comm_op(s, dst, tag, memory, size), m_data(data) {}

private:
  /// As an endpoint send's: a send still pending send_stop_grace after the
  /// stop is abandoned (request_op::stop_send). The awaiter resumes with
  /// operation_canceled (with_timeout: timed_out), and the rank's
  /// connection is force-closed, which fails the rank with
  /// errc::send_abandoned as its cause (its stream is out of step now).
  void on_stop() noexcept {
    m_stopped = true;
    stop_started_send();
  }
  void abandoned() noexcept {
    communicator_state& state = *m_state;
    const std::uint32_t rank = m_rank;
    detach(UCS_ERR_CANCELED); // may resume the awaiter, which may destroy *this
    state.abandon_link(rank, make_error_code(errc::send_abandoned));
  }

  ucs_status_ptr_t post(ucp_request_param_t& param) {
    if (const ucs_status_t refused = refusal(); refused != UCS_OK)
      return UCS_STATUS_PTR(refused);
    prepare_send(param);
    ucp_ep_h ep = m_state->connect(m_rank).ucp_endpoint();
    if (ep == nullptr) // closed by its rank's failure, whose verdict is on its way (hold waits for it)
      return UCS_STATUS_PTR(UCS_ERR_CONNECTION_RESET);
    return post_tag_send(ep, m_data, m_size, m_tag, m_memory, param);
  }
  /// UCX cannot cancel a send: a cancelled one is UCX closing the endpoint
  /// of a failing rank (or our detach), so it waits for the verdict too.
  bool awaits_verdict(ucs_status_t status) const noexcept {
    if (status == UCS_ERR_CANCELED && m_stopped)
      return false;
    return status == UCS_ERR_CANCELED || is_transport_failure(status);
  }
  void value() const noexcept {}
  [[nodiscard]] std::error_code error_code(ucs_status_t status) const noexcept {
    if (status == UCS_ERR_CANCELED && m_stopped)
      return make_error_code(status); // the caller's stop, abandoned or not
    if (rank_failed() && status != UCS_ERR_UNSUPPORTED)
      return make_error_code(errc::peer_failed);
    return make_error_code(status);
  }
  [[nodiscard]] std::string describe(ucs_status_t status) const {
    if (status == UCS_ERR_UNSUPPORTED)
      return unsupported_text("send to");
    return comm_op_text("send", m_size, "to", m_rank, error_code(status), m_state->failure_cause[m_rank]);
  }

  const void* m_data;
  bool m_stopped = false;
};

class comm_recv_op : public comm_op<comm_recv_op, std::size_t> {
  friend class request_op<comm_recv_op, std::size_t>;
  friend class comm_op<comm_recv_op, std::size_t>;
  friend class pending_operations<comm_recv_op, comm_send_op>;

public:
  static constexpr bool is_send = false;

  comm_recv_op(communicator_state& s, std::uint32_t src, void* data, std::size_t size, tag_t tag,
               ucs_memory_type_t memory) noexcept
      : comm_op(s, src, tag, memory, size), m_data(data) {}
  comm_recv_op(comm_recv_op&& other) noexcept : comm_op(std::move(other)), m_data(other.m_data) {}
  ~comm_recv_op() {
    if (m_after_failure) [[unlikely]]
      engine().remove_timer(m_give_up);
  }

private:
  ucs_status_ptr_t post(ucp_request_param_t& param) {
    if (!engine().supports_memory(m_memory))
      return UCS_STATUS_PTR(UCS_ERR_UNSUPPORTED);
    prepare_recv(param);
    param.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMORY_TYPE;
    param.memory_type = m_memory;
    if (rank_failed()) [[unlikely]]
      return post_after_failure(param);
    // A receive watches its source: lazily connected, the endpoint (and the
    // peer process behind it) exists from here on.
    (void)m_state->connect(m_rank);
    return post_tag_recv(engine().ucp_worker(), m_data, m_size, m_tag, tag_layout::full_mask, param);
  }
  /// The rank failed before this receive was posted. What it sent before
  /// it failed may still wait in UCX's unexpected queue, and is delivered;
  /// with nothing there, the receive fails with peer_failed. (A 3-rank
  /// ucoro-join in CI lost the result rank 0 sent just before it exited:
  /// the other ranks' receive was posted after the pidfd had fired.) The
  /// rest of a multi-fragment message from a rank that died mid-way never
  /// comes: such a receive is given up after failure_grace.
  [[gnu::noinline]] ucs_status_ptr_t post_after_failure(ucp_request_param_t& param) {
    if (auto posted =
            post_arrived_tag_recv(engine().ucp_worker(), m_data, m_size, m_tag, tag_layout::full_mask, param)) {
      m_after_failure = true;
      return *posted;
    }
    return UCS_STATUS_PTR(UCS_ERR_CONNECTION_RESET); // mapped to peer_failed by error_code
  }
  void on_pending() noexcept {
    comm_op::on_pending();
    if (m_after_failure) [[unlikely]]
      give_up_after(failure_grace);
  }
  void on_done(ucs_status_t status) noexcept {
    comm_op::on_done(status);
    if (m_after_failure) [[unlikely]]
      engine().remove_timer(m_give_up);
  }
  void give_up_after(std::chrono::milliseconds grace) noexcept {
    m_give_up.op = this;
    m_give_up.deadline = clock::now() + grace;
    m_give_up.fire = [](timer_node* node) noexcept {
      comm_recv_op* op = static_cast<op_timer<comm_recv_op>*>(node)->op;
      op->detach(UCS_ERR_CONNECTION_RESET);
    };
    engine().add_timer(m_give_up);
  }
  /// A cancelled receive is the caller's stop token or the rank's failure
  /// (which is known by then): only transport errors wait.
  bool awaits_verdict(ucs_status_t status) const noexcept { return is_transport_failure(status); }
  void on_recv_info(const ucp_tag_recv_info_t& info) noexcept { m_length = info.length; }
  /// Its rank failed (pending_operations::cancel_receives): error_code
  /// reports peer_failed.
  void cancel_pending() noexcept { cancel_request(); }
  [[nodiscard]] std::size_t value() const noexcept { return m_length; }
  [[nodiscard]] std::error_code error_code(ucs_status_t status) const noexcept {
    if (status == UCS_ERR_MESSAGE_TRUNCATED || status == UCS_ERR_UNSUPPORTED)
      return make_error_code(status);
    if (rank_failed() && status != UCS_OK)
      return make_error_code(errc::peer_failed);
    return make_error_code(status);
  }
  [[nodiscard]] std::string describe(ucs_status_t status) const {
    if (status == UCS_ERR_UNSUPPORTED)
      return unsupported_text("recv from");
    std::string out = comm_op_text("recv", m_size, "from", m_rank, error_code(status), m_state->failure_cause[m_rank]);
    if (status == UCS_ERR_MESSAGE_TRUNCATED && m_length > m_size)
      out += " (rank " + std::to_string(m_rank) + " sent " + std::to_string(m_length) + " bytes)";
    return out;
  }

  void* m_data;
  std::size_t m_length = 0;
  bool m_after_failure = false;
  op_timer<comm_recv_op> m_give_up;
};

inline void communicator_state::fail_rank(std::uint32_t r) noexcept {
  failed[r] = 1; // before the operations end: they report peer_failed
  pending[r].fail_all();
  failure_known[r]->set();
}

inline endpoint& communicator_state::make_endpoint(std::uint32_t r) {
  const auto& e = table[r];
  address_endpoint_options o;
  if (r == rank)
    o.error_handling = error_handling::none; // to oneself: nothing to watch
  else
    o.peer = peer_info{e.identity, (e.flags & hello::pidfd) != 0, (e.flags & hello::shared_memory) != 0};
  endpoint ep = w->create_endpoint_from_worker_address(e.worker_address, o);
  std::weak_ptr<communicator_state> weak = weak_from_this();
  ep.set_close_callback([weak, r](std::error_code reason) {
    auto s = weak.lock();
    if (!s || !reason || std::find(s->failed_ranks.begin(), s->failed_ranks.end(), r) != s->failed_ranks.end())
      return;
    s->failed_ranks.push_back(r);
    s->failure_cause[r] = reason;
    // On the link's failure this runs after the link matched what the rank
    // sent before it died (peer_link::fail), so its last message is not lost.
    s->fail_rank(r);
  });
  peers[r].emplace(std::move(ep));
  const auto& state = endpoint_access::state(*peers[r]);
  if (state->link())
    pending[r].register_with(*state->link()); // the link's failure ends them too
  if (r != rank && heartbeat.interval.count() > 0 && state->link() && !state->link()->lanes().local)
    state->watch_each_other(heartbeat, "; over the network: the communicator's heartbeat every " +
                                           format_duration(heartbeat.interval) + ", deadline " +
                                           format_duration(heartbeat.timeout) +
                                           " (bootstrap_options::remote_heartbeat)");
  return *peers[r];
}

inline void communicator_state::start_heartbeats() {
  if (size < 2 || heartbeat.interval.count() == 0)
    return;
  std::vector<std::uint64_t> names(size);
  for (std::uint32_t r = 0; r < size; ++r)
    names[r] = heartbeat_name(table[r].worker_address);
  w->use_service<peer_link_registry>().on_unbeaten_peer(
      [weak = weak_from_this(), names = std::move(names)](std::uint64_t sender) {
        auto self = weak.lock();
        if (!self)
          return false; // this communicator is gone
        for (std::uint32_t r = 0; r < self->size; ++r)
          if (names[r] == sender && r != self->rank && !self->failed[r] && !self->peers[r])
            (void)self->connect(r);
        return true;
      });
}

} // namespace detail
} // namespace ucoro
