// A token passes around the ring of ranks, each adding its rank, and every
// rank all-reduces a checksum of what it saw. Runs as one process, or as N
// ranks started by anything that sets UCORO_RANK, UCORO_SIZE and
// UCORO_ROOT=host:port (scripts/launch-local.sh N build/examples/ring), or by
// mpirun / srun --mpi=pmix (PMIx):
//
//   UCORO_RANK=0 UCORO_SIZE=2 UCORO_ROOT=127.0.0.1:29500 ./ring &
//   UCORO_RANK=1 UCORO_SIZE=2 UCORO_ROOT=127.0.0.1:29500 ./ring
//   mpirun -n 4 ./ring

#include <ucoro/communicator.hpp>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <span>

int main() {
  using namespace std::chrono_literals;
  try {
    ucoro::context ctx;
    ucoro::worker worker{ctx};
    worker.run(ucoro::with_timeout(
        [&]() -> ucoro::task<void> {
          // [snippet:ring]
          ucoro::communicator comm = co_await ucoro::communicator::bootstrap(worker);
          const std::uint32_t me = comm.rank(), n = comm.size();
          std::uint64_t token = 0;
          if (me != 0) // wait for the token from the left
            (void)co_await comm.recv(me - 1, std::span(&token, 1), /*tag=*/1);
          token += me;
          co_await comm.send((me + 1) % n, std::span(&token, 1), 1);
          if (me == 0) // it comes back around
            (void)co_await comm.recv(n - 1, std::span(&token, 1), 1);
          const std::uint64_t checksum = co_await comm.all_reduce(token, std::plus<>{});
          // [/snippet:ring]
          const std::uint64_t ring_sum = std::uint64_t{n} * (n - 1) / 2;
          std::printf("rank %u of %u (%s): token %llu, checksum %llu\n", me, n, ucoro::to_string(comm.bootstrap_info()),
                      static_cast<unsigned long long>(token), static_cast<unsigned long long>(checksum));
          if (me == 0 && token != ring_sum)
            throw std::runtime_error("the token came back as " + std::to_string(token));
          co_await comm.barrier();
        }(),
        60s));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ring: %s\n", e.what());
    return 1;
  }
}
