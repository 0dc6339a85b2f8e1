// A point-to-point connection between two test hosts (network namespaces
// on a bridge, UCX over tcp on their veths) whose link the test cuts at
// the bridge: no RST, both processes alive, as when a switch port or a NIC
// dies. tests/loopback/partition_side.cpp is each side, with default
// endpoint options. Needs root for ip netns; skips (77) without it.

#include "../support/helpers.hpp"
#include "../support/netns.hpp"
#include "../support/skip.hpp"

#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace ucoro;
using namespace std::chrono_literals;
using test::test_hosts;

namespace {

constexpr const char* port = "29180";

std::string side_binary() {
  const char* path = std::getenv("UCORO_TEST_PARTITION_SIDE");
  if (path == nullptr)
    FAIL("UCORO_TEST_PARTITION_SIDE is not set (run through meson test)");
  return path;
}

/// The server on host 1, listening on the fixed port.
std::unique_ptr<test::child_process> serve(const test_hosts& hosts, const std::string& mode,
                                           const std::string& count = "", const std::vector<std::string>& extra = {}) {
  std::vector<std::string> command{side_binary(), "serve", port, mode};
  if (!count.empty())
    command.push_back(count);
  command.insert(command.end(), extra.begin(), extra.end());
  auto server = hosts.run_on(1, {}, command);
  REQUIRE(server->read_output_line(30s) == std::optional<std::string>("listening"));
  return server;
}

/// The client on host 2.
std::unique_ptr<test::child_process> connect(const test_hosts& hosts, const std::string& mode,
                                             const std::string& count = "", const std::vector<std::string>& extra = {}) {
  std::vector<std::string> command{side_binary(), "connect", test_hosts::address(1), port, mode};
  if (!count.empty())
    command.push_back(count);
  command.insert(command.end(), extra.begin(), extra.end());
  return hosts.run_on(2, {}, command);
}

void expect_line(test::child_process& side, const std::string& line, std::chrono::seconds within) {
  // value_or: a wrong line is printed in full, not as {?}
  CHECK(side.read_output_line(within).value_or("(nothing, or the process ended)") == line);
}

/// The N of the side's next line, "WHAT after N ms".
long expect_after_ms(test::child_process& side, const std::string& what, std::chrono::seconds within) {
  const auto line = side.read_output_line(within);
  REQUIRE(line);
  REQUIRE_THAT(*line, Catch::StartsWith(what + " after "));
  return std::stol(line->substr(what.size() + 7));
}

/// Each side prints its failure within 10 s, naming the peer's test-host
/// address and the missed heartbeat, and exits with status 1.
void expect_failed_by_heartbeat(std::initializer_list<test::child_process*> sides) {
  for (auto* side : sides) {
    const auto line = side->read_output_line(10s);
    REQUIRE(line);
    CHECK_THAT(*line, Catch::StartsWith("failed "));
    CHECK_THAT(*line, Catch::Contains("198.18.0."));
    CHECK_THAT(*line, Catch::Contains("peer missed its heartbeat deadline"));
    CHECK(side->wait_exit(10s) == 1);
  }
}

} // namespace

TEST_CASE("a partition with default options fails both sides' pending operations within 10 s, naming the peer and "
          "the missed heartbeat; a new listener on the same port works at once",
          "[.netns]") {
  test_hosts hosts;
  if (!hosts.ok())
    UCORO_SKIP("cannot create network namespaces here (ip netns needs root)");
  struct phase {
    const char* server_mode;
    const char* client_mode;
    const char* ready;
  };
  for (const phase& ph : {phase{"sink", "stream", "streaming"}, phase{"idle", "idle", "connected"}}) {
    INFO("server " << ph.server_mode << ", client " << ph.client_mode);
    auto server = serve(hosts, ph.server_mode);
    auto client = connect(hosts, ph.client_mode);
    expect_line(*server, ph.ready, 30s);
    expect_line(*client, ph.ready, 30s);
    hosts.set_link(2, false);
    // The default remote heartbeat (1 s, deadline 5 s) fails them in 5-6 s.
    expect_failed_by_heartbeat({server.get(), client.get()});
    hosts.set_link(2, true);
    // The old connection may linger in the kernel (TIME-WAIT, or still
    // retransmitting); the fixed port is listened on again at once.
    auto again = serve(hosts, "count", "5");
    auto next = connect(hosts, "count", "5");
    expect_line(*again, "streaming", 30s);
    expect_line(*next, "streaming", 30s);
    expect_line(*again, "done 5", 30s);
    expect_line(*next, "done 5", 30s);
    CHECK(again->wait_exit(10s) == 0);
    CHECK(next->wait_exit(10s) == 0);
  }
}

TEST_CASE("liveness follows the transport: with error_handling peer chosen explicitly, a partition still fails both "
          "sides within 10 s by the heartbeat",
          "[.netns]") {
  test_hosts hosts;
  if (!hosts.ok())
    UCORO_SKIP("cannot create network namespaces here (ip netns needs root)");
  const std::vector<std::string> explicit_peer{"--error-handling", "peer"};
  auto server = serve(hosts, "sink", "", explicit_peer);
  auto client = connect(hosts, "stream", "", explicit_peer);
  expect_line(*server, "streaming", 30s);
  expect_line(*client, "streaming", 30s);
  hosts.set_link(2, false);
  // Before, `peer` left the server's receive pending past 30 s, and the
  // client failed only by UCX's 20 s keepalive.
  expect_failed_by_heartbeat({server.get(), client.get()});
}

