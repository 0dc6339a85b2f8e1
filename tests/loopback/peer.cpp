// A peer for two-process tests: listens, prints "port N", and for its first
// client does what --mode says, printing progress lines the test waits on.
//   hang: receive one message, print "received", then never answer
//   echo: like examples/echo (recv_obj, +1, send_obj, close)
// Options: --tls LIST, --no-error-handling, --polling.

#include <ucoro/ucoro.hpp>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  std::string mode = "hang";
  std::map<std::string, std::string> ucx;
  ucoro::listener_options options;
  auto progress = ucoro::progress_mode::blocking;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--mode" && i + 1 < argc)
      mode = argv[++i];
    else if (a == "--tls" && i + 1 < argc)
      ucx["TLS"] = argv[++i];
    else if (a == "--no-error-handling")
      options.endpoint.endpoint_error_handling = false;
    else if (a == "--polling")
      progress = ucoro::progress_mode::polling;
  }
  ucoro::context ctx{ucx};
  ucoro::worker worker{ctx, progress};
  bool done = false;
  auto lf = worker.create_listener(
      [&](ucoro::endpoint ep) -> ucoro::task<void> {
        if (mode == "hang") {
          std::vector<std::byte> buf(1 << 20);
          (void)co_await ep.recv(buf);
          std::printf("received\n");
          std::fflush(stdout);
          co_await worker.sleep(3600s); // killed by the test before this ends
        } else {
          auto msg = co_await ep.recv_obj();
          for (auto& b : msg)
            b = static_cast<std::byte>(static_cast<unsigned char>(b) + 1);
          co_await ep.send_obj(msg);
          co_await ep.close();
        }
        done = true;
      },
      0, options);
  std::printf("port %u\n", lf.port());
  std::fflush(stdout);
  worker.run(ucoro::with_timeout(
      [&]() -> ucoro::task<void> {
        while (!done)
          co_await worker.sleep(1ms); // bounded poll: with_timeout below
      }(),
      120s));
  return 0;
}
