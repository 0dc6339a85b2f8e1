#pragma once
// The join's hash, documented because every rank (and any other program
// that wants to co-partition with ucoro) must agree on it:
//
//   hash_key(k, seed) = fmix64(uint64(k) ^ seed)     (MurmurHash3's finalizer)
//   rank of k         = (hash * ranks) >> 64         (multiply-high: the top bits)
//   radix part        = hash & (parts - 1)           (the low bits)
//   table slot        = (hash >> 24) & (slots - 1)   (bits neither of the above uses)
//
// fmix64 is a bijection, so distinct keys never collide in the hash itself,
// and every key bit reaches every hash bit (sequential and strided keys
// spread evenly).
//
// A string key (a join::string_column's row) hashes its bytes:
//
//   h = seed ^ (length * golden)
//   for each 8-byte word w (little-endian; the last one zero-padded):
//     h = rotl(h ^ fmix64(w), 29) * golden
//   hash_key(s, seed) = fmix64(h)                    (golden = 0x9e3779b97f4a7c15)
//
// It is no bijection: two strings may share a hash, so string joins compare
// the keys themselves wherever hashes are equal.

#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace ucoro::join {

inline constexpr std::uint64_t default_seed = 0x5ca1ab1e0ddba11ULL;

[[nodiscard]] constexpr std::uint64_t fmix64(std::uint64_t h) noexcept {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

template <std::integral Key>
[[nodiscard]] constexpr std::uint64_t hash_key(Key key, std::uint64_t seed = default_seed) noexcept {
  return fmix64(static_cast<std::uint64_t>(static_cast<std::int64_t>(key)) ^ seed);
}

/// A string key's hash (the layout above): the same bytes give the same
/// hash on every rank and every machine (words are read little-endian).
[[nodiscard]] inline std::uint64_t hash_key(std::string_view key, std::uint64_t seed = default_seed) noexcept {
  constexpr std::uint64_t golden = 0x9e3779b97f4a7c15ULL;
  std::uint64_t h = seed ^ (static_cast<std::uint64_t>(key.size()) * golden);
  const auto* p = reinterpret_cast<const unsigned char*>(key.data());
  std::size_t left = key.size();
  const auto mix = [&h](std::uint64_t w) { h = std::rotl(h ^ fmix64(w), 29) * golden; };
  for (; left >= 8; p += 8, left -= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    if constexpr (std::endian::native == std::endian::big)
      w = __builtin_bswap64(w);
    mix(w);
  }
  if (left > 0) {
    std::uint64_t w = 0;
    for (std::size_t i = 0; i < left; ++i)
      w |= static_cast<std::uint64_t>(p[i]) << (8 * i);
    mix(w);
  }
  return fmix64(h);
}

/// A key column read row by row for hashing: integers (a std::vector or a
/// span) or a string_column.
template <class Keys>
concept key_rows = requires(const Keys& k, std::size_t i, std::uint64_t seed) {
  { k.size() } -> std::convertible_to<std::size_t>;
  { hash_key(k[i], seed) } -> std::same_as<std::uint64_t>;
};

namespace detail {
/// The inverse of an odd multiplier modulo 2^64 (Newton's iteration: each
/// step doubles the correct low bits, from 3 to 96).
[[nodiscard]] constexpr std::uint64_t inverse_mod_2_64(std::uint64_t a) noexcept {
  std::uint64_t x = a; // a * a == 1 mod 8 for odd a
  for (int i = 0; i < 5; ++i)
    x *= 2 - a * x;
  return x;
}
} // namespace detail

/// fmix64's inverse: x ^= x >> 33 undoes itself, the multipliers are odd.
[[nodiscard]] constexpr std::uint64_t unfmix64(std::uint64_t h) noexcept {
  h ^= h >> 33;
  h *= detail::inverse_mod_2_64(0xc4ceb9fe1a85ec53ULL);
  h ^= h >> 33;
  h *= detail::inverse_mod_2_64(0xff51afd7ed558ccdULL);
  h ^= h >> 33;
  return h;
}
static_assert(unfmix64(fmix64(0x0123456789abcdefULL)) == 0x0123456789abcdefULL);

/// The key a hash came from: the join reads keys back from its hashes
/// instead of gathering them from the key column at random.
template <std::integral Key>
[[nodiscard]] constexpr Key key_of_hash(std::uint64_t hash, std::uint64_t seed = default_seed) noexcept {
  return static_cast<Key>(static_cast<std::int64_t>(unfmix64(hash) ^ seed));
}

__extension__ using uint128 = unsigned __int128;

/// Which of `ranks` destinations a hash goes to (uniform, no division).
[[nodiscard]] constexpr std::uint32_t rank_of(std::uint64_t hash, std::uint32_t ranks) noexcept {
  return static_cast<std::uint32_t>((static_cast<uint128>(hash) * ranks) >> 64);
}

/// Radix part within a rank: the low bits (`parts` a power of two).
[[nodiscard]] constexpr std::uint32_t radix_of(std::uint64_t hash, std::uint32_t parts) noexcept {
  return static_cast<std::uint32_t>(hash & (parts - 1));
}

/// Slot in a hash table of `slots` (a power of two) entries.
[[nodiscard]] constexpr std::uint64_t slot_of(std::uint64_t hash, std::uint64_t slots) noexcept {
  return (hash >> 24) & (slots - 1);
}

} // namespace ucoro::join
