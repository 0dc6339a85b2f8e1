// One rank of a communicator test job: bootstraps from the environment
// (UCORO_RANK/SIZE/ROOT/JOB, or none: a singleton), runs what argv[1]
// says, prints "rank R of N ok" and exits 0, or prints the error and exits 1.
//   basic:  ring token, tagged order, self-send, recv_any (into a buffer and
//           allocating), barrier,
//           all_gather, all_reduce, broadcast, argument errors
//   victim: after bootstrap and a barrier, prints "ready"; rank 1 then
//           waits to be killed; the others post a receive from rank 1 and
//           expect peer_failed naming it, then check recv_any from the live
//           ranks and print "survived"
//   victim_in_barrier, victim_streaming: rank 1 dies while the others
//           wait in a barrier with it / while it streams 64 MiB messages to
//           rank 0 (see victim_in)
// Options: --polling, --eager (connect every rank at bootstrap),
// --timeout-ms N (bootstrap bound, default 20000), --bound-ms N (the whole
// run's bound: 60 s, 200 s for the all-to-all and join suites).
//   stuck_in_barrier: rank 1 never enters a barrier; each rank's bound
//           ends it, and it prints the step it was waiting in
// Compiled once and linked into two programs that differ in how a rank
// bootstraps (comm_rank.hpp): ucoro_test_comm_rank (comm_rank_main.cpp,
// from UCORO_* variables) and ucoro_test_comm_rank_mpi (comm_rank_mpi.cpp,
// MPI_Init and bootstrap_mpi(MPI_COMM_WORLD)).

#include <ucoro/all_to_all.hpp>

#include "../support/collective_checks.hpp"
#include "comm_rank.hpp"
#include <ucoro/communicator.hpp>

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

using namespace ucoro;
using namespace std::chrono_literals;

