#pragma once
// How one endpoint learns that its peer failed (docs/failure.md), chosen once
// from its options and its peer link: UCX's peer error handling, a pidfd on
// the peer's process, the link's heartbeat, or a mix; and what it says of
// that choice (endpoint::failure_detection()). The failing itself is the
// link's (peer_link::fail, once, to every endpoint on it).

#include <ucoro/p2p/detail/heartbeat.hpp>
#include <ucoro/p2p/detail/peer_link_registry.hpp>
#include <ucoro/p2p/options.hpp>
#include <ucoro/runtime/detail/peer_process.hpp>
#include <ucoro/runtime/timer.hpp>
#include <ucoro/ucx/worker.hpp>

#include <chrono>
#include <string>
#include <utility>

namespace ucoro::detail {

class failure_watch {
public:
  /// Options checked here, named after `owner` ("endpoint to host:port").
  failure_watch(const endpoint_options& options, const std::string& owner)
      : m_requested(options.error_handling), m_heartbeat(checked_heartbeat(options.heartbeat, owner)),
        m_remote_heartbeat(checked_heartbeat(options.remote_heartbeat, owner)) {}

  /// The endpoint joined `link`; `reason` says how its error mode was chosen.
  void attached(const peer_link& link, std::string reason) {
    m_detection.ucx_mode = link.ucx_peer_mode() ? error_handling::peer : error_handling::none;
    m_detection.reason = std::move(reason);
  }

  /// After the handshake (or on an address endpoint with peer_info): the
  /// peer's process is watched where UCX's mode is none under automatic,
  /// and heartbeats are chosen where the transport is a network or the
  /// process cannot be watched.
  void choose(peer_link& link, worker& w, const process_identity& peer) {
    // Over a network transport (another host, or tcp on this one): UCX's peer
    // mode sees resets and transport errors, a pidfd sees an exit, but neither
    // sees a silent partition; the heartbeat does, on both sides. Liveness
    // follows the transport under automatic and peer alike: with `peer`
    // chosen explicitly, a server's receive across a cut link was still
    // pending after 30 s, and its client failed only by UCX's 20 s
    // keepalive. `none` means nothing but what the user configures.
    if (m_requested != error_handling::none && m_heartbeat.interval.count() == 0 &&
        m_remote_heartbeat.interval.count() > 0 && !link.lanes().local) {
      m_heartbeat = m_remote_heartbeat;
      m_detection.reason += "; over the network: heartbeat every " + format_duration(m_heartbeat.interval) +
                            ", deadline " + format_duration(m_heartbeat.timeout) + " (remote_heartbeat)";
    }
    if (!link.ucx_peer_mode() && m_requested == error_handling::automatic) {
      std::string why_not = link.process_watched() ? std::string{} : link.watch_process(w, peer);
      if (why_not.empty()) {
        m_detection.process_watch = true;
        m_detection.peer_pid = peer.pid;
      } else {
        m_detection.reason = "automatic: UCX error handling none, but " + why_not + ", so heartbeats instead";
        if (m_heartbeat.interval.count() == 0)
          m_heartbeat = {fallback_heartbeat_interval, fallback_heartbeat_timeout};
      }
    }
  }

  /// Watches the link's heartbeat for `owner` if one was chosen; then the
  /// peer must be asked to beat every heartbeat().interval (true).
  [[nodiscard]] bool watch_heartbeat(peer_link& link, const void* owner) {
    if (m_heartbeat.interval.count() <= 0)
      return false;
    m_detection.heartbeat_timeout = m_heartbeat.timeout;
    link.watch_heartbeat(owner, m_heartbeat);
    return true;
  }

  /// A layer above whose two sides each watch the other (the communicator's
  /// ranks): both beat and watch, with no request on a control channel (an
  /// address endpoint has none). `why` is added to the reason.
  void watch_each_other(peer_link& link, const void* owner, const heartbeat_options& hb, const std::string& why) {
    if (hb.interval.count() <= 0)
      return;
    m_detection.heartbeat_timeout = hb.timeout;
    m_detection.reason += why;
    link.watch_heartbeat(owner, hb);
    link.send_heartbeats(owner, hb.interval);
  }

  [[nodiscard]] const heartbeat_options& heartbeat() const noexcept { return m_heartbeat; }
  [[nodiscard]] const failure_detection& detection() const noexcept { return m_detection; }

private:
  error_handling m_requested;
  heartbeat_options m_heartbeat;
  heartbeat_options m_remote_heartbeat;
  failure_detection m_detection;
};

} // namespace ucoro::detail
