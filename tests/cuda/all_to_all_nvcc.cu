// Compiled by nvcc (not run): the all-to-all templates instantiated on
// device buffers, thrust's CUDA device_vector and ucoro's cuda buffers,
// so the device path stays buildable by the CUDA compiler users have.

#include <ucoro/all_to_all.hpp>
#include <ucoro/buffer/cuda.hpp>

#include <thrust/device_vector.h>

#include <vector>

ucoro::task<void> device_all_to_all(ucoro::communicator& comm, const thrust::device_vector<int>& send,
                                    thrust::device_vector<int>& recv) {
  ucoro::all_to_all_options options;
  options.algorithm = ucoro::all_to_all_algorithm::pairwise;
  co_await ucoro::all_to_all(comm, send, recv, options);
}

ucoro::task<void> device_all_to_allv(ucoro::communicator& comm, const std::vector<thrust::device_vector<double>>& parts,
                                     std::vector<thrust::device_vector<double>>& into) {
  co_await ucoro::all_to_allv(comm, parts, into);
}
