#pragma once
// The join's building blocks on the GPU, written in thrust: a partition and
// a local join over thrust::device_vector columns, agreeing with the host
// blocks row for row (same seeded hash, same rank of every key, same pairs).
//
// The device join is sort-based, as GPUs like it, not the host's cache-sized
// hash tables: the right keys are sorted (carrying their rows), every left
// key finds its range of equal keys by a vectorized binary search, a scan of
// the per-row output counts places each left row's output, and one pass over
// the output positions expands the pairs. Every step is a thrust algorithm,
// so it runs on the CUDA backend on a GPU and on the CPP/OMP backends on the
// host (which is how the tests run it here).
//
// Functors are __host__ __device__; hash_key and rank_of are constexpr, so
// nvcc needs --expt-relaxed-constexpr to call them from device code.

#include <ucoro/join/hash.hpp>
#include <ucoro/join/how.hpp>
#include <ucoro/join/table.hpp>

#include <thrust/binary_search.h>
#include <thrust/device_vector.h>
#include <thrust/gather.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/scan.h>
#include <thrust/sequence.h>
#include <thrust/sort.h>
#include <thrust/transform.h>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__CUDACC__)
#define UCORO_HOST_DEVICE __host__ __device__
#else
#define UCORO_HOST_DEVICE
#endif

