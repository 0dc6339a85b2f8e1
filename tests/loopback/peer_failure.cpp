// A peer process killed with SIGKILL while idle, during eager messages and
// during 64 MiB rendezvous transfers in both directions, for each error
// handling mode and both progress modes. The survivor's pending operation
// must fail with the documented error within the documented time, its close
// callback must run once, the process must neither abort nor hang, and the
// same worker must then serve a new peer. Binaries come from the build
// through UCORO_TEST_PEER.

#include "../support/helpers.hpp"
#include "../support/hex.hpp"
#include "../support/peer_kill.hpp"
#include "../support/process.hpp"
#include "../support/skip.hpp"

#include <ucoro/host_memory.hpp>

#include <signal.h>

#include <cstdlib>
#include <string>

using namespace ucoro;
using namespace std::chrono_literals;

namespace {

std::string peer_binary() {
  const char* path = std::getenv("UCORO_TEST_PEER");
  if (path == nullptr)
    FAIL("UCORO_TEST_PEER is not set (run through meson test)");
  return path;
}

using test::kill_phase;
const auto& phases = test::kill_phases;

struct mode_case {
  error_handling mode;
  std::chrono::milliseconds heartbeat;
  std::chrono::milliseconds bound; ///< the issue's bound on detection
};

const mode_case modes[] = {
    {error_handling::automatic, 0ms, 1s},
    {error_handling::peer, 0ms, 10s},
    {error_handling::none, 100ms, 2s}, // heartbeat timeout 500 ms (5 x interval)
};

std::vector<std::string> peer_args(const char* peer_mode, std::size_t size, const mode_case& m) {
  std::vector<std::string> args{peer_binary(), "--mode", peer_mode, "--size", std::to_string(std::max<std::size_t>(size, 8)),
                                "--error-handling", to_string(m.mode)};
  if (m.heartbeat.count() > 0) {
    args.emplace_back("--heartbeat");
    args.push_back(std::to_string(m.heartbeat.count()));
  }
  return args;
}

endpoint_options survivor_options(const mode_case& m) {
  endpoint_options o;
  o.error_handling = m.mode;
  o.heartbeat.interval = m.heartbeat;
  return o;
}

/// The port the peer listens on (it prints "port N" first).
std::uint16_t listening_port(test::child_process& peer) {
  const auto port = peer.expect("port ", 20s);
  REQUIRE(port.has_value());
  return static_cast<std::uint16_t>(std::stoi(*port));
}

/// A receive pending on `ep` while `action` (which stops or kills the peer)
/// runs; the receive's outcome.
task<result<std::size_t>> recv_during(endpoint& ep, task<void> action) {
  std::vector<std::byte> buf(8);
  auto waiter = [&]() -> task<result<std::size_t>> { co_return co_await as_result(ep.recv(buf)); };
  auto [r, unused] = co_await when_all(waiter(), std::move(action));
  (void)unused;
  co_return r;
}

struct described {
  std::string info;
  failure_detection detection;
};

/// Connects with the default options and reports what failure detection
/// was chosen.
described connect_and_describe(worker& w, std::uint16_t port) {
  described out;
  w.run(test::bounded([&]() -> task<void> {
    // [snippet:failure_detection]
    endpoint ep = co_await w.create_endpoint("127.0.0.1", port); // error_handling::automatic
    std::string info = ep.ucx_info();          // first line: how a failed peer is detected, and why
    failure_detection detection = ep.failure_detection(); // the same, as data
    // [/snippet:failure_detection]
    out = {std::move(info), detection};
    ep.abort();
  }()));
  return out;
}

/// Waits (bounded by the caller's timeout) for the child's next line.
task<void> await_line(worker& w, test::child_process& child) {
  (void)co_await child.next_line(w);
}

/// Connects to a fresh echo peer and checks a round trip: the worker is
/// still usable after the failure.
void check_new_peer_served(worker& w, const mode_case& m) {
  test::child_process echo{peer_args("echo", 0, m)};
  const std::uint16_t port = listening_port(echo);
  const auto sent = test::pattern(100000, 7);
  const auto reply = w.run(test::bounded([&]() -> task<std::vector<std::byte>> {
    endpoint ep = co_await w.create_endpoint("127.0.0.1", port,
                                             survivor_options(m));
    co_await ep.send_obj(sent);
    auto back = co_await ep.recv_obj();
    co_await ep.close();
    co_return back;
  }()));
  REQUIRE(reply.size() == sent.size());
  bool incremented = true;
  for (std::size_t i = 0; i < sent.size(); ++i)
    incremented = incremented && reply[i] == static_cast<std::byte>(static_cast<unsigned char>(sent[i]) + 1);
  CHECK(incremented);
  CHECK(echo.wait_exit(10s) == 0);
}

/// A kill of `peer` (just started) during `ph`, the survivor using `m`.
test::kill_outcome kill_during(worker& w, test::child_process& peer, const kill_phase& ph, const mode_case& m) {
  return test::kill_during(w, peer, listening_port(peer), ph, survivor_options(m), 30s);
}

} // namespace