namespace {

/// Throws "check failed: WHAT" unless `ok`. WHAT is a string, or a function
/// returning one: the per-element checks pass a lambda, so the message is
/// built only for the element that fails (building it for every element was
/// most of the all-to-all suite's CPU time under ASan).
template <class What>
void require(bool ok, What&& what) {
  if (ok)
    return;
  if constexpr (std::is_invocable_v<What&>)
    throw std::runtime_error("check failed: " + std::string(what()));
  else
    throw std::runtime_error("check failed: " + std::string(what));
}

/// What this rank is doing now, for the reports of a stuck rank: the
/// timeout's error message and, should the loop itself be stuck, the
/// watchdog (SIGALRM), which can only write(2) a fixed buffer.
char g_step[256] = "bootstrap";
void step(const std::string& what) { std::snprintf(g_step, sizeof g_step, "%s", what.c_str()); }

extern "C" void report_stuck(int) {
  constexpr char prefix[] = "error: stuck (watchdog) in ";
  (void)!::write(STDOUT_FILENO, prefix, sizeof prefix - 1);
  (void)!::write(STDOUT_FILENO, g_step, std::strlen(g_step));
  (void)!::write(STDOUT_FILENO, "\n", 1);
  ::_exit(124);
}

task<void> basic(communicator& comm, bool eager) {
  const std::uint32_t me = comm.rank(), n = comm.size();
  // Eager: every endpoint exists after bootstrap; lazy: none yet, except
  // that over the network a rank that connected to this one (and watches it
  // with heartbeats) is watched back, so connected to.
  const auto watched_back = [&](std::uint32_t r) {
    return comm.connected(r) && comm.peer(r).failure_detection().heartbeat_timeout.count() > 0;
  };
  for (std::uint32_t r = 0; r < n; ++r)
    require(comm.connected(r) == eager || watched_back(r),
            "rank " + std::to_string(r) + (eager ? " not connected" : " connected") + " before any message");
  // A token around the ring, each rank adding its rank.
  std::uint64_t token = 0;
  if (n > 1) {
    if (me == 0) {
      co_await comm.send(1 % n, std::span(&token, 1), 7);
      (void)co_await comm.recv(n - 1, std::span(&token, 1), 7);
    } else {
      (void)co_await comm.recv(me - 1, std::span(&token, 1), 7);
      token += me;
      co_await comm.send((me + 1) % n, std::span(&token, 1), 7);
    }
    if (me == 0)
      require(token == std::uint64_t{n} * (n - 1) / 2, "ring token " + std::to_string(token));
    // Lazy: the ring connected this rank to its two neighbours only.
    for (std::uint32_t r = 0; r < n && !eager; ++r)
      require(comm.connected(r) == (r == (me + 1) % n || r == (me + n - 1) % n) || watched_back(r),
              "after the ring, connected(" + std::to_string(r) + ") is " + (comm.connected(r) ? "true" : "false"));
  }
  // 100 messages with one tag to the next rank arrive in order.
  const std::uint32_t next = (me + 1) % n, prev = (me + n - 1) % n;
  auto sender = [&]() -> task<void> {
    for (std::uint32_t i = 0; i < 100; ++i)
      co_await comm.send(next, std::span(&i, 1), 9);
  };
  auto receiver = [&]() -> task<void> {
    for (std::uint32_t i = 0; i < 100; ++i) {
      std::uint32_t got = 0;
      (void)co_await comm.recv(prev, std::span(&got, 1), 9);
      require(got == i, [&] { return "message " + std::to_string(i) + " arrived as " + std::to_string(got); });
    }
  };
  co_await when_all(sender(), receiver());
  // To oneself.
  std::vector<std::byte> out(100000, std::byte{0x5A}), in(100000);
  co_await when_all(comm.send(me, out, 11), [&]() -> task<void> {
    require(co_await comm.recv(me, in, 11) == out.size(), "self size");
  }());
  require(in == out, "self bytes");
  // Everyone (rank 0 too) sends its rank to rank 0, which takes them in any order.
  std::uint32_t mine = me;
  auto collect = [&]() -> task<void> {
    if (me != 0)
      co_return;
    std::vector<bool> seen(n, false);
    for (std::uint32_t i = 0; i < n; ++i) {
      std::uint32_t value = 0;
      const recv_any_info info = co_await comm.recv_any(std::span(&value, 1), 13);
      require(info.source == value && info.size == sizeof value && !seen[info.source], "recv_any");
      seen[info.source] = true;
    }
  };
  co_await when_all(comm.send(0, std::span(&mine, 1), 13), collect());
  // The allocating recv_any (worker::recv_any's probe-and-take path): every
  // rank sends rank + 1 values of its rank (up to 1 MiB for rank 3, a
  // rendezvous) to the last rank, which learns each size from the message.
  auto collect_allocated = [&]() -> task<void> {
    if (me != n - 1)
      co_return;
    std::vector<bool> seen(n, false);
    for (std::uint32_t i = 0; i < n; ++i) {
      auto got = co_await comm.recv_any<std::vector<std::uint32_t>>(14);
      require(got.source < n && !seen[got.source], "allocating recv_any: source " + std::to_string(got.source));
      require(got.data.size() == (got.source == 3 ? 262144U : got.source + 1U),
              "allocating recv_any: " + std::to_string(got.data.size()) + " values from rank " +
                  std::to_string(got.source));
      require(std::all_of(got.data.begin(), got.data.end(), [&](std::uint32_t v) { return v == got.source; }),
              "allocating recv_any: the values");
      seen[got.source] = true;
    }
  };
  const std::vector<std::uint32_t> mine_many(me == 3 ? 262144U : me + 1U, me);
  co_await when_all(comm.send(n - 1, mine_many, 14), collect_allocated());
  co_await comm.barrier();
  const auto all = co_await comm.all_gather(me * 10);
  for (std::uint32_t r = 0; r < n; ++r)
    require(all[r] == r * 10, "all_gather[" + std::to_string(r) + "]");
  const auto sum = co_await comm.all_reduce(std::uint64_t{me} + 1, std::plus<>{});
  require(sum == std::uint64_t{n} * (n + 1) / 2, "all_reduce");
  for (std::uint32_t root = 0; root < n; ++root) {
    std::vector<std::uint32_t> data(1000, me == root ? root + 100 : 0);
    co_await comm.broadcast(data, root);
    require(data == std::vector<std::uint32_t>(1000, root + 100), "broadcast from " + std::to_string(root));
  }
  // Truncation and bad arguments are errors naming what was wrong.
  if (n > 1) {
    std::array<std::byte, 64> big{};
    std::array<std::byte, 8> small{};
    if (me == 0)
      co_await comm.send(1, big, 15);
    if (me == 1) {
      auto r = co_await as_result(comm.recv(0, small, 15));
      require(r.error == std::errc::message_size, "truncation: " + r.error.message());
    }
  }
  try {
    co_await comm.send(n, std::span(&mine, 1), 1);
    require(false, "rank out of range accepted");
  } catch (const ucx_error& e) {
    require(e.code() == std::errc::invalid_argument && std::string(e.what()).find("rank " + std::to_string(n)) !=
                                                           std::string::npos,
            "rank out of range error");
  }
  try {
    co_await comm.send(me, std::span(&mine, 1), communicator::max_tag + 1);
    require(false, "tag out of range accepted");
  } catch (const ucx_error& e) {
    require(e.code() == std::errc::invalid_argument, "tag out of range error");
  }
  co_await comm.barrier();
}

task<void> victim(worker& w, communicator& comm) {
  co_await comm.barrier();
  std::printf("ready\n");
  std::fflush(stdout);
  if (comm.rank() == 1) {
    co_await w.sleep(3600s); // not a wait for anything: this rank idles until the test kills it (its death is the behaviour under test)
    co_return;
  }
  std::uint32_t x = 0;
  auto r = co_await as_result(with_timeout(comm.recv(1, std::span(&x, 1), 3), 10s));
  require(r.error == errc::peer_failed, "recv from the killed rank: " + r.error.message());
  std::string failed;
  for (std::uint32_t r : comm.failed_ranks())
    failed += " " + std::to_string(r);
  require(comm.failed_ranks() == std::vector<std::uint32_t>{1}, "failed_ranks are" + failed + ", not 1");
  auto s = co_await as_result(comm.send(1, std::span(&x, 1), 3));
  require(s.error == errc::peer_failed, "send to the killed rank: " + s.error.message());
  // The live ranks still talk: each sends rank 0 its rank, and stays until
  // rank 0 has them all (a survivor that exits early would fail too, and
  // rank 0 would rightly list it).
  if (comm.rank() == 0) {
    for (std::uint32_t i = 2; i < comm.size(); ++i) {
      std::uint32_t v = 0;
      const auto info = co_await with_timeout(comm.recv_any(std::span(&v, 1), 5), 10s);
      require(info.source == v && v >= 2, "recv_any after the failure");
    }
    for (std::uint32_t r = 2; r < comm.size(); ++r)
      co_await comm.send(r, std::span(&x, 1), 6);
  } else {
    std::uint32_t v = comm.rank();
    co_await comm.send(0, std::span(&v, 1), 5);
    (void)co_await with_timeout(comm.recv(0, std::span(&x, 1), 6), 10s);
  }
  std::printf("survived\n");
  std::fflush(stdout);
}

/// Rank 1 sends rank 0 one message and exits at once, without closing:
/// rank 0's receive, pending meanwhile, gets the message (the link matches
/// what a dead peer sent before it fails its operations, peer_link::fail),
/// and only the next receive fails with peer_failed.
/// `late`: rank 0 posts its receive only once it knows rank 1 failed, so
/// the message waits in UCX's unexpected queue and the receive takes it
/// from there (comm_recv_op::post_after_failure).
task<void> send_exit(worker& w, communicator& comm, bool late) {
  co_await comm.barrier();
  std::uint64_t value = 0;
  if (comm.rank() == 1) {
    if (!late)
      co_await w.sleep(50ms); // rank 0's receive is posted by then: it is pending when the message comes
    std::printf("rank 1 of %u ok (%s)\n", comm.size(), to_string(comm.bootstrap_info()));
    std::fflush(stdout); // before the send: nothing between the send and the exit
    value = 42;
    co_await comm.send(0, std::span(&value, 1), 7);
    std::_Exit(0); // no close: the message and the exit race, as a crash after a send would
  }
  if (late) {
    for (int i = 0; i < 2000 && !comm.failed(1); ++i)
      co_await w.sleep(5ms); // a bounded poll (10 s): failed() has no event to await
    require(comm.failed(1), "rank 1's exit was not noticed within 10 s");
  }
  auto got = co_await as_result(with_timeout(comm.recv(1, std::span(&value, 1), 7), 10s));
  require(got.error == std::error_code{}, "the message rank 1 sent before it exited: " + got.error.message());
  require(value == 42, "the message rank 1 sent before it exited is " + std::to_string(value) + ", not 42");
  auto next = co_await as_result(with_timeout(comm.recv(1, std::span(&value, 1), 8), 10s));
  require(next.error == errc::peer_failed, "a receive after rank 1 exited: " + next.error.message());
}

/// Rank 1 dies while the others are in a barrier with it (barrier), or
/// while it streams 64 MiB messages to rank 0 (stream): the survivors'
/// operations fail with peer_failed instead of hanging.
task<void> victim_in(worker& w, communicator& comm, const std::string& where) {
  co_await comm.barrier();
  if (where == "stream" && comm.rank() == 1) {
    std::vector<std::byte> big(64 << 20, std::byte{1});
    for (int i = 0;; ++i) { // killed by the test
      co_await comm.send(0, big, 21);
      if (i == 0) {
        std::printf("ready\n");
        std::fflush(stdout);
      }
    }
  }
  if (where == "barrier" || comm.rank() == 2) {
    std::printf("ready\n");
    std::fflush(stdout);
  }
  if (comm.rank() == 1) {
    co_await w.sleep(3600s); // not a wait for anything: this rank idles until the test kills it (its death is the behaviour under test)
    co_return;
  }
  if (where == "barrier") {
    auto r = co_await as_result(with_timeout(comm.barrier(), 10s));
    require(r.error == errc::peer_failed, "barrier with a dead rank: " + r.error.message());
  } else if (comm.rank() == 0) {
    std::vector<std::byte> big(64 << 20);
    for (int i = 0;; ++i) {
      auto r = co_await as_result(with_timeout(comm.recv(1, big, 21), 10s));
      if (!r) {
        require(i > 0, "the first 64 MiB never arrived: " + r.error.message());
        require(r.error == errc::peer_failed, "recv of 64 MiB from a dead rank: " + r.error.message());
        break;
      }
      if (i == 0) {
        std::printf("ready\n"); // a transfer went through; the next ones are under way
        std::fflush(stdout);
      }
    }
  }
  std::printf("survived\n");
  std::fflush(stdout);
}

void say(const char* line) {
  std::printf("%s\n", line);
  std::fflush(stdout);
}

/// Awaits `start()` (each bounded by `bound`) until one fails, and
/// requires that failure to be peer_failed naming rank `who` and the missed
/// heartbeat as the cause.
template <class Start>
task<void> require_heartbeat_failure(Start start, std::uint32_t who, std::chrono::seconds bound, const std::string& what) {
  std::string error = "1000 operations went through";
  bool peer_failed = false;
  for (int i = 0; i < 1000 && error == "1000 operations went through"; ++i) {
    try {
      (void)co_await with_timeout(start(), bound);
    } catch (const ucx_error& e) {
      error = e.what();
      peer_failed = e.code() == errc::peer_failed;
    }
  }
  const std::string cause = "rank " + std::to_string(who) + " failed (peer missed its heartbeat deadline)";
  require(peer_failed && error.find(cause) != std::string::npos, what + ": " + error);
}

/// Rank 1's host is cut off after every rank printed "ready" (its link
/// goes down at the bridge; every process lives). Each side's pending
/// operation with the other fails within 10 s with the missed heartbeat as
/// its cause, and every rank exits by itself: ranks 0 and 2 print
/// "survived" after talking to each other, rank 1 prints "cut off".
/// streaming: rank 1 is sending 64 MiB messages to rank 0 at the cut.
task<void> partitioned(communicator& comm, bool streaming) {
  co_await comm.barrier();
  const std::uint32_t me = comm.rank();
  std::uint32_t x = 0;
  std::vector<std::byte> big(streaming && me < 2 ? 64 << 20 : 0, std::byte{1});
  if (streaming && me < 2) { // one transfer through before "ready": the next ones are under way at the cut
    if (me == 1)
      co_await comm.send(0, big, 21);
    else
      (void)co_await comm.recv(1, big, 21);
  }
  say("ready");
  if (me == 1) {
    if (streaming)
      co_await require_heartbeat_failure([&] { return comm.send(0, big, 21); }, 0, 20s, "64 MiB sends across the cut");
    else
      co_await require_heartbeat_failure([&] { return comm.recv(0, std::span(&x, 1), 3); }, 0, 10s, "recv across the cut");
    say("cut off");
    co_return;
  }
  if (streaming && me == 0)
    co_await require_heartbeat_failure([&] { return comm.recv(1, big, 21); }, 1, 10s, "64 MiB recvs across the cut");
  else
    co_await require_heartbeat_failure([&] { return comm.recv(1, std::span(&x, 1), 3); }, 1, 10s, "recv across the cut");
  require(comm.failed_ranks() == std::vector<std::uint32_t>{1}, "failed_ranks is not {1}");
  // The two sides of the cut that can still reach each other still talk.
  const std::uint32_t other = me == 0 ? 2 : 0;
  std::uint32_t v = me;
  (void)co_await when_all(with_timeout(comm.send(other, std::span(&v, 1), 4), 10s),
                          with_timeout(comm.recv(other, std::span(&x, 1), 4), 10s));
  require(x == other, "after the cut, " + std::to_string(other) + " sent " + std::to_string(x));
  say("survived");
}

/// Rank 1 sends 64 MiB to rank 0, which never receives it (alive, busy
/// elsewhere), under with_timeout(1 s): the send returns with timed_out
/// (abandoned 100 ms after the stop, its connection force-closed), and rank
/// 0 then counts as failed with the abandoned send as the cause. A barrier
/// under with_timeout with a rank that never joins returns the same way.
task<void> stalled_send(worker& w, communicator& comm) {
  if (comm.rank() == 0) {
    co_await w.sleep(3s); // the behaviour under test: rank 0 never posts the receive
    co_return;
  }
  std::vector<std::byte> big(64 << 20, std::byte{7});
  const auto start = std::chrono::steady_clock::now();
  auto r = co_await as_result(with_timeout(comm.send(0, big, 30), 1s));
  const auto took = std::chrono::steady_clock::now() - start;
  require(r.error == std::errc::timed_out, "a stalled 64 MiB send under a 1 s timeout ended with: " + r.error.message());
  require(took < 5s, "the stalled send returned after " +
                         std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()) + " ms");
  // The rank is failed by the closing connection (a spawned step): wait for it.
  for (int i = 0; i < 100 && comm.failed_ranks().empty(); ++i)
    co_await w.sleep(10ms); // a bounded poll (100 x 10 ms): failed_ranks() has no event to await
  require(comm.failed_ranks() == std::vector<std::uint32_t>{0}, "failed_ranks is not {0}");
  std::string error = "no error";
  try {
    co_await comm.send(0, std::span(big.data(), 8), 31);
  } catch (const ucx_error& e) {
    error = e.what();
  }
  require(error.find("rank 0 failed (" + make_error_code(errc::send_abandoned).message() + ")") != std::string::npos,
          "a send after the abandoned one: " + error);
}

