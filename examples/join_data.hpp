#pragma once
// ucoro-join's benchmark mode: tables generated on each rank (no files),
// and an order-independent checksum of a join's result, so that a
// distributed result can be checked against a single-process join.
//
// Data, for `--generate LxR --keys K --match F --seed S` (the same rows
// whatever the number of ranks: rank r of n makes global rows [L*r/n, L*(r+1)/n)):
//   right row i (of R): key = splitmix64(base + i), payload rv = i: unique keys;
//   left row j (of L):  with probability F it matches: the right row
//                       t = (a*j + c) mod R (uniform: a permutation of the right
//                       rows when L <= R, like the anchor's shuffled probe) or
//                       t ~ zipf(S) over 0..R-1 (skewed: hot keys repeat);
//                       otherwise key = splitmix64(base + R + j), which no right
//                       row has (splitmix64 is a bijection); payload lv = j.

#include <ucoro/join/hash.hpp>
#include <ucoro/join/local_join.hpp>
#include <ucoro/join/table.hpp>

#include <cmath>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

namespace join_data {

using table_t = ucoro::join::table<std::int64_t, std::vector<std::vector<std::int64_t>>>;

struct spec {
  std::uint64_t left_rows = 0, right_rows = 0;
  double zipf = 0; ///< 0: uniform keys; otherwise the zipf exponent
  double match = 1;
  std::uint64_t seed = 1;
};

/// "10000000x10000000" -> rows of each side.
inline void parse_shape(const std::string& text, spec& s) {
  const auto x = text.find('x');
  std::size_t used = 0;
  try {
    if (x == std::string::npos)
      throw std::invalid_argument("no x");
    s.left_rows = std::stoull(text.substr(0, x), &used);
    if (used != x)
      throw std::invalid_argument("junk");
    s.right_rows = std::stoull(text.substr(x + 1), &used);
    if (used != text.size() - x - 1)
      throw std::invalid_argument("junk");
  } catch (const std::exception&) {
    throw std::invalid_argument("--generate " + text + ": expected LEFTxRIGHT row counts, e.g. 1000000x1000000");
  }
}

[[nodiscard]] constexpr std::uint64_t splitmix64(std::uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/// A uniform double in [0, 1) from 64 random bits.
[[nodiscard]] inline double unit(std::uint64_t bits) noexcept { return static_cast<double>(bits >> 11) * 0x1p-53; }

class generator {
public:
  explicit generator(const spec& s) : m_spec(s), m_base(splitmix64(s.seed)) {
    if (s.right_rows == 0 && s.match > 0 && s.left_rows > 0)
      m_spec.match = 0; // nothing to match
    // A multiplier coprime to R makes j -> (a*j + c) mod R a permutation.
    const std::uint64_t r = std::max<std::uint64_t>(1, s.right_rows);
    m_a = (0x9E3779B97F4A7C15ULL % r) | 1;
    while (std::gcd(m_a, r) != 1)
      m_a += 2;
    m_c = splitmix64(s.seed ^ 0xC0FFEE) % r;
  }

  [[nodiscard]] std::int64_t right_key(std::uint64_t i) const noexcept {
    return static_cast<std::int64_t>(splitmix64(m_base + i));
  }

  [[nodiscard]] std::int64_t left_key(std::uint64_t j) const noexcept {
    const std::uint64_t r = m_spec.right_rows;
    if (r == 0 || unit(ucoro::join::fmix64(j ^ m_base ^ 0x1111)) >= m_spec.match)
      return static_cast<std::int64_t>(splitmix64(m_base + r + j));
    std::uint64_t t;
    if (m_spec.zipf == 0) {
      t = static_cast<std::uint64_t>((static_cast<ucoro::join::uint128>(m_a) * j + m_c) % r);
    } else { // inverse CDF of the continuous power law on [1, R+1)
      const double u = unit(ucoro::join::fmix64(j ^ m_base ^ 0x2222));
      const double n = static_cast<double>(r) + 1, s = m_spec.zipf;
      const double x = s == 1 ? std::exp(u * std::log(n)) : std::pow(u * (std::pow(n, 1 - s) - 1) + 1, 1 / (1 - s));
      t = std::min<std::uint64_t>(r - 1, static_cast<std::uint64_t>(x) - 1);
    }
    return right_key(t);
  }

  /// This rank's share of both sides.
  void make(std::uint32_t rank, std::uint32_t ranks, table_t& left, table_t& right) const {
    fill(left, m_spec.left_rows, rank, ranks, [this](std::uint64_t j) { return left_key(j); });
    fill(right, m_spec.right_rows, rank, ranks, [this](std::uint64_t i) { return right_key(i); });
  }

private:
  template <class KeyOf>
  static void fill(table_t& t, std::uint64_t rows, std::uint32_t rank, std::uint32_t ranks, KeyOf key_of) {
    const std::uint64_t b = static_cast<std::uint64_t>(static_cast<ucoro::join::uint128>(rows) * rank / ranks);
    const std::uint64_t e = static_cast<std::uint64_t>(static_cast<ucoro::join::uint128>(rows) * (rank + 1) / ranks);
    // Huge-page backed, as a data engine's columns would be (see memory/huge_pages.hpp).
    ucoro::join::resize_huge(t.keys, e - b);
    t.payloads.resize(1);
    ucoro::join::resize_huge(t.payloads[0], e - b);
    for (std::uint64_t g = b; g < e; ++g) {
      t.keys[g - b] = key_of(g);
      t.payloads[0][g - b] = static_cast<std::int64_t>(g);
    }
  }

  spec m_spec;
  std::uint64_t m_base, m_a = 1, m_c = 0;
};

/// Order-independent checksum of result rows (key, lv, rv): a wrapping sum
/// of a mix of each row, with `no_right` standing for a missing right side.
struct checksum {
  static constexpr std::uint64_t no_right = ~std::uint64_t{0};
  std::uint64_t rows = 0, sum = 0;
  void add(std::int64_t key, std::int64_t lv, std::uint64_t rv) noexcept {
    using ucoro::join::fmix64;
    ++rows;
    sum += fmix64(fmix64(fmix64(static_cast<std::uint64_t>(key)) ^ static_cast<std::uint64_t>(lv)) ^ rv);
  }
};

/// The single-process join of the whole generated data, as a checksum.
[[nodiscard]] inline checksum single_process(const spec& s, ucoro::join::join_how how) {
  table_t l, r;
  generator(s).make(0, 1, l, r);
  const auto idx = ucoro::join::local_join(std::span<const std::int64_t>(l.keys), std::span<const std::int64_t>(r.keys), how);
  const bool with_right = how == ucoro::join::join_how::inner || how == ucoro::join::join_how::left;
  checksum c;
  for (std::size_t i = 0; i < idx.left.size(); ++i) {
    const auto li = idx.left[i];
    const std::uint64_t rv = !with_right || idx.right[i] == ucoro::join::no_row
                                 ? checksum::no_right
                                 : static_cast<std::uint64_t>(r.payloads[0][idx.right[i]]);
    c.add(l.keys[li], l.payloads[0][li], rv);
  }
  return c;
}

} // namespace join_data