TEST_CASE("a message a same-host peer sent just before it exited is received, not lost to its failure",
          "[failure][two_process]") {
  // The peer's last eager message can still sit in this worker's
  // shared-memory FIFO when its pidfd fires; in blocking mode both fds wake
  // the same epoll_wait. The receive pending meanwhile must get the message.
  // Repeated: the order of the two is up to the kernel.
  context ctx;
  for (const auto progress : {progress_mode::blocking, progress_mode::polling}) {
    worker w{ctx, progress};
    for (int round = 0; round < 10; ++round) {
      test::child_process peer{{peer_binary(), "--mode", "send_exit"}};
      const std::uint16_t port = listening_port(peer);
      const auto got = w.run(test::bounded([&]() -> task<result<std::size_t>> {
        endpoint ep = co_await w.create_endpoint("127.0.0.1", port); // automatic: the pidfd watches the peer
        std::uint64_t value = 0;
        auto r = co_await as_result(with_timeout(ep.recv(std::span(&value, 1)), 10s));
        if (r && value != 42)
          r.error = make_error_code(std::errc::bad_message);
        co_return r;
      }()));
      INFO(test::mode_name(progress) << ", round " << round);
      CHECK(got.error == std::error_code{});
      CHECK(peer.wait_exit(10s) == 0);
    }
  }
}

TEST_CASE("receives posted after a same-host peer's exit closed the endpoint still get what it sent before; the next "
          "fails with peer_failed", "[failure][two_process]") {
  // The messages wait in UCX's unexpected queue; the endpoint is closed
  // (peer_failed) before either receive is posted (ep_recv_op::post_refused).
  context ctx;
  for (const auto progress : {progress_mode::blocking, progress_mode::polling}) {
    worker w{ctx, progress};
    for (int round = 0; round < 3; ++round) {
      INFO(test::mode_name(progress) << ", round " << round);
      test::child_process peer{{peer_binary(), "--mode", "send_exit_both"}};
      const std::uint16_t port = listening_port(peer);
      struct outcome {
        bool closed_first = false;
        std::error_code reason;
        std::uint64_t ordered = 0, tagged = 0;
        std::error_code ordered_error, tagged_error, next_error, next_tagged_error;
      };
      const outcome got = w.run(test::bounded([&]() -> task<outcome> {
        endpoint ep = co_await w.create_endpoint("127.0.0.1", port);
        event closed{w};
        ep.set_close_callback([&](std::error_code) { closed.set(); });
        (void)co_await as_result(with_timeout(closed.wait(), 10s)); // the peer's exit closes it
        outcome o;
        o.closed_first = ep.closed();
        o.reason = ep.close_reason();
        o.tagged_error = (co_await as_result(ep.tag_recv(std::span(&o.tagged, 1), 0xFFFFFFFF))).error;
        o.ordered_error = (co_await as_result(ep.recv(std::span(&o.ordered, 1)))).error;
        std::uint64_t more = 0;
        o.next_error = (co_await as_result(with_timeout(ep.recv(std::span(&more, 1)), 10s))).error;
        o.next_tagged_error = (co_await as_result(with_timeout(ep.tag_recv(std::span(&more, 1), 0xFFFFFFFF), 10s))).error;
        co_return o;
      }()));
      REQUIRE(got.closed_first);
      CHECK(got.reason == errc::peer_failed);
      CHECK(got.ordered_error == std::error_code{});
      CHECK(got.ordered == 42);
      CHECK(got.tagged_error == std::error_code{});
      CHECK(got.tagged == 43);
      CHECK(got.next_error == errc::peer_failed);
      CHECK(got.next_tagged_error == errc::peer_failed);
      CHECK(peer.wait_exit(10s) == 0);
    }
  }
}

