#pragma once
// The shuffle: a partitioned table's part r goes to rank r, every column
// through all_to_allv into one pre-sized column per destination table. The
// row counts (and each string column's byte counts) travel first, in one
// all_to_all; the columns then move concurrently, each its own collective
// (a string column two: its lengths and its bytes).

#include <ucoro/comm/all_to_all.hpp>
#include <ucoro/comm/communicator.hpp>
#include <ucoro/error.hpp>
#include <ucoro/join/partition.hpp>
#include <ucoro/join/scratch_vector.hpp>
#include <ucoro/join/table.hpp>
#include <ucoro/runtime/when_all.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <variant>
#include <vector>

namespace ucoro::join {

/// What one shuffle moved to and from other ranks (not counting its own part).
struct shuffle_bytes {
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
};

namespace detail {

/// Part p of the send side is rows [from[p], from[p] + count[p]); what rank p
/// sends lands at [to[p], to[p] + incoming[p]). The same for a string
/// column's bytes.
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

/// Starts every column's collectives, in column order (a collective takes
/// its round when it starts, so every rank must start them in one order):
/// a fixed-width column is one all_to_allv; a string column two, its row
/// lengths (received straight into the new offsets, summed afterwards) and
/// its bytes, whose sizes travelled with the row counts.
class column_mover {
public:
  column_mover(communicator& comm, const shuffle_layout& rows, const std::vector<std::uint64_t>& in_counts,
               std::size_t per_rank, all_to_all_options o)
      : m_comm(comm), m_rows(rows), m_in_counts(in_counts), m_per_rank(per_rank), m_options(o) {}

  /// What a column adds to each rank's counts: a string column its bytes.
  template <fixed_width_column C>
  static void count_bytes(const C&, const shuffle_layout&, std::vector<std::vector<std::uint64_t>>&) {}
  static void count_bytes(const string_column& c, const shuffle_layout& rows,
                          std::vector<std::vector<std::uint64_t>>& per_rank) {
    for (std::size_t r = 0; r < per_rank.size(); ++r)
      per_rank[r].push_back(c.offsets()[rows.from[r] + rows.count[r]] - c.offsets()[rows.from[r]]);
  }
  static void count_bytes(const any_column& c, const shuffle_layout& rows,
                          std::vector<std::vector<std::uint64_t>>& per_rank) {
    std::visit([&](const auto& held) { count_bytes(held, rows, per_rank); }, c.get());
  }

  template <fixed_width_column C, class Vector>
  void start(const C& sent, Vector& received) {
    using V = typename C::value_type;
    resize_huge(received, m_rows.total);
    m_row_bytes += sizeof(V);
    m_tasks.push_back(shuffle_column(m_comm, std::span<const V>(sent), std::span<V>(received), m_rows, m_options));
  }

  void start(const string_column& sent, string_column& received) {
    const std::size_t n = m_rows.from.size(), j = 1 + m_strings++;
    shuffle_layout bytes;
    for (std::size_t r = 0; r < n; ++r) {
      const std::uint64_t from = sent.offsets()[m_rows.from[r]];
      bytes.from.push_back(from);
      bytes.count.push_back(sent.offsets()[m_rows.from[r] + m_rows.count[r]] - from);
      bytes.to.push_back(bytes.total);
      bytes.incoming.push_back(m_in_counts[r * m_per_rank + j]);
      bytes.total += bytes.incoming.back();
    }
    received.resize_for(m_rows.total, bytes.total);
    std::vector<std::uint64_t>& lengths = m_lengths.emplace_back(sent.size());
    for (std::size_t i = 0; i < sent.size(); ++i)
      lengths[i] = sent.length(i);
    m_row_bytes += sizeof(std::uint64_t);
    for (std::size_t r = 0; r < n; ++r)
      m_string_bytes_sent[r] += bytes.count[r], m_string_bytes_received[r] += bytes.incoming[r];
    m_tasks.push_back(shuffle_column(m_comm, std::span<const std::uint64_t>(lengths),
                                     std::span<std::uint64_t>(received.offsets_data() + 1, m_rows.total), m_rows,
                                     m_options));
    const shuffle_layout& kept = m_byte_layouts.emplace_back(std::move(bytes));
    m_tasks.push_back(shuffle_column(m_comm, std::span<const char>(sent.bytes()),
                                     std::span<char>(received.bytes_data(), kept.total), kept, m_options));
    m_received_strings.push_back(&received);
  }

