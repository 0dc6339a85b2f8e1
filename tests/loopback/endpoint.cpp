// Endpoints and listeners over loopback: a listener and its clients on one
// worker (tcp or shared memory), every wait bounded.

#include "../support/helpers.hpp"
#include "../support/free_port.hpp"
#include "../support/raw_socket.hpp"
#include "../support/transports.hpp"

#include <ucp/api/ucp.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

using namespace ucoro;
using namespace std::chrono_literals;

using test::client_options;
using test::loopback_listener;
using test::transports;

TEST_CASE("send/recv carry every size intact over tcp and shared memory in both progress modes", "[endpoint][data]") {
  const std::array<std::size_t, 7> sizes{0, 1, 8, 4096, 65536, 1 << 20, 64 << 20};
  for (const auto& t : transports()) {
    for (auto mode : {progress_mode::blocking, progress_mode::polling, progress_mode::yielding}) {
      INFO(t.name << " " << test::mode_name(mode));
      context ctx{t.ucx};
      worker w{ctx, mode};
      event served{w};
      auto lf = w.create_listener(
          [&](endpoint ep) -> task<void> {
            // Echo each message back, sized by the client's announcement.
            for (std::size_t size : sizes) {
              std::vector<std::byte> buf(size);
              const std::size_t n = co_await ep.recv(buf);
              CHECK(n == size);
              co_await ep.send(buf);
            }
            served.set();
          },
          0, loopback_listener(t.error_handling));
      auto client = [&]() -> task<void> {
        endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port(), client_options(t.error_handling));
        for (std::size_t size : sizes) {
          INFO(size << " bytes");
          const auto sent = test::pattern(size, static_cast<std::uint32_t>(size + 7));
          std::vector<std::byte> back(size);
          co_await ep.send(sent);
          const std::size_t n = co_await ep.recv(back);
          CHECK(n == size);
          CHECK(back == sent);
        }
        co_await served.wait();
        co_await ep.close();
      };
      w.run(test::bounded(client(), 60s));
      CHECK(served.is_set());
    }
  }
}

TEST_CASE("both send completion modes deliver intact data on either side of UCX's thresholds",
          "[endpoint][data]") {
  // fast: eager copies up to 256 KiB; standard: rendezvous from ~8 KiB.
  const std::array<std::size_t, 5> sizes{9000, 65536, 200000, 300000, 2 << 20};
  for (auto completion : {send_completion::fast, send_completion::standard, send_completion::automatic}) {
    INFO(static_cast<int>(completion));
    context ctx{{{"TLS", "sm,self"}}};
    worker w{ctx};
    auto lopts = loopback_listener(error_handling::none);
    lopts.endpoint.completion = completion;
    auto lf = w.create_listener(
        [&](endpoint ep) -> task<void> {
          for (std::size_t size : sizes) {
            std::vector<std::byte> buf(size);
            (void)co_await ep.recv(buf);
            co_await ep.send(buf);
          }
        },
        0, lopts);
    w.run(test::bounded([&]() -> task<void> {
      auto eo = client_options(error_handling::none);
      eo.completion = completion;
      endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port(), eo);
      for (std::size_t size : sizes) {
        const auto sent = test::pattern(size, static_cast<std::uint32_t>(size));
        std::vector<std::byte> back(size);
        co_await ep.send(sent);
        const std::size_t n = co_await ep.recv(back);
        CHECK(n == size);
        CHECK(back == sent);
      }
      co_await ep.close();
    }()));
  }
}

namespace {

/// Over shared memory: whether a send of `size` bytes is done before the
/// peer posts its receive. Eager (fast completion) is done once the buffer
/// is free; a rendezvous only once the peer has the data.
bool send_done_before_peer_receives(send_completion completion, std::size_t size) {
  context ctx{{{"TLS", "sm,self"}}};
  worker w{ctx};
  event release{w}; // the server posts its receive only then
  std::vector<std::byte> got(size);
  auto lopts = loopback_listener(error_handling::none);
  lopts.endpoint.completion = completion;
  auto lf = w.create_listener(
      [&](endpoint ep) -> task<void> {
        co_await release.wait();
        (void)co_await ep.recv(got);
        co_await ep.send(got, 1); // done: the client may close
      },
      0, lopts);
  bool send_done_before_release = false;
  const auto sent = test::pattern(size);
  w.run(test::bounded([&]() -> task<void> {
    auto eo = client_options(error_handling::none);
    eo.completion = completion;
    endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port(), eo);
    REQUIRE(ep.fast_completion() == (completion != send_completion::standard)); // shared memory lanes
    auto sender = [&]() -> task<void> {
      co_await ep.send(sent);
      send_done_before_release = !release.is_set();
    };
    auto releaser = [&]() -> task<void> {
      co_await w.sleep(300ms); // not a wait for anything: a rendezvous cannot finish meanwhile (nobody receives)
      release.set();
    };
    co_await when_all(sender(), releaser());
    std::array<std::byte, 1> ack{};
    (void)co_await ep.recv(ack);
    co_await ep.close();
  }()));
  CHECK(got == sent);
  return send_done_before_release;
}

} // namespace

TEST_CASE("send completion modes take effect: fast completes a 64 KiB send before the peer receives, standard "
          "only after",
          "[endpoint][data]") {
  CHECK(send_done_before_peer_receives(send_completion::fast, 65536));
  CHECK_FALSE(send_done_before_peer_receives(send_completion::standard, 65536));
}

TEST_CASE("automatic send completion is fast below 64 KiB over shared memory, a rendezvous from 64 KiB on",
          "[endpoint][data]") {
  // At 64 KiB fast completion kept UCX eager (its "nbr" threshold is 256 KiB
  // here), and 2 launches in 3 then ran at 25-32 us one-way against 7 for the
  // rendezvous (docs/performance.md); below it, fast completion halves latency.
  CHECK(send_done_before_peer_receives(send_completion::automatic, 16384));
  CHECK(send_done_before_peer_receives(send_completion::automatic, 65535));
  CHECK_FALSE(send_done_before_peer_receives(send_completion::automatic, 65536));
}