TEST_CASE("a peer killed with SIGKILL fails the survivor's pending operation in every mode and phase",
          "[failure][two_process]") {
  for (const auto& m : modes) {
    for (auto progress : {progress_mode::blocking, progress_mode::polling}) {
      context ctx; // default transports: shared memory is there for automatic to choose
      for (const auto& ph : phases) {
        // A worker per phase: a peer killed while writing into this worker's
        // shared-memory receive FIFO can leave it stalled for every later
        // sender (UCX's mm transport; docs/failure.md), so each phase starts
        // from a fresh FIFO.
        worker w{ctx, progress};
        INFO("error_handling " << to_string(m.mode) << ", " << test::mode_name(progress) << ", peer killed during "
                               << ph.name);
        test::child_process peer{peer_args(ph.peer_mode, ph.size, m)};
        const auto [outcome, detection, callbacks, callback_reason, info] = kill_during(w, peer, ph, m);
        INFO("detected after " << detection.count() << " ms: " << outcome.error.message() << "\n" << info);
        REQUIRE_FALSE(outcome);
        switch (m.mode) {
        case error_handling::automatic:
          CHECK(outcome.error == errc::peer_failed);
          CHECK(outcome.error == std::errc::connection_reset);
          break;
        case error_handling::peer:
          CHECK((outcome.error == std::errc::connection_reset || outcome.error == std::errc::timed_out));
          break;
        case error_handling::none:
          // The heartbeat, or a transport error UCX reports first.
          CHECK((outcome.error == errc::peer_unresponsive || outcome.error == std::errc::connection_reset ||
                 outcome.error == std::errc::io_error || outcome.error == std::errc::timed_out));
          break;
        }
        CHECK(detection < m.bound);
        CHECK(callbacks == 1);
        CHECK(callback_reason == outcome.error);
        CHECK(peer.wait_exit(10s) == 128 + SIGKILL);
        // The process goes on: a new peer is served, by a new worker, and by
        // this one where no shared-memory FIFO was involved (peer: tcp).
        worker next{ctx, progress};
        check_new_peer_served(next, m);
        if (m.mode == error_handling::peer)
          check_new_peer_served(w, m);
      }
    }
  }
}

namespace {

/// The test's own oracle for "UCX can never be armed", straight from UCX
/// rather than from ucoro's progress engine: over `rounds` rounds progress
/// finds nothing while ucp_worker_arm answers BUSY every time.
bool ucx_keeps_worker_busy(worker& w, int rounds = 2000) {
  for (int i = 0; i < rounds; ++i) {
    const unsigned progressed = ucp_worker_progress(w.ucp_worker());
    const ucs_status_t armed = ucp_worker_arm(w.ucp_worker());
    if (progressed != 0 || armed != UCS_ERR_BUSY)
      return false;
  }
  return true;
}

} // namespace

TEST_CASE("a peer killed with SIGKILL fails the survivor's pending tag_recv or recv_many in every mode",
          "[failure][two_process][tag]") {
  const kill_phase pending[] = {{"idle, a tag_recv pending", "idle", 8, false, kill_phase::receive::tagged},
                                {"idle, a recv_many pending", "idle", 8, false, kill_phase::receive::many}};
  for (const kill_phase& ph : pending) {
    for (const auto& m : modes) {
      for (auto progress : {progress_mode::blocking, progress_mode::polling}) {
        context ctx;
        worker w{ctx, progress};
        INFO(ph.name << ", error_handling " << to_string(m.mode) << ", " << test::mode_name(progress));
        test::child_process peer{peer_args(ph.peer_mode, ph.size, m)};
        const auto [outcome, detection, callbacks, callback_reason, info] = kill_during(w, peer, ph, m);
        INFO("detected after " << detection.count() << " ms: " << outcome.error.message() << "\n" << info);
        REQUIRE_FALSE(outcome);
        CHECK(outcome.error != std::errc::operation_canceled); // failed by the peer's death, not by the 30 s bound
        CHECK(detection < m.bound);
        CHECK(callbacks == 1);
        CHECK(callback_reason == outcome.error);
        CHECK(peer.wait_exit(10s) == 128 + SIGKILL);
      }
    }
  }
}

