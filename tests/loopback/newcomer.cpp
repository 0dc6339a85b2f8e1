// What a newcomer meets in the first hour: the diagnosis of a port where
// nothing listens, timeouts that say timed_out however they are awaited,
// error texts that say each thing once, handler failures that surface while
// run() runs, typed recv_obj, and waiting for a handler with wait_idle.

#include "../support/helpers.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace ucoro;
using namespace std::chrono_literals;

// Results are awaited into locals, never inside CHECK(...): GCC 12
// mis-compiles a co_await inside Catch's decomposed expression (the awaited
// operation is posted but its result never reaches the check).

namespace {

listener_options loopback_listener() {
  listener_options o;
  o.bind_address = "127.0.0.1";
  return o;
}

/// A port that is bound but not listening while this object lives: a
/// connection to it is refused, and no other test can take the port.
class unlistened_port {
public:
  unlistened_port() : m_fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    REQUIRE(::bind(m_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::getsockname(m_fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    m_port = ntohs(address.sin_port);
  }
  unlistened_port(const unlistened_port&) = delete;
  unlistened_port& operator=(const unlistened_port&) = delete;
  ~unlistened_port() { ::close(m_fd); }
  [[nodiscard]] std::uint16_t port() const noexcept { return m_port; }

private:
  int m_fd;
  std::uint16_t m_port = 0;
};

std::size_t occurrences(const std::string& text, const std::string& part) {
  std::size_t count = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1))
    ++count;
  return count;
}

/// A listener that keeps the endpoint it accepts; connect() returns the
/// client's end once the server's has arrived too.
struct pair {
  explicit pair(worker& w, listener_options options = loopback_listener())
      : wk(&w), arrived(w), lf(w.create_listener(
                                [this](endpoint ep) -> task<void> {
                                  server.emplace(std::move(ep));
                                  arrived.set();
                                  co_return;
                                },
                                0, std::move(options))) {}
  task<endpoint> connect() {
    endpoint ep = co_await wk->create_endpoint("127.0.0.1", lf.port());
    co_await arrived.wait();
    co_return std::move(ep);
  }
  worker* wk;
  event arrived;
  std::optional<endpoint> server;
  listener lf;
};

/// Runs `body(p, client)` on a connected pair, once in each progress mode.
template <class Body>
void in_each_mode(Body body) {
  for (auto mode : {progress_mode::blocking, progress_mode::polling}) {
    INFO(test::mode_name(mode));
    context ctx;
    worker w{ctx, mode};
    pair p(w);
    w.run(test::bounded([&]() -> task<void> {
      endpoint ep = co_await p.connect();
      REQUIRE(p.server);
      co_await body(p, ep);
    }()));
  }
}

} // namespace

TEST_CASE("create_endpoint to a port where nothing listens is connection_refused naming host:port, in every "
          "error mode",
          "[newcomer][connect]") {
  const unlistened_port nobody;
  const std::string where = "127.0.0.1:" + std::to_string(nobody.port());
  for (auto mode : {error_handling::automatic, error_handling::peer, error_handling::none}) {
    INFO(to_string(mode));
    context ctx;
    worker w{ctx};
    endpoint_options options;
    options.error_handling = mode;
    const auto start = std::chrono::steady_clock::now();
    try {
      (void)w.run(test::bounded(w.create_endpoint("127.0.0.1", nobody.port(), options)));
      FAIL("connected to a port where nothing listens");
    } catch (const ucx_error& e) {
      CHECK(e.code() == std::errc::connection_refused);
      CHECK(std::string(e.what()) == "create_endpoint: nothing listening on " + where + ": " + e.code().message());
      // Nothing about error-handling modes: no mismatch was seen.
      CHECK_THAT(e.what(), !Catch::Contains("this side used") && !Catch::Contains("error_handling"));
    }
    // Refused at once, not after a connect timeout.
    CHECK(std::chrono::steady_clock::now() - start < endpoint_options{}.connect_timeout);
  }
}

