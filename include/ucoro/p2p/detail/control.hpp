#pragma once
// The control channel's wire format: fixed 16-byte messages on an
// endpoint's control tag (close, close ack, the request for heartbeats,
// the handshake's attach). They come from a peer that passed the front door, but a buggy
// or hostile one must not steer us anywhere odd, so decode() is pure and
// strict (fuzzed: tests/fuzz/control.cpp).

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

namespace ucoro::detail {

struct control_message {
  enum kind : std::uint32_t {
    close = 1,
    close_ack = 2,
    heartbeat_request = 3, ///< beat to me every `count` ms (the beats go over the link: link_heartbeat.hpp)
    retired_heartbeat = 4, ///< a beat on this channel, before hello version 2: refused
    attach = 5,
  };
  std::uint32_t type = 0;
  std::uint32_t reserved = 0;
  std::uint64_t count = 0; ///< close: messages sent; close_ack: received; heartbeat_request: interval in ms

  static constexpr std::size_t wire_size = 16;
  /// A peer may ask for heartbeats this often at most / at least.
  static constexpr std::chrono::milliseconds min_heartbeat{1};
  static constexpr std::chrono::milliseconds max_heartbeat{std::chrono::hours(1)};

  /// Both ends run one build on one architecture family; the layout is the
  /// struct's own (checked below), little-endian on every target UCX has.
  [[nodiscard]] std::array<std::byte, wire_size> encode() const noexcept {
    std::array<std::byte, wire_size> out{};
    std::memcpy(out.data(), this, wire_size);
    return out;
  }

  /// The message in `bytes`, or nothing if it is not one: wrong size, an
  /// unknown or retired kind, a reserved field set, or a heartbeat interval
  /// outside [min_heartbeat, max_heartbeat].
  [[nodiscard]] static std::optional<control_message> decode(std::span<const std::byte> bytes) noexcept {
    if (bytes.size() != wire_size)
      return std::nullopt;
    control_message m;
    std::memcpy(&m, bytes.data(), wire_size);
    if (m.type < close || m.type > attach || m.type == retired_heartbeat || m.reserved != 0)
      return std::nullopt;
    if (m.type == heartbeat_request &&
        (m.count < static_cast<std::uint64_t>(min_heartbeat.count()) ||
         m.count > static_cast<std::uint64_t>(max_heartbeat.count())))
      return std::nullopt;
    return m;
  }
};
static_assert(sizeof(control_message) == control_message::wire_size);

} // namespace ucoro::detail
