#include "../support/helpers.hpp"
#include "../support/raw_endpoint.hpp"
#include <ucoro/comm/detail/tag_fields.hpp>

#include <sys/epoll.h>

#include <atomic>
#include <thread>

using namespace ucoro;
using namespace std::chrono_literals;

namespace {

task<std::size_t> exchange(worker& w, ucp_ep_h ep, std::size_t size) {
  const auto sent = test::pattern(size, static_cast<std::uint32_t>(size));
  std::vector<std::byte> received(size);
  auto recv = [&]() -> task<tag_recv_info> {
    co_return co_await tag_recv(w.engine(), received.data(), received.size(), 0x42);
  };
  auto send = [&]() -> task<void> { co_await tag_send(w.engine(), ep, sent.data(), sent.size(), 0x42); };
  auto [info, unused] = co_await test::bounded(when_all(recv(), send()));
  (void)unused;
  CHECK(info.sender_tag == 0x42);
  CHECK(info.length == size);
  CHECK(received == sent);
  co_return info.length;
}

} // namespace

TEST_CASE("every progress mode completes a tag send/recv between two endpoints on one worker", "[worker][tag]") {
  for (auto mode : {progress_mode::blocking, progress_mode::polling, progress_mode::yielding}) {
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{4096}, std::size_t{1} << 20}) {
      INFO(test::mode_name(mode) << " " << size << " bytes");
      context ctx;
      worker w{ctx, mode};
      test::raw_endpoint ep{w, w.address()};
      CHECK(w.run(exchange(w, ep.get(), size)) == size);
    }
  }
}

// Sleeping versus spinning is told by what the engine did, not by CPU
// time, which depends on the machine's load.
TEST_CASE("in blocking mode an awaited sleep waits in epoll instead of spinning", "[worker][blocking]") {
  context ctx;
  worker w{ctx, progress_mode::blocking};
  w.run(w.sleep(1ms)); // first-use work is not idling
  const auto before = w.engine().stats();
  w.run(w.sleep(300ms)); // the behaviour under test: how the engine idles
  const auto after = w.engine().stats();
  INFO("rounds " << after.rounds - before.rounds << ", sleeps " << after.sleeps - before.sleeps);
  CHECK(after.sleeps - before.sleeps >= 1);
  // One round to start, one per wake-up; a spin would take hundreds of thousands.
  CHECK(after.rounds - before.rounds <= 2 * (after.sleeps - before.sleeps) + 4);
  CHECK(after.naps == before.naps);
}

TEST_CASE("in polling mode the worker spins while waiting", "[worker][polling]") {
  context ctx;
  worker w{ctx, progress_mode::polling};
  const auto before = w.engine().stats();
  w.run(w.sleep(100ms)); // the behaviour under test: how the engine idles
  const auto after = w.engine().stats();
  CHECK(after.sleeps == before.sleeps); // never sleeps in the kernel
  CHECK(after.rounds - before.rounds > 1000);
}

TEST_CASE("in yielding mode the worker spins but gives the core away on every idle round", "[worker][yielding]") {
  context ctx;
  worker w{ctx, progress_mode::yielding};
  w.run(w.sleep(1ms)); // first-use work is not idling
  const auto before = w.engine().stats();
  w.run(w.sleep(100ms)); // the behaviour under test: how the engine idles
  const auto after = w.engine().stats();
  CHECK(after.sleeps == before.sleeps); // never waits in epoll
  CHECK(after.rounds - before.rounds > 100);
  // Only the round that fires the timer is active: all others yielded.
  CHECK(after.yields - before.yields >= after.rounds - before.rounds - 3);
}

TEST_CASE("post from another thread runs on the worker's thread and wakes it", "[worker][post]") {
  for (auto mode : {progress_mode::blocking, progress_mode::polling, progress_mode::yielding}) {
    INFO(test::mode_name(mode));
    context ctx;
    worker w{ctx, mode};
    std::thread::id ran_on;
    std::stop_source done;
    std::jthread poster{[&] {
      w.post([&] {
        ran_on = std::this_thread::get_id();
        done.request_stop();
      });
    }};
    // The sleep ends early only through the posted function's stop request:
    // if the post did not wake the loop, the 10 s sleep would end normally
    // (the bound) and the test fail.
    try {
      w.run(with_stop_token(w.sleep(10s), done.get_token())); // a bound: the post must end it early
      FAIL("the sleep ran its 10 s: the post did not wake the worker");
    } catch (const ucx_error& e) {
      CHECK(e.code() == std::errc::operation_canceled);
    }
    CHECK(ran_on == std::this_thread::get_id());
  }
}

