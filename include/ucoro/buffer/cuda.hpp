#pragma once
// thrust::device_vector as a buffer, when thrust is on the include path.
// Its memory type follows thrust's device system: CUDA memory with the CUDA
// backend, host memory with the CPP/OMP/TBB backends (which is how it is
// tested on machines without a GPU).

#include <ucoro/concepts/buffer.hpp>

#if UCORO_HAS_THRUST
#include <thrust/device_vector.h>

namespace ucoro {

namespace detail {
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
inline constexpr memory_type thrust_device_memory = memory_type::cuda;
#else
inline constexpr memory_type thrust_device_memory = memory_type::host;
#endif
} // namespace detail

template <class T, class Alloc>
  requires std::is_trivially_copyable_v<T>
struct buffer_traits<thrust::device_vector<T, Alloc>> {
  static constexpr memory_type memory = detail::thrust_device_memory;
  static T* data(thrust::device_vector<T, Alloc>& v) noexcept { return thrust::raw_pointer_cast(v.data()); }
  static const T* data(const thrust::device_vector<T, Alloc>& v) noexcept {
    return thrust::raw_pointer_cast(v.data());
  }
  static std::size_t size_bytes(const thrust::device_vector<T, Alloc>& v) noexcept { return v.size() * sizeof(T); }
};

} // namespace ucoro

#endif
