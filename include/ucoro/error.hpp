#pragma once
// Errors: one category for UCX's ucs_status_t, one for ucoro's own protocol
// conditions, both mapped onto std::errc so callers can write
// `ec == std::errc::timed_out` without knowing which layer failed.

#include <ucoro/config.hpp>

#include <ucs/type/status.h>

#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>

namespace ucoro {

namespace detail {

class ucx_category_impl final : public std::error_category {
public:
  [[nodiscard]] const char* name() const noexcept override { return "ucx"; }

  [[nodiscard]] std::string message(int value) const override {
    return ucs_status_string(static_cast<ucs_status_t>(value));
  }

  [[nodiscard]] std::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<ucs_status_t>(value)) {
    case UCS_OK: return {};
    case UCS_ERR_CANCELED: return std::errc::operation_canceled;
    case UCS_ERR_TIMED_OUT:
    case UCS_ERR_ENDPOINT_TIMEOUT: return std::errc::timed_out;
    case UCS_ERR_MESSAGE_TRUNCATED: return std::errc::message_size;
    case UCS_ERR_CONNECTION_RESET: return std::errc::connection_reset;
    case UCS_ERR_UNREACHABLE: return std::errc::host_unreachable;
    case UCS_ERR_REJECTED: return std::errc::connection_refused;
    case UCS_ERR_UNSUPPORTED: return std::errc::not_supported;
    case UCS_ERR_NO_MEMORY: return std::errc::not_enough_memory;
    case UCS_ERR_INVALID_PARAM: return std::errc::invalid_argument;
    case UCS_ERR_NO_ELEM: return std::errc::invalid_argument; // e.g. an unknown config option
    case UCS_ERR_BUSY: return std::errc::device_or_resource_busy;
    case UCS_ERR_NO_RESOURCE:
      return std::errc::resource_unavailable_try_again;
    case UCS_ERR_NO_DEVICE: return std::errc::no_such_device;
    case UCS_ERR_IO_ERROR: return std::errc::io_error;
    case UCS_ERR_NOT_CONNECTED: return std::errc::not_connected;
    case UCS_ERR_ALREADY_EXISTS: return std::errc::address_in_use;
    case UCS_ERR_BUFFER_TOO_SMALL: return std::errc::no_buffer_space;
    case UCS_ERR_EXCEEDS_LIMIT: return std::errc::value_too_large;
    case UCS_ERR_OUT_OF_RANGE: return std::errc::result_out_of_range;
    case UCS_ERR_NOT_IMPLEMENTED: return std::errc::function_not_supported;
    case UCS_ERR_INVALID_ADDR: return std::errc::bad_address;
    case UCS_ERR_SHMEM_SEGMENT: return std::errc::invalid_argument;
    default: return {value, *this};
    }
  }
};

} // namespace detail

[[nodiscard]] inline const std::error_category& ucx_category() noexcept {
  static const detail::ucx_category_impl instance;
  return instance;
}

[[nodiscard]] inline std::error_code make_error_code(ucs_status_t status) noexcept {
  return {static_cast<int>(status), ucx_category()};
}

/// Conditions that ucoro itself detects (protocol, lifetime), as opposed to
/// those UCX reports. Each maps onto the nearest std::errc.
enum class errc {
  closed_by_peer = 1,  ///< the peer closed the endpoint; equal to std::errc::connection_reset
  endpoint_closed,     ///< the local side closed or aborted the endpoint; std::errc::not_connected
  handshake_failed,    ///< malformed handshake (bad magic or checksum); std::errc::protocol_error
  protocol_mismatch,   ///< version, guarantee_msg_order or error handling differ; std::errc::protocol_error
  peer_failed,         ///< the peer process died; std::errc::connection_reset
  listener_closed,     ///< the listener was closed; std::errc::not_connected
  peer_unresponsive,   ///< no heartbeat from the peer within its timeout; std::errc::timed_out
  shared_memory_stuck, ///< a dead same-host peer left this worker's shared-memory receive FIFO stuck;
                       ///< std::errc::connection_aborted
  send_abandoned,      ///< a send was stopped (a timeout) before UCX finished it, so its connection was
                       ///< closed: a message cannot be withdrawn; std::errc::connection_aborted
  malformed_message,   ///< a peer sent ucoro's own traffic that does not read (a size that is not whole
                       ///< elements, a bad bootstrap entry); std::errc::bad_message
};

namespace detail {

class ucoro_category_impl final : public std::error_category {
public:
  [[nodiscard]] const char* name() const noexcept override { return "ucoro"; }

