#pragma once
// Radix scatter of (hash, row) pairs into many parts, through software
// write-combining: each part's next cache line is assembled in a small
// L1-resident buffer and written out whole (non-temporal where the CPU has
// them), so the scatter costs one sequential-looking store per 64 bytes
// instead of a cache miss per row. Measured on this VM for 10 M rows into
// 512 parts: ~100 ms instead of ~165 ms for a direct scatter.

#include <ucoro/join/buffer.hpp>
#include <ucoro/join/hash.hpp>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace ucoro::join {

/// One row of a side being joined: its key's hash (which stands for the key:
/// hash_key is a bijection) and its row number in the input.
struct hashed_row {
  std::uint64_t hash;
  std::uint32_t row;
  std::uint32_t unused;
};
static_assert(sizeof(hashed_row) == 16);

namespace detail {

struct alignas(64) hashed_line {
  static constexpr std::size_t rows = 64 / sizeof(hashed_row);
  hashed_row row[rows];
};

/// Writes a whole line to `to` (64-byte aligned) bypassing the cache: the
/// parts are read back only when their turn comes, long after.
inline void stream_line(hashed_row* to, const hashed_line& from) noexcept {
#if defined(__SSE2__)
  auto* d = reinterpret_cast<__m128i*>(to);
  const auto* s = reinterpret_cast<const __m128i*>(from.row);
  _mm_stream_si128(d, _mm_load_si128(s));
  _mm_stream_si128(d + 1, _mm_load_si128(s + 1));
  _mm_stream_si128(d + 2, _mm_load_si128(s + 2));
  _mm_stream_si128(d + 3, _mm_load_si128(s + 3));
#else
  std::copy_n(from.row, hashed_line::rows, to);
#endif
}

inline void stream_fence() noexcept {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

/// Fills `out` with (hash_key(keys[i], seed), i) grouped by
/// part_of(hash) into `parts` parts: part p is out[offsets[p], offsets[p+1]).
/// Two passes over the keys (a histogram, then the scatter): hashing twice
/// is cheaper than writing the hashes and reading them back.
template <std::integral Key, class PartOf>
void radix_scatter(std::span<const Key> keys, std::uint32_t parts, std::uint64_t seed, PartOf part_of,
                   buffer<hashed_row>& out, std::vector<std::size_t>& offsets) {
  out.resize(keys.size());
  hashed_row* const to = out.data();
  if (parts == 1) {
    for (std::size_t i = 0; i < keys.size(); ++i)
      to[i] = {hash_key(keys[i], seed), static_cast<std::uint32_t>(i), 0};
    offsets.assign({0, keys.size()});
    return;
  }
  offsets.assign(parts + 1, 0);
  for (std::size_t i = 0; i < keys.size(); ++i)
    ++offsets[part_of(hash_key(keys[i], seed)) + 1];
  for (std::uint32_t p = 0; p < parts; ++p)
    offsets[p + 1] += offsets[p];
  std::vector<std::size_t> cursor(offsets.begin(), offsets.end() - 1);
  std::vector<hashed_line> lines(parts);
  constexpr std::size_t last = hashed_line::rows - 1;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::uint64_t h = hash_key(keys[i], seed);
    const std::uint32_t p = part_of(h);
    const std::size_t at = cursor[p]++;
    lines[p].row[at & last] = {h, static_cast<std::uint32_t>(i), 0};
    if ((at & last) == last) {
      const std::size_t line_start = at & ~last;
      if (line_start >= offsets[p]) // out is 64-byte aligned, so this line is all part p's
        stream_line(to + line_start, lines[p]);
      else // the line begins in the previous part: only our rows, with plain stores
        for (std::size_t j = offsets[p]; j <= at; ++j)
          to[j] = lines[p].row[j & last];
    }
  }
  for (std::uint32_t p = 0; p < parts; ++p) // the partial last lines
    for (std::size_t j = std::max(cursor[p] & ~last, offsets[p]); j < cursor[p]; ++j)
      to[j] = lines[p].row[j & last];
  stream_fence();
}

} // namespace detail
} // namespace ucoro::join