TEST_CASE("the endpoint's lanes are the transports asked for, as ucx_info() text and as transports() values",
          "[endpoint][transport]") {
  for (const auto& t : transports()) {
    INFO(t.name);
    context ctx{t.ucx};
    worker w{ctx};
    event release{w};
    std::vector<bool> fast;
    auto lf = w.create_listener(
        [&](endpoint ep) -> task<void> {
          fast.push_back(ep.fast_completion());
          co_await release.wait(); // keep the server's end open
          (void)ep;
        },
        0, loopback_listener(t.error_handling));
    std::vector<transport_lane> lanes;
    const std::string info = w.run(test::bounded([&]() -> task<std::string> {
      endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port(), client_options(t.error_handling));
      std::string text = ep.ucx_info();
      lanes = ep.transports();
      fast.push_back(ep.fast_completion());
      release.set();
      co_await ep.close();
      co_return text;
    }()));
    // automatic send completion follows the lanes: fast on shared memory only.
    // transports() is what ucx_info() prints, as values.
    INFO(info);
    if (std::string(t.name) == "tcp") {
      CHECK_THAT(info, Catch::Contains("tcp/lo"));
      REQUIRE(lanes.size() == 1);
      CHECK(lanes[0].transport == "tcp");
      CHECK(lanes[0].device.rfind("lo", 0) == 0);
      CHECK((lanes[0].am && lanes[0].am_bw && lanes[0].wireup));
    } else {
      CHECK_THAT(info, Catch::Contains("sysv/memory") || Catch::Contains("posix/memory"));
      CHECK_THAT(info, Catch::Contains("cma/memory"));
      CHECK_THAT(info, !Catch::Contains("tcp/lo"));
      auto carrying = [&](auto role) {
        std::vector<std::string> out;
        for (const transport_lane& lane : lanes)
          if (lane.*role)
            out.push_back(lane.transport);
        return out;
      };
      const auto am = carrying(&transport_lane::am);
      REQUIRE(am.size() == 1);
      CHECK((am[0] == "sysv" || am[0] == "posix")); // the eager lane: the worker's shared-memory FIFO
      CHECK(carrying(&transport_lane::rma) == std::vector<std::string>{"cma"}); // rendezvous: CMA reads
      for (const transport_lane& lane : lanes)
        CHECK(lane.transport != "tcp");
    }
    const bool shared_memory = std::string(t.name) != "tcp";
    CHECK(fast == std::vector<bool>{shared_memory, shared_memory}); // server end, client end
  }
}

TEST_CASE("tag_send and tag_recv carry every size by its tag, received out of order, over tcp and shared memory in "
          "both progress modes", "[endpoint][tag]") {
  // Sizes 0 B to 64 MiB, each with its own tag, the edges of the 32-bit
  // range among them; the server posts every receive at once, in reverse
  // order, and echoes each message back under its tag xor 0x5a5a5a5a
  // (no request tag). (Client and server share this worker, and a tag is the whole
  // match: a reply under the request's own tag could meet a receive of the
  // other side. The same-tag case across endpoints is the next test's.)
  const std::array<std::size_t, 7> sizes{0, 1, 8, 4096, 65536, 1 << 20, 64 << 20};
  const std::array<tag_t, 7> tags{0, 1, 0x7fffffff, 0x80000000, 42, 0xfffffffe, 0xffffffff};
  for (const auto& t : transports()) {
    for (auto mode : {progress_mode::blocking, progress_mode::polling}) {
      INFO(t.name << " " << test::mode_name(mode));
      context ctx{t.ucx};
      worker w{ctx, mode};
      event served{w};
      auto lf = w.create_listener(
          [&](endpoint ep) -> task<void> {
            std::vector<std::vector<std::byte>> bufs(sizes.size());
            std::vector<task<std::size_t>> recvs;
            for (std::size_t i = sizes.size(); i-- > 0;) {
              bufs[i].resize(sizes[i]);
              recvs.push_back([](endpoint& e, std::vector<std::byte>& b, tag_t tag) -> task<std::size_t> {
                co_return co_await e.tag_recv(b, tag);
              }(ep, bufs[i], tags[i]));
            }
            const auto got = co_await when_all(std::move(recvs));
            for (std::size_t k = 0; k < got.size(); ++k)
              CHECK(got[k] == sizes[sizes.size() - 1 - k]);
            std::vector<task<void>> replies; // all at once: the client takes them in the other order
            for (std::size_t i = 0; i < sizes.size(); ++i)
              replies.push_back([](endpoint& e, const std::vector<std::byte>& b, tag_t tag) -> task<void> {
                co_await e.tag_send(b, tag);
              }(ep, bufs[i], tags[i] ^ 0x5a5a5a5a));
            co_await when_all(std::move(replies));
            served.set();
          },
          0, loopback_listener(t.error_handling));
      auto client = [&]() -> task<void> {
        endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port(), client_options(t.error_handling));
        std::vector<std::vector<std::byte>> sent(sizes.size());
        for (std::size_t i = 0; i < sizes.size(); ++i) {
          sent[i] = test::pattern(sizes[i], static_cast<std::uint32_t>(i + 3));
          co_await ep.tag_send(sent[i], tags[i]);
        }
        std::vector<std::vector<std::byte>> back(sizes.size());
        std::vector<task<std::size_t>> replies; // all posted at once, in the other order
        for (std::size_t i = sizes.size(); i-- > 0;) {
          back[i].resize(sizes[i]);
          replies.push_back([](endpoint& e, std::vector<std::byte>& b, tag_t tag) -> task<std::size_t> {
            co_return co_await e.tag_recv(b, tag);
          }(ep, back[i], tags[i] ^ 0x5a5a5a5a));
        }
        const auto got = co_await when_all(std::move(replies));
        for (std::size_t i = 0; i < sizes.size(); ++i) {
          INFO(sizes[i] << " bytes, tag " << tags[i]);
          CHECK(got[sizes.size() - 1 - i] == sizes[i]);
          CHECK((back[i] == sent[i])); // not decomposed: Catch would print 64 MiB
        }
        co_await served.wait();
        co_await ep.close();
      };
      w.run(test::bounded(client(), 60s));
      CHECK(served.is_set());
    }
  }
}

