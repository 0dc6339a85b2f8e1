#pragma once
// Plain TCP clients for front-door tests: blocking connect to 127.0.0.1 (the
// kernel completes it from the listen backlog, so the worker need not run),
// then whatever bytes a test wants the listener to see.

#include <ucoro/runtime/detail/unique_fd.hpp>

#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <cstdint>
#include <span>

namespace ucoro::test {

[[nodiscard]] inline detail::unique_fd raw_connect(std::uint16_t port) {
  detail::unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&in), sizeof in);
  INFO("connect to 127.0.0.1:" << port << ": " << std::strerror(errno));
  REQUIRE(rc == 0);
  return fd;
}

/// Sends what fits without blocking; a listener that closed early is fine.
inline void raw_send(int fd, std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0)
      return;
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
}

/// Closes with a reset (SO_LINGER 0) instead of a FIN.
inline void raw_reset(detail::unique_fd& fd) {
  linger l{1, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  fd.reset();
}

} // namespace ucoro::test
