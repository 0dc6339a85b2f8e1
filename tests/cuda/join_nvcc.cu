// Compiled by nvcc (not run: no GPU here): the device join blocks on
// thrust's CUDA backend, so the device path stays buildable by the CUDA
// compiler users have. tests/cuda/join_thrust_cpp.cpp runs the same code.

#include <ucoro/join/device.hpp>

#include <cstdint>

ucoro::join::device::indices device_join(const thrust::device_vector<std::int64_t>& left,
                                         const thrust::device_vector<std::int64_t>& right) {
  return ucoro::join::device::local_join(left, right, ucoro::join::join_how::inner);
}

thrust::device_vector<double> device_partition(const thrust::device_vector<std::int32_t>& keys,
                                               const thrust::device_vector<double>& column) {
  const auto plan = ucoro::join::device::plan_partition(keys, 4);
  return ucoro::join::device::gather(plan, column);
}
