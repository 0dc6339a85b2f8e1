#pragma once
// String-keyed join data and its oracle: every rank can generate every
// rank's rows, so each checks its part of a distributed join against a
// naive join of all of them (std::multimap on std::string). The keys
// include the empty string, duplicates, strings longer than a hash word,
// commas, quotes, newlines and non-ASCII bytes; the payloads are strings
// and integers, as run-time columns (any_column) or a typed tuple.

#include "check.hpp"
#include "join_check.hpp"

#include <ucoro/join/hash_join.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace ucoro::test {

/// key, then (left) a name and an id, or (right) an item.
using string_table = join::table<std::string, std::vector<join::any_column>>;
/// The same columns as a typed tuple.
using string_tuple_left = join::table<std::string, std::tuple<join::string_column, std::vector<std::int64_t>>>;
using string_tuple_right = join::table<std::string, std::tuple<join::string_column>>;

/// Key number k as text: "" for 0; otherwise lengths from 1 to ~60 bytes,
/// some with a comma, a quote, a newline or a two-byte UTF-8 letter.
inline std::string key_text(std::uint64_t k) {
  if (k == 0)
    return "";
  std::string s = "c" + std::to_string(k);
  switch (k % 6) {
  case 1: s += std::string(k % 53, 'x'); break;
  case 2: s += ",\"q\""; break;
  case 3: s += "\n2"; break;
  case 4: s += "\xc3\xa9"; break;
  default: break;
  }
  return s;
}

/// Rank `rank`'s rows of one side; `empty` leaves that side without rows.
inline string_table make_string_side(bool left_side, std::uint32_t rank, std::uint32_t ranks, std::size_t rows_per_rank,
                                     bool empty = false) {
  const std::size_t rows = empty ? 0 : rows_per_rank + rank * 5;
  const std::uint64_t distinct = rows_per_rank * ranks / 3 + 2;
  join::string_column names, items;
  std::vector<std::int64_t> ids;
  string_table t;
  for (std::size_t i = 0; i < rows; ++i) {
    const std::uint64_t gid = std::uint64_t{rank} * 1000000 + i;
    const std::uint64_t r = splitmix(gid * 2 + (left_side ? 0 : 1));
    t.keys.push_back(key_text(r % distinct));
    if (left_side) {
      names.push_back(i % 7 == 0 ? std::string() : "name " + std::to_string(gid));
      ids.push_back(static_cast<std::int64_t>(gid));
    } else {
      items.push_back(i % 5 == 0 ? std::string() : "item,\"" + std::to_string(gid) + "\"");
    }
  }
  if (left_side) {
    t.payloads.emplace_back(std::move(names));
    t.payloads.emplace_back(std::move(ids));
  } else {
    t.payloads.emplace_back(std::move(items));
  }
  return t;
}

/// The same rows with typed tuple payloads.
inline string_tuple_left as_tuple_left(const string_table& t) {
  return {t.keys, {t.payloads[0].strings(), t.payloads[1].ints()}};
}
inline string_tuple_right as_tuple_right(const string_table& t) { return {t.keys, {t.payloads[0].strings()}}; }

using text_row = std::vector<std::string>;

inline std::string text_of(const join::any_column& c, std::size_t i) {
  return c.is_text() ? std::string(c.strings().at(i)) : std::to_string(c.ints().at(i));
}

