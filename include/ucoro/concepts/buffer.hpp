#pragma once
// What send and recv accept. A buffer is anything buffer_traits describes:
// where its bytes start, how many there are, and in which memory they live.
// Contiguous ranges of trivially copyable elements (std::vector, std::array,
// std::span, std::string, C arrays) are buffers out of the box; a user type
// joins by specialising ucoro::buffer_traits (the C++ counterpart of
// Python's buffer protocol / __cuda_array_interface__):
//
//   template <> struct ucoro::buffer_traits<my_blob> {
//     static constexpr ucoro::memory_type memory = ucoro::memory_type::host;
//     static void* data(my_blob& b) { return b.ptr; }
//     static const void* data(const my_blob& b) { return b.ptr; }
//     static std::size_t size_bytes(const my_blob& b) { return b.len; }
//   };
//
// A buffer is writable (a recv target) when data() on a non-const reference
// yields a non-const pointer: a const range is not, and recv into one does
// not compile.

#include <ucoro/config.hpp>

#include <ucs/memory/memory_type.h>

#include <concepts>
#include <cstddef>
#include <iterator>
#include <ranges>
#include <span>
#include <type_traits>

namespace ucoro {

/// Where a buffer's bytes live. Extensible: values map onto ucs_memory_type_t.
enum class memory_type : unsigned char {
  host = UCS_MEMORY_TYPE_HOST,
  cuda = UCS_MEMORY_TYPE_CUDA,
  cuda_managed = UCS_MEMORY_TYPE_CUDA_MANAGED,
  rocm = UCS_MEMORY_TYPE_ROCM,
  rocm_managed = UCS_MEMORY_TYPE_ROCM_MANAGED,
  unknown = UCS_MEMORY_TYPE_UNKNOWN, ///< let UCX detect it (costs a pointer query)
};

[[nodiscard]] constexpr ucs_memory_type_t to_ucs(memory_type m) noexcept {
  return static_cast<ucs_memory_type_t>(m);
}

[[nodiscard]] constexpr const char* to_string(memory_type m) noexcept {
  switch (m) {
  case memory_type::host: return "host";
  case memory_type::cuda: return "cuda";
  case memory_type::cuda_managed: return "cuda_managed";
  case memory_type::rocm: return "rocm";
  case memory_type::rocm_managed: return "rocm_managed";
  case memory_type::unknown: return "unknown";
  }
  return "?";
}

/// Customization point. The primary template describes nothing.
template <class T>
struct buffer_traits {};

namespace detail {

template <class R>
concept contiguous_trivial_range = std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
                                   std::is_trivially_copyable_v<std::ranges::range_value_t<R>>;

} // namespace detail

/// What a typed recv_obj<C>() fills: a default-constructible, resizable,
/// contiguous container of trivially copyable elements (std::vector<float>,
/// std::string, std::vector<std::byte, MyAllocator>, ...).
template <class C>
concept resizable_container = detail::contiguous_trivial_range<C> && std::default_initializable<C> &&
                              requires(C& c, std::size_t n) { c.resize(n); };

template <class R>
  requires detail::contiguous_trivial_range<R>
struct buffer_traits<R> {
  static constexpr memory_type memory = memory_type::host;
  static auto* data(R& r) noexcept { return std::ranges::data(r); }
  static const auto* data(const R& r) noexcept { return std::ranges::data(r); }
  static std::size_t size_bytes(const R& r) noexcept {
    return std::ranges::size(r) * sizeof(std::ranges::range_value_t<R>);
  }
};

template <class T>
using buffer_traits_of = buffer_traits<std::remove_cvref_t<T>>;

/// Anything send accepts.
template <class B>
concept buffer = requires(std::remove_reference_t<B>& b) {
  { buffer_traits_of<B>::memory } -> std::convertible_to<memory_type>;
  { buffer_traits_of<B>::data(b) } -> std::convertible_to<const void*>;
  { buffer_traits_of<B>::size_bytes(b) } -> std::convertible_to<std::size_t>;
};

/// Anything recv accepts: a buffer whose bytes may be written.
template <class B>
concept writable_buffer = buffer<B> && requires(std::remove_reference_t<B>& b) {
  { buffer_traits_of<B>::data(b) } -> std::convertible_to<void*>;
};

/// A range of buffers, each a part of one message (send_many):
/// std::vector<std::span<const std::byte>>, std::vector<std::vector<float>>.
template <class R>
concept buffer_range = std::ranges::input_range<R> && buffer<std::ranges::range_reference_t<R>>;

/// A range of writable buffers (recv_many).
template <class R>
concept writable_buffer_range = std::ranges::input_range<R> && writable_buffer<std::ranges::range_reference_t<R>>;

template <class B>
concept host_buffer = buffer<B> && (buffer_traits_of<B>::memory == memory_type::host);

template <class B>
concept device_buffer = buffer<B> && (buffer_traits_of<B>::memory != memory_type::host);

/// A buffer reduced to what UCX needs.
template <class Byte>
struct buffer_view {
  Byte* data = nullptr;
  std::size_t size = 0;
  memory_type memory = memory_type::host;
};

template <buffer B>
[[nodiscard]] buffer_view<const void> view_of(const B& b) noexcept {
  return {buffer_traits_of<B>::data(b), buffer_traits_of<B>::size_bytes(b), buffer_traits_of<B>::memory};
}

template <writable_buffer B>
[[nodiscard]] buffer_view<void> writable_view_of(B& b) noexcept {
  return {buffer_traits_of<B>::data(b), buffer_traits_of<B>::size_bytes(b), buffer_traits_of<B>::memory};
}

/// A typed view of device memory: what a raw device pointer becomes to be
/// sent or received. Const elements make it send-only.
template <class T, memory_type Memory = memory_type::cuda>
class device_span {
  static_assert(Memory != memory_type::host, "device_span is for device memory; use std::span for host memory");

public:
  using element_type = T;
  static constexpr memory_type memory = Memory;

