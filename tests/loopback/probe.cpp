// The worker-level probe that removes a message, its receive by handle, and
// recv_any (worker and communicator share its path): over tcp and shared
// memory, in both progress modes, every wait bounded.

#include "../support/helpers.hpp"
#include "../support/process.hpp"
#include "../support/transports.hpp"

#include <ucoro/host_memory.hpp>

#include <signal.h>

#include <array>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace ucoro;
using namespace std::chrono_literals;

namespace {

/// Runs `body(w, ep)` over each transport in both progress modes, `ep` a
/// client endpoint to a listener on the same worker: its UCX endpoint
/// sends in the worker-level user tag space to this worker.
template <class Body>
void on_each_transport(Body body, std::chrono::milliseconds bound) {
  for (const auto& t : test::transports()) {
    for (auto mode : {progress_mode::blocking, progress_mode::polling}) {
      INFO(t.name << " " << test::mode_name(mode));
      context ctx{t.ucx};
      worker w{ctx, mode};
      auto lf = w.create_listener([](endpoint) -> task<void> { co_return; }, 0, test::loopback_listener(t.error_handling));
      w.run(test::bounded(
          [&]() -> task<void> {
            endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port(), test::client_options(t.error_handling));
            co_await body(w, ep);
            co_await ep.close();
          }(),
          bound));
    }
  }
}

/// Polls probe(…, remove) until a message matching (tag, mask) is there
/// (bounded: 10 s), as a user's loop would.
task<tag_message> probe_removing(worker& w, tag_t tag, tag_t mask = tag_layout::full_mask) {
  for (int round = 0; round < 10000; ++round) {
    if (auto m = w.probe(tag, mask, true))
      co_return std::move(*m);
    co_await w.sleep(1ms); // a bounded poll (10 s): a probe has no event to await, as a user's loop
  }
  throw std::runtime_error("no message with tag " + std::to_string(tag) + " within 10 s");
}

/// How `aw` failed: its code and message (nothing if it did not).
template <class A>
task<std::pair<std::error_code, std::string>> failure_of(A aw) {
  try {
    (void)co_await std::move(aw);
  } catch (const std::system_error& e) {
    co_return std::pair{e.code(), std::string(e.what())};
  }
  co_return std::pair{std::error_code{}, std::string("no error")};
}

constexpr tag_t max_user_tag = (tag_t{1} << tag_layout::space_shift) - 1;

} // namespace

TEST_CASE("probe with remove, recv by handle and recv_any carry 0 B to 64 MiB with edge tags, all in flight and "
          "taken out of order, over tcp and shared memory in both progress modes", "[worker][probe]") {
  const std::array<std::size_t, 7> sizes{0, 1, 8, 4096, 65536, 1 << 20, 64 << 20};
  const std::array<tag_t, 7> tags{0, 1, 0xffffffff, 0x100000000, max_user_tag - 1, 42, max_user_tag};
  on_each_transport(
      [&](worker& w, endpoint& ep) -> task<void> {
        std::vector<std::vector<std::byte>> sent(sizes.size());
        std::vector<task<void>> sends; // all in flight at once
        for (std::size_t i = 0; i < sizes.size(); ++i) {
          sent[i] = test::pattern(sizes[i], static_cast<std::uint32_t>(i + 11));
          sends.push_back([](worker& w, ucp_ep_h ep, const std::vector<std::byte>& b, tag_t tag) -> task<void> {
            co_await tag_send(w.engine(), ep, b.data(), b.size(), tag);
          }(w, ep.ucp_endpoint(), sent[i], tags[i]));
        }
        auto receive = [&]() -> task<void> {
          for (std::size_t i = sizes.size(); i-- > 0;) { // the other order
            INFO(sizes[i] << " bytes, tag " << tags[i]);
            if (i % 2 == 0) {
              auto got = co_await w.recv_any(tags[i]);
              CHECK(got.sender_tag == tags[i]);
              CHECK((got.data == sent[i])); // not decomposed: Catch would print 64 MiB
            } else {
              tag_message m = co_await probe_removing(w, tags[i]);
              CHECK(m.removed());
              CHECK(m.size() == sizes[i]);
              CHECK(m.sender_tag() == tags[i]);
              std::vector<std::byte> into(m.size());
              const tag_recv_info info = co_await w.recv(std::move(m), into);
              CHECK(info.length == sizes[i]);
              CHECK(info.sender_tag == tags[i]);
              CHECK((into == sent[i]));
            }
          }
        };
        co_await when_all(when_all(std::move(sends)), receive());
      },
      120s);
}

