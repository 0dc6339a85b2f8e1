#pragma once
// One UCX connection per pair of workers (and error mode), shared by every
// ucoro endpoint between them, and the worker service that keeps them.
//
// Why shared: endpoints are made from worker addresses after ucoro's own
// handshake (the front door), and UCX pairs the two sides' ucp_ep_h of two
// workers by creation order. Two connections made at once between the same
// workers could pair crosswise, and closing one side of a pair then breaks
// the other endpoint's rendezvous. With one ucp_ep_h per peer worker there
// is nothing to cross; endpoints keep apart by their tags, as MPI ranks do
// over one connection. A connection lives until its peer fails or the
// worker goes.
//
// Lifetime (the one rule): the registry owns connections (shared_ptr) while
// they are usable; each endpoint holds a shared_ptr to its connection and
// registers itself as a user (a raw pointer, removed by the endpoint before
// it goes). A failure reaches every user exactly once, then the registry
// forgets the connection; UCX never calls back into a connection that is
// gone, because the ucp_ep_h is closed (force) before it is dropped.

#include <ucoro/p2p/detail/cma_guard.hpp>
#include <ucoro/runtime/detail/peer_process.hpp>
#include <ucoro/ucx/detail/ucx_info.hpp>
#include <ucoro/runtime/detail/unique_fd.hpp>
#include <ucoro/error.hpp>
#include <ucoro/p2p/options.hpp>
#include <ucoro/ucx/worker.hpp>

#include <ucp/api/ucp.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
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

/// What a connection tells the endpoints on it when it fails.
class connection_user {
public:
  /// The connection failed (the peer died or UCX failed it) with `reason`.
  virtual void connection_failed(std::error_code reason) = 0;
  [[nodiscard]] virtual bool receives_over_shared_memory() const noexcept = 0;

protected:
  ~connection_user() = default;
};

class connection_registry;

/// What a connection's failure knows of its peer.
enum class peer_state : unsigned char {
  unknown, ///< alive, or not known to be gone (a close, an abandoned send, a stuck FIFO)
  gone,    ///< its process exited, or the transport says it failed
};

class connection : public std::enable_shared_from_this<connection> {
public:
  connection(connection_registry& registry, std::string key, std::string peer, bool ucx_peer)
      : m_registry(&registry), m_key(std::move(key)), m_peer(std::move(peer)), m_ucx_peer(ucx_peer) {}
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection();

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
    m_lanes = parse_ep_info(print_to_string([&](FILE* f) { ucp_ep_print_info(m_ep, f); }));
  }

  /// Watches the peer's process (mode none, same host); empty on success,
  /// else why it cannot be watched.
  [[nodiscard]] std::string watch(worker& w, const process_identity& peer);

  [[nodiscard]] ucp_ep_h ucp_endpoint() const noexcept { return m_ep; }
  [[nodiscard]] bool ucx_peer_mode() const noexcept { return m_ucx_peer; }
  [[nodiscard]] bool failed() const noexcept { return m_failed; }
  [[nodiscard]] std::error_code failure() const noexcept { return m_failure; }
  [[nodiscard]] bool process_watched() const noexcept { return static_cast<bool>(m_pidfd); }
  [[nodiscard]] const ep_lanes& lanes() const noexcept { return m_lanes; }
  [[nodiscard]] ucs_status_t ucx_error_status() const noexcept { return m_ucx_error; }
  [[nodiscard]] const std::string& peer() const noexcept { return m_peer; }

  void add_user(connection_user* user) { m_users.push_back(user); }
  void remove_user(connection_user* user) noexcept { std::erase(m_users, user); }

  /// Fails every endpoint on this connection with `reason` and closes it.
  /// `peer`: whether the peer is known to be gone (then a shared-memory
  /// connection's FIFO is checked for a stuck peer, see check_shared_memory).
  void fail(std::error_code reason, peer_state peer);

private:
  static void on_ucx_error(void* arg, ucp_ep_h, ucs_status_t status);
  void stop_watch() noexcept;

  connection_registry* m_registry;
  std::string m_key;
  std::string m_peer;
  bool m_ucx_peer;
  ucp_ep_h m_ep = nullptr;
  ep_lanes m_lanes;
  unique_fd m_pidfd;
  worker* m_watching_worker = nullptr;
  std::vector<connection_user*> m_users;
  bool m_failed = false;
  std::error_code m_failure;
  ucs_status_t m_ucx_error = UCS_OK;
};

/// Worker service: the connections by peer worker, this worker's address,
/// UCX endpoint closes in flight, and the shared-memory FIFO diagnosis.
class connection_registry {
public:
  explicit connection_registry(worker& w) : m_worker(&w) {}
  connection_registry(const connection_registry&) = delete;
  connection_registry& operator=(const connection_registry&) = delete;

  ~connection_registry() {
    for (auto& [key, conn] : std::exchange(m_connections, {}))
      conn->fail(make_error_code(errc::endpoint_closed), peer_state::unknown);
    // Let closes in flight finish (bounded) so UCX calls nothing freed.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (m_closing != 0 && std::chrono::steady_clock::now() < deadline)
      ucp_worker_progress(m_worker->ucp_worker());
  }