TEST_CASE("a peer killed while the receive by handle of its removed message is pending fails that receive within "
          "each mode's bound", "[failure][two_process][probe]") {
  // The peer sends one 64 MiB message (a rendezvous) in the worker-level
  // user tag space; the survivor removes it with a probe. Over tcp the
  // peer is stopped first, so the data cannot come and the receive is
  // pending when the peer is killed. Over shared memory the survivor reads
  // the data itself (CMA), even from a stopped process: the peer is killed
  // before the receive is posted, which must then fail, not wait.
  for (const bool tcp : {true, false}) {
    for (const auto& m : modes) {
      // Over tcp without UCX error handling, UCX 1.13 neither fails nor can
      // cancel a matched rendezvous receive whose sender died: it stays
      // pending (measured: 30 s, then the test's own kill). A worker-level
      // receive names no endpoint whose heartbeat could end it
      // (docs/failure.md, "Receives by handle").
      if (tcp && m.mode == error_handling::none)
        continue;
      for (auto progress : {progress_mode::blocking, progress_mode::polling}) {
        INFO((tcp ? "tcp" : "shared memory") << ", error_handling " << to_string(m.mode) << ", "
                                             << test::mode_name(progress));
        context ctx{tcp ? std::map<std::string, std::string>{{"TLS", "tcp"}} : std::map<std::string, std::string>{}};
        worker w{ctx, progress};
        auto args = peer_args("user_tag", 64 << 20, m);
        if (tcp) {
          args.emplace_back("--tls");
          args.emplace_back("tcp");
        }
        test::child_process peer{args};
        const std::uint16_t port = listening_port(peer);
        std::chrono::steady_clock::time_point killed_at{};
        const auto outcome = w.run(with_timeout(
            [&]() -> task<result<tag_recv_info>> {
              endpoint ep = co_await w.create_endpoint("127.0.0.1", port, survivor_options(m));
              (void)co_await peer.next_line(w); // sending
              std::optional<tag_message> message;
              for (int i = 0; i < 10000 && !message; ++i) {
                message = w.probe(7, tag_layout::full_mask, true);
                if (!message)
                  co_await w.sleep(1ms); // a bounded poll (10 s): a probe has no event to await
              }
              if (!message)
                throw std::runtime_error("the peer's message never arrived");
              host_memory buf(message->size());
              if (!tcp) {
                peer.kill();
                killed_at = std::chrono::steady_clock::now();
                co_return co_await as_result(w.recv(std::move(*message), buf));
              }
              peer.kill(SIGSTOP);
              auto killer = [&]() -> task<void> {
                co_await w.sleep(100ms); // the receive is posted and pending by then
                peer.kill();
                killed_at = std::chrono::steady_clock::now();
              };
              auto [r, unused] = co_await when_all(as_result(w.recv(std::move(*message), buf)), killer());
              (void)unused;
              co_return r;
            }(),
            30s));
        const auto detection = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - killed_at);
        INFO("failed after " << detection.count() << " ms: " << outcome.error.message());
        REQUIRE_FALSE(outcome);
        CHECK(outcome.error != std::errc::operation_canceled); // failed by the peer's death, not by the 30 s bound
        CHECK(detection < m.bound);
        CHECK(peer.wait_exit(10s) == 128 + SIGKILL);
      }
    }
  }
}

TEST_CASE("a blocking worker a killed peer left unarmable naps instead of spinning a core",
          "[failure][two_process][.unarmable]") {
  // A peer killed mid-write into the worker's shared-memory FIFO leaves a
  // slot claimed and never filled: ucp_worker_arm answers BUSY for good.
  // Not every kill lands mid-write, so this tries a few.
  const mode_case automatic{error_handling::automatic, 0ms, 1s};
  const kill_phase& eager = phases[1];
  context ctx;
  for (int attempt = 0; attempt < 8; ++attempt) {
    worker w{ctx, progress_mode::blocking};
    test::child_process peer{peer_args(eager.peer_mode, eager.size, automatic)};
    const auto killed = kill_during(w, peer, eager, automatic);
    INFO("attempt " << attempt << ": " << killed.outcome.error.message());
    REQUIRE_FALSE(killed.outcome);
    CHECK(killed.outcome.error == errc::peer_failed); // the pidfd fired though UCX never let the worker arm
    CHECK(killed.detection < automatic.bound);
    CHECK(peer.wait_exit(10s) == 128 + SIGKILL);
    if (!ucx_keeps_worker_busy(w))
      continue;
    const auto before = w.engine().stats();
    w.run(w.sleep(300ms)); // the behaviour under test: an idle wait on a stuck worker
    const auto after = w.engine().stats();
    const auto rounds = after.rounds - before.rounds, naps = after.naps - before.naps;
    INFO("rounds " << rounds << ", naps " << naps);
    // Spinning is a round without a nap; past the engine's first 1000
    // unarmable rounds every round naps (up to 1 ms, on the other fds).
    CHECK(naps >= 1);
    CHECK(rounds <= naps + 1000 + 4);
    return;
  }
  UCORO_SKIP("no kill in 8 left the worker unarmable: the condition under test did not occur");
}