TEST_CASE("tagged messages never meet the ordered channel; tag_send_obj and tag_recv_obj carry the size; a tag above "
          "32 bits is refused naming it", "[endpoint][tag]") {
  context ctx{{{"TLS", "tcp"}}};
  worker w{ctx};
  event served{w};
  auto lf = w.create_listener(
      [&](endpoint ep) -> task<void> {
        // The ordered channel's first message and tag 0's message, each
        // taken by its own kind of receive whichever was posted first.
        std::array<std::uint32_t, 1> tagged{}, ordered{};
        auto [t, o] = co_await when_all(
            [](endpoint& e, std::array<std::uint32_t, 1>& b) -> task<std::size_t> { co_return co_await e.tag_recv(b, 0); }(
                ep, tagged),
            [](endpoint& e, std::array<std::uint32_t, 1>& b) -> task<std::size_t> { co_return co_await e.recv(b); }(
                ep, ordered));
        CHECK(t == 4);
        CHECK(o == 4);
        CHECK(tagged[0] == 111);
        CHECK(ordered[0] == 222);
        const auto text = co_await ep.tag_recv_obj<std::string>(9);
        CHECK(text == "header and payload");
        CHECK(ep.recv_count() == 1); // tagged receives are not the channel's
        served.set();
      },
      0, loopback_listener());
  auto client = [&]() -> task<void> {
    endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port());
    const std::array<std::uint32_t, 1> a{222}, b{111};
    co_await ep.send(a);       // the ordered channel, first
    co_await ep.tag_send(b, 0); // tag 0, after it
    co_await ep.tag_send_obj(std::string("header and payload"), 9);
    CHECK_THROWS_WITH(ep.tag_send(a, tag_t{1} << 32), Catch::Contains("tag 0x100000000 is above 32 bits"));
    std::array<std::uint32_t, 1> into{};
    CHECK_THROWS_WITH(ep.tag_recv(into, ~tag_t{0}), Catch::Contains("tag_recv: tag 0xffffffffffffffff"));
    co_await served.wait();
    co_await ep.close();
  };
  w.run(test::bounded(client(), 30s));
  CHECK(served.is_set());
}

TEST_CASE("send_many and recv_many carry a header and parts of 0 B to 64 MiB intact, given as arguments or as a "
          "range, three sends in flight, over tcp and shared memory in both progress modes", "[endpoint][send_many]") {
  struct header {
    std::uint32_t columns;
    std::uint32_t rows;
  };
  const std::array<std::size_t, 7> sizes{0, 1, 8, 4096, 65536, 1 << 20, 64 << 20};
  for (const auto& t : transports()) {
    for (auto mode : {progress_mode::blocking, progress_mode::polling}) {
      INFO(t.name << " " << test::mode_name(mode));
      context ctx{t.ucx};
      worker w{ctx, mode};
      // The server takes each message into buffers larger than its parts
      // and echoes what it received, as a range of spans of those sizes.
      auto lf = w.create_listener(
          [&](endpoint ep) -> task<void> {
            // [snippet:recv_many]
            header h{};
            std::vector<std::byte> a(100), b(5000), c(2 << 20); // each at least its part
            const std::array<std::size_t, 4> got = co_await ep.recv_many(std::span(&h, 1), a, b, c);
            // got[i]: the bytes part i brought; a part larger than its buffer is message_size naming it
            co_await ep.send_many(std::span(&h, 1), std::span(a.data(), got[1]), std::span(b.data(), got[2]),
                                  std::span(c.data(), got[3])); // over 1 MiB: the sizes, then a message a part
            // [/snippet:recv_many]
            CHECK(got == std::array<std::size_t, 4>{sizeof h, 1, 4096, 1 << 20});
            CHECK(h.columns == 3);
            // A small message (one UCX operation), into buffers larger than its parts.
            std::array<std::vector<std::byte>, 3> small_in{std::vector<std::byte>(10), std::vector<std::byte>(50),
                                                           std::vector<std::byte>(300)};
            const auto small_got = co_await ep.recv_many(small_in);
            CHECK(small_got == std::vector<std::size_t>{0, 3, 100});
            co_await ep.send_many(std::span(small_in[0].data(), 0), std::span(small_in[1].data(), 3),
                                  std::span(small_in[2].data(), 100));
            // Both messages' receives in flight at once; round 1's buffers
            // are each larger than its part.
            std::array<std::vector<std::vector<std::byte>>, 2> rounds;
            for (int round = 0; round < 2; ++round) {
              rounds[round].resize(sizes.size());
              for (std::size_t i = 0; i < sizes.size(); ++i)
                rounds[round][i].resize(sizes[i] + (round == 0 ? 0 : 100));
            }
            const auto [n0, n1] = co_await when_all(ep.recv_many(rounds[0]), ep.recv_many(rounds[1]));
            for (int round = 0; round < 2; ++round) {
              const std::vector<std::size_t>& n = round == 0 ? n0 : n1;
              std::vector<std::span<const std::byte>> back;
              for (std::size_t i = 0; i < sizes.size(); ++i)
                back.emplace_back(rounds[round][i].data(), n[i]);
              co_await ep.send_many(back);
            }
          },
          0, loopback_listener(t.error_handling));
      w.run(test::bounded(
          [&]() -> task<void> {
            endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port(), client_options(t.error_handling));
            const header h{3, 1000};
            const auto a = test::pattern(1, 1), b = test::pattern(4096, 2), c = test::pattern(1 << 20, 3);
            std::vector<std::vector<std::byte>> parts(sizes.size());
            for (std::size_t i = 0; i < sizes.size(); ++i)
              parts[i] = test::pattern(sizes[i], static_cast<std::uint32_t>(i + 20));
            // Four messages in flight at once: each goes out whole, in call
            // order; the small one as one UCX operation, the last split
            // whatever its sizes (what device parts take).
            std::vector<buffer_view<const void>> views;
            for (const auto& p : parts)
              views.push_back(view_of(p));
            const std::vector<std::byte> s0, s1 = test::pattern(3, 7), s2 = test::pattern(100, 8);
            auto sends = [&]() -> task<void> {
              co_await when_all(ep.send_many(std::span(&h, 1), a, b, c), ep.send_many(s0, s1, s2), ep.send_many(parts),
                                detail::send_parts(detail::endpoint_access::state(ep), views,
                                                   detail::parts_mode::split));
            };
            auto echoes = [&]() -> task<void> { // meanwhile: a rendezvous completes only once received
              header h2{};
              std::vector<std::byte> a2(1), b2(4096), c2(1 << 20);
              const auto got = co_await ep.recv_many(std::span(&h2, 1), a2, b2, c2);
              CHECK(got == std::array<std::size_t, 4>{sizeof h, 1, 4096, 1 << 20});
              CHECK((h2.columns == 3 && h2.rows == 1000));
              CHECK((a2 == a && b2 == b && c2 == c));
              std::vector<std::byte> r0, r1(3), r2(100);
              const auto small_sizes = co_await ep.recv_many(r0, r1, r2);
              CHECK(small_sizes == std::array<std::size_t, 3>{0, 3, 100});
              CHECK((r1 == s1 && r2 == s2));
              std::array<std::vector<std::vector<std::byte>>, 2> back;
              for (auto& round : back) {
                round.resize(sizes.size());
                for (std::size_t i = 0; i < sizes.size(); ++i)
                  round[i].resize(sizes[i]);
              }
              const auto [n0, n1] = co_await when_all(ep.recv_many(back[0]), ep.recv_many(back[1]));
              for (const auto& n : {n0, n1})
                CHECK(n == std::vector<std::size_t>(sizes.begin(), sizes.end()));
              CHECK((back[0] == parts)); // not decomposed: Catch would print 64 MiB
              CHECK((back[1] == parts));
            };
            co_await when_all(sends(), echoes());
            co_await ep.close();
          }(),
          120s));
    }
  }
}

