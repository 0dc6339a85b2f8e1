#pragma once
// A listener that hands each connected, handshaken endpoint to a handler
// coroutine (UCX-Py's create_listener).
//
//   auto lf = worker.create_listener([](ucoro::endpoint ep) -> ucoro::task<void> {
//     ...
//   }, 0);                      // port 0: any free port; lf.port() tells which
//
// The port is ucoro's own TCP socket, watched by the worker's progress
// engine (no thread): untrusted bytes meet ucoro's bounded, checksummed
// handshake (detail/hello.hpp), never UCX's connection manager. A
// connection that sends garbage, too much, too little or nothing is closed
// within connect_timeout and counted in rejected(), each reported to
// on_error; at most max_pending_connections handshake at once (past it the
// oldest is dropped). Handler exceptions go to on_error, or else to the
// worker's error handler (worker::set_error_handler).
//
// `co_await lf.wait_idle()` waits until no connection is handshaking or in
// its handler: a server that has served (accepted() > 0 or an event its
// handler set) waits for the handler's last sends and close with it instead
// of polling a flag.

#include <ucoro/p2p/detail/peer_link_registry.hpp>
#include <ucoro/p2p/detail/handshake.hpp>
#include <ucoro/p2p/detail/socket.hpp>
#include <ucoro/p2p/endpoint.hpp>
#include <ucoro/error.hpp>
#include <ucoro/runtime/event.hpp>
#include <ucoro/runtime/task.hpp>
#include <ucoro/runtime/timer.hpp>
#include <ucoro/ucx/worker.hpp>

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>

namespace ucoro {

namespace detail {

/// The connections a listener is busy with (handshaking or in the handler).
/// Shared with each connection's coroutine: a running handler outlives a
/// closed or destroyed listener.
class connection_activity {
public:
  explicit connection_activity(progress_engine& engine) : m_idle(engine) { m_idle.set(); }

  void begin() noexcept {
    if (m_active++ == 0)
      m_idle.reset();
  }
  void end() noexcept {
    if (--m_active == 0)
      m_idle.set();
  }
  void handled() noexcept { ++m_handled; }

  [[nodiscard]] std::size_t active() const noexcept { return m_active; }
  [[nodiscard]] std::size_t handled_count() const noexcept { return m_handled; }
  [[nodiscard]] event::awaiter wait_idle() noexcept { return m_idle.wait(); }

  /// One connection's activity, from its accept to however its coroutine
  /// ends (returned, threw, or destroyed by a draining worker).
  class scope {
  public:
    explicit scope(std::shared_ptr<connection_activity> a) noexcept : activity(std::move(a)) { activity->begin(); }
    scope(scope&& other) noexcept : activity(std::move(other.activity)) {}
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;
    scope& operator=(scope&&) = delete;
    ~scope() {
      if (activity)
        activity->end();
    }
    std::shared_ptr<connection_activity> activity;
  };
  struct handler_scope {
    connection_activity* activity;
    ~handler_scope() { activity->handled(); }
  };

private:
  std::size_t m_active = 0;
  std::size_t m_handled = 0;
  event m_idle;
};

class listener_state : public std::enable_shared_from_this<listener_state> {
public:
  using handler_type = std::function<task<void>(endpoint)>;

  listener_state(worker& w, handler_type handler, listener_options options)
      : m_worker(&w), m_handler(std::move(handler)), m_options(std::move(options)),
        m_activity(std::make_shared<connection_activity>(w.engine())) {}

  listener_state(const listener_state&) = delete;
  listener_state& operator=(const listener_state&) = delete;
  ~listener_state() { close(); }

  void open(std::uint16_t port) {
    const std::string where = m_options.bind_address + ":" + std::to_string(port);
    if (m_options.max_pending_connections == 0)
      throw_invalid_argument("create_listener on " + where + ": max_pending_connections must be at least 1");
    (void)checked_heartbeat(m_options.endpoint.heartbeat, "endpoint to clients of " + where);
    (void)checked_heartbeat(m_options.endpoint.remote_heartbeat, "endpoint to clients of " + where);
    const socket_address address = numeric_address(m_options.bind_address, port, "create_listener on " + where);
    m_socket = listen_socket(address, 1024, "create_listener on " + where);
    m_port = local_port(m_socket.get());
    m_ip = local_ip(m_socket.get());
    m_worker->engine().watch_fd(m_socket.get(), [weak = weak_from_this()] {
      if (auto self = weak.lock())
        self->accept_ready();
    });
  }

  void close() noexcept {
    if (!m_socket)
      return;
    m_worker->engine().unwatch_fd(m_socket.get());
    m_socket.reset();
    for (auto& pending : m_pending)
      pending.stop.request_stop();
  }

