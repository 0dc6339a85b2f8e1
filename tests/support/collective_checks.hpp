#pragma once
// The all-to-all(v) and join checks a rank runs, shared by the in-process
// rank group (tests/loopback/rank_group.cpp, GENERATE over the cases) and
// the child-process ranks (tests/loopback/comm_rank.cpp). Each throws
// check_failed naming what it found; each ends in a barrier, so that no
// rank's buffers go while another still sends to them.

#include <ucoro/all_to_all.hpp>
#include <ucoro/communicator.hpp>

#include "check.hpp"
#include "join_check.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace ucoro::test {

/// A 7-byte element whose fields say where it came from and went.
struct record {
  std::uint32_t source;
  std::uint16_t destination;
  std::uint8_t index_low;
  friend bool operator==(const record&, const record&) = default;
};

/// Element `index` of what `source` sends `destination`: every element says
/// where it came from, where it goes and which it is.
template <class T>
T element(std::uint32_t source, std::uint32_t destination, std::size_t index) {
  if constexpr (std::is_same_v<T, record>)
    return record{source, static_cast<std::uint16_t>(destination), static_cast<std::uint8_t>(index)};
  else
    return static_cast<T>(source * 1000003ULL + destination * 10007ULL + index);
}

inline const all_to_all_algorithm algorithms[] = {all_to_all_algorithm::direct, all_to_all_algorithm::pairwise,
                                                  all_to_all_algorithm::bruck, all_to_all_algorithm::buffered,
                                                  all_to_all_algorithm::automatic};

template <class T>
task<void> check_all_to_all(communicator& comm, worker& w, all_to_all_algorithm algorithm, std::size_t block,
                            std::size_t zero_copy_above) {
  const std::uint32_t me = comm.rank(), n = comm.size();
  slab_pool pool{w, 64 << 10, std::max<std::size_t>(4, 2 * n)}; // 20000 8-byte elements take several slabs
  pool.warm_up();
  std::vector<T> send(block * n), recv(block * n);
  for (std::uint32_t d = 0; d < n; ++d)
    for (std::size_t i = 0; i < block; ++i)
      send[d * block + i] = element<T>(me, d, i);
  all_to_all_options o;
  o.algorithm = algorithm;
  o.pool = &pool;
  o.zero_copy_above = zero_copy_above;
  all_to_all_report report;
  o.report = &report;
  co_await all_to_all(comm, send, recv, o);
  for (std::uint32_t s = 0; s < n; ++s)
    for (std::size_t i = 0; i < block; ++i)
      check(recv[s * block + i] == element<T>(s, me, i),
            [&] { return "element " + std::to_string(i) + " from rank " + std::to_string(s) + " is wrong"; });
  check(algorithm == all_to_all_algorithm::automatic ? report.algorithm != all_to_all_algorithm::automatic
                                                     : report.algorithm == algorithm,
        std::string("the report says ") + to_string(report.algorithm));
  check(pool.available() == pool.capacity(), "not every pool slab came back");
  co_await comm.barrier(); // the pool and buffers stay until every rank is done with them
}

struct part_shape {
  const char* name;
  std::size_t (*count)(std::uint32_t source, std::uint32_t destination);
};
inline const part_shape part_shapes[] = {
    {"uneven parts, some empty",
     [](std::uint32_t s, std::uint32_t d) -> std::size_t { return (s * 3 + d * 5) % 7 * 1000; }},
    {"all empty", [](std::uint32_t, std::uint32_t) -> std::size_t { return 0; }},
    {"very skewed",
     [](std::uint32_t s, std::uint32_t d) -> std::size_t { return s == 0 && d == 1 ? 100000
                                                                  : s == d         ? 1
                                                                                   : 0; }},
};

