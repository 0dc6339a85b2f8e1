#pragma once
// The worker's options, and what a process tells peers about itself.

#include <ucoro/runtime/detail/peer_process.hpp>
#include <ucoro/runtime/progress_mode.hpp>

#include <chrono>
#include <type_traits>

namespace ucoro {

struct worker_options {
  progress_mode mode = progress_mode::blocking;
  /// Bound on draining spawned tasks (listener handlers, task_scope) when the
  /// worker is destroyed, after their endpoints have been aborted.
  std::chrono::milliseconds drain_timeout{5000};
};

/// What error_handling::automatic needs to know of the process behind a
/// worker address: `worker.local_peer_info()` on that side, carried over any
/// channel (a launcher's key-value store, a socket). Trivially copyable, so
/// it travels as bytes; both sides of the same build read it alike.
struct peer_info {
  detail::process_identity identity{};
  bool pidfd = false;         ///< that process can watch a same-host peer's process
  bool shared_memory = false; ///< its UCX context has sysv or posix
};
static_assert(std::is_trivially_copyable_v<peer_info>);

} // namespace ucoro
