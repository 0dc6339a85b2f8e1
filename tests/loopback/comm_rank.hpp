#pragma once
// One rank of a communicator test job (comm_rank.cpp): the scenarios, run
// after a bootstrap the program chooses. Two programs share them, compiled
// once: comm_rank_main.cpp bootstraps from UCORO_* variables,
// comm_rank_mpi.cpp through MPI.

#include <ucoro/communicator.hpp>
#include <ucoro/task.hpp>
#include <ucoro/worker.hpp>

namespace ucoro::test {

/// How the rank gets its communicator (the options come from argv).
using bootstrap_function = task<communicator> (*)(worker&, bootstrap_options);

/// Runs the scenario argv[1] names; returns the process's exit status.
int run_rank(int argc, char** argv, bootstrap_function bootstrap);

} // namespace ucoro::test
