#pragma once
// How a communicator is bootstrapped (communicator.hpp): explicit rank,
// size and root, the job token, bounds, when endpoints are made, and the
// heartbeat for ranks over the network.

#include <ucoro/p2p/options.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <type_traits>

namespace ucoro {

/// When a communicator creates its endpoints (bootstrap_options::connect).
enum class connect_policy {
  lazy, ///< to a rank at the first send to it or receive from it (jobs where each rank talks to few)
  eager ///< to every rank during bootstrap (all-to-all jobs; the cost is paid before the first message)
};

/// Trivially copyable (inline texts, see inline_text), so that
/// `co_await communicator::bootstrap(w, {...})` is safe under GCC 12.
struct bootstrap_options {
  /// Explicit: set all three, or none (then the environment decides).
  std::optional<std::uint32_t> rank;
  std::optional<std::uint32_t> size;
  inline_text<256> root; ///< "host:port" of rank 0's rendezvous
  /// A token every rank must present (UCORO_JOB): two jobs never mix.
  handshake_token job;
  /// Bound on the whole bootstrap; on expiry the error names missing ranks.
  std::chrono::milliseconds timeout{30'000};
  /// Address rank 0 binds its rendezvous to. Empty: the root's own host
  /// when that is a loopback address (a local job is then unreachable from
  /// other hosts, and a ::1 root works), else all IPv4 interfaces.
  inline_text<64> bind_address;
  connect_policy connect = connect_policy::lazy;
  /// For ranks reached over a network transport (another host): both
  /// sides send a beat every interval, and a rank not heard for the timeout
  /// fails with errc::peer_unresponsive as its cause, within ~6 s of a
  /// partition. Same-host ranks are watched by pidfd instead. Zero interval: off.
  heartbeat_options remote_heartbeat{std::chrono::milliseconds{1000}, std::chrono::milliseconds{5000}};
};
static_assert(std::is_trivially_copyable_v<bootstrap_options> && std::is_trivially_destructible_v<bootstrap_options>);

} // namespace ucoro