TEST_CASE("a 2 s outage under a 5 s heartbeat deadline fails nothing: every message arrives, checked", "[.netns]") {
  test_hosts hosts;
  if (!hosts.ok())
    UCORO_SKIP("cannot create network namespaces here (ip netns needs root)");
  // 600 messages of 64 KiB, 10 ms apart: about 6 s of streaming.
  auto server = serve(hosts, "count", "600");
  auto client = connect(hosts, "count", "600");
  expect_line(*server, "streaming", 30s);
  expect_line(*client, "streaming", 30s);
  std::this_thread::sleep_for(1s); // the behaviour under test: the outage comes mid-stream
  hosts.set_link(2, false);
  std::this_thread::sleep_for(2s); // the behaviour under test: a 2 s outage
  hosts.set_link(2, true);
  expect_line(*server, "done 600", 60s);
  expect_line(*client, "done 600", 60s);
  CHECK(server->wait_exit(10s) == 0);
  CHECK(client->wait_exit(10s) == 0);
}

TEST_CASE("a send under with_timeout(2 s) during a partition returns by 2.5 s with timed_out", "[.netns]") {
  test_hosts hosts;
  if (!hosts.ok())
    UCORO_SKIP("cannot create network namespaces here (ip netns needs root)");
  auto server = serve(hosts, "sink");
  auto client = connect(hosts, "timed");
  expect_line(*server, "streaming", 30s);
  expect_line(*client, "streaming", 30s);
  hosts.set_link(2, false);
  const long ms = expect_after_ms(*client, "returned", 10s);
  CHECK(ms >= 1900); // stopped at the deadline, not failed by something else earlier
  CHECK(ms <= 2500);
  const auto failed = client->read_output_line(5s);
  REQUIRE(failed);
  CHECK_THAT(*failed, Catch::Contains("with_timeout"));
  CHECK(client->wait_exit(10s) == 1);
  // The server's side is the heartbeat's to fail.
  const auto server_failed = server->read_output_line(10s);
  REQUIRE(server_failed);
  CHECK_THAT(*server_failed, Catch::Contains("peer missed its heartbeat deadline"));
  CHECK(server->wait_exit(10s) == 1);
}

TEST_CASE("a close() during a partition returns by its close_timeout, and as soon as the heartbeat fails the "
          "endpoint when that comes first",
          "[.netns]") {
  test_hosts hosts;
  if (!hosts.ok())
    UCORO_SKIP("cannot create network namespaces here (ip netns needs root)");
  struct phase {
    std::vector<std::string> options;
    long at_least_ms;
    long at_most_ms;
  };
  // The client starts close() 1 s after the cut. No heartbeat: close_timeout
  // (3 s) ends it. The default heartbeat (deadline 5 s after the last word
  // heard) fails the endpoint about 4 s into a close given 20 s: the close
  // ends then, not at its own deadline.
  for (const phase& ph : {phase{{"--no-heartbeat", "--close-timeout", "3000"}, 2900, 4500},
                          phase{{"--close-timeout", "20000"}, 2000, 8000}}) {
    INFO(ph.options.front());
    auto server = serve(hosts, "idle", "", ph.options);
    auto client = connect(hosts, "close", "", ph.options);
    expect_line(*server, "connected", 30s);
    expect_line(*client, "connected", 30s);
    hosts.set_link(2, false);
    const long ms = expect_after_ms(*client, "closed", 30s);
    CHECK(ms >= ph.at_least_ms);
    CHECK(ms <= ph.at_most_ms);
    CHECK(client->wait_exit(10s) == 0);
    hosts.set_link(2, true);
  }
}

TEST_CASE("no false alarms: a peer busy for longer than the default deadline but within the one it was given, and a "
          "link throttled to 2 Mbit/s, fail nothing",
          "[.netns]") {
  test_hosts hosts;
  if (!hosts.ok())
    UCORO_SKIP("cannot create network namespaces here (ip netns needs root)");
  // Blocked past the default deadline (5 s) and three intervals, 4 s inside
  // its own deadline: the property at the smallest scale that still tells
  // "judged by its own deadline" from "judged by the default" (this case
  // took 30 s of blocking under an 8 s heartbeat before; same verdicts).
  SECTION("the server computes for 6 s (its thread blocked) under a 2 s heartbeat (deadline 10 s)") {
    auto server = serve(hosts, "count", "20", {"--heartbeat", "2000", "--busy", "6000"});
    auto client = connect(hosts, "count", "20", {"--heartbeat", "2000"});
    expect_line(*server, "streaming", 30s);
    expect_line(*client, "streaming", 30s);
    expect_line(*server, "done 20", 30s);
    expect_line(*client, "done 20", 30s);
    CHECK(server->wait_exit(10s) == 0);
    CHECK(client->wait_exit(10s) == 0);
  }
  SECTION("the link is throttled to 2 Mbit/s both ways (tc tbf) under 64 KiB messages, with the default heartbeat") {
    auto server = serve(hosts, "count", "40");
    auto client = connect(hosts, "count", "40");
    expect_line(*server, "streaming", 30s);
    expect_line(*client, "streaming", 30s);
    hosts.shape(1, "tbf rate 2mbit burst 16kbit latency 10s"); // to host 1, and
    hosts.shape(2, "tbf rate 2mbit burst 16kbit latency 10s"); // to host 2
    expect_line(*server, "done 40", 120s);
    expect_line(*client, "done 40", 120s);
    CHECK(server->wait_exit(30s) == 0);
    CHECK(client->wait_exit(30s) == 0);
  }

}
