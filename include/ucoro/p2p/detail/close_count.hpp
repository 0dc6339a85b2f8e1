#pragma once
// The counting half of an endpoint's close protocol (docs/design.md,
// "Closing"): how many messages this side has received, and after how many
// it closes, either because the peer closed after sending that many or
// because the user asked (close_after_n_recv). Pure: the endpoint acts on
// what it answers (tests/unit/close_count.cpp).

#include <ucoro/error.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace ucoro::detail {

class close_count {
public:
  /// What a count reaching its target asks of the endpoint.
  enum class reached : unsigned char {
    not_yet,
    user_close,  ///< close_after_n_recv's count: close() (the close protocol runs)
    peer_closed, ///< the peer's announced count: acknowledge it, close with closed_by_peer
  };

  /// One more message arrived.
  [[nodiscard]] reached on_received() noexcept {
    ++m_received;
    return check();
  }

  /// close_after_n_recv(n, count_from_ep_creation) on the endpoint to
  /// `peer`: at most once, and not below what has arrived already when
  /// counting from creation (invalid_argument naming the values).
  [[nodiscard]] reached close_after(std::uint64_t n, bool count_from_ep_creation, const std::string& peer) {
    if (m_target)
      throw_invalid_argument("close_after_n_recv on endpoint to " + peer + ": already set (to " +
                             std::to_string(*m_target) + ")");
    if (count_from_ep_creation && n < m_received)
      throw_invalid_argument("close_after_n_recv(" + std::to_string(n) + ", count_from_ep_creation) on endpoint to " +
                             peer + ": " + std::to_string(m_received) + " messages were already received");
    m_target = count_from_ep_creation ? n : m_received + n;
    m_from_peer = false;
    return check();
  }

  /// The peer closed after sending `sent` messages; it replaces a user's
  /// count (the peer will send no more than that).
  [[nodiscard]] reached peer_closed(std::uint64_t sent) noexcept {
    m_target = sent;
    m_from_peer = true;
    m_fired = false;
    return check();
  }

  [[nodiscard]] std::uint64_t received() const noexcept { return m_received; }

private:
  [[nodiscard]] reached check() noexcept {
    if (!m_target || m_fired || m_received < *m_target)
      return reached::not_yet;
    m_fired = true;
    return m_from_peer ? reached::peer_closed : reached::user_close;
  }

  std::uint64_t m_received = 0;
  std::optional<std::uint64_t> m_target;
  bool m_from_peer = false;
  bool m_fired = false;
};

} // namespace ucoro::detail