TEST_CASE("recv_any under a mask takes each matching message once and reports its tag; recv_any allocates whole "
          "elements or says bad_message", "[worker][probe]") {
  context ctx;
  worker w{ctx};
  endpoint ep = w.create_endpoint_from_worker_address(w.address());
  w.run(test::bounded([&]() -> task<void> {
    const std::array<std::uint32_t, 3> values{1, 2, 3};
    for (std::uint32_t v : values)
      co_await tag_send(w.engine(), ep.ucp_endpoint(), &v, sizeof v, 0x5000 + v);
    std::set<tag_t> seen;
    for (int i = 0; i < 3; ++i) {
      auto got = co_await w.recv_any<std::vector<std::uint32_t>>(0x5000, 0xff00);
      REQUIRE(got.data.size() == 1);
      CHECK(got.data[0] == got.sender_tag - 0x5000);
      seen.insert(got.sender_tag);
    }
    CHECK(seen == std::set<tag_t>{0x5001, 0x5002, 0x5003});
    CHECK_FALSE(w.probe(0x5000, 0xff00).has_value());

    const std::array<std::byte, 6> odd{};
    co_await tag_send(w.engine(), ep.ucp_endpoint(), odd.data(), odd.size(), 0x77);
    const auto [code, text] = co_await failure_of(w.recv_any<std::vector<std::uint32_t>>(0x77));
    CHECK(code == std::errc::bad_message);
    CHECK_THAT(text, Catch::Contains("6 bytes are not a whole number of 4-byte elements"));
    CHECK_FALSE(w.probe(0x77).has_value()); // received, then refused: not left behind
  }()));
  ep.abort();
}

TEST_CASE("a stopped recv_any takes nothing; the message it missed goes to the next one", "[worker][probe][cancel]") {
  for (auto mode : {progress_mode::blocking, progress_mode::polling}) {
    INFO(test::mode_name(mode));
    context ctx;
    worker w{ctx, mode};
    endpoint ep = w.create_endpoint_from_worker_address(w.address());
    auto first = w.run(as_result(with_timeout(w.recv_any(0x66), 20ms)));
    CHECK(first.error == std::errc::timed_out);
    const auto sent = test::pattern(100, 5);
    w.run(test::bounded([&]() -> task<void> {
      auto receive = [&]() -> task<received_message<std::vector<std::byte>>> { co_return co_await w.recv_any(0x66); };
      auto send = [&]() -> task<void> {
        co_await w.sleep(10ms); // the receive waits first: the round hook, not the first probe, finds it
        co_await tag_send(w.engine(), ep.ucp_endpoint(), sent.data(), sent.size(), 0x66);
      };
      auto [got, unused] = co_await when_all(receive(), send());
      (void)unused;
      CHECK(got.data == sent);
    }()));
    ep.abort();
  }
}

TEST_CASE("recv by handle refuses a kept, a used or another worker's message, and a buffer too small names both "
          "sizes", "[worker][probe][error]") {
  context ctx;
  worker w{ctx};
  worker other{ctx};
  endpoint ep = w.create_endpoint_from_worker_address(w.address());
  const auto sent = test::pattern(8192, 9);
  w.run(test::bounded(tag_send(w.engine(), ep.ucp_endpoint(), sent.data(), sent.size(), 0x99)));
  std::vector<std::byte> small(4096);
  w.run(test::bounded([&]() -> task<void> {
    tag_message kept = co_await [&]() -> task<tag_message> {
      for (int i = 0; i < 1000; ++i) {
        if (auto m = w.probe(0x99))
          co_return std::move(*m);
        co_await w.sleep(1ms); // a bounded poll (1 s): a probe has no event to await
      }
      throw std::runtime_error("the message never arrived");
    }();
    CHECK_FALSE(kept.removed());
    CHECK(kept.size() == 8192);
    CHECK_THROWS_WITH((void)w.recv(std::move(kept), small), Catch::Contains("was not removed by its probe"));
    CHECK_THROWS_WITH((void)w.probe(tag_layout::in_space(tag_layout::space::communicator, 1)),
                      Catch::Contains("worker::probe: tag 0x3000000000000001 uses the top four bits"));

    auto removed = w.probe(0x99, tag_layout::full_mask, true);
    REQUIRE(removed.has_value());
    CHECK_FALSE(w.probe(0x99).has_value()); // out of UCX's matching now
    CHECK_THROWS_WITH((void)other.recv(std::move(*removed), small), Catch::Contains("probed on another worker"));
    CHECK(removed->removed()); // a refused recv leaves the message with its holder
    const auto [code, text] = co_await failure_of(w.recv(std::move(*removed), small));
    CHECK(code == std::errc::message_size);
    CHECK_THAT(text, Catch::Contains("8192-byte probed message") && Catch::Contains("into 4096 bytes"));
  }()));
  ep.abort();
}

