#pragma once
// send_many and recv_many: several buffers as one message on the endpoint's
// ordered channel. A call of n parts takes n + 1 places in the channel's
// order, reserved when it is called on each side, so calls overlap like
// send and recv. On the wire, a size header [count | flags << 32, size 0,
// ..., size count-1] (64-bit words), and the parts in one of two forms:
//
//   one message  the header and the parts gathered by UCX (the IOV
//                datatype) into the first place, the other n left unsent:
//                when every part is host memory and the whole goes eager
//   split        the header alone, then each part a contiguous message of
//                its own: otherwise
//
// Why split above the eager size: UCX 1.13 takes its rendezvous zero-copy
// get (a CMA read, an RDMA read) only for contiguous data (ucp/rndv/rndv.c:
// the sender packs a remote key only for a contiguous send, the receiver
// gets only into a contiguous buffer); an IOV rendezvous moves through
// active-message fragments, two copies (docs/perf/send_many.txt: 4 x 16 KiB
// parts took 3-4x one 64 KiB send that way).
//
// The receiver cannot know the form in advance, so it posts one scatter
// over [header slot | its buffers at their full sizes | a sink] in the first
// place: the one-message form lands whole (no unexpected-queue copy), the
// split form's header lands in the slot. The header then says where each
// part landed (parts smaller than their buffers are moved into place) or
// which contiguous receives to post. A part larger than its buffer is
// message_size naming it, with the message consumed (the endpoint stays in
// step), as recv's message_size; another number of parts closes the
// endpoint (the two sides' places are out of step). UCX 1.13's IOV carries
// one memory type, and this UCX host only: device parts go split.

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

inline task<void> send_one(endpoint_state& state, buffer_view<const void> view, reserved_seq seq) {
  co_await ep_send_op(state, view, seq);
}
inline task<result<std::size_t>> recv_one(endpoint_state& state, buffer_view<void> view, reserved_seq seq) {
  co_return co_await as_result(ep_recv_op(state, view, seq));
}

/// How send_many moves the parts: as automatic decides (above), or split
/// whatever they are (tests: this UCX has no device memory to show it with).
enum class parts_mode : bool { automatic, split };

/// Where a scatter's overflow goes: past the receiver's buffers, so that a
/// one-message form larger than them (a part too large, more parts) is
/// received whole instead of truncated unread, and the header still names
/// what did not fit. Never read; the thread's own (the worker's thread
/// completes every receive into it).
inline constexpr std::size_t overflow_sink_bytes = 64 * 1024;
[[nodiscard]] inline std::byte* overflow_sink() noexcept {
  static thread_local std::byte sink[overflow_sink_bytes];
  return sink;
}

/// send_many: the header and the parts, in one of the two forms.
inline task<void> send_parts(std::shared_ptr<endpoint_state> state, std::span<const buffer_view<const void>> parts,
                             parts_mode mode = parts_mode::automatic) {
  if (parts.size() > max_parts)
    throw_invalid_argument("send_many to " + state->peer() + ": " + std::to_string(parts.size()) +
                           " parts; at most " + std::to_string(max_parts));
  const std::size_t n = parts.size();
  const std::uint64_t first = state->tags().reserve_sends(1 + n);
  small_vector<std::uint64_t, 1 + inline_parts> header(1 + n);
  std::size_t bytes = header.size() * sizeof(std::uint64_t);
  for (std::size_t i = 0; i < n; ++i) {
    header.data()[1 + i] = parts[i].size;
    bytes += parts[i].size;
  }
  const std::size_t eager_below = state->rendezvous_from() != 0 ? state->rendezvous_from() : 8192;
  const bool one_message = mode == parts_mode::automatic && all_host(parts) && bytes < eager_below;
  header.data()[0] = n | (one_message ? parts_header::one_message : 0);
  const buffer_view<const void> head{header.data(), header.size() * sizeof(std::uint64_t), memory_type::host};
  if (one_message) {
    small_vector<ucp_dt_iov_t, 1 + inline_parts> iov;
    iov.reserve(1 + n);
    iov.push_back(ucp_dt_iov_t{header.data(), head.size});
    for (const auto& part : parts)
      if (part.size != 0)
        iov.push_back(ucp_dt_iov_t{const_cast<void*>(part.data), part.size});
    co_await ep_send_op(*state, iov.data(), iov.size(), bytes, reserved_seq{first});
    co_return;
  }
  std::vector<task<void>> sends;
  sends.reserve(1 + n);
  sends.push_back(send_one(*state, head, reserved_seq{first}));
  for (std::size_t i = 0; i < n; ++i)
    sends.push_back(send_one(*state, parts[i], reserved_seq{first + 1 + i}));
  co_await when_all(std::move(sends)); // all posted before the first suspension
}

/// Moves each part from where one contiguous scatter put it (right after
/// the previous part, in the buffers taken end to end) to the start of its
/// own buffer. Parts go last to first, each from its end: every part's
/// place is at or after where it landed, so nothing is overwritten before
/// it is moved (memmove's rule, across buffers). Only parts after one
/// smaller than its buffer move at all.
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
      continue;
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