TEST_CASE("automatic uses shared-memory lanes for a same-host peer and says so in ucx_info",
          "[failure][two_process][lanes]") {
  const mode_case automatic{error_handling::automatic, 0ms, 1s};
  test::child_process peer{peer_args("idle", 8, automatic)};
  const std::uint16_t port = listening_port(peer);
  context ctx;
  worker w{ctx};
  const auto [info, detection] = connect_and_describe(w, port);
  INFO(info);
  CHECK(detection.ucx_mode == error_handling::none);
  CHECK(detection.process_watch);
  CHECK(detection.peer_pid == static_cast<std::uint32_t>(peer.pid()));
  CHECK_THAT(info, Catch::Contains("pidfd on pid " + std::to_string(peer.pid())));
  CHECK((info.find("sysv/") != std::string::npos || info.find("posix/") != std::string::npos));
  CHECK_THAT(info, Catch::Contains("cma/"));
  CHECK_THAT(info, !Catch::Contains("tcp/"));
}

TEST_CASE("a same-host endpoint from a worker address with peer_info keeps shared memory and fails within 1 s "
          "when its peer is killed",
          "[failure][two_process][address]") {
  for (auto progress : {progress_mode::blocking, progress_mode::polling}) {
    INFO(test::mode_name(progress));
    context ctx;
    worker w{ctx, progress};
    const auto mine = w.address();
    const peer_info my_info = w.local_peer_info();
    test::child_process peer{{peer_binary(), "--mode", "address", "--peer-address",
                              test::to_hex(mine.data(), mine.size()), "--peer-info",
                              test::to_hex(&my_info, sizeof my_info)}};
    const auto line = peer.read_line(test::test_timeout);
    REQUIRE(line);
    REQUIRE(line->rfind("address ", 0) == 0);
    const auto info_at = line->find(" info ");
    REQUIRE(info_at != std::string::npos);
    address_endpoint_options o;
    o.peer = test::from_hex_as<peer_info>(line->substr(info_at + 6));
    endpoint ep = w.create_endpoint_from_worker_address(test::from_hex(line->substr(8, info_at - 8)), o);

    const auto detection = ep.failure_detection();
    const std::string info = ep.ucx_info();
    INFO(info);
    CHECK(detection.ucx_mode == error_handling::none);
    CHECK(detection.process_watch);
    CHECK(detection.peer_pid == static_cast<std::uint32_t>(peer.pid()));
    CHECK((info.find("sysv/") != std::string::npos || info.find("posix/") != std::string::npos));
    CHECK_THAT(info, Catch::Contains("cma/"));
    CHECK_THAT(info, !Catch::Contains("tcp/"));

    // It carries data: one echo (the peer adds 1 to each byte).
    const auto sent = test::pattern(100000);
    const auto back = w.run(test::bounded([&]() -> task<std::vector<std::byte>> {
      co_await ep.send_obj(sent);
      co_return co_await ep.recv_obj();
    }()));
    REQUIRE(back.size() == sent.size());
    CHECK(std::equal(sent.begin(), sent.end(), back.begin(),
                     [](std::byte a, std::byte b) { return static_cast<std::byte>(static_cast<unsigned char>(a) + 1) == b; }));
    REQUIRE(peer.read_line(test::test_timeout) == std::optional<std::string>("echoed"));

    // A receive pending when the peer dies fails with peer_failed, within 1 s.
    std::chrono::steady_clock::time_point killed_at{};
    const auto outcome = w.run(test::bounded([&]() -> task<result<void>> {
      std::vector<std::byte> buf(64);
      auto pending = [&]() -> task<void> { (void)co_await ep.recv(buf); };
      // when_all starts its tasks in order: the receive is posted (and
      // waiting) before the killer runs.
      auto killer = [&]() -> task<void> {
        killed_at = std::chrono::steady_clock::now();
        ::kill(peer.pid(), SIGKILL);
        co_return;
      };
      auto [got, killed] = co_await when_all(as_result(pending()), killer());
      (void)killed;
      co_return got;
    }()));
    const auto detected_in = std::chrono::steady_clock::now() - killed_at;
    CHECK(outcome.error == errc::peer_failed);
    CHECK(detected_in < 1s);
  }
}

