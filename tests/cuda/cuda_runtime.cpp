// The CUDA helpers, built against the toolkit: the error category and the
// pointer query run without a GPU; what needs one skips (exit code 77).

#include "../support/helpers.hpp"

#include <ucoro/cuda.hpp>

TEST_CASE("cudaError_t codes carry CUDA's messages and map to std::errc", "[cuda][error]") {
  const auto ec = ucoro::make_error_code(cudaErrorMemoryAllocation);
  CHECK(std::string(ec.category().name()) == "cuda");
  CHECK(ec == std::errc::not_enough_memory);
  CHECK(ec.message() == cudaGetErrorString(cudaErrorMemoryAllocation));
  CHECK(ucoro::make_error_code(cudaErrorInvalidValue) == std::errc::invalid_argument);
  CHECK(ucoro::make_error_code(cudaErrorNoDevice) == std::errc::no_such_device);
  CHECK_FALSE(ucoro::make_error_code(cudaSuccess));
  try {
    ucoro::check_cuda(cudaErrorInvalidDevice, "cudaSetDevice(99)");
    FAIL("no error");
  } catch (const ucoro::ucx_error& e) {
    CHECK(e.code() == std::errc::invalid_argument);
    CHECK_THAT(e.what(), Catch::Contains("cudaSetDevice(99)"));
  }
}

TEST_CASE("a host pointer is detected as host memory", "[cuda]") {
  std::vector<int> v(4);
  CHECK(ucoro::detect_memory_type(v.data()) == ucoro::memory_type::host);
}

TEST_CASE("a CUDA device's PCI id comes from the runtime, or a CUDA error says why not", "[cuda][topology]") {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0) {
    const std::string id = ucoro::cuda_pci_bus_id(0);
    CHECK(id.size() == 12); // dddd:bb:dd.f
    CHECK(id.find_first_of("ABCDEF") == std::string::npos);
    return;
  }
  // No GPU here: the error is CUDA's, naming the call.
  try {
    (void)ucoro::cuda_pci_bus_id(0);
    FAIL("a PCI id without a device");
  } catch (const ucoro::ucx_error& e) {
    CHECK(std::string(e.code().category().name()) == "cuda");
    CHECK_THAT(e.what(), Catch::Contains("cudaDeviceGetPCIBusId(0)"));
  }
}
