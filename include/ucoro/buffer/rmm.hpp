#pragma once
// RMM's device containers as buffers (CUDA device memory), when RMM's headers
// are on the include path: rmm::device_buffer (bytes) and
// rmm::device_uvector<T>. A const one can be sent, not received into.

#include <ucoro/concepts/buffer.hpp>

#if UCORO_HAS_RMM
#include <rmm/device_buffer.hpp>

namespace ucoro {

template <>
struct buffer_traits<rmm::device_buffer> {
  static constexpr memory_type memory = memory_type::cuda;
  static void* data(rmm::device_buffer& b) noexcept { return b.data(); }
  static const void* data(const rmm::device_buffer& b) noexcept { return b.data(); }
  static std::size_t size_bytes(const rmm::device_buffer& b) noexcept { return b.size(); }
};

} // namespace ucoro
#endif

#if UCORO_HAS_RMM && __has_include(<rmm/device_uvector.hpp>)
#include <rmm/device_uvector.hpp>

namespace ucoro {

template <class T>
struct buffer_traits<rmm::device_uvector<T>> {
  static constexpr memory_type memory = memory_type::cuda;
  static T* data(rmm::device_uvector<T>& v) noexcept { return v.data(); }
  static const T* data(const rmm::device_uvector<T>& v) noexcept { return v.data(); }
  static std::size_t size_bytes(const rmm::device_uvector<T>& v) noexcept { return v.size() * sizeof(T); }
};

} // namespace ucoro
#endif