  /// Worker shutdown: every connection fails its endpoints (endpoint_closed).
  void shutdown() {
    auto all = std::exchange(m_connections, {});
    for (auto& [key, conn] : all)
      conn->fail(make_error_code(errc::endpoint_closed), peer_state::unknown);
  }

  /// The connection to the worker at `address` in this error mode, made on
  /// first use.
  [[nodiscard]] std::shared_ptr<connection> get(const std::vector<std::byte>& address, bool ucx_peer,
                                                const std::string& peer) {
    std::string key(reinterpret_cast<const char*>(address.data()), address.size());
    key += ucx_peer ? 'P' : 'N';
    if (auto it = m_connections.find(key); it != m_connections.end())
      return it->second;
    auto conn = std::make_shared<connection>(*this, key, peer, ucx_peer);
    conn->open(*m_worker, address);
    m_connections.emplace(std::move(key), conn);
    return conn;
  }

  void forget(const std::string& key, const connection* conn) noexcept {
    if (auto it = m_connections.find(key); it != m_connections.end() && it->second.get() == conn)
      m_connections.erase(it);
  }

  /// Closes `ep` in the background (force: pending requests complete now).
  void release(ucp_ep_h ep) noexcept {
    ucp_request_param_t param{};
    param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS | UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    param.flags = UCP_EP_CLOSE_FLAG_FORCE;
    param.cb.send = [](void* request, ucs_status_t, void* user_data) {
      --static_cast<connection_registry*>(user_data)->m_closing;
      ucp_request_free(request);
    };
    param.user_data = this;
    const ucs_status_ptr_t request = ucp_ep_close_nbx(ep, &param);
    if (UCS_PTR_IS_PTR(request))
      ++m_closing;
  }

  /// This worker's UCX address (queried once).
  [[nodiscard]] const std::vector<std::byte>& worker_address() {
    if (m_address.empty())
      m_address = m_worker->address();
    return m_address;
  }

  /// After a same-host peer died: if it left this worker's shared-memory
  /// receive FIFO stuck, nothing more arrives over sysv/posix from anyone,
  /// so every connection receiving that way fails with
  /// errc::shared_memory_stuck instead of waiting forever, and new
  /// same-host shared-memory connections are refused at once.
  void check_shared_memory(const std::string& dead_peer) noexcept {
    try {
      if (!m_shared_memory_stuck.empty() || !m_worker->engine().stuck_unarmable())
        return;
      m_shared_memory_stuck = "the same-host peer " + dead_peer +
                              " died while writing into this worker's shared-memory receive FIFO";
      std::vector<std::shared_ptr<connection>> stranded;
      for (auto& [key, conn] : m_connections)
        if (conn->lanes().shared_memory)
          stranded.push_back(conn);
      for (auto& conn : stranded)
        conn->fail(make_error_code(errc::shared_memory_stuck), peer_state::unknown);
    } catch (...) {
      // Out of memory or epoll failing: the connections stay as they were.
    }
  }
  [[nodiscard]] const std::string& shared_memory_stuck() const noexcept { return m_shared_memory_stuck; }

  [[nodiscard]] worker& get_worker() const noexcept { return *m_worker; }

private:
  worker* m_worker;
  std::map<std::string, std::shared_ptr<connection>> m_connections;
  std::vector<std::byte> m_address;
  std::size_t m_closing = 0;
  std::string m_shared_memory_stuck;
};

inline connection::~connection() {
  stop_watch();
  if (m_ep != nullptr)
    m_registry->release(std::exchange(m_ep, nullptr));
}

inline std::string connection::watch(worker& w, const process_identity& peer) {
  std::string why_not;
  m_pidfd = watch_process(peer, why_not);
  if (!m_pidfd)
    return why_not;
  m_watching_worker = &w;
  w.engine().watch_fd(m_pidfd.get(), [weak = weak_from_this()] {
    if (auto self = weak.lock()) {
      self->stop_watch(); // level-triggered: once is enough
      self->fail(make_error_code(errc::peer_failed), peer_state::gone);
    }
  });
  return {};
}

inline void connection::stop_watch() noexcept {
  if (m_pidfd && m_watching_worker != nullptr)
    m_watching_worker->engine().unwatch_fd(m_pidfd.get());
}

inline void connection::fail(std::error_code reason, peer_state peer) {
  if (m_failed)
    return;
  m_failed = true;
  m_failure = reason;
  auto keep_alive = shared_from_this();
  m_registry->forget(m_key, this);
  // Users remove themselves as they fail: walk a copy.
  for (connection_user* user : std::vector<connection_user*>(m_users))
    user->connection_failed(reason);
  stop_watch();
  m_pidfd.reset();
  if (m_ep != nullptr)
    m_registry->release(std::exchange(m_ep, nullptr));
  if (peer == peer_state::gone && reason == errc::peer_failed && m_lanes.shared_memory)
    m_registry->check_shared_memory(m_peer);
}

inline void connection::on_ucx_error(void* arg, ucp_ep_h, ucs_status_t status) {
  auto* self = static_cast<connection*>(arg);
  // Inside UCX: fail from the loop.
  self->m_ucx_error = status;
  self->m_registry->get_worker().post([weak = self->weak_from_this(), status] {
    if (auto s = weak.lock())
      s->fail(make_error_code(status), peer_state::gone);
  });
}

} // namespace ucoro::detail
