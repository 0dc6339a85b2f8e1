// overhead: what ucoro adds per message on top of UCX, in one process and one
// worker (a loopback endpoint to the worker's own address), so that it can be
// counted exactly with `valgrind --tool=callgrind` (instructions do not
// depend on machine noise).
//
//   overhead --variant raw|tag|endpoint [--pattern unexpected|expected|window] [--iters N] [--size BYTES]
//            [--window N] [--token none|stop]
//
//   raw       ucp_tag_recv_nbx + ucp_tag_send_nbx with C callbacks and a
//             plain progress loop: UCX itself
//   tag       the same through ucoro::tag_recv / tag_send awaiters, driven
//             by worker::run
//   endpoint  the same through ucoro::endpoint recv / send (ordered tags,
//             pending-receive tracking)
//
// Patterns: `unexpected` sends, lets the message arrive, then receives it
// (completes at once: no suspension, no coroutine frames: the awaiter's own
// cost); `expected` posts the receive first, then sends (the receive
// suspends and is resumed through the engine; ucoro variants use when_all
// for the concurrency, as a user would); `window` posts --window receives,
// then as many sends, and waits for all (when_all of 2N tasks: a windowed
// stream, as a bandwidth loop writes it). --token stop runs the ucoro
// variants under a stop-capable token, as a listener's handler or a
// task_scope child runs (each operation then registers a stop callback).
// bench/profile.sh runs it under callgrind with two iteration counts and
// prints instructions per message.

#include "args.hpp"

#include <ucoro/ucoro.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <stop_token>
#include <string>
#include <vector>

namespace {

struct raw_state {
  bool done = false;
};

void raw_recv_done(void* request, ucs_status_t, const ucp_tag_recv_info_t*, void* user) {
  static_cast<raw_state*>(user)->done = true;
  ucp_request_free(request);
}
void raw_send_done(void* request, ucs_status_t, void*) { ucp_request_free(request); }

void raw_post_send(ucp_ep_h ep, std::vector<std::byte>& out) {
  ucp_request_param_t sp{};
  sp.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK;
  sp.cb.send = &raw_send_done;
  (void)ucp_tag_send_nbx(ep, out.data(), out.size(), 1, &sp);
}

void raw_recv_and_wait(ucoro::worker& w, std::vector<std::byte>& in, bool send_first, ucp_ep_h ep,
                       std::vector<std::byte>& out) {
  raw_state state;
  ucp_request_param_t rp{};
  rp.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  rp.cb.recv = &raw_recv_done;
  rp.user_data = &state;
  void* r = ucp_tag_recv_nbx(w.ucp_worker(), in.data(), in.size(), 1, ~ucp_tag_t{0}, &rp);
  if (r == nullptr)
    state.done = true;
  if (!send_first)
    raw_post_send(ep, out);
  while (!state.done)
    ucp_worker_progress(w.ucp_worker());
}

struct raw_window {
  std::size_t done = 0;
};

void raw_window_recv_done(void* request, ucs_status_t, const ucp_tag_recv_info_t*, void* user) {
  ++static_cast<raw_window*>(user)->done;
  ucp_request_free(request);
}

/// `window` receives posted, then as many sends, progressed until every
/// receive is done (the receives share one buffer: the count is the point).
void run_raw_window(ucoro::worker& w, ucp_ep_h ep, std::vector<std::byte>& out, std::vector<std::byte>& in, long iters,
                    std::size_t window) {
  for (long i = 0; i < iters; ++i) {
    raw_window state;
    ucp_request_param_t rp{};
    rp.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    rp.cb.recv = &raw_window_recv_done;
    rp.user_data = &state;
    for (std::size_t k = 0; k < window; ++k)
      if (ucp_tag_recv_nbx(w.ucp_worker(), in.data(), in.size(), 1, ~ucp_tag_t{0}, &rp) == nullptr)
        ++state.done;
    for (std::size_t k = 0; k < window; ++k)
      raw_post_send(ep, out);
    while (state.done < window)
      ucp_worker_progress(w.ucp_worker());
  }
}

void run_raw(ucoro::worker& w, ucp_ep_h ep, std::vector<std::byte>& out, std::vector<std::byte>& in, long iters,
             bool expected) {
  for (long i = 0; i < iters; ++i) {
    if (!expected) {
      raw_post_send(ep, out);
      ucp_worker_progress(w.ucp_worker()); // deliver it to the unexpected queue
    }
    raw_recv_and_wait(w, in, !expected, ep, out);
  }
}

ucoro::task<void> run_tag(ucoro::worker& w, ucp_ep_h ep, std::vector<std::byte>& out, std::vector<std::byte>& in,
                          long iters, bool expected) {
  for (long i = 0; i < iters; ++i) {
    if (!expected) {
      co_await ucoro::tag_send(w.engine(), ep, out.data(), out.size(), 1);
      w.progress();
      (void)co_await ucoro::tag_recv(w.engine(), in.data(), in.size(), 1);
      continue;
    }
    auto recv = [](ucoro::worker& wk, std::vector<std::byte>& into) -> ucoro::task<ucoro::tag_recv_info> {
      co_return co_await ucoro::tag_recv(wk.engine(), into.data(), into.size(), 1);
    }(w, in);
    auto send = [](ucoro::worker& wk, ucp_ep_h e, std::vector<std::byte>& from) -> ucoro::task<void> {
      co_await ucoro::tag_send(wk.engine(), e, from.data(), from.size(), 1);
    }(w, ep, out);
    (void)co_await ucoro::when_all(std::move(recv), std::move(send));
  }
}

/// The windowed stream through ucoro: `window` receives and `window` sends
/// as one when_all, through tag awaiters (`ep` null: tag variant) or the
/// endpoint.
ucoro::task<void> run_window(ucoro::worker& w, ucp_ep_h raw_ep, ucoro::endpoint* ep, std::vector<std::byte>& out,
                             std::vector<std::byte>& in, long iters, std::size_t window) {
  for (long i = 0; i < iters; ++i) {
    std::vector<ucoro::task<void>> ops;
    ops.reserve(2 * window);
    for (std::size_t k = 0; k < window; ++k)
      ops.push_back([](ucoro::worker& wk, ucoro::endpoint* e, std::vector<std::byte>& into) -> ucoro::task<void> {
        if (e != nullptr)
          (void)co_await e->recv(into);
        else
          (void)co_await ucoro::tag_recv(wk.engine(), into.data(), into.size(), 1);
      }(w, ep, in));
    for (std::size_t k = 0; k < window; ++k)
      ops.push_back([](ucoro::worker& wk, ucp_ep_h r, ucoro::endpoint* e, std::vector<std::byte>& from) -> ucoro::task<void> {
        if (e != nullptr)
          co_await e->send(from);
        else
          co_await ucoro::tag_send(wk.engine(), r, from.data(), from.size(), 1);
      }(w, raw_ep, ep, out));
    co_await ucoro::when_all(std::move(ops));
  }
}

ucoro::task<void> run_endpoint(ucoro::worker& w, ucoro::endpoint& ep, std::vector<std::byte>& out,
                               std::vector<std::byte>& in, long iters, bool expected) {
  for (long i = 0; i < iters; ++i) {
    if (!expected) {
      co_await ep.send(out);
      w.progress();
      (void)co_await ep.recv(in);
      continue;
    }
    auto recv = [](ucoro::endpoint& e, std::vector<std::byte>& into) -> ucoro::task<std::size_t> {
      co_return co_await e.recv(into);
    }(ep, in);
    auto send = [](ucoro::endpoint& e, std::vector<std::byte>& from) -> ucoro::task<void> {
      co_await e.send(from);
    }(ep, out);
    (void)co_await ucoro::when_all(std::move(recv), std::move(send));
  }
}

} // namespace