  [[nodiscard]] bool closed() const noexcept { return !m_socket; }
  [[nodiscard]] std::uint16_t port() const noexcept { return m_port; }
  [[nodiscard]] const std::string& ip() const noexcept { return m_ip; }
  [[nodiscard]] std::size_t accepted() const noexcept { return m_accepted; }
  [[nodiscard]] std::size_t rejected() const noexcept { return m_rejected; }
  [[nodiscard]] std::size_t pending() const noexcept { return m_pending.size(); }
  [[nodiscard]] connection_activity& activity() const noexcept { return *m_activity; }

private:
  struct pending_connection {
    std::stop_source stop;
  };

  void accept_ready() {
    for (int round = 0; round < 64 && m_socket; ++round) {
      sockaddr_storage peer{};
      socklen_t length = sizeof peer;
      unique_fd fd(::accept4(m_socket.get(), reinterpret_cast<sockaddr*>(&peer), &length,
                             SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!fd) {
        if (errno == EMFILE || errno == ENFILE)
          evict_oldest(); // frees a descriptor for the next round; the kernel keeps the rest queued
        return;           // EAGAIN: drained (level-triggered: we are called again if not)
      }
      if (m_pending.size() >= m_options.max_pending_connections)
        evict_oldest();
      m_pending.emplace_back();
      auto entry = std::prev(m_pending.end());
      auto t = accept(shared_from_this(), std::move(fd), sockaddr_label(peer), entry,
                      connection_activity::scope{m_activity});
      t.set_stop_token(entry->stop.get_token());
      m_worker->spawn(std::move(t));
    }
  }

  void evict_oldest() noexcept {
    for (auto& pending : m_pending)
      if (!pending.stop.stop_requested()) {
        pending.stop.request_stop();
        return;
      }
  }

  /// The listener's half of the front door.
  task<std::shared_ptr<endpoint_state>> handshake(int fd, std::string peer, process_identity& peer_identity) {
    auto& registry = m_worker->use_service<peer_link_registry>();
    progress_engine& engine = m_worker->engine();
    const std::string what = "accepting " + peer;
    const hello::message greeting = co_await read_hello(engine, fd, what);
    if (greeting.type != hello::kind::hello)
      throw ucx_error(make_error_code(errc::handshake_failed), what + ": expected a hello");
    auto refuse = [&](hello::reject_reason reason, std::string text) -> task<void> {
      co_await write_hello(engine, fd, make_reject(reason, text));
      throw ucx_error(reject_code(reason), what + ": refused: " + text);
    };
    const endpoint_options& options = m_options.endpoint;
    if (greeting.sender_version != hello::version)
      co_await refuse(hello::reject_reason::version_mismatch,
                      "protocol version " + std::to_string(greeting.sender_version) + ", the listener speaks " +
                          std::to_string(hello::version));
    if (!options.token.empty() && !same_token(options.token.view(), greeting.token))
      co_await refuse(hello::reject_reason::bad_token,
                      greeting.token.empty() ? "the listener requires a token and the client sent none"
                                          : "wrong token");
    if (((greeting.flags & hello::ordered) != 0) != options.guarantee_msg_order)
      co_await refuse(hello::reject_reason::order_mismatch, "guarantee_msg_order differs between the peers");
    const error_mode_resolution mode = resolve_error_mode(side_of(registry, options), side_of(greeting));
    if (!mode.agreed)
      co_await refuse(hello::reject_reason::error_mode_mismatch, mode.reason);
    const bool ucx_peer = mode.ucx_mode == error_handling::peer;
    if (!ucx_peer && !registry.shared_memory_stuck().empty() && greeting.identity.same_host_as(this_process()))
      co_await refuse(hello::reject_reason::shared_memory_stuck, registry.shared_memory_stuck());

    auto state = make_endpoint_state(*m_worker, peer, options);
    state->attach(registry.get(greeting.worker_address, ucx_peer, peer), greeting.msg_tag, greeting.ctrl_tag, mode.reason);
    auto accept = make_hello(hello::kind::accept, registry, *state, options, {});
    accept.resolved_mode = static_cast<std::uint8_t>(mode.ucx_mode);
    co_await write_hello(engine, fd, std::move(accept));
    std::array<std::byte, control_message::wire_size> wire{};
    const tag_recv_info got =
        co_await tag_recv_op(engine, wire.data(), wire.size(), state->tags().recv_ctrl_tag(), tag_layout::full_mask,
                             UCS_MEMORY_TYPE_HOST, peer_label{&state->peer()});
    const auto attach = control_message::decode(std::span(wire).first(got.length));
    if (!attach || attach->type != control_message::attach)
      throw ucx_error(make_error_code(errc::handshake_failed), what + ": expected the client's attach over UCX");
    hello::message ready;
    ready.type = hello::kind::ready;
    co_await write_hello(engine, fd, std::move(ready));
    peer_identity = greeting.identity;
    co_return state;
  }

  static task<void> accept(std::shared_ptr<listener_state> self, unique_fd fd, std::string peer,
                           std::list<pending_connection>::iterator entry, connection_activity::scope activity) {
    const auto timeout = self->m_options.endpoint.connect_timeout;
    std::shared_ptr<endpoint_state> state;
    std::exception_ptr failure;
    process_identity identity{};
    try {
      state = co_await with_timeout(self->handshake(fd.get(), peer, identity), timeout);
    } catch (const std::system_error& e) {
      failure = e.code() == std::errc::timed_out
                    ? std::make_exception_ptr(ucx_error(e.code(), "accepting " + peer + ": no handshake within " +
                                                                      format_duration(timeout)))
                : e.code() == std::errc::operation_canceled
                    ? std::make_exception_ptr(ucx_error(e.code(), "accepting " + peer +
                                                                      ": dropped (listener closed, or more than "
                                                                      "max_pending_connections handshaking)"))
                    : std::current_exception();
    }
    fd.reset();
    self->m_pending.erase(entry);
    if (failure) {
      self->reject(failure);
      co_return;
    }
    state->start(identity);
    ++self->m_accepted;
    auto handler = self->m_handler;
    auto on_error = self->m_options.on_error;
    self.reset(); // a running handler does not keep the listener open
    const connection_activity::handler_scope handled{activity.activity.get()};
    if (on_error) {
      try {
        co_await handler(endpoint{std::move(state)});
      } catch (...) {
        on_error(std::current_exception());
      }
    } else {
      co_await handler(endpoint{std::move(state)});
    }
  }

  void reject(std::exception_ptr error) {
    ++m_rejected;
    if (m_options.on_error)
      m_options.on_error(std::move(error));
  }

  worker* m_worker;
  handler_type m_handler;
  listener_options m_options;
  unique_fd m_socket;
  std::uint16_t m_port = 0;
  std::string m_ip;
  std::size_t m_accepted = 0;
  std::size_t m_rejected = 0;
  std::list<pending_connection> m_pending;
  std::shared_ptr<connection_activity> m_activity;
};

} // namespace detail

/// Owns the listening socket; destroying or close()-ing it stops accepting
/// and drops handshakes in progress. Endpoints already accepted stay open.
class listener {
public:
  using options = listener_options; ///< what worker::create_listener takes
  listener() = default;
  explicit listener(std::shared_ptr<detail::listener_state> state) noexcept : m_state(std::move(state)) {}
  listener(listener&&) noexcept = default;
  listener& operator=(listener&& other) noexcept {
    if (this != &other) {
      close();
      m_state = std::move(other.m_state);
    }
    return *this;
  }
  ~listener() { close(); }

