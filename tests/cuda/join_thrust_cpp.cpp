// The device join blocks (join/device.hpp) through the host compiler with
// thrust's CPP device system, so they run without a GPU: the partition must
// equal the host partition row for row, and the sort-based device join must
// produce exactly the host hash join's pairs, for every key shape and how.

#include "../support/join_check.hpp"

#include <ucoro/join/device.hpp>
#include <ucoro/join/local_join.hpp>
#include <ucoro/join/partition.hpp>

#include <catch2/catch.hpp>

#include <thrust/device_vector.h>

#include <algorithm>
#include <utility>
#include <vector>

using namespace ucoro;
using namespace ucoro::test;
using join::join_how;

static_assert(THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CPP, "this test is built with the CPP backend");

namespace {
// Device vectors are filled and read through raw pointers (host memory under
// the CPP backend): thrust's device_reference trips UBSan inside thrust.
template <class T>
thrust::device_vector<T> on_device(const std::vector<T>& v) {
  thrust::device_vector<T> out(v.size());
  std::copy(v.begin(), v.end(), thrust::raw_pointer_cast(out.data()));
  return out;
}
template <class T>
std::vector<T> on_host(const thrust::device_vector<T>& v) {
  const T* p = thrust::raw_pointer_cast(v.data());
  return std::vector<T>(p, p + v.size());
}

std::vector<std::pair<join::row_index, join::row_index>> host_pairs(const join_table_i64& l, const join_table_i64& r,
                                                                    join_how how) {
  const auto idx = join::local_join(std::span<const std::int64_t>(l.keys), std::span<const std::int64_t>(r.keys), how,
                                    join::local_join_options{64}); // radix-partitioned on the host
  std::vector<std::pair<join::row_index, join::row_index>> out;
  for (std::size_t i = 0; i < idx.left.size(); ++i)
    out.emplace_back(idx.left[i], idx.right.empty() ? 0 : idx.right[i]);
  std::sort(out.begin(), out.end());
  return out;
}
} // namespace

TEST_CASE("device::local_join gives the host join's pairs for every key shape and how", "[join][device]") {
  for (key_mode mode : key_modes)
    for (join_how how : {join_how::inner, join_how::left, join_how::semi, join_how::anti}) {
      INFO(to_string(mode) << ", " << join::to_string(how));
      const join_table_i64 l = make_side(mode, true, 0, 1, 3000), r = make_side(mode, false, 0, 1, 2000);
      const join::device::indices idx = join::device::local_join(on_device(l.keys), on_device(r.keys), how);
      const bool with_right = how == join_how::inner || how == join_how::left;
      REQUIRE(idx.right.size() == (with_right ? idx.left.size() : 0));
      const auto left_rows = on_host(idx.left), right_rows = on_host(idx.right);
      std::vector<std::pair<join::row_index, join::row_index>> got;
      for (std::size_t i = 0; i < left_rows.size(); ++i)
        got.emplace_back(left_rows[i], with_right ? right_rows[i] : 0);
      CHECK(std::is_sorted(got.begin(), got.end(), [](auto a, auto b) { return a.first < b.first; })); // by left row
      std::sort(got.begin(), got.end());
      CHECK(got == host_pairs(l, r, how));
    }
}

TEST_CASE("device::local_join of empty sides", "[join][device]") {
  const thrust::device_vector<std::int32_t> none, some = on_device(std::vector<std::int32_t>{1, 2, 2});
  CHECK(join::device::local_join(none, some, join_how::inner).left.empty());
  const auto left = join::device::local_join(some, none, join_how::left);
  REQUIRE(left.left.size() == 3);
  CHECK(on_host(left.right) == std::vector<join::row_index>(3, join::no_row));
  CHECK(join::device::local_join(some, none, join_how::anti).left.size() == 3);
}

TEST_CASE("device::plan_partition and gather equal the host partition row for row", "[join][device]") {
  const join_table_i64 t = make_side(key_mode::duplicates, true, 0, 1, 5000);
  for (std::uint32_t parts : {1U, 3U, 8U}) {
    INFO(parts << " parts");
    const auto host = join::partition(t, parts);
    const thrust::device_vector<std::int64_t> keys = on_device(t.keys), ids = on_device(t.payloads[0]);
    const join::device::partition_plan plan = join::device::plan_partition(keys, parts);
    CHECK(plan.offsets == host.offsets);
    const thrust::device_vector<std::int64_t> k = join::device::gather(plan, keys), v = join::device::gather(plan, ids);
    CHECK(on_host(k) == host.rows.keys);
    CHECK(on_host(v) == host.rows.payloads[0]);
  }
  CHECK_THROWS_MATCHES(
      join::device::plan_partition(thrust::device_vector<int>(3), 0), ucx_error,
      Catch::Predicate<ucx_error>([](const ucx_error& e) { return e.code() == std::errc::invalid_argument; }));
}