TEST_CASE("with_timeout reports timed_out whether the operation throws, is .nothrow() or as_result",
          "[newcomer][timeout]") {
  in_each_mode([](pair& p, endpoint& ep) -> task<void> {
    std::vector<std::byte> buf(8);
    try {
      (void)co_await with_timeout(ep.recv(buf), 100ms);
      FAIL("a receive with nobody sending completed");
    } catch (const ucx_error& e) {
      CHECK(e.code() == std::errc::timed_out);
      CHECK(std::string(e.what()) == "recv of 8 bytes of host memory from 127.0.0.1:" + std::to_string(p.lf.port()) +
                                         ": no completion within 100 ms (with_timeout): " + e.code().message());
    }
    const result<std::size_t> nothrow = co_await with_timeout(ep.recv(buf).nothrow(), 100ms);
    CHECK(nothrow.error == std::errc::timed_out);
    const result<std::size_t> as = co_await with_timeout(as_result(ep.recv(buf)), 100ms);
    CHECK(as.error == std::errc::timed_out);
    // A stop request that is not a timeout stays a cancellation.
    std::stop_source stop;
    stop.request_stop();
    const result<std::size_t> stopped = co_await with_timeout(with_stop_token(ep.recv(buf).nothrow(), stop.get_token()), 5s);
    CHECK(stopped.error == std::errc::operation_canceled);
    // And the endpoint is still fine afterwards.
    const std::vector<std::byte> sent = test::pattern(8);
    co_await p.server->send(sent);
    const std::size_t got = co_await ep.recv(buf);
    CHECK(got == 8);
    CHECK(buf == sent);
  });
}

TEST_CASE("error texts say each thing once", "[newcomer][text]") {
  context ctx;
  worker w{ctx};
  pair p(w);
  std::vector<std::string> texts;
  std::vector<std::string> messages;
  auto keep = [&](const ucx_error& e) {
    texts.emplace_back(e.what());
    messages.push_back(e.code().message());
  };
  w.run(test::bounded([&]() -> task<void> {
    endpoint ep = co_await p.connect();
    std::vector<std::byte> small(4);
    std::vector<std::byte> buf(8);
    try { // cancelled
      std::stop_source stop;
      stop.request_stop();
      (void)co_await with_stop_token(ep.recv(buf), stop.get_token());
    } catch (const ucx_error& e) {
      keep(e);
    }
    try { // too large
      co_await p.server->send(buf);
      (void)co_await ep.recv(small);
    } catch (const ucx_error& e) {
      keep(e);
    }
    try { // timed out
      (void)co_await with_timeout(ep.recv(buf), 50ms);
    } catch (const ucx_error& e) {
      keep(e);
    }
    try { // closed by the peer
      co_await p.server->close();
      (void)co_await ep.recv(buf);
    } catch (const ucx_error& e) {
      keep(e);
    }
  }()));
  const unlistened_port nobody;
  try { // refused
    (void)w.run(test::bounded(w.create_endpoint("127.0.0.1", nobody.port())));
  } catch (const ucx_error& e) {
    keep(e);
  }
  REQUIRE(texts.size() == 5);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    INFO(texts[i]);
    CHECK(occurrences(texts[i], messages[i]) == 1);
    CHECK(occurrences(texts[i], ": " + messages[i] + ": " + messages[i]) == 0);
  }
}

TEST_CASE("a listener handler's exception reaches on_error while run is still running", "[newcomer][handler]") {
  context ctx;
  worker w{ctx};
  event seen{w};
  std::string reported;
  listener_options options = loopback_listener();
  options.on_error = [&](std::exception_ptr e) {
    reported = detail::describe_exception(e);
    seen.set();
  };
  auto lf = w.create_listener(
      [](endpoint ep) -> task<void> {
        std::vector<std::byte> b(8);
        (void)co_await ep.recv(b);
        throw std::runtime_error("handler bug 1");
      },
      0, options);
  w.run(test::bounded([&]() -> task<void> {
    endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port());
    co_await ep.send(std::vector<std::byte>(8));
    co_await seen.wait(); // completes only if on_error ran during this run
  }()));
  CHECK(reported == "handler bug 1");
}

TEST_CASE("without on_error, a handler's or spawned task's exception reaches the worker's error handler at once",
          "[newcomer][handler]") {
  context ctx;
  worker w{ctx};
  event seen{w};
  std::vector<std::string> reported;
  w.set_error_handler([&](std::exception_ptr e) {
    reported.push_back(detail::describe_exception(e));
    if (reported.size() == 2)
      seen.set();
  });
  auto lf = w.create_listener(
      [](endpoint ep) -> task<void> {
        std::vector<std::byte> b(8);
        (void)co_await ep.recv(b);
        throw std::runtime_error("handler bug 2");
      },
      0, loopback_listener());
  w.spawn([]() -> task<void> {
    co_return;
  }());
  w.spawn([](worker& wk) -> task<void> {
    co_await wk.sleep(1ms); // the behaviour under test: it fails later, while run() runs, not inside spawn()
    throw std::logic_error("spawned bug");
  }(w));
  w.run(test::bounded([&]() -> task<void> {
    endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port());
    co_await ep.send(std::vector<std::byte>(8));
    co_await seen.wait();
  }()));
  REQUIRE(reported.size() == 2);
  CHECK(std::count(reported.begin(), reported.end(), "handler bug 2") == 1);
  CHECK(std::count(reported.begin(), reported.end(), "spawned bug") == 1);
}

