#pragma once
// The communicator's fields inside its tag space (ucx/tag.hpp reserves the
// space; what goes inside it is the communicator's business):
//
//   communicator:  59..36 user tag (24 bits) | 35..16 source rank (20 bits)
//                  | 15..0 batch (16 bits)

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

} // namespace ucoro::tag_layout
