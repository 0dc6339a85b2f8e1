#pragma once
// The join on one rank, as row indices: which left row meets which right
// row. The right side is built into an open-addressing table of its
// distinct keys, each slot holding the key and the range of its rows in a
// grouped row array (so duplicates cost one slot, and a skewed key makes no
// long probe chain for the others); the left side probes it. Build sides
// larger than a cache's worth are radix-partitioned first, both sides by the
// same low hash bits, and joined part by part in one reused table.
// The table's memory (hash_table_memory) is pre-faulted and reused across
// calls: first touch costs ~11 us per 4 KiB page on these machines.

#include <ucoro/join/hash.hpp>
#include <ucoro/join/partition.hpp>
#include <ucoro/join/table.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace ucoro::join {

enum class join_how { inner, left, semi, anti };

[[nodiscard]] constexpr const char* to_string(join_how h) noexcept {
  switch (h) {
  case join_how::inner: return "inner";
  case join_how::left: return "left";
  case join_how::semi: return "semi";
  case join_how::anti: return "anti";
  }
  return "?";
}

/// Matched rows: left[i] meets right[i]. A left join's unmatched left row
/// has right[i] == no_row; semi and anti joins fill `left` only.
struct join_indices {
  std::vector<row_index> left;
  std::vector<row_index> right;
};

/// Slots and row arrays kept between joins (pass the same one to reuse).
class hash_table_memory {
public:
  struct slot {
    /// The key's hash: hash_key is a bijection on 64-bit keys, so equal
    /// hashes are equal keys and the probe never reads the key column.
    std::uint64_t hash;
    row_index start;    ///< first of its rows in the grouped array (a cursor while building)
    row_index count;    ///< 0: empty
  };

  /// A zeroed table of `n` (a power of two) slots.
  std::span<slot> slots(std::size_t n) {
    if (m_slots.size() < n)
      m_slots.resize(n); // first touch happens here, once
    std::fill_n(m_slots.begin(), n, slot{0, 0, 0});
    return {m_slots.data(), n};
  }
  std::vector<row_index>& grouped() noexcept { return m_grouped; }
  std::vector<row_index>& slot_of_row() noexcept { return m_slot_of_row; }

private:
  std::vector<slot> m_slots;
  std::vector<row_index> m_grouped, m_slot_of_row;
};

struct local_join_options {
  /// Build rows per radix part: a table of 2x this many 16-byte slots
  /// (2 MiB at the default) stays in L2/L3 while it is probed.
  std::size_t rows_per_part = 1 << 16;
  std::uint64_t seed = default_seed;
  hash_table_memory* memory = nullptr; ///< nullptr: a fresh one per call
};