// ---- all-to-all ---------------------------------------------------------------

/// As separate processes, a lighter pass than the in-process rank group's
/// (tests/loopback/rank_group.cpp): every algorithm with two block sizes,
/// variable parts and the argument errors.
task<void> all_to_all_suite(worker& w, communicator& comm) {
  for (const auto algorithm : test::algorithms) {
    for (std::size_t block : {std::size_t{37}, std::size_t{20000}}) {
      step(std::string("all_to_all ") + to_string(algorithm) + ", block " + std::to_string(block));
      co_await test::check_all_to_all<std::uint64_t>(comm, w, algorithm, block, std::size_t{4} << 20);
    }
    step(std::string("all_to_allv ") + to_string(algorithm));
    co_await test::check_all_to_allv<test::record>(comm, w, algorithm, test::part_shapes[0]);
  }
  step("all_to_all argument errors");
  co_await test::check_all_to_all_errors(comm, w);
}

/// Rank 1 dies while 4 MiB blocks are being exchanged with `algorithm`;
/// the survivors' call fails with peer_failed naming it, and the pool gets
/// every slab back.
/// Every key shape x how, shuffled with M = 3 and broadcast, as separate
/// processes (the rank group runs every combination in one process).
task<void> join_suite(communicator& comm) {
  for (test::key_mode mode : test::key_modes)
    for (auto [algorithm, m] : {std::pair{join::join_algorithm::shuffle, 3U}, std::pair{join::join_algorithm::broadcast, 1U}}) {
      step(std::string("hash_join ") + test::to_string(mode) + ", " + join::to_string(algorithm) + " M " +
           std::to_string(m));
      co_await test::check_join(comm, mode, algorithm, m);
    }
}

