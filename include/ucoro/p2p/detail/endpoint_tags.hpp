#pragma once
// An endpoint's tags and sequence numbers: the random bases each side
// receives on (data and control), the peer's bases it sends to, and, with
// guarantee_msg_order, the n-th send carrying base + n and the n-th receive
// waiting for exactly that tag (UCX-Py's scheme), so that order holds even
// where UCX spreads messages over lanes.

#include <ucoro/ucx/tag.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <random>

namespace ucoro::detail {

[[nodiscard]] inline tag_t random_tag_base() {
  static thread_local std::mt19937_64 rng{
      std::random_device{}() ^ (static_cast<std::uint64_t>(::getpid()) << 32) ^
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())};
  return rng() & ~tag_layout::space_mask;
}

class endpoint_tags {
public:
  explicit endpoint_tags(bool ordered)
      : m_ordered(ordered), m_recv_msg_base(random_tag_base()),
        m_recv_ctrl_tag(tag_layout::in_space(tag_layout::space::endpoint_control, random_tag_base())) {}

  /// Sends go to the peer's bases (from its hello, or the shared channel).
  void send_to(tag_t peer_msg, tag_t peer_ctrl) noexcept {
    m_send_msg_base = peer_msg;
    m_send_ctrl_tag = tag_layout::in_space(tag_layout::space::endpoint_control, peer_ctrl);
  }
  /// Same tags on both sides (endpoints from a worker address: no handshake).
  void use_channel(tag_t channel) noexcept {
    m_recv_msg_base = channel;
    m_recv_ctrl_tag = tag_layout::in_space(tag_layout::space::endpoint_control, 0);
  }

  [[nodiscard]] tag_t recv_msg_base() const noexcept { return m_recv_msg_base; }
  [[nodiscard]] tag_t recv_ctrl_raw() const noexcept { return m_recv_ctrl_tag & ~tag_layout::space_mask; }
  [[nodiscard]] tag_t recv_ctrl_tag() const noexcept { return m_recv_ctrl_tag; }
  [[nodiscard]] tag_t send_ctrl_tag() const noexcept { return m_send_ctrl_tag; }
  /// Messages sent so far (the close protocol tells the peer).
  [[nodiscard]] std::uint64_t send_count() const noexcept { return m_send_count; }

  [[nodiscard]] tag_t next_send_tag() noexcept {
    const tag_t seq = m_send_count++;
    return tag_layout::in_space(tag_layout::space::endpoint_data, m_ordered ? m_send_msg_base + seq : m_send_msg_base);
  }
  [[nodiscard]] tag_t next_recv_tag(std::uint64_t& seq) noexcept {
    seq = m_recv_posted++;
    return tag_layout::in_space(tag_layout::space::endpoint_data, m_ordered ? m_recv_msg_base + seq : m_recv_msg_base);
  }
  /// `count` consecutive messages of the ordered channel for one call
  /// (send_many, recv_many), taken now so that no other send or receive
  /// comes between them; the first one's sequence number.
  [[nodiscard]] std::uint64_t reserve_sends(std::uint64_t count) noexcept {
    const std::uint64_t first = m_send_count;
    m_send_count += count;
    return first;
  }
  [[nodiscard]] std::uint64_t reserve_recvs(std::uint64_t count) noexcept {
    const std::uint64_t first = m_recv_posted;
    m_recv_posted += count;
    return first;
  }
  [[nodiscard]] tag_t send_tag_of(std::uint64_t seq) const noexcept {
    return tag_layout::in_space(tag_layout::space::endpoint_data, m_ordered ? m_send_msg_base + seq : m_send_msg_base);
  }
  [[nodiscard]] tag_t recv_tag_of(std::uint64_t seq) const noexcept {
    return tag_layout::in_space(tag_layout::space::endpoint_data, m_ordered ? m_recv_msg_base + seq : m_recv_msg_base);
  }
  /// A receive cancelled before it matched gives back its sequence number
  /// when it was the last one posted, so a retry after a timeout still
  /// matches the next message.
  void return_recv_seq(std::uint64_t seq) noexcept {
    if (seq + 1 == m_recv_posted)
      --m_recv_posted;
  }

private:
  bool m_ordered;
  tag_t m_recv_msg_base;
  tag_t m_recv_ctrl_tag;
  tag_t m_send_msg_base = 0;
  tag_t m_send_ctrl_tag = 0;
  std::uint64_t m_send_count = 0;
  std::uint64_t m_recv_posted = 0;
};

} // namespace ucoro::detail
