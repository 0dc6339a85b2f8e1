#pragma once
// Endpoints with UCX-Py's semantics: connect by host and port (or worker
// address), then co_await send/recv of any buffer over tag matching.
//
// Connection. After ucp_ep_create each side sends the other a handshake as a
// UCX active message with UCP_AM_SEND_FLAG_REPLY: the receiving handler is
// told which endpoint it came on (reply_ep), which tag matching cannot do
// when many clients connect at once, and the stream API, UCX-Py's source of
// handshake hangs, is not used. The handshake carries {magic, version, the
// sender's receive tags, guarantee_msg_order, checksum}; every step is
// bounded by the connect timeout.
//
// Tags. Each side draws random 60-bit tags for its data and control channels
// (tag spaces endpoint_data / endpoint_control, see tag.hpp). With
// guarantee_msg_order the n-th send carries base + n and the n-th recv waits
// for exactly that tag, so messages match in send order even where UCX may
// deliver out of order (several lanes).
//
// Closing. close() sends a control message carrying its send count; the peer
// closes once it has received that many messages, acknowledges, and its
// pending and later operations fail with errc::closed_by_peer (equal to
// std::errc::connection_reset). Operations on an endpoint closed locally fail
// with errc::endpoint_closed (std::errc::not_connected). A peer that dies
// fails pending operations: with errc::peer_failed when ucoro watches its
// process (error_handling::automatic on one host), with UCX's error
// (connection_reset or timed_out) in UCX peer mode, with
// errc::peer_unresponsive when heartbeats stop (docs/failure.md). A
// same-host peer killed mid-write can leave the worker's shared-memory
// receive FIFO stuck for everyone: the worker's other shared-memory
// endpoints then fail with errc::shared_memory_stuck. UCX tag receives
// belong to the worker, not the endpoint, so the endpoint tracks its pending
// receives and cancels them itself when it closes; sends that UCX will never
// finish (mode none, dead peer) are detached: nothing is stranded.

#include <ucoro/concepts/buffer.hpp>
#include <ucoro/detail/cma_guard.hpp>
#include <ucoro/detail/event.hpp>
#include <ucoro/detail/peer_process.hpp>
#include <ucoro/detail/request_op.hpp>
#include <ucoro/error.hpp>
#include <ucoro/tag.hpp>
#include <ucoro/task.hpp>
#include <ucoro/timer.hpp>
#include <ucoro/worker.hpp>

#include <ucp/api/ucp.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ucoro {

class endpoint;

/// How an endpoint detects that its peer failed: what error_handling
/// resolved to when it connected.
struct failure_detection {
  /// What UCX was given: peer (UCX detects failures) or none.
  ucoro::error_handling ucx_mode = ucoro::error_handling::peer;
  /// The peer's process is watched through a pidfd (same host).
  bool process_watch = false;
  std::uint32_t peer_pid = 0;
  /// Heartbeats on the control channel, with this timeout (zero: off).
  std::chrono::milliseconds heartbeat_timeout{0};
  /// Why: the choice automatic made, or "requested".
  std::string reason;
};

namespace detail {

inline constexpr unsigned handshake_am_id = 0x75C0;
inline constexpr std::uint64_t handshake_magic = 0x3153484F524F4355ULL; // "UCOROHS1"
inline constexpr std::uint32_t protocol_version = 2;

/// Heartbeats for a same-host peer whose process cannot be watched.
inline constexpr std::chrono::milliseconds fallback_heartbeat_interval{200};
inline constexpr std::chrono::milliseconds fallback_heartbeat_timeout{2000};
/// How long a transport error waits for the peer's pidfd to confirm its exit.
inline constexpr std::chrono::milliseconds peer_exit_grace{50};

struct handshake_message {
  enum flag : std::uint32_t { ordered = 1, reject = 2, reply = 4 };
  enum reject_reason : std::uint32_t { none = 0, version_mismatch = 1, order_mismatch = 2 };

  std::uint64_t magic = handshake_magic;
  std::uint32_t version = protocol_version;
  std::uint32_t flags = 0;
  std::uint64_t msg_tag = 0;  ///< the sender receives data on this tag
  std::uint64_t ctrl_tag = 0; ///< ... and control messages on this one
  process_identity process{}; ///< for watching a same-host peer's exit
  std::uint32_t reason = none;
  std::uint32_t reserved = 0;
  std::uint64_t checksum = 0;

