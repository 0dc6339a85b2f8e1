// The seed talk's CuPy echo: a device buffer of zeros is sent, the server
// increments it with a kernel and sends it back, the client checks on the
// device that every byte is 1. Same send/recv as the host echo; the buffers
// are ucoro::device_span. Exits 77 (skipped) where there is no GPU or the
// UCX in use cannot move CUDA memory, saying which.

#include <ucoro/cuda.hpp>
#include <ucoro/ucoro.hpp>

#include <cuda_runtime_api.h>

#include <chrono>
#include <cstdio>

extern "C" cudaError_t ucoro_example_increment(void* data, std::size_t n);
extern "C" cudaError_t ucoro_example_count_not_equal(const void* data, std::size_t n, unsigned char value,
                                                     unsigned long long* bad);

using namespace std::chrono_literals;

int main() {
  int devices = 0;
  if (const cudaError_t e = cudaGetDeviceCount(&devices); e != cudaSuccess || devices == 0) {
    std::printf("cuda_echo: skipped: no usable CUDA device (%s)\n", cudaGetErrorString(e));
    return 77;
  }
  ucoro::context ctx;
  if (!ctx.cuda_support()) {
    std::printf("cuda_echo: skipped: this UCX cannot move CUDA memory (see docs/gpu.md)\n");
    return 77;
  }
  try {
    ucoro::worker worker{ctx};
    ucoro::set_worker_device(worker, 0);
    constexpr std::size_t size = 8 << 20;
    void* out = nullptr;
    void* in = nullptr;
    void* server_buffer = nullptr;
    ucoro::check_cuda(cudaMalloc(&out, size), "cudaMalloc");
    ucoro::check_cuda(cudaMalloc(&in, size), "cudaMalloc");
    ucoro::check_cuda(cudaMalloc(&server_buffer, size), "cudaMalloc");
    ucoro::check_cuda(cudaMemset(out, 0, size), "cudaMemset");

    auto lf = worker.create_listener(
        [&](ucoro::endpoint ep) -> ucoro::task<void> {
          auto buf = ucoro::as_writable_device_bytes(server_buffer, size);
          (void)co_await ep.recv(buf);
          ucoro::check_cuda(ucoro_example_increment(server_buffer, size), "increment kernel");
          co_await ep.send(buf);
          co_await ep.close();
        },
        0);
    const auto bad = worker.run(ucoro::with_timeout(
        [&]() -> ucoro::task<unsigned long long> {
          ucoro::endpoint ep = co_await worker.create_endpoint("127.0.0.1", lf.port());
          co_await ep.send(ucoro::as_device_bytes(out, size));
          (void)co_await ep.recv(ucoro::as_writable_device_bytes(in, size));
          unsigned long long wrong = 0;
          ucoro::check_cuda(ucoro_example_count_not_equal(in, size, 1, &wrong), "check kernel");
          co_return wrong;
        }(),
        60s));
    std::printf("cuda_echo: %zu device bytes %s\n", size, bad == 0 ? "incremented: ok" : "WRONG");
    cudaFree(out);
    cudaFree(in);
    cudaFree(server_buffer);
    return bad == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_echo: %s\n", e.what());
    return 1;
  }
}