TEST_CASE("without pidfds automatic falls back to UCX peer mode and ucx_info says why", "[failure][two_process][lanes]") {
  // The child inherits the variable, so both sides fall back.
  ::setenv("UCORO_PIDFD", "no", 1);
  struct restore {
    ~restore() { ::unsetenv("UCORO_PIDFD"); }
  } restore_env;
  const mode_case automatic{error_handling::automatic, 0ms, 10s};
  test::child_process peer{peer_args("idle", 8, automatic)};
  const std::uint16_t port = listening_port(peer);
  context ctx;
  worker w{ctx};
  const auto [info, detection] = connect_and_describe(w, port);
  INFO(info);
  CHECK(detection.ucx_mode == error_handling::peer);
  CHECK_FALSE(detection.process_watch);
  CHECK_THAT(info, Catch::Contains("pidfd unavailable"));
  CHECK_THAT(info, Catch::Contains("tcp/"));
}

TEST_CASE("automatic follows the other side's explicit error handling; peer against none fails naming both",
          "[failure][two_process][mismatch]") {
  context ctx;
  worker w{ctx};
  {
    test::child_process peer{peer_args("idle", 8, {error_handling::peer, 0ms, 10s})};
    const std::uint16_t port = listening_port(peer);
    const auto detection = connect_and_describe(w, port).detection;
    CHECK(detection.ucx_mode == error_handling::peer);
    CHECK_THAT(detection.reason, Catch::Contains("the listener uses peer error handling"));
  }
  {
    test::child_process peer{peer_args("idle", 8, {error_handling::automatic, 0ms, 1s})};
    const std::uint16_t port = listening_port(peer);
    endpoint_options o;
    o.error_handling = error_handling::peer;
    const auto detection = w.run(test::bounded([&]() -> task<failure_detection> {
      endpoint ep = co_await w.create_endpoint("127.0.0.1", port, o);
      auto d = ep.failure_detection();
      co_await ep.close();
      co_return d;
    }()));
    CHECK(detection.ucx_mode == error_handling::peer);
    CHECK_THAT(detection.reason, Catch::Contains("the client uses peer error handling"));
  }
  {
    test::child_process peer{peer_args("idle", 8, {error_handling::none, 0ms, 1s})};
    const std::uint16_t port = listening_port(peer);
    endpoint_options o;
    o.error_handling = error_handling::peer;
    try {
      (void)w.run(test::bounded(w.create_endpoint("127.0.0.1", port, o)));
      FAIL("a peer-mode client connected to a listener that uses none");
    } catch (const ucx_error& e) {
      CHECK(e.code() == errc::protocol_mismatch);
      CHECK_THAT(e.what(), Catch::Contains("error handling differs: the listener uses none and the client peer"));
    }
  }
}

TEST_CASE("a heartbeat detects a peer that stops (SIGSTOP) though its process lives", "[failure][two_process][heartbeat]") {
  const mode_case none{error_handling::none, 50ms, 2s};
  test::child_process peer{peer_args("idle", 8, none)};
  const std::uint16_t port = listening_port(peer);
  context ctx;
  worker w{ctx};
  std::chrono::steady_clock::time_point stopped_at{};
  failure_detection detection;
  // [snippet:heartbeat]
  endpoint_options o;
  o.error_handling = error_handling::none;
  o.heartbeat.interval = 50ms; // the timeout defaults to 5 x interval
  // [/snippet:heartbeat]
  const auto outcome = w.run(test::bounded([&]() -> task<result<std::size_t>> {
    endpoint ep = co_await w.create_endpoint("127.0.0.1", port, o);
    detection = ep.failure_detection();
    co_return co_await recv_during(ep, [&]() -> task<void> {
      co_await await_line(w, peer);
      co_await w.sleep(300ms); // the behaviour under test: 300 ms of heartbeats from a live peer raise no false alarm
      ::kill(peer.pid(), SIGSTOP);
      stopped_at = std::chrono::steady_clock::now();
    }());
  }()));
  const auto detection_time = std::chrono::steady_clock::now() - stopped_at;
  CHECK(detection.heartbeat_timeout == 250ms);
  REQUIRE_FALSE(outcome);
  CHECK(stopped_at != std::chrono::steady_clock::time_point{}); // it failed after the stop, not before
  CHECK(outcome.error == errc::peer_unresponsive);
  CHECK(outcome.error == std::errc::timed_out);
  CHECK(detection_time >= 250ms - 50ms); // the last heartbeat came up to an interval before the stop
  CHECK(detection_time < 2s);
  peer.kill(); // SIGKILL ends a stopped process too
  CHECK(peer.wait_exit(10s) == 128 + SIGKILL);
}

