#pragma once
// How a communicator found its ranks: `communicator::bootstrap_info()`.

namespace ucoro {

/// Which bootstrap made a communicator (docs/communicator.md).
enum class bootstrap_method { explicit_options, tcp_rendezvous, pmix, mpi, singleton };

[[nodiscard]] constexpr const char* to_string(bootstrap_method m) noexcept {
  switch (m) {
  case bootstrap_method::explicit_options: return "explicit options";
  case bootstrap_method::tcp_rendezvous: return "TCP rendezvous (UCORO_*)";
  case bootstrap_method::pmix: return "PMIx";
  case bootstrap_method::mpi: return "MPI communicator";
  case bootstrap_method::singleton: return "singleton";
  }
  return "?";
}

} // namespace ucoro
