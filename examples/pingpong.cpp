// Ping-pong through one worker and an endpoint to its own address: the
// smallest complete ucoro program. Prints the one-way latency per size in
// both progress modes.

#include <ucoro/ucoro.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

using namespace std::chrono_literals;

namespace {

ucoro::task<double> pingpong(ucoro::worker& w, ucp_ep_h self, std::size_t size, int iterations) {
  std::vector<std::byte> out(size, std::byte{1}), in(size);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) {
    auto recv = [&]() -> ucoro::task<ucoro::tag_recv_info> {
      co_return co_await ucoro::tag_recv(w.engine(), in.data(), in.size(), 1);
    };
    auto send = [&]() -> ucoro::task<void> { co_await ucoro::tag_send(w.engine(), self, out.data(), out.size(), 1); };
    co_await ucoro::with_timeout(ucoro::when_all(recv(), send()), 10s);
  }
  const std::chrono::duration<double, std::micro> elapsed = std::chrono::steady_clock::now() - start;
  co_return elapsed.count() / iterations;
}

} // namespace

int main() {
  ucoro::context ctx;
  for (auto mode : {ucoro::progress_mode::polling, ucoro::progress_mode::blocking}) {
    ucoro::worker w{ctx, mode};
    const auto address = w.address();
    ucp_ep_params_t params{};
    params.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS;
    params.address = reinterpret_cast<const ucp_address_t*>(address.data());
    ucp_ep_h ep = nullptr;
    ucoro::check(ucp_ep_create(w.ucp_worker(), &params, &ep), "creating loopback endpoint");

    std::printf("%-8s %10s %14s\n", mode == ucoro::progress_mode::polling ? "polling" : "blocking", "bytes",
                "send+recv us");
    for (std::size_t size : {std::size_t{8}, std::size_t{4096}, std::size_t{1} << 20}) {
      const int iterations = size >= (1U << 20) ? 200 : 2000;
      (void)w.run(pingpong(w, ep, size, iterations / 10)); // warm-up
      std::printf("%-8s %10zu %14.2f\n", "", size, w.run(pingpong(w, ep, size, iterations)));
    }
    ucp_request_param_t close{};
    close.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
    close.flags = UCP_EP_CLOSE_FLAG_FORCE;
    void* request = ucp_ep_close_nbx(ep, &close);
    if (UCS_PTR_IS_PTR(request)) {
      while (ucp_request_check_status(request) == UCS_INPROGRESS)
        w.progress();
      ucp_request_free(request);
    }
  }
}
