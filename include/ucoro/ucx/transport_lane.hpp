#pragma once
// What an endpoint's UCX connection runs on, as values: ep.transports().
// UCX 1.13 has no query for an endpoint's lanes; ucoro reads them from
// ucp_ep_print_info (ucx/detail/ucx_info.hpp, tested on captured text).

#include <string>

namespace ucoro {

/// One lane of an endpoint's UCX connection: the transport and device, and
/// the operations UCX sends over it. From
/// "lane[1]:  2:sysv/memory.0 md[2] -> md[2]/sysv/sysdev[255] am am_bw#0".
struct transport_lane {
  std::string transport; ///< "tcp", "sysv", "posix", "cma", "self"
  std::string device;    ///< as UCX names it: "lo.0", "memory.0"
  bool am = false;       ///< active messages ("am"): eager tag messages, rendezvous requests, ucoro's control
  bool am_bw = false;    ///< eager messages too large for one fragment ("am_bw")
  bool rma = false;      ///< rendezvous data, zero-copy get or put ("rma_bw")
  bool amo = false;      ///< atomic operations ("amo")
  bool wireup = false;   ///< connection setup and keepalive ("wireup", "keepalive")

  friend bool operator==(const transport_lane&, const transport_lane&) = default;
};

} // namespace ucoro
