#pragma once
// The join on one rank, as row indices: which left row meets which right
// row. Both sides are hashed once. For integer keys hash_key is a
// bijection, so the hashes stand for the keys from then on; string keys
// share a hash only by chance, and are compared wherever hashes meet (a
// slot keeps a representative row of its key for that). The right side is
// built into an open-addressing table of its distinct keys: a unique key's
// slot holds its row; when some key repeats, the part's rows are grouped by
// key and a slot holds its range (duplicates cost one slot, and a skewed key
// makes no long probe chain for the others). The left side probes it. Build
// sides larger than a core's L2 are radix-partitioned first, both sides by
// the same low hash bits, and joined part by part in one reused table.
// All of it lives in hash_table_memory and join_indices, which are reused
// across calls: first touch costs ~11 us per 4 KiB page on these machines.

#include <ucoro/error.hpp>
#include <ucoro/join/detail/radix_scatter.hpp>
#include <ucoro/join/hash.hpp>
#include <ucoro/join/how.hpp>
#include <ucoro/join/scratch_vector.hpp>
#include <ucoro/join/string_column.hpp>
#include <ucoro/join/table.hpp>

#include <algorithm>
#include <any>
#include <deque>
#include <optional>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace ucoro::join {

/// Matched rows: left[i] meets right[i]. A left join's unmatched left row
/// has right[i] == no_row; semi and anti joins fill `left` only. Pass the
/// same one to successive joins to reuse its (already faulted) memory.
struct join_indices {
  scratch_vector<row_index> left;
  scratch_vector<row_index> right;
  /// hashes[i]: the hash of left[i]'s key, from which key_of_hash gives the
  /// key back without reading the key column at random.
  scratch_vector<std::uint64_t> hashes;

  void clear() noexcept {
    left.clear();
    right.clear();
    hashes.clear();
  }
};

/// A side of the join (or one radix part of it) as hashed rows.
using hashed_rows = std::span<const hashed_row>;

/// Everything a local join allocates, kept between joins (pass the same
/// one to reuse it: its pages are faulted in once).
class hash_table_memory {
public:
  struct slot {
    /// The key's hash: hash_key is a bijection on 64-bit keys, so equal
    /// hashes are equal keys and the probe never reads the key column.
    std::uint64_t hash;
    /// Unique keys: the build row. With duplicates: the first of the key's
    /// rows in the grouped array (a cursor while grouping).
    row_index start;
    row_index count; ///< 0: empty
  };

  /// One thread's table for the part it is joining.
  class part_table {
  public:
    /// A zeroed table of `n` (a power of two) slots.
    std::span<slot> slots(std::size_t n) {
      if (m_slots.size() < n)
        m_slots.resize(n);
      std::fill_n(m_slots.begin(), n, slot{0, 0, 0});
      return {m_slots.data(), n};
    }
    scratch_vector<row_index>& grouped() noexcept { return m_grouped; }
    /// String keys: slot i's key is that of build row representatives()[i]
    /// (`n` of them, set as slots fill).
    row_index* representatives(std::size_t n) {
      if (m_representatives.size() < n)
        m_representatives.resize(n);
      return m_representatives.data();
    }

  private:
    scratch_vector<slot> m_slots;
    scratch_vector<row_index> m_grouped;
    scratch_vector<row_index> m_representatives;
  };
  /// Thread t's table, and its output (thread 0 writes the caller's). Make
  /// them all before the threads start.
  part_table& table(std::size_t t) {
    while (m_part_tables.size() <= t)
      m_part_tables.emplace_back();
    return m_part_tables[t];
  }
  join_indices& output(std::size_t t) {
    while (m_outputs.size() <= t)
      m_outputs.emplace_back();
    return m_outputs[t];
  }
  /// Scratch for one side: its hashed rows, grouped by radix part.
  struct side {
    scratch_vector<hashed_row> rows;
    std::vector<std::size_t> offsets;
  };
  side& left() noexcept { return m_left; }
  side& right() noexcept { return m_right; }
  /// hash_join's partitioned and received tables, kept by their type so a
  /// join that comes again with the same tables finds its memory faulted.
  std::any& tables() noexcept { return m_tables; }

private:
  std::any m_tables;
  std::deque<part_table> m_part_tables; // a deque: growing it moves nothing
  std::deque<join_indices> m_outputs;
  side m_left, m_right;
};

