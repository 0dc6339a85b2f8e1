// The pieces of peer-failure detection that need no peer: process identity
// and pidfd watching, the local-address test automatic decides by, the
// CMA fatal guard, option parsing and validation.

#include "../support/helpers.hpp"
#include "../support/skip.hpp"

#include <ucoro/p2p/detail/cma_guard.hpp>
#include <ucoro/runtime/detail/peer_process.hpp>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdarg>
#include <fstream>

extern char** environ;

using namespace ucoro;
using namespace std::chrono_literals;

namespace {

sockaddr_storage parse_address(const char* text) {
  sockaddr_storage ss{};
  if (inet_pton(AF_INET, text, &reinterpret_cast<sockaddr_in&>(ss).sin_addr) == 1) {
    ss.ss_family = AF_INET;
  } else {
    REQUIRE(inet_pton(AF_INET6, text, &reinterpret_cast<sockaddr_in6&>(ss).sin6_addr) == 1);
    ss.ss_family = AF_INET6;
  }
  return ss;
}

bool local(const char* text) {
  const auto ss = parse_address(text);
  return detail::is_local_address(reinterpret_cast<const sockaddr*>(&ss));
}

ucs_log_func_rc_t log_through_guard(const char* file, ucs_log_level_t level, const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  const auto rc = detail::cma_fatal_guard(file, 81, "uct_cma_ep_tx_error", level, nullptr, format, ap);
  va_end(ap);
  return rc;
}

bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1;
}

} // namespace

TEST_CASE("this process describes itself by boot id, pid namespace, pid and start time", "[failure][unit]") {
  const auto& self = detail::this_process();
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string boot;
  std::getline(in, boot);
  CHECK(std::string(self.boot_id.data(), self.boot_id.size()) == boot);
  CHECK(self.pid == static_cast<std::uint32_t>(::getpid()));
  CHECK(self.pid_namespace != 0);
  CHECK(self.start_time > 0);
  CHECK(self.start_time == detail::process_start_time(::getpid()));
  CHECK(self.same_host_as(self));
}

TEST_CASE("a watched process's pidfd becomes readable when it exits, and only then", "[failure][unit][.pidfd]") {
  if (!detail::pidfd_available())
    UCORO_SKIP("pidfd unavailable on this kernel");
  pid_t child = 0;
  char sleep_bin[] = "/bin/sleep", duration[] = "0.3";
  char* argv[] = {sleep_bin, duration, nullptr};
  REQUIRE(posix_spawn(&child, "/bin/sleep", nullptr, nullptr, argv, environ) == 0);
  detail::process_identity peer = detail::this_process();
  peer.pid = static_cast<std::uint32_t>(child);
  peer.start_time = detail::process_start_time(child);
  std::string why_not;
  auto fd = detail::watch_process(peer, why_not);
  REQUIRE(fd);
  CHECK(why_not.empty());
  CHECK_FALSE(readable(fd.get(), 0));
  CHECK(readable(fd.get(), 5000)); // /bin/sleep 0.3 exits
  int status = 0;
  CHECK(::waitpid(child, &status, 0) == child);
}

TEST_CASE("a claimed identity that is not the process behind the pid is refused with the reason", "[failure][unit][.pidfd]") {
  if (!detail::pidfd_available())
    UCORO_SKIP("pidfd unavailable on this kernel");
  std::string why_not;
  auto wrong_start = detail::this_process();
  wrong_start.start_time += 1; // the pid was reused since the peer described itself
  CHECK_FALSE(detail::watch_process(wrong_start, why_not));
  CHECK_THAT(why_not, Catch::Contains("start time differs"));

  auto other_host = detail::this_process();
  other_host.boot_id[0] = other_host.boot_id[0] == 'x' ? 'y' : 'x';
  CHECK_FALSE(detail::watch_process(other_host, why_not));
  CHECK_THAT(why_not, Catch::Contains("another host"));

  auto other_namespace = detail::this_process();
  other_namespace.pid_namespace += 1;
  CHECK_FALSE(detail::watch_process(other_namespace, why_not));
  CHECK_THAT(why_not, Catch::Contains("pid namespace"));

  CHECK(detail::watch_process(detail::this_process(), why_not));
}

TEST_CASE("UCORO_PIDFD=no turns pidfds off, as a kernel without them would", "[failure][unit]") {
  ::setenv("UCORO_PIDFD", "no", 1);
  const bool off = !detail::pidfd_available();
  std::string why_not;
  const bool refused = !detail::watch_process(detail::this_process(), why_not);
  ::unsetenv("UCORO_PIDFD");
  CHECK(off);
  CHECK(refused);
  CHECK(why_not == "pidfd unavailable");
}