task<void> victim_all_to_all(worker& w, communicator& comm, all_to_all_algorithm algorithm) {
  const std::uint32_t n = comm.size();
  slab_pool pool{w, 1 << 20, std::max<std::size_t>(4, 2 * n)};
  const std::size_t block = (4U << 20) / sizeof(std::uint64_t);
  std::vector<std::uint64_t> send(block * n, 7), recv(block * n);
  all_to_all_options o;
  o.algorithm = algorithm;
  o.pool = &pool;
  o.zero_copy_above = std::size_t{8} << 20; // stage everything
  for (int i = 0;; ++i) {
    std::error_code error;
    std::string what; // the message names the failed rank: the test checks which
    try {
      co_await with_timeout(all_to_all(comm, send, recv, o), 10s);
    } catch (const std::system_error& e) {
      error = e.code();
      what = e.what();
    }
    if (i == 0) {
      require(!error, "the first exchange: " + what);
      std::printf("ready\n");
      std::fflush(stdout);
      continue;
    }
    if (!error)
      continue; // rank 1 still alive (or killed after this exchange)
    require(error == errc::peer_failed, std::string(to_string(algorithm)) + ": " + what);
    require(pool.available() == pool.capacity(), "pool slabs back after the failure");
    std::printf("failed: %s\n", what.c_str());
    break;
  }
  std::printf("survived\n");
  std::fflush(stdout);
}

