#pragma once
// send_many and recv_many: several buffers as one message on the endpoint's
// ordered channel. On the wire, a size header, then the parts:
//
//   header  [count | flags << 32, size 0, ..., size count-1]  64-bit words
//   parts   one message gathered by UCX (the IOV datatype) when every part
//           is host memory (flag one_message); otherwise one message per
//           part, posted together and kept in order by the channel
//
// The header lets the receiver check each part against its buffer before
// anything lands in it, and scatter exactly: a part too small is
// message_size naming the part, with the message consumed (the endpoint
// stays in step), as recv's message_size. UCX 1.13's IOV carries one
// memory type per message, and this UCX none but host; a device part
// therefore goes as a message of its own.

#include <ucoro/concepts/buffer.hpp>
#include <ucoro/error.hpp>
#include <ucoro/p2p/detail/endpoint_ops.hpp>
#include <ucoro/p2p/detail/endpoint_state.hpp>
#include <ucoro/runtime/detail/small_vector.hpp>
#include <ucoro/runtime/task.hpp>
#include <ucoro/runtime/when_all.hpp>

#include <ucp/api/ucp.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace ucoro::detail {

namespace parts_header {
inline constexpr std::uint64_t count_mask = 0xFFFFFFFFULL;
inline constexpr std::uint64_t one_message = std::uint64_t{1} << 32;
} // namespace parts_header

/// The most parts one send_many takes (the header's count field).
inline constexpr std::size_t max_parts = parts_header::count_mask;

/// Parts of a message inline up to this many (a header and a few columns);
/// more go to the heap once per call.
inline constexpr std::size_t inline_parts = 8;

template <class View>
[[nodiscard]] bool all_host(std::span<const View> parts) noexcept {
  for (const View& part : parts)
    if (part.memory != memory_type::host)
      return false;
  return true;
}

/// The IOV entries for `parts` with `sizes` (zero-length parts left out:
/// UCX need not see them); returns the bytes in all.
template <class View>
std::size_t gather_iov(std::span<const View> parts, std::span<const std::uint64_t> sizes,
                       small_vector<ucp_dt_iov_t, inline_parts>& iov) {
  std::size_t bytes = 0;
  iov.reserve(parts.size());
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (sizes[i] == 0)
      continue;
    iov.push_back(ucp_dt_iov_t{const_cast<void*>(static_cast<const void*>(parts[i].data)), sizes[i]});
    bytes += sizes[i];
  }
  return bytes;
}

inline task<void> send_one(endpoint_state& state, buffer_view<const void> view) { co_await ep_send_op(state, view); }
inline task<void> send_gathered(endpoint_state& state, const small_vector<ucp_dt_iov_t, inline_parts>& iov,
                                std::size_t bytes) {
  if (iov.size() == 0)
    co_await ep_send_op(state, buffer_view<const void>{nullptr, 0, memory_type::host});
  else
    co_await ep_send_op(state, iov.data(), iov.size(), bytes);
}
inline task<std::size_t> recv_one(endpoint_state& state, buffer_view<void> view) {
  co_return co_await ep_recv_op(state, view);
}
inline task<std::size_t> recv_scattered(endpoint_state& state, const small_vector<ucp_dt_iov_t, inline_parts>& iov,
                                        std::size_t bytes) {
  if (iov.size() == 0)
    co_return co_await ep_recv_op(state, buffer_view<void>{nullptr, 0, memory_type::host});
  co_return co_await ep_recv_op(state, iov.data(), iov.size(), bytes);
}

/// How send_many moves the parts: as one message where it can, or one
/// message each (what a device part needs; tests force it on host memory,
/// where this UCX has no device memory to show it with).
enum class parts_mode : bool { automatic, one_per_part };

/// send_many: the header and the parts, all posted before the first
/// suspension, so no other send of this endpoint comes between them.
inline task<void> send_parts(std::shared_ptr<endpoint_state> state, std::span<const buffer_view<const void>> parts,
                             parts_mode mode = parts_mode::automatic) {
  if (parts.size() > max_parts)
    throw_invalid_argument("send_many to " + state->peer() + ": " + std::to_string(parts.size()) +
                           " parts; at most " + std::to_string(max_parts));
  const bool one_message = mode == parts_mode::automatic && all_host(parts);
  small_vector<std::uint64_t, 1 + inline_parts> header(1 + parts.size());
  header.data()[0] = parts.size() | (one_message ? parts_header::one_message : 0);
  for (std::size_t i = 0; i < parts.size(); ++i)
    header.data()[1 + i] = parts[i].size;
  const buffer_view<const void> head{header.data(), header.size() * sizeof(std::uint64_t), memory_type::host};
  if (one_message) {
    small_vector<ucp_dt_iov_t, inline_parts> iov;
    const std::size_t bytes = gather_iov(parts, std::span(header.data() + 1, parts.size()), iov);
    co_await when_all(send_one(*state, head), send_gathered(*state, iov, bytes));
    co_return;
  }
  std::vector<task<void>> sends;
  sends.reserve(1 + parts.size());
  sends.push_back(send_one(*state, head));
  for (const auto& part : parts)
    sends.push_back(send_one(*state, part));
  co_await when_all(std::move(sends));
}

