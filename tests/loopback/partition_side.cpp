// One side of a point-to-point connection whose link the partition tests
// cut (tests/loopback/partition.cpp), with default endpoint options unless
// told otherwise. Prints one line per event the test waits on, and ends by
// itself: every wait is bounded.
//   serve PORT MODE          listen on PORT (fixed), serve the first client
//   connect HOST PORT MODE   connect, then MODE
// MODE:
//   stream   send 64 KiB messages (numbered, filled from the number) until
//            one fails; "streaming" after the first
//   sink     receive and check them until one fails; "streaming" after the first
//   idle     post one receive that no one answers; "connected"
//   count N  send (or, serving, receive and check) N messages, 10 ms apart,
//            then "done N" (a short outage in between must lose nothing)
//   timed    stream, each send under with_timeout(2 s); a send that ends
//            otherwise than complete prints "returned after MS ms"
//   close    "connected", then after 1 s (the test cuts the link meanwhile)
//            a graceful close(), then "closed after MS ms"
// A failure prints "failed <error name>: <what()>".
// Options: --heartbeat MS (endpoint heartbeat instead of the default),
// --busy MS (count: block the thread that long after the first message, as
// a long computation between two co_awaits does), --no-heartbeat (turns
// the default remote heartbeat off), --close-timeout MS.

#include <ucoro/host_memory.hpp>
#include <ucoro/ucoro.hpp>

#include <signal.h>
#include <sys/prctl.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

using namespace ucoro;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t message_size = 64 << 10;

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

/// "closed after 4005 ms": the test reads the figure back.
void say_after(const char* what, std::chrono::steady_clock::time_point start) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  say(std::string(what) + " after " + std::to_string(ms.count()) + " ms");
}

void fill(host_memory& m, std::uint64_t n) {
  std::memset(m.data(), static_cast<int>(n & 0xff), message_size);
  std::memcpy(m.data(), &n, sizeof n);
}

bool holds(const host_memory& m, std::uint64_t n) {
  std::uint64_t got = 0;
  std::memcpy(&got, m.data(), sizeof got);
  const auto* bytes = reinterpret_cast<const unsigned char*>(m.data());
  for (std::size_t i = sizeof got; i < message_size; i += 4093)
    if (bytes[i] != (n & 0xff))
      return false;
  return got == n && bytes[message_size - 1] == (n & 0xff);
}

struct side {
  worker& w;
  std::string mode;
  std::uint64_t count = 0;
  std::chrono::milliseconds busy{0};

  task<void> run(endpoint& ep) {
    host_memory buf(message_size);
    const bool serving_count = mode == "count_recv";
    if (mode == "idle") {
      say("connected");
      (void)co_await with_timeout(ep.recv(buf), 60s);
      co_return;
    }
    if (mode == "close") {
      say("connected");
      co_await w.sleep(1s); // the behaviour under test: the link is cut meanwhile
      const auto start = std::chrono::steady_clock::now();
      co_await with_timeout(ep.close(), 60s);
      say_after("closed", start);
      co_return;
    }
    if (mode == "count" || serving_count) {
      for (std::uint64_t n = 0; n < count; ++n) {
        if (serving_count) {
          (void)co_await with_timeout(ep.recv(buf), 60s);
          if (!holds(buf, n))
            throw std::runtime_error("message " + std::to_string(n) + " arrived corrupted or out of order");
        } else {
          fill(buf, n);
          co_await with_timeout(ep.send(buf), 60s);
          co_await w.sleep(10ms); // the behaviour under test: the stream spans the outage
        }
        if (n == 0) {
          say("streaming");
          std::this_thread::sleep_for(busy); // the behaviour under test: no progress, no heartbeats, meanwhile
        }
      }
      say("done " + std::to_string(count));
      co_await with_timeout(ep.close(), 10s);
      co_return;
    }
    for (std::uint64_t n = 0; n < 1'000'000; ++n) {
      if (mode == "sink") {
        (void)co_await with_timeout(ep.recv(buf), 60s);
        if (!holds(buf, n))
          throw std::runtime_error("message " + std::to_string(n) + " arrived corrupted or out of order");
      } else {
        fill(buf, n);
        const auto start = std::chrono::steady_clock::now();
        std::exception_ptr failure;
        try {
          co_await with_timeout(ep.send(buf), mode == "timed" ? 2s : 60s);
        } catch (...) {
          failure = std::current_exception();
        }
        if (failure) {
          if (mode == "timed")
            say_after("returned", start);
          std::rethrow_exception(failure);
        }
      }
      if (n == 0)
        say("streaming");
    }
  }
};

} // namespace

int main(int argc, char** argv) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive the test
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: %s serve PORT MODE | connect HOST PORT MODE [N] [--heartbeat MS] [--error-handling MODE]\n",
                 argv[0]);
    return 2;
  }
  const bool serve = std::string(argv[1]) == "serve";
  int at = serve ? 2 : 3;
  const auto port = static_cast<std::uint16_t>(std::stoul(argv[at++]));
  const std::string mode = argv[at++];
  std::uint64_t count = 0;
  std::chrono::milliseconds busy{0};
  endpoint_options options;
  for (int i = at; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--heartbeat" && i + 1 < argc)
      options.heartbeat.interval = std::chrono::milliseconds(std::stoll(argv[++i]));
    else if (a == "--error-handling" && i + 1 < argc)
      options.error_handling = parse_error_handling(argv[++i]);
    else if (a == "--no-heartbeat")
      options.remote_heartbeat.interval = 0ms;
    else if (a == "--close-timeout" && i + 1 < argc)
      options.close_timeout = std::chrono::milliseconds(std::stoll(argv[++i]));
    else if (a == "--busy" && i + 1 < argc)
      busy = std::chrono::milliseconds(std::stoll(argv[++i]));
    else
      count = std::stoull(a);
  }
  try {
    context ctx;
    worker w{ctx};
    side me{w, serve && mode == "count" ? "count_recv" : mode, count, busy};
    if (serve) {
      event done{w};
      std::exception_ptr failure;
      listener_options lo;
      lo.endpoint = options;
      auto l = w.create_listener(
          [&](endpoint ep) -> task<void> {
            try {
              co_await me.run(ep);
            } catch (...) {
              failure = std::current_exception();
            }
            done.set();
          },
          port, lo);
      say("listening");
      w.run(with_timeout(done.wait(), 120s));
      if (failure)
        std::rethrow_exception(failure);
    } else {
      endpoint ep = w.run(with_timeout(w.create_endpoint(argv[2], port, options), 30s));
      w.run(with_timeout(me.run(ep), 120s));
    }
    return 0;
  } catch (const std::system_error& e) {
    say(std::string("failed ") + e.code().message() + ": " + e.what());
    return 1;
  } catch (const std::exception& e) {
    say(std::string("failed: ") + e.what());
    return 1;
  }
}