TEST_CASE("with no handler set, a failure is on stderr before run returns", "[newcomer][handler]") {
  // stderr goes to a file for the duration; the default handler writes there.
  char path[] = "/tmp/ucoro_stderr_XXXXXX";
  const int file = ::mkstemp(path);
  REQUIRE(file >= 0);
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(file, STDERR_FILENO);
  auto read_back = [&] {
    std::fflush(stderr);
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  std::string during;
  {
    context ctx;
    worker w{ctx};
    auto lf = w.create_listener(
        [](endpoint ep) -> task<void> {
          std::vector<std::byte> b(8);
          (void)co_await ep.recv(b);
          throw std::runtime_error("handler bug 3");
        },
        0, loopback_listener());
    w.run(test::bounded([&]() -> task<void> {
      endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port());
      co_await ep.send(std::vector<std::byte>(8));
      co_await lf.wait_idle(); // the handler has thrown
      during = read_back();
    }()));
  }
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(file);
  const std::string after = read_back();
  ::unlink(path);
  CHECK_THAT(during, Catch::Contains("handler bug 3") && Catch::Contains("set_error_handler"));
  CHECK(occurrences(after, "handler bug 3") == 1); // reported once, not again at destruction
}

TEST_CASE("typed recv_obj: strings, float vectors, empty payloads; a size that is not a whole number of "
          "elements is bad_message and the endpoint stays in step",
          "[newcomer][recv_obj]") {
  in_each_mode([](pair& p, endpoint& ep) -> task<void> {
    endpoint& server = *p.server;
    co_await server.send_obj(std::string("hello, ucoro"));
    const std::string text = co_await ep.recv_obj<std::string>();
    CHECK(text == "hello, ucoro");

    const std::vector<float> floats{1.5F, -2.25F, 3e8F};
    co_await server.send_obj(floats);
    const auto got_floats = co_await ep.recv_obj<std::vector<float>>();
    CHECK(got_floats == floats);

    co_await server.send_obj(std::vector<double>{});
    const auto got_empty = co_await ep.recv_obj<std::vector<double>>();
    CHECK(got_empty.empty());

    co_await server.send_obj(std::vector<std::byte>(10, std::byte{1}));
    try {
      (void)co_await ep.recv_obj<std::vector<float>>();
      FAIL("10 bytes became floats");
    } catch (const ucx_error& e) {
      CHECK(e.code() == std::errc::bad_message);
      CHECK_THAT(e.what(), Catch::Contains("10 bytes are not a whole number of 4-byte elements"));
    }
    // Still in step: the next object arrives whole.
    const std::vector<std::uint64_t> next{7, 8, 9};
    co_await server.send_obj(next);
    const auto got_next = co_await ep.recv_obj<std::vector<std::uint64_t>>();
    CHECK(got_next == next);

    // A scalar is a one-element span.
    const double x = 2.718;
    double y = 0;
    co_await server.send(std::span(&x, 1));
    const std::size_t got_scalar = co_await ep.recv(std::span(&y, 1));
    CHECK(got_scalar == sizeof y);
    CHECK(y == x);

    // Bytes, as before.
    co_await server.send_obj(test::pattern(100));
    const std::vector<std::byte> got_bytes = co_await ep.recv_obj();
    CHECK(got_bytes == test::pattern(100));
  });
}

TEST_CASE("listener.wait_idle waits for a handler's last send and close, and counts what it handled",
          "[newcomer][wait_idle]") {
  for (auto mode : {progress_mode::blocking, progress_mode::polling}) {
    INFO(test::mode_name(mode));
    context ctx;
    worker w{ctx, mode};
    bool handler_finished = false;
    auto lf = w.create_listener(
        [&](endpoint ep) -> task<void> {
          std::vector<std::byte> msg = co_await ep.recv_obj();
          co_await ep.send_obj(msg);
          co_await w.sleep(30ms); // the behaviour under test: work after the reply, which wait_idle must wait for
          co_await ep.close();
          handler_finished = true;
        },
        0, loopback_listener());
    w.run(test::bounded([&]() -> task<void> {
      co_await lf.wait_idle(); // nothing connected yet: at once
      CHECK(lf.active() == 0);
      endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port());
      co_await ep.send_obj(test::pattern(64));
      const std::vector<std::byte> reply = co_await ep.recv_obj();
      CHECK(reply == test::pattern(64));
      CHECK(lf.active() == 1);
      CHECK_FALSE(handler_finished);
      co_await lf.wait_idle();
      CHECK(handler_finished);
      CHECK(lf.active() == 0);
      CHECK(lf.handled() == 1);
    }()));
  }
}
