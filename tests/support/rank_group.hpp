#pragma once
// N ranks in one process, for collective and join tests: each rank is a
// thread with its own UCX context and worker, and the ranks find each other
// through an explicit bootstrap (rank, size, a loopback root), as separate
// processes would. A case can then GENERATE over ranks, sizes and types
// without starting a child process per rank, and what a rank found wrong
// comes back in the test's own output, named by its rank (a child's reason
// sat in its stderr, behind "1 of 2 ranks ok"). Child processes remain for
// the kill tests: a thread cannot be killed.
//
// Bounded: each rank runs under with_timeout(bound); a rank that waits on a
// failed one ends with timed_out, named by its rank and step.

#include "check.hpp"
#include "free_port.hpp"

#include <ucoro/communicator.hpp>
#include <ucoro/runtime/task.hpp>
#include <ucoro/runtime/timer.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <string>
#include <thread>
#include <vector>

namespace ucoro::test {

/// Runs `body(comm, worker)` on `ranks` ranks at once, each on its own
/// thread, worker and communicator. Returns "" when every rank finished its
/// body, else one line per rank that did not: "rank R of N: what". The
/// body is called once per rank, concurrently: what it captures by
/// reference must only be read.
template <class Body>
[[nodiscard]] std::string run_rank_group(std::uint32_t ranks, Body body,
                                         std::chrono::milliseconds bound = std::chrono::seconds(60)) {
  const std::string root = "127.0.0.1:" + std::to_string(unused_fixed_port());
  std::vector<std::string> failures(ranks);
  std::vector<std::thread> threads;
  threads.reserve(ranks);
  for (std::uint32_t rank = 0; rank < ranks; ++rank)
    threads.emplace_back([&, rank] {
      try {
        context ctx;
        worker w{ctx};
        auto run = [&]() -> task<void> {
          bootstrap_options options;
          options.rank = rank;
          options.size = ranks;
          options.root = root;
          options.job = "rank-group " + root; // two groups never mix
          options.timeout = bound;
          communicator comm = co_await communicator::bootstrap(w, options);
          co_await body(comm, w);
        };
        w.run(with_timeout(run(), bound));
      } catch (const std::exception& e) {
        failures[rank] = e.what();
      } catch (...) {
        failures[rank] = "an exception of unknown type";
      }
    });
  for (auto& t : threads)
    t.join();
  std::string report;
  for (std::uint32_t rank = 0; rank < ranks; ++rank)
    if (!failures[rank].empty())
      report += "rank " + std::to_string(rank) + " of " + std::to_string(ranks) + ": " + failures[rank] + "\n";
  return report;
}

} // namespace ucoro::test