/// recv_many: `received[i]` gets part i's size.
inline task<void> recv_parts(std::shared_ptr<endpoint_state> state, std::span<const buffer_view<void>> parts,
                             std::span<std::size_t> received) {
  const std::size_t n = parts.size();
  const std::uint64_t first = state->tags().reserve_recvs(1 + n);
  small_vector<std::uint64_t, 1 + inline_parts> header(1 + n);
  const std::size_t header_bytes = header.size() * sizeof(std::uint64_t);
  // The first place: [header slot | host buffers at their full sizes | sink].
  // Device buffers are left out: only a split message can fill them.
  const bool host = all_host(parts);
  small_vector<ucp_dt_iov_t, 2 + inline_parts> iov;
  iov.reserve(2 + n);
  iov.push_back(ucp_dt_iov_t{header.data(), header_bytes});
  std::size_t capacity = header_bytes + overflow_sink_bytes;
  for (const auto& part : parts)
    if (host && part.size != 0) {
      iov.push_back(ucp_dt_iov_t{part.data, part.size});
      capacity += part.size;
    }
  iov.push_back(ucp_dt_iov_t{overflow_sink(), overflow_sink_bytes});
  std::size_t landed = 0;
  bool truncated = false;
  try {
    landed = co_await ep_recv_op(*state, iov.data(), iov.size(), capacity, reserved_seq{first});
  } catch (const std::system_error& e) {
    if (e.code() != std::errc::message_size)
      throw;
    truncated = true; // larger than the buffers and the sink: unread, so what follows is unknown
  }
  if (truncated) {
    state->abandon_link(make_error_code(errc::malformed_message));
    throw ucx_error(std::make_error_code(std::errc::message_size),
                    "recv_many from " + state->peer() + ": the message is larger than the " + std::to_string(n) +
                        " buffers and a " + std::to_string(overflow_sink_bytes) +
                        "-byte overflow; the endpoint is closed (what follows cannot be told)");
  }

  const std::string from = "recv_many from " + state->peer() + ": ";
  const std::size_t count = static_cast<std::size_t>(header.data()[0] & parts_header::count_mask);
  if (landed < sizeof(std::uint64_t))
    throw ucx_error(make_error_code(errc::malformed_message),
                    from + "a message of " + std::to_string(landed) + " bytes is no size header");
  if (count != n) {
    state->abandon_link(make_error_code(errc::malformed_message));
    throw ucx_error(std::make_error_code(std::errc::message_size),
                    from + "the peer sent " + std::to_string(count) + " parts; recv_many has " + std::to_string(n) +
                        " buffers, and the endpoint is closed (the two sides' messages are out of step)");
  }
  const std::uint64_t* sizes = header.data() + 1;
  const bool one_message = (header.data()[0] & parts_header::one_message) != 0;
  std::size_t total = header_bytes;
  for (std::size_t i = 0; i < n; ++i)
    total += static_cast<std::size_t>(sizes[i]);
  if ((one_message && landed != total) || (!one_message && landed != header_bytes))
    throw ucx_error(make_error_code(errc::malformed_message),
                    from + "a message of " + std::to_string(landed) + " bytes does not match its size header");
  auto too_large = [&](std::size_t i) {
    return ucx_error(std::make_error_code(std::errc::message_size),
                     from + "part " + std::to_string(i) + ": the peer sent " + std::to_string(sizes[i]) +
                         " bytes, the buffer holds " + std::to_string(parts[i].size) + " (the message was consumed)");
  };
  if (one_message) {
    for (std::size_t i = 0; i < n; ++i)
      state->on_recv_completed(); // the places the one message left unsent (see above)
    if (!host)
      throw ucx_error(make_error_code(UCS_ERR_UNSUPPORTED),
                      from + "the peer gathered host memory into one message, and this UCX scatters one only into "
                             "host memory; receive into host buffers (the message was consumed)");
    for (std::size_t i = 0; i < n; ++i)
      if (sizes[i] > parts[i].size)
        throw too_large(i); // landed past its buffer: consumed, refused
    place_parts(parts, sizes);
  } else if (n > 0) {
    // Split: each part into its own buffer, contiguous (a rendezvous reads
    // straight into it); one too large is truncated by UCX, consumed.
    std::vector<task<result<std::size_t>>> recvs;
    recvs.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
      recvs.push_back(recv_one(*state, parts[i], reserved_seq{first + 1 + i}));
    const std::vector<result<std::size_t>> got = co_await when_all(std::move(recvs));
    for (std::size_t i = 0; i < n; ++i)
      if (sizes[i] > parts[i].size)
        throw too_large(i);
    for (std::size_t i = 0; i < n; ++i)
      if (got[i].error)
        throw ucx_error(got[i].error, from + "part " + std::to_string(i));
  }
  for (std::size_t i = 0; i < n; ++i)
    received[i] = static_cast<std::size_t>(sizes[i]);
}

} // namespace ucoro::detail
