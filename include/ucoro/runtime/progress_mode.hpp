#pragma once
// How a worker waits: the one choice the progress engine needs from the
// options, kept here so the runtime knows nothing of UCX workers.

namespace ucoro {

/// How a worker waits for completions.
enum class progress_mode {
  /// Sleep in epoll on the worker's event fd (UCX's arm/wait loop): near-zero
  /// CPU while idle, a few microseconds of wake-up latency. UCX-Py's default.
  blocking,
  /// Spin ucp_worker_progress while anything is pending: lowest latency,
  /// one core busy.
  polling,
  /// Spin like polling, but give the core away (sched_yield) after every
  /// round that found nothing: for more ranks than cores, where polling
  /// ranks starve each other for whole time slices and blocking pays a
  /// kernel wake-up per message (measured, 4 ranks on 2 cores, 4 KiB
  /// all-to-all: yielding 2.1x blocking). Open MPI's mpi_yield_when_idle.
  yielding,
};

} // namespace ucoro