template <class T>
task<void> check_all_to_allv(communicator& comm, worker& w, all_to_all_algorithm algorithm, const part_shape& shape) {
  const std::uint32_t me = comm.rank(), n = comm.size();
  slab_pool pool{w, 64 << 10, std::max<std::size_t>(4, 2 * n)};
  pool.warm_up();
  std::vector<std::vector<T>> parts(n);
  for (std::uint32_t d = 0; d < n; ++d)
    for (std::size_t i = 0; i < shape.count(me, d); ++i)
      parts[d].push_back(element<T>(me, d, i));
  all_to_all_options o;
  o.algorithm = algorithm;
  o.pool = &pool;
  const auto got = co_await all_to_allv(comm, parts, o);
  check(got.size() == n, std::to_string(got.size()) + " parts arrived");
  for (std::uint32_t s = 0; s < n; ++s) {
    check(got[s].size() == shape.count(s, me), "from rank " + std::to_string(s) + ": " + std::to_string(got[s].size()) +
                                                   " elements, expected " + std::to_string(shape.count(s, me)));
    for (std::size_t i = 0; i < got[s].size(); ++i)
      check(got[s][i] == element<T>(s, me, i),
            [&] { return "element " + std::to_string(i) + " from rank " + std::to_string(s) + " is wrong"; });
  }
  // Into given ranges of exactly the right sizes.
  std::vector<std::vector<T>> into(n);
  for (std::uint32_t s = 0; s < n; ++s)
    into[s].resize(shape.count(s, me));
  co_await all_to_allv(comm, parts, into, o);
  check(into == got, "into given ranges, the parts differ from the returned ones");
  check(pool.available() == pool.capacity(), "not every pool slab came back");
  co_await comm.barrier();
}

/// Wrong sizes, part counts and pools are invalid_argument (naming the
/// size where there is one); a range too
/// small for a part is message_size on that rank only, and the other parts
/// arrive.
inline task<void> check_all_to_all_errors(communicator& comm, worker& w) {
  const std::uint32_t me = comm.rank(), n = comm.size();
  std::vector<int> send(n * 2), shorter(n * 2 - 1);
  std::string unequal = "accepted";
  try {
    co_await all_to_all(comm, send, shorter);
  } catch (const ucx_error& e) {
    unequal = e.code() == std::errc::invalid_argument ? e.what() : e.code().message();
  }
  check(unequal.find(std::to_string(2 * n - 1)) != std::string::npos,
        "unequal send and recv, not invalid_argument naming the size: " + unequal);
  std::vector<std::vector<int>> too_few(n + 1);
  auto count = co_await as_result(all_to_allv(comm, too_few));
  check(count.error == std::errc::invalid_argument, "parts.size() != comm.size(): " + count.error.message());
  slab_pool tiny{w, 4096, 1};
  all_to_all_options o;
  o.algorithm = all_to_all_algorithm::buffered;
  o.pool = &tiny;
  auto small_pool = co_await as_result(all_to_all(comm, send, send, o));
  check(small_pool.error == std::errc::invalid_argument, "a one-slab pool: " + small_pool.error.message());
  if (n > 1) {
    std::vector<std::vector<int>> parts(n, std::vector<int>(10, static_cast<int>(me)));
    std::vector<std::vector<int>> into(n, std::vector<int>(10));
    if (me == 0)
      into[1].resize(5);
    auto r = co_await as_result(all_to_allv(comm, parts, into));
    if (me == 0) {
      check(r.error == std::errc::message_size, "a short range: " + r.error.message());
      for (std::uint32_t s = 0; s < n; ++s)
        check(s == 1 || into[s] == std::vector<int>(10, static_cast<int>(s)),
              "the part from rank " + std::to_string(s) + " did not arrive");
    } else {
      check(!r.error, "a rank with room for every part: " + r.error.message());
    }
  }
  co_await comm.barrier();
}

/// Every how for one key shape and algorithm: this rank's part of the join
/// is exactly the oracle's rows that belong to it.
inline task<void> check_join(communicator& comm, key_mode mode, join::join_algorithm algorithm,
                             unsigned over_decomposition,
                             join::broadcast_side side = join::broadcast_side::automatic) {
  constexpr std::size_t rows = 400;
  const std::uint32_t n = comm.size(), me = comm.rank();
  for (join::join_how how : {join::join_how::inner, join::join_how::left, join::join_how::semi, join::join_how::anti}) {
    if (side == join::broadcast_side::left && how != join::join_how::inner)
      continue; // refused (join.cpp's error case)
    join::hash_join_report report;
    const join::hash_join_options o = checked_join_options(how, algorithm, over_decomposition, side, report);
    const auto got =
        co_await join::hash_join(comm, make_side(mode, true, me, n, rows), make_side(mode, false, me, n, rows), o);
    check(side == join::broadcast_side::automatic || report.broadcast == side,
          [&] { return std::string("broadcast ") + join::to_string(report.broadcast); });
    const auto expected = oracle(mode, n, rows, how, owner(report, n, me));
    const auto mine = rows_of(got, how);
    check(mine == expected, [&] {
      return std::string(join::to_string(how)) + " join: " + std::to_string(mine.size()) + " rows, expected " +
             std::to_string(expected.size());
    });
  }
  co_await comm.barrier();
}

} // namespace ucoro::test