  void start(const any_column& sent, any_column& received) {
    with_kind_of(sent, received, [&](const auto& from, auto& into) { start(from, into); });
  }

  /// Waits for every column, then turns received lengths into offsets.
  task<void> finish() {
    co_await when_all(std::move(m_tasks));
    for (string_column* c : m_received_strings) {
      std::uint64_t* const offsets = c->offsets_data();
      for (std::size_t i = 0; i < m_rows.total; ++i)
        offsets[i + 1] += offsets[i];
    }
  }

  /// Bytes sent to and received from other ranks.
  void account(shuffle_bytes& moved, std::uint32_t me) const {
    for (std::size_t r = 0; r < m_rows.from.size(); ++r)
      if (r != me) {
        moved.sent += m_rows.count[r] * m_row_bytes + m_string_bytes_sent[r];
        moved.received += m_rows.incoming[r] * m_row_bytes + m_string_bytes_received[r];
      }
  }

private:
  communicator& m_comm;
  const shuffle_layout& m_rows;
  const std::vector<std::uint64_t>& m_in_counts;
  std::size_t m_per_rank;
  all_to_all_options m_options;
  std::vector<task<void>> m_tasks;
  std::size_t m_strings = 0, m_row_bytes = 0;
  std::deque<std::vector<std::uint64_t>> m_lengths; // a deque: the tasks hold spans of them
  std::deque<shuffle_layout> m_byte_layouts;
  std::vector<string_column*> m_received_strings;
  std::vector<std::uint64_t> m_string_bytes_sent = std::vector<std::uint64_t>(m_rows.from.size());
  std::vector<std::uint64_t> m_string_bytes_received = std::vector<std::uint64_t>(m_rows.from.size());
};

} // namespace detail

/// shuffle, into `got` (its columns resized; reuse one table across calls
/// to reuse its memory).
template <join_table T>
task<void> shuffle_into(communicator& comm, const partitioned<T>& p, T& got, std::vector<std::size_t> parts = {},
                        all_to_all_options o = {}, shuffle_bytes* moved = nullptr) {
  const std::uint32_t n = comm.size();
  if (parts.empty())
    for (std::uint32_t r = 0; r < n; ++r)
      parts.push_back(r);
  if (parts.size() != n)
    throw_invalid_argument("shuffle: " + std::to_string(parts.size()) + " parts for " + std::to_string(n) + " ranks");
  detail::shuffle_layout layout;
  // Per rank: the rows, then each string column's bytes (the key first).
  std::vector<std::vector<std::uint64_t>> per_rank(n);
  for (std::uint32_t r = 0; r < n; ++r) {
    if (parts[r] + 1 >= p.offsets.size())
      throw_invalid_argument("shuffle: part " + std::to_string(parts[r]) + " of " +
                             std::to_string(p.offsets.size() - 1));
    layout.from.push_back(p.offsets[parts[r]]);
    layout.count.push_back(p.part_size(parts[r]));
    per_rank[r].push_back(layout.count.back());
  }
  detail::column_mover::count_bytes(p.rows.keys, layout, per_rank);
  for_each_column(p.rows.payloads, [&](const auto& c) { detail::column_mover::count_bytes(c, layout, per_rank); });
  const std::size_t k = per_rank[0].size();
  std::vector<std::uint64_t> out_counts, in_counts(n * k);
  out_counts.reserve(n * k);
  for (const auto& counts : per_rank)
    out_counts.insert(out_counts.end(), counts.begin(), counts.end());
  co_await all_to_all(comm, out_counts, in_counts);
  for (std::uint32_t r = 0; r < n; ++r) {
    layout.to.push_back(layout.total);
    layout.incoming.push_back(in_counts[r * k]);
    layout.total += in_counts[r * k];
  }
  // Into got's columns as they are: a table reused from the last call keeps
  // its (already faulted) memory.
  if (column_count(got.payloads) != column_count(p.rows.payloads))
    got.payloads = empty_columns_like(p.rows.payloads);
  detail::column_mover mover(comm, layout, in_counts, k, o);
  mover.start(p.rows.keys, got.keys);
  for_each_column_pair(p.rows.payloads, got.payloads, [&](const auto& sent, auto& received) {
    mover.start(sent, received);
  });
  co_await mover.finish();
  if (moved != nullptr)
    mover.account(*moved, comm.rank());
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
