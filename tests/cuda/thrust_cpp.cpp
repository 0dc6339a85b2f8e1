// thrust::device_vector through ucoro, built by the host compiler with
// thrust's CPP device system, so it runs without a GPU: the adapter reports
// host memory there (CUDA memory under the CUDA backend) and the bytes travel.

#include "../support/helpers.hpp"

#include <ucoro/all_to_all.hpp>
#include <ucoro/buffer/cuda.hpp>

#include <thrust/device_vector.h>

#include <algorithm>

using namespace ucoro;

static_assert(THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CPP, "this test is built with the CPP backend");

TEST_CASE("thrust device_vectors are buffers whose memory type follows thrust's device system", "[buffer][thrust]") {
  STATIC_REQUIRE(writable_buffer<thrust::device_vector<int>&>);
  STATIC_REQUIRE(host_buffer<thrust::device_vector<int>&>); // CPP backend: host memory
  STATIC_REQUIRE_FALSE(writable_buffer<const thrust::device_vector<int>&>);
  STATIC_REQUIRE(buffer<const thrust::device_vector<int>&>);
}

TEST_CASE("a thrust device_vector is sent and received intact", "[endpoint][thrust]") {
  context ctx;
  worker w{ctx};
  endpoint ep = w.create_endpoint_from_worker_address(w.address());
  thrust::device_vector<std::uint32_t> out(5000), in(5000);
  // Element access through raw pointers (host memory under the CPP backend):
  // thrust's device_reference assignment trips UBSan inside thrust itself
  // (a reference bound to a null execution-policy pointer).
  std::uint32_t* src = thrust::raw_pointer_cast(out.data());
  const std::uint32_t* dst = thrust::raw_pointer_cast(in.data());
  for (std::uint32_t i = 0; i < 5000; ++i)
    src[i] = i * 7 + 1;
  const std::size_t n = w.run(test::bounded([&]() -> task<std::size_t> {
    auto [unused, got] = co_await when_all([&]() -> task<void> { co_await ep.send(out); }(),
                                           [&]() -> task<std::size_t> { co_return co_await ep.recv(in); }());
    (void)unused;
    co_return got;
  }()));
  CHECK(n == 5000 * sizeof(std::uint32_t));
  CHECK(std::equal(src, src + 5000, dst));
  ep.abort();
}

TEST_CASE("all_to_all and all_to_allv take thrust device_vectors", "[all_to_all][thrust]") {
  context ctx;
  worker w{ctx};
  w.run(test::bounded([&]() -> task<void> {
    communicator comm = co_await communicator::bootstrap(w); // a singleton: its own block
    thrust::device_vector<std::uint32_t> send(1000), recv(1000);
    std::uint32_t* src = thrust::raw_pointer_cast(send.data());
    for (std::uint32_t i = 0; i < 1000; ++i)
      src[i] = i * 3 + 1;
    co_await all_to_all(comm, send, recv);
    const std::uint32_t* got = thrust::raw_pointer_cast(recv.data());
    CHECK(std::equal(src, src + 1000, got));
    std::vector<thrust::device_vector<std::uint32_t>> parts(1, send);
    const auto back = co_await all_to_allv(comm, parts);
    REQUIRE(back.size() == 1);
    CHECK(std::equal(back[0].begin(), back[0].end(), src));
  }()));
}
