#pragma once
// Liveness messages' settings: what an endpoint's heartbeat options may be
// (checked once, for endpoints and for a listener's clients alike), and the
// heartbeat automatic falls back to where nothing else can see a peer fail
// (docs/failure.md).

#include <ucoro/error.hpp>
#include <ucoro/p2p/options.hpp>
#include <ucoro/runtime/timer.hpp>

#include <chrono>
#include <string>
#include <system_error>

namespace ucoro::detail {

/// Heartbeats for a same-host peer whose process cannot be watched.
inline constexpr std::chrono::milliseconds fallback_heartbeat_interval{200};
inline constexpr std::chrono::milliseconds fallback_heartbeat_timeout{2000};

/// `hb` with its timeout filled in (5 x interval), or invalid_argument
/// naming `owner` ("endpoint to host:port", "communicator") and what is wrong.
[[nodiscard]] inline heartbeat_options checked_heartbeat(heartbeat_options hb, const std::string& owner) {
  if (hb.interval.count() < 0 || hb.timeout.count() < 0)
    throw_invalid_argument(owner + ": negative heartbeat interval or timeout");
  if (hb.interval.count() > 0 && hb.timeout.count() == 0)
    hb.timeout = 5 * hb.interval;
  if (hb.timeout.count() > 0 && hb.timeout < hb.interval)
    throw_invalid_argument(owner + ": heartbeat timeout (" + format_duration(hb.timeout) +
                           ") shorter than its interval (" + format_duration(hb.interval) + ")");
  return hb;
}

} // namespace ucoro::detail
