#pragma once
// The worker service that keeps the peer links (peer_link.hpp): the links by
// peer worker, this worker's address and heartbeat name, the one heartbeat
// receive, UCX endpoint closes in flight, and the shared-memory FIFO
// diagnosis; then the definitions of the link's members that reach it.

#include <ucoro/p2p/detail/link_heartbeat.hpp>
#include <ucoro/p2p/detail/peer_link.hpp>
#include <ucoro/runtime/task.hpp>
#include <ucoro/ucx/tag.hpp>
#include <ucoro/ucx/worker.hpp>

#include <ucp/api/ucp.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

namespace ucoro::detail {

/// Worker service: the links by peer worker, this worker's address,
/// UCX endpoint closes in flight, and the shared-memory FIFO diagnosis.
class peer_link_registry {
public:
  explicit peer_link_registry(worker& w) : m_worker(&w) {
    // Peers beat until they learn we are gone.
    w.drop_unmatched_at_destroy(heartbeat_tag(0), tag_layout::space_mask);
  }
  peer_link_registry(const peer_link_registry&) = delete;
  peer_link_registry& operator=(const peer_link_registry&) = delete;

  ~peer_link_registry() {
    m_heartbeat_stop.request_stop();
    for (auto& [key, conn] : std::exchange(m_links, {}))
      conn->fail(make_error_code(errc::endpoint_closed), peer_state::unknown);
    // Let closes in flight finish (bounded) so UCX calls nothing freed.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (m_closing != 0 && std::chrono::steady_clock::now() < deadline)
      ucp_worker_progress(m_worker->ucp_worker());
  }

  /// Worker shutdown: every connection fails its endpoints (endpoint_closed).
  void shutdown() {
    m_heartbeat_stop.request_stop();
    auto all = std::exchange(m_links, {});
    for (auto& [key, conn] : all)
      conn->fail(make_error_code(errc::endpoint_closed), peer_state::unknown);
  }

  /// The connection to the worker at `address` in this error mode, made on
  /// first use.
  [[nodiscard]] std::shared_ptr<peer_link> get(const std::vector<std::byte>& address, bool ucx_peer,
                                                const std::string& peer) {
    std::string key(reinterpret_cast<const char*>(address.data()), address.size());
    key += ucx_peer ? 'P' : 'N';
    if (auto it = m_links.find(key); it != m_links.end())
      return it->second;
    auto conn = std::make_shared<peer_link>(*this, key, peer, ucx_peer);
    conn->open(*m_worker, address);
    m_links.emplace(std::move(key), conn);
    m_by_name.emplace(conn->peer_name(), conn.get());
    return conn;
  }

  void forget(const std::string& key, const peer_link* link) noexcept {
    if (auto it = m_links.find(key); it != m_links.end() && it->second.get() == link)
      m_links.erase(it);
    for (auto [it, end] = m_by_name.equal_range(link->peer_name()); it != end; ++it)
      if (it->second == link) {
        m_by_name.erase(it);
        break;
      }
  }

  // ---- heartbeats (link_heartbeat.hpp) ----------------------------------------

  /// Receives heartbeats from now on (once: one wildcard receive per worker,
  /// posted only when something watches or asked to be told, so a worker
  /// without heartbeats pays nothing per message for it).
  void listen_for_heartbeats();
  /// A beat from a worker this side does not beat to (no link, or a link
  /// nobody asked to beat) goes to `handler` with the sender's name, for a
  /// layer that answers such a peer (the communicator connects to the rank).
  /// The handler returns false once it is gone; then it is dropped.
  void on_unbeaten_peer(std::function<bool(std::uint64_t)> handler) {
    m_unbeaten_handlers.push_back(std::move(handler));
    listen_for_heartbeats();
  }
  /// This worker's name in heartbeat tags.
  [[nodiscard]] std::uint64_t own_name() {
    if (m_own_name == 0)
      m_own_name = heartbeat_name(worker_address());
    return m_own_name;
  }

