#pragma once
// What error_handling resolves to for one connection: a pure function of
// what both sides asked for and can do, so the listener and the client,
// given the same two hellos, reach the same answer (the listener's is sent
// back and the client checks it).

#include <ucoro/runtime/detail/peer_process.hpp>
#include <ucoro/p2p/options.hpp>

#include <string>

namespace ucoro::detail {

/// One side's part of the decision, as sent in its hello.
struct error_mode_side {
  ucoro::error_handling requested = ucoro::error_handling::automatic;
  bool pidfd = false;         ///< it can watch a same-host process (pidfd_open works, UCORO_PIDFD unset)
  bool shared_memory = false; ///< its UCX context has sysv or posix
  process_identity identity{};
};

struct error_mode_resolution {
  bool agreed = true;
  /// UCX's mode for both endpoints: peer or none.
  ucoro::error_handling ucx_mode = ucoro::error_handling::peer;
  /// Why, for failure_detection().reason and ucx_info(); on disagreement,
  /// what differs and how to fix it.
  std::string reason;
};

/// `listener` and `client` name the sides in the reasons, so both ends
/// word a disagreement the same way.
[[nodiscard]] inline error_mode_resolution resolve_error_mode(const error_mode_side& listener,
                                                              const error_mode_side& client) {
  using enum ucoro::error_handling;
  error_mode_resolution out;
  const error_mode_side& a = listener;
  const error_mode_side& b = client;
  if ((a.requested == peer && b.requested == none) || (a.requested == none && b.requested == peer)) {
    out.agreed = false;
    out.reason = std::string("error handling differs: the listener uses ") + to_string(a.requested) +
                 " and the client " + to_string(b.requested) +
                 "; give both the same, or automatic on one side (it follows the other)";
    return out;
  }
  if (a.requested != automatic || b.requested != automatic) {
    out.ucx_mode = a.requested != automatic ? a.requested : b.requested;
    if (a.requested == b.requested)
      out.reason = "requested by both sides";
    else
      out.reason = std::string("automatic: the ") + (a.requested != automatic ? "listener" : "client") + " uses " +
                   to_string(out.ucx_mode) + " error handling";
    return out;
  }
  const bool same_host = a.identity.same_host_as(b.identity);
  if (!same_host) {
    out.reason = "automatic: peer not on this host";
  } else if (!a.shared_memory || !b.shared_memory) {
    out.reason = "automatic: same host, but no shared-memory transport in one side's UCX context";
  } else if (a.identity.pid_namespace != b.identity.pid_namespace) {
    out.reason = "automatic: same host, but another pid namespace, so UCX peer mode";
  } else if (!a.pidfd || !b.pidfd) {
    out.reason = "automatic: same host, but pidfd unavailable, so UCX peer mode (tcp)";
  } else {
    out.ucx_mode = none;
    out.reason = "automatic: same host, shared memory, peer process watched";
  }
  return out;
}

} // namespace ucoro::detail
