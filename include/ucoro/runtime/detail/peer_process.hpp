#pragma once
// Who a same-host peer is, and a pidfd that becomes readable when it exits.
//
// A pid alone names a process only within one boot and one pid namespace,
// and only until it is reused. So a process describes itself by boot id,
// pid namespace, pid and start time (field 22 of /proc/<pid>/stat, in clock
// ticks since boot); the watcher opens a pidfd for the pid first and then
// checks the start time, so a pid reused in between is caught rather than
// watched by mistake.

#include <ucoro/runtime/detail/unique_fd.hpp>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>

namespace ucoro::detail {

/// The identity a process sends in the handshake (trivially copyable).
struct process_identity {
  std::array<char, 36> boot_id{}; ///< /proc/sys/kernel/random/boot_id, without the newline
  std::uint32_t pid = 0;
  std::uint32_t reserved = 0;
  std::uint64_t pid_namespace = 0; ///< inode of /proc/self/ns/pid
  std::uint64_t start_time = 0;    ///< clock ticks after boot

  friend bool operator==(const process_identity&, const process_identity&) = default;

  [[nodiscard]] bool same_host_as(const process_identity& other) const noexcept {
    return boot_id[0] != '\0' && boot_id == other.boot_id;
  }
};
static_assert(std::is_trivially_copyable_v<process_identity>);

/// Start time of `pid` (0 if it cannot be read, e.g. the process is gone).
[[nodiscard]] inline std::uint64_t process_start_time(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat))
    return 0;
  // The command name (field 2) is in parentheses and may hold spaces: count
  // fields after its closing parenthesis. Field 3 comes first there.
  const auto close = stat.rfind(')');
  if (close == std::string::npos)
    return 0;
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  for (int index = 3; fields >> field; ++index)
    if (index == 22)
      return std::strtoull(field.c_str(), nullptr, 10);
  return 0;
}

[[nodiscard]] inline const process_identity& this_process() {
  static const process_identity self = [] {
    process_identity id;
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::string boot;
    if (std::getline(in, boot))
      std::memcpy(id.boot_id.data(), boot.data(), std::min(boot.size(), id.boot_id.size()));
    id.pid = static_cast<std::uint32_t>(::getpid());
    struct stat ns{};
    if (::stat("/proc/self/ns/pid", &ns) == 0)
      id.pid_namespace = ns.st_ino;
    id.start_time = process_start_time(::getpid());
    return id;
  }();
  return self;
}

[[nodiscard]] inline int pidfd_open(long pid) noexcept {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

/// Whether this kernel gives pidfds (Linux >= 5.3) and the user did not turn
/// them off with UCORO_PIDFD=no (how the fallback is tested).
[[nodiscard]] inline bool pidfd_available() {
  if (const char* env = std::getenv("UCORO_PIDFD"); env != nullptr && std::string_view(env) == "no")
    return false;
  static const bool works = [] {
    unique_fd fd(pidfd_open(::getpid()));
    return static_cast<bool>(fd);
  }();
  return works;
}

/// A pidfd for the process `peer` claims to be, or an empty fd and the
/// reason it cannot be watched.
[[nodiscard]] inline unique_fd watch_process(const process_identity& peer, std::string& why_not) {
  const process_identity& self = this_process();
  if (!pidfd_available()) {
    why_not = "pidfd unavailable";
    return {};
  }
  if (!peer.same_host_as(self)) {
    why_not = "peer on another host (boot id differs)";
    return {};
  }
  if (peer.pid_namespace != self.pid_namespace || peer.pid == 0) {
    why_not = "peer in another pid namespace";
    return {};
  }
  unique_fd fd(pidfd_open(peer.pid));
  if (!fd) {
    why_not = "pidfd_open(" + std::to_string(peer.pid) + "): " + std::strerror(errno);
    return {};
  }
  if (process_start_time(peer.pid) != peer.start_time) {
    why_not = "pid " + std::to_string(peer.pid) + " is no longer the peer (start time differs)";
    return {};
  }
  return fd;
}

/// Whether `address` is this host's: loopback, or assigned to one of this
/// network namespace's interfaces. Decides error handling before connecting,
/// when nothing else is known about the peer.
[[nodiscard]] inline bool is_local_address(const sockaddr* address) {
  if (address->sa_family == AF_INET) {
    const auto& in = *reinterpret_cast<const sockaddr_in*>(address);
    if ((ntohl(in.sin_addr.s_addr) >> 24) == 127)
      return true;
  } else if (address->sa_family == AF_INET6) {
    const auto& in6 = *reinterpret_cast<const sockaddr_in6*>(address);
    if (IN6_IS_ADDR_LOOPBACK(&in6.sin6_addr))
      return true;
    if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr) && in6.sin6_addr.s6_addr[12] == 127)
      return true;
  } else {
    return false;
  }
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0)
    return false;
  bool local = false;
  for (ifaddrs* it = list; it != nullptr && !local; it = it->ifa_next) {
    if (it->ifa_addr == nullptr || it->ifa_addr->sa_family != address->sa_family)
      continue;
    if (address->sa_family == AF_INET)
      local = reinterpret_cast<const sockaddr_in*>(it->ifa_addr)->sin_addr.s_addr ==
              reinterpret_cast<const sockaddr_in*>(address)->sin_addr.s_addr;
    else
      local = std::memcmp(&reinterpret_cast<const sockaddr_in6*>(it->ifa_addr)->sin6_addr,
                          &reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr, sizeof(in6_addr)) == 0;
  }
  ::freeifaddrs(list);
  return local;
}

} // namespace ucoro::detail