  [[nodiscard]] std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
    case errc::closed_by_peer: return "closed by peer";
    case errc::endpoint_closed: return "endpoint closed";
    case errc::handshake_failed: return "handshake failed";
    case errc::protocol_mismatch: return "protocol mismatch";
    case errc::peer_failed: return "peer process exited";
    case errc::listener_closed: return "listener closed";
    case errc::peer_unresponsive: return "peer missed its heartbeat deadline";
    case errc::send_abandoned:
      return "connection closed after a send was stopped before it finished (a message cannot be withdrawn)";
    case errc::malformed_message: return "malformed message from a peer";
    case errc::shared_memory_stuck:
      return "this worker's shared-memory receive FIFO is stuck (a same-host peer died mid-write); connect from a "
             "new worker";
    }
    return "unknown ucoro error";
  }

  [[nodiscard]] std::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<errc>(value)) {
    case errc::closed_by_peer:
    case errc::peer_failed: return std::errc::connection_reset;
    case errc::endpoint_closed:
    case errc::listener_closed: return std::errc::not_connected;
    case errc::handshake_failed:
    case errc::protocol_mismatch: return std::errc::protocol_error;
    case errc::peer_unresponsive: return std::errc::timed_out;
    case errc::shared_memory_stuck:
    case errc::send_abandoned: return std::errc::connection_aborted;
    case errc::malformed_message: return std::errc::bad_message;
    }
    return {value, *this};
  }
};

} // namespace detail

[[nodiscard]] inline const std::error_category& ucoro_category() noexcept {
  static const detail::ucoro_category_impl instance;
  return instance;
}

[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), ucoro_category()};
}

/// Every ucoro operation throws this (or returns its code in the non-throwing
/// form). what() says what was being done, e.g.
/// "recv of 4096 bytes on endpoint to 127.0.0.1:5000: Message truncated".
/// what() is "<what was being done>: <the code's message>", once: a context
/// that already ends with the code's message (a layer below described the
/// failure in its own words) is not followed by it a second time, which
/// std::system_error would do ("closed by peer: closed by peer").
class ucx_error : public std::system_error {
public:
  ucx_error(std::error_code code, const std::string& what)
      : std::system_error(code, what), m_text(compose(code, what)) {}
  ucx_error(ucs_status_t status, const std::string& what) : ucx_error(make_error_code(status), what) {}

  [[nodiscard]] const char* what() const noexcept override { return m_text.what(); }

  /// The context without the code's message: what was being done.
  [[nodiscard]] std::string context() const {
    const std::string text = m_text.what();
    const std::string suffix = ": " + code().message();
    return text.size() > suffix.size() && text.ends_with(suffix) ? text.substr(0, text.size() - suffix.size()) : text;
  }

private:
  static std::string compose(const std::error_code& code, const std::string& what) {
    const std::string message = code.message();
    if (what.empty())
      return message;
    if (message.empty() || what.ends_with(message))
      return what;
    return what + ": " + message;
  }

  std::runtime_error m_text; // refcounted: copying an exception does not throw
};

[[noreturn]] inline void throw_error(std::error_code code, const std::string& what) {
  throw ucx_error(code, what);
}

/// Misuse, in every layer: a call whose arguments cannot work. `what` names
/// the call and the values ("partition: 0 parts").
[[noreturn]] inline void throw_invalid_argument(const std::string& what) {
  throw ucx_error(std::make_error_code(std::errc::invalid_argument), what);
}

/// Throws when `status` is an error. `what` is only built on failure.
template <class What>
  requires std::is_invocable_r_v<std::string, What>
inline void check(ucs_status_t status, What&& what) {
  if (status != UCS_OK) [[unlikely]]
    throw ucx_error(status, what());
}

inline void check(ucs_status_t status, const char* what) {
  if (status != UCS_OK) [[unlikely]]
    throw ucx_error(status, what);
}

/// The non-throwing spelling: an error code beside the value, for hot loops
/// (`auto r = co_await op.nothrow(); if (!r) ...`).
template <class T>
struct [[nodiscard]] result {
  std::error_code error;
  T value{};
  [[nodiscard]] explicit operator bool() const noexcept { return !error; }
};

template <>
struct [[nodiscard]] result<void> {
  std::error_code error;
  [[nodiscard]] explicit operator bool() const noexcept { return !error; }
};

namespace detail {
template <class T>
inline constexpr bool is_result_v = false;
template <class T>
inline constexpr bool is_result_v<result<T>> = true;
} // namespace detail

} // namespace ucoro

template <>
struct std::is_error_code_enum<ucoro::errc> : std::true_type {};
