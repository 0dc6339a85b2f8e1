// A ucoro worker inside a program's own epoll loop, as a complete program
// (docs/guide.md shows it whole; it runs as a test).
// [snippet:epoll_loop]
#include <ucoro/ucoro.hpp>

#include <sys/epoll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <vector>

using namespace std::chrono_literals;

// Spawned work is a function, not a capturing lambda: a lambda's captures live
// in the lambda object, which is gone by the time a spawned task runs.
ucoro::task<void> client(ucoro::worker& w, std::uint16_t port, std::size_t& echoed, bool& finished) {
  ucoro::endpoint ep = co_await w.create_endpoint("127.0.0.1", port);
  co_await ep.send_obj(std::vector<std::byte>(1000, std::byte{7}));
  echoed = (co_await ep.recv_obj()).size();
  co_await ep.close();
  co_await w.sleep(20ms); // a ucoro timer: the epoll timeout below wakes the loop for it
  finished = true;
}

int main() {
  ucoro::context ctx;
  ucoro::worker w{ctx}; // progress_mode::blocking: arm() lets the loop sleep
  bool finished = false;
  std::size_t echoed = 0;

  // Work for the loop: an echo listener, and a client started with spawn.
  ucoro::listener server = w.create_listener([](ucoro::endpoint ep) -> ucoro::task<void> {
    std::vector<std::byte> msg = co_await ep.recv_obj();
    co_await ep.send_obj(msg);
    co_await ep.close();
  });
  w.spawn(client(w, server.port(), echoed, finished));

  // The program's own loop; it could watch its own fds in the same epoll set.
  const int loop = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  if (epoll_ctl(loop, EPOLL_CTL_ADD, w.event_fd(), &ev) != 0)
    return 1;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!finished && std::chrono::steady_clock::now() < deadline) {
    while (w.progress()) { // drain: UCX, resumed coroutines, posts, due timers
    }
    if (finished || !w.arm()) // false: events arrived meanwhile, progress again first
      continue;
    int timeout_ms = 100; // sleep until the fd is readable or ucoro's next timer is due
    if (std::optional<std::chrono::nanoseconds> due = w.time_to_next_timer())
      timeout_ms = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(*due).count());
    epoll_event out{};
    (void)epoll_wait(loop, &out, 1, timeout_ms);
  }
  ::close(loop);
  std::printf("epoll loop: echoed %zu bytes, %s\n", echoed, finished ? "finished" : "TIMED OUT");
  return finished && echoed == 1000 ? 0 : 1;
}
// [/snippet:epoll_loop]
