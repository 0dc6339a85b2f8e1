// A communicator test rank bootstrapped from UCORO_RANK/SIZE/ROOT/JOB (or
// none: a singleton); the scenarios are comm_rank.cpp's.

#include "comm_rank.hpp"

namespace {

ucoro::task<ucoro::communicator> bootstrap(ucoro::worker& w, ucoro::bootstrap_options o) {
  co_return co_await ucoro::communicator::bootstrap(w, o);
}

} // namespace

int main(int argc, char** argv) { return ucoro::test::run_rank(argc, argv, bootstrap); }
