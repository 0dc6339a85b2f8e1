// A peer for two-process tests: listens, prints "port N", and for its first
// client does what --mode says, printing progress lines the test waits on.
//   hang:   receive one message, print "received", then never answer
//   echo:   like examples/echo (recv_obj, +1, send_obj, close)
//   idle:   print "connected", then do nothing
//   stream: send --size byte messages to the client without end (print
//           "streaming" after the first)
//   sink:   receive --size byte messages without end (print "sinking"
//           after the first)
//   send_exit: after 50 ms (the client's receive is pending), send the 8-byte
//           value 42 and exit at once (status 0), no close
//   user_tag: send one --size message in the worker-level user tag space
//           (tag 7) on the endpoint's UCX endpoint, print "sending", then
//           idle until killed (the send completes when it is received)
//   send_exit_both: at once, send 42 on the ordered channel and 43 with
//           tag 0xffffffff, then exit the same way
//   address: no listener; given --peer-address HEX and --peer-info HEX (the
//           test's worker), print "address HEX info HEX" (this worker's),
//           connect by worker address under automatic, echo one message
//           (recv_obj, +1, send_obj), print "echoed", then wait to be killed
// Options: --tls LIST, --error-handling automatic|peer|none (or
// --no-error-handling: none), --heartbeat MS, --polling, --size N.

#include <ucoro/ucoro.hpp>
#include <ucoro/host_memory.hpp>

#include "../support/hex.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <span>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

void say(const char* line) {
  std::printf("%s\n", line);
  std::fflush(stdout);
}

int echo_by_address(ucoro::worker& worker, const std::string& address_hex, const std::string& info_hex) {
  const auto mine = worker.address();
  const auto info = worker.local_peer_info();
  std::printf("address %s info %s\n", ucoro::test::to_hex(mine.data(), mine.size()).c_str(),
              ucoro::test::to_hex(&info, sizeof info).c_str());
  std::fflush(stdout);
  ucoro::address_endpoint_options o;
  o.peer = ucoro::test::from_hex_as<ucoro::peer_info>(info_hex);
  ucoro::endpoint ep = worker.create_endpoint_from_worker_address(ucoro::test::from_hex(address_hex), o);
  worker.run(ucoro::with_timeout(
      [&]() -> ucoro::task<void> {
        auto msg = co_await ep.recv_obj();
        for (auto& b : msg)
          b = static_cast<std::byte>(static_cast<unsigned char>(b) + 1);
        co_await ep.send_obj(msg);
        say("echoed");
        co_await worker.sleep(3600s); // not a wait for anything: this peer idles until the test kills it (its death is the behaviour under test)
      }(),
      120s));
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive the test or benchmark that started it
  std::string mode = "hang";
  std::size_t size = 4096;
  std::map<std::string, std::string> ucx;
  std::string peer_address, peer_info;
  ucoro::listener_options options;
  auto progress = ucoro::progress_mode::blocking;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--mode" && i + 1 < argc)
      mode = argv[++i];
    else if (a == "--tls" && i + 1 < argc)
      ucx["TLS"] = argv[++i];
    else if (a == "--size" && i + 1 < argc)
      size = std::stoull(argv[++i]);
    else if (a == "--no-error-handling")
      options.endpoint.error_handling = ucoro::error_handling::none;
    else if (a == "--error-handling" && i + 1 < argc)
      options.endpoint.error_handling = ucoro::parse_error_handling(argv[++i]);
    else if (a == "--heartbeat" && i + 1 < argc)
      options.endpoint.heartbeat.interval = std::chrono::milliseconds(std::stoll(argv[++i]));
    else if (a == "--polling")
      progress = ucoro::progress_mode::polling;
    else if (a == "--peer-address" && i + 1 < argc)
      peer_address = argv[++i];
    else if (a == "--peer-info" && i + 1 < argc)
      peer_info = argv[++i];
  }
  ucoro::context ctx{ucx};
  ucoro::worker worker{ctx, progress};
  if (mode == "address")
    return echo_by_address(worker, peer_address, peer_info);
  ucoro::event done{worker};
  auto lf = worker.create_listener(
      [&](ucoro::endpoint ep) -> ucoro::task<void> {
        if (mode == "hang") {
          std::vector<std::byte> buf(1 << 20);
          (void)co_await ep.recv(buf);
          say("received");
          co_await worker.sleep(3600s); // not a wait for anything: this peer idles until the test kills it (its death is the behaviour under test)
        } else if (mode == "send_exit") {
          const std::uint64_t value = 42;
          co_await worker.sleep(50ms); // not a wait for anything: the client's receive is pending by then (the case under test)
          co_await ep.send(std::span(&value, 1));
          ::_exit(0); // the behaviour under test: gone right after its last message, no close
        } else if (mode == "send_exit_both") {
          const std::uint64_t ordered = 42;
          const std::uint64_t tagged = 43;
          co_await ep.send(std::span(&ordered, 1));
          co_await ep.tag_send(std::span(&tagged, 1), 0xFFFFFFFF);
          ::_exit(0); // as send_exit
        } else if (mode == "user_tag") {
          ucoro::host_memory buf(size);
          std::memset(buf.data(), 0x5a, size);
          say("sending");
          co_await ucoro::tag_send(worker.engine(), ep.ucp_endpoint(), buf.data(), size, 7);
          co_await worker.sleep(3600s); // not a wait for anything: this peer idles until the test kills it (its death is the behaviour under test)
        } else if (mode == "idle") {
          say("connected");
          co_await worker.sleep(3600s); // not a wait for anything: this peer idles until the test kills it (its death is the behaviour under test)
        } else if (mode == "stream" || mode == "sink") {
          ucoro::host_memory buf(size);
          for (std::uint64_t n = 0;; ++n) { // ends when the test kills this process
            if (mode == "stream")
              co_await ep.send(buf);
            else
              (void)co_await ep.recv(buf);
            if (n == 0)
              say(mode == "stream" ? "streaming" : "sinking");
          }
        } else {
          auto msg = co_await ep.recv_obj();
          for (auto& b : msg)
            b = static_cast<std::byte>(static_cast<unsigned char>(b) + 1);
          co_await ep.send_obj(msg);
          co_await ep.close();
        }
        done.set();
      },
      0, options);
  std::printf("port %u\n", lf.port());
  std::fflush(stdout);
  worker.run(ucoro::with_timeout(done.wait(), 120s));
  return 0;
}
