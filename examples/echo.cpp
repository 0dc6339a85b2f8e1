// The seed talk's NumPy echo in C++: the client sends n bytes of zeros, the
// server adds one to every byte and sends them back, the client checks that
// it got msg + 1.
//
//   echo                              listener and client in one process
//   echo --server [--port P]          server only; prints "listening on P"
//   echo --client HOST:P              client only
//
// Both: --size N (bytes, default 1 MiB), --polling, --tls LIST (UCX_TLS),
// --error-handling automatic|peer|none (default automatic: shared memory on
// one host, peer failure still detected; see docs/failure.md).
// Exit status 0 only if the client saw every byte incremented.

#include <ucoro/ucoro.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

// [snippet:echo]
ucoro::task<void> serve(ucoro::endpoint ep) {
  std::vector<std::byte> msg = co_await ep.recv_obj();
  for (auto& b : msg)
    b = static_cast<std::byte>(static_cast<unsigned char>(b) + 1);
  co_await ep.send_obj(msg);
  co_await ep.close();
}

ucoro::task<bool> client(ucoro::worker& worker, std::string host, std::uint16_t port, std::size_t size,
                         ucoro::endpoint_options options = {}) {
  ucoro::endpoint ep = co_await worker.create_endpoint(host, port, options);
  const std::vector<std::byte> msg(size, std::byte{0});
  co_await ep.send_obj(msg);
  const std::vector<std::byte> reply = co_await ep.recv_obj();
  co_return reply.size() == size &&
      std::all_of(reply.begin(), reply.end(), [](std::byte b) { return b == std::byte{1}; });
}
// [/snippet:echo]

struct options {
  enum { both, server, client } role = both;
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::size_t size = 1 << 20;
  ucoro::progress_mode mode = ucoro::progress_mode::blocking;
  ucoro::error_handling error_handling = ucoro::error_handling::automatic;
  std::map<std::string, std::string> ucx;
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "echo: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--server") {
      o.role = options::server;
    } else if (a == "--client") {
      o.role = options::client;
      const std::string target = next();
      const auto colon = target.rfind(':');
      if (colon == std::string::npos) {
        std::fprintf(stderr, "echo: --client wants HOST:PORT\n");
        std::exit(2);
      }
      o.host = target.substr(0, colon);
      o.port = static_cast<std::uint16_t>(std::stoul(target.substr(colon + 1)));
    } else if (a == "--port") {
      o.port = static_cast<std::uint16_t>(std::stoul(next()));
    } else if (a == "--size") {
      o.size = std::stoull(next());
    } else if (a == "--polling") {
      o.mode = ucoro::progress_mode::polling;
    } else if (a == "--error-handling") {
      o.error_handling = ucoro::parse_error_handling(next());
    } else if (a == "--tls") {
      o.ucx["TLS"] = next();
    } else {
      std::fprintf(stderr, "usage: echo [--server [--port P] | --client HOST:P] [--size N] [--polling] [--tls LIST] "
                           "[--error-handling automatic|peer|none]\n");
      std::exit(2);
    }
  }
  return o;
}

} // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  try {
    ucoro::context ctx{o.ucx};
    ucoro::worker worker{ctx, o.mode};
    ucoro::endpoint_options endpoint_options;
    endpoint_options.error_handling = o.error_handling;
    ucoro::listener_options listener_options;
    listener_options.endpoint = endpoint_options;

    if (o.role == options::client) {
      const bool ok = worker.run(ucoro::with_timeout(client(worker, o.host, o.port, o.size, endpoint_options), 60s));
      std::printf("echo client: %zu bytes %s\n", o.size, ok ? "incremented: ok" : "WRONG");
      return ok ? 0 : 1;
    }

    std::size_t served = 0;
    ucoro::event first_served{worker};
    auto lf = worker.create_listener(
        [&](ucoro::endpoint ep) -> ucoro::task<void> {
          co_await serve(std::move(ep));
          ++served;
          first_served.set();
        },
        o.port, listener_options);

    if (o.role == options::server) {
      std::printf("listening on %u\n", lf.port());
      std::fflush(stdout);
      // Serve one client, then exit (bounded: a test's client may never come).
      worker.run(ucoro::with_timeout(first_served.wait(), 120s));
      std::printf("echo server: served %zu client(s)\n", served);
      return 0;
    }

    const bool ok = worker.run(ucoro::with_timeout(
        [&]() -> ucoro::task<bool> {
          const bool echoed = co_await client(worker, "127.0.0.1", lf.port(), o.size, endpoint_options);
          co_await lf.wait_idle(); // the handler's close too, before the worker goes
          co_return echoed;
        }(),
        60s));
    std::printf("echo (one process, port %u): %zu bytes %s\n", lf.port(), o.size, ok ? "incremented: ok" : "WRONG");
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo: %s\n", e.what());
    return 1;
  }
}
