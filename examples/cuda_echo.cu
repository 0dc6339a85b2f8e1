// Device code for the CUDA echo (compiled by nvcc): the server's increment
// and the client's on-device check. The ucoro side is cuda_echo_main.cpp.

#include <cuda_runtime.h>

#include <cstddef>

namespace {

__global__ void increment(unsigned char* p, std::size_t n) {
  const std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (i < n)
    p[i] = static_cast<unsigned char>(p[i] + 1);
}

__global__ void count_not_equal(const unsigned char* p, std::size_t n, unsigned char value, unsigned long long* bad) {
  const std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (i < n && p[i] != value)
    atomicAdd(bad, 1ULL);
}

unsigned blocks(std::size_t n) { return static_cast<unsigned>((n + 255) / 256); }

} // namespace

extern "C" cudaError_t ucoro_example_increment(void* data, std::size_t n) {
  increment<<<blocks(n), 256>>>(static_cast<unsigned char*>(data), n);
  const cudaError_t launched = cudaGetLastError();
  return launched != cudaSuccess ? launched : cudaDeviceSynchronize();
}

extern "C" cudaError_t ucoro_example_count_not_equal(const void* data, std::size_t n, unsigned char value,
                                                     unsigned long long* bad) {
  unsigned long long* counter = nullptr;
  cudaError_t e = cudaMalloc(&counter, sizeof *counter);
  if (e != cudaSuccess)
    return e;
  cudaMemset(counter, 0, sizeof *counter);
  count_not_equal<<<blocks(n), 256>>>(static_cast<const unsigned char*>(data), n, value, counter);
  e = cudaMemcpy(bad, counter, sizeof *bad, cudaMemcpyDeviceToHost);
  cudaFree(counter);
  return e;
}