/// recv_many: the header, then the parts exactly as sent; `received[i]`
/// gets part i's size. On a part too small or a count that differs, the
/// parts are received into scratch memory (the channel stays in step) and
/// message_size names the mismatch.
inline task<void> recv_parts(std::shared_ptr<endpoint_state> state, std::span<const buffer_view<void>> parts,
                             std::span<std::size_t> received) {
  const std::size_t n = parts.size();
  small_vector<std::uint64_t, 1 + inline_parts> header(1 + n);
  const std::size_t header_bytes = header.size() * sizeof(std::uint64_t);
  std::size_t head_bytes = 0;
  bool more_parts = false;
  try {
    head_bytes = co_await ep_recv_op(*state, buffer_view<void>{header.data(), header_bytes, memory_type::host});
  } catch (const std::system_error& e) {
    if (e.code() != std::errc::message_size)
      throw;
    more_parts = true;
  }
  if (more_parts) {
    // More parts were sent than there are buffers: what follows cannot be
    // told from the next message, so the connection cannot stay in step.
    state->abandon_link(make_error_code(errc::malformed_message));
    throw ucx_error(std::make_error_code(std::errc::message_size),
                    "recv_many from " + state->peer() + ": the peer sent more than " + std::to_string(n) +
                        " parts; the endpoint is closed (the rest of that message would be taken for the next)");
  }
  const std::uint64_t* sizes = header.data() + 1;
  const std::size_t count = static_cast<std::size_t>(header.data()[0] & parts_header::count_mask);
  const bool one_message = (header.data()[0] & parts_header::one_message) != 0;
  if (head_bytes != sizeof(std::uint64_t) * (1 + count) || count > n)
    throw ucx_error(make_error_code(errc::malformed_message),
                    "recv_many from " + state->peer() + ": a size header of " + std::to_string(head_bytes) +
                        " bytes does not read");

  std::string mismatch;
  if (count != n)
    mismatch = "the peer sent " + std::to_string(count) + " parts; recv_many has " + std::to_string(n) + " buffers";
  for (std::size_t i = 0; i < count && mismatch.empty(); ++i)
    if (sizes[i] > parts[i].size)
      mismatch = "part " + std::to_string(i) + ": the peer sent " + std::to_string(sizes[i]) +
                 " bytes, the buffer holds " + std::to_string(parts[i].size);

  // Where each part lands: its buffer, or scratch memory when the message
  // is refused (it is still consumed).
  std::vector<std::byte> scratch;
  small_vector<buffer_view<void>, inline_parts> into;
  into.reserve(count);
  if (!mismatch.empty()) {
    std::size_t total = 0;
    for (std::size_t i = 0; i < count; ++i)
      total += sizes[i];
    scratch.resize(total);
    std::size_t offset = 0;
    for (std::size_t i = 0; i < count; ++i) {
      into.push_back(buffer_view<void>{scratch.data() + offset, sizes[i], memory_type::host});
      offset += sizes[i];
    }
  } else {
    for (std::size_t i = 0; i < count; ++i)
      into.push_back(buffer_view<void>{parts[i].data, sizes[i], parts[i].memory});
  }
  const std::span<const buffer_view<void>> targets(into.data(), into.size());

  if (one_message) {
    if (!all_host(targets))
      throw ucx_error(make_error_code(UCS_ERR_UNSUPPORTED),
                      "recv_many from " + state->peer() +
                          ": the peer gathered host memory into one message, and this UCX scatters one "
                          "only into host memory; receive into host buffers (or send device parts)");
    small_vector<ucp_dt_iov_t, inline_parts> iov;
    const std::size_t bytes = gather_iov(targets, std::span(sizes, count), iov);
    (void)co_await recv_scattered(*state, iov, bytes);
  } else {
    std::vector<task<std::size_t>> recvs;
    recvs.reserve(count);
    for (const auto& target : targets)
      recvs.push_back(recv_one(*state, target));
    (void)co_await when_all(std::move(recvs));
  }
  if (!mismatch.empty())
    throw ucx_error(std::make_error_code(std::errc::message_size),
                    "recv_many from " + state->peer() + ": " + mismatch + " (the message was consumed)");
  for (std::size_t i = 0; i < n; ++i)
    received[i] = static_cast<std::size_t>(sizes[i]);
}

} // namespace ucoro::detail