/// A result's rows as text, sorted: key, left payloads, right payloads
/// ("<none>" for a left join's unmatched row).
template <class Joined, class Left, class Right>
std::vector<text_row> text_rows(const Joined& j, join::join_how how, Left left_cell, Right right_cell) {
  std::vector<text_row> out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    text_row row{std::string(j.keys.at(i))};
    left_cell(j.left, i, row);
    if (how == join::join_how::inner || how == join::join_how::left) {
      if (how == join::join_how::left && j.matched.at(i) == 0)
        row.push_back("<none>");
      else
        right_cell(j.right, i, row);
    }
    out.push_back(std::move(row));
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline std::vector<text_row> text_rows(const join::joined<string_table, string_table>& j, join::join_how how) {
  const auto cells = [](const std::vector<join::any_column>& columns, std::size_t i, text_row& row) {
    for (const auto& c : columns)
      row.push_back(text_of(c, i));
  };
  return text_rows(j, how, cells, cells);
}

inline std::vector<text_row> text_rows(const join::joined<string_tuple_left, string_tuple_right>& j,
                                       join::join_how how) {
  return text_rows(
      j, how,
      [](const auto& c, std::size_t i, text_row& row) {
        row.push_back(std::string(std::get<0>(c).at(i)));
        row.push_back(std::to_string(std::get<1>(c).at(i)));
      },
      [](const auto& c, std::size_t i, text_row& row) { row.push_back(std::string(std::get<0>(c).at(i))); });
}

/// The naive join of every rank's rows, kept where `mine(key, left_rank)`.
template <class Mine>
std::vector<text_row> string_oracle(std::uint32_t ranks, std::size_t rows_per_rank, join::join_how how,
                                    bool empty_left, bool empty_right, Mine mine) {
  std::multimap<std::string, std::pair<std::string, std::uint32_t>> right; // key -> item, rank
  for (std::uint32_t r = 0; r < ranks; ++r) {
    const auto t = make_string_side(false, r, ranks, rows_per_rank, empty_right);
    for (std::size_t i = 0; i < t.size(); ++i)
      right.emplace(std::string(t.keys[i]), std::pair{text_of(t.payloads[0], i), r});
  }
  std::vector<text_row> out;
  for (std::uint32_t r = 0; r < ranks; ++r) {
    const auto t = make_string_side(true, r, ranks, rows_per_rank, empty_left);
    for (std::size_t i = 0; i < t.size(); ++i) {
      const std::string key(t.keys[i]);
      const auto [first, last] = right.equal_range(key);
      const text_row base{key, text_of(t.payloads[0], i), text_of(t.payloads[1], i)};
      if (how == join::join_how::semi || how == join::join_how::anti) {
        if ((first != last) == (how == join::join_how::semi) && keeps(mine, key, r, no_rank))
          out.push_back(base);
        continue;
      }
      for (auto it = first; it != last; ++it) {
        if (!keeps(mine, key, r, it->second.second))
          continue;
        text_row row = base;
        row.push_back(it->second.first);
        out.push_back(std::move(row));
      }
      if (first == last && how == join::join_how::left && keeps(mine, key, r, no_rank)) {
        text_row row = base;
        row.push_back("<none>");
        out.push_back(std::move(row));
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// Every how, run-time and tuple columns, with either side empty or
/// neither: this rank's part of the string join is exactly the oracle's
/// rows that belong to it.
inline task<void> check_string_join(communicator& comm, join::join_algorithm algorithm, unsigned over_decomposition,
                                    join::broadcast_side side = join::broadcast_side::automatic) {
  constexpr std::size_t rows = 300;
  const std::uint32_t n = comm.size(), me = comm.rank();
  for (const auto& [empty_left, empty_right] : {std::pair{false, false}, std::pair{true, false}, std::pair{false, true}})
    for (join::join_how how : {join::join_how::inner, join::join_how::left, join::join_how::semi, join::join_how::anti}) {
      if (side == join::broadcast_side::left && how != join::join_how::inner)
        continue; // refused, join.cpp's error case
      join::hash_join_report report;
      const join::hash_join_options o = checked_join_options(how, algorithm, over_decomposition, side, report);
      const auto l = make_string_side(true, me, n, rows, empty_left), r = make_string_side(false, me, n, rows, empty_right);
      const auto got = co_await join::hash_join(comm, l, r, o);
      if (side != join::broadcast_side::automatic)
        check(report.broadcast == side, [&] { return std::string("broadcast ") + join::to_string(report.broadcast); });
      const auto expected = string_oracle(n, rows, how, empty_left, empty_right, owner(report, n, me));
      const std::string what = std::string(join::to_string(how)) + " join" + (empty_left ? ", left empty" : "") +
                               (empty_right ? ", right empty" : "");
      const auto mine = text_rows(got, how);
      check(mine == expected, [&] {
        return what + " (any_column): " + std::to_string(mine.size()) + " rows, expected " + std::to_string(expected.size());
      });
      const auto typed = text_rows(co_await join::hash_join(comm, as_tuple_left(l), as_tuple_right(r), o), how);
      check(typed == expected, [&] {
        return what + " (tuple): " + std::to_string(typed.size()) + " rows, expected " + std::to_string(expected.size());
      });
    }
  co_await comm.barrier();
}

} // namespace ucoro::test
