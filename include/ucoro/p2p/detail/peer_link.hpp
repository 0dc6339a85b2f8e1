#pragma once
// The peer link: one UCX connection per pair of workers (and error mode),
// shared by every ucoro endpoint and communicator rank between them, with
// what belongs to the peer rather than to one endpoint: its failure (once,
// to every user), the watch on its process, and its heartbeat
// (link_heartbeat.hpp). The registry is the worker service that keeps them.
//
// Why shared: endpoints are made from worker addresses after ucoro's own
// handshake (the front door), and UCX pairs the two sides' ucp_ep_h of two
// workers by creation order. Two connections made at once between the same
// workers could pair crosswise, and closing one side of a pair then breaks
// the other endpoint's rendezvous. With one ucp_ep_h per peer worker there
// is nothing to cross; endpoints keep apart by their tags, as MPI ranks do
// over one connection. A link lives until its peer fails or the worker
// goes.
//
// Lifetime (the one rule, docs/design.md): the registry owns links
// (shared_ptr) while they are usable; each endpoint holds a shared_ptr to
// its link and registers itself as a user (a raw pointer, removed by the
// endpoint before it goes). A failure reaches every user exactly once, then
// the registry forgets the link; UCX never calls back into a link that is
// gone, because the ucp_ep_h is closed (force) before it is dropped.
//
// The members that reach the registry are defined after it, in
// peer_link_registry.hpp: include that one.

#include <ucoro/p2p/detail/cma_guard.hpp>
#include <ucoro/p2p/detail/link_heartbeat.hpp>
#include <ucoro/runtime/detail/intrusive_list.hpp>
#include <ucoro/runtime/detail/peer_process.hpp>
#include <ucoro/ucx/detail/ucx_info.hpp>
#include <ucoro/runtime/detail/unique_fd.hpp>
#include <ucoro/error.hpp>
#include <ucoro/p2p/options.hpp>
#include <ucoro/runtime/task.hpp>
#include <ucoro/ucx/worker.hpp>

#include <ucp/api/ucp.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

namespace ucoro::detail {

/// The statuses with which UCX fails an operation because the connection
/// under it failed (the peer died, reset, timed out or became unreachable),
/// as opposed to the operation itself (truncation, a cancel, bad input).
/// The one list: the endpoint and the communicator both classify by it.
[[nodiscard]] constexpr bool is_transport_failure(ucs_status_t status) noexcept {
  switch (status) {
  case UCS_ERR_IO_ERROR:
  case UCS_ERR_CONNECTION_RESET:
  case UCS_ERR_ENDPOINT_TIMEOUT:
  case UCS_ERR_UNREACHABLE:
  case UCS_ERR_NOT_CONNECTED: return true;
  default: return false;
  }
}

/// What a link tells the endpoints on it when it fails.
class peer_link_user {
public:
  /// The link failed (the peer died or UCX failed it) with `reason`.
  virtual void link_failed(std::error_code reason) = 0;
  [[nodiscard]] virtual bool receives_over_shared_memory() const noexcept = 0;

protected:
  ~peer_link_user() = default;
};

class peer_link_registry;
class peer_link;

struct link_operations_tag;

/// The operations in flight over a link of one owner (an endpoint's, or a
/// communicator's with one rank: pending_operations.hpp), registered with
/// the link, which ends them when it fails, whoever their owner. Failure
/// path only: a message pays nothing for it. A function pointer, not a
/// virtual: the owner's operation types are incomplete where the set is a
/// member (endpoint_state.hpp), and a vtable would need them there.
class link_operations : public basic_list_node<link_operations_tag> {
public:
  link_operations(const link_operations&) = delete;
  link_operations& operator=(const link_operations&) = delete;

  /// The link failed: every operation of this owner ends.
  void fail_all() noexcept { m_fail(*this); }
  void unregister() noexcept;

protected:
  using fail_function = void (*)(link_operations&) noexcept;
  link_operations() noexcept = default;
  ~link_operations();
  /// Registered with `link` (a later link replaces it); `fail` ends them.
  void register_with(peer_link& link, fail_function fail) noexcept;

private:
  friend class peer_link;
  peer_link* m_link = nullptr;
  fail_function m_fail = nullptr;
};

/// What a link's failure knows of its peer.
enum class peer_state : unsigned char {
  unknown, ///< alive, or not known to be gone (a close, an abandoned send, a stuck FIFO)
  gone,    ///< its process exited, or the transport says it failed
};

class peer_link : public std::enable_shared_from_this<peer_link> {
public:
  peer_link(peer_link_registry& registry, std::string key, std::string peer, bool ucx_peer)
      : m_registry(&registry), m_key(std::move(key)), m_peer(std::move(peer)), m_ucx_peer(ucx_peer) {}
  peer_link(const peer_link&) = delete;
  peer_link& operator=(const peer_link&) = delete;
  ~peer_link();