  /// Closes `ep` in the background (force: pending requests complete now).
  void release(ucp_ep_h ep) noexcept {
    ucp_request_param_t param{};
    param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS | UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    param.flags = UCP_EP_CLOSE_FLAG_FORCE;
    param.cb.send = [](void* request, ucs_status_t, void* user_data) {
      --static_cast<peer_link_registry*>(user_data)->m_closing;
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
      std::vector<std::shared_ptr<peer_link>> stranded;
      for (auto& [key, conn] : m_links)
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
  void heard(std::uint64_t sender);
  static task<void> heartbeat_listen(peer_link_registry& self);

  worker* m_worker;
  std::multimap<std::uint64_t, peer_link*> m_by_name; ///< usable links by their peer's heartbeat name
  std::vector<std::function<bool(std::uint64_t)>> m_unbeaten_handlers;
  std::uint64_t m_own_name = 0;
  bool m_listening = false;
  std::stop_source m_heartbeat_stop; ///< ends the heartbeat receive at shutdown
  std::map<std::string, std::shared_ptr<peer_link>> m_links;
  std::vector<std::byte> m_address;
  std::size_t m_closing = 0;
  std::string m_shared_memory_stuck;
};

inline peer_link::~peer_link() {
  while (!m_operations.empty()) // owners that outlive their link
    m_operations.pop_front<link_operations>().m_link = nullptr;
  m_heartbeat_stop.request_stop();
  stop_watch();
  if (m_ep != nullptr)
    m_registry->release(std::exchange(m_ep, nullptr));
}

inline std::string peer_link::watch_process(worker& w, const process_identity& peer) {
  std::string why_not;
  m_pidfd = detail::watch_process(peer, why_not); // the free function (runtime/detail/peer_process.hpp)
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

inline void peer_link::stop_watch() noexcept {
  if (m_pidfd && m_watching_worker != nullptr)
    m_watching_worker->engine().unwatch_fd(m_pidfd.get());
}

inline void peer_link::fail(std::error_code reason, peer_state peer) {
  if (m_failed)
    return;
  m_failed = true;
  m_failure = reason;
  m_heartbeat_stop.request_stop();
  auto keep_alive = shared_from_this();
  m_registry->forget(m_key, this);
  if (peer == peer_state::gone) {
    // What the peer sent just before it died can still sit in this worker's
    // shared-memory FIFO when its pidfd fires (in blocking mode both wake
    // the same epoll_wait): UCX matches it with the receives pending before
    // they are failed. Without this, 1 in 10 of a peer's last messages was
    // lost (tests/loopback/peer_failure.cpp "a message a same-host peer sent
    // just before it exited"). Completions only schedule their awaiters.
    for (int round = 0; round < 1000 && ucp_worker_progress(m_registry->get_worker().ucp_worker()) != 0; ++round) {
    }
  }
  // Users remove themselves as they fail: walk a copy.
  for (peer_link_user* user : std::vector<peer_link_user*>(m_users))
    user->link_failed(reason);
  // Then the operations, every owner's: a user's state says why by now
  // (a closed endpoint's reason, a failed rank's peer_failed). In UCX's
  // mode none a force close would leave a rendezvous send to a dead peer
  // pending forever, so sends are detached in both modes.
  for (link_operations* ops : m_operations.snapshot<link_operations>())
    ops->fail_all();
  stop_watch();
  m_pidfd.reset();
  if (m_ep != nullptr)
    m_registry->release(std::exchange(m_ep, nullptr));
  if (peer == peer_state::gone && reason == errc::peer_failed && m_lanes.shared_memory)
    m_registry->check_shared_memory(m_peer);
}

inline void peer_link::on_ucx_error(void* arg, ucp_ep_h, ucs_status_t status) {
  auto* self = static_cast<peer_link*>(arg);
  // Inside UCX: fail from the loop.
  self->m_ucx_error = status;
  self->m_registry->get_worker().post([weak = self->weak_from_this(), status] {
    if (auto s = weak.lock())
      s->fail(make_error_code(status), peer_state::gone);
  });
}

// ---- heartbeat ----------------------------------------------------------------

inline void peer_link::watch_heartbeat(const void* owner, const heartbeat_options& hb) {
  if (m_failed || hb.interval.count() <= 0)
    return;
  m_liveness.watch(owner, hb, link_liveness::clock::now());
  m_registry->listen_for_heartbeats();
  start_ticking();
}

inline void peer_link::send_heartbeats(const void* owner, std::chrono::milliseconds interval) {
  if (m_failed || interval.count() <= 0)
    return;
  const bool first = !m_liveness.beating();
  m_liveness.beat(owner, interval);
  if (first) // at once: a peer that has no link to us yet learns of us now
    send_beat(link_liveness::clock::now());
  start_ticking();
}

inline void peer_link::start_ticking() {
  if (m_ticking)
    return;
  m_ticking = true;
  auto t = tick(weak_from_this(), m_registry->get_worker());
  t.set_stop_token(m_heartbeat_stop.get_token());
  m_registry->get_worker().spawn(std::move(t));
}

inline std::optional<std::chrono::milliseconds> peer_link::on_tick(const std::weak_ptr<peer_link>& weak) {
  auto self = weak.lock();
  if (!self || self->m_failed)
    return std::nullopt;
  const auto now = link_liveness::clock::now();
  if (self->m_liveness.overdue(now)) {
    // Alive or not, the peer cannot be reached: every endpoint and rank on
    // the link fails, and its UCX endpoint is force-closed (sends UCX would
    // wait on forever complete with the error).
    self->fail(make_error_code(errc::peer_unresponsive), peer_state::gone);
    return std::nullopt;
  }
  if (self->m_liveness.beat_due(now))
    self->send_beat(now);
  if (!self->m_liveness.active()) {
    self->m_ticking = false; // nobody asks any more; a later request starts a new tick
    return std::nullopt;
  }
  return self->m_liveness.period();
}

inline task<void> peer_link::tick(std::weak_ptr<peer_link> weak, worker& w) {
  // Holds the link only between sleeps: a link nobody else keeps goes.
  std::optional<std::chrono::milliseconds> period = on_tick(weak);
  while (period) {
    auto slept = co_await as_result(w.sleep(*period));
    if (!slept)
      co_return; // stopped: the link failed or went
    period = on_tick(weak);
  }
}

/// Fire and forget (link_heartbeat.hpp): no callback, the request (if any)
/// freed at once, the payload static.
inline void peer_link::send_beat(link_liveness::clock::time_point now) noexcept {
  if (m_ep == nullptr)
    return;
  m_liveness.sent(now);
  static constexpr std::uint64_t beat = 0;
  ucp_request_param_t param{};
  const ucs_status_ptr_t request = post_tag_send(m_ep, &beat, sizeof beat, heartbeat_tag(m_registry->own_name()),
                                                 UCS_MEMORY_TYPE_HOST, param);
  if (UCS_PTR_IS_PTR(request))
    ucp_request_free(request);
}

inline void peer_link_registry::listen_for_heartbeats() {
  if (m_listening)
    return;
  m_listening = true;
  auto t = heartbeat_listen(*this);
  t.set_stop_token(m_heartbeat_stop.get_token());
  m_worker->spawn(std::move(t));
}

inline void peer_link_registry::heard(std::uint64_t sender) {
  bool beaten = false;
  for (auto [it, end] = m_by_name.equal_range(sender); it != end; ++it) {
    it->second->heard();
    beaten = beaten || it->second->beating();
  }
  if (beaten || m_unbeaten_handlers.empty())
    return;
  // A handler may connect (adding links) or register another: walk a copy.
  auto handlers = m_unbeaten_handlers;
  std::vector<char> alive(handlers.size());
  for (std::size_t i = 0; i < handlers.size(); ++i)
    alive[i] = handlers[i](sender) ? 1 : 0;
  for (std::size_t i = handlers.size(); i-- > 0;)
    if (!alive[i])
      m_unbeaten_handlers.erase(m_unbeaten_handlers.begin() + static_cast<std::ptrdiff_t>(i));
}

inline task<void> peer_link_registry::heartbeat_listen(peer_link_registry& self) {
  std::uint64_t beat = 0; // in this frame: it outlives the posted receive
  for (;;) {
    auto got = co_await as_result(tag_recv_op(self.m_worker->engine(), &beat, sizeof beat,
                                              heartbeat_tag(0), tag_layout::space_mask, UCS_MEMORY_TYPE_HOST));
    if (got.error == std::errc::operation_canceled)
      co_return; // the worker is shutting down
    if (got) // anything else (a truncated message of someone else's) is not a beat
      self.heard(heartbeat_sender(got.value.sender_tag));
  }
}

} // namespace ucoro::detail
