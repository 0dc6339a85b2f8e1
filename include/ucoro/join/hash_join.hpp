#pragma once
// The distributed hash join: co_await join::hash_join(comm, left, right, o)
// returns this rank's part of the result.
//
//   shuffle:   both sides hash-partitioned by key into one part per rank
//              (times M, see over_decomposition), the parts exchanged with
//              all_to_allv, and what arrived joined locally. Each key meets
//              its matches on exactly one rank.
//   broadcast: the smaller side is gathered on every rank whole and joined
//              with the other side's local rows, which never move: cheaper
//              when one side is small (the global sizes come from an
//              all-reduce first). Any join may broadcast its right side;
//              only an inner join its left side: a left, semi or anti join
//              decides once per left row whether it met any right row,
//              which no rank can do when the right rows are spread out.
//
// Over-decomposition (M > 1) splits each rank's parts into M batches: while
// a compute thread joins batch k, the worker's thread shuffles batch k+1.

#include <ucoro/comm/communicator.hpp>
#include <ucoro/error.hpp>
#include <ucoro/join/local_join.hpp>
#include <ucoro/join/partition.hpp>
#include <ucoro/join/shuffle.hpp>
#include <ucoro/join/table.hpp>
#include <ucoro/runtime/event.hpp>
#include <ucoro/runtime/when_all.hpp>

#include <algorithm>
#include <any>
#include <array>
#include <chrono>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