TEST_CASE("a removed message dropped unreceived is discarded: its rendezvous sender completes, the next message with "
          "its tag is received, and the endpoint closes; a kept one is left to the worker (UCX warns of it as the worker goes)", "[worker][probe][close]") {
  on_each_transport(
      [&](worker& w, endpoint& ep) -> task<void> {
        const auto big = test::pattern(4 << 20, 1); // rendezvous on every transport here
        const auto small = test::pattern(8, 2);
        const auto next = test::pattern(4 << 20, 3);
        auto send_big = [&]() -> task<void> { co_await tag_send(w.engine(), ep.ucp_endpoint(), big.data(), big.size(), 0x31); };
        auto drop = [&]() -> task<void> {
          tag_message m = co_await probe_removing(w, 0x31);
          CHECK(m.size() == big.size());
        }; // m is dropped here, unreceived
        co_await when_all(send_big(), drop()); // the send completes only if the drop answered it
        co_await tag_send(w.engine(), ep.ucp_endpoint(), small.data(), small.size(), 0x32);
        {
          tag_message m = co_await probe_removing(w, 0x32);
          m.discard();
          CHECK_FALSE(m.removed());
        }
        auto send_next = [&]() -> task<void> { co_await tag_send(w.engine(), ep.ucp_endpoint(), next.data(), next.size(), 0x31); };
        auto [unused, got] = co_await when_all(send_next(), w.recv_any(0x31));
        (void)unused;
        CHECK(got.data == next);
        CHECK_FALSE(w.probe(0x32).has_value());
        // Probed and kept, never received: it stays queued; closing the
        // endpoint and destroying the worker must neither hang nor leak.
        co_await tag_send(w.engine(), ep.ucp_endpoint(), small.data(), small.size(), 0x33);
        bool seen = false;
        for (int i = 0; i < 10000 && !seen; ++i) {
          seen = w.probe(0x33).has_value();
          if (!seen)
            co_await w.sleep(1ms); // a bounded poll (10 s): a probe has no event to await
        }
        CHECK(seen);
      },
      60s);
}

TEST_CASE("the guide's receive by handle and recv_any", "[worker][probe]") {
  context ctx;
  worker w{ctx};
  endpoint ep = w.create_endpoint_from_worker_address(w.address());
  const std::vector<float> first(1000, 1.5F), second(3000, 2.5F);
  w.run(test::bounded([&]() -> task<void> {
    co_await tag_send(w.engine(), ep.ucp_endpoint(), first.data(), first.size() * sizeof(float), 0x1001);
    co_await tag_send(w.engine(), ep.ucp_endpoint(), second.data(), second.size() * sizeof(float), 0x1002);
    // [snippet:probe_by_handle]
    std::optional<tag_message> m;
    while (!(m = w.probe(0x1000, 0xff00, /*remove=*/true)))
      co_await w.sleep(1ms); // or other work: nothing is posted meanwhile
    std::vector<float> into(m->size() / sizeof(float)); // exactly its size
    const tag_recv_info info = co_await w.recv(std::move(*m), into);
    // [/snippet:probe_by_handle]
    // [snippet:recv_any]
    auto [values, sender_tag] = co_await w.recv_any<std::vector<float>>(0x1000, 0xff00);
    // [/snippet:recv_any]
    CHECK(info.sender_tag == 0x1001);
    CHECK(into == first);
    CHECK(sender_tag == 0x1002);
    CHECK(values == second);
  }()));
  ep.abort();
}
