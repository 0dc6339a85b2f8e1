#pragma once
// The join's test data and its oracle: every rank can generate every rank's
// rows (deterministic by case, side, rank and row), so each checks its own
// part of a distributed join against a naive single-process join of all of
// them (an unordered_multimap), keeping the rows that belong to it: under
// shuffle those whose key hashes to it, under broadcast its own left rows.

#include <ucoro/join/hash_join.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <ostream>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ucoro::test {

using join_table_i64 = join::table<std::int64_t, std::vector<std::vector<std::int64_t>>>;

enum class key_mode { unique, duplicates, zipf, extreme, empty_right, no_match, all_match };
inline const key_mode key_modes[] = {key_mode::unique,   key_mode::duplicates, key_mode::zipf,     key_mode::extreme,
                                     key_mode::empty_right, key_mode::no_match, key_mode::all_match};
inline const char* to_string(key_mode m) {
  const char* names[] = {"unique", "duplicates", "zipf", "extreme", "empty right", "no match", "all match"};
  return names[static_cast<int>(m)];
}

inline std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/// Rank `rank`'s rows of one side: key, then two payloads on the left (a
/// unique id, key*3) or one on the right (a negative unique id).
inline join_table_i64 make_side(key_mode mode, bool left_side, std::uint32_t rank, std::uint32_t ranks,
                                std::size_t rows_per_rank) {
  const std::size_t rows = (!left_side && mode == key_mode::empty_right) ? 0 : rows_per_rank + rank * 7; // uneven
  const std::int64_t total = static_cast<std::int64_t>(rows_per_rank * ranks);
  join_table_i64 t;
  t.payloads.resize(left_side ? 2 : 1);
  for (std::size_t i = 0; i < rows; ++i) {
    const std::uint64_t gid = std::uint64_t{rank} * 1000000 + i;
    const std::uint64_t r = splitmix(gid * 2 + (left_side ? 0 : 1));
    std::int64_t key = 0;
    switch (mode) {
    case key_mode::unique: key = left_side ? static_cast<std::int64_t>(gid) : static_cast<std::int64_t>(gid) * 2; break;
    case key_mode::duplicates: key = static_cast<std::int64_t>(r % static_cast<std::uint64_t>(total / 4 + 1)); break;
    case key_mode::zipf: { // log-uniform, Zipf's law with s = 1: key k with probability ~ 1/k
      const double u = static_cast<double>(r >> 11) / 9007199254740992.0;
      key = static_cast<std::int64_t>(std::pow(static_cast<double>(total), u));
      break;
    }
    case key_mode::extreme: {
      const std::int64_t extremes[] = {std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max(),
                                       -1, 0, 1, std::numeric_limits<std::int64_t>::min() + 1};
      key = r % 3 == 0 ? extremes[r % 6] : -static_cast<std::int64_t>(r % static_cast<std::uint64_t>(total));
      break;
    }
    case key_mode::empty_right:
    case key_mode::all_match: key = static_cast<std::int64_t>(r % static_cast<std::uint64_t>(total)); break;
    case key_mode::no_match: key = static_cast<std::int64_t>(r % static_cast<std::uint64_t>(total)) * 2 + (left_side ? 0 : 1); break;
    }
    if (mode == key_mode::all_match && !left_side)
      key = static_cast<std::int64_t>(i % (rows_per_rank * ranks)); // every left key below total appears
    t.keys.push_back(key);
    if (left_side) {
      t.payloads[0].push_back(static_cast<std::int64_t>(gid));
      t.payloads[1].push_back(static_cast<std::int64_t>(static_cast<std::uint64_t>(key) * 3)); // wraps, as checked
    } else {
      t.payloads[0].push_back(-static_cast<std::int64_t>(gid) - 1);
    }
  }
  return t;
}

/// One row of a join result: key, left payloads, right payloads, matched
/// (left join), at most five columns, held inline. (As a std::vector per
/// row, allocating and sorting the 2.5 M rows of the all-match case was 85%
/// of the join tests' time under ASan, where the joins themselves were 15%.)
struct result_row {
  std::array<std::int64_t, 5> columns{};
  std::size_t count = 0;

  result_row() = default;
  result_row(std::initializer_list<std::int64_t> values) {
    for (std::int64_t v : values)
      push_back(v);
  }
  void push_back(std::int64_t v) { columns.at(count++) = v; } // a sixth column throws
  friend bool operator==(const result_row&, const result_row&) = default;
  /// Any strict order will do (both sides are sorted by it before they are
  /// compared); bytes are the cheapest in an unoptimized build.
  friend bool operator<(const result_row& a, const result_row& b) {
    if (a.count != b.count)
      return a.count < b.count;
    return std::memcmp(a.columns.data(), b.columns.data(), sizeof a.columns) < 0;
  }
  friend std::ostream& operator<<(std::ostream& out, const result_row& row) {
    out << '(';
    for (std::size_t i = 0; i < row.count; ++i)
      out << (i == 0 ? "" : ", ") << row.columns[i];
    return out << ')';
  }
};

