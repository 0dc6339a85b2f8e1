#pragma once
// Choices are enums, options are aggregates: read at the call site as
// `worker w{ctx, {.mode = progress_mode::polling}}`.

#include <ucp/api/ucp.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>

namespace ucoro {

/// How a worker waits for completions.
enum class progress_mode {
  /// Sleep in epoll on the worker's event fd (UCX's arm/wait loop): near-zero
  /// CPU while idle, a few microseconds of wake-up latency. UCX-Py's default.
  blocking,
  /// Spin ucp_worker_progress while anything is pending: lowest latency,
  /// one core busy.
  polling,
};

struct worker_options {
  progress_mode mode = progress_mode::blocking;
  /// Bound on draining spawned tasks (listener handlers, task_scope) when the
  /// worker is destroyed, after their endpoints have been aborted.
  std::chrono::milliseconds drain_timeout{5000};
};

/// When a send completes (UCX's UCP_OP_ATTR_FLAG_FAST_CMPL).
enum class send_completion {
  /// fast where the endpoint's active-message lane is shared memory
  /// (sysv/posix/self), standard otherwise (tcp, RDMA): measured here, fast
  /// halves 16-64 KiB latency over shared memory and doubles it over tcp.
  /// Decided once per endpoint, from its lanes, when it connects.
  automatic,
  /// As soon as the buffer may be reused: UCX may copy messages up to its
  /// "nbr" threshold (256 KiB on shared memory here) eagerly instead of
  /// starting a rendezvous. What ucx_perftest measures; halves one-way
  /// latency at 16-64 KiB on this machine (docs/performance.md).
  fast,
  /// UCX's default thresholds: rendezvous (zero copy, e.g. CMA) from ~8 KiB,
  /// and the send completes once the peer has the data.
  standard,
};

struct endpoint_options {
  /// Match the n-th recv with the n-th send, whatever UCX's delivery order.
  /// Both sides must agree; a mismatch fails the handshake.
  bool guarantee_msg_order = true;
  /// UCX peer error handling: a dead peer fails pending operations instead
  /// of stranding them. On one host UCX then uses tcp instead of shared
  /// memory (see docs/performance.md).
  bool endpoint_error_handling = true;
  /// Bound on connecting and on each handshake step.
  std::chrono::milliseconds connect_timeout{5000};
  /// Bound on close(): past it, the endpoint is force-closed.
  std::chrono::milliseconds close_timeout{5000};
  send_completion completion = send_completion::automatic;
};

/// For create_endpoint_from_worker_address: no handshake, so both sides
/// name the channel their messages travel on.
struct address_endpoint_options {
  ucp_tag_t channel = 0;
  bool guarantee_msg_order = true;
  bool endpoint_error_handling = true;
  send_completion completion = send_completion::automatic;
};

struct listener_options {
  /// Address to bind; all interfaces by default, like UCX-Py.
  std::string bind_address = "0.0.0.0";
  /// For the endpoints it accepts (guarantee_msg_order must match clients').
  endpoint_options endpoint;
  /// Rejected handshakes and handler exceptions; called on the worker's thread.
  std::function<void(std::exception_ptr)> on_error;
};

} // namespace ucoro