/// Where a local join's time went (seconds, accumulated across calls).
struct local_join_times {
  double radix_s = 0; ///< hashing both sides into radix parts
  double build_s = 0; ///< the parts' tables (and grouping duplicates)
  double probe_s = 0; ///< probing and writing the matched pairs
};

struct local_join_options {
  /// Build rows per radix part: its table of 2x this many 16-byte slots
  /// (256 KiB at the default) stays in a core's L2 while it is probed. Fewer
  /// parts make the radix scatter cheaper; measured on this VM, 4096 to
  /// 32768 were within noise of each other at 10 M rows.
  std::size_t rows_per_part = 1 << 13;
  std::uint64_t seed = default_seed;
  hash_table_memory* memory = nullptr; ///< nullptr: a fresh one per call
  local_join_times* times = nullptr;   ///< if set, the phase times are added to it
  /// Threads for the radix passes and the parts (1: the calling thread only).
  /// The result is the same for any number.
  unsigned threads = 1;
};

namespace detail {

/// Integer keys: hash_key is a bijection, so equal hashes are equal keys
/// and nothing else is read.
struct hashes_decide {
  static constexpr bool exact = true;
  [[nodiscard]] bool left_right(row_index, row_index) const noexcept { return true; }
  [[nodiscard]] bool right_right(row_index, row_index) const noexcept { return true; }
};

/// String keys: equal hashes are compared by their bytes.
struct strings_compared {
  static constexpr bool exact = false;
  const string_column* left;
  const string_column* right;
  [[nodiscard]] bool left_right(row_index l, row_index r) const noexcept { return (*left)[l] == (*right)[r]; }
  [[nodiscard]] bool right_right(row_index a, row_index b) const noexcept { return (*right)[a] == (*right)[b]; }
};

[[nodiscard]] inline hashed_rows part_of(const hash_table_memory::side& s, std::uint32_t p) {
  return hashed_rows(s.rows).subspan(s.offsets[p], s.offsets[p + 1] - s.offsets[p]);
}

/// The probe loop, one instantiation per join kind and build shape. With
/// unique build keys (and for semi and anti joins) a left row yields at
/// most one output row, so the output is sized once and written by index.
template <join_how How, bool Duplicates, class Keys>
void probe(const hashed_rows& left, const hashed_rows& right, std::span<const hash_table_memory::slot> slots,
           const row_index* grouped, const row_index* representatives, Keys keys, join_indices& out) {
  const std::uint64_t mask = slots.size() - 1;
  const auto find = [&](const hashed_row& l) -> const hash_table_memory::slot& {
    const std::uint64_t h = l.hash;
    std::uint64_t s = slot_of(h, slots.size());
    while (slots[s].count != 0 &&
           (slots[s].hash != h || (!Keys::exact && !keys.left_right(l.row, representatives[s]))))
      s = (s + 1) & mask;
    return slots[s];
  };
  constexpr bool with_right = How == join_how::inner || How == join_how::left;
  if constexpr (!with_right || !Duplicates) {
    std::size_t n = out.left.size();
    out.left.resize(n + left.size());
    out.hashes.resize(n + left.size());
    if constexpr (with_right)
      out.right.resize(n + left.size());
    row_index* const to_left = out.left.data();
    row_index* const to_right = out.right.data();
    std::uint64_t* const to_hash = out.hashes.data();
    for (const hashed_row& l : left) {
      const hash_table_memory::slot& hit = find(l);
      to_left[n] = l.row;
      to_hash[n] = l.hash;
      if constexpr (How == join_how::semi || How == join_how::anti) {
        n += (hit.count != 0) == (How == join_how::semi);
      } else {
        to_right[n] = hit.count != 0 ? hit.start : no_row; // start: the build row itself
        n += hit.count != 0 || How == join_how::left;
      }
    }
    out.left.resize(n);
    out.hashes.resize(n);
    if constexpr (with_right)
      out.right.resize(n);
  } else {
    for (const hashed_row& l : left) {
      const hash_table_memory::slot& hit = find(l);
      if (hit.count == 0) {
        if constexpr (How == join_how::left) {
          out.left.push_back(l.row);
          out.right.push_back(no_row);
          out.hashes.push_back(l.hash);
        }
        continue;
      }
      for (row_index k = 0; k < hit.count; ++k) {
        out.left.push_back(l.row);
        out.right.push_back(right[grouped[hit.start + k]].row);
        out.hashes.push_back(l.hash);
      }
    }
  }
}

/// Joins one part: builds `right` into the table (its distinct keys; rows
/// grouped by key only if some key repeats), then probes it with `left`.
template <class Keys>
void join_part(const hashed_rows& left, const hashed_rows& right, join_how how, hash_table_memory::part_table& memory,
               Keys keys, join_indices& out, local_join_times* times) {
  using clock = std::chrono::steady_clock;
  const auto t0 = times != nullptr ? clock::now() : clock::time_point{};
  const std::size_t n = std::bit_ceil(std::max<std::size_t>(16, 2 * right.size()));
  const std::uint64_t mask = n - 1;
  const std::span<hash_table_memory::slot> slots = memory.slots(n);
  row_index* const representatives = Keys::exact ? nullptr : memory.representatives(n);
  // Slot s holds the key of build row `row` (hash h).
  const auto holds = [&](std::uint64_t s, std::uint64_t h, row_index row) {
    return slots[s].hash == h && (Keys::exact || keys.right_right(representatives[s], row));
  };
  bool duplicates = false;
  for (std::size_t r = 0; r < right.size(); ++r) {
    const std::uint64_t h = right[r].hash;
    std::uint64_t s = slot_of(h, n);
    while (slots[s].count != 0 && !holds(s, h, right[r].row))
      s = (s + 1) & mask;
    if (slots[s].count == 0) {
      slots[s] = {h, right[r].row, 1};
      if constexpr (!Keys::exact)
        representatives[s] = right[r].row;
    } else {
      ++slots[s].count;
      duplicates = true;
    }
  }
  const row_index* grouped = nullptr;
  if (duplicates) { // each distinct key's rows contiguous, in build order
    scratch_vector<row_index>& g = memory.grouped();
    g.resize(right.size());
    row_index next = 0;
    for (auto& slot : slots)
      if (slot.count != 0) {
        slot.start = next;
        next += slot.count;
      }
    for (std::size_t r = 0; r < right.size(); ++r) {
      const std::uint64_t h = right[r].hash;
      std::uint64_t s = slot_of(h, n);
      while (slots[s].count == 0 || !holds(s, h, right[r].row))
        s = (s + 1) & mask;
      g[slots[s].start++] = static_cast<row_index>(r);
    }
    for (auto& slot : slots)
      slot.start -= slot.count; // cursors back to starts
    grouped = g.data();
  }
  const auto t1 = times != nullptr ? clock::now() : clock::time_point{};
  const auto run = [&]<join_how How>() {
    if (duplicates)
      probe<How, true>(left, right, slots, grouped, representatives, keys, out);
    else
      probe<How, false>(left, right, slots, grouped, representatives, keys, out);
  };
  switch (how) {
  case join_how::inner: run.template operator()<join_how::inner>(); break;
  case join_how::left: run.template operator()<join_how::left>(); break;
  case join_how::semi: run.template operator()<join_how::semi>(); break;
  case join_how::anti: run.template operator()<join_how::anti>(); break;
  }
  if (times != nullptr) {
    const auto t2 = clock::now();
    times->build_s += std::chrono::duration<double>(t1 - t0).count();
    times->probe_s += std::chrono::duration<double>(t2 - t1).count();
  }
}

} // namespace detail