TEST_CASE("recv_many: a part larger than its buffer is message_size naming it, the message consumed; another "
          "number of parts is message_size and closes the endpoint", "[endpoint][send_many][error]") {
  context ctx;
  worker w{ctx};
  const auto a = test::pattern(8, 1), b = test::pattern(100, 2), c = test::pattern(70000, 3);
  std::vector<std::byte> a_in(8), b_in(50), c_in(70000), d_in(10);
  // The receive fails; the send beside it completes (a rendezvous only
  // once the receiver took the message).
  auto failure = [&](task<void> send, auto recv) -> std::pair<std::error_code, std::string> {
    std::pair<std::error_code, std::string> out{{}, "no error"};
    auto receive = [&]() -> task<void> {
      try {
        (void)co_await std::move(recv);
      } catch (const std::system_error& e) {
        out = {e.code(), e.what()};
      }
    };
    w.run(test::bounded(when_all(std::move(send), receive())));
    return out;
  };
  auto next_message_arrives = [&](endpoint& ep) {
    std::uint64_t v = 7, got = 0;
    w.run(test::bounded(when_all(ep.send(std::span(&v, 1)), ep.recv(std::span(&got, 1)))));
    return got == 7;
  };
  endpoint ep = w.create_endpoint_from_worker_address(w.address());
  // Small: one message (a part too large lands past its buffer); large, or
  // forced: split (UCX truncates the part).
  const auto c_small = test::pattern(1000, 5);
  const std::array<buffer_view<const void>, 3> small_views{view_of(a), view_of(b), view_of(c_small)};
  const std::array<buffer_view<const void>, 3> large_views{view_of(a), view_of(b), view_of(c)};
  for (const auto& [views, mode, what] :
       {std::tuple{small_views, detail::parts_mode::automatic, "one message"},
        std::tuple{small_views, detail::parts_mode::split, "split, forced"},
        std::tuple{large_views, detail::parts_mode::automatic, "split: 70 KB goes by rendezvous"}}) {
    INFO(what);
    const auto [code, text] =
        failure(detail::send_parts(detail::endpoint_access::state(ep), views, mode), ep.recv_many(a_in, b_in, c_in));
    CHECK(code == std::errc::message_size);
    CHECK_THAT(text, Catch::Contains("part 1: the peer sent 100 bytes, the buffer holds 50") &&
                         Catch::Contains("the message was consumed"));
    CHECK(next_message_arrives(ep));
  }
  ep.abort();
  const auto small = test::pattern(10, 4); // eager: these sends complete though nobody takes all of them
  for (const bool fewer : {true, false}) {
    INFO((fewer ? "fewer parts than buffers" : "more parts than buffers"));
    endpoint other = w.create_endpoint_from_worker_address(w.address());
    const auto [code, text] = fewer ? failure(other.send_many(a, small), other.recv_many(a_in, c_in, d_in))
                                    : failure(other.send_many(a, small, small), other.recv_many(a_in, c_in));
    CHECK(code == std::errc::message_size);
    CHECK_THAT(text, Catch::Contains(fewer ? "the peer sent 2 parts; recv_many has 3 buffers"
                                           : "the peer sent 3 parts; recv_many has 2 buffers") &&
                         Catch::Contains("the endpoint is closed"));
    CHECK(other.closed());
    CHECK(other.close_reason() == errc::malformed_message);
  }
}

TEST_CASE("1000 messages in flight on one endpoint arrive in send order", "[endpoint][order]") {
  context ctx{{{"TLS", "tcp"}}};
  worker w{ctx};
  constexpr int count = 1000;
  std::vector<std::uint32_t> received;
  event all_received{w};
  auto lf = w.create_listener(
      [&](endpoint ep) -> task<void> {
        std::vector<std::array<std::uint32_t, 16>> bufs(count);
        std::vector<task<std::size_t>> recvs;
        for (auto& b : bufs)
          recvs.push_back([](endpoint& e, std::array<std::uint32_t, 16>& buf) -> task<std::size_t> {
            co_return co_await e.recv(buf);
          }(ep, b));
        (void)co_await when_all(std::move(recvs));
        for (auto& b : bufs)
          received.push_back(b[0]);
        all_received.set();
      },
      0, loopback_listener());
  auto client = [&]() -> task<void> {
    endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port());
    std::vector<std::array<std::uint32_t, 16>> msgs(count);
    std::vector<task<void>> sends;
    for (int i = 0; i < count; ++i) {
      msgs[static_cast<std::size_t>(i)].fill(static_cast<std::uint32_t>(i));
      sends.push_back([](endpoint& e, const std::array<std::uint32_t, 16>& m) -> task<void> {
        co_await e.send(m);
      }(ep, msgs[static_cast<std::size_t>(i)]));
    }
    co_await when_all(std::move(sends));
    co_await all_received.wait();
    co_await ep.close();
  };
  w.run(test::bounded(client(), 30s));
  REQUIRE(received.size() == count);
  for (int i = 0; i < count; ++i)
    CHECK(received[static_cast<std::size_t>(i)] == static_cast<std::uint32_t>(i));
}

TEST_CASE("64 endpoints on one listener at once each get their own replies", "[endpoint][many]") {
  context ctx{{{"TLS", "tcp"}}};
  worker w{ctx};
  constexpr int clients = 64;
  auto lf = w.create_listener(
      [&](endpoint ep) -> task<void> {
        std::uint64_t id = 0;
        (void)co_await ep.recv(as_writable_bytes(&id, sizeof id));
        id = id * 3 + 1;
        co_await ep.send(as_bytes(&id, sizeof id));
      },
      0, loopback_listener());
  auto one = [&](std::uint64_t id) -> task<std::uint64_t> {
    endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port());
    co_await ep.send(as_bytes(&id, sizeof id));
    std::uint64_t reply = 0;
    (void)co_await ep.recv(as_writable_bytes(&reply, sizeof reply));
    co_return reply;
  };
  std::vector<task<std::uint64_t>> all;
  for (std::uint64_t i = 0; i < clients; ++i)
    all.push_back(one(i));
  const auto replies = w.run(test::bounded(when_all(std::move(all)), 60s));
  for (std::uint64_t i = 0; i < clients; ++i)
    CHECK(replies[i] == i * 3 + 1);
  CHECK(lf.accepted() == clients);
}

