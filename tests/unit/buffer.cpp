#include <ucoro/concepts/buffer.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace {

struct blob {
  void* ptr;
  std::size_t len;
};

struct not_a_buffer {};

struct pinned_host_blob {
  std::byte* ptr;
  std::size_t len;
};

} // namespace

template <>
struct ucoro::buffer_traits<blob> {
  static constexpr ucoro::memory_type memory = ucoro::memory_type::host;
  static void* data(blob& b) noexcept { return b.ptr; }
  static const void* data(const blob& b) noexcept { return b.ptr; }
  static std::size_t size_bytes(const blob& b) noexcept { return b.len; }
};

// A user type claiming device memory: the same traits, another memory type.
template <>
struct ucoro::buffer_traits<pinned_host_blob> {
  static constexpr ucoro::memory_type memory = ucoro::memory_type::cuda;
  static void* data(pinned_host_blob& b) noexcept { return b.ptr; }
  static const void* data(const pinned_host_blob& b) noexcept { return b.ptr; }
  static std::size_t size_bytes(const pinned_host_blob& b) noexcept { return b.len; }
};

using namespace ucoro;

TEST_CASE("contiguous ranges of trivially copyable elements are host buffers", "[buffer]") {
  STATIC_REQUIRE(writable_buffer<std::vector<int>&>);
  STATIC_REQUIRE(writable_buffer<std::array<double, 4>&>);
  STATIC_REQUIRE(writable_buffer<std::string&>);
  STATIC_REQUIRE(writable_buffer<std::span<std::byte>>);
  STATIC_REQUIRE(writable_buffer<int (&)[8]>);
  STATIC_REQUIRE(host_buffer<std::vector<std::uint8_t>&>);
  STATIC_REQUIRE_FALSE(device_buffer<std::vector<std::uint8_t>&>);
}

TEST_CASE("const ranges are buffers to send but not to receive into", "[buffer]") {
  STATIC_REQUIRE(buffer<const std::vector<int>&>);
  STATIC_REQUIRE_FALSE(writable_buffer<const std::vector<int>&>);
  STATIC_REQUIRE_FALSE(writable_buffer<std::span<const std::byte>>);
  STATIC_REQUIRE_FALSE(writable_buffer<const std::string&>);
}

TEST_CASE("non-contiguous or non-trivial ranges are not buffers", "[buffer]") {
  STATIC_REQUIRE_FALSE(buffer<not_a_buffer&>);
  STATIC_REQUIRE_FALSE(buffer<std::vector<std::string>&>);
  STATIC_REQUIRE_FALSE(buffer<std::vector<bool>&>);
}

TEST_CASE("a user type joins through buffer_traits, with its memory type", "[buffer]") {
  STATIC_REQUIRE(writable_buffer<blob&>);
  STATIC_REQUIRE(host_buffer<blob&>);
  STATIC_REQUIRE(device_buffer<pinned_host_blob&>);
  std::array<std::byte, 32> storage{};
  blob b{storage.data(), storage.size()};
  const auto view = writable_view_of(b);
  CHECK(view.data == storage.data());
  CHECK(view.size == 32);
  CHECK(view.memory == memory_type::host);
  pinned_host_blob d{storage.data(), 8};
  CHECK(view_of(d).memory == memory_type::cuda);
}

TEST_CASE("views report element bytes, not element counts", "[buffer]") {
  std::vector<std::uint32_t> v(10);
  CHECK(view_of(v).size == 40);
  CHECK(as_bytes(v.data(), 40).size() == 40);
  CHECK(as_writable_bytes(v.data(), 3).data() == reinterpret_cast<std::byte*>(v.data()));
  CHECK(std::string(to_string(memory_type::cuda_managed)) == "cuda_managed");
}
