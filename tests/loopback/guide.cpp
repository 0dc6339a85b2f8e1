// The code docs/guide.md shows, compiled and run: each region between
// [snippet:NAME] markers is what the guide prints (scripts/check-snippets.py
// compares them), and each TEST_CASE checks that it does what the guide says.

#include "../support/helpers.hpp"

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

// [snippet:typed_server]
// A server handler: receive typed objects, reply, close.
ucoro::task<void> greet(ucoro::endpoint ep) {
  std::string name = co_await ep.recv_obj<std::string>();          // any resizable contiguous container
  std::vector<float> xs = co_await ep.recv_obj<std::vector<float>>(); // bad_message if not whole floats
  float sum = 0;
  for (float x : xs)
    sum += x;
  co_await ep.send_obj("hello, " + name);
  co_await ep.send(std::span(&sum, 1)); // a scalar is a one-element span
  co_await ep.close();
}
// [/snippet:typed_server]

// [snippet:typed_client]
ucoro::task<std::string> client(ucoro::worker& w, std::uint16_t port) {
  ucoro::endpoint ep = co_await w.create_endpoint("127.0.0.1", port);
  const std::vector<float> xs{1.5F, 2.5F};
  co_await ep.send_obj(std::string("ucoro"));
  co_await ep.send_obj(xs);
  std::string greeting = co_await ep.recv_obj<std::string>();
  float sum = 0;
  co_await ep.recv(std::span(&sum, 1));
  co_await ep.close();
  co_return greeting + " (sum " + std::to_string(static_cast<int>(sum)) + ")";
}
// [/snippet:typed_client]

} // namespace

TEST_CASE("guide: contexts, workers and the three progress modes", "[guide]") {
  // [snippet:context_worker]
  ucoro::context ctx;                                                      // defaults + UCX_* environment
  ucoro::context tcp_ctx{{{"TLS", "tcp,self"}, {"NET_DEVICES", "lo"}}};    // like ucp.init(options)
  ucoro::worker worker{ctx};                                               // progress_mode::blocking, the default
  ucoro::worker spinning{ctx, ucoro::progress_mode::polling};              // never sleeps: lowest latency
  ucoro::worker polite{tcp_ctx, ucoro::progress_mode::yielding};           // polls, sched_yield()s when idle
  // [/snippet:context_worker]
  CHECK(worker.run([]() -> ucoro::task<int> { co_return 1; }()) == 1);
  CHECK(spinning.run([]() -> ucoro::task<int> { co_return 2; }()) == 2);
  CHECK(polite.run([]() -> ucoro::task<int> { co_return 3; }()) == 3);
}

TEST_CASE("guide: a typed exchange, and a server that waits for its handler", "[guide]") {
  ucoro::context ctx;
  ucoro::worker w{ctx};
  std::vector<std::string> errors;
  // [snippet:server_main]
  ucoro::listener_options options;
  options.on_error = [&](std::exception_ptr e) { // a handler's exception, as it happens
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      errors.push_back(ex.what());
    }
  };
  ucoro::listener lf = w.create_listener(greet, 0, options);
  std::string reply = w.run(ucoro::with_timeout(
      [&]() -> ucoro::task<std::string> {
        std::string got = co_await client(w, lf.port());
        co_await lf.wait_idle(); // the handler's close too, before the worker goes away
        co_return got;
      }(),
      10s));
  // [/snippet:server_main]
  CHECK(reply == "hello, ucoro (sum 4)");
  CHECK(errors.empty());
  CHECK(lf.handled() == 1);
}

TEST_CASE("guide: a braced temporary in co_await, named first for GCC 12", "[guide][compilers]") {
  ucoro::context ctx;
  ucoro::worker w{ctx};
  std::uint8_t received = 0;
  ucoro::listener lf = w.create_listener(
      [&](ucoro::endpoint ep) -> ucoro::task<void> {
        co_await ep.recv(std::span(&received, 1));
        co_await ep.close();
      },
      0);
  w.run(ucoro::with_timeout(
      [&]() -> ucoro::task<void> {
        ucoro::endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port());
        // [snippet:gcc12_braced_temporary]
        // co_await ep.send(std::vector<std::uint8_t>{1}); // GCC 12: "array used as initializer"
        const std::vector<std::uint8_t> one{1}; // named first: every compiler takes it
        co_await ep.send(one);
        // [/snippet:gcc12_braced_temporary]
        co_await ep.close();
        co_await lf.wait_idle();
      }(),
      10s));
  CHECK(received == 1);
}
