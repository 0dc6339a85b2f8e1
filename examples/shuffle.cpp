// A hash shuffle, the heart of a distributed join: every rank holds rows
// (key, value), sends each to the rank that owns its key (key % ranks) with
// one all_to_allv, and checks that it received exactly the keys it owns.
// Runs as one process or as N ranks (scripts/launch-local.sh N
// build/examples/shuffle, mpirun -n N ./shuffle).

#include <ucoro/all_to_all.hpp>

#include <cstdint>
#include <cstdio>
#include <vector>

struct row {
  std::uint64_t key;
  std::uint64_t value;
};

int main() {
  using namespace std::chrono_literals;
  try {
    ucoro::context ctx;
    ucoro::worker worker{ctx};
    worker.run(ucoro::with_timeout(
        [&]() -> ucoro::task<void> {
          ucoro::communicator comm = co_await ucoro::communicator::bootstrap(worker);
          const std::uint32_t me = comm.rank(), n = comm.size();
          // 100000 rows per rank, keys spread over all ranks.
          std::vector<row> rows(100000);
          for (std::uint64_t i = 0; i < rows.size(); ++i)
            rows[i] = {i * n + me, me};
          // [snippet:shuffle]
          std::vector<std::vector<row>> parts(comm.size());
          for (const row& r : rows)
            parts[r.key % comm.size()].push_back(r); // hash partition
          ucoro::all_to_all_report report;
          ucoro::all_to_all_options options;
          options.report = &report;
          std::vector<std::vector<row>> mine = co_await ucoro::all_to_allv(comm, parts, options);
          // mine[r]: the rows rank r sent here, every key % comm.size() == comm.rank()
          // [/snippet:shuffle]
          std::size_t received = 0;
          for (std::uint32_t source = 0; source < n; ++source)
            for (const row& r : mine[source]) {
              if (r.key % n != me || r.value != source)
                throw std::runtime_error("rank " + std::to_string(me) + " got key " + std::to_string(r.key) +
                                         " from rank " + std::to_string(source));
              ++received;
            }
          const std::uint64_t total = co_await comm.all_reduce(std::uint64_t{received}, std::plus<>{});
          std::printf("rank %u of %u: %zu rows of its keys, %llu in all (%s: %s)\n", me, n, received,
                      static_cast<unsigned long long>(total), ucoro::to_string(report.algorithm), report.reason);
          if (total != std::uint64_t{100000} * n)
            throw std::runtime_error("rows lost: " + std::to_string(total));
          co_await comm.barrier();
        }(),
        120s));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shuffle: %s\n", e.what());
    return 1;
  }
}
