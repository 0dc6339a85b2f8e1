#pragma once
// A UCX sockaddr listener that hands each connected, handshaken endpoint to
// a handler coroutine (UCX-Py's create_listener).
//
//   auto lf = worker.create_listener([](ucoro::endpoint ep) -> ucoro::task<void> {
//     ...
//   }, 0);                      // port 0: any free port; lf.port() tells which
//
// Each connection request is accepted on the worker's thread: the endpoint
// is created, the client's handshake awaited (bounded by connect_timeout)
// and checked, the reply sent, and the handler spawned on the worker. A
// client that sends garbage, or nothing, is closed and counted in
// rejected(); the listener keeps serving. Handler exceptions go to the
// options' on_error, or else to the worker's spawned-task errors.

#include <ucoro/endpoint.hpp>
#include <ucoro/error.hpp>
#include <ucoro/task.hpp>
#include <ucoro/worker.hpp>

#include <ucp/api/ucp.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <utility>

namespace ucoro {

namespace detail {

class listener_state : public std::enable_shared_from_this<listener_state> {
public:
  using handler_type = std::function<task<void>(endpoint)>;

  listener_state(worker& w, handler_type handler, listener_options options)
      : m_worker(&w), m_handler(std::move(handler)), m_options(std::move(options)) {}

  listener_state(const listener_state&) = delete;
  listener_state& operator=(const listener_state&) = delete;
  ~listener_state() { close(); }

  void open(std::uint16_t port) {
    sockaddr_storage address{};
    socklen_t length = 0;
    if (inet_pton(AF_INET, m_options.bind_address.c_str(), &reinterpret_cast<sockaddr_in&>(address).sin_addr) == 1) {
      auto& in = reinterpret_cast<sockaddr_in&>(address);
      in.sin_family = AF_INET;
      in.sin_port = htons(port);
      length = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, m_options.bind_address.c_str(),
                         &reinterpret_cast<sockaddr_in6&>(address).sin6_addr) == 1) {
      auto& in6 = reinterpret_cast<sockaddr_in6&>(address);
      in6.sin6_family = AF_INET6;
      in6.sin6_port = htons(port);
      length = sizeof(sockaddr_in6);
    } else {
      throw_error(std::make_error_code(std::errc::invalid_argument),
                  "create_listener: bind address '" + m_options.bind_address + "' is not an IPv4 or IPv6 address");
    }

    ucp_listener_params_t params{};
    params.field_mask = UCP_LISTENER_PARAM_FIELD_SOCK_ADDR | UCP_LISTENER_PARAM_FIELD_CONN_HANDLER;
    params.sockaddr.addr = reinterpret_cast<const sockaddr*>(&address);
    params.sockaddr.addrlen = length;
    params.conn_handler.cb = &on_connection;
    params.conn_handler.arg = this;
    const ucs_status_t status = ucp_listener_create(m_worker->ucp_worker(), &params, &m_handle);
    const std::string where = m_options.bind_address + ":" + std::to_string(port);
    if (status == UCS_ERR_BUSY || status == UCS_ERR_ALREADY_EXISTS)
      throw ucx_error(std::make_error_code(std::errc::address_in_use),
                      "create_listener on " + where + ": port already in use (" + ucs_status_string(status) + ")");
    check(status, [&] { return "create_listener on " + where; });

    ucp_listener_attr_t attr{};
    attr.field_mask = UCP_LISTENER_ATTR_FIELD_SOCKADDR;
    check(ucp_listener_query(m_handle, &attr), "querying the listener's port");
    m_port = attr.sockaddr.ss_family == AF_INET ? ntohs(reinterpret_cast<const sockaddr_in&>(attr.sockaddr).sin_port)
                                                : ntohs(reinterpret_cast<const sockaddr_in6&>(attr.sockaddr).sin6_port);
  }

  void close() noexcept {
    if (m_handle != nullptr)
      ucp_listener_destroy(std::exchange(m_handle, nullptr));
  }

  [[nodiscard]] bool closed() const noexcept { return m_handle == nullptr; }
  [[nodiscard]] std::uint16_t port() const noexcept { return m_port; }
  [[nodiscard]] std::size_t accepted() const noexcept { return m_accepted; }
  [[nodiscard]] std::size_t rejected() const noexcept { return m_rejected; }

private:
  static void on_connection(ucp_conn_request_h request, void* arg) {
    auto* self = static_cast<listener_state*>(arg);
    // Inside UCX's progress: create the endpoint from the loop instead.
    self->m_worker->post([weak = self->weak_from_this(), request] {
      auto s = weak.lock();
      if (!s || s->closed())
        return; // the listener is gone; UCX dropped its requests with it
      s->m_worker->spawn(accept(std::move(s), request));
    });
  }