TEST_CASE("loopback and this host's interface addresses are local; others are not", "[failure][unit]") {
  CHECK(local("127.0.0.1"));
  CHECK(local("127.1.2.3"));
  CHECK(local("::1"));
  CHECK(local("::ffff:127.0.0.1"));
  CHECK_FALSE(local("192.0.2.1"));   // TEST-NET-1: documentation only, never assigned
  CHECK_FALSE(local("2001:db8::1")); // the IPv6 documentation prefix
  ifaddrs* list = nullptr;
  REQUIRE(::getifaddrs(&list) == 0);
  int checked = 0;
  for (ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (it->ifa_addr == nullptr || it->ifa_addr->sa_family != AF_INET)
      continue;
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(it->ifa_addr)->sin_addr, text, sizeof text);
    INFO(it->ifa_name << " " << text);
    CHECK(detail::is_local_address(it->ifa_addr));
    ++checked;
  }
  ::freeifaddrs(list);
  CHECK(checked > 0);
}

TEST_CASE("the CMA guard takes exactly UCX's fatal CMA message and nothing else", "[failure][unit]") {
  const unsigned before = detail::cma_failures_survived.load();
  CHECK(log_through_guard("uct/sm/scopy/cma/cma_ep.c", UCS_LOG_LEVEL_FATAL,
                          "process_vm_readv(pid=%d) returned %d: %s", 42, -1, "No such process") ==
        UCS_LOG_FUNC_RC_STOP);
  CHECK(detail::cma_failures_survived.load() == before + 1);
  CHECK(log_through_guard("uct/sm/scopy/cma/cma_ep.c", UCS_LOG_LEVEL_ERROR, "an error: %d", 1) ==
        UCS_LOG_FUNC_RC_CONTINUE);
  CHECK(log_through_guard("ucp/core/ucp_ep.c", UCS_LOG_LEVEL_FATAL, "something else: %d", 2) ==
        UCS_LOG_FUNC_RC_CONTINUE);
  CHECK(detail::cma_failures_survived.load() == before + 1);
}

TEST_CASE("error_handling names parse and print; a bad one is named in the error", "[failure][unit]") {
  for (auto mode : {error_handling::automatic, error_handling::peer, error_handling::none})
    CHECK(parse_error_handling(to_string(mode)) == mode);
  CHECK(endpoint_options{}.error_handling == error_handling::automatic);
  CHECK(address_endpoint_options{}.error_handling == error_handling::automatic);
  try {
    (void)parse_error_handling("sometimes");
    FAIL("parsed a bad name");
  } catch (const ucx_error& e) {
    CHECK(e.code() == std::errc::invalid_argument);
    CHECK_THAT(e.what(), Catch::Contains("'sometimes'") && Catch::Contains("automatic, peer or none"));
  }
  CHECK(std::error_code(errc::peer_unresponsive) == std::errc::timed_out);
  CHECK(std::error_code(errc::peer_failed) == std::errc::connection_reset);
  CHECK(std::error_code(errc::peer_unresponsive).message() == "peer missed its heartbeat deadline");
  CHECK(std::error_code(errc::shared_memory_stuck) == std::errc::connection_aborted);
  CHECK_THAT(std::error_code(errc::shared_memory_stuck).message(),
             Catch::Contains("shared-memory receive FIFO is stuck") && Catch::Contains("new worker"));
}

TEST_CASE("heartbeat options are checked before connecting", "[failure][unit]") {
  context ctx{{{"TLS", "tcp"}}};
  worker w{ctx};
  auto attempt = [&](heartbeat_options hb) -> std::string {
    endpoint_options o;
    o.heartbeat = hb;
    try {
      (void)w.run(test::bounded(w.create_endpoint("127.0.0.1", 9, o)));
    } catch (const ucx_error& e) {
      CHECK(e.code() == std::errc::invalid_argument);
      return e.what();
    }
    return "connected";
  };
  CHECK_THAT(attempt({-1ms, 0ms}), Catch::Contains("negative heartbeat"));
  CHECK_THAT(attempt({100ms, 50ms}), Catch::Contains("shorter than its interval"));
}

TEST_CASE("an endpoint to this worker by address uses peer mode under automatic and says why", "[failure][unit]") {
  context ctx{{{"TLS", "tcp,self"}}};
  worker w{ctx};
  endpoint ep = w.create_endpoint_from_worker_address(w.address());
  CHECK(ep.failure_detection().ucx_mode == error_handling::peer);
  CHECK_FALSE(ep.failure_detection().process_watch);
  CHECK_THAT(ep.ucx_info(), Catch::Contains("UCX error handling peer") && Catch::Contains("no handshake"));
  ep.abort();
}