namespace ucoro::join::device {

namespace detail {

struct rank_of_key {
  std::uint64_t seed;
  std::uint32_t parts;
  template <class Key>
  UCORO_HOST_DEVICE std::uint32_t operator()(Key key) const {
    return rank_of(hash_key(key, seed), parts);
  }
};

/// Output rows a left row yields, given its range [lo, hi) of equal right keys.
struct output_count {
  join_how how;
  UCORO_HOST_DEVICE row_index operator()(row_index lo, row_index hi) const {
    const row_index matches = hi - lo;
    switch (how) {
    case join_how::inner: return matches;
    case join_how::left: return matches > 0 ? matches : 1;
    case join_how::semi: return matches > 0 ? 1 : 0;
    case join_how::anti: return matches > 0 ? 0 : 1;
    }
    return 0;
  }
};

/// Output position -> its left row (the last row whose first position <= it).
struct left_of_output {
  const row_index* first; ///< first output position of each left row (exclusive scan)
  std::size_t rows;
  UCORO_HOST_DEVICE row_index operator()(row_index at) const {
    std::size_t a = 0, b = rows; // upper_bound(first, at) - 1
    while (a < b) {
      const std::size_t mid = (a + b) / 2;
      if (first[mid] <= at)
        a = mid + 1;
      else
        b = mid;
    }
    return static_cast<row_index>(a - 1);
  }
};

/// Output position -> its right row (the k-th equal key of its left row).
struct right_of_output {
  const row_index* left_of; ///< per output position
  const row_index* first;   ///< per left row
  const row_index* lo;
  const row_index* hi;
  const row_index* sorted_rows; ///< right rows in key order
  UCORO_HOST_DEVICE row_index operator()(row_index at) const {
    const row_index l = left_of[at];
    return hi[l] > lo[l] ? sorted_rows[lo[l] + (at - first[l])] : no_row;
  }
};

template <class T>
const T* raw(const thrust::device_vector<T>& v) {
  return thrust::raw_pointer_cast(v.data());
}

} // namespace detail

/// Rows in part order: part p is rows order[offsets[p] .. offsets[p+1]), each
/// part in input order (so it equals the host partition's).
struct partition_plan {
  thrust::device_vector<row_index> order;
  std::vector<std::size_t> offsets; ///< on the host: the sizes of the all_to_allv
};

/// Plans the partition of `keys` into `parts` by rank_of(hash_key(key, seed)).
template <std::integral Key>
[[nodiscard]] partition_plan plan_partition(const thrust::device_vector<Key>& keys, std::uint32_t parts,
                                            std::uint64_t seed = default_seed) {
  if (parts == 0)
    throw std::invalid_argument("device::plan_partition: 0 parts");
  if (keys.size() >= no_row)
    throw std::invalid_argument("device::plan_partition: " + std::to_string(keys.size()) + " rows; at most " +
                                std::to_string(no_row - 1));
  partition_plan plan;
  thrust::device_vector<std::uint32_t> part(keys.size());
  thrust::transform(keys.begin(), keys.end(), part.begin(), detail::rank_of_key{seed, parts});
  plan.order.resize(keys.size());
  thrust::sequence(plan.order.begin(), plan.order.end());
  thrust::stable_sort_by_key(part.begin(), part.end(), plan.order.begin());
  thrust::device_vector<std::size_t> offsets(parts + 1);
  thrust::lower_bound(part.begin(), part.end(), thrust::counting_iterator<std::uint32_t>(0),
                      thrust::counting_iterator<std::uint32_t>(parts + 1), offsets.begin());
  plan.offsets.resize(parts + 1);
  thrust::copy(offsets.begin(), offsets.end(), plan.offsets.begin());
  return plan;
}

/// `column` in the plan's order (every column of a table goes through this).
template <class T>
[[nodiscard]] thrust::device_vector<T> gather(const partition_plan& plan, const thrust::device_vector<T>& column) {
  thrust::device_vector<T> out(plan.order.size());
  thrust::gather(plan.order.begin(), plan.order.end(), column.begin(), out.begin());
  return out;
}

/// Matched rows, as in join::join_indices: left[i] meets right[i] (no_row:
/// a left join's unmatched row; semi and anti fill `left` only). Ordered by
/// left row, then by right key order (stable: build order among equal keys).
struct indices {
  thrust::device_vector<row_index> left;
  thrust::device_vector<row_index> right;
};

/// The rows of `left` and `right` (key columns) that meet under `how`.
template <std::integral Key>
[[nodiscard]] indices local_join(const thrust::device_vector<Key>& left, const thrust::device_vector<Key>& right,
                                 join_how how) {
  if (left.size() >= no_row || right.size() >= no_row)
    throw std::invalid_argument("device::local_join: " + std::to_string(std::max(left.size(), right.size())) +
                                " rows; at most " + std::to_string(no_row - 1));
  // The right keys sorted, carrying their rows.
  thrust::device_vector<Key> sorted_keys = right;
  thrust::device_vector<row_index> sorted_rows(right.size());
  thrust::sequence(sorted_rows.begin(), sorted_rows.end());
  thrust::stable_sort_by_key(sorted_keys.begin(), sorted_keys.end(), sorted_rows.begin());
  // Each left key's range of equal right keys.
  thrust::device_vector<row_index> lo(left.size()), hi(left.size());
  thrust::lower_bound(sorted_keys.begin(), sorted_keys.end(), left.begin(), left.end(), lo.begin());
  thrust::upper_bound(sorted_keys.begin(), sorted_keys.end(), left.begin(), left.end(), hi.begin());
  // Where each left row's output starts.
  thrust::device_vector<row_index> first(left.size());
  thrust::transform(lo.begin(), lo.end(), hi.begin(), first.begin(), detail::output_count{how});
  const std::size_t last_count = left.empty() ? 0 : static_cast<row_index>(first.back());
  thrust::exclusive_scan(first.begin(), first.end(), first.begin());
  const std::size_t total = left.empty() ? 0 : static_cast<row_index>(first.back()) + last_count;
  if (total >= no_row)
    throw std::length_error("device::local_join: " + std::to_string(total) + " output rows; at most " +
                            std::to_string(no_row - 1));
  // Expand: each output position's left row, then its right row.
  indices out;
  out.left.resize(total);
  const thrust::counting_iterator<row_index> at(0);
  thrust::transform(at, at + total, out.left.begin(), detail::left_of_output{detail::raw(first), left.size()});
  if (how == join_how::inner || how == join_how::left) {
    out.right.resize(total);
    thrust::transform(at, at + total, out.right.begin(),
                      detail::right_of_output{detail::raw(out.left), detail::raw(first), detail::raw(lo),
                                              detail::raw(hi), detail::raw(sorted_rows)});
  }
  return out;
}

} // namespace ucoro::join::device