TEST_CASE("recv into a smaller buffer reports message_size with both sizes and leaves the endpoint usable",
          "[endpoint][error]") {
  context ctx{{{"TLS", "tcp"}}};
  worker w{ctx};
  auto lf = w.create_listener(
      [&](endpoint ep) -> task<void> {
        co_await ep.send(test::pattern(8192));
        co_await ep.send(test::pattern(16, 2));
        std::byte done{};
        (void)co_await ep.recv(as_writable_bytes(&done, 1));
      },
      0, loopback_listener());
  auto client = [&]() -> task<void> {
    endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port());
    std::vector<std::byte> small(4096);
    try {
      (void)co_await ep.recv(small);
      FAIL("truncation not reported");
    } catch (const ucx_error& e) {
      CHECK(e.code() == std::errc::message_size);
      CHECK_THAT(e.what(), Catch::Contains("recv of 4096 bytes") && Catch::Contains("peer sent 8192 bytes"));
    }
    std::vector<std::byte> next(16);
    // (No co_await inside Catch's macros: they repeat the expression.)
    const std::size_t n = co_await ep.recv(next);
    CHECK(n == 16);
    CHECK(next == test::pattern(16, 2));
    std::byte done{1};
    co_await ep.send(as_bytes(&done, 1));
    co_await ep.close();
  };
  w.run(test::bounded(client()));
}

TEST_CASE("send and recv of more bytes than the buffer holds are refused before posting", "[endpoint][error]") {
  context ctx{{{"TLS", "tcp"}}};
  worker w{ctx};
  auto lf = w.create_listener([](endpoint) -> task<void> { co_return; }, 0, loopback_listener());
  w.run(test::bounded([&]() -> task<void> {
    endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port());
    std::vector<std::byte> buf(10);
    CHECK_THROWS_MATCHES((void)ep.send(buf, 11), ucx_error, Catch::Predicate<ucx_error>([](const ucx_error& e) {
                           return e.code() == std::errc::invalid_argument &&
                                  std::string(e.what()).find("holds only 10 bytes") != std::string::npos;
                         }));
    CHECK_THROWS_AS((void)ep.recv(buf, 11), ucx_error);
    ep.abort();
  }()));
}

TEST_CASE("send_obj and recv_obj carry the size, and recv_obj allocates exactly", "[endpoint][obj]") {
  context ctx{{{"TLS", "tcp"}}};
  worker w{ctx};
  std::vector<std::byte> got;
  event arrived{w};
  auto lf = w.create_listener(
      [&](endpoint ep) -> task<void> {
        got = co_await ep.recv_obj();
        arrived.set();
      },
      0, loopback_listener());
  const auto sent = test::pattern(12345);
  w.run(test::bounded([&]() -> task<void> {
    endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port());
    co_await ep.send_obj(sent);
    co_await arrived.wait();
    co_await ep.close();
  }()));
  CHECK(got == sent);
  CHECK(got.capacity() == sent.size());
}

namespace {
template <class T>
struct counting_allocator {
  using value_type = T;
  std::size_t* allocated;
  explicit counting_allocator(std::size_t* counter) noexcept : allocated(counter) {}
  template <class U>
  counting_allocator(const counting_allocator<U>& other) noexcept : allocated(other.allocated) {}
  T* allocate(std::size_t n) {
    *allocated += n * sizeof(T);
    return std::allocator<T>{}.allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept { std::allocator<T>{}.deallocate(p, n); }
  bool operator==(const counting_allocator& o) const noexcept { return allocated == o.allocated; }
};
} // namespace

TEST_CASE("recv_obj allocates through a user allocator", "[endpoint][obj]") {
  context ctx;
  worker w{ctx};
  endpoint ep = w.create_endpoint_from_worker_address(w.address());
  std::size_t allocated = 0;
  const auto sent = test::pattern(5000);
  const auto got = w.run(test::bounded([&]() -> task<std::vector<std::byte, counting_allocator<std::byte>>> {
    auto [unused, v] = co_await when_all(
        [&]() -> task<void> { co_await ep.send_obj(sent); }(),
        [&]() -> task<std::vector<std::byte, counting_allocator<std::byte>>> {
          co_return co_await ep.recv_obj(counting_allocator<std::byte>{&allocated});
        }());
    (void)unused;
    co_return std::move(v);
  }()));
  CHECK(allocated == 5000);
  CHECK(std::equal(got.begin(), got.end(), sent.begin(), sent.end()));
  ep.abort();
}

TEST_CASE("close with the peer's recv pending fails that recv with closed_by_peer", "[endpoint][close]") {
  context ctx{{{"TLS", "tcp"}}};
  worker w{ctx};
  std::error_code server_error;
  int callbacks = 0;
  std::error_code callback_reason;
  event server_done{w};
  auto lf = w.create_listener(
      [&](endpoint ep) -> task<void> {
        ep.set_close_callback([&](std::error_code reason) {
          ++callbacks;
          callback_reason = reason;
        });
        std::vector<std::byte> buf(64);
        (void)co_await ep.recv(buf); // the one message the client sends
        try {
          (void)co_await ep.recv(buf); // never sent: the client closes instead
        } catch (const ucx_error& e) {
          server_error = e.code();
        }
        server_done.set();
      },
      0, loopback_listener());
  w.run(test::bounded([&]() -> task<void> {
    endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port());
    co_await ep.send(test::pattern(64));
    co_await ep.close();
    CHECK(ep.closed());
    co_await server_done.wait();
  }()));
  CHECK(server_error == errc::closed_by_peer);
  CHECK(server_error == std::errc::connection_reset);
  CHECK(callbacks == 1);
  CHECK(callback_reason == errc::closed_by_peer);
}

TEST_CASE("both sides closing at once finish through each other's ack, not the close timeout", "[endpoint][close]") {
  // Each close() waits for the peer's ack; with both under way each must
  // still acknowledge the other's close. The close timeout is far beyond
  // the test's bound, so only the acks can end this.
  context ctx{{{"TLS", "tcp"}}};
  worker w{ctx};
  auto server_options = loopback_listener();
  server_options.endpoint.close_timeout = 60s;
  auto options = client_options();
  options.close_timeout = 60s;
  std::error_code server_reason;
  event server_closed{w};
  auto lf = w.create_listener(
      [&](endpoint ep) -> task<void> {
        ep.set_close_callback([&](std::error_code reason) { server_reason = reason; });
        auto msg = co_await ep.recv_obj();
        co_await ep.send_obj(msg);
        co_await ep.close(); // as the client closes too
        server_closed.set();
      },
      0, server_options);
  w.run(test::bounded([&]() -> task<void> {
    endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port(), options);
    co_await ep.send_obj(test::pattern(64));
    (void)co_await ep.recv_obj();
    co_await ep.close();
    CHECK(ep.closed());
    co_await server_closed.wait();
  }()));
  CHECK(server_closed.is_set());
  CHECK(server_reason == errc::closed_by_peer); // the client's close precedes its ack
}

