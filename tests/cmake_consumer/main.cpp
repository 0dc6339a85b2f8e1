// No -std flag in this project: linking ucoro::ucoro brings C++20.
#include <ucoro/ucoro.hpp>

#include <cstdio>
#include <cstring>
#include <vector>

int main() {
  static_assert(__cplusplus >= 202002L);
  if (std::strcmp(UCORO_VERSION_STRING, EXPECTED_UCORO_VERSION) != 0) {
    std::fprintf(stderr, "UCORO_VERSION_STRING %s, expected %s\n", UCORO_VERSION_STRING, EXPECTED_UCORO_VERSION);
    return 1;
  }
  ucoro::context ctx;
  ucoro::worker w{ctx};
  // A real exchange: a message through an endpoint to this worker itself.
  ucoro::endpoint ep = w.create_endpoint_from_worker_address(w.address());
  const std::vector<int> sent{1, 2, 3, 4};
  std::vector<int> got(4);
  const int status = w.run([&]() -> ucoro::task<int> {
    auto [nothing, n] = co_await ucoro::when_all([&]() -> ucoro::task<void> { co_await ep.send(sent); }(),
                                                 [&]() -> ucoro::task<std::size_t> { co_return co_await ep.recv(got); }());
    (void)nothing;
    co_return n == sizeof(int) * sent.size() && got == sent ? 0 : 1;
  }());
  std::printf("cmake consumer: ucoro %s, %s\n", UCORO_VERSION_STRING, status == 0 ? "exchange ok" : "exchange WRONG");
  return status;
}
