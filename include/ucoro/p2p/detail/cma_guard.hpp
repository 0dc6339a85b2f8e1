#pragma once
// Keeps a dead same-host peer from aborting the survivor.
//
// Measured with UCX 1.13: on an endpoint without UCX error handling, a CMA
// transfer (rendezvous over process_vm_readv/writev) from a process that has
// just died fails with ESRCH, UCX finds no error handler to take it, and logs
// it at FATAL level, which aborts the process. error_handling::automatic
// keeps UCX's handling off for same-host peers (so that CMA stays available)
// and detects their death itself, so for it that failure is expected: this
// log handler turns exactly that message, from cma_ep.c, into an ordinary
// error line; UCX then fails the transfer, and the peer's pidfd closes the
// endpoint. Every other fatal message still aborts as UCX intends.

#include <ucs/debug/log_def.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <string_view>

namespace ucoro::detail {

inline std::atomic<unsigned> cma_failures_survived{0};

inline ucs_log_func_rc_t cma_fatal_guard(const char* file, unsigned line, const char* /*function*/,
                                         ucs_log_level_t level, const ucs_log_component_config_t* /*config*/,
                                         const char* format, va_list ap) {
  if (level != UCS_LOG_LEVEL_FATAL || file == nullptr || !std::string_view(file).ends_with("cma_ep.c"))
    return UCS_LOG_FUNC_RC_CONTINUE;
  char message[512];
  std::vsnprintf(message, sizeof message, format, ap);
  std::fprintf(stderr, "[ucoro] UCX %s:%u: %s (peer process gone; failing its transfer instead of aborting)\n", file,
               line, message);
  cma_failures_survived.fetch_add(1, std::memory_order_relaxed);
  return UCS_LOG_FUNC_RC_STOP;
}

/// Installs the guard once per process (UCX's log handlers are global).
inline void install_cma_guard() {
  static std::once_flag once;
  std::call_once(once, [] { ucs_log_push_handler(&cma_fatal_guard); });
}

} // namespace ucoro::detail
