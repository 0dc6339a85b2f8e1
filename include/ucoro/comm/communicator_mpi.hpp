#pragma once
// A communicator over an MPI program's ranks: the only ucoro header that
// needs mpi.h.
//
//   MPI_Init(&argc, &argv);
//   ucoro::communicator comm = co_await ucoro::communicator::bootstrap_mpi(worker, MPI_COMM_WORLD);
//
// Collective over the MPI communicator: each rank's table entry (worker
// address, identity, host) is all-gathered with MPI_Allgather(v), and the
// ucoro ranks are the MPI ranks of `comm`. MPI is used for nothing else, so
// the MPI library's own transport (ob1, pml ucx) does not matter; MPI must
// stay initialized only during bootstrap_mpi.

#include <ucoro/comm/communicator.hpp>

// MPI's C API is all this needs; the deprecated C++ bindings (Open MPI's,
// MPICH's) do not compile warning-free.
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#if !UCORO_HAS_MPI
#error "ucoro/communicator_mpi.hpp needs mpi.h: compile with mpicxx, or add `pkg-config --cflags --libs mpi-cxx` (UCORO_HAS_MPI is 0)"
#endif
#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ucoro::detail {

template <>
struct mpi_address_exchange<MPI_Comm> {
  struct result {
    std::uint32_t rank = 0;
    std::vector<hello::table_entry> table;
  };

  static void check(int rc, const char* call) {
    if (rc == MPI_SUCCESS)
      return;
    char text[MPI_MAX_ERROR_STRING] = {};
    int length = 0;
    MPI_Error_string(rc, text, &length);
    throw_error(std::make_error_code(std::errc::io_error),
                std::string("communicator::bootstrap_mpi: ") + call + ": " + std::string(text, length));
  }

  static result run(MPI_Comm comm, const hello::table_entry& self) {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (!initialized || finalized)
      throw_invalid_argument(
          "communicator::bootstrap_mpi: MPI is not initialized (call MPI_Init first, and MPI_Finalize after)");
    if (comm == MPI_COMM_NULL)
      throw_invalid_argument("communicator::bootstrap_mpi: MPI_COMM_NULL");
    // Errors come back as codes, not as the default abort, during the exchange.
    MPI_Errhandler previous;
    check(MPI_Comm_get_errhandler(comm, &previous), "MPI_Comm_get_errhandler");
    check(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    struct restore {
      MPI_Comm comm;
      MPI_Errhandler handler;
      ~restore() {
        MPI_Comm_set_errhandler(comm, handler);
        MPI_Errhandler_free(&handler);
      }
    } restore_handler{comm, previous};

    int rank = 0, size = 0;
    check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
    check(MPI_Comm_size(comm, &size), "MPI_Comm_size");
    if (size <= 0 || static_cast<std::uint64_t>(size) > hello::max_ranks)
      throw_invalid_argument("communicator::bootstrap_mpi: " + std::to_string(size) + " ranks");
    const std::vector<std::byte> mine = encode_table_entry(self);
    const int length = static_cast<int>(mine.size());
    std::vector<int> lengths(static_cast<std::size_t>(size)), offsets(static_cast<std::size_t>(size));
    check(MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, comm), "MPI_Allgather");
    std::size_t total = 0;
    for (int r = 0; r < size; ++r) {
      if (lengths[r] <= 0 || static_cast<std::size_t>(lengths[r]) > hello::max_body + hello::header_size)
        throw_invalid_argument("communicator::bootstrap_mpi: rank " + std::to_string(r) + " publishes " +
                               std::to_string(lengths[r]) + " bytes (a ucoro rank of another version?)");
      offsets[r] = static_cast<int>(total);
      total += static_cast<std::size_t>(lengths[r]);
    }
    std::vector<std::byte> all(total);
    check(MPI_Allgatherv(mine.data(), length, MPI_BYTE, all.data(), lengths.data(), offsets.data(), MPI_BYTE, comm),
          "MPI_Allgatherv");
    result out;
    out.rank = static_cast<std::uint32_t>(rank);
    out.table.reserve(static_cast<std::size_t>(size));
    for (int r = 0; r < size; ++r)
      out.table.push_back(decode_table_entry(std::span(all).subspan(offsets[r], lengths[r]), static_cast<std::uint32_t>(r),
                                             "communicator::bootstrap_mpi"));
    return out;
  }
};

} // namespace ucoro::detail
