// The same rank as an MPI program: MPI_Init, then bootstrap_mpi over
// MPI_COMM_WORLD; the scenarios are comm_rank.cpp's.

#include "comm_rank.hpp"
#include <ucoro/communicator_mpi.hpp>

using namespace ucoro;

namespace {

task<communicator> bootstrap(worker& w, bootstrap_options o) {
  // [snippet:mpi]
  communicator comm = co_await communicator::bootstrap_mpi(w, MPI_COMM_WORLD, o);
  // [/snippet:mpi]
  co_return comm;
}

} // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const int status = ucoro::test::run_rank(argc, argv, bootstrap);
  MPI_Finalize();
  return status;
}