namespace detail {

/// Joins left_keys (rows left_rows, or 0..n-1 if empty) with right_keys
/// likewise, appending to `out` in terms of the original row numbers.
template <std::integral Key>
void join_part(std::span<const Key> left_keys, std::span<const row_index> left_rows, std::span<const Key> right_keys,
               std::span<const row_index> right_rows, join_how how, std::uint64_t seed, hash_table_memory& memory,
               join_indices& out) {
  const auto left_row = [&](std::size_t i) { return left_rows.empty() ? static_cast<row_index>(i) : left_rows[i]; };
  const auto right_row = [&](std::size_t i) { return right_rows.empty() ? static_cast<row_index>(i) : right_rows[i]; };
  const std::size_t n = std::bit_ceil(std::max<std::size_t>(16, 2 * right_keys.size()));
  const std::span<hash_table_memory::slot> slots = memory.slots(n);
  std::vector<row_index>& slot_of_row = memory.slot_of_row();
  slot_of_row.resize(right_keys.size());
  // Build: distinct keys with their counts.
  for (std::size_t r = 0; r < right_keys.size(); ++r) {
    const std::uint64_t h = hash_key(right_keys[r], seed);
    std::uint64_t s = slot_of(h, n);
    while (slots[s].count != 0 && slots[s].hash != h)
      s = (s + 1) & (n - 1);
    if (slots[s].count == 0)
      slots[s] = {h, 0, 0};
    ++slots[s].count;
    slot_of_row[r] = static_cast<row_index>(s);
  }
  // Group: each distinct key's rows contiguous, in build order.
  std::vector<row_index>& grouped = memory.grouped();
  grouped.resize(right_keys.size());
  row_index next = 0;
  for (auto& slot : slots)
    if (slot.count != 0) {
      slot.start = next;
      next += slot.count;
    }
  for (std::size_t r = 0; r < right_keys.size(); ++r)
    grouped[slots[slot_of_row[r]].start++] = static_cast<row_index>(r);
  for (auto& slot : slots)
    slot.start -= slot.count; // cursors back to starts
  // Probe.
  for (std::size_t l = 0; l < left_keys.size(); ++l) {
    const std::uint64_t h = hash_key(left_keys[l], seed);
    std::uint64_t s = slot_of(h, n);
    while (slots[s].count != 0 && slots[s].hash != h)
      s = (s + 1) & (n - 1);
    const bool found = slots[s].count != 0;
    switch (how) {
    case join_how::inner:
    case join_how::left:
      if (found) {
        for (row_index k = 0; k < slots[s].count; ++k) {
          out.left.push_back(left_row(l));
          out.right.push_back(right_row(grouped[slots[s].start + k]));
        }
      } else if (how == join_how::left) {
        out.left.push_back(left_row(l));
        out.right.push_back(no_row);
      }
      break;
    case join_how::semi:
      if (found)
        out.left.push_back(left_row(l));
      break;
    case join_how::anti:
      if (!found)
        out.left.push_back(left_row(l));
      break;
    }
  }
}

} // namespace detail

/// The rows of `left` and `right` (key columns) that meet under `how`.
template <std::integral Key>
[[nodiscard]] join_indices local_join(std::span<const Key> left, std::span<const Key> right, join_how how,
                                      local_join_options o = {}) {
  if (left.size() >= no_row || right.size() >= no_row)
    throw std::invalid_argument("local_join: " + std::to_string(std::max(left.size(), right.size())) +
                                " rows on one rank; at most " + std::to_string(no_row - 1));
  hash_table_memory own;
  hash_table_memory& memory = o.memory != nullptr ? *o.memory : own;
  join_indices out;
  out.left.reserve(left.size());
  if (how == join_how::inner || how == join_how::left)
    out.right.reserve(left.size());
  if (right.size() <= o.rows_per_part) {
    detail::join_part(left, {}, right, {}, how, o.seed, memory, out);
    return out;
  }
  // Radix: both sides by the same low hash bits, then part by part.
  const std::uint32_t parts = static_cast<std::uint32_t>(std::bit_ceil((right.size() + o.rows_per_part - 1) / o.rows_per_part));
  const auto radix = [parts](std::uint64_t h) { return radix_of(h, parts); };
  const partition_plan lp = plan_partition(left, parts, o.seed, radix);
  const partition_plan rp = plan_partition(right, parts, o.seed, radix);
  const std::vector<Key> lk = scatter(lp, left), rk = scatter(rp, right);
  std::vector<row_index> lrows(left.size()), rrows(right.size());
  for (std::size_t i = 0; i < left.size(); ++i)
    lrows[lp.destination[i]] = static_cast<row_index>(i);
  for (std::size_t i = 0; i < right.size(); ++i)
    rrows[rp.destination[i]] = static_cast<row_index>(i);
  for (std::uint32_t p = 0; p < parts; ++p) {
    const std::size_t l0 = lp.offsets[p], l1 = lp.offsets[p + 1], r0 = rp.offsets[p], r1 = rp.offsets[p + 1];
    detail::join_part(std::span<const Key>(lk).subspan(l0, l1 - l0), std::span<const row_index>(lrows).subspan(l0, l1 - l0),
                      std::span<const Key>(rk).subspan(r0, r1 - r0), std::span<const row_index>(rrows).subspan(r0, r1 - r0),
                      how, o.seed, memory, out);
  }
  return out;
}

} // namespace ucoro::join