/// The rows of a result, sorted: key, left payloads, right payloads, matched (left join).
inline std::vector<result_row> rows_of(const join::joined<join_table_i64, join_table_i64>& j, join::join_how how) {
  std::vector<result_row> out(j.size());
  for (std::size_t i = 0; i < j.size(); ++i) {
    out[i].push_back(j.keys[i]);
    for (const auto& c : j.left)
      out[i].push_back(c.at(i));
    if (how == join::join_how::inner || how == join::join_how::left)
      for (const auto& c : j.right)
        out[i].push_back(c.at(i));
    if (how == join::join_how::left)
      out[i].push_back(j.matched.at(i));
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// The options of one checked join, its report into `report`.
inline join::hash_join_options checked_join_options(join::join_how how, join::join_algorithm algorithm,
                                                    unsigned over_decomposition, join::broadcast_side side,
                                                    join::hash_join_report& report) {
  join::hash_join_options o;
  o.how = how;
  o.algorithm = algorithm;
  o.broadcast = side;
  o.over_decomposition = over_decomposition;
  o.report = &report;
  return o;
}

/// No right row: the right rank a left join's unmatched row (or a semi or
/// anti join's row) is kept by.
inline constexpr std::uint32_t no_rank = ~std::uint32_t{0};

/// mine(key, left_rank, right_rank), or mine(key, left_rank) if it takes two.
template <class Mine, class Key>
bool keeps(Mine& mine, const Key& key, std::uint32_t left_rank, std::uint32_t right_rank) {
  if constexpr (std::is_invocable_v<Mine&, const Key&, std::uint32_t, std::uint32_t>)
    return mine(key, left_rank, right_rank);
  else
    return mine(key, left_rank);
}

/// Which rank holds a result row under the report's algorithm: the key's
/// rank when shuffled, the left row's when the right side was broadcast,
/// the right row's when the left side was.
inline auto owner(const join::hash_join_report& report, std::uint32_t ranks, std::uint32_t me) {
  return [report, ranks, me](const auto& key, std::uint32_t left_rank, std::uint32_t right_rank) {
    if (report.algorithm == join::join_algorithm::shuffle)
      return join::rank_of(join::hash_key(key), ranks) == me;
    return (report.broadcast == join::broadcast_side::left ? right_rank : left_rank) == me;
  };
}

/// The naive join of every rank's rows, kept where `mine(key, left_rank,
/// right_rank)` (or mine(key, left_rank)).
template <class Mine>
std::vector<result_row> oracle(key_mode mode, std::uint32_t ranks, std::size_t rows_per_rank, join::join_how how,
                               Mine mine) {
  std::unordered_multimap<std::int64_t, std::pair<std::int64_t, std::uint32_t>> right; // key -> right payload, rank
  for (std::uint32_t r = 0; r < ranks; ++r) {
    const auto t = make_side(mode, false, r, ranks, rows_per_rank);
    for (std::size_t i = 0; i < t.size(); ++i)
      right.emplace(t.keys[i], std::pair{t.payloads[0][i], r});
  }
  std::vector<result_row> out;
  for (std::uint32_t r = 0; r < ranks; ++r) {
    const auto t = make_side(mode, true, r, ranks, rows_per_rank);
    for (std::size_t i = 0; i < t.size(); ++i) {
      const std::int64_t key = t.keys[i];
      const auto [first, last] = right.equal_range(key);
      const bool found = first != last;
      const result_row base{key, t.payloads[0][i], t.payloads[1][i]};
      if (how == join::join_how::semi || how == join::join_how::anti) {
        if (found == (how == join::join_how::semi) && keeps(mine, key, r, no_rank))
          out.push_back(base);
        continue;
      }
      for (auto it = first; it != last; ++it) {
        if (!keeps(mine, key, r, it->second.second))
          continue;
        result_row row = base;
        row.push_back(it->second.first);
        if (how == join::join_how::left)
          row.push_back(1);
        out.push_back(row);
      }
      if (!found && how == join::join_how::left && keeps(mine, key, r, no_rank))
        out.push_back(result_row{key, t.payloads[0][i], t.payloads[1][i], 0, 0});
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace ucoro::test
