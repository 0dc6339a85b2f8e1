#pragma once
// The communicator's fields inside its tag spaces (ucx/tag.hpp reserves the
// spaces; what goes inside them is the communicator's business):
//
//   communicator:  59..36 user tag (24 bits) | 35..16 source rank (20 bits)
//                  | 15..0 batch (16 bits)
//   heartbeat:     51..20 job hash (32 bits) | 19..0 source rank

#include <ucoro/ucx/tag.hpp>

#include <cstdint>

namespace ucoro::tag_layout {

inline constexpr unsigned comm_batch_bits = 16;
inline constexpr unsigned comm_rank_bits = 20;
inline constexpr unsigned comm_user_bits = 24;
inline constexpr unsigned comm_rank_shift = comm_batch_bits;
inline constexpr unsigned comm_user_shift = comm_batch_bits + comm_rank_bits;
static_assert(comm_user_shift + comm_user_bits == space_shift);

[[nodiscard]] constexpr tag_t communicator_tag(std::uint32_t user_tag, std::uint32_t source_rank,
                                               std::uint32_t batch) noexcept {
  return in_space(space::communicator,
                  (tag_t{user_tag & ((1U << comm_user_bits) - 1)} << comm_user_shift) |
                      (tag_t{source_rank & ((1U << comm_rank_bits) - 1)} << comm_rank_shift) |
                      tag_t{batch & ((1U << comm_batch_bits) - 1)});
}

/// A communicator's heartbeat tag from `source_rank`; `job` (a hash every
/// rank computes alike) keeps communicators sharing a worker apart.
[[nodiscard]] constexpr tag_t communicator_heartbeat_tag(std::uint32_t job, std::uint32_t source_rank) noexcept {
  return in_space(space::communicator_heartbeat,
                  (tag_t{job} << comm_rank_bits) | tag_t{source_rank & ((1U << comm_rank_bits) - 1)});
}
/// Matches every heartbeat of one communicator, whatever its source.
inline constexpr tag_t communicator_heartbeat_mask = full_mask & ~((tag_t{1} << comm_rank_bits) - 1);

} // namespace ucoro::tag_layout