namespace detail {

/// local_join on any key columns, `keys` saying how equal hashes are decided.
template <key_rows LeftKeys, key_rows RightKeys, class Keys>
void local_join_rows(const LeftKeys& left, const RightKeys& right, join_how how, local_join_options o,
                     join_indices& out, Keys keys) {
  if (left.size() >= no_row || right.size() >= no_row)
    throw_invalid_argument("local_join: " + std::to_string(std::max(left.size(), right.size())) +
                           " rows on one rank; at most " + std::to_string(no_row - 1));
  if (o.rows_per_part == 0)
    throw_invalid_argument("local_join: rows_per_part must be at least 1");
  std::optional<hash_table_memory> own;
  hash_table_memory& memory = o.memory != nullptr ? *o.memory : own.emplace();
  out.clear();
  out.left.reserve(left.size());
  out.hashes.reserve(left.size());
  if (how == join_how::inner || how == join_how::left)
    out.right.reserve(left.size());
  // Build sides larger than a part: both sides by the same low hash bits,
  // then part by part, each part's table in cache.
  const std::uint32_t parts =
      right.size() <= o.rows_per_part
          ? 1
          : static_cast<std::uint32_t>(std::bit_ceil((right.size() + o.rows_per_part - 1) / o.rows_per_part));
  const auto t0 = std::chrono::steady_clock::now();
  const auto radix = [parts](std::uint64_t h) { return radix_of(h, parts); };
  detail::radix_scatter(left, parts, o.seed, radix, memory.left().rows, memory.left().offsets, o.threads);
  detail::radix_scatter(right, parts, o.seed, radix, memory.right().rows, memory.right().offsets, o.threads);
  if (o.times != nullptr)
    o.times->radix_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Threads take consecutive parts each: thread 0 into `out`, the others
  // into outputs of their own appended after it in thread order (the same
  // rows, in the same order, as one thread gives).
  const unsigned threads = std::min<unsigned>(std::max(o.threads, 1U), parts);
  std::vector<local_join_times> times(threads);
  for (unsigned t = 0; t < threads; ++t) {
    (void)memory.table(t);
    if (t > 0)
      memory.output(t).clear();
  }
  detail::run_threads(threads, [&](unsigned t) {
    join_indices& mine = t == 0 ? out : memory.output(t);
    for (std::uint32_t p = parts * t / threads; p < parts * (t + 1) / threads; ++p)
      detail::join_part(detail::part_of(memory.left(), p), detail::part_of(memory.right(), p), how, memory.table(t),
                        keys, mine, o.times != nullptr ? &times[t] : nullptr);
  });
  for (unsigned t = 1; t < threads; ++t) {
    const join_indices& part = memory.output(t);
    out.left.insert(out.left.end(), part.left.begin(), part.left.end());
    out.right.insert(out.right.end(), part.right.begin(), part.right.end());
    out.hashes.insert(out.hashes.end(), part.hashes.begin(), part.hashes.end());
  }
  if (o.times != nullptr) { // the slowest thread's: wall time
    const auto slowest = std::max_element(times.begin(), times.end(), [](const auto& a, const auto& b) {
      return a.build_s + a.probe_s < b.build_s + b.probe_s;
    });
    o.times->build_s += slowest->build_s;
    o.times->probe_s += slowest->probe_s;
  }
}

} // namespace detail

/// The rows of `left` and `right` (key columns) that meet under `how`,
/// into `out` (cleared first; its memory is reused).
template <std::integral Key>
void local_join(std::span<const Key> left, std::span<const Key> right, join_how how, local_join_options o,
                join_indices& out) {
  detail::local_join_rows(left, right, how, o, out, detail::hashes_decide{});
}

/// String keys: the same, equal hashes compared by their bytes.
inline void local_join(const string_column& left, const string_column& right, join_how how, local_join_options o,
                       join_indices& out) {
  detail::local_join_rows(left, right, how, o, out, detail::strings_compared{&left, &right});
}

/// The rows of `left` and `right` (key columns) that meet under `how`.
template <std::integral Key>
[[nodiscard]] join_indices local_join(std::span<const Key> left, std::span<const Key> right, join_how how,
                                      local_join_options o = {}) {
  join_indices out;
  local_join(left, right, how, o, out);
  return out;
}

/// String keys: the rows of `left` and `right` that meet under `how`.
[[nodiscard]] inline join_indices local_join(const string_column& left, const string_column& right, join_how how,
                                             local_join_options o = {}) {
  join_indices out;
  local_join(left, right, how, o, out);
  return out;
}

} // namespace ucoro::join
