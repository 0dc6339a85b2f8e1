// The local join on one core, on the shape of the anchor baseline
// (../shared/anchors/join_baseline.cpp): N build rows with unique uniform
// 64-bit keys (splitmix64(i)), N probe rows that are a shuffle of them, so
// every probe row matches once. Both a cold call (fresh memory, as a
// program's first join sees it) and warm calls (memory reused, as every
// join after it) are timed; the matched pairs are materialized as row
// indices (the anchor only counts them), then checked outside the timing.
//
//   join_local [--rows N] [--repeat R] [--rows-per-part P]
//
// Prints one `run` line per timed call and `summary` lines with
// median [min-max] of build+probe rows/s.

#include "args.hpp"
#include "report.hpp"

#include <ucoro/join/local_join.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

} // namespace

int main(int argc, char** argv) try {
  std::size_t rows = 10'000'000;
  int repeat = 5;
  ucoro::join::local_join_options o;
  CLI::App app{"the local join on one core, cold and warm", "join_local"};
  app.add_option("--rows", rows);
  app.add_option("--repeat", repeat);
  app.add_option("--rows-per-part", o.rows_per_part);
  bench::parse(app, argc, argv);
  std::vector<std::int64_t> build(rows), probe;
  for (std::size_t i = 0; i < rows; ++i)
    build[i] = static_cast<std::int64_t>(splitmix64(i));
  probe = build;
  std::shuffle(probe.begin(), probe.end(), std::mt19937_64(42));
  std::printf("# local_join N_build=%zu N_probe=%zu rows_per_part=%zu (unique uniform keys, every probe matches once)\n",
              rows, rows, o.rows_per_part);

  using clock = std::chrono::steady_clock;
  auto check = [&](const ucoro::join::join_indices& idx) {
    if (idx.left.size() != rows || idx.right.size() != rows)
      throw std::runtime_error("wrong match count " + std::to_string(idx.left.size()));
    for (std::size_t i = 0; i < rows; ++i)
      if (probe[idx.left[i]] != build[idx.right[i]])
        throw std::runtime_error("mismatched pair at " + std::to_string(i));
  };
  auto time_one = [&](ucoro::join::join_indices& out) {
    const auto t0 = clock::now();
    ucoro::join::local_join(std::span<const std::int64_t>(probe), std::span<const std::int64_t>(build),
                            ucoro::join::join_how::inner, o, out);
    return std::chrono::duration<double>(clock::now() - t0).count();
  };
  std::vector<double> cold, warm;
  ucoro::join::hash_table_memory memory;
  ucoro::join::join_indices reused;
  for (int r = 0; r < repeat; ++r) {
    { // cold: a fresh table and fresh output, as a first join
      ucoro::join::join_indices fresh;
      ucoro::join::local_join_options co = o;
      co.memory = nullptr;
      const auto t0 = clock::now();
      ucoro::join::local_join(std::span<const std::int64_t>(probe), std::span<const std::int64_t>(build),
                              ucoro::join::join_how::inner, co, fresh);
      const double s = std::chrono::duration<double>(clock::now() - t0).count();
      check(fresh);
      cold.push_back(2.0 * static_cast<double>(rows) / s / 1e6);
      std::printf("run local_join_cold rep=%d s=%.3f total_Mrows_s=%.2f\n", r, s, cold.back());
    }
    o.memory = &memory;
    if (r == 0)
      (void)time_one(reused); // the warm-up that faults the reused memory in
    const double s = time_one(reused);
    check(reused);
    warm.push_back(2.0 * static_cast<double>(rows) / s / 1e6);
    std::printf("run local_join_warm rep=%d s=%.3f total_Mrows_s=%.2f\n", r, s, warm.back());
    std::fflush(stdout);
  }
  std::printf("summary local_join_cold total_Mrows_s %s\n", bench::spread(bench::summarize(cold)).c_str());
  std::printf("summary local_join_warm total_Mrows_s %s\n", bench::spread(bench::summarize(warm)).c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "join_local: %s\n", e.what());
  return 1;
}