/// Rank 1 never enters the barrier: both ranks run out of their bound
/// (--bound-ms) and say the step they were waiting in.
task<void> stuck_in_barrier(worker& w, communicator& comm) {
  if (comm.rank() == 1) {
    step("sleeping instead of entering the barrier");
    co_await w.sleep(3600s); // not a wait for anything: the bound ends it (the behaviour under test)
  }
  step("barrier with a rank that never comes");
  co_await comm.barrier();
}

} // namespace

int ucoro::test::run_rank(int argc, char** argv, bootstrap_function bootstrap) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive the test
  const std::string scenario = argc > 1 ? argv[1] : "basic";
  bool polling = false;
  bool eager = false;
  auto bootstrap_timeout = std::chrono::milliseconds(20000);
  long long bound_ms = 0; // --bound-ms: this rank's whole bound (default below)
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--polling")
      polling = true;
    else if (a == "--eager")
      eager = true;
    else if (a == "--timeout-ms" && i + 1 < argc)
      bootstrap_timeout = std::chrono::milliseconds(std::stoll(argv[++i]));
    else if (a == "--bound-ms" && i + 1 < argc)
      bound_ms = std::stoll(argv[++i]);
  }
  // Bounds: under ASan the all_to_all test (jobs of 1-8 ranks) took under
  // 7 s and the join test 12 s in all; the test waits 240 s for a rank's
  // line. The timeout below names the step it ended in; the watchdog does
  // the same should the loop itself never return.
  const bool long_suite = scenario == "all_to_all" || scenario == "join";
  const std::chrono::milliseconds bound = bound_ms > 0 ? std::chrono::milliseconds(bound_ms) : long_suite ? 200s : 60s;
  ::signal(SIGALRM, report_stuck);
  ::alarm(static_cast<unsigned>(bound.count() / 1000 + 10));
  try {
    context ctx;
    worker w{ctx, polling ? progress_mode::polling : progress_mode::blocking};
    w.run(with_timeout(
        [&]() -> task<void> {
          bootstrap_options o;
          o.timeout = bootstrap_timeout;
          o.connect = eager ? connect_policy::eager : connect_policy::lazy;
          communicator comm = co_await bootstrap(w, o);
          step(scenario);
          if (scenario == "all_to_all")
            co_await all_to_all_suite(w, comm);
          else if (scenario == "join")
            co_await join_suite(comm);
          else if (scenario.rfind("victim_all_to_all_", 0) == 0) {
            const std::string name = scenario.substr(18);
            all_to_all_algorithm a = all_to_all_algorithm::direct;
            for (auto candidate : test::algorithms)
              if (name == to_string(candidate))
                a = candidate;
            co_await victim_all_to_all(w, comm, a);
          } else if (scenario == "victim")
            co_await victim(w, comm);
          else if (scenario == "send_exit" || scenario == "send_exit_late")
            co_await send_exit(w, comm, scenario == "send_exit_late");
          else if (scenario == "victim_in_barrier")
            co_await victim_in(w, comm, "barrier");
          else if (scenario == "victim_streaming")
            co_await victim_in(w, comm, "stream");
          else if (scenario == "stuck_in_barrier")
            co_await stuck_in_barrier(w, comm);
          else if (scenario == "stalled_send")
            co_await stalled_send(w, comm);
          else if (scenario == "partitioned" || scenario == "partitioned_streaming")
            co_await partitioned(comm, scenario == "partitioned_streaming");
          else
            co_await basic(comm, eager);
          std::printf("rank %u of %u ok (%s)\n", comm.rank(), comm.size(), to_string(comm.bootstrap_info()));
          std::fflush(stdout);
        }(),
        bound));
    return 0;
  } catch (const std::exception& e) {
    std::printf("error: %s (in %s)\n", e.what(), g_step);
    std::fflush(stdout);
    return 1;
  }
}