TEST_CASE("over a network transport, automatic arms a heartbeat by default: a peer that stops answering (alive, no "
          "reset: what a partition looks like) fails pending operations within 10 s",
          "[failure][two_process][heartbeat][partition]") {
  // Both sides on tcp only, default options: nothing but ucoro's default
  // remote_heartbeat (1 s, deadline 5 s) can notice a SIGSTOPped peer, since
  // its process lives (no pidfd) and its sockets stay open (no reset).
  std::vector<std::string> args{"/usr/bin/env", "UCX_TLS=tcp", "UCX_NET_DEVICES=lo"};
  for (auto& a : peer_args("idle", 8, {error_handling::automatic, 0ms, 10s}))
    args.push_back(a);
  test::child_process peer{args};
  const std::uint16_t port = listening_port(peer);
  context ctx{{{"TLS", "tcp"}}};
  worker w{ctx};
  std::chrono::steady_clock::time_point stopped_at{};
  failure_detection detection;
  const auto outcome = w.run(test::bounded(
      [&]() -> task<result<std::size_t>> {
        endpoint ep = co_await w.create_endpoint("127.0.0.1", port);
        detection = ep.failure_detection();
        co_return co_await recv_during(ep, [&]() -> task<void> {
          co_await await_line(w, peer);
          co_await w.sleep(1500ms); // the behaviour under test: heartbeats from a live peer raise no false alarm
          ::kill(peer.pid(), SIGSTOP);
          stopped_at = std::chrono::steady_clock::now();
        }());
      }(),
      20s));
  const auto detection_time = std::chrono::steady_clock::now() - stopped_at;
  INFO(detection.reason);
  CHECK(detection.heartbeat_timeout == 5s);
  CHECK_THAT(detection.reason, Catch::Contains("remote_heartbeat"));
  REQUIRE_FALSE(outcome);
  CHECK(stopped_at != std::chrono::steady_clock::time_point{});
  CHECK(outcome.error == errc::peer_unresponsive);
  CHECK(detection_time >= 4s); // the last heartbeat came up to an interval before the stop
  CHECK(detection_time < 10s);
  peer.kill();
  CHECK(peer.wait_exit(10s) == 128 + SIGKILL);
}

TEST_CASE("with error_handling none and no heartbeat a dead idle peer is not detected; with_timeout and abort end the "
          "wait",
          "[failure][two_process][none]") {
  const mode_case none{error_handling::none, 0ms, 0ms};
  test::child_process peer{peer_args("idle", 8, none)};
  const std::uint16_t port = listening_port(peer);
  context ctx;
  worker w{ctx};
  std::error_code reason;
  w.run(test::bounded([&]() -> task<void> {
    endpoint ep = co_await w.create_endpoint("127.0.0.1", port,
                                             survivor_options(none));
    co_await await_line(w, peer);
    peer.kill();
    std::vector<std::byte> buf(8);
    auto r = co_await as_result(with_timeout(ep.recv(buf), 1s));
    reason = r.error;
    ep.abort();
  }()));
  // Documented: nothing in UCX's mode none notices; the caller's own bound does.
  CHECK(reason == std::errc::timed_out);
  CHECK(peer.wait_exit(10s) == 128 + SIGKILL);
}

TEST_CASE("a same-host peer in another pid namespace is watched by UCX (peer mode), not by a pidfd", "[failure][two_process][.pidns]") {
  // unshare --kill-child: SIGKILL of unshare (our child) reaches the peer.
  if (std::system("unshare --pid --fork --kill-child true >/dev/null 2>&1") != 0) {
    UCORO_SKIP("cannot create a pid namespace here (unshare --pid needs privileges)");
  }
  // The hellos carry each side's pid namespace, so automatic knows before
  // it connects that no pidfd can watch the peer and CMA cannot reach it:
  // UCX peer mode (tcp) it is.
  const mode_case automatic{error_handling::automatic, 0ms, 1s};
  auto args = peer_args("idle", 8, automatic);
  args.insert(args.begin(), {"/usr/bin/unshare", "--pid", "--fork", "--kill-child", "--mount-proc"});
  args.insert(args.end(), {"--tls", "posix,tcp"});
  test::child_process peer{args};
  const std::uint16_t port = listening_port(peer);
  context ctx{{{"TLS", "posix,tcp"}}};
  worker w{ctx};
  failure_detection detection;
  std::chrono::steady_clock::time_point killed_at{};
  const auto outcome = w.run(test::bounded([&]() -> task<result<std::size_t>> {
    endpoint ep = co_await w.create_endpoint("127.0.0.1", port);
    detection = ep.failure_detection();
    co_return co_await recv_during(ep, [&]() -> task<void> {
      co_await await_line(w, peer);
      co_await w.sleep(500ms); // the behaviour under test: 500 ms of a live peer in UCX peer mode raise no false alarm
      peer.kill();
      killed_at = std::chrono::steady_clock::now();
    }());
  }()));
  const auto detection_time = std::chrono::steady_clock::now() - killed_at;
  INFO(detection.reason);
  CHECK(detection.ucx_mode == error_handling::peer);
  CHECK_FALSE(detection.process_watch);
  CHECK_THAT(detection.reason, Catch::Contains("another pid namespace"));
  REQUIRE_FALSE(outcome);
  CHECK(killed_at != std::chrono::steady_clock::time_point{});
  CHECK((outcome.error == std::errc::connection_reset || outcome.error == std::errc::io_error ||
         outcome.error == std::errc::timed_out));
  CHECK(detection_time < detail::fallback_heartbeat_timeout + 1500ms);
}