  [[nodiscard]] std::uint64_t compute_checksum() const noexcept {
    // FNV-1a over every byte before the checksum.
    const auto* bytes = reinterpret_cast<const unsigned char*>(this);
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (std::size_t i = 0; i < offsetof(handshake_message, checksum); ++i)
      h = (h ^ bytes[i]) * 0x100000001b3ULL;
    return h;
  }
  void seal() noexcept { checksum = compute_checksum(); }
};
static_assert(std::is_trivially_copyable_v<handshake_message>);

struct control_message {
  enum kind : std::uint32_t { close = 1, close_ack = 2, heartbeat_request = 3, heartbeat = 4 };
  std::uint32_t type = 0;
  std::uint32_t reserved = 0;
  std::uint64_t count = 0;
};

[[nodiscard]] inline tag_t random_tag_base() {
  static thread_local std::mt19937_64 rng{std::random_device{}() ^
                                          (static_cast<std::uint64_t>(::getpid()) << 32) ^
                                          static_cast<std::uint64_t>(
                                              std::chrono::steady_clock::now().time_since_epoch().count())};
  return rng() & ~tag_layout::space_mask;
}

[[nodiscard]] inline std::string sockaddr_label(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = {};
  std::uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(ss);
    inet_ntop(AF_INET, &in.sin_addr, host, sizeof host);
    port = ntohs(in.sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  const auto& in6 = reinterpret_cast<const sockaddr_in6&>(ss);
  inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof host);
  port = ntohs(in6.sin6_port);
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

class endpoint_state;
class ep_recv_op;

/// Worker-wide endpoint bookkeeping (a worker service): the handshake AM
/// handler, the map from ucp_ep_h to endpoint, and closes in flight.
class endpoint_registry {
public:
  explicit endpoint_registry(worker& w) : m_worker(&w) {
    ucp_am_handler_param_t param{};
    param.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB | UCP_AM_HANDLER_PARAM_FIELD_ARG;
    param.id = handshake_am_id;
    param.cb = &on_handshake;
    param.arg = this;
    check(ucp_worker_set_am_recv_handler(w.ucp_worker(), &param), "registering the ucoro handshake handler");
  }

  endpoint_registry(const endpoint_registry&) = delete;
  endpoint_registry& operator=(const endpoint_registry&) = delete;

  ~endpoint_registry() {
    // Let force/flush closes in flight finish (bounded), so UCX does not
    // call back into freed memory and the worker can be destroyed.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (m_closing != 0 && std::chrono::steady_clock::now() < deadline)
      ucp_worker_progress(m_worker->ucp_worker());
    ucp_am_handler_param_t param{};
    param.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB;
    param.id = handshake_am_id;
    param.cb = nullptr;
    (void)ucp_worker_set_am_recv_handler(m_worker->ucp_worker(), &param);
  }

  /// Worker shutdown: abort every live endpoint, failing what is pending.
  void shutdown();

  /// After a same-host peer died (UCX mode none): if it left this worker's
  /// shared-memory receive FIFO stuck, nothing more arrives over sysv/posix
  /// from anyone, so every endpoint receiving that way fails with
  /// errc::shared_memory_stuck instead of waiting forever, and new
  /// same-host connections from this worker are refused at once.
  void check_shared_memory(const std::string& dead_peer) noexcept;

  /// Why new same-host shared-memory endpoints cannot work here; empty if
  /// they can.
  [[nodiscard]] const std::string& shared_memory_stuck() const noexcept { return m_shared_memory_stuck; }

  void add(ucp_ep_h ep, endpoint_state* state) { m_endpoints[ep] = state; }
  void remove(ucp_ep_h ep) noexcept { m_endpoints.erase(ep); }

  /// Closes `ep` in the background; UCX's request is freed when it finishes.
  void release(ucp_ep_h ep, bool force) {
    ucp_request_param_t param{};
    param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS | UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    param.flags = force ? UCP_EP_CLOSE_FLAG_FORCE : 0;
    param.cb.send = [](void* request, ucs_status_t, void* user_data) {
      --static_cast<endpoint_registry*>(user_data)->m_closing;
      ucp_request_free(request);
    };
    param.user_data = this;
    const ucs_status_ptr_t request = ucp_ep_close_nbx(ep, &param);
    if (UCS_PTR_IS_PTR(request))
      ++m_closing;
  }

  [[nodiscard]] worker& get_worker() const noexcept { return *m_worker; }

private:
  static ucs_status_t on_handshake(void* arg, const void* header, std::size_t header_length, void* data,
                                   std::size_t length, const ucp_am_recv_param_t* param);

  worker* m_worker;
  std::unordered_map<ucp_ep_h, endpoint_state*> m_endpoints;
  std::size_t m_closing = 0;
  std::string m_shared_memory_stuck;
};

/// Intrusive link of a pending endpoint operation.
struct op_link {
  op_link* prev = nullptr;
  op_link* next = nullptr;
};

/// Everything an endpoint is; shared by the endpoint handle, its control
/// loop and in-flight background closes.
class endpoint_state : public std::enable_shared_from_this<endpoint_state> {
public:
  endpoint_state(worker& w, std::string peer, bool ordered, ucoro::error_handling mode, heartbeat_options heartbeat,
                 std::chrono::milliseconds close_timeout, send_completion completion)
      : m_worker(&w), m_registry(&w.use_service<endpoint_registry>()), m_peer(std::move(peer)), m_ordered(ordered),
        m_requested_mode(mode), m_heartbeat(heartbeat), m_close_timeout(close_timeout), m_completion(completion),
        m_handshake_event(w.engine()), m_close_ack(w.engine()) {
    if (m_heartbeat.interval.count() < 0 || m_heartbeat.timeout.count() < 0)
      throw_error(std::make_error_code(std::errc::invalid_argument),
                  "endpoint to " + m_peer + ": negative heartbeat interval or timeout");
    if (m_heartbeat.interval.count() > 0 && m_heartbeat.timeout.count() == 0)
      m_heartbeat.timeout = 5 * m_heartbeat.interval;
    if (m_heartbeat.timeout.count() > 0 && m_heartbeat.timeout < m_heartbeat.interval)
      throw_error(std::make_error_code(std::errc::invalid_argument),
                  "endpoint to " + m_peer + ": heartbeat timeout (" + format_duration(m_heartbeat.timeout) +
                      ") shorter than its interval (" + format_duration(m_heartbeat.interval) + ")");
  }

  ~endpoint_state() { stop_process_watch(); }

  endpoint_state(const endpoint_state&) = delete;
  endpoint_state& operator=(const endpoint_state&) = delete;

  // ---- setup -----------------------------------------------------------------

  /// Settles what UCX is told, before ucp_ep_create. `peer_is_local`: the
  /// creator's knowledge of where the peer is (its address is this host's).
  void choose_error_mode(bool peer_is_local) {
    using enum ucoro::error_handling;
    if (m_requested_mode != automatic) {
      m_ucx_peer = m_requested_mode == peer;
      m_detection.reason = "requested";
    } else if (!peer_is_local) {
      m_ucx_peer = true;
      m_detection.reason = "automatic: peer not on this host";
    } else if (!m_worker->get_context().has_shared_memory_transport()) {
      m_ucx_peer = true;
      m_detection.reason = "automatic: same host, but no shared-memory transport in this context";
    } else if (!pidfd_available()) {
      m_ucx_peer = true;
      m_detection.reason = "automatic: same host, but pidfd unavailable, so UCX peer mode (tcp)";
    } else {
      m_ucx_peer = false;
      m_detection.reason = "automatic: same host, shared memory, peer process watched";
    }
    m_detection.ucx_mode = m_ucx_peer ? peer : none;
    if (!m_ucx_peer)
      install_cma_guard();
  }

  /// Overrides automatic's choice with UCX peer mode, saying why.
  void use_ucx_peer_mode(std::string reason) {
    m_ucx_peer = true;
    m_detection.ucx_mode = ucoro::error_handling::peer;
    m_detection.reason = std::move(reason);
  }
  [[nodiscard]] bool ucx_peer_mode() const noexcept { return m_ucx_peer; }

  /// ucp_ep_params for this endpoint's error handling.
  void fill_error_handling(ucp_ep_params_t& params) noexcept {
    params.field_mask |= UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE;
    params.err_mode = m_ucx_peer ? UCP_ERR_HANDLING_MODE_PEER : UCP_ERR_HANDLING_MODE_NONE;
    if (m_ucx_peer) {
      params.field_mask |= UCP_EP_PARAM_FIELD_ERR_HANDLER;
      params.err_handler.cb = &on_ep_error;
      params.err_handler.arg = this;
    }
  }

  /// After the handshake: watch the peer's process (automatic, UCX mode
  /// none) and start heartbeats where asked or where the process cannot be
  /// watched.
  void start_failure_detection(const process_identity& peer) {
    if (!m_ucx_peer && m_requested_mode == ucoro::error_handling::automatic) {
      std::string why_not;
      m_pidfd = watch_process(peer, why_not);
      if (m_pidfd) {
        m_detection.process_watch = true;
        m_detection.peer_pid = peer.pid;
        m_worker->engine().watch_fd(m_pidfd.get(), [weak = weak_from_this()] {
          if (auto self = weak.lock())
            self->on_peer_exit();
        });
      } else {
        m_detection.reason = "automatic: same host, UCX error handling none, but " + why_not + ", so heartbeats instead";
        if (m_heartbeat.interval.count() == 0)
          m_heartbeat = {fallback_heartbeat_interval, fallback_heartbeat_timeout};
      }
    }
    if (m_heartbeat.interval.count() > 0)
      start_heartbeat();
  }

  [[nodiscard]] const failure_detection& detection() const noexcept { return m_detection; }

  void attach(ucp_ep_h ep) {
    m_ep = ep;
    m_registry->add(ep, this);
  }

  void set_recv_tags(tag_t msg, tag_t ctrl) noexcept {
    m_recv_msg_base = msg;
    m_recv_ctrl_tag = tag_layout::in_space(tag_layout::space::endpoint_control, ctrl);
  }
  void set_send_tags(tag_t msg, tag_t ctrl) noexcept {
    m_send_msg_base = msg;
    m_send_ctrl_tag = tag_layout::in_space(tag_layout::space::endpoint_control, ctrl);
  }
  [[nodiscard]] tag_t recv_msg_base() const noexcept { return m_recv_msg_base; }
  [[nodiscard]] tag_t recv_ctrl_raw() const noexcept { return m_recv_ctrl_tag & ~tag_layout::space_mask; }

  /// Starts the control channel (handshaken endpoints only).
  void start_control() {
    m_has_control = true;
    spawn_controlled(control_loop(shared_from_this()));
  }

  // ---- handshake ---------------------------------------------------------------

  void deliver_handshake(const void* header, std::size_t length) noexcept {
    if (m_handshake_event.is_set())
      return;
    m_handshake_size = length;
    std::memcpy(&m_handshake, header, std::min(length, sizeof m_handshake));
    m_handshake_event.set();
  }
  [[nodiscard]] oneshot_event& handshake_event() noexcept { return m_handshake_event; }
  [[nodiscard]] const handshake_message& handshake() const noexcept { return m_handshake; }
  [[nodiscard]] bool handshake_well_formed() const noexcept {
    return m_handshake_size == sizeof(handshake_message) && m_handshake.magic == handshake_magic &&
           m_handshake.checksum == m_handshake.compute_checksum();
  }

  // ---- data path -----------------------------------------------------------------

  [[nodiscard]] tag_t next_send_tag() noexcept {
    const tag_t seq = m_send_count++;
    return tag_layout::in_space(tag_layout::space::endpoint_data, m_ordered ? m_send_msg_base + seq : m_send_msg_base);
  }
  [[nodiscard]] tag_t next_recv_tag(std::uint64_t& seq) noexcept {
    seq = m_recv_posted++;
    return tag_layout::in_space(tag_layout::space::endpoint_data, m_ordered ? m_recv_msg_base + seq : m_recv_msg_base);
  }
  /// A receive cancelled before it matched gives back its sequence number
  /// when it was the last one posted, so a retry after a timeout still
  /// matches the next message.
  void return_recv_seq(std::uint64_t seq) noexcept {
    if (seq + 1 == m_recv_posted)
      --m_recv_posted;
  }

  /// Pending receives (UCX's belong to the worker, so a close must cancel
  /// them itself) and pending sends (see detach_pending_sends).
  enum class op_list { recvs, sends };
  void link(op_link& node, op_list which) noexcept {
    op_link*& head = which == op_list::recvs ? m_pending_recvs : m_pending_sends;
    node.prev = nullptr;
    node.next = head;
    if (head != nullptr)
      head->prev = &node;
    head = &node;
  }
  void unlink(op_link& node, op_list which) noexcept {
    op_link*& head = which == op_list::recvs ? m_pending_recvs : m_pending_sends;
    if (node.prev != nullptr)
      node.prev->next = node.next;
    else if (head == &node)
      head = node.next;
    if (node.next != nullptr)
      node.next->prev = node.prev;
    node.prev = node.next = nullptr;
  }

  void on_recv_completed() {
    ++m_recv_count;
    if (m_close_after && m_recv_count >= *m_close_after && !m_close_after_fired) {
      m_close_after_fired = true;
      // We may be inside a UCX callback: close from the loop.
      m_worker->post([self = shared_from_this()] { self->close_after_reached(); });
    }
  }

  void close_after_n_recv(std::uint64_t n, bool count_from_ep_creation) {
    if (m_close_after)
      throw_error(std::make_error_code(std::errc::invalid_argument),
                  "close_after_n_recv on endpoint to " + m_peer + ": already set (to " +
                      std::to_string(*m_close_after) + ")");
    const std::uint64_t target = count_from_ep_creation ? n : m_recv_count + n;
    if (count_from_ep_creation && n < m_recv_count)
      throw_error(std::make_error_code(std::errc::invalid_argument),
                  "close_after_n_recv(" + std::to_string(n) + ", count_from_ep_creation) on endpoint to " + m_peer +
                      ": " + std::to_string(m_recv_count) + " messages were already received");
    m_close_after = target;
    m_close_after_from_peer = false;
    if (m_recv_count >= target) {
      m_close_after_fired = true;
      m_worker->post([self = shared_from_this()] { self->close_after_reached(); });
    }
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
  /// does not answer: it force-closes instead.
  task<void> close() {
    if (m_closed || m_closing) {
      if (m_closed)
        release();
      co_return;
    }
    m_closing = true;
    auto keep_alive = shared_from_this();
    if (m_has_control) {
      control_message msg{control_message::close, 0, m_send_count};
      auto sent = co_await as_result(with_timeout(send_control(msg), m_close_timeout));
      if (sent)
        (void)co_await as_result(with_timeout(m_close_ack.wait(), m_close_timeout));
    }
    local_close(make_error_code(errc::endpoint_closed));
    release();
  }

  /// Immediate close: pending operations fail with endpoint_closed.
  void abort() {
    local_close(make_error_code(errc::endpoint_closed));
    release();
  }

  /// Fails the endpoint with `reason` (peer failure, handshake failure).
  void fail(std::error_code reason) {
    local_close(reason);
    release();
  }

  // ---- queries ---------------------------------------------------------------------

  [[nodiscard]] ucp_ep_h ucp_endpoint() const noexcept { return m_ep; }
  [[nodiscard]] worker& get_worker() const noexcept { return *m_worker; }
  [[nodiscard]] const std::string& peer() const noexcept { return m_peer; }
  [[nodiscard]] bool ordered() const noexcept { return m_ordered; }
  [[nodiscard]] send_completion completion() const noexcept { return m_completion; }
  [[nodiscard]] bool fast_completion() const noexcept { return m_fast_completion; }
  /// Active messages travel over sysv/posix (known once connected).
  [[nodiscard]] bool uses_shared_memory() const noexcept { return m_shared_memory; }

  /// Why an operation on `memory` must fail before posting (UCS_OK: it may
  /// be posted): the endpoint is closed, or this UCX cannot move that memory.
  [[nodiscard]] ucs_status_t refusal(memory_type memory) const noexcept {
    if (m_closed)
      return UCS_ERR_NOT_CONNECTED;
    if (!m_worker->engine().supports_memory(to_ucs(memory)))
      return UCS_ERR_UNSUPPORTED;
    return UCS_OK;
  }

  /// Settles send_completion::automatic from the lanes UCX chose: fast when
  /// active messages travel over shared memory. Call once connected.
  void resolve_completion() {
    m_shared_memory = false;
    m_fast_completion = m_completion == send_completion::fast;
    if (m_ep == nullptr)
      return;
    const std::string info = print_to_string([&](FILE* f) { ucp_ep_print_info(m_ep, f); });
    std::size_t line = 0;
    while (line < info.size()) {
      const std::size_t end = std::min(info.find('\n', line), info.size());
      const std::string_view text{info.data() + line, end - line};
      // e.g. "lane[1]:  1:sysv/memory.0 md[1] -> md[1]/sysv/sysdev[255] am am_bw#0"
      if (text.find("lane[") != std::string_view::npos && text.find(" am") != std::string_view::npos) {
        m_shared_memory = text.find("sysv/") != std::string_view::npos ||
                          text.find("posix/") != std::string_view::npos;
        if (m_completion == send_completion::automatic)
          m_fast_completion = m_shared_memory || text.find("self/") != std::string_view::npos;
        return;
      }
      line = end + 1;
    }
  }
  [[nodiscard]] std::uint64_t send_count() const noexcept { return m_send_count; }
  [[nodiscard]] std::uint64_t recv_count() const noexcept { return m_recv_count; }

private:
  friend class endpoint_registry;

  static void on_ep_error(void* arg, ucp_ep_h, ucs_status_t status) {
    auto* self = static_cast<endpoint_state*>(arg);
    // Inside UCX: act from the loop. The handshake waiter learns now.
    self->m_peer_error = status;
    self->m_handshake_event.set();
    self->m_close_ack.set();
    self->m_worker->post([weak = self->weak_from_this(), status] {
      if (auto s = weak.lock())
        s->fail(make_error_code(status));
    });
  }

public:
  [[nodiscard]] ucs_status_t peer_error() const noexcept { return m_peer_error; }

private:
  void close_after_reached() {
    if (m_close_after_from_peer)
      peer_close_complete();
    else
      m_worker->spawn(close());
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
      control_message ack{control_message::close_ack, 0, self->m_recv_count};
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
    cancel_pending_recvs();
    run_close_callback();
  }

  void cancel_pending_recvs() noexcept;
  void detach_pending_sends() noexcept;

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

  /// Stops the control loop and closes the UCX endpoint (force where UCX
  /// allows it: PEER mode on both sides).
  void release() {
    m_control_stop.request_stop();
    stop_process_watch();
    if (m_ep == nullptr)
      return;
    m_registry->remove(m_ep);
    // Force (pending requests complete with UCS_ERR_CANCELED, mapped to the
    // close reason) where UCX allows it, or where the peer is gone, so no
    // flush waits for it forever. UCX's caveat about forcing without peer
    // mode concerns the remote side, which no longer listens.
    m_registry->release(std::exchange(m_ep, nullptr), m_ucx_peer || m_peer_gone);
    if (!m_ucx_peer && m_peer_gone)
      detach_pending_sends();
  }

  void stop_process_watch() noexcept {
    if (m_pidfd) {
      m_worker->engine().unwatch_fd(m_pidfd.get());
      m_pidfd.reset();
    }
  }

public:
  /// Why an operation failed with `status`, for the operation itself (called
  /// as it resumes, on the worker's thread, outside UCX). A transport error
  /// means the endpoint is unusable, and it may be the first sign: UCX's
  /// error callback is still on its way (peer mode), or there is none (mode
  /// none: a CMA read from an exited process, a reset connection). So the
  /// endpoint fails now, with this reason, before the caller can drop it.
  /// When the peer's pidfd confirms its exit (within a few milliseconds: the
  /// peer may still be tearing down), the reason is errc::peer_failed.
  /// `discarded`: UCX cancelled a posted send itself (it cannot cancel
  /// sends on request), which it does when it fails the endpoint.
  [[nodiscard]] std::error_code operation_error(ucs_status_t status, bool discarded = false) noexcept {
    if (m_closed)
      return m_close_reason;
    const bool transport_failure = discarded || status == UCS_ERR_IO_ERROR || status == UCS_ERR_CONNECTION_RESET ||
                                   status == UCS_ERR_ENDPOINT_TIMEOUT || status == UCS_ERR_UNREACHABLE ||
                                   status == UCS_ERR_NOT_CONNECTED;
    if (!transport_failure)
      return make_error_code(status);
    // UCX's own reason when its error callback came first; "not connected"
    // or a discarded request says only that the connection is gone.
    std::error_code reason = make_error_code(
        m_peer_error != UCS_OK                          ? m_peer_error
        : status == UCS_ERR_NOT_CONNECTED || discarded ? UCS_ERR_CONNECTION_RESET
                                                        : status);
    bool exited_for_sure = false;
    if (m_pidfd) {
      pollfd exited{m_pidfd.get(), POLLIN, 0};
      exited_for_sure = ::poll(&exited, 1, static_cast<int>(peer_exit_grace.count())) == 1;
      if (exited_for_sure)
        reason = make_error_code(errc::peer_failed);
    }
    m_peer_gone = true;
    auto keep_alive = shared_from_this();
    fail(reason);
    if (exited_for_sure && m_shared_memory)
      m_registry->check_shared_memory(m_peer);
    return reason;
  }

private:
  void on_peer_exit() {
    stop_process_watch(); // level-triggered: once is enough
    m_peer_gone = true;
    auto keep_alive = shared_from_this();
    fail(make_error_code(errc::peer_failed));
    if (m_shared_memory)
      m_registry->check_shared_memory(m_peer);
  }

  /// Asks the peer for heartbeats and fails the endpoint when they stop.
  void start_heartbeat() {
    m_detection.heartbeat_timeout = m_heartbeat.timeout;
    m_last_heard = std::chrono::steady_clock::now();
    spawn_controlled([](std::shared_ptr<endpoint_state> self) -> task<void> {
      control_message request{control_message::heartbeat_request, 0,
                              static_cast<std::uint64_t>(self->m_heartbeat.interval.count())};
      (void)co_await as_result(with_timeout(self->send_control(request), self->m_heartbeat.timeout));
    }(shared_from_this()));
    spawn_controlled([](std::shared_ptr<endpoint_state> self) -> task<void> {
      const auto period = std::min(self->m_heartbeat.interval, self->m_heartbeat.timeout / 4);
      while (!self->m_closed) {
        auto slept = co_await as_result(self->m_worker->sleep(period));
        if (!slept || self->m_closed)
          co_return; // stopped: the endpoint is closing
        if (std::chrono::steady_clock::now() - self->m_last_heard > self->m_heartbeat.timeout) {
          self->m_peer_gone = true;
          self->fail(make_error_code(errc::peer_unresponsive));
          co_return;
        }
      }
    }(shared_from_this()));
  }

  /// The peer asked for a heartbeat every `interval`.
  void start_heartbeat_sender(std::chrono::milliseconds interval) {
    if (m_sending_heartbeats || interval.count() <= 0)
      return;
    m_sending_heartbeats = true;
    spawn_controlled([](std::shared_ptr<endpoint_state> self, std::chrono::milliseconds every) -> task<void> {
      while (!self->m_closed) {
        control_message beat{control_message::heartbeat, 0, 0};
        // A heartbeat that cannot go out is the peer's to notice.
        (void)co_await as_result(with_timeout(self->send_control(beat), every));
        auto slept = co_await as_result(self->m_worker->sleep(every));
        if (!slept)
          co_return;
      }
    }(shared_from_this(), interval));
  }

  /// Spawns a task that stops with the control channel.
  void spawn_controlled(task<void> t) {
    t.set_stop_token(m_control_stop.get_token());
    m_worker->spawn(std::move(t));
  }

  task<void> send_control(control_message msg) {
    if (m_ep == nullptr)
      throw ucx_error(make_error_code(errc::endpoint_closed), "control message to " + m_peer + ": endpoint released");
    co_await tag_send_op(m_worker->engine(), m_ep, &msg, sizeof msg, m_send_ctrl_tag, UCS_MEMORY_TYPE_HOST,
                         peer_label{&m_peer});
  }

  static task<void> control_loop(std::shared_ptr<endpoint_state> self) {
    control_message msg{};
    while (!self->m_control_stop.stop_requested()) {
      auto r = co_await tag_recv_op(self->m_worker->engine(), &msg, sizeof msg, self->m_recv_ctrl_tag,
                                    tag_layout::full_mask, UCS_MEMORY_TYPE_HOST, peer_label{&self->m_peer})
                   .nothrow();
      if (!r)
        co_return; // stopped or failed: the endpoint is closing
      if (msg.type == control_message::close) {
        self->m_close_after_from_peer = true;
        self->m_close_after = msg.count;
        if (self->m_recv_count >= msg.count)
          self->peer_close_complete();
      } else if (msg.type == control_message::close_ack) {
        self->m_close_ack.set();
      } else if (msg.type == control_message::heartbeat) {
        self->m_last_heard = std::chrono::steady_clock::now();
      } else if (msg.type == control_message::heartbeat_request) {
        self->start_heartbeat_sender(std::chrono::milliseconds(static_cast<std::int64_t>(msg.count)));
      }
    }
  }

  worker* m_worker;
  endpoint_registry* m_registry;
  std::string m_peer;
  bool m_ordered;
  ucoro::error_handling m_requested_mode;
  heartbeat_options m_heartbeat;
  bool m_ucx_peer = true;
  bool m_peer_gone = false;
  bool m_sending_heartbeats = false;
  failure_detection m_detection;
  unique_fd m_pidfd;
  std::chrono::steady_clock::time_point m_last_heard{};
  std::chrono::milliseconds m_close_timeout;
  send_completion m_completion;
  bool m_fast_completion = false;
  bool m_shared_memory = false;
  ucp_ep_h m_ep = nullptr;

  tag_t m_send_msg_base = 0;
  tag_t m_recv_msg_base = 0;
  tag_t m_send_ctrl_tag = 0;
  tag_t m_recv_ctrl_tag = 0;
  std::uint64_t m_send_count = 0;
  std::uint64_t m_recv_posted = 0;
  std::uint64_t m_recv_count = 0;
  std::optional<std::uint64_t> m_close_after;
  bool m_close_after_from_peer = false;
  bool m_close_after_fired = false;

  bool m_has_control = false;
  bool m_closing = false;
  bool m_closed = false;
  std::error_code m_close_reason;
  ucs_status_t m_peer_error = UCS_OK;
  std::function<void(std::error_code)> m_close_callback;
  bool m_close_callback_ran = false;
  op_link* m_pending_recvs = nullptr;
  op_link* m_pending_sends = nullptr;
  std::stop_source m_control_stop;

  oneshot_event m_handshake_event;
  handshake_message m_handshake{};
  std::size_t m_handshake_size = 0;
  oneshot_event m_close_ack;

  friend class state_ref;
  template <class... Args>
  friend std::shared_ptr<endpoint_state> make_endpoint_state(Args&&...);
  std::size_t m_live_ops = 0;
  bool m_orphaned = false;
};

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
class ep_send_op : public request_op<ep_send_op, void>, public op_link {
  friend class request_op<ep_send_op, void>;
  friend class endpoint_state;

public:
  ep_send_op(endpoint_state& state, buffer_view<const void> view)
      : request_op(state.get_worker().engine()), m_state(&state), m_view(view) {}
  ep_send_op(ep_send_op&& other) noexcept
      : request_op(std::move(other)), op_link{}, m_state(other.m_state), m_view(other.m_view) {}
  ~ep_send_op() {
    if (m_linked)
      m_state->unlink(*this, endpoint_state::op_list::sends);
  }

private:
  ucs_status_ptr_t post(ucp_request_param_t& param) {
    if (const ucs_status_t refused = m_state->refusal(m_view.memory); refused != UCS_OK)
      return UCS_STATUS_PTR(refused);
    prepare_send(param);
    param.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMORY_TYPE;
    if (m_state->fast_completion())
      param.op_attr_mask |= UCP_OP_ATTR_FLAG_FAST_CMPL;
    param.memory_type = to_ucs(m_view.memory);
    m_tag = m_state->next_send_tag();
    m_posted = true;
    return ucp_tag_send_nbx(m_state->ucp_endpoint(), m_view.data, m_view.size, m_tag, &param);
  }
  void on_pending() noexcept {
    m_state->link(*this, endpoint_state::op_list::sends);
    m_linked = true;
  }
  void on_done(ucs_status_t) noexcept {
    if (m_linked) {
      m_state->unlink(*this, endpoint_state::op_list::sends);
      m_linked = false;
    }
  }
  void value() const noexcept {}
  [[nodiscard]] std::error_code error_code(ucs_status_t status) const noexcept {
    if (status == UCS_ERR_MESSAGE_TRUNCATED || status == UCS_ERR_UNSUPPORTED)
      return make_error_code(status);
    // Cancelled before posting: the caller's stop token. After: UCX's doing.
    return m_state->operation_error(status, status == UCS_ERR_CANCELED && m_posted);
  }
  [[nodiscard]] std::string describe(ucs_status_t status) const {
    return "send of " + std::to_string(m_view.size) + " bytes of " + to_string(m_view.memory) + " memory to " +
           m_state->peer() + ": " +
           (status == UCS_ERR_UNSUPPORTED ? unsupported_memory_text(to_ucs(m_view.memory)) : error_code(status).message());
  }

  state_ref m_state;
  buffer_view<const void> m_view;
  tag_t m_tag = 0;
  bool m_posted = false;
  bool m_linked = false;
};

/// Receive on an endpoint; tracked by the endpoint so that closing it (or
/// the peer closing or dying) fails this receive instead of stranding it.
class ep_recv_op : public request_op<ep_recv_op, std::size_t>, public op_link {
  friend class request_op<ep_recv_op, std::size_t>;
  friend class endpoint_state;

public:
  ep_recv_op(endpoint_state& state, buffer_view<void> view)
      : request_op(state.get_worker().engine()), m_state(&state), m_view(view) {}
  ep_recv_op(ep_recv_op&& other) noexcept
      : request_op(std::move(other)), op_link{}, m_state(other.m_state), m_view(other.m_view) {}
  ~ep_recv_op() {
    if (m_linked)
      m_state->unlink(*this, endpoint_state::op_list::recvs);
  }

private:
  ucs_status_ptr_t post(ucp_request_param_t& param) {
    if (const ucs_status_t refused = m_state->refusal(m_view.memory); refused != UCS_OK)
      return UCS_STATUS_PTR(refused);
    prepare_recv(param);
    param.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMORY_TYPE;
    param.memory_type = to_ucs(m_view.memory);
    m_tag = m_state->next_recv_tag(m_seq);
    m_posted = true;
    ucp_worker_h worker = m_state->get_worker().ucp_worker();
    return post_tag_recv(worker, m_view.data, m_view.size, m_tag, tag_layout::full_mask, param);
  }
  void on_pending() noexcept {
    m_state->link(*this, endpoint_state::op_list::recvs);
    m_linked = true;
  }
  void on_recv_info(const ucp_tag_recv_info_t& info) noexcept { m_info = info; }
  void on_done(ucs_status_t status) noexcept {
    if (m_linked) {
      m_state->unlink(*this, endpoint_state::op_list::recvs);
      m_linked = false;
    }
    if (status == UCS_OK || status == UCS_ERR_MESSAGE_TRUNCATED)
      m_state->on_recv_completed();
    else if (status == UCS_ERR_CANCELED && m_posted)
      m_state->return_recv_seq(m_seq);
  }
  [[nodiscard]] std::size_t value() const noexcept { return m_info.length; }
  [[nodiscard]] std::error_code error_code(ucs_status_t status) const noexcept {
    if (status == UCS_ERR_NOT_CONNECTED || m_cancelled_by_close)
      return m_state->close_reason();
    if (status == UCS_ERR_MESSAGE_TRUNCATED || status == UCS_ERR_UNSUPPORTED || status == UCS_ERR_CANCELED)
      return make_error_code(status);
    return m_state->operation_error(status);
  }
  [[nodiscard]] std::string describe(ucs_status_t status) const {
    std::string out = "recv of " + std::to_string(m_view.size) + " bytes of " + to_string(m_view.memory) +
                      " memory from " + m_state->peer() + ": " +
                      (status == UCS_ERR_UNSUPPORTED ? unsupported_memory_text(to_ucs(m_view.memory))
                                                     : error_code(status).message());
    if (status == UCS_ERR_MESSAGE_TRUNCATED && m_info.length > m_view.size)
      out += " (peer sent " + std::to_string(m_info.length) + " bytes)";
    return out;
  }

  state_ref m_state;
  buffer_view<void> m_view;
  ucp_tag_recv_info_t m_info{};
  tag_t m_tag = 0;
  std::uint64_t m_seq = 0;
  bool m_posted = false;
  bool m_linked = false;
  bool m_cancelled_by_close = false;
};

inline void endpoint_state::cancel_pending_recvs() noexcept {
  // Cancelling completes each through the usual path (which unlinks it), so
  // walk a snapshot.
  std::vector<ep_recv_op*> pending;
  for (op_link* node = m_pending_recvs; node != nullptr; node = node->next)
    pending.push_back(static_cast<ep_recv_op*>(node));
  for (ep_recv_op* op : pending) {
    op->m_cancelled_by_close = true;
    op->cancel_request();
  }
}

inline void endpoint_state::detach_pending_sends() noexcept {
  // Detaching completes each (which unlinks it): walk a snapshot.
  std::vector<ep_send_op*> pending;
  for (op_link* node = m_pending_sends; node != nullptr; node = node->next)
    pending.push_back(static_cast<ep_send_op*>(node));
  for (ep_send_op* op : pending)
    op->detach(UCS_ERR_CANCELED);
}

inline void endpoint_registry::shutdown() {
  std::vector<std::shared_ptr<endpoint_state>> live;
  for (auto& [ep, state] : m_endpoints)
    if (auto s = state->weak_from_this().lock())
      live.push_back(std::move(s));
  for (auto& s : live)
    s->abort();
}

inline void endpoint_registry::check_shared_memory(const std::string& dead_peer) noexcept {
  try {
    if (!m_shared_memory_stuck.empty() || !m_worker->engine().stuck_unarmable())
      return;
    m_shared_memory_stuck = "the same-host peer " + dead_peer +
                            " died while writing into this worker's shared-memory receive FIFO";
    std::vector<std::shared_ptr<endpoint_state>> stranded;
    for (auto& [ep, state] : m_endpoints)
      if (state->uses_shared_memory())
        if (auto s = state->weak_from_this().lock())
          stranded.push_back(std::move(s));
    for (auto& s : stranded)
      s->fail(make_error_code(errc::shared_memory_stuck));
  } catch (...) {
    // Out of memory or epoll failing: the endpoints stay as they were.
  }
}

inline ucs_status_t endpoint_registry::on_handshake(void* arg, const void* header, std::size_t header_length,
                                                    void* /*data*/, std::size_t /*length*/,
                                                    const ucp_am_recv_param_t* param) {
  auto* self = static_cast<endpoint_registry*>(arg);
  if ((param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP) == 0)
    return UCS_OK; // not a ucoro handshake: nobody to answer
  auto it = self->m_endpoints.find(param->reply_ep);
  if (it != self->m_endpoints.end())
    it->second->deliver_handshake(header, header_length);
  return UCS_OK;
}

/// Active-message send of a handshake, asking UCX to tell the receiver
/// which endpoint it came on.
class handshake_send_op : public request_op<handshake_send_op, void> {
  friend class request_op<handshake_send_op, void>;

public:
  handshake_send_op(progress_engine& engine, ucp_ep_h ep, const handshake_message& msg, const std::string& peer)
      : request_op(engine), m_ep(ep), m_msg(msg), m_peer(&peer) {}

private:
  ucs_status_ptr_t post(ucp_request_param_t& param) {
    prepare_send(param);
    param.op_attr_mask |= UCP_OP_ATTR_FIELD_FLAGS;
    param.flags = UCP_AM_SEND_FLAG_REPLY | UCP_AM_SEND_FLAG_EAGER;
    return ucp_am_send_nbx(m_ep, handshake_am_id, &m_msg, sizeof m_msg, nullptr, 0, &param);
  }
  void value() const noexcept {}
  [[nodiscard]] std::string describe(ucs_status_t status) const {
    return "handshake with " + *m_peer + ": " + ucs_status_string(status);
  }

  ucp_ep_h m_ep;
  handshake_message m_msg;
  const std::string* m_peer;
};

[[nodiscard]] inline handshake_message make_handshake(const endpoint_state& state, std::uint32_t extra_flags = 0) {
  handshake_message msg;
  msg.flags = (state.ordered() ? handshake_message::ordered : 0U) | extra_flags;
  msg.msg_tag = state.recv_msg_base();
  msg.ctrl_tag = state.recv_ctrl_raw();
  msg.process = this_process();
  msg.seal();
  return msg;
}

/// Waits for the peer's handshake, bounded; turns a peer error or a timeout
/// into a clear error naming the peer.
inline task<void> await_handshake(endpoint_state& state, std::chrono::milliseconds timeout, const char* what) {
  auto r = co_await as_result(with_timeout(state.handshake_event().wait(), timeout));
  if (state.peer_error() != UCS_OK)
    throw ucx_error(state.peer_error(), std::string(what) + " " + state.peer() + ": " +
                                            ucs_status_string(state.peer_error()));
  if (!r)
    throw ucx_error(r.error, std::string(what) + " " + state.peer() + ": no handshake within " +
                                 format_duration(timeout));
}

/// The way UCX 1.13 fails a same-host connection whose two sides differ in
/// error handling: at once, with one of these.
[[nodiscard]] inline bool may_be_error_mode_mismatch(std::error_code code) noexcept {
  return code.category() == ucx_category() &&
         (code.value() == UCS_ERR_NOT_CONNECTED || code.value() == UCS_ERR_ENDPOINT_TIMEOUT ||
          code.value() == UCS_ERR_CONNECTION_RESET);
}

[[nodiscard]] inline std::string error_mode_mismatch_hint(const endpoint_state& state) {
  return std::string(": on one host UCX cannot connect endpoints whose error handling differs (this side used ") +
         (state.ucx_peer_mode() ? "peer" : "none") +
         "): give both sides the same error_handling, e.g. the default, automatic; peers in different pid "
         "namespaces cannot connect over sysv/cma without error handling either: use peer on both sides";
}

[[nodiscard]] inline std::string reject_text(std::uint32_t reason) {
  switch (reason) {
  case handshake_message::version_mismatch: return "protocol version mismatch";
  case handshake_message::order_mismatch: return "guarantee_msg_order differs between the peers";
  default: return "rejected";
  }
}

} // namespace detail

/// A connected endpoint. Move-only; dropping one that is still open closes
/// it gracefully in the background (abort() closes at once).
class endpoint {
public:
  endpoint() = default;
  explicit endpoint(std::shared_ptr<detail::endpoint_state> state) noexcept : m_state(std::move(state)) {}
  endpoint(endpoint&&) noexcept = default;
  endpoint& operator=(endpoint&& other) noexcept {
    if (this != &other) {
      release();
      m_state = std::move(other.m_state);
    }
    return *this;
  }
  ~endpoint() { release(); }

  /// Sends all of `buf`. Completes when the buffer may be reused.
  template <buffer B>
  [[nodiscard]] detail::ep_send_op send(const B& buf) const {
    return {*state(), view_of(buf)};
  }

  /// Sends the first `nbytes` bytes of `buf`.
  template <buffer B>
  [[nodiscard]] detail::ep_send_op send(const B& buf, std::size_t nbytes) const {
    auto view = view_of(buf);
    check_size("send", view.size, nbytes);
    view.size = nbytes;
    return {*state(), view};
  }

  /// Receives the next message into `buf`; returns the bytes received. A
  /// larger message fails with std::errc::message_size (it is consumed; the
  /// endpoint stays usable).
  template <writable_buffer B>
  [[nodiscard]] detail::ep_recv_op recv(B&& buf) const {
    return {*state(), writable_view_of(buf)};
  }

  /// Receives into the first `nbytes` bytes of `buf`.
  template <writable_buffer B>
  [[nodiscard]] detail::ep_recv_op recv(B&& buf, std::size_t nbytes) const {
    auto view = writable_view_of(buf);
    check_size("recv", view.size, nbytes);
    view.size = nbytes;
    return {*state(), view};
  }

  /// An 8-byte size, then the payload. Calls on one endpoint must not
  /// overlap with other sends (the two messages must be consecutive).
  template <buffer B>
  [[nodiscard]] task<void> send_obj(const B& buf) const {
    const std::uint64_t size = view_of(buf).size;
    co_await send(as_bytes(&size, sizeof size));
    co_await send(buf);
  }

  /// Receives what send_obj sent, allocating exactly its size.
  template <class Allocator = std::allocator<std::byte>>
  [[nodiscard]] task<std::vector<std::byte, Allocator>> recv_obj(Allocator alloc = {}) const {
    std::uint64_t size = 0;
    const std::size_t got = co_await recv(as_writable_bytes(&size, sizeof size));
    if (got != sizeof size)
      throw ucx_error(make_error_code(errc::handshake_failed),
                      "recv_obj from " + peer() + ": expected an 8-byte size header, got " + std::to_string(got) +
                          " bytes");
    std::vector<std::byte, Allocator> out(static_cast<std::size_t>(size), alloc);
    (void)co_await recv(out);
    co_return out;
  }

  /// Graceful close (see the header comment). Bounded by close_timeout.
  [[nodiscard]] task<void> close() {
    auto s = state();
    co_await s->close();
  }

  /// Closes now; pending operations fail with errc::endpoint_closed.
  void abort() { state()->abort(); }

  [[nodiscard]] bool closed() const noexcept { return !m_state || m_state->closed(); }

  /// Why it closed (empty while open).
  [[nodiscard]] std::error_code close_reason() const noexcept {
    return m_state ? m_state->close_reason() : std::error_code{};
  }

  /// Closes after the n-th completed receive, counted from now or from the
  /// endpoint's creation.
  void close_after_n_recv(std::uint64_t n, bool count_from_ep_creation = false) {
    state()->close_after_n_recv(n, count_from_ep_creation);
  }

  /// Runs once, on the worker's thread, when the endpoint closes (for any
  /// reason), with the reason.
  void set_close_callback(std::function<void(std::error_code)> fn) { state()->set_close_callback(std::move(fn)); }

  /// ucp_ep_print_info (the lanes and transports this endpoint uses),
  /// after a line saying how peer failure is detected and why.
  [[nodiscard]] std::string ucx_info() const {
    auto s = state();
    const ucoro::failure_detection& d = s->detection();
    std::string out = "# ucoro failure detection: UCX error handling ";
    out += d.ucx_mode == error_handling::peer ? "peer" : "none";
    if (d.process_watch)
      out += " + pidfd on pid " + std::to_string(d.peer_pid);
    if (d.heartbeat_timeout.count() > 0)
      out += " + heartbeat (timeout " + detail::format_duration(d.heartbeat_timeout) + ")";
    out += " (" + d.reason + ")\n";
    if (s->ucp_endpoint() != nullptr)
      out += detail::print_to_string([&](FILE* f) { ucp_ep_print_info(s->ucp_endpoint(), f); });
    return out;
  }

  /// How this endpoint detects a failed peer (what error_handling chose).
  [[nodiscard]] const ucoro::failure_detection& failure_detection() const { return state()->detection(); }
  [[nodiscard]] bool cuda_support() const { return state()->get_worker().get_context().cuda_support(); }
  [[nodiscard]] ucp_worker_h ucp_worker() const { return state()->get_worker().ucp_worker(); }
  [[nodiscard]] ucp_ep_h ucp_endpoint() const { return state()->ucp_endpoint(); }
  [[nodiscard]] const std::string& peer() const { return state()->peer(); }
  [[nodiscard]] std::uint64_t send_count() const { return state()->send_count(); }
  /// Whether sends use UCX's fast local completion (see send_completion).
  [[nodiscard]] bool fast_completion() const { return state()->fast_completion(); }
  /// Whether messages travel over shared memory (sysv/posix): such
  /// endpoints share the worker's receive FIFO (docs/failure.md).
  [[nodiscard]] bool uses_shared_memory() const { return state()->uses_shared_memory(); }
  [[nodiscard]] std::uint64_t recv_count() const { return state()->recv_count(); }

private:
  [[nodiscard]] const std::shared_ptr<detail::endpoint_state>& state() const {
    if (!m_state)
      throw_error(make_error_code(errc::endpoint_closed), "use of an empty (moved-from) ucoro::endpoint");
    return m_state;
  }

  void check_size(const char* what, std::size_t have, std::size_t want) const {
    if (want > have)
      throw_error(std::make_error_code(std::errc::invalid_argument),
                  std::string(what) + " of " + std::to_string(want) + " bytes " + (what[0] == 's' ? "to " : "from ") +
                      peer() + ": the buffer holds only " + std::to_string(have) + " bytes");
  }

  void release() noexcept {
    if (!m_state || m_state->closed())
      return;
    try {
      m_state->get_worker().spawn(m_state->close());
    } catch (...) {
      m_state->abort();
    }
  }

  std::shared_ptr<detail::endpoint_state> m_state;
};

// ---- worker members that need endpoint -------------------------------------------------

namespace detail {
inline constexpr std::chrono::milliseconds mismatch_retry_pause{100};
} // namespace detail

inline task<endpoint> worker::create_endpoint(std::string host, std::uint16_t port, endpoint_options options) {
  const std::string what = host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0)
    throw ucx_error(std::make_error_code(std::errc::host_unreachable),
                    "create_endpoint to " + what + ": cannot resolve host: " + ::gai_strerror(rc));
  sockaddr_storage address{};
  std::memcpy(&address, found->ai_addr, found->ai_addrlen);
  const socklen_t address_length = found->ai_addrlen;
  ::freeaddrinfo(found);

  const bool local = detail::is_local_address(reinterpret_cast<const sockaddr*>(&address));
  // UCX 1.13 cannot connect a same-host endpoint with peer error handling to
  // one without (ucp_ep_create succeeds, the handshake fails at once with
  // "not connected" or "endpoint timeout"). automatic tries none first and,
  // on exactly that failure, once more with peer: the listener asked for it.
  for (int attempt = 0;; ++attempt) {
    auto state = detail::make_endpoint_state(*this, what, options.guarantee_msg_order, options.error_handling,
                                            options.heartbeat, options.close_timeout, options.completion);
    state->set_recv_tags(detail::random_tag_base(), detail::random_tag_base());
    state->choose_error_mode(local);
    if (attempt > 0)
      state->use_ucx_peer_mode("automatic: same host, but the listener uses peer error handling");
    if (const auto& stuck = use_service<detail::endpoint_registry>().shared_memory_stuck();
        local && !state->ucx_peer_mode() && !stuck.empty())
      throw ucx_error(make_error_code(errc::shared_memory_stuck),
                      "create_endpoint to " + what + ": " + stuck +
                          "; nothing can arrive here over shared memory any more: connect from a new worker (or "
                          "use error_handling::peer, which goes over tcp)");

    ucp_ep_params_t params{};
    params.field_mask = UCP_EP_PARAM_FIELD_FLAGS | UCP_EP_PARAM_FIELD_SOCK_ADDR;
    params.flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER;
    params.sockaddr.addr = reinterpret_cast<const sockaddr*>(&address);
    params.sockaddr.addrlen = address_length;
    state->fill_error_handling(params);
    ucp_ep_h ep = nullptr;
    check(ucp_ep_create(m_handle, &params, &ep), [&] { return "create_endpoint to " + what; });
    state->attach(ep);

    std::exception_ptr failure;
    std::error_code failure_code;
    try {
      const auto hello = detail::make_handshake(*state);
      co_await with_timeout(detail::handshake_send_op(*m_engine, ep, hello, state->peer()), options.connect_timeout);
      co_await detail::await_handshake(*state, options.connect_timeout, "create_endpoint to");
      const auto& reply = state->handshake();
      if (!state->handshake_well_formed())
        throw ucx_error(make_error_code(errc::handshake_failed),
                        "create_endpoint to " + what + ": malformed handshake reply (bad magic or checksum)");
      if ((reply.flags & detail::handshake_message::reject) != 0)
        throw ucx_error(make_error_code(errc::protocol_mismatch),
                        "create_endpoint to " + what + ": the listener rejected the connection: " +
                            detail::reject_text(reply.reason));
      if (reply.version != detail::protocol_version)
        throw ucx_error(make_error_code(errc::protocol_mismatch),
                        "create_endpoint to " + what + ": protocol version " + std::to_string(reply.version) +
                            ", expected " + std::to_string(detail::protocol_version));
      state->set_send_tags(reply.msg_tag, reply.ctrl_tag);
      state->resolve_completion();
      state->start_control();
      state->start_failure_detection(reply.process);
    } catch (const std::system_error& e) {
      failure = std::current_exception();
      failure_code = e.code();
    } catch (...) {
      failure = std::current_exception();
    }
    if (!failure)
      co_return endpoint{std::move(state)};
    state->fail(make_error_code(errc::handshake_failed));
    const bool mode_mismatch = local && detail::may_be_error_mode_mismatch(failure_code);
    if (mode_mismatch && attempt == 0 && options.error_handling == error_handling::automatic &&
        !state->ucx_peer_mode()) {
      // Retrying at once made the listener process abort in about 3% of
      // tries (UCX 1.13 asserts in tcp_sockcm_ep.c while it still tears
      // down the connection that just failed); after a pause, 0 in 400.
      co_await sleep(detail::mismatch_retry_pause);
      continue;
    }
    if (mode_mismatch)
      throw ucx_error(failure_code, "create_endpoint to " + what + detail::error_mode_mismatch_hint(*state));
    std::rethrow_exception(failure);
  }
}

inline endpoint worker::create_endpoint_from_worker_address(const std::vector<std::byte>& address,
                                                            address_endpoint_options options) {
  if (address.empty())
    throw_error(std::make_error_code(std::errc::invalid_argument), "create_endpoint_from_worker_address: empty address");
  auto state = detail::make_endpoint_state(*this, "worker address", options.guarantee_msg_order,
                                          options.error_handling, heartbeat_options{}, std::chrono::seconds(1),
                                          options.completion);
  state->choose_error_mode(false);
  if (options.error_handling == error_handling::automatic)
    state->use_ucx_peer_mode("automatic: no handshake on an address endpoint, so the peer's process is unknown");
  // Both sides derive the data tag from the channel they agree on.
  const tag_t channel_tag = (options.channel * 0x9E3779B97F4A7C15ULL) & ~tag_layout::space_mask;
  state->set_recv_tags(channel_tag, 0);
  state->set_send_tags(channel_tag, 0);
  ucp_ep_params_t params{};
  params.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS;
  params.address = reinterpret_cast<const ucp_address_t*>(address.data());
  state->fill_error_handling(params);
  ucp_ep_h ep = nullptr;
  check(ucp_ep_create(m_handle, &params, &ep), "create_endpoint_from_worker_address");
  state->attach(ep);
  state->resolve_completion();
  return endpoint{std::move(state)};
}

} // namespace ucoro

// worker::create_listener is defined there; see the end of worker.hpp.
#include <ucoro/listener.hpp>