namespace ucoro::join {

enum class join_algorithm { automatic, shuffle, broadcast };

/// Which side a broadcast gathers on every rank.
enum class broadcast_side { automatic, left, right };

[[nodiscard]] constexpr const char* to_string(join_algorithm a) noexcept {
  return a == join_algorithm::shuffle ? "shuffle" : a == join_algorithm::broadcast ? "broadcast" : "automatic";
}

[[nodiscard]] constexpr const char* to_string(broadcast_side s) noexcept {
  return s == broadcast_side::left ? "left" : s == broadcast_side::right ? "right" : "automatic";
}

/// What a hash_join did on this rank. Phase times are seconds of wall time
/// on the thread that ran them (with M > 1, join overlaps shuffle).
struct hash_join_report {
  join_algorithm algorithm = join_algorithm::automatic;
  /// The side gathered on every rank (automatic when not broadcast).
  broadcast_side broadcast = broadcast_side::automatic;
  const char* reason = "";
  std::uint64_t left_rows = 0, right_rows = 0; ///< global
  std::uint64_t rows_out = 0;                  ///< this rank's result
  double partition_s = 0, shuffle_s = 0, join_s = 0, output_s = 0, total_s = 0;
  /// join_s split: radix-partitioning and building the tables, probing.
  double build_s = 0, probe_s = 0;
  /// M > 1: the share of the smaller of shuffle and join (over the batches
  /// that ran side by side) that was hidden behind the other; 1 is perfect
  /// overlap, 0 none. NaN for M = 1.
  double overlap_efficiency = std::numeric_limits<double>::quiet_NaN();
  shuffle_bytes bytes; ///< moved to and from other ranks
};

struct hash_join_options {
  join_how how = join_how::inner;
  join_algorithm algorithm = join_algorithm::automatic;
  /// Under broadcast, the side to gather: automatic takes the smaller one
  /// the join kind allows (left only for an inner join). left with another
  /// kind of join is invalid_argument.
  broadcast_side broadcast = broadcast_side::automatic;
  std::uint32_t over_decomposition = 1; ///< M: batches per rank (shuffle)
  /// automatic broadcasts a side when it has at most this many rows in all,
  /// and broadcasting it moves at most broadcast_share of the rows shuffling
  /// both sides would (the smaller side, if both qualify and the join kind
  /// allows either).
  std::uint64_t broadcast_max_rows = 1 << 20;
  /// Broadcasting S rows moves S*(n-1) per rank's worth, shuffling
  /// (L+R)*(n-1)/n, but every rank then also builds all S rows. Measured
  /// (bench/join.py --broadcast-sweep, 10 M left rows, docs/performance.md):
  /// broadcast and shuffle break even at S/L ~0.3 on 2 ranks and ~0.1-0.15
  /// on 4; a share of 1/2 (S*n <= (L+R)/2) puts the switch at 1/3 and 1/7.
  double broadcast_share = 0.5;
  std::uint64_t seed = default_seed;
  std::size_t rows_per_part = local_join_options{}.rows_per_part;
  /// Threads for each local join (radix passes and parts), besides the
  /// worker's: for a rank with more cores than one. The result is the same.
  unsigned threads = 1;
  all_to_all_options exchange{};
  hash_join_report* report = nullptr;
  /// The local join's tables and scratch, reused across calls if set (its
  /// pages are then faulted in once; see hash_table_memory).
  hash_table_memory* memory = nullptr;
};

/// One rank's result: the key, the left payloads, then the right payloads.
/// A left join's unmatched row has matched[i] == 0 and zeros in its right
/// columns; semi and anti joins leave the right columns empty.
template <join_table L, join_table R>
struct joined {
  key_column_t<typename L::key_type> keys;
  typename L::payloads_type left;
  typename R::payloads_type right;
  std::vector<std::uint8_t> matched; ///< left join only
  [[nodiscard]] std::size_t size() const noexcept { return keys.size(); }
};

/// Appends the rows `idx` names (rows of l and r) to `out`, each column
/// gathered straight into its place.
template <join_table L, join_table R>
void append_rows(joined<L, R>& out, const L& l, const R& r, const join_indices& idx, join_how how,
                 std::uint64_t seed = default_seed) {
  using Key = typename L::key_type;
  if constexpr (std::integral<Key>) { // the keys come back from their hashes: a stream, not a gather
    const std::size_t old = out.keys.size();
    resize_huge(out.keys, old + idx.hashes.size());
    Key* at = out.keys.data() + old;
    for (std::size_t i = 0; i < idx.hashes.size(); ++i)
      at[i] = key_of_hash<Key>(idx.hashes[i], seed);
  } else { // a string's hash is no bijection: the left rows' keys are gathered
    append_gathered(out.keys, l.keys, std::span<const row_index>(idx.left));
  }
  for_each_column_pair(l.payloads, out.left,
                       [&](const auto& column, auto& to) { append_gathered(to, column, std::span(idx.left)); });
  if (how != join_how::inner && how != join_how::left)
    return;
  for_each_column_pair(r.payloads, out.right,
                       [&](const auto& column, auto& to) { append_gathered(to, column, std::span(idx.right)); });
  if (how == join_how::left)
    for (row_index row : idx.right)
      out.matched.push_back(row == no_row ? 0 : 1);
}

/// local_join of two tables' key columns, whatever their kind.
template <join_table L, join_table R>
void local_join_keys(const L& l, const R& r, join_how how, local_join_options o, join_indices& out) {
  using Key = typename L::key_type;
  if constexpr (std::integral<Key>)
    local_join(std::span<const Key>(l.keys), std::span<const Key>(r.keys), how, o, out);
  else
    local_join(l.keys, r.keys, how, o, out);
}

namespace detail {

using join_clock = std::chrono::steady_clock;
[[nodiscard]] inline double seconds_since(join_clock::time_point t0) {
  return std::chrono::duration<double>(join_clock::now() - t0).count();
}

/// Runs f on a thread of its own while this worker keeps progressing
/// (other tasks, e.g. the next batch's shuffle, run meanwhile).
template <class F>
task<void> on_compute_thread(worker& w, F& f) {
  struct state {
    explicit state(worker& w) : done(w) {}
    event done;
    std::exception_ptr error;
  };
  auto s = std::make_shared<state>(w);
  std::thread thread([s, &w, &f] {
    try {
      f();
    } catch (...) {
      s->error = std::current_exception();
    }
    w.post([s] { s->done.set(); });
  });
  std::exception_ptr waited;
  try {
    co_await s->done.wait();
  } catch (...) {
    waited = std::current_exception();
  }
  thread.join(); // f's references live in the caller's frame: never leave it running
  if (s->error)
    std::rethrow_exception(s->error);
  if (waited)
    std::rethrow_exception(waited);
}

/// Both sides' batch, one after the other: a collective takes its round
/// when it starts, so two shuffles side by side would start their column
/// exchanges in whichever order their counts arrived, which differs
/// between ranks.
template <join_table L, join_table R>
task<void> shuffle_both(communicator& comm, const partitioned<L>& pl, const partitioned<R>& pr,
                        std::vector<std::size_t> parts, all_to_all_options o, L& out_l, R& out_r,
                        shuffle_bytes& bytes) {
  co_await shuffle_into(comm, pl, out_l, parts, o, &bytes);
  co_await shuffle_into(comm, pr, out_r, std::move(parts), o, &bytes);
}

/// What hash_join allocates per call besides the local join's tables: kept
/// in hash_table_memory::tables() so that repeated joins reuse it.
template <join_table L, join_table R>
struct join_scratch {
  partitioned<L> pl;
  partitioned<R> pr;
  partition_plan plan;
  L cur_l, next_l;
  R cur_r, next_r;
  join_indices idx; ///< the matches of a batch, reused batch to batch
};

/// Awaits `a`, adding its wall time to `seconds`.
template <class Awaitable>
task<void> timed(Awaitable a, double& seconds) {
  const auto t0 = join_clock::now();
  co_await std::move(a);
  seconds += seconds_since(t0);
}

template <join_table L, join_table R>
[[nodiscard]] joined<L, R> empty_result(const L& l, const R& r) {
  joined<L, R> out;
  out.left = empty_columns_like(l.payloads);
  out.right = empty_columns_like(r.payloads);
  return out;
}

} // namespace detail

template <join_table L, join_table R>
  requires std::same_as<typename L::key_type, typename R::key_type>
[[nodiscard]] task<joined<L, R>> hash_join(communicator& comm, const L& left, const R& right,
                                           hash_join_options o = {}) {
  using detail::join_clock;
  using detail::seconds_since;
  check_shape(left, "hash_join (left)");
  check_shape(right, "hash_join (right)");
  if (o.over_decomposition == 0)
    throw_invalid_argument("hash_join: over_decomposition must be at least 1");
  const auto start = join_clock::now();
  hash_join_report report;
  const std::uint32_t n = comm.size();
  const auto totals = co_await comm.all_reduce(std::array<std::uint64_t, 2>{left.size(), right.size()},
                                               [](auto a, const auto& b) {
                                                 a[0] += b[0];
                                                 a[1] += b[1];
                                                 return a;
                                               });
  report.left_rows = totals[0];
  report.right_rows = totals[1];
  report.algorithm = o.algorithm;
  const bool inner = o.how == join_how::inner;
  if (o.broadcast == broadcast_side::left && !inner)
    throw_invalid_argument(std::string("hash_join: a ") + to_string(o.how) +
                           " join cannot broadcast its left side (each left row must meet every right row on one "
                           "rank); broadcast the right side or shuffle");
  if (o.algorithm == join_algorithm::automatic) {
    // Broadcasting a side of S rows moves S*(n-1) rows per rank's worth;
    // shuffling moves (L+R)*(n-1)/n (see broadcast_share).
    const auto small = [&](std::uint64_t rows) {
      return n > 1 && rows <= o.broadcast_max_rows &&
             static_cast<double>(rows) * n <= o.broadcast_share * static_cast<double>(totals[0] + totals[1]);
    };
    const bool right_ok = small(totals[1]) && o.broadcast != broadcast_side::left;
    const bool left_ok = small(totals[0]) && inner && o.broadcast != broadcast_side::right;
    if (left_ok && (!right_ok || totals[0] < totals[1])) {
      report.algorithm = join_algorithm::broadcast;
      report.broadcast = broadcast_side::left;
      report.reason = "left side small (an inner join): broadcast it, the right rows stay";
    } else if (right_ok) {
      report.algorithm = join_algorithm::broadcast;
      report.broadcast = broadcast_side::right;
      report.reason = "right side small: broadcast it, the left rows stay";
    } else {
      report.algorithm = join_algorithm::shuffle;
      report.reason = small(totals[0]) && !inner
                          ? "left side small, but a left, semi or anti join decides each left row where all its "
                            "right rows meet: shuffle by key"
                          : "both sides large: shuffle by key";
    }
  } else {
    report.reason = "as asked";
    if (o.algorithm == join_algorithm::broadcast)
      report.broadcast = o.broadcast != broadcast_side::automatic ? o.broadcast
                         : inner && totals[0] < totals[1]     ? broadcast_side::left
                                                              : broadcast_side::right;
  }
  std::optional<hash_table_memory> own_memory;
  hash_table_memory& memory = o.memory != nullptr ? *o.memory : own_memory.emplace();
  auto* scratch = std::any_cast<detail::join_scratch<L, R>>(&memory.tables());
  if (scratch == nullptr)
    scratch = &memory.tables().template emplace<detail::join_scratch<L, R>>();
  local_join_times times;
  local_join_options lo{o.rows_per_part, o.seed, &memory, &times, o.threads};
  joined<L, R> out = detail::empty_result(left, right);
  join_indices& idx = scratch->idx;
  auto join_batch = [&](const L& l, const R& r) {
    auto t0 = join_clock::now();
    local_join_keys(l, r, o.how, lo, idx);
    report.join_s += seconds_since(t0);
    t0 = join_clock::now();
    append_rows(out, l, r, idx, o.how, o.seed);
    report.output_s += seconds_since(t0);
  };
  double overlapped_shuffle = 0, overlapped_join = 0, overlapped_wall = 0;

  if (n == 1 && o.over_decomposition == 1) { // nothing to move: joined where they are
    report.reason = "one rank: joined in place";
    join_batch(left, right);
  } else if (report.algorithm == join_algorithm::broadcast) {
    // Every rank sends its whole table (part 0 of one) to every rank.
    const auto gather_whole = [&]<join_table T>(const T& mine, T& all) -> task<void> {
      auto t0 = join_clock::now();
      const partitioned<T> whole{mine, {0, mine.size()}};
      report.partition_s += seconds_since(t0);
      t0 = join_clock::now();
      co_await shuffle_into(comm, whole, all, std::vector<std::size_t>(n, 0), o.exchange, &report.bytes);
      report.shuffle_s += seconds_since(t0);
    };
    if (report.broadcast == broadcast_side::right) {
      co_await gather_whole(right, scratch->cur_r);
      join_batch(left, scratch->cur_r);
    } else {
      co_await gather_whole(left, scratch->cur_l);
      join_batch(scratch->cur_l, right);
    }
  } else {
    const std::uint32_t m = o.over_decomposition;
    auto t0 = join_clock::now();
    partitioned<L>& pl = scratch->pl;
    partitioned<R>& pr = scratch->pr;
    partition_into(left, n * m, o.seed, pl, scratch->plan);
    partition_into(right, n * m, o.seed, pr, scratch->plan);
    report.partition_s += seconds_since(t0);
    // rank_of(h, n*m) / m == rank_of(h, n): batch k of rank r is part r*m + k.
    auto parts_of = [&](std::uint32_t k) {
      std::vector<std::size_t> parts(n);
      for (std::uint32_t r = 0; r < n; ++r)
        parts[r] = std::size_t{r} * m + k;
      return parts;
    };
    L &cur_l = scratch->cur_l, &next_l = scratch->next_l;
    R &cur_r = scratch->cur_r, &next_r = scratch->next_r;
    t0 = join_clock::now();
    co_await detail::shuffle_both(comm, pl, pr, parts_of(0), o.exchange, cur_l, cur_r, report.bytes);
    report.shuffle_s += seconds_since(t0);
    for (std::uint32_t k = 0; k < m; ++k) {
      if (k + 1 == m) {
        join_batch(cur_l, cur_r);
        break;
      }
      double join_wall = 0, shuffle_wall = 0;
      auto compute = [&] {
        const auto c0 = join_clock::now();
        join_batch(cur_l, cur_r);
        join_wall = seconds_since(c0);
      };
      t0 = join_clock::now();
      co_await when_all(detail::timed(detail::shuffle_both(comm, pl, pr, parts_of(k + 1), o.exchange, next_l, next_r,
                                                           report.bytes),
                                      shuffle_wall),
                        detail::on_compute_thread(comm.get_worker(), compute));
      overlapped_wall += seconds_since(t0);
      overlapped_shuffle += shuffle_wall;
      overlapped_join += join_wall;
      report.shuffle_s += shuffle_wall;
      std::swap(cur_l, next_l); // the old batch's columns take the next one
      std::swap(cur_r, next_r);
    }
  }
  if (n > 1 && o.over_decomposition > 1 && report.algorithm == join_algorithm::shuffle) {
    const double smaller = std::min(overlapped_shuffle, overlapped_join);
    const double hidden = overlapped_shuffle + overlapped_join - overlapped_wall;
    report.overlap_efficiency = smaller > 0 ? std::clamp(hidden / smaller, 0.0, 1.0) : 0.0;
  }
  report.build_s = times.radix_s + times.build_s;
  report.probe_s = times.probe_s;
  report.rows_out = out.size();
  report.total_s = seconds_since(start);
  if (o.report != nullptr)
    *o.report = report;
  co_return out;
}

/// hash_join with the smaller side (o.broadcast: or the one named) gathered
/// on every rank and joined with the other side's rows where they are: for
/// a side small enough that every rank holds it whole.
template <join_table L, join_table R>
  requires std::same_as<typename L::key_type, typename R::key_type>
[[nodiscard]] task<joined<L, R>> broadcast_join(communicator& comm, const L& left, const R& right,
                                                hash_join_options o = {}) {
  o.algorithm = join_algorithm::broadcast;
  co_return co_await hash_join(comm, left, right, o);
}

} // namespace ucoro::join