  /// worker.create_listener(handler, port, options).
  template <class Handler>
  [[nodiscard]] static listener open(worker& w, Handler handler, std::uint16_t port, listener_options options) {
    static_assert(std::is_invocable_r_v<task<void>, Handler&, endpoint>,
                  "a listener handler is callable as (ucoro::endpoint) -> ucoro::task<void>");
    auto state = std::make_shared<detail::listener_state>(w, std::move(handler), std::move(options));
    state->open(port);
    return listener{std::move(state)};
  }

  [[nodiscard]] std::uint16_t port() const noexcept { return m_state ? m_state->port() : 0; }
  /// The address it listens on, numeric, as bound: "0.0.0.0" for every
  /// IPv4 address (the default), else listener_options::bind_address.
  [[nodiscard]] std::string ip() const { return m_state ? m_state->ip() : std::string(); }
  [[nodiscard]] bool closed() const noexcept { return !m_state || m_state->closed(); }
  void close() noexcept {
    if (m_state)
      m_state->close();
  }
  /// Connections handed to the handler / refused or dropped in the handshake.
  [[nodiscard]] std::size_t accepted() const noexcept { return m_state ? m_state->accepted() : 0; }
  [[nodiscard]] std::size_t rejected() const noexcept { return m_state ? m_state->rejected() : 0; }
  /// Connections handshaking now.
  [[nodiscard]] std::size_t pending() const noexcept { return m_state ? m_state->pending() : 0; }
  /// Connections handshaking or in their handler now.
  [[nodiscard]] std::size_t active() const noexcept { return m_state ? m_state->activity().active() : 0; }
  /// Handlers that have finished (returned or thrown).
  [[nodiscard]] std::size_t handled() const noexcept { return m_state ? m_state->activity().handled_count() : 0; }

  /// Completes when no connection is handshaking or in its handler (at once
  /// if none is); with_timeout bounds it. Handlers keep running after
  /// close(), so this also waits for them after the listener stopped
  /// accepting.
  [[nodiscard]] event::awaiter wait_idle() const {
    if (!m_state)
      throw_invalid_argument("wait_idle on an empty (moved-from) listener");
    return m_state->activity().wait_idle();
  }

private:
  std::shared_ptr<detail::listener_state> m_state;
};

} // namespace ucoro
