#pragma once
// A loopback port for a program that must be told its port before it
// binds (a rendezvous root, ucx_perftest). Picked below the kernel's
// ephemeral range: a port from bind(0) is free only until the next
// connect() or listen(0) anywhere on the machine takes it (meson runs
// tests side by side, and UCX's tcp transport opens such sockets all the
// time), and CI saw exactly that. Below the range only another explicit
// pick can collide, and the pick is random over thousands of ports.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <stdexcept>

namespace ucoro::test {

/// True if 127.0.0.1:`port` can be bound right now.
inline bool loopback_port_bindable(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  in.sin_port = htons(port);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&in), sizeof in) == 0;
  ::close(fd);
  return ok;
}

/// A port on 127.0.0.1 that is free now and that the kernel never hands
/// out on its own (see the file comment).
[[nodiscard]] inline std::uint16_t unused_fixed_port() {
  unsigned low = 32768;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> low;
  constexpr unsigned first = 10000;
  if (low <= first + 1000)
    throw std::runtime_error("unused_fixed_port: the ephemeral port range starts at " + std::to_string(low) +
                             ", leaving no fixed ports above " + std::to_string(first));
  std::mt19937 pick(std::random_device{}());
  std::uniform_int_distribution<unsigned> in_range(first, low - 1);
  for (int attempt = 0; attempt < 200; ++attempt)
    if (const auto port = static_cast<std::uint16_t>(in_range(pick)); loopback_port_bindable(port))
      return port;
  throw std::runtime_error("unused_fixed_port: 200 random ports in [" + std::to_string(first) + ", " +
                           std::to_string(low) + ") were all taken");
}

} // namespace ucoro::test
