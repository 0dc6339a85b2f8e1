#pragma once
// Choices are enums, options are aggregates: read at the call site as
// `worker w{ctx, {.mode = progress_mode::polling}}`.

#include <ucoro/error.hpp>
#include <ucoro/ucx/options.hpp>

#include <ucp/api/ucp.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace ucoro {

/// When a send completes (UCX's UCP_OP_ATTR_FLAG_FAST_CMPL).
enum class send_completion {
  /// fast for sends below 64 KiB where the endpoint's active-message lane
  /// is shared memory (sysv/posix/self), standard otherwise (tcp, RDMA, and
  /// 64 KiB and up): measured here, fast cuts 16-32 KiB latency over shared
  /// memory to 0.6-0.9x ucx_perftest's, doubles it over tcp, and at 64 KiB
  /// made 2 launches in 3 four times slower than the rendezvous. Decided
  /// once per endpoint, from its lanes, when it connects.
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

/// How an endpoint learns that its peer has failed (docs/failure.md has the
/// measured cost of each).
enum class error_handling {
  /// UCX's peer error handling where it costs no transport: peers on other
  /// hosts. For a same-host peer, UCX's error handling stays off so that
  /// shared memory (sysv/posix + cma) is used, and ucoro watches the peer
  /// process itself (a pidfd in the progress engine's epoll set): when it
  /// exits, pending operations fail with errc::peer_failed
  /// (std::errc::connection_reset) within milliseconds. Falls back to `peer`
  /// where pidfds are unavailable, and to a heartbeat where the peer's
  /// process cannot be verified (e.g. another pid namespace); ucx_info() and
  /// failure_detection() say which.
  automatic,
  /// UCX_ERR_HANDLING_MODE_PEER: UCX detects failures (keepalive, transport
  /// errors). On one host UCX then drops shared memory for tcp: 8 B one-way
  /// latency ~7.8 us instead of ~0.6 us here.
  peer,
  /// UCX_ERR_HANDLING_MODE_NONE and nothing else: a dead peer strands
  /// pending operations unless a heartbeat is configured.
  none,
};

[[nodiscard]] constexpr const char* to_string(error_handling mode) noexcept {
  switch (mode) {
  case error_handling::automatic: return "automatic";
  case error_handling::peer: return "peer";
  case error_handling::none: return "none";
  }
  return "?";
}

/// "automatic", "peer" or "none" (command lines, configuration files).
[[nodiscard]] inline error_handling parse_error_handling(std::string_view text) {
  for (auto mode : {error_handling::automatic, error_handling::peer, error_handling::none})
    if (text == to_string(mode))
      return mode;
  throw_invalid_argument("error handling '" + std::string(text) + "': expected automatic, peer or none");
}

/// Liveness messages on the endpoint's control channel, for peers that UCX
/// does not watch (error_handling::none). Both sides must run a ucoro worker
/// that progresses: a peer blocked longer than `timeout` counts as failed.
struct heartbeat_options {
  /// How often the peer is asked to send a heartbeat; zero: off.
  std::chrono::milliseconds interval{0};
  /// Silence after which the endpoint fails with errc::peer_unresponsive
  /// (std::errc::timed_out); zero: 5 x interval.
  std::chrono::milliseconds timeout{0};
};

/// Text of at most N bytes, stored inline: the options structs that hold
/// text (a token, an address) stay trivially copyable and trivially
/// destructible, because GCC 12 destroys an aggregate temporary twice when
/// its full-expression contains co_await (as in
/// `co_await w.create_endpoint(host, port, {.token = "..."})`); with a
/// std::string member that double destruction frees a bad pointer.
template <std::size_t N>
class inline_text {
public:
  static_assert(N < 65536);
  static constexpr std::size_t max_size = N;

  constexpr inline_text() noexcept = default;
  constexpr inline_text(const char* text) : inline_text(std::string_view{text}) {}
  constexpr inline_text(std::string_view text) { assign(text); }
  inline_text(const std::string& text) : inline_text(std::string_view{text}) {}