int main(int argc, char** argv) {
  std::string variant = "raw";
  std::string pattern = "unexpected";
  std::size_t window = 16;
  bool stop_token = false;
  long iters = 100000;
  std::size_t size = 8;
  CLI::App app{"ucoro's cost per message over raw UCX, for callgrind", "overhead"};
  std::string token = "none";
  app.add_option("--variant", variant, "raw, tag or endpoint");
  app.add_option("--iters", iters);
  app.add_option("--size", size);
  app.add_option("--pattern", pattern, "unexpected, expected or window");
  app.add_option("--window", window);
  app.add_option("--token", token, "stop: run under a stop token");
  try {
    bench::parse(app, argc, argv);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "overhead: %s\n", e.what());
    return 2;
  }
  stop_token = token == "stop";
  if (pattern != "unexpected" && pattern != "expected" && pattern != "window") {
    std::fprintf(stderr, "overhead: unknown pattern %s\n", pattern.c_str());
    return 2;
  }
  const bool expected = pattern == "expected";
  std::stop_source stop; // never requested: only its token's presence costs
  ucoro::context ctx;
  ucoro::worker w{ctx, ucoro::progress_mode::polling};
  std::vector<std::byte> out(size, std::byte{1}), in(size);
  ucoro::endpoint ep = w.create_endpoint_from_worker_address(w.address(), {.error_handling = ucoro::error_handling::none});
  const auto start = std::chrono::steady_clock::now();
  auto under_token = [&](ucoro::task<void> t) {
    if (stop_token)
      t.set_stop_token(stop.get_token());
    return t;
  };
  if (variant == "raw" && pattern == "window")
    run_raw_window(w, ep.ucp_endpoint(), out, in, iters, window);
  else if (variant == "raw")
    run_raw(w, ep.ucp_endpoint(), out, in, iters, expected);
  else if (variant == "tag" && pattern == "window")
    w.run(under_token(run_window(w, ep.ucp_endpoint(), nullptr, out, in, iters, window)));
  else if (variant == "tag")
    w.run(under_token(run_tag(w, ep.ucp_endpoint(), out, in, iters, expected)));
  else if (variant == "endpoint" && pattern == "window")
    w.run(under_token(run_window(w, ep.ucp_endpoint(), &ep, out, in, iters, window)));
  else if (variant == "endpoint")
    w.run(under_token(run_endpoint(w, ep, out, in, iters, expected)));
  else {
    std::fprintf(stderr, "overhead: unknown variant %s\n", variant.c_str());
    return 2;
  }
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  const long messages = pattern == "window" ? iters * static_cast<long>(window) : iters;
  std::printf("%s/%s%s: %ld messages of %zu bytes, %.1f ns per message\n", variant.c_str(), pattern.c_str(),
              stop_token ? " (stop token)" : "", messages, size,
              messages > 0 ? ns / static_cast<double>(messages) : 0.0);
  ep.abort();
  return 0;
}
