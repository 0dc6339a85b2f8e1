#pragma once
// send_many and recv_many: several buffers as one message on the endpoint's
// ordered channel. On the wire, a size header, then the parts:
//
//   header  [count | flags << 32, size 0, ..., size count-1]  64-bit words
//   parts   one message gathered by UCX (the IOV datatype) when every part
//           is host memory (flag one_message); otherwise one message per
//           part, posted together and kept in order by the channel
//
// The header lets the receiver check each part against its buffer and put
// it at the start of it (recv_parts): a part too small is message_size
// naming the part, with the message consumed (the endpoint stays in step),
// as recv's message_size. UCX 1.13's IOV carries one
// memory type per message, and this UCX none but host; a device part
// therefore goes as a message of its own.

#include <ucoro/concepts/buffer.hpp>
#include <ucoro/error.hpp>
#include <ucoro/p2p/detail/endpoint_ops.hpp>
#include <ucoro/p2p/detail/endpoint_state.hpp>
#include <ucoro/runtime/detail/small_vector.hpp>
#include <ucoro/runtime/task.hpp>
#include <ucoro/runtime/timer.hpp>
#include <ucoro/runtime/when_all.hpp>

#include <ucp/api/ucp.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <numeric>
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

inline task<void> send_one(endpoint_state& state, buffer_view<const void> view, reserved_seq seq) {
  co_await ep_send_op(state, view, seq);
}
inline task<void> send_gathered(endpoint_state& state, const small_vector<ucp_dt_iov_t, inline_parts>& iov,
                                std::size_t bytes, reserved_seq seq) {
  if (iov.size() == 0)
    co_await ep_send_op(state, buffer_view<const void>{nullptr, 0, memory_type::host}, seq);
  else
    co_await ep_send_op(state, iov.data(), iov.size(), bytes, seq);
}
inline task<std::size_t> recv_one(endpoint_state& state, buffer_view<void> view, reserved_seq seq) {
  co_return co_await ep_recv_op(state, view, seq);
}
inline task<std::size_t> recv_scattered(endpoint_state& state, const small_vector<ucp_dt_iov_t, inline_parts>& iov,
                                        std::size_t bytes, reserved_seq seq) {
  if (iov.size() == 0)
    co_return co_await ep_recv_op(state, buffer_view<void>{nullptr, 0, memory_type::host}, seq);
  co_return co_await ep_recv_op(state, iov.data(), iov.size(), bytes, seq);
}

/// How send_many moves the parts: as one message where it can, or one
/// message each (what a device part needs; tests force it on host memory,
/// where this UCX has no device memory to show it with).
enum class parts_mode : bool { automatic, one_per_part };

// A send_many of n parts takes 1 + n messages of the ordered channel on
// both sides, reserved when the call starts, whichever way the parts go:
// concurrent calls (a window of them) each keep their own, and the
// receiver, who cannot know how the sender moves its parts, knows which
// messages are its. Gathered into one message, the parts leave the last
// n - 1 unsent; the receiver counts them as received (the close protocol
// compares counts).

/// send_many: the header and the parts.
inline task<void> send_parts(std::shared_ptr<endpoint_state> state, std::span<const buffer_view<const void>> parts,
                             parts_mode mode = parts_mode::automatic) {
  if (parts.size() > max_parts)
    throw_invalid_argument("send_many to " + state->peer() + ": " + std::to_string(parts.size()) +
                           " parts; at most " + std::to_string(max_parts));
  const std::uint64_t first = state->tags().reserve_sends(1 + parts.size());
  const bool one_message = mode == parts_mode::automatic && all_host(parts);
  small_vector<std::uint64_t, 1 + inline_parts> header(1 + parts.size());
  header.data()[0] = parts.size() | (one_message ? parts_header::one_message : 0);
  for (std::size_t i = 0; i < parts.size(); ++i)
    header.data()[1 + i] = parts[i].size;
  const buffer_view<const void> head{header.data(), header.size() * sizeof(std::uint64_t), memory_type::host};
  if (parts.empty()) {
    co_await send_one(*state, head, reserved_seq{first});
  } else if (one_message) {
    small_vector<ucp_dt_iov_t, inline_parts> iov;
    const std::size_t bytes = gather_iov(parts, std::span(header.data() + 1, parts.size()), iov);
    co_await when_all(send_one(*state, head, reserved_seq{first}),
                      send_gathered(*state, iov, bytes, reserved_seq{first + 1}));
  } else {
    std::vector<task<void>> sends;
    sends.reserve(1 + parts.size());
    sends.push_back(send_one(*state, head, reserved_seq{first}));
    for (std::size_t i = 0; i < parts.size(); ++i)
      sends.push_back(send_one(*state, parts[i], reserved_seq{first + 1 + i}));
    co_await when_all(std::move(sends));
  }
}

