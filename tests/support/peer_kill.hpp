#pragma once
// Killing a peer process in the middle of something: the phases the
// peer-failure tests and bench/failure_detection share, and one kill.
// The peer is tests/loopback/peer.cpp, which prints a line once it is
// connected (idle), streaming (stream) or sinking (sink).

#include "process.hpp"

#include <ucoro/host_memory.hpp>
#include <ucoro/ucoro.hpp>

#include <chrono>
#include <string>
#include <system_error>

namespace ucoro::test {

/// What the survivor is doing when the peer dies.
struct kill_phase {
  const char* name;
  const char* peer_mode; ///< tests/loopback/peer.cpp --mode
  std::size_t size;      ///< message size, both ways
  bool survivor_sends;
  /// What the survivor's receive is.
  enum class receive { ordered, tagged /* tag_recv, tag 7 */, many /* recv_many into two parts */ } how =
      receive::ordered;
};

inline constexpr kill_phase kill_phases[] = {
    {"idle", "idle", 8, false},
    {"eager 4 KiB arriving", "stream", 4096, false},
    {"64 MiB rndv arriving", "stream", 64 << 20, false}, // the survivor's CMA reads from the peer
    {"64 MiB rndv leaving", "sink", 64 << 20, true},
};

/// What the survivor saw.
struct kill_outcome {
  result<void> outcome;                  ///< of the operation pending at the kill
  std::chrono::duration<double, std::milli> detection{}; ///< from the kill to that failure
  int callbacks = 0;                     ///< close callbacks run
  std::error_code callback_reason;
  std::string info; ///< ep.ucx_info()
};

/// Connects `w` to `peer` (listening on `port`) with `options`, does what
/// `phase` says until the peer, killed once it said it is connected
/// (idle) or once two transfers went through with a third in flight
/// (streaming, sinking), makes the pending operation fail. The whole run is bounded by `limit`.
inline kill_outcome kill_during(worker& w, child_process& peer, std::uint16_t port, const kill_phase& phase,
                                const endpoint_options& options, std::chrono::milliseconds limit) {
  using namespace std::chrono_literals;
  kill_outcome out;
  std::chrono::steady_clock::time_point killed_at{};
  out.outcome = w.run(with_timeout(
      [&]() -> task<result<void>> {
        endpoint ep = co_await w.create_endpoint("127.0.0.1", port, options);
        out.info = ep.ucx_info();
        ep.set_close_callback([&](std::error_code reason) {
          ++out.callbacks;
          out.callback_reason = reason;
        });
        host_memory buf(phase.size);
        event in_flight{w}; // two transfers done; the next one is posted before the killer runs
        int done = 0;
        auto work = [&]() -> task<result<void>> {
          for (;;) { // ends with the failure under test (or the bound)
            if (phase.survivor_sends) {
              auto r = co_await as_result(ep.send(buf));
              if (!r)
                co_return r;
            } else if (phase.how == kill_phase::receive::tagged) {
              auto r = co_await as_result(ep.tag_recv(buf, 7));
              if (!r)
                co_return result<void>{r.error};
            } else if (phase.how == kill_phase::receive::many) {
              std::uint64_t header = 0;
              auto r = co_await as_result(ep.recv_many(std::span(&header, 1), buf));
              if (!r)
                co_return result<void>{r.error};
            } else {
              auto r = co_await as_result(ep.recv(buf));
              if (!r)
                co_return result<void>{r.error};
            }
            if (++done == 2)
              in_flight.set();
          }
        };
        auto killer = [&]() -> task<void> {
          (void)co_await peer.next_line(w); // connected / streaming / sinking
          if (std::string_view(phase.peer_mode) != "idle")
            co_await in_flight.wait();
          peer.kill();
          killed_at = std::chrono::steady_clock::now();
        };
        auto [r, unused] = co_await when_all(work(), killer());
        (void)unused;
        co_return r;
      }(),
      limit));
  out.detection = std::chrono::steady_clock::now() - killed_at;
  return out;
}

} // namespace ucoro::test