TEST_CASE("close waits for the peer to receive everything sent before it", "[endpoint][close]") {
  context ctx{{{"TLS", "tcp"}}};
  worker w{ctx};
  std::vector<std::size_t> sizes;
  std::error_code last_error;
  event client_closing{w};
  event server_failed{w};
  auto lf = w.create_listener(
      [&](endpoint ep) -> task<void> {
        co_await client_closing.wait(); // receives start only after the client's close
        std::vector<std::byte> buf(1 << 20);
        for (;;) {
          auto r = co_await as_result(ep.recv(buf));
          if (!r) {
            last_error = r.error;
            server_failed.set();
            break;
          }
          sizes.push_back(r.value);
        }
      },
      0, loopback_listener());
  w.run(test::bounded([&]() -> task<void> {
    endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port());
    const auto big = test::pattern(1 << 20);
    for (int i = 0; i < 3; ++i)
      co_await ep.send(big, 1000U * static_cast<std::size_t>(i + 1));
    client_closing.set(); // the listener runs only once close() below has suspended
    co_await ep.close();
    co_await server_failed.wait();
  }()));
  CHECK(sizes == std::vector<std::size_t>{1000, 2000, 3000});
  CHECK(last_error == errc::closed_by_peer);
}

TEST_CASE("close_after_n_recv closes after the n-th receive, counted from now or from creation", "[endpoint][close]") {
  for (bool from_creation : {false, true}) {
    INFO("count_from_ep_creation=" << from_creation);
    context ctx{{{"TLS", "tcp"}}};
    worker w{ctx};
    std::error_code after;
    std::size_t got = 0;
    event done{w};
    auto lf = w.create_listener(
        [&](endpoint ep) -> task<void> {
          std::vector<std::byte> buf(8);
          (void)co_await ep.recv(buf); // one before the limit is set
          ++got;
          // From now: 2 more. From creation: 3 in all, i.e. 2 more.
          ep.close_after_n_recv(from_creation ? 3 : 2, from_creation);
          CHECK_THROWS_AS(ep.close_after_n_recv(5), ucx_error); // set twice
          for (int i = 0; i < 2; ++i) {
            (void)co_await ep.recv(buf);
            ++got;
          }
          auto r = co_await as_result(ep.recv(buf));
          after = r.error;
          done.set();
        },
        0, loopback_listener());
    w.run(test::bounded([&]() -> task<void> {
      endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port());
      for (int i = 0; i < 3; ++i)
        co_await ep.send(test::pattern(8, static_cast<std::uint32_t>(i)));
      co_await done.wait();
      ep.abort();
    }()));
    CHECK(got == 3);
    CHECK(after == errc::endpoint_closed);
  }
}

TEST_CASE("close_after_n_recv below the count already received is an error", "[endpoint][close][error]") {
  context ctx{{{"TLS", "tcp"}}};
  worker w{ctx};
  event checked{w};
  auto lf = w.create_listener(
      [&](endpoint ep) -> task<void> {
        std::vector<std::byte> buf(8);
        (void)co_await ep.recv(buf);
        (void)co_await ep.recv(buf);
        CHECK_THROWS_MATCHES(ep.close_after_n_recv(1, true), ucx_error,
                             Catch::Predicate<ucx_error>([](const ucx_error& e) {
                               return e.code() == std::errc::invalid_argument &&
                                      std::string(e.what()).find("2 messages were already received") !=
                                          std::string::npos;
                             }));
        checked.set();
      },
      0, loopback_listener());
  w.run(test::bounded([&]() -> task<void> {
    endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port());
    co_await ep.send(test::pattern(8));
    co_await ep.send(test::pattern(8));
    co_await checked.wait();
    ep.abort();
  }()));
  CHECK(checked.is_set());
}

TEST_CASE("abort fails pending operations with endpoint_closed at once", "[endpoint][close]") {
  context ctx{{{"TLS", "tcp"}}};
  worker w{ctx};
  event client_done{w};
  auto lf = w.create_listener(
      [&](endpoint ep) -> task<void> {
        co_await client_done.wait(); // holds its end open while the client aborts
        (void)ep;
      },
      0, loopback_listener());
  std::error_code pending_error;
  int callbacks = 0;
  w.run(test::bounded([&]() -> task<void> {
    endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port());
    ep.set_close_callback([&](std::error_code) { ++callbacks; });
    std::vector<std::byte> buf(16);
    auto waiter = [&]() -> task<void> {
      auto r = co_await as_result(ep.recv(buf));
      pending_error = r.error;
    };
    // when_all starts the waiter first: its recv is posted and pending when
    // the aborter runs.
    auto aborter = [&]() -> task<void> {
      ep.abort();
      co_return;
    };
    co_await when_all(waiter(), aborter());
    CHECK(ep.closed());
    auto later = co_await as_result(ep.send(buf));
    CHECK(later.error == errc::endpoint_closed);
    client_done.set();
    // The handler resumes after this: it ends here, not in ~worker, after
    // client_done is gone (Clang's ASan saw it read the destroyed event).
    co_await lf.wait_idle();
  }()));
  CHECK(pending_error == errc::endpoint_closed);
  CHECK(pending_error == std::errc::not_connected);
  CHECK(callbacks == 1);
}

TEST_CASE("a closed listener stops accepting", "[listener][close]") {
  context ctx{{{"TLS", "tcp"}}};
  worker w{ctx};
  auto lf = w.create_listener([](endpoint) -> task<void> { co_return; }, 0, loopback_listener());
  const auto port = lf.port();
  CHECK(port != 0);
  CHECK_FALSE(lf.closed());
  lf.close();
  CHECK(lf.closed());
  endpoint_options o;
  o.connect_timeout = 2s;
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(w.run(test::bounded(w.create_endpoint("127.0.0.1", port, o))), ucx_error);
  CHECK(std::chrono::steady_clock::now() - start < 8s);
}

TEST_CASE("a port already in use is a clear error", "[listener][error]") {
  context ctx{{{"TLS", "tcp"}}};
  worker w{ctx};
  auto first = w.create_listener([](endpoint) -> task<void> { co_return; }, 0, loopback_listener());
  try {
    auto second = w.create_listener([](endpoint) -> task<void> { co_return; }, first.port(), loopback_listener());
    FAIL("second listener on the same port");
  } catch (const ucx_error& e) {
    CHECK(e.code() == std::errc::address_in_use);
    CHECK_THAT(e.what(), Catch::Contains(std::to_string(first.port())) && Catch::Contains("already in use"));
  }
}

