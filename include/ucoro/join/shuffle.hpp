#pragma once
// The shuffle: a partitioned table's part r goes to rank r, every column
// through all_to_allv into one pre-sized column per destination table. The
// row counts travel first (one all_to_all of a count per rank); the columns
// then move concurrently, each its own collective.

#include <ucoro/comm/all_to_all.hpp>
#include <ucoro/comm/communicator.hpp>
#include <ucoro/error.hpp>
#include <ucoro/join/partition.hpp>
#include <ucoro/join/scratch_vector.hpp>
#include <ucoro/join/table.hpp>
#include <ucoro/runtime/when_all.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace ucoro::join {

/// What one shuffle moved to and from other ranks (not counting its own part).
struct shuffle_bytes {
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
};

namespace detail {

/// Part p of the send side is rows [from[p], from[p] + count[p]); what rank p
/// sends lands at [to[p], to[p] + incoming[p]).
struct shuffle_layout {
  std::vector<std::size_t> from, count, to, incoming;
  std::size_t total = 0;
};

template <class T>
task<void> shuffle_column(communicator& comm, std::span<const T> column, std::span<T> out,
                          const shuffle_layout& layout, all_to_all_options o) {
  const std::uint32_t n = comm.size();
  std::vector<std::span<const T>> send(n);
  std::vector<std::span<T>> recv(n);
  for (std::uint32_t r = 0; r < n; ++r) {
    send[r] = column.subspan(layout.from[r], layout.count[r]);
    recv[r] = out.subspan(layout.to[r], layout.incoming[r]);
  }
  co_await all_to_allv(comm, send, recv, o);
}

} // namespace detail

/// shuffle, into `got` (its columns resized; reuse one table across calls
/// to reuse its memory).
template <join_table T>
task<void> shuffle_into(communicator& comm, const partitioned<T>& p, T& got, std::vector<std::size_t> parts = {},
                        all_to_all_options o = {}, shuffle_bytes* moved = nullptr) {
  using Key = typename T::key_type;
  const std::uint32_t n = comm.size();
  if (parts.empty())
    for (std::uint32_t r = 0; r < n; ++r)
      parts.push_back(r);
  if (parts.size() != n)
    throw_invalid_argument("shuffle: " + std::to_string(parts.size()) + " parts for " + std::to_string(n) + " ranks");
  detail::shuffle_layout layout;
  std::vector<std::uint64_t> out_counts(n), in_counts(n);
  for (std::uint32_t r = 0; r < n; ++r) {
    if (parts[r] + 1 >= p.offsets.size())
      throw_invalid_argument("shuffle: part " + std::to_string(parts[r]) + " of " +
                             std::to_string(p.offsets.size() - 1));
    layout.from.push_back(p.offsets[parts[r]]);
    layout.count.push_back(p.part_size(parts[r]));
    out_counts[r] = layout.count.back();
  }
  co_await all_to_all(comm, out_counts, in_counts);
  for (std::uint32_t r = 0; r < n; ++r) {
    layout.to.push_back(layout.total);
    layout.incoming.push_back(in_counts[r]);
    layout.total += in_counts[r];
  }
  // Into got's columns as they are: a table reused from the last call keeps
  // its (already faulted) memory.
  resize_huge(got.keys, layout.total);
  if (column_count(got.payloads) != column_count(p.rows.payloads))
    got.payloads = empty_columns_like(p.rows.payloads);
  for_each_column_pair(p.rows.payloads, got.payloads, [&](const auto&, auto& received) {
    resize_huge(received, layout.total);
  });
  std::vector<task<void>> columns;
  columns.push_back(detail::shuffle_column(comm, std::span<const Key>(p.rows.keys), std::span<Key>(got.keys), layout, o));
  std::size_t row_bytes = sizeof(Key);
  for_each_column_pair(p.rows.payloads, got.payloads, [&](const auto& sent, auto& received) {
    using V = typename std::remove_cvref_t<decltype(received)>::value_type;
    row_bytes += sizeof(V);
    columns.push_back(detail::shuffle_column(comm, std::span<const V>(sent), std::span<V>(received), layout, o));
  });
  co_await when_all(std::move(columns));
  if (moved != nullptr) {
    const std::uint32_t me = comm.rank();
    for (std::uint32_t r = 0; r < n; ++r)
      if (r != me) {
        moved->sent += layout.count[r] * row_bytes;
        moved->received += layout.incoming[r] * row_bytes;
      }
  }
}

/// Sends rows [offsets[parts[r]], offsets[parts[r] + 1]) of `p` to rank r,
/// for the parts given (by default part r to rank r); returns what this rank
/// received, source rank by source rank.
template <join_table T>
[[nodiscard]] task<T> shuffle(communicator& comm, const partitioned<T>& p, std::vector<std::size_t> parts = {},
                              all_to_all_options o = {}, shuffle_bytes* moved = nullptr) {
  T got;
  co_await shuffle_into(comm, p, got, std::move(parts), o, moved);
  co_return got;
}

} // namespace ucoro::join
