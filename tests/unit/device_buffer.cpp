// Device memory without a GPU: which types are which buffers (compile time),
// and a clear refusal when this UCX cannot move device memory (run time).
// Built with tests/support/fake_rmm on the include path.

#include "../support/helpers.hpp"
#include "../support/skip.hpp"

#include <ucoro/buffer/rmm.hpp>

using namespace ucoro;


TEST_CASE("device spans, raw device bytes and RMM containers are device buffers", "[buffer][device]") {
  STATIC_REQUIRE(device_buffer<device_span<float>>);
  STATIC_REQUIRE(writable_buffer<device_span<float>>);
  STATIC_REQUIRE(device_buffer<decltype(as_device_bytes(nullptr, 0))>);
  STATIC_REQUIRE(writable_buffer<decltype(as_writable_device_bytes(nullptr, 0))>);
  STATIC_REQUIRE(device_buffer<device_span<int, memory_type::cuda_managed>>);
  STATIC_REQUIRE(buffer_traits_of<device_span<int, memory_type::cuda_managed>>::memory == memory_type::cuda_managed);
  STATIC_REQUIRE(device_buffer<rmm::device_buffer&>);
  STATIC_REQUIRE(writable_buffer<rmm::device_buffer&>);
  STATIC_REQUIRE(device_buffer<rmm::device_uvector<double>&>);
  STATIC_REQUIRE(writable_buffer<rmm::device_uvector<double>&>);
  STATIC_REQUIRE_FALSE(host_buffer<rmm::device_uvector<double>&>);
}

TEST_CASE("a const device span or const RMM container can be sent but not received into", "[buffer][device]") {
  STATIC_REQUIRE(buffer<device_span<const float>>);
  STATIC_REQUIRE_FALSE(writable_buffer<device_span<const float>>);
  STATIC_REQUIRE_FALSE(writable_buffer<decltype(as_device_bytes(nullptr, 0))>);
  STATIC_REQUIRE(buffer<const rmm::device_buffer&>);
  STATIC_REQUIRE_FALSE(writable_buffer<const rmm::device_buffer&>);
  STATIC_REQUIRE_FALSE(writable_buffer<const rmm::device_uvector<int>&>);
}

TEST_CASE("views of RMM containers carry their bytes and the cuda memory type", "[buffer][device]") {
  rmm::device_uvector<std::uint32_t> v(10);
  const auto view = writable_view_of(v);
  CHECK(view.data == v.data());
  CHECK(view.size == 40);
  CHECK(view.memory == memory_type::cuda);
}

TEST_CASE("device memory on a UCX without CUDA support is refused with the fix, before anything is posted",
          "[endpoint][device][error][.no_cuda_ucx]") {
  context ctx;
  if (ctx.cuda_support())
    UCORO_SKIP("this UCX supports CUDA memory; the refusal cannot be observed here");
  worker w{ctx};
  endpoint ep = w.create_endpoint_from_worker_address(w.address());
  // Host memory labelled as CUDA memory: were it posted, UCX would be handed
  // a "device" pointer; the refusal must come first.
  std::vector<std::byte> storage(64);
  const auto labelled = as_writable_device_bytes(storage.data(), storage.size());
  for (int direction = 0; direction < 2; ++direction) {
    try {
      if (direction == 0)
        w.run(test::bounded(ep.send(labelled)));
      else
        (void)w.run(test::bounded(ep.recv(labelled)));
      FAIL("device memory was accepted");
    } catch (const ucx_error& e) {
      CHECK(e.code() == std::errc::not_supported);
      CHECK_THAT(e.what(), Catch::Contains("cuda memory") && Catch::Contains("PKG_CONFIG_PATH") &&
                               Catch::Contains("cuda_copy,cuda_ipc"));
    }
  }
  CHECK(ep.send_count() == 0); // nothing consumed a sequence number
  CHECK(ep.recv_count() == 0);
  // The endpoint is still fine for host memory.
  std::vector<std::byte> back(64);
  w.run(test::bounded(when_all([&]() -> task<void> { co_await ep.send(storage); }(),
                               [&]() -> task<std::size_t> { co_return co_await ep.recv(back); }())));
  CHECK(ep.recv_count() == 1);
  CHECK_THROWS_MATCHES(w.run(tag_send(w.engine(), ep.ucp_endpoint(), storage.data(), 8, 1, UCS_MEMORY_TYPE_CUDA)),
                       ucx_error, Catch::Predicate<ucx_error>([](const ucx_error& e) {
                         return e.code() == std::errc::not_supported;
                       }));
  ep.abort();
}
