#pragma once
// Interface addresses, like UCX-Py's get_address().

#include <ucoro/error.hpp>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace ucoro {

namespace detail {

struct ifaddrs_deleter {
  void operator()(ifaddrs* p) const noexcept { freeifaddrs(p); }
};

[[nodiscard]] inline std::string to_string(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  else
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
  return buf;
}

} // namespace detail

/// The IPv4 address of interface `ifname` (its IPv6 address if it has no
/// IPv4 one). With no name: the first interface that is up and not loopback,
/// falling back to loopback. An unknown interface, or one without an
/// address, throws an error equal to std::errc::no_such_device.
[[nodiscard]] inline std::string get_address(std::string_view ifname = {}) {
  ifaddrs* raw = nullptr;
  if (getifaddrs(&raw) != 0)
    throw ucx_error(std::error_code(errno, std::generic_category()), "get_address: getifaddrs failed");
  std::unique_ptr<ifaddrs, detail::ifaddrs_deleter> list{raw};

  auto usable = [](const ifaddrs* ifa) {
    return ifa->ifa_addr != nullptr && (ifa->ifa_addr->sa_family == AF_INET || ifa->ifa_addr->sa_family == AF_INET6);
  };
  auto pick = [&](auto&& matches) -> std::optional<std::string> {
    std::optional<std::string> v6;
    for (const ifaddrs* ifa = list.get(); ifa != nullptr; ifa = ifa->ifa_next) {
      if (!usable(ifa) || !matches(ifa))
        continue;
      if (ifa->ifa_addr->sa_family == AF_INET)
        return detail::to_string(ifa->ifa_addr);
      if (!v6)
        v6 = detail::to_string(ifa->ifa_addr);
    }
    return v6;
  };

  if (!ifname.empty()) {
    if (auto found = pick([&](const ifaddrs* ifa) { return ifname == ifa->ifa_name; }))
      return *found;
    const bool exists = if_nametoindex(std::string(ifname).c_str()) != 0;
    throw ucx_error(std::make_error_code(std::errc::no_such_device),
                    "get_address: interface '" + std::string(ifname) + "' " +
                        (exists ? "has no IPv4 or IPv6 address" : "does not exist"));
  }
  if (auto found = pick([](const ifaddrs* ifa) { return (ifa->ifa_flags & IFF_UP) && !(ifa->ifa_flags & IFF_LOOPBACK); }))
    return *found;
  if (auto found = pick([](const ifaddrs* ifa) { return (ifa->ifa_flags & IFF_LOOPBACK) != 0; }))
    return *found;
  throw ucx_error(std::make_error_code(std::errc::no_such_device), "get_address: no interface with an address");
}

} // namespace ucoro
