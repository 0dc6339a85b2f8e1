#pragma once
// Non-blocking TCP sockets driven by the progress engine: ucoro's front door
// (listener.hpp, endpoint.hpp) speaks its handshake over these, so no byte
// from the network reaches UCX before ucoro has checked it. No extra thread:
// a waiting coroutine parks its fd in the engine's epoll set.

#include <ucoro/runtime/detail/env.hpp>
#include <ucoro/runtime/detail/unique_fd.hpp>
#include <ucoro/error.hpp>
#include <ucoro/runtime/progress_engine.hpp>
#include <ucoro/runtime/task.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <system_error>

namespace ucoro::detail {

/// `co_await fd_wait{engine, fd, EPOLLIN}`: resumes when the fd is ready (or
/// has an error or hang-up, which the next syscall reports). Honours the
/// awaiting coroutine's stop token, so with_timeout bounds it.
class [[nodiscard]] fd_wait : private cancel_node {
public:
  fd_wait(progress_engine& engine, int fd, std::uint32_t events) noexcept
      : m_engine(&engine), m_fd(fd), m_events(events) {}
  fd_wait(const fd_wait&) = delete;
  fd_wait& operator=(const fd_wait&) = delete;
  ~fd_wait() { stop_watching(); }

  [[nodiscard]] bool await_ready() const noexcept { return false; }
  template <class Promise>
  [[nodiscard]] bool await_suspend(std::coroutine_handle<Promise> h) {
    const std::stop_token token = stop_token_of(h);
    if (token.stop_requested())
      return false;
    m_waiter = h;
    m_engine->watch_fd(m_fd, [this] { finish(true); }, m_events);
    m_watching = true;
    cancel = &on_cancel;
    m_stop.arm(*m_engine, *this, token);
    return true;
  }
  void await_resume() {
    m_stop.disarm();
    if (!m_ready)
      throw ucx_error(UCS_ERR_CANCELED, "waiting for a socket: cancelled");
  }

private:
  static void on_cancel(cancel_node* node) noexcept { static_cast<fd_wait*>(node)->finish(false); }

  void finish(bool ready) noexcept {
    if (!m_waiter)
      return;
    m_ready = ready;
    stop_watching();
    m_engine->schedule(std::exchange(m_waiter, nullptr));
  }
  void stop_watching() noexcept {
    if (m_watching) {
      m_engine->unwatch_fd(m_fd);
      m_watching = false;
    }
  }

  progress_engine* m_engine;
  int m_fd;
  std::uint32_t m_events;
  std::coroutine_handle<> m_waiter;
  bool m_watching = false;
  bool m_ready = false;
  stop_link m_stop;
};

/// "127.0.0.1:5000" or "[::1]:5000".
[[nodiscard]] inline std::string sockaddr_label(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(ss);
    inet_ntop(AF_INET, &in.sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(in.sin_port));
  }
  const auto& in6 = reinterpret_cast<const sockaddr_in6&>(ss);
  inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof host);
  return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6.sin6_port));
}

[[nodiscard]] inline std::error_code last_errno() noexcept { return {errno, std::generic_category()}; }

struct socket_address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  [[nodiscard]] const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
};

/// The first address getaddrinfo gives for host:port.
[[nodiscard]] inline socket_address resolve(const std::string& host, std::uint16_t port, const std::string& what) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0)
    throw ucx_error(std::make_error_code(std::errc::host_unreachable),
                    what + ": cannot resolve host: " + ::gai_strerror(rc));
  socket_address out;
  std::memcpy(&out.storage, found->ai_addr, found->ai_addrlen);
  out.length = found->ai_addrlen;
  ::freeaddrinfo(found);
  return out;
}

