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

#include <ucoro/config.hpp>
#include <ucoro/error.hpp>
#include <ucoro/join/hash.hpp>
#include <ucoro/join/how.hpp>
#include <ucoro/join/table.hpp>

#if !UCORO_HAS_THRUST
#error "ucoro/join/device.hpp needs thrust (thrust/device_vector.h): add -I$CUDA_PATH/include, or compile with nvcc (UCORO_HAS_THRUST is 0)"
#endif
#include <thrust/binary_search.h>
#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/execution_policy.h>
#include <thrust/fill.h>
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
  const std::size_t* first; ///< first output position of each left row (exclusive scan)
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
  const std::size_t* first; ///< per left row
  const row_index* lo;
  const row_index* hi;
  const row_index* sorted_rows; ///< right rows in key order
  UCORO_HOST_DEVICE row_index operator()(row_index at) const {
    const row_index l = left_of[at];
    return hi[l] > lo[l] ? sorted_rows[lo[l] + (at - static_cast<row_index>(first[l]))] : no_row;
  }
};

// Algorithms run on raw pointers under thrust::device: the pointers are
// device memory on the CUDA backend and host memory on CPP/OMP.
template <class T>
const T* raw(const thrust::device_vector<T>& v) {
  return thrust::raw_pointer_cast(v.data());
}
template <class T>
T* raw(thrust::device_vector<T>& v) {
  return thrust::raw_pointer_cast(v.data());
}

/// [v.begin() + from, v.end()) copied to the host (a cross-system copy:
/// cudaMemcpy on the CUDA backend).
template <class T>
std::vector<T> to_host(const thrust::device_vector<T>& v, std::size_t from = 0) {
  std::vector<T> out(v.size() - from);
  thrust::copy(v.begin() + static_cast<std::ptrdiff_t>(from), v.end(), out.begin());
  return out;
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
    throw_invalid_argument("device::plan_partition: 0 parts");
  if (keys.size() >= no_row)
    throw_invalid_argument("device::plan_partition: " + std::to_string(keys.size()) + " rows; at most " +
                           std::to_string(no_row - 1));
  using detail::raw;
  const std::size_t n = keys.size();
  partition_plan plan;
  thrust::device_vector<std::uint32_t> part(n);
  thrust::transform(thrust::device, raw(keys), raw(keys) + n, raw(part), detail::rank_of_key{seed, parts});
  plan.order.resize(n);
  thrust::sequence(thrust::device, raw(plan.order), raw(plan.order) + n);
  thrust::stable_sort_by_key(thrust::device, raw(part), raw(part) + n, raw(plan.order));
  thrust::device_vector<std::size_t> offsets(parts + 1);
  thrust::lower_bound(thrust::device, raw(part), raw(part) + n, thrust::counting_iterator<std::uint32_t>(0),
                      thrust::counting_iterator<std::uint32_t>(parts + 1), raw(offsets));
  const std::vector<std::size_t> host = detail::to_host(offsets);
  plan.offsets.assign(host.begin(), host.end());
  return plan;
}

/// `column` in the plan's order (every column of a table goes through this).
template <class T>
[[nodiscard]] thrust::device_vector<T> gather(const partition_plan& plan, const thrust::device_vector<T>& column) {
  thrust::device_vector<T> out(plan.order.size());
  thrust::gather(thrust::device, detail::raw(plan.order), detail::raw(plan.order) + plan.order.size(),
                 detail::raw(column), detail::raw(out));
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
    throw_invalid_argument("device::local_join: " + std::to_string(std::max(left.size(), right.size())) +
                           " rows; at most " + std::to_string(no_row - 1));
  using detail::raw;
  const std::size_t nl = left.size(), nr = right.size();
  // The right keys sorted, carrying their rows.
  thrust::device_vector<Key> sorted_keys(nr);
  thrust::copy(thrust::device, raw(right), raw(right) + nr, raw(sorted_keys));
  thrust::device_vector<row_index> sorted_rows(nr);
  thrust::sequence(thrust::device, raw(sorted_rows), raw(sorted_rows) + nr);
  thrust::stable_sort_by_key(thrust::device, raw(sorted_keys), raw(sorted_keys) + nr, raw(sorted_rows));
  // Each left key's range of equal right keys.
  thrust::device_vector<row_index> lo(nl), hi(nl);
  thrust::lower_bound(thrust::device, raw(sorted_keys), raw(sorted_keys) + nr, raw(left), raw(left) + nl, raw(lo));
  thrust::upper_bound(thrust::device, raw(sorted_keys), raw(sorted_keys) + nr, raw(left), raw(left) + nl, raw(hi));
  // Where each left row's output starts (one more entry: the total).
  thrust::device_vector<std::size_t> first(nl + 1);
  thrust::fill(thrust::device, raw(first), raw(first) + nl + 1, std::size_t{0});
  thrust::transform(thrust::device, raw(lo), raw(lo) + nl, raw(hi), raw(first), detail::output_count{how});
  thrust::exclusive_scan(thrust::device, raw(first), raw(first) + nl + 1, raw(first), std::size_t{0});
  const std::size_t total = detail::to_host(first, nl)[0];
  if (total >= no_row)
    throw_error(std::make_error_code(std::errc::value_too_large),
                "device::local_join: " + std::to_string(total) + " output rows; at most " + std::to_string(no_row - 1));
  // Expand: each output position's left row, then its right row.
  indices out;
  out.left.resize(total);
  const thrust::counting_iterator<row_index> at(0);
  thrust::transform(thrust::device, at, at + total, raw(out.left), detail::left_of_output{raw(first), nl});
  if (how == join_how::inner || how == join_how::left) {
    out.right.resize(total);
    thrust::transform(thrust::device, at, at + total, raw(out.right),
                      detail::right_of_output{raw(out.left), raw(first), raw(lo), raw(hi), raw(sorted_rows)});
  }
  return out;
}

} // namespace ucoro::join::device