  constexpr device_span() noexcept = default;
  constexpr device_span(T* data, std::size_t count) noexcept : m_data(data), m_count(count) {}
  template <class U>
    requires std::is_convertible_v<U (*)[], T (*)[]>
  constexpr device_span(const device_span<U, Memory>& other) noexcept : m_data(other.data()), m_count(other.size()) {}

  [[nodiscard]] constexpr T* data() const noexcept { return m_data; }
  [[nodiscard]] constexpr std::size_t size() const noexcept { return m_count; }
  [[nodiscard]] constexpr std::size_t size_bytes() const noexcept { return m_count * sizeof(T); }

private:
  T* m_data = nullptr;
  std::size_t m_count = 0;
};

template <class T, memory_type Memory>
struct buffer_traits<device_span<T, Memory>> {
  static constexpr memory_type memory = Memory;
  static T* data(const device_span<T, Memory>& s) noexcept { return s.data(); }
  static std::size_t size_bytes(const device_span<T, Memory>& s) noexcept { return s.size_bytes(); }
};

/// Raw device pointers as byte views (CUDA device memory by default).
template <memory_type Memory = memory_type::cuda>
[[nodiscard]] device_span<const std::byte, Memory> as_device_bytes(const void* data, std::size_t size) noexcept {
  return {static_cast<const std::byte*>(data), size};
}
template <memory_type Memory = memory_type::cuda>
[[nodiscard]] device_span<std::byte, Memory> as_writable_device_bytes(void* data, std::size_t size) noexcept {
  return {static_cast<std::byte*>(data), size};
}

/// Views of raw host memory.
[[nodiscard]] inline std::span<const std::byte> as_bytes(const void* data, std::size_t size) noexcept {
  return {static_cast<const std::byte*>(data), size};
}
[[nodiscard]] inline std::span<std::byte> as_writable_bytes(void* data, std::size_t size) noexcept {
  return {static_cast<std::byte*>(data), size};
}

} // namespace ucoro
