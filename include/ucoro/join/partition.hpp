#pragma once
// Hash partitioning, radix style: one pass over the keys computes each
// row's part and a histogram, the prefix sum gives each part's range, and
// each row's destination is fixed once; every column is then scattered in
// one pass into pre-sized output. Rows keep their relative order in a part.

#include <ucoro/error.hpp>
#include <ucoro/join/hash.hpp>
#include <ucoro/join/scratch_vector.hpp>
#include <ucoro/join/table.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <variant>
#include <stdexcept>
#include <vector>

namespace ucoro::join {

/// Where each row goes: part p holds positions [offsets[p], offsets[p+1]).
struct partition_plan {
  std::vector<std::size_t> offsets;
  scratch_vector<row_index> destination; ///< per input row (huge-page scratch, not zero-filled)
};

/// Plans a partition of `keys` into `plan` (its memory reused).
template <key_rows Keys, class PartOf>
void plan_partition_into(const Keys& keys, std::uint32_t parts, std::uint64_t seed, PartOf part_of,
                         partition_plan& plan) {
  if (parts == 0)
    throw_invalid_argument("partition: 0 parts");
  if (keys.size() >= no_row)
    throw_invalid_argument("partition: " + std::to_string(keys.size()) + " rows on one rank; at most " +
                           std::to_string(no_row - 1));
  plan.offsets.assign(parts + 1, 0);
  plan.destination.resize(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::uint32_t p = part_of(hash_key(keys[i], seed));
    plan.destination[i] = p;
    ++plan.offsets[p + 1];
  }
  for (std::uint32_t p = 0; p < parts; ++p)
    plan.offsets[p + 1] += plan.offsets[p];
  std::vector<std::size_t> cursor(plan.offsets.begin(), plan.offsets.end() - 1);
  for (auto& d : plan.destination)
    d = static_cast<row_index>(cursor[d]++);
}

/// Plans a partition of `keys` into `parts` by `part_of(hash_key(key, seed))`.
template <key_rows Keys, class PartOf>
[[nodiscard]] partition_plan plan_partition(const Keys& keys, std::uint32_t parts, std::uint64_t seed,
                                            PartOf part_of) {
  partition_plan plan;
  plan_partition_into(keys, parts, seed, part_of, plan);
  return plan;
}

/// column scattered by `plan` into `out` (resized; its memory reused).
template <class T, class Vector>
void scatter_into(const partition_plan& plan, std::span<const T> column, Vector& out) {
  resize_huge(out, column.size());
  T* const to = out.data();
  for (std::size_t i = 0; i < column.size(); ++i)
    to[plan.destination[i]] = column[i];
}

/// column scattered by `plan`.
template <class T>
[[nodiscard]] std::vector<T> scatter(const partition_plan& plan, std::span<const T> column) {
  std::vector<T> out;
  scatter_into(plan, column, out);
  return out;
}

/// A table column scattered by `plan` into `out`, whatever its kind.
template <fixed_width_column C, class Vector>
void scatter_column(const partition_plan& plan, const C& column, Vector& out) {
  scatter_into(plan, std::span<const typename C::value_type>(column), out);
}

/// Strings: the lengths to their destinations and a prefix sum give the
/// new offsets, then each row's bytes are copied to its place.
inline void scatter_column(const partition_plan& plan, const string_column& column, string_column& out) {
  const std::size_t rows = column.size();
  out.resize_for(rows, column.bytes().size());
  std::uint64_t* const offsets = out.offsets_data();
  for (std::size_t i = 0; i < rows; ++i)
    offsets[plan.destination[i] + 1] = column.length(i);
  for (std::size_t i = 0; i < rows; ++i)
    offsets[i + 1] += offsets[i];
  char* const bytes = out.bytes_data();
  for (std::size_t i = 0; i < rows; ++i) {
    const std::string_view s = column[i];
    std::memcpy(bytes + offsets[plan.destination[i]], s.data(), s.size());
  }
}

/// Run-time columns: `out` takes the kind of `column`.
inline void scatter_column(const partition_plan& plan, const any_column& column, any_column& out) {
  with_kind_of(column, out, [&](const auto& from, auto& into) { scatter_column(plan, from, into); });
}

/// A table's rows grouped by part: part p is rows [offsets[p], offsets[p+1]).
template <join_table T>
struct partitioned {
  T rows;
  std::vector<std::size_t> offsets;
  [[nodiscard]] std::size_t part_size(std::size_t p) const noexcept { return offsets[p + 1] - offsets[p]; }
};

/// Partitions `t` into `parts` by rank_of into `out`: part r is what rank r
/// of `parts` ranks owns (so both sides of a join meet on the same rank).
/// Reusing `out` (and `plan`) across calls reuses their memory.
template <join_table T>
void partition_into(const T& t, std::uint32_t parts, std::uint64_t seed, partitioned<T>& out, partition_plan& plan) {
  check_shape(t, "partition");
  plan_partition_into(t.keys, parts, seed, [parts](std::uint64_t h) { return rank_of(h, parts); }, plan);
  scatter_column(plan, t.keys, out.rows.keys);
  if (column_count(out.rows.payloads) != column_count(t.payloads))
    out.rows.payloads = empty_columns_like(t.payloads);
  for_each_column_pair(t.payloads, out.rows.payloads,
                       [&](const auto& column, auto& to) { scatter_column(plan, column, to); });
  out.offsets = plan.offsets;
}

/// Partitions `t` into `parts` by rank_of: part r is what rank r of
/// `parts` ranks owns (so both sides of a join meet on the same rank).
template <join_table T>
[[nodiscard]] partitioned<T> partition(const T& t, std::uint32_t parts, std::uint64_t seed = default_seed) {
  partitioned<T> out;
  partition_plan plan;
  partition_into(t, parts, seed, out, plan);
  return out;
}

} // namespace ucoro::join