TEST_CASE("connecting to a port nobody listens on fails clearly within the connect timeout", "[endpoint][error]") {
  for (auto mode : {error_handling::peer, error_handling::none, error_handling::automatic}) {
    INFO("error_handling " << to_string(mode));
    // automatic with shared memory available tries UCX mode none first.
    context ctx = mode == error_handling::automatic ? context{} : context{{{"TLS", "tcp"}}};
    worker w{ctx};
    endpoint_options o = client_options(mode);
    o.connect_timeout = 1500ms;
    const auto port = test::unused_fixed_port();
    const auto start = std::chrono::steady_clock::now();
    try {
      (void)w.run(test::bounded(w.create_endpoint("127.0.0.1", port, o)));
      FAIL("connected to nobody");
    } catch (const ucx_error& e) {
      CHECK_THAT(e.what(), Catch::Contains("127.0.0.1:" + std::to_string(port)));
    }
    CHECK(std::chrono::steady_clock::now() - start < 1500ms + 3s);
  }
}

TEST_CASE("a client with the other guarantee_msg_order is rejected on both sides with the reason", "[listener][error]") {
  context ctx{{{"TLS", "tcp"}}};
  worker w{ctx};
  std::vector<std::string> server_errors;
  event rejected{w};
  auto lopts = loopback_listener();
  lopts.on_error = [&](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      server_errors.emplace_back(ex.what());
    }
    rejected.set();
  };
  auto lf = w.create_listener([](endpoint) -> task<void> { co_return; }, 0, lopts);
  endpoint_options o;
  o.guarantee_msg_order = false;
  try {
    (void)w.run(test::bounded(w.create_endpoint("127.0.0.1", lf.port(), o)));
    FAIL("mismatched client accepted");
  } catch (const ucx_error& e) {
    CHECK(e.code() == errc::protocol_mismatch);
    CHECK_THAT(e.what(), Catch::Contains("guarantee_msg_order"));
  }
  w.run(test::bounded(rejected.wait()));
  CHECK(lf.rejected() == 1);
  REQUIRE(server_errors.size() == 1);
  CHECK_THAT(server_errors[0], Catch::Contains("guarantee_msg_order"));
}

TEST_CASE("a client sending a garbage handshake is rejected and the listener keeps serving others",
          "[listener][error]") {
  context ctx{{{"TLS", "tcp"}}};
  worker w{ctx};
  auto lopts = loopback_listener();
  lopts.endpoint.connect_timeout = 1s;
  event rejected{w};
  lopts.on_error = [&](std::exception_ptr) { rejected.set(); };
  int served = 0;
  auto lf = w.create_listener(
      [&](endpoint ep) -> task<void> {
        std::uint32_t x = 0;
        (void)co_await ep.recv(as_writable_bytes(&x, sizeof x));
        ++x;
        co_await ep.send(as_bytes(&x, sizeof x));
        ++served;
      },
      0, lopts);

  // A plain TCP client: connects, then sends junk where the hello belongs.
  {
    auto raw = test::raw_connect(lf.port());
    std::array<std::byte, 64> junk{};
    junk.fill(std::byte{0xAB});
    test::raw_send(raw.get(), junk);
    w.run(test::bounded(rejected.wait()));
  }

  // ...and a well-behaved client is served.
  const std::uint32_t answer = w.run(test::bounded([&]() -> task<std::uint32_t> {
    endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port());
    std::uint32_t x = 41;
    co_await ep.send(as_bytes(&x, sizeof x));
    (void)co_await ep.recv(as_writable_bytes(&x, sizeof x));
    co_return x;
  }()));
  CHECK(answer == 42);
  CHECK(lf.rejected() == 1);
  CHECK(lf.accepted() == 1);
}

TEST_CASE("a client that never handshakes is dropped after the connect timeout", "[listener][error]") {
  context ctx{{{"TLS", "tcp"}}};
  worker w{ctx};
  auto lopts = loopback_listener();
  lopts.endpoint.connect_timeout = 300ms;
  std::string reason;
  event rejected{w};
  lopts.on_error = [&](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      reason = ex.what();
    }
    rejected.set();
  };
  auto lf = w.create_listener([](endpoint) -> task<void> { co_return; }, 0, lopts);
  auto silent = test::raw_connect(lf.port());
  w.run(test::bounded(rejected.wait()));
  CHECK(lf.rejected() == 1);
  CHECK(lf.accepted() == 0);
  CHECK_THAT(reason, Catch::Contains("no handshake within 300 ms"));
}

TEST_CASE("an endpoint from a worker address exchanges messages on its channel", "[endpoint][address]") {
  for (auto mode : {progress_mode::blocking, progress_mode::polling, progress_mode::yielding}) {
    INFO(test::mode_name(mode));
    context ctx;
    worker w{ctx, mode};
    endpoint ep = w.create_endpoint_from_worker_address(w.address(), {.channel = 7});
    const auto sent = test::pattern(100000);
    std::vector<std::byte> got(100000);
    w.run(test::bounded(when_all(
        [&]() -> task<void> { co_await ep.send(sent); }(),
        [&]() -> task<std::size_t> { co_return co_await ep.recv(got); }())));
    CHECK(got == sent);
    ep.abort();
  }
}

TEST_CASE("a recv retried after a timeout still matches the next message", "[endpoint][cancel]") {
  context ctx;
  worker w{ctx};
  endpoint ep = w.create_endpoint_from_worker_address(w.address());
  std::vector<std::byte> buf(8);
  auto first = w.run(as_result(with_timeout(ep.recv(buf), 20ms)));
  CHECK(first.error == std::errc::timed_out);
  w.run(test::bounded(ep.send(test::pattern(8, 3))));
  CHECK(w.run(test::bounded(ep.recv(buf))) == 8);
  CHECK(buf == test::pattern(8, 3));
  ep.abort();
}

TEST_CASE("worker-level recv takes any sender's tag and reports it", "[worker][tag]") {
  context ctx;
  worker w{ctx};
  endpoint ep = w.create_endpoint_from_worker_address(w.address());
  const std::uint64_t payload = 99;
  w.run(test::bounded(tag_send(w.engine(), ep.ucp_endpoint(), &payload, sizeof payload, 0x5005)));
  std::uint64_t got = 0;
  const auto info = w.run(test::bounded(w.recv(as_writable_bytes(&got, sizeof got), 0x5000, 0xFF00)));
  CHECK(info.sender_tag == 0x5005);
  CHECK(info.length == sizeof got);
  CHECK(got == 99);
  ep.abort();
}

