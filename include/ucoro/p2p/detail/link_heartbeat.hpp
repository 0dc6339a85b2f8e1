#pragma once
// The one heartbeat protocol, for every peer link (peer_link.hpp): what an
// endpoint's `heartbeat` and `remote_heartbeat` and a communicator's
// `remote_heartbeat` all run on.
//
// A beat is an 8-byte tag message in the link_heartbeat space whose tag
// names the sending worker (the low 60 bits of the FNV-1a hash of its UCX
// address), so the receiver finds its link to that worker with no state per
// beat, and a beat concerns the peer process, not one endpoint: any
// endpoint or rank to that worker counts it. Sent fire and forget (no
// callback, the request freed at once, the payload static): a beat stuck
// behind a cut link holds nothing of ours.
//
// Who beats and who watches is asked per link, by owner (an endpoint, a
// communicator's rank), and ends when the owner goes:
//  - watch(owner, hb): this side fails the link, with
//    errc::peer_unresponsive, when nothing came from the peer for
//    hb.timeout; checked every min(hb.interval, hb.timeout / 4);
//  - beat(owner, interval): this side beats to the peer every interval.
// The shortest of each wins. An endpoint asks its peer to beat over its
// control channel (control_message::heartbeat_request); a communicator's
// two ranks each watch and beat, and a beat from a worker this side does
// not beat to is handed to the layers that asked for that
// (peer_link_registry::on_unbeaten_peer: the communicator connects to the
// rank, and so watches it back).

#include <ucoro/p2p/options.hpp>
#include <ucoro/runtime/detail/fnv1a.hpp>
#include <ucoro/ucx/tag.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace ucoro::detail {

/// The name a worker goes by in heartbeat tags.
[[nodiscard]] inline std::uint64_t heartbeat_name(std::span<const std::byte> worker_address) noexcept {
  return fnv1a(worker_address) & ~tag_layout::space_mask;
}
[[nodiscard]] constexpr tag_t heartbeat_tag(std::uint64_t sender_name) noexcept {
  return tag_layout::in_space(tag_layout::space::link_heartbeat, sender_name);
}
[[nodiscard]] constexpr std::uint64_t heartbeat_sender(tag_t tag) noexcept { return tag & ~tag_layout::space_mask; }

/// One link's heartbeat requests and what it heard; no I/O (peer_link
/// sends and checks on its tick).
class link_liveness {
public:
  using clock = std::chrono::steady_clock;

  /// Watch the peer (its silence past hb.timeout fails the link).
  void watch(const void* owner, const heartbeat_options& hb, clock::time_point now) {
    if (!watching())
      m_last_heard = now;
    set(m_watches, {owner, hb.interval, hb.timeout});
  }
  /// Beat to the peer every `interval`.
  void beat(const void* owner, std::chrono::milliseconds interval) { set(m_beats, {owner, interval, interval}); }
  /// `owner` asks for nothing any more.
  void forget(const void* owner) noexcept {
    std::erase_if(m_watches, [&](const request& r) { return r.owner == owner; });
    std::erase_if(m_beats, [&](const request& r) { return r.owner == owner; });
  }

  void heard(clock::time_point now) noexcept { m_last_heard = now; }
  void sent(clock::time_point now) noexcept { m_last_sent = now; }

  [[nodiscard]] bool watching() const noexcept { return !m_watches.empty(); }
  [[nodiscard]] bool beating() const noexcept { return !m_beats.empty(); }
  [[nodiscard]] bool active() const noexcept { return watching() || beating(); }

  /// How long the tick sleeps: the shortest beat interval, and a quarter
  /// of the shortest deadline (or the watch's interval, if shorter).
  [[nodiscard]] std::chrono::milliseconds period() const noexcept {
    const auto p = std::min({shortest(m_beats, &request::interval), shortest(m_watches, &request::interval),
                             shortest(m_watches, &request::timeout) / 4});
    return std::max(p, std::chrono::milliseconds{1});
  }
  /// The peer has been silent past the shortest deadline.
  [[nodiscard]] bool overdue(clock::time_point now) const noexcept {
    return watching() && now - m_last_heard > shortest(m_watches, &request::timeout);
  }
  /// A beat is due: never sent, or the shortest interval has passed.
  [[nodiscard]] bool beat_due(clock::time_point now) const noexcept {
    return beating() &&
           (m_last_sent == clock::time_point{} || now - m_last_sent >= shortest(m_beats, &request::interval));
  }

private:
  struct request {
    const void* owner;
    std::chrono::milliseconds interval;
    std::chrono::milliseconds timeout;
  };
  /// The least of `field` over `requests` (max() when there are none).
  [[nodiscard]] static std::chrono::milliseconds shortest(const std::vector<request>& requests,
                                                          std::chrono::milliseconds request::*field) noexcept {
    auto least = std::chrono::milliseconds::max();
    for (const request& r : requests)
      least = std::min(least, r.*field);
    return least;
  }
  static void set(std::vector<request>& requests, request r) {
    for (request& existing : requests)
      if (existing.owner == r.owner) {
        existing = r;
        return;
      }
    requests.push_back(r);
  }

  std::vector<request> m_watches;
  std::vector<request> m_beats;
  clock::time_point m_last_heard{};
  clock::time_point m_last_sent{};
};

} // namespace ucoro::detail
