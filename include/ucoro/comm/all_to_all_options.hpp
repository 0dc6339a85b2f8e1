#pragma once
// What an all-to-all is asked (all_to_all_options) and what it reports
// (all_to_all_report); the operations are in all_to_all.hpp.

#include <ucoro/memory/pool.hpp>

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace ucoro {

enum class all_to_all_algorithm : unsigned char { automatic, direct, pairwise, bruck, buffered };

[[nodiscard]] constexpr const char* to_string(all_to_all_algorithm a) noexcept {
  switch (a) {
  case all_to_all_algorithm::automatic: return "automatic";
  case all_to_all_algorithm::direct: return "direct";
  case all_to_all_algorithm::pairwise: return "pairwise";
  case all_to_all_algorithm::bruck: return "bruck";
  case all_to_all_algorithm::buffered: return "buffered";
  }
  return "?";
}

/// What an all-to-all ran, and why.
struct all_to_all_report {
  all_to_all_algorithm algorithm = all_to_all_algorithm::automatic;
  std::size_t block_bytes = 0; ///< per pair (all_to_allv: the largest part sent)
  std::uint32_t ranks = 0;
  const char* reason = "";
};

/// Trivially copyable, so that `co_await all_to_all(comm, s, r, {...})` is
/// safe under GCC 12.
struct all_to_all_options {
  all_to_all_algorithm algorithm = all_to_all_algorithm::automatic;
  /// pairwise (and buffered): steps in flight.
  std::uint32_t steps_in_flight = 4;
  /// buffered: the pool to stage through. It must hold at least one slab
  /// per peer (and two).
  slab_pool* pool = nullptr;
  /// buffered: parts larger than this go zero-copy from the caller's memory.
  std::size_t zero_copy_above = std::size_t{4} << 20;
  /// automatic: blocks of at most this many bytes use Bruck from 8 ranks on.
  std::size_t bruck_max_block = 256;
  /// Filled in with what ran, when set.
  all_to_all_report* report = nullptr;
};
static_assert(std::is_trivially_copyable_v<all_to_all_options>);

} // namespace ucoro