  static task<void> accept(std::shared_ptr<listener_state> self, ucp_conn_request_h request) {
    worker& w = *self->m_worker;
    const endpoint_options& options = self->m_options.endpoint;

    std::string peer = "client";
    bool local = false;
    ucp_conn_request_attr_t attr{};
    attr.field_mask = UCP_CONN_REQUEST_ATTR_FIELD_CLIENT_ADDR;
    if (ucp_conn_request_query(request, &attr) == UCS_OK) {
      peer = sockaddr_label(attr.client_address);
      local = is_local_address(reinterpret_cast<const sockaddr*>(&attr.client_address));
    }

    auto state = make_endpoint_state(w, peer, options.guarantee_msg_order, options.error_handling, options.heartbeat,
                                     options.close_timeout, options.completion);
    state->set_recv_tags(random_tag_base(), random_tag_base());
    state->choose_error_mode(local);
    ucp_ep_params_t params{};
    params.field_mask = UCP_EP_PARAM_FIELD_CONN_REQUEST;
    params.conn_request = request;
    state->fill_error_handling(params);
    ucp_ep_h ep = nullptr;
    if (const ucs_status_t status = ucp_ep_create(w.ucp_worker(), &params, &ep); status != UCS_OK) {
      self->reject(std::make_exception_ptr(ucx_error(status, "accepting " + peer)));
      co_return;
    }
    state->attach(ep);

    std::exception_ptr failure;
    try {
      co_await await_handshake(*state, options.connect_timeout, "accepting");
      const auto& hello = state->handshake();
      if (!state->handshake_well_formed())
        throw ucx_error(make_error_code(errc::handshake_failed),
                        "accepting " + peer + ": malformed handshake (bad size, magic or checksum)");
      std::uint32_t reason = handshake_message::none;
      if (hello.version != protocol_version)
        reason = handshake_message::version_mismatch;
      else if (((hello.flags & handshake_message::ordered) != 0) != options.guarantee_msg_order)
        reason = handshake_message::order_mismatch;
      if (reason != handshake_message::none) {
        auto rejection = make_handshake(*state, handshake_message::reject | handshake_message::reply);
        rejection.reason = reason;
        rejection.seal();
        // Tell the client why before closing, so it fails clearly, not by timeout.
        (void)co_await as_result(with_timeout(handshake_send_op(w.engine(), ep, rejection, state->peer()),
                                              options.connect_timeout));
        throw ucx_error(make_error_code(errc::protocol_mismatch), "accepting " + peer + ": " + reject_text(reason));
      }
      state->set_send_tags(hello.msg_tag, hello.ctrl_tag);
      co_await with_timeout(handshake_send_op(w.engine(), ep, make_handshake(*state, handshake_message::reply),
                                              state->peer()),
                            options.connect_timeout);
      state->resolve_completion();
      state->start_control();
      state->start_failure_detection(hello.process);
    } catch (const std::system_error& e) {
      failure = std::current_exception();
      if (local && may_be_error_mode_mismatch(e.code()))
        failure = std::make_exception_ptr(ucx_error(e.code(), "accepting " + peer + error_mode_mismatch_hint(*state)));
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      state->fail(make_error_code(errc::handshake_failed));
      self->reject(failure);
      co_return;
    }

    ++self->m_accepted;
    auto handler = self->m_handler;
    auto on_error = self->m_options.on_error;
    self.reset(); // a running handler does not keep the listener open
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
  ucp_listener_h m_handle = nullptr;
  std::uint16_t m_port = 0;
  std::size_t m_accepted = 0;
  std::size_t m_rejected = 0;
};

} // namespace detail

/// Owns the UCX listener; destroying or close()-ing it stops accepting.
/// Endpoints already accepted stay open.
class listener {
public:
  listener() = default;
  explicit listener(std::shared_ptr<detail::listener_state> state) noexcept : m_state(std::move(state)) {}

  [[nodiscard]] std::uint16_t port() const noexcept { return m_state ? m_state->port() : 0; }
  [[nodiscard]] bool closed() const noexcept { return !m_state || m_state->closed(); }
  void close() noexcept {
    if (m_state)
      m_state->close();
  }
  /// Connections handed to the handler / refused for a bad handshake.
  [[nodiscard]] std::size_t accepted() const noexcept { return m_state ? m_state->accepted() : 0; }
  [[nodiscard]] std::size_t rejected() const noexcept { return m_state ? m_state->rejected() : 0; }

private:
  std::shared_ptr<detail::listener_state> m_state;
};

template <class Handler>
listener worker::create_listener(Handler handler, std::uint16_t port, listener_options options) {
  static_assert(std::is_invocable_r_v<task<void>, Handler&, endpoint>,
                "a listener handler is callable as (ucoro::endpoint) -> ucoro::task<void>");
  auto state = std::make_shared<detail::listener_state>(*this, std::move(handler), std::move(options));
  state->open(port);
  return listener{std::move(state)};
}

} // namespace ucoro