TEST_CASE("a timeout over a send the peer never receives returns at the deadline, and closes the connection",
          "[endpoint][cancel][timeout]") {
  // UCX cannot cancel a started send: an 8 MiB rendezvous waits for the
  // receiver's matching recv, which this listener never posts. The awaiter
  // must come back anyway (send_stop_grace after the stop), and the
  // connection, whose message is half sent, is closed with send_abandoned.
  for (const auto& t : transports()) {
    for (auto mode : {progress_mode::blocking, progress_mode::polling}) {
      INFO(t.name << " " << test::mode_name(mode));
      context ctx{t.ucx};
      worker w{ctx, mode};
      event done{w};
      auto lf = w.create_listener(
          [&](endpoint ep) -> task<void> {
            co_await done.wait(); // never receives
            (void)ep;
          },
          0, loopback_listener(t.error_handling));
      w.run(test::bounded([&]() -> task<void> {
        endpoint ep = co_await w.create_endpoint("127.0.0.1", lf.port(), client_options(t.error_handling));
        // A small eager send completes whether or not the peer receives:
        // no abandonment, the connection stays.
        const result<void> small = co_await with_timeout(ep.send(test::pattern(64)).nothrow(), 2s);
        CHECK_FALSE(small.error);
        const std::vector<std::byte> big(8 << 20, std::byte{1});
        const auto start = std::chrono::steady_clock::now();
        const result<void> timed = co_await with_timeout(ep.send(big).nothrow(), 200ms);
        const auto took = std::chrono::steady_clock::now() - start;
        CHECK(timed.error == std::errc::timed_out);
        CHECK(took >= 200ms);
        CHECK(took < 2s); // the deadline plus the grace, not a hang
        // The connection is gone, and says why.
        const result<void> after = co_await as_result(ep.send(test::pattern(8)));
        CHECK(after.error == errc::send_abandoned);
        CHECK(after.error == std::errc::connection_aborted);
        // A plain stop request (not a timeout) is a cancellation.
        endpoint second = co_await w.create_endpoint("127.0.0.1", lf.port(), client_options(t.error_handling));
        std::stop_source stop;
        auto stopper = [&]() -> task<void> {
          co_await w.sleep(50ms); // the behaviour under test: the stop arrives while the send is pending
          stop.request_stop();
        };
        auto sender = [&]() -> task<result<void>> {
          co_return co_await with_stop_token(second.send(big).nothrow(), stop.get_token());
        };
        auto [stopped, nothing] = co_await when_all(sender(), stopper());
        (void)nothing;
        CHECK(stopped.error == std::errc::operation_canceled);
        done.set();
      }()));
    }
  }
}

TEST_CASE("a coroutine whose operations all finish at once still lets timers fire and timeouts return",
          "[endpoint][fairness]") {
  // On an endpoint to its own worker, UCX's self transport finishes each
  // small send inside the posting call (the message waits as unexpected):
  // a flood of them never has to suspend, like 8 B sends into tcp. The
  // loop must turn anyway, or timers (heartbeats, deadlines) fire only when
  // the flood ends. Timers due at once make "during the flood" exact.
  for (auto mode : {progress_mode::blocking, progress_mode::polling}) {
    INFO(test::mode_name(mode));
    context ctx;
    worker w{ctx, mode};
    endpoint ep = w.create_endpoint_from_worker_address(w.address());
    constexpr std::size_t flood_size = 20'000;
    std::size_t done = 0;
    auto flood = [&]() -> task<void> {
      const std::array<std::byte, 8> out{};
      for (done = 0; done < flood_size; ++done)
        co_await ep.send(out);
    };
    std::size_t fired_at = flood_size + 1;
    auto timer = [&]() -> task<void> {
      co_await w.sleep(0ms); // the behaviour under test: a timer due at once must fire during the flood
      fired_at = done;
    };
    const auto requeues_before = w.engine().stats().requeues;
    w.run(test::bounded(when_all(flood(), timer())));
    CHECK(done == flood_size);
    CHECK(fired_at < flood_size); // during the flood, not after it
    CHECK(w.engine().stats().requeues > requeues_before);
    std::size_t sent = done;

    const result<void> timed = w.run(as_result(with_timeout(flood(), 0ms)));
    CHECK(timed.error == std::errc::timed_out);
    CHECK(done < flood_size);
    sent += done;

    // Every message sent arrives (and none is left for UCX to warn about).
    auto drain = [&]() -> task<std::size_t> {
      std::array<std::byte, 8> in{};
      std::size_t got = 0;
      for (; got < sent; ++got)
        co_await ep.recv(in);
      co_return got;
    };
    CHECK(w.run(test::bounded(drain())) == sent);
    ep.abort();
  }
}

TEST_CASE("listener.ip is the address it is bound to, and ep.uid tells endpoints apart", "[listener][endpoint][parity]") {
  for (const auto& t : transports()) {
    for (auto mode : {progress_mode::blocking, progress_mode::polling}) {
      INFO(t.name << " " << test::mode_name(mode));
      context ctx{t.ucx};
      worker w{ctx, mode};
      std::vector<endpoint> servers; // an id is unique among live endpoints: keep them
      auto lf = w.create_listener(
          [&](endpoint ep) -> task<void> {
            servers.push_back(std::move(ep));
            co_return;
          },
          0, loopback_listener(t.error_handling));
      CHECK(lf.ip() == "127.0.0.1");
      listener_options everywhere;
      everywhere.endpoint.error_handling = t.error_handling;
      auto any = w.create_listener([](endpoint) -> task<void> { co_return; }, 0, everywhere);
      CHECK(any.ip() == "0.0.0.0");
      w.run(test::bounded([&]() -> task<void> {
        endpoint a = co_await w.create_endpoint("127.0.0.1", lf.port(), client_options(t.error_handling));
        endpoint b = co_await w.create_endpoint("127.0.0.1", lf.port(), client_options(t.error_handling));
        co_await lf.wait_idle();
        REQUIRE(servers.size() == 2);
        const std::set<std::uint64_t> ids{a.uid(), b.uid(), servers[0].uid(), servers[1].uid()};
        CHECK(ids.size() == 4); // four endpoints, four ids
        CHECK(ids.count(0) == 0);
        const std::uint64_t id = a.uid();
        endpoint moved = std::move(a); // the id goes with the endpoint
        CHECK(moved.uid() == id);
        co_await moved.close();
        co_await b.close();
      }()));
      for (auto& ep : servers)
        ep.abort();
    }
  }
}