/// A numeric IPv4 or IPv6 address with `port`, for binding.
[[nodiscard]] inline socket_address numeric_address(const std::string& text, std::uint16_t port,
                                                    const std::string& what) {
  socket_address out;
  auto& in = reinterpret_cast<sockaddr_in&>(out.storage);
  auto& in6 = reinterpret_cast<sockaddr_in6&>(out.storage);
  if (::inet_pton(AF_INET, text.c_str(), &in.sin_addr) == 1) {
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    out.length = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, text.c_str(), &in6.sin6_addr) == 1) {
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(port);
    out.length = sizeof(sockaddr_in6);
  } else {
    throw_invalid_argument(what + ": bind address '" + text + "' is not an IPv4 or IPv6 address");
  }
  return out;
}

/// A listening socket; SO_REUSEADDR so that a fixed port can be listened on
/// again at once while old connections sit in TIME-WAIT.
[[nodiscard]] inline unique_fd listen_socket(const socket_address& address, int backlog, const std::string& what) {
  unique_fd fd(::socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd)
    throw ucx_error(last_errno(), what + ": socket");
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), address.get(), address.length) != 0) {
    const auto code = last_errno();
    if (code == std::errc::address_in_use)
      throw ucx_error(code, what + ": port already in use");
    throw ucx_error(code, what + ": bind");
  }
  if (::listen(fd.get(), backlog) != 0)
    throw ucx_error(last_errno(), what + ": listen");
  return fd;
}

[[nodiscard]] inline std::uint16_t local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t length = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &length) != 0)
    return 0;
  return ss.ss_family == AF_INET ? ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port)
                                 : ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
}

/// The address a socket is bound to, numeric ("127.0.0.1", "::").
[[nodiscard]] inline std::string local_ip(int fd) {
  sockaddr_storage ss{};
  socklen_t length = sizeof ss;
  char text[INET6_ADDRSTRLEN] = {};
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &length) != 0)
    return {};
  const void* address = ss.ss_family == AF_INET
                            ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in&>(ss).sin_addr)
                            : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr);
  return ::inet_ntop(ss.ss_family, address, text, sizeof text) != nullptr ? std::string(text) : std::string();
}

/// Connects without blocking the worker. A refused connection is
/// std::errc::connection_refused: nothing listens there.
inline task<unique_fd> connect_socket(progress_engine& engine, socket_address address, std::string what) {
  unique_fd fd(::socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd)
    throw ucx_error(last_errno(), what + ": socket");
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd.get(), address.get(), address.length) != 0) {
    if (errno != EINPROGRESS)
      throw ucx_error(last_errno(), what + ": connect");
    co_await fd_wait(engine, fd.get(), EPOLLOUT);
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
    if (error == ECONNREFUSED)
      throw ucx_error(std::make_error_code(std::errc::connection_refused),
                      what + ": nothing listening on " + sockaddr_label(address.storage));
    if (error != 0)
      throw ucx_error(std::error_code(error, std::generic_category()), what + ": connect");
  }
  co_return std::move(fd); // explicit: nvcc does not move a returned local in co_return
}

/// Writes all of `bytes`.
inline task<void> write_all(progress_engine& engine, int fd, std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      bytes = bytes.subspan(static_cast<std::size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      co_await fd_wait(engine, fd, EPOLLOUT);
    } else if (n < 0 && errno != EINTR) {
      throw ucx_error(last_errno(), "socket write");
    }
  }
}

/// Reads exactly `bytes.size()` bytes; the peer closing first is
/// std::errc::connection_reset ("closed after N of M bytes").
inline task<void> read_exact(progress_engine& engine, int fd, std::span<std::byte> bytes) {
  const std::size_t wanted = bytes.size();
  while (!bytes.empty()) {
    const ssize_t n = ::recv(fd, bytes.data(), bytes.size(), MSG_DONTWAIT);
    if (n > 0) {
      bytes = bytes.subspan(static_cast<std::size_t>(n));
    } else if (n == 0) {
      throw ucx_error(std::make_error_code(std::errc::connection_reset),
                      "the connection closed after " + std::to_string(wanted - bytes.size()) + " of " +
                          std::to_string(wanted) + " bytes");
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      co_await fd_wait(engine, fd, EPOLLIN);
    } else if (errno != EINTR) {
      throw ucx_error(last_errno(), "socket read");
    }
  }
}

} // namespace ucoro::detail