  /// ucp_ep_create to `address` in this connection's error mode.
  void open(worker& w, const std::vector<std::byte>& address) {
    ucp_ep_params_t params{};
    params.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE;
    params.address = reinterpret_cast<const ucp_address_t*>(address.data());
    params.err_mode = m_ucx_peer ? UCP_ERR_HANDLING_MODE_PEER : UCP_ERR_HANDLING_MODE_NONE;
    if (!m_ucx_peer)
      install_cma_guard(); // a CMA read from a peer that just died must not abort us
    if (m_ucx_peer) {
      params.field_mask |= UCP_EP_PARAM_FIELD_ERR_HANDLER;
      params.err_handler.cb = &on_ucx_error;
      params.err_handler.arg = this;
    }
    check(ucp_ep_create(w.ucp_worker(), &params, &m_ep), [&] { return "connecting to " + m_peer; });
    m_peer_name = heartbeat_name(address);
    m_lanes = parse_ep_info(print_to_string([&](FILE* f) { ucp_ep_print_info(m_ep, f); }));
  }

  /// Watches the peer's process (mode none, same host); empty on success,
  /// else why it cannot be watched.
  [[nodiscard]] std::string watch_process(worker& w, const process_identity& peer);

  [[nodiscard]] ucp_ep_h ucp_endpoint() const noexcept { return m_ep; }
  [[nodiscard]] bool ucx_peer_mode() const noexcept { return m_ucx_peer; }
  [[nodiscard]] bool failed() const noexcept { return m_failed; }
  [[nodiscard]] std::error_code failure() const noexcept { return m_failure; }
  [[nodiscard]] bool process_watched() const noexcept { return static_cast<bool>(m_pidfd); }
  [[nodiscard]] const ep_lanes& lanes() const noexcept { return m_lanes; }
  [[nodiscard]] ucs_status_t ucx_error_status() const noexcept { return m_ucx_error; }
  [[nodiscard]] const std::string& peer() const noexcept { return m_peer; }

  void add_user(peer_link_user* user) { m_users.push_back(user); }
  void remove_user(peer_link_user* user) noexcept { std::erase(m_users, user); }

  /// Operations of an owner, ended by this link's failure
  /// (link_operations::register_with adds them).
  void remove_operations(link_operations& ops) noexcept {
    m_operations.erase(ops);
    ops.m_link = nullptr;
  }

  /// Fails this link with `reason`, in one order for every owner: UCX is
  /// progressed until idle when the peer is gone (what it sent before it
  /// died is matched first), then every user learns why (an endpoint
  /// closes, a communicator marks its rank failed), then every registered
  /// owner's operations end (receives cancelled, sends detached, held ones
  /// given the verdict), then the UCX endpoint is force-closed.
  /// `peer`: whether the peer is known to be gone (then a shared-memory
  /// link's FIFO is checked for a stuck peer, see check_shared_memory).
  /// Called from the loop, never inside UCX's progress.
  void fail(std::error_code reason, peer_state peer);

  // ---- heartbeat (link_heartbeat.hpp) ------------------------------------------

  /// `owner` watches the peer: its silence past hb.timeout fails the link.
  void watch_heartbeat(const void* owner, const heartbeat_options& hb);
  /// `owner` asks this side to beat to the peer every `interval`.
  void send_heartbeats(const void* owner, std::chrono::milliseconds interval);
  /// `owner` asks for neither any more.
  void forget_heartbeat(const void* owner) noexcept { m_liveness.forget(owner); }
  /// A beat came from the peer.
  void heard() noexcept { m_liveness.heard(link_liveness::clock::now()); }
  [[nodiscard]] bool beating() const noexcept { return m_liveness.beating(); }
  /// The peer worker's name in heartbeat tags.
  [[nodiscard]] std::uint64_t peer_name() const noexcept { return m_peer_name; }

private:
  friend class link_operations;
  static void on_ucx_error(void* arg, ucp_ep_h, ucs_status_t status);
  void stop_watch() noexcept;
  void start_ticking();
  void send_beat(link_liveness::clock::time_point now) noexcept;
  static task<void> tick(std::weak_ptr<peer_link> weak, worker& w);
  /// One tick's check: fails the link if the peer is overdue, beats if one
  /// is due; the next sleep, or nothing when the tick should end.
  static std::optional<std::chrono::milliseconds> on_tick(const std::weak_ptr<peer_link>& weak);

  peer_link_registry* m_registry;
  std::string m_key;
  std::string m_peer;
  bool m_ucx_peer;
  ucp_ep_h m_ep = nullptr;
  ep_lanes m_lanes;
  unique_fd m_pidfd;
  worker* m_watching_worker = nullptr;
  std::vector<peer_link_user*> m_users;
  basic_intrusive_list<link_operations_tag> m_operations;
  std::uint64_t m_peer_name = 0;
  link_liveness m_liveness;
  bool m_ticking = false;
  std::stop_source m_heartbeat_stop; ///< ends the tick with the link
  bool m_failed = false;
  std::error_code m_failure;
  ucs_status_t m_ucx_error = UCS_OK;
};

inline void link_operations::register_with(peer_link& link, fail_function fail) noexcept {
  unregister();
  m_fail = fail;
  m_link = &link;
  link.m_operations.push_front(*this);
}
inline void link_operations::unregister() noexcept {
  if (m_link != nullptr)
    m_link->remove_operations(*this);
}
inline link_operations::~link_operations() { unregister(); }

} // namespace ucoro::detail
