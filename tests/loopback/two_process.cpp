// Two processes: the echo example against itself, and a peer killed with
// SIGKILL while this process waits on it. Binaries come from the build
// through UCORO_TEST_ECHO and UCORO_TEST_PEER.

#include "../support/helpers.hpp"
#include "../support/process.hpp"

#include <cstdlib>
#include <string>

using namespace ucoro;
using namespace std::chrono_literals;

namespace {

std::string binary(const char* variable) {
  const char* path = std::getenv(variable);
  if (path == nullptr)
    FAIL(std::string(variable) + " is not set (run through meson test)");
  return path;
}

} // namespace

TEST_CASE("echo as two processes: the client sees every byte incremented", "[two_process][echo]") {
  // tcp with peer error handling; shared memory alone (ucoro's front door
  // needs no tcp) with the default error handling, automatic, which gives
  // sysv + cma lanes and watches the peer process.
  for (const bool shm : {false, true}) {
    const std::string tls = shm ? "sm,self" : "tcp";
    INFO("UCX_TLS=" << tls);
    const std::string echo = binary("UCORO_TEST_ECHO");
    std::vector<std::string> extra{"--error-handling", shm ? "automatic" : "peer"};
    std::vector<std::string> server_args{echo, "--server", "--tls", tls};
    server_args.insert(server_args.end(), extra.begin(), extra.end());
    test::child_process server{server_args};
    const auto port = server.expect("listening on ", 20s);
    REQUIRE(port.has_value());
    std::vector<std::string> client_args{echo, "--client", "127.0.0.1:" + *port, "--size", "8388608", "--tls", tls};
    client_args.insert(client_args.end(), extra.begin(), extra.end());
    test::child_process client{client_args};
    const auto verdict = client.expect("echo client: ", 60s);
    REQUIRE(verdict.has_value());
    CHECK_THAT(*verdict, Catch::Contains("incremented: ok"));
    CHECK(client.wait_exit(30s) == 0);
    CHECK(server.wait_exit(30s) == 0);
  }
}

TEST_CASE("a peer killed with SIGKILL fails the pending recv with a peer error within 10 s", "[two_process][failure]") {
  for (auto mode : {progress_mode::blocking, progress_mode::polling, progress_mode::yielding}) {
    INFO(test::mode_name(mode));
    test::child_process peer{{binary("UCORO_TEST_PEER"), "--mode", "hang", "--tls", "tcp"}};
    const auto port = peer.expect("port ", 20s);
    REQUIRE(port.has_value());

    context ctx{{{"TLS", "tcp"}}};
    worker w{ctx, mode};
    std::error_code reason;
    int callbacks = 0;
    std::chrono::steady_clock::time_point killed_at;
    const auto outcome = w.run(test::bounded(
        [&]() -> task<result<std::size_t>> {
          endpoint ep = co_await w.create_endpoint("127.0.0.1", static_cast<std::uint16_t>(std::stoi(*port)));
          ep.set_close_callback([&](std::error_code r) {
            ++callbacks;
            reason = r;
          });
          co_await ep.send(test::pattern(4096));
          std::vector<std::byte> reply(64 << 20);
          auto waiter = [&]() -> task<result<std::size_t>> { co_return co_await as_result(ep.recv(reply)); };
          auto killer = [&]() -> task<void> {
            // The peer says it received our message; then it dies.
            (void)co_await peer.next_line(w);
            peer.kill();
            killed_at = std::chrono::steady_clock::now();
          };
          auto [r, unused] = co_await when_all(waiter(), killer());
          (void)unused;
          co_return r;
        }(),
        30s));
    const auto detection = std::chrono::steady_clock::now() - killed_at;
    INFO("detected after " << std::chrono::duration_cast<std::chrono::milliseconds>(detection).count() << " ms");
    REQUIRE_FALSE(outcome);
    CHECK((outcome.error == std::errc::connection_reset || outcome.error == std::errc::timed_out));
    CHECK(detection < 10s);
    CHECK(callbacks == 1);
    CHECK(reason == outcome.error);
    CHECK(peer.wait_exit(10s) == 128 + SIGKILL); // killed by the test, not exited on its own
  }
}
