#pragma once
// The front door's exchange, used by both ends: read and write one message
// of detail/hello.hpp over a socket, build this side's hello, and read the
// peer's part of the error-mode decision from it.
//
//   client                              listener
//   hello {identity, address, tags} ->
//                                    <- accept {identity, address, tags, mode}   (or reject {reason})
//   UCX: control "attach" on the listener's control tag ->
//                                    <- ready
//
// Both then talk over UCX only; the socket closes. Every step is bounded by
// the caller's connect_timeout.

#include <ucoro/ucx/context.hpp>
#include <ucoro/p2p/detail/endpoint_state.hpp>
#include <ucoro/p2p/detail/error_mode.hpp>
#include <ucoro/p2p/detail/hello.hpp>
#include <ucoro/p2p/detail/socket.hpp>
#include <ucoro/error.hpp>
#include <ucoro/runtime/task.hpp>
#include <ucoro/ucx/worker.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <vector>

namespace ucoro::detail {

/// Reads one front-door message. Anything that is not one is
/// errc::handshake_failed saying so.
inline task<hello::message> read_hello(progress_engine& engine, int fd, std::string what) {
  std::vector<std::byte> bytes(hello::header_size);
  try {
    co_await read_exact(engine, fd, bytes);
  } catch (const std::system_error& e) {
    if (e.code() == std::errc::operation_canceled)
      throw;
    throw ucx_error(make_error_code(errc::handshake_failed),
                    what + ": the peer did not speak ucoro's handshake (" + e.what() + ")");
  }
  std::string why;
  const auto header = hello::parse_header(bytes, why);
  if (!header)
    throw ucx_error(make_error_code(errc::handshake_failed),
                    what + ": the peer did not speak ucoro's handshake (" + why + ")");
  bytes.resize(hello::header_size + header->body_length);
  try {
    co_await read_exact(engine, fd, std::span(bytes).subspan(hello::header_size));
  } catch (const std::system_error& e) {
    if (e.code() == std::errc::operation_canceled)
      throw;
    throw ucx_error(make_error_code(errc::handshake_failed), what + ": handshake cut short (" + e.what() + ")");
  }
  auto message = hello::decode(bytes, why);
  if (!message)
    throw ucx_error(make_error_code(errc::handshake_failed), what + ": malformed handshake (" + why + ")");
  co_return std::move(*message);
}

inline task<void> write_hello(progress_engine& engine, int fd, const hello::message& message) {
  const auto bytes = hello::encode(message);
  co_await write_all(engine, fd, bytes);
}

[[nodiscard]] inline std::string this_host_name() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0)
    return {};
  return name.data();
}

/// This side's hello (or accept): who it is, where its worker is, what it
/// asks for, and the tags it receives on.
[[nodiscard]] inline hello::message make_hello(hello::kind type, peer_link_registry& registry,
                                               const endpoint_state& state, const endpoint_options& options,
                                               std::string_view token) {
  hello::message m;
  m.type = type;
  m.identity = this_process();
  m.host = this_host_name();
  m.worker_address = registry.worker_address();
  m.flags = (options.guarantee_msg_order ? hello::ordered : 0U) | (pidfd_available() ? hello::pidfd : 0U) |
            (registry.get_worker().get_context().has_shared_memory_transport() ? hello::shared_memory : 0U);
  m.requested_mode = static_cast<std::uint8_t>(options.error_handling);
  m.msg_tag = state.tags().recv_msg_base();
  m.ctrl_tag = state.tags().recv_ctrl_raw();
  m.token = token;
  return m;
}

[[nodiscard]] inline hello::message make_reject(hello::reject_reason reason, std::string text) {
  hello::message m;
  m.type = hello::kind::reject;
  m.reason = reason;
  m.reason_text = std::move(text);
  return m;
}

/// The error-mode inputs a hello carries (requested modes out of range
/// count as automatic: the decoder does not judge meaning).
[[nodiscard]] inline error_mode_side side_of(const hello::message& m) {
  error_mode_side side;
  side.requested = m.requested_mode <= 2 ? static_cast<error_handling>(m.requested_mode) : error_handling::automatic;
  side.pidfd = (m.flags & hello::pidfd) != 0;
  side.shared_memory = (m.flags & hello::shared_memory) != 0;
  side.identity = m.identity;
  return side;
}

[[nodiscard]] inline error_mode_side side_of(peer_link_registry& registry, const endpoint_options& options) {
  error_mode_side side;
  side.requested = options.error_handling;
  side.pidfd = pidfd_available();
  side.shared_memory = registry.get_worker().get_context().has_shared_memory_transport();
  side.identity = this_process();
  return side;
}

/// Constant-time comparison: the token check does not tell how much of a
/// guess was right.
[[nodiscard]] inline bool same_token(std::string_view a, std::string_view b) noexcept {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i)
    diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

} // namespace ucoro::detail