/// Moves each part from where one contiguous scatter put it (right after
/// the previous part, in the buffers taken end to end) to the start of its
/// own buffer. Parts go last to first, each from its end: every part's
/// place is at or after where it landed, so nothing is overwritten before
/// it is moved (memmove's rule, across buffers). Only parts smaller than
/// the buffers before them move at all.
inline void place_parts(std::span<const buffer_view<void>> parts, const std::uint64_t* sizes) noexcept {
  const std::size_t n = parts.size();
  small_vector<std::size_t, inline_parts + 1> start(n + 1); // each buffer's offset end to end
  for (std::size_t i = 0; i < n; ++i)
    start.data()[i + 1] = start.data()[i] + parts[i].size;
  small_vector<std::size_t, inline_parts + 1> landed(n + 1); // where each part landed
  for (std::size_t i = 0; i < n; ++i)
    landed.data()[i + 1] = landed.data()[i] + static_cast<std::size_t>(sizes[i]);
  // The buffer holding end-to-end offset `at`, and the offset in it.
  auto locate = [&](std::size_t at) {
    std::size_t b = 0;
    while (start.data()[b + 1] <= at)
      ++b;
    return std::pair{b, at - start.data()[b]};
  };
  for (std::size_t i = n; i-- > 0;) {
    const std::size_t from = landed.data()[i], to = start.data()[i];
    if (from == to)
      break; // this part and all before it are in place
    for (std::size_t left = static_cast<std::size_t>(sizes[i]); left > 0;) {
      const auto [sb, so] = locate(from + left - 1);
      const auto [db, dof] = locate(to + left - 1);
      const std::size_t chunk = std::min({left, so + 1, dof + 1});
      std::memmove(static_cast<std::byte*>(parts[db].data) + dof + 1 - chunk,
                   static_cast<const std::byte*>(parts[sb].data) + so + 1 - chunk, chunk);
      left -= chunk;
    }
  }
}

