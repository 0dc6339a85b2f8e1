#pragma once
// Choices are enums, options are aggregates: read at the call site as
// `worker w{ctx, {.mode = progress_mode::polling}}`.

#include <chrono>
#include <cstddef>
#include <cstdint>

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

} // namespace ucoro
