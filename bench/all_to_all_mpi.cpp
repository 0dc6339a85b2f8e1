// The Open MPI reference for bench/all_to_all: MPI_Alltoall and
// MPI_Alltoallv (uniform counts) over MPI_BYTE, timed as
// ../shared/anchors/alltoall_mpi.c times them: per repetition a barrier,
// the collective, and the slowest rank's time. Prints, from rank 0, one
// line per (op, block): "mpi OP BLOCK P MEDIAN_US MIN_US MAX_US".
//
// --buffers gives it the memory each ucoro row has, like for like:
// `vector` (std::vector, what a user passes) or `pool` (page-aligned,
// huge-page-advised, pre-touched, as ucoro::host_memory is).
//
//   mpirun -n P all_to_all_mpi [--iterations N] [--buffers vector|pool] BLOCK...

#include <mpi.h>

#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

/// A byte buffer of either kind; filled (touched) when made.
class buffer {
public:
  buffer(std::size_t size, bool huge) {
    if (!huge) {
      m_vector.assign(size, 0);
      m_data = m_vector.data();
      return;
    }
    constexpr std::size_t huge_page = std::size_t{2} << 20;
    const std::size_t alignment = size >= huge_page ? huge_page : 4096;
    m_huge = std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
    if (m_huge == nullptr)
      std::abort();
    if (size >= huge_page)
      (void)::madvise(m_huge, size, MADV_HUGEPAGE);
    std::memset(m_huge, 0, size);
    m_data = static_cast<unsigned char*>(m_huge);
  }
  buffer(const buffer&) = delete;
  buffer& operator=(const buffer&) = delete;
  ~buffer() { std::free(m_huge); }
  unsigned char* data() const { return m_data; }
  unsigned char& operator[](std::size_t i) const { return m_data[i]; }

private:
  std::vector<unsigned char> m_vector;
  void* m_huge = nullptr;
  unsigned char* m_data = nullptr;
};

} // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, ranks = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  int iterations = 0;
  std::vector<std::size_t> blocks;
  bool pool = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--iterations" && i + 1 < argc)
      iterations = std::atoi(argv[++i]);
    else if (std::string(argv[i]) == "--buffers" && i + 1 < argc)
      pool = std::string(argv[++i]) == "pool";
    else
      blocks.push_back(std::strtoull(argv[i], nullptr, 10));
  }
  int status = 0;
  for (const std::size_t block : blocks) {
    const int reps = iterations > 0 ? iterations : block <= 65536 ? 200 : block <= (1U << 20) ? 30 : 6;
    const std::size_t total = block * static_cast<std::size_t>(ranks);
    buffer send(total, pool), recv(total, pool); // touched when made, as the anchor's
    std::vector<int> counts(ranks, static_cast<int>(block)), offsets(ranks);
    for (int r = 0; r < ranks; ++r) {
      offsets[r] = static_cast<int>(block * r);
      std::memset(send.data() + block * r, rank * 16 + r + 1, block);
    }
    for (int op = 0; op < 2; ++op) {
      std::vector<double> times;
      for (int i = -2; i < reps; ++i) { // two warm-up rounds
        MPI_Barrier(MPI_COMM_WORLD);
        const double t0 = MPI_Wtime();
        if (op == 0)
          MPI_Alltoall(send.data(), static_cast<int>(block), MPI_BYTE, recv.data(), static_cast<int>(block), MPI_BYTE,
                       MPI_COMM_WORLD);
        else
          MPI_Alltoallv(send.data(), counts.data(), offsets.data(), MPI_BYTE, recv.data(), counts.data(),
                        offsets.data(), MPI_BYTE, MPI_COMM_WORLD);
        double dt = MPI_Wtime() - t0, slowest = 0;
        MPI_Allreduce(&dt, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (i >= 0)
          times.push_back(slowest * 1e6);
      }
      for (int s = 0; s < ranks && block > 0; ++s)
        if (recv[block * s] != static_cast<unsigned char>(s * 16 + rank + 1) ||
            recv[block * s + block - 1] != static_cast<unsigned char>(s * 16 + rank + 1))
          status = 1;
      std::sort(times.begin(), times.end());
      if (rank == 0)
        std::printf("mpi %s %zu %d %.3f %.3f %.3f\n", op == 0 ? "alltoall" : "alltoallv", block, ranks,
                    times[times.size() / 2], times.front(), times.back());
      std::fflush(stdout);
    }
  }
  int any = 0;
  MPI_Allreduce(&status, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0 && any != 0)
    std::printf("error: wrong contents\n");
  MPI_Finalize();
  return any;
}