TEST_CASE("an external epoll loop can drive the worker through event_fd, progress and arm", "[worker][external]") {
  context ctx;
  worker w{ctx, progress_mode::blocking};
  test::raw_endpoint ep{w, w.address()};
  const auto sent = test::pattern(100);
  std::vector<std::byte> received(100);
  bool finished = false;
  auto body = [&]() -> task<void> {
    auto [info, unused] = co_await when_all(
        [&]() -> task<tag_recv_info> { co_return co_await tag_recv(w.engine(), received.data(), 100, 9); }(),
        [&]() -> task<void> { co_await tag_send(w.engine(), ep.get(), sent.data(), 100, 9); }());
    (void)unused;
    CHECK(info.length == 100);
    finished = true;
  };
  w.spawn(body());

  // [snippet:external_loop]
  const int outer = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  REQUIRE(epoll_ctl(outer, EPOLL_CTL_ADD, w.event_fd(), &ev) == 0);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!finished && std::chrono::steady_clock::now() < deadline) {
    while (w.progress()) { // drain: UCX, resumptions, posts, timers
    }
    if (finished || !w.arm()) // arm() false: events arrived meanwhile
      continue;
    epoll_event out{};
    (void)epoll_wait(outer, &out, 1, 100); // bound it by w.time_to_next_timer() too
  }
  // [/snippet:external_loop]
  close(outer);
  CHECK(finished);
  CHECK(received == sent);
}

TEST_CASE("a cancelled receive does not take a later message; probe sees it waiting", "[worker][tag][cancel]") {
  context ctx;
  worker w{ctx};
  test::raw_endpoint ep{w, w.address()};
  std::vector<std::byte> buffer(16);
  CHECK_THROWS_AS(w.run(with_timeout(tag_recv(w.engine(), buffer.data(), buffer.size(), 0x77), 20ms)), ucx_error);
  const auto sent = test::pattern(16);
  w.run(test::bounded(tag_send(w.engine(), ep.get(), sent.data(), sent.size(), 0x77)));
  // Bounded wait for the message to arrive in the unexpected queue.
  std::optional<tag_recv_info> probed;
  for (int i = 0; i < 1000 && !probed; ++i) {
    w.progress();
    probed = tag_probe(w.engine(), 0x77);
    if (!probed)
      w.run(w.sleep(1ms)); // bounded poll: at most 1000 rounds
  }
  REQUIRE(probed.has_value());
  CHECK(probed->length == 16);
  CHECK(probed->sender_tag == 0x77);
  const auto info = w.run(test::bounded(tag_recv(w.engine(), buffer.data(), buffer.size(), 0x77)));
  CHECK(info.length == 16);
  CHECK(buffer == sent);
}

TEST_CASE("a receive into a smaller buffer reports message_size with both sizes", "[worker][tag][error]") {
  context ctx;
  worker w{ctx};
  test::raw_endpoint ep{w, w.address()};
  const auto sent = test::pattern(8192);
  std::vector<std::byte> small(4096);
  auto body = [&]() -> task<void> {
    auto send = [&]() -> task<void> { co_await tag_send(w.engine(), ep.get(), sent.data(), sent.size(), 5); };
    auto recv = [&]() -> task<void> { (void)co_await tag_recv(w.engine(), small.data(), small.size(), 5); };
    co_await when_all(send(), recv());
  };
  try {
    w.run(test::bounded(body()));
    FAIL("truncation not reported");
  } catch (const ucx_error& e) {
    CHECK(e.code() == std::errc::message_size);
    CHECK_THAT(e.what(), Catch::Contains("recv of 4096 bytes"));
  }
}

TEST_CASE("the non-throwing form returns the error code beside the value", "[worker][tag][error]") {
  context ctx;
  worker w{ctx};
  std::vector<std::byte> buffer(8);
  auto body = [&]() -> task<result<tag_recv_info>> {
    co_return co_await with_timeout(tag_recv(w.engine(), buffer.data(), buffer.size(), 3).nothrow(), 10ms);
  };
  const auto r = w.run(body());
  CHECK_FALSE(r);
  // What ran out is the time, as the throwing form says (not the
  // cancellation that the timeout used to end the receive).
  CHECK(r.error == std::errc::timed_out);
}

TEST_CASE("user tags may not use the bits ucoro reserves", "[worker][tag][error]") {
  context ctx;
  worker w{ctx};
  std::vector<std::byte> buffer(8);
  CHECK_THROWS_MATCHES((void)tag_recv(w.engine(), buffer.data(), 8, tag_layout::in_space(tag_layout::space::endpoint_data, 1)),
                       ucx_error, Catch::Predicate<ucx_error>([](const ucx_error& e) {
                         return e.code() == std::errc::invalid_argument;
                       }));
  STATIC_REQUIRE(tag_layout::space_of(tag_layout::communicator_tag(5, 3, 2)) == tag_layout::space::communicator);
  STATIC_REQUIRE((tag_layout::communicator_tag(0xFFFFFF, 0xFFFFF, 0xFFFF) & tag_layout::space_mask) ==
                 tag_layout::in_space(tag_layout::space::communicator, 0));
}