/// recv_many: `received[i]` gets part i's size. The header's receive and,
/// for host buffers, the parts' receive (one scatter over the buffers at
/// their full sizes) are posted together when the call starts, so that
/// eager parts land in place instead of in UCX's unexpected queue (posted
/// after the header instead: 4 x 16 KiB parts took 3-5x one 64 KiB send,
/// bench/send_recv --parts 4). The header then says where each part
/// landed, and parts smaller than their buffers are moved into place.
/// A part larger than its buffer is message_size naming it, the message
/// consumed. Another number of parts puts the two sides' messages out of
/// step: the endpoint is closed (malformed_message).
inline task<void> recv_parts(std::shared_ptr<endpoint_state> state, std::span<const buffer_view<void>> parts,
                             std::span<std::size_t> received) {
  const std::size_t n = parts.size();
  const std::uint64_t first = state->tags().reserve_recvs(1 + n);
  small_vector<std::uint64_t, 1 + inline_parts> header(1 + n);
  const std::size_t header_bytes = header.size() * sizeof(std::uint64_t);
  const bool preposted = n > 0 && all_host(parts);
  small_vector<std::uint64_t, inline_parts> capacity(n);
  for (std::size_t i = 0; i < n; ++i)
    capacity.data()[i] = parts[i].size;
  small_vector<ucp_dt_iov_t, inline_parts> iov;
  const std::size_t capacity_bytes = gather_iov(parts, std::span(capacity.data(), n), iov);

  std::size_t head_bytes = 0;
  bool more_parts = false;
  bool count_differs = false;
  result<std::size_t> scattered;
  auto receive_header = [&]() -> task<void> {
    try {
      head_bytes = co_await ep_recv_op(*state, buffer_view<void>{header.data(), header_bytes, memory_type::host},
                                       reserved_seq{first});
    } catch (const std::system_error& e) {
      if (e.code() != std::errc::message_size)
        throw;
      more_parts = true;
    }
    count_differs = more_parts || (header.data()[0] & parts_header::count_mask) != n;
    if (count_differs) // also ends the parts' receive, which may wait for a message that never comes
      state->abandon_link(make_error_code(errc::malformed_message));
  };
  auto receive_scattered = [&]() -> task<void> {
    scattered = co_await as_result(recv_scattered(*state, iov, capacity_bytes, reserved_seq{first + 1}));
  };
  if (preposted)
    co_await when_all(receive_header(), receive_scattered());
  else
    co_await receive_header();

  const std::string from = "recv_many from " + state->peer() + ": ";
  if (count_differs)
    throw ucx_error(std::make_error_code(std::errc::message_size),
                    from + "the peer sent " +
                        (more_parts ? "more than " + std::to_string(n)
                                    : std::to_string(header.data()[0] & parts_header::count_mask)) +
                        " parts; recv_many has " + std::to_string(n) +
                        " buffers, and the endpoint is closed (the two sides' messages are out of step)");
  if (head_bytes != header_bytes)
    throw ucx_error(make_error_code(errc::malformed_message),
                    from + "a size header of " + std::to_string(head_bytes) + " bytes does not read");
  const std::uint64_t* sizes = header.data() + 1;
  const bool one_message = (header.data()[0] & parts_header::one_message) != 0;
  auto too_large = [&](std::size_t i) {
    return ucx_error(std::make_error_code(std::errc::message_size),
                     from + "part " + std::to_string(i) + ": the peer sent " + std::to_string(sizes[i]) +
                         " bytes, the buffer holds " + std::to_string(parts[i].size) + " (the message was consumed)");
  };
  if (n == 0)
    co_return;
  if (one_message) {
    if (!preposted) {
      // Device buffers here, host parts gathered there: UCX 1.13 scatters
      // one message into one memory type. Consumed, then refused.
      std::vector<std::byte> scratch(std::accumulate(sizes, sizes + n, std::size_t{0}));
      (void)co_await ep_recv_op(*state, buffer_view<void>{scratch.data(), scratch.size(), memory_type::host},
                                reserved_seq{first + 1});
      throw ucx_error(make_error_code(UCS_ERR_UNSUPPORTED),
                      from + "the peer gathered host memory into one message, and this UCX scatters one only into "
                             "host memory; receive into host buffers (or send device parts)");
    }
    for (std::size_t i = 1; i < n; ++i)
      state->on_recv_completed(); // the messages the gathered parts left unsent (see above)
    for (std::size_t i = 0; i < n; ++i)
      if (sizes[i] > parts[i].size)
        throw too_large(i); // truncated by UCX, or landed past its buffer: either way consumed
    if (scattered.error)
      throw ucx_error(scattered.error, from + "the parts");
    place_parts(parts, sizes);
  } else {
    // One message per part (the sender had device parts). Part 0 is in the
    // scatter already, if one was posted: at the start of buffer 0.
    std::vector<task<result<std::size_t>>> recvs;
    recvs.reserve(n);
    for (std::size_t i = preposted ? 1 : 0; i < n; ++i)
      recvs.push_back(as_result(recv_one(*state, parts[i], reserved_seq{first + 1 + i})));
    const std::vector<result<std::size_t>> got = co_await when_all(std::move(recvs));
    for (std::size_t i = 0; i < n; ++i)
      if (sizes[i] > parts[i].size)
        throw too_large(i);
    if (preposted && scattered.error)
      throw ucx_error(scattered.error, from + "part 0");
    for (std::size_t k = 0; k < got.size(); ++k)
      if (got[k].error)
        throw ucx_error(got[k].error, from + "part " + std::to_string(k + (preposted ? 1 : 0)));
  }
  for (std::size_t i = 0; i < n; ++i)
    received[i] = static_cast<std::size_t>(sizes[i]);
}

} // namespace ucoro::detail
