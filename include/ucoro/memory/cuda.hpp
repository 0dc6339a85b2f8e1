#pragma once
// CUDA runtime helpers (host code; needs the CUDA toolkit's headers and
// libcudart, which the meson `cuda` feature provides):
//  - cuda_category(): cudaError_t as std::error_code;
//  - detect_memory_type(ptr): opt-in pointer query for raw pointers whose
//    memory type is unknown (cudaPointerGetAttributes);
//  - set_worker_device(worker, device): the CUDA context rule.
//
// The rule: UCX touches device memory on the thread that progresses the
// worker (copies, IPC handles). That thread must have the right device's
// context current before the first device-memory operation, or UCX fails or
// crashes inside the CUDA driver (a known source of segfaults reported by
// UCX-Py and UCXX users). Call set_worker_device once after creating the
// worker, from any thread: it runs cudaSetDevice on the worker's thread.

#include <ucoro/concepts/buffer.hpp>
#include <ucoro/error.hpp>
#include <ucoro/ucx/worker.hpp>

#if !UCORO_HAS_CUDA
#error "ucoro/cuda.hpp needs the CUDA runtime (cuda_runtime_api.h): add -I$CUDA_PATH/include and link -lcudart (UCORO_HAS_CUDA is 0)"
#endif
#include <cuda_runtime_api.h>

#include <string>
#include <system_error>

namespace ucoro {

namespace detail {

class cuda_category_impl final : public std::error_category {
public:
  [[nodiscard]] const char* name() const noexcept override { return "cuda"; }
  [[nodiscard]] std::string message(int value) const override {
    return cudaGetErrorString(static_cast<cudaError_t>(value));
  }
  [[nodiscard]] std::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<cudaError_t>(value)) {
    case cudaSuccess: return {};
    case cudaErrorMemoryAllocation: return std::errc::not_enough_memory;
    case cudaErrorInvalidValue:
    case cudaErrorInvalidDevice: return std::errc::invalid_argument;
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver: return std::errc::no_such_device;
    case cudaErrorNotSupported: return std::errc::not_supported;
    default: return {value, *this};
    }
  }
};

} // namespace detail

[[nodiscard]] inline const std::error_category& cuda_category() noexcept {
  static const detail::cuda_category_impl instance;
  return instance;
}

[[nodiscard]] inline std::error_code make_error_code(cudaError_t e) noexcept {
  return {static_cast<int>(e), cuda_category()};
}

/// Throws ucx_error with the CUDA error and what was being done.
inline void check_cuda(cudaError_t e, const std::string& what) {
  if (e != cudaSuccess) [[unlikely]]
    throw ucx_error(make_error_code(e), what + ": " + cudaGetErrorString(e));
}

/// The memory type of a raw pointer, asked from the CUDA runtime. Opt-in:
/// it costs a driver call, which is what passing the type spares UCX.
[[nodiscard]] inline memory_type detect_memory_type(const void* ptr) {
  cudaPointerAttributes attr{};
  const cudaError_t e = cudaPointerGetAttributes(&attr, ptr);
  if (e != cudaSuccess) {
    (void)cudaGetLastError(); // clear the sticky error of a failed query
    return memory_type::host;
  }
  switch (attr.type) {
  case cudaMemoryTypeDevice: return memory_type::cuda;
  case cudaMemoryTypeManaged: return memory_type::cuda_managed;
  default: return memory_type::host;
  }
}

/// The PCI id ("0000:3b:00.0") of CUDA device `device`, for ucoro::topology:
/// `topo.ucx_net_devices_for(cuda_pci_bus_id(0))`.
[[nodiscard]] inline std::string cuda_pci_bus_id(int device) {
  char id[32] = {};
  check_cuda(cudaDeviceGetPCIBusId(id, sizeof id, device), "cudaDeviceGetPCIBusId(" + std::to_string(device) + ")");
  std::string out(id);
  for (auto& c : out)
    c = static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
  return out;
}

/// Runs cudaSetDevice(device) on the worker's thread (see the rule above).
inline void set_worker_device(worker& w, int device) {
  w.post([device] { check_cuda(cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ") on the worker thread"); });
}

} // namespace ucoro