TEST_CASE("a peer killed mid-write that leaves the shared-memory FIFO stuck fails the worker's other shared-memory "
          "endpoints, and refuses new ones at once",
          "[failure][two_process][.stuck_fifo]") {
  // Everything from same-host peers arrives through the one FIFO the dead
  // peer left stuck: a live peer's messages would wait forever. Where the
  // kill did not land mid-write, the live peer must be untouched.
  const mode_case automatic{error_handling::automatic, 0ms, 1s};
  const kill_phase& eager = phases[1];
  context ctx;
  int stuck_runs = 0;
  for (int attempt = 0; attempt < 12 && stuck_runs == 0; ++attempt) {
    INFO("attempt " << attempt);
    worker w{ctx, progress_mode::blocking};
    test::child_process live{peer_args("echo", 0, automatic)};
    const std::uint16_t live_port = listening_port(live);
    endpoint to_live = w.run(test::bounded(w.create_endpoint("127.0.0.1", live_port)));
    std::error_code live_reason;
    to_live.set_close_callback([&](std::error_code reason) { live_reason = reason; });
    REQUIRE(to_live.uses_shared_memory());

    test::child_process dying{peer_args(eager.peer_mode, eager.size, automatic)};
    const auto killed = kill_during(w, dying, eager, automatic);
    REQUIRE_FALSE(killed.outcome);
    CHECK(killed.outcome.error == errc::peer_failed);
    CHECK(dying.wait_exit(10s) == 128 + SIGKILL);

    const auto sent = test::pattern(1000, 3);
    const auto echoed = w.run(test::bounded([&]() -> task<result<std::vector<std::byte>>> {
      auto s = co_await as_result(to_live.send_obj(sent));
      if (!s)
        co_return result<std::vector<std::byte>>{s.error};
      co_return co_await as_result(to_live.recv_obj());
    }()));
    if (!ucx_keeps_worker_busy(w)) {
      // Not stuck: the live peer is served as ever.
      REQUIRE(echoed);
      CHECK(echoed.value.size() == sent.size());
      CHECK_FALSE(live_reason);
      w.run(test::bounded(to_live.close()));
      continue;
    }
    ++stuck_runs;
    REQUIRE_FALSE(echoed); // failed, not stranded (test::bounded would have thrown)
    CHECK(echoed.error == errc::shared_memory_stuck);
    CHECK(echoed.error == std::errc::connection_aborted);
    CHECK(live_reason == errc::shared_memory_stuck);
    // A new same-host connection from this worker is refused at once, saying why.
    test::child_process next{peer_args("idle", 8, automatic)};
    const std::uint16_t next_port = listening_port(next);
    const auto started = std::chrono::steady_clock::now();
    try {
      (void)w.run(test::bounded(w.create_endpoint("127.0.0.1", next_port)));
      FAIL("connected over a stuck shared-memory FIFO");
    } catch (const ucx_error& e) {
      CHECK(e.code() == errc::shared_memory_stuck);
      CHECK_THAT(e.what(), Catch::Contains("died while writing") && Catch::Contains("new worker"));
    }
    CHECK(std::chrono::steady_clock::now() - started < 1s); // refused, not the 5 s handshake timeout
    // A new worker serves a new peer.
    worker fresh{ctx, progress_mode::blocking};
    check_new_peer_served(fresh, automatic);
  }
  if (stuck_runs == 0)
    UCORO_SKIP("no kill in 12 left the FIFO stuck: only the unaffected case could be checked");
}