  constexpr void assign(std::string_view text) {
    if (text.size() > max_size)
      throw_error(std::make_error_code(std::errc::value_too_large), "ucoro: text of " + std::to_string(text.size()) +
                                                                        " bytes where at most " +
                                                                        std::to_string(max_size) + " fit");
    size_ = static_cast<std::uint16_t>(text.size());
    for (std::size_t i = 0; i < text.size(); ++i)
      bytes_[i] = text[i];
  }
  [[nodiscard]] constexpr std::string_view view() const noexcept { return {bytes_, size_}; }
  [[nodiscard]] std::string str() const { return std::string(view()); }
  [[nodiscard]] constexpr bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] constexpr std::size_t size() const noexcept { return size_; }

private:
  char bytes_[N]{};
  std::uint16_t size_ = 0;
};

/// The shared secret of endpoint_options::token: at most 128 bytes.
using handshake_token = inline_text<128>;

struct endpoint_options {
  /// Match the n-th recv with the n-th send, whatever UCX's delivery order.
  /// Both sides must agree; a mismatch fails the handshake.
  bool guarantee_msg_order = true;
  /// How a failed peer is detected (see error_handling).
  ucoro::error_handling error_handling = ucoro::error_handling::automatic;
  heartbeat_options heartbeat{};
  /// For a peer over a network transport (another host, or tcp on this
  /// one) when `heartbeat` is not set, under automatic and peer (not none):
  /// a partition (no RST, both processes alive) is otherwise noticed by
  /// nothing for minutes. 1 s / 5 s fails pending operations on both sides
  /// within ~6 s; an interval of zero turns it off.
  heartbeat_options remote_heartbeat{std::chrono::milliseconds{1000}, std::chrono::milliseconds{5000}};
  /// Bound on connecting and on each handshake step.
  std::chrono::milliseconds connect_timeout{5000};
  /// Bound on close(): past it, the endpoint is force-closed.
  std::chrono::milliseconds close_timeout{5000};
  send_completion completion = send_completion::automatic;
  /// A shared secret the listener must know (listener_options::endpoint.token):
  /// without the same token the listener refuses the connection. It travels
  /// in clear text: it keeps out strangers and other jobs, not eavesdroppers
  /// (docs/security.md).
  handshake_token token;
};
static_assert(std::is_trivially_copyable_v<endpoint_options> && std::is_trivially_destructible_v<endpoint_options>,
              "see handshake_token: GCC 12 double-destroys aggregate temporaries in co_await expressions");

/// How an endpoint detects that its peer failed: what error_handling
/// resolved to when it connected.
struct failure_detection {
  /// What UCX was given: peer (UCX detects failures) or none.
  ucoro::error_handling ucx_mode = ucoro::error_handling::peer;
  /// The peer's process is watched through a pidfd (same host).
  bool process_watch = false;
  std::uint32_t peer_pid = 0;
  /// Heartbeats over the peer link, with this timeout (zero: off).
  std::chrono::milliseconds heartbeat_timeout{0};
  /// Why: the choice automatic made, or "requested".
  std::string reason;
};


/// For create_endpoint_from_worker_address: no handshake, so both sides
/// name the channel their messages travel on.
struct address_endpoint_options {
  ucp_tag_t channel = 0;
  bool guarantee_msg_order = true;
  /// Without `peer`, there is no way to learn the peer's process, so
  /// automatic means UCX peer mode (tcp on one host). With it, both sides
  /// resolve automatic as a handshake would: a same-host peer keeps shared
  /// memory and its process is watched. Both sides must pass each other's.
  ucoro::error_handling error_handling = ucoro::error_handling::automatic;
  send_completion completion = send_completion::automatic;
  std::optional<peer_info> peer{};
};

struct listener_options {
  /// Address to bind; all interfaces by default, like UCX-Py.
  std::string bind_address = "0.0.0.0";
  /// For the endpoints it accepts (guarantee_msg_order must match clients';
  /// a non-empty endpoint.token is required of every client).
  endpoint_options endpoint;
  /// Connections still handshaking at once; past it the oldest is dropped,
  /// so a flood of silent sockets cannot exhaust file descriptors.
  std::size_t max_pending_connections = 128;
  /// Rejected handshakes (garbage, silence, a wrong token, ...) and handler
  /// exceptions; called on the worker's thread.
  std::function<void(std::exception_ptr)> on_error;
};

} // namespace ucoro
