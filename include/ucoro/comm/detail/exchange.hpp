#pragma once
// The all-to-all algorithms, on one exchange plan (per peer: what goes and
// where it lands), over a communicator's collective operations. Each
// operation's error is recorded, not thrown, so that a failure never
// cancels the operations with live ranks (which would strand their
// senders); all_to_all.hpp throws the first error once the exchange ends.

#include <ucoro/comm/communicator.hpp>
#include <ucoro/comm/detail/comm_batch.hpp>
#include <ucoro/runtime/detail/small_vector.hpp>
#include <ucoro/memory/pool.hpp>
#include <ucoro/runtime/when_all.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace ucoro::detail {

/// One exchange, whatever the call: per peer, what goes and where it lands.
struct exchange_plan {
  struct part {
    const std::byte* send = nullptr;
    std::size_t send_size = 0;
    std::byte* recv = nullptr;
    std::size_t recv_size = 0; ///< what arrives (the sender's count), or the capacity when unknown
    std::size_t received = 0;  ///< filled in
  };
  explicit exchange_plan(std::size_t ranks) : parts(ranks) {}
  small_vector<part, 8> parts; ///< indexed by peer rank
  ucs_memory_type_t send_memory = UCS_MEMORY_TYPE_HOST;
  ucs_memory_type_t recv_memory = UCS_MEMORY_TYPE_HOST;
  bool exact = true; ///< a part must arrive with exactly recv_size bytes
};

/// The first error of an exchange; a peer's failure wins over what it caused.
struct exchange_errors {
  std::error_code error;
  std::string text;
  void record(std::error_code e, std::string what) {
    if (!e || (error && !(e == errc::peer_failed && error != errc::peer_failed)))
      return;
    error = e;
    text = std::move(what);
  }
};

[[nodiscard]] inline bool host(ucs_memory_type_t m) noexcept { return m == UCS_MEMORY_TYPE_HOST; }

/// memcpy that accepts the null data() of an empty part.
inline void copy_bytes(std::byte* to, const std::byte* from, std::size_t n) noexcept {
  if (n > 0)
    std::memcpy(to, from, n);
}

inline void record_send(exchange_errors& errors, std::uint32_t dst, std::size_t size, std::error_code e) {
  if (e)
    errors.record(e, "send of " + std::to_string(size) + " bytes to rank " + std::to_string(dst) + ": " +
                         (e == errc::peer_failed ? "rank " + std::to_string(dst) + " failed" : e.message()));
}

inline void record_recv(exchange_errors& errors, std::uint32_t src, exchange_plan::part& part, bool exact,
                        const result<std::size_t>& r) {
  part.received = r.error ? 0 : r.value;
  std::error_code e = r.error;
  if (!e && exact && r.value != part.recv_size)
    e = std::make_error_code(std::errc::message_size);
  if (e)
    errors.record(e, "receive of " + std::to_string(part.recv_size) + " bytes from rank " + std::to_string(src) + ": " +
                         (e == errc::peer_failed ? "rank " + std::to_string(src) + " failed"
                          : e == std::errc::message_size && !r.error
                              ? "it sent " + std::to_string(r.value)
                              : e.message()));
}

inline task<void> send_part(communicator& comm, std::uint32_t dst, const void* data, std::size_t size,
                            ucs_memory_type_t memory, std::uint32_t round, exchange_errors& errors) {
  const result<void> r = co_await comm.collective_send_op(dst, data, size, memory, round).nothrow();
  record_send(errors, dst, size, r.error);
}

inline task<void> recv_part(communicator& comm, std::uint32_t src, exchange_plan::part& part, ucs_memory_type_t memory,
                            bool exact, std::uint32_t round, exchange_errors& errors) {
  const result<std::size_t> r =
      co_await comm.collective_recv_op(src, part.recv, part.recv_size, memory, round).nothrow();
  record_recv(errors, src, part, exact, r);
}

/// Parts moved together as one comm_batch (no coroutine per message);
/// `co_await batch` posts them all and records each outcome. Reusable
/// after clear().
class exchange_batch {
public:
  exchange_batch(communicator& comm, std::uint32_t round, ucs_memory_type_t send_memory,
                 ucs_memory_type_t recv_memory, bool exact, exchange_errors& errors, std::size_t peers)
      : m_comm(&comm), m_errors(&errors), m_round(round), m_send_memory(send_memory), m_recv_memory(recv_memory),
        m_exact(exact) {
    m_ops.reserve(peers, peers);
    m_recv_parts.reserve(peers);
    m_sends.reserve(peers);
  }
  void recv(std::uint32_t src, exchange_plan::part& part) {
    m_ops.add(m_comm->collective_recv_op(src, part.recv, part.recv_size, m_recv_memory, m_round));
    m_recv_parts.emplace_back(src, &part);
  }
  void send(std::uint32_t dst, const std::byte* data, std::size_t size) {
    m_ops.add(m_comm->collective_send_op(dst, data, size, m_send_memory, m_round));
    m_sends.emplace_back(dst, size);
  }
  void clear() noexcept {
    m_ops.clear();
    m_recv_parts.clear();
    m_sends.clear();
  }

  [[nodiscard]] auto operator co_await() & noexcept { return awaiter{this, m_ops.operator co_await()}; }

private:
  struct awaiter {
    exchange_batch* self;
    comm_batch::awaiter inner;
    [[nodiscard]] bool await_ready() const noexcept { return inner.await_ready(); }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
      return inner.await_suspend(h);
    }
    void await_resume() const { self->record(); }
  };

  void record() {
    const auto recvs = m_ops.recvs();
    for (std::size_t i = 0; i < recvs.size(); ++i)
      record_recv(*m_errors, m_recv_parts[i].first, *m_recv_parts[i].second, m_exact, recvs[i].outcome());
    const auto sends = m_ops.sends();
    for (std::size_t i = 0; i < sends.size(); ++i)
      record_send(*m_errors, m_sends[i].first, m_sends[i].second, sends[i].outcome().error);
  }

  comm_batch m_ops;
  communicator* m_comm;
  exchange_errors* m_errors;
  small_vector<std::pair<std::uint32_t, exchange_plan::part*>, 4> m_recv_parts;
  small_vector<std::pair<std::uint32_t, std::size_t>, 4> m_sends;
  std::uint32_t m_round;
  ucs_memory_type_t m_send_memory, m_recv_memory;
  bool m_exact;
};

/// One's own part: a copy (host), or a message to oneself (device memory)
/// added to `batch`.
inline void self_part(communicator& comm, exchange_plan& plan, exchange_batch& batch, exchange_errors& errors) {
  const std::uint32_t me = comm.rank();
  auto& part = plan.parts[me];
  if (!host(plan.send_memory) || !host(plan.recv_memory)) {
    batch.recv(me, part);
    batch.send(me, part.send, part.send_size);
    return;
  }
  if (part.send_size > part.recv_size || (plan.exact && part.send_size != part.recv_size)) {
    errors.record(std::make_error_code(std::errc::message_size),
                  "own part: " + std::to_string(part.send_size) + " bytes into " + std::to_string(part.recv_size));
    return;
  }
  copy_bytes(part.recv, part.send, part.send_size);
  part.received = part.send_size;
}

/// Everything in flight at once: fills `batch`, which the caller awaits
/// (no coroutine of its own: at 64 B blocks a frame is a tenth of the call).
inline void fill_direct(communicator& comm, exchange_plan& plan, exchange_batch& batch, exchange_errors& errors) {
  const std::uint32_t me = comm.rank(), n = comm.size();
  for (std::uint32_t s = 1; s < n; ++s) {
    const std::uint32_t src = (me + n - s) % n;
    batch.recv(src, plan.parts[src]);
  }
  for (std::uint32_t s = 1; s < n; ++s) {
    const std::uint32_t dst = (me + s) % n;
    batch.send(dst, plan.parts[dst].send, plan.parts[dst].send_size);
  }
  self_part(comm, plan, batch, errors);
}

inline task<void> run_pairwise(communicator& comm, exchange_plan& plan, std::uint32_t round, std::uint32_t in_flight,
                               exchange_errors& errors) {
  const std::uint32_t me = comm.rank(), n = comm.size();
  const std::uint32_t window = std::max<std::uint32_t>(1, in_flight);
  exchange_batch batch{comm, round, plan.send_memory, plan.recv_memory, plan.exact, errors, std::min(n, window) + 1};
  self_part(comm, plan, batch, errors);
  co_await batch;
  for (std::uint32_t first = 1; first < n; first += window) {
    batch.clear();
    for (std::uint32_t s = first; s < std::min(n, first + window); ++s) {
      const std::uint32_t dst = (me + s) % n, src = (me + n - s) % n;
      batch.recv(src, plan.parts[src]);
      batch.send(dst, plan.parts[dst].send, plan.parts[dst].send_size);
    }
    co_await batch;
  }
}

/// Equal blocks of `block` bytes, host memory: Bruck's log2(P) rounds. Round
/// k sends rank+k every block whose index has bit k, packed, and receives
/// the same from rank-k; a rank whose source failed forwards what it has,
/// so the survivors' rounds still meet.
inline task<void> run_bruck(communicator& comm, const std::byte* send, std::byte* recv, std::size_t block,
                            std::uint32_t round, exchange_errors& errors) {
  const std::uint32_t me = comm.rank(), n = comm.size();
  std::vector<std::byte> work(std::size_t{n} * block), pack, unpack;
  for (std::uint32_t i = 0; i < n; ++i) // block i is for rank me + i
    copy_bytes(work.data() + std::size_t{i} * block, send + std::size_t{(me + i) % n} * block, block);
  exchange_batch batch{comm, round, UCS_MEMORY_TYPE_HOST, UCS_MEMORY_TYPE_HOST, true, errors, 1};
  std::vector<std::uint32_t> moved;
  for (std::uint32_t k = 1; k < n; k <<= 1) {
    moved.clear();
    for (std::uint32_t i = 0; i < n; ++i)
      if ((i & k) != 0)
        moved.push_back(i);
    pack.resize(moved.size() * block);
    unpack.resize(moved.size() * block);
    for (std::size_t j = 0; j < moved.size(); ++j)
      copy_bytes(pack.data() + j * block, work.data() + std::size_t{moved[j]} * block, block);
    exchange_plan::part in{nullptr, 0, unpack.data(), unpack.size(), 0};
    batch.clear();
    batch.recv((me + n - k) % n, in);
    batch.send((me + k) % n, pack.data(), pack.size());
    co_await batch;
    if (in.received == unpack.size())
      for (std::size_t j = 0; j < moved.size(); ++j)
        copy_bytes(work.data() + std::size_t{moved[j]} * block, unpack.data() + j * block, block);
  }
  for (std::uint32_t i = 0; i < n; ++i) // work[i] came from rank me - i
    copy_bytes(recv + std::size_t{(me + n - i) % n} * block, work.data() + std::size_t{i} * block, block);
}

/// Staged through the pool, one slab per message, in pairwise order.
inline task<void> send_staged(communicator& comm, slab_pool& pool, std::uint32_t dst, const std::byte* data,
                              std::size_t size, std::uint32_t round, exchange_errors& errors) {
  for (std::size_t offset = 0; offset < size && !comm.failed(dst);) {
    slab_pool::slab slab = co_await pool.acquire();
    const std::size_t n = std::min(slab.size(), size - offset);
    std::memcpy(slab.data(), data + offset, n);
    co_await send_part(comm, dst, slab.data(), n, UCS_MEMORY_TYPE_HOST, round, errors);
    offset += n;
  }
}

inline task<void> recv_staged(communicator& comm, slab_pool& pool, std::uint32_t src, exchange_plan::part& part,
                              std::size_t incoming, std::uint32_t round, exchange_errors& errors) {
  std::size_t offset = 0;
  while (offset < incoming && !comm.failed(src)) {
    slab_pool::slab slab = co_await pool.acquire();
    exchange_plan::part chunk{nullptr, 0, slab.data(), std::min(slab.size(), incoming - offset), 0};
    co_await recv_part(comm, src, chunk, UCS_MEMORY_TYPE_HOST, true, round, errors);
    if (chunk.received != chunk.recv_size)
      break;
    // What does not fit is consumed and dropped (message_size, below).
    if (offset < part.recv_size)
      std::memcpy(part.recv + offset, slab.data(), std::min(chunk.received, part.recv_size - offset));
    offset += chunk.received;
  }
  part.received = std::min(offset, part.recv_size);
  if (offset == incoming && incoming > part.recv_size)
    errors.record(std::make_error_code(std::errc::message_size),
                  "rank " + std::to_string(src) + " sent " + std::to_string(incoming) + " bytes into " +
                      std::to_string(part.recv_size));
}

/// `incoming[r]`: what rank r sends this rank (known to both sides; empty:
/// each part's recv_size).
inline task<void> run_buffered(communicator& comm, exchange_plan& plan, std::span<const std::size_t> incoming,
                               slab_pool& pool, std::size_t zero_copy_above, std::uint32_t round,
                               exchange_errors& errors) {
  const std::uint32_t me = comm.rank(), n = comm.size();
  {
    exchange_batch own{comm, round, plan.send_memory, plan.recv_memory, plan.exact, errors, 1};
    self_part(comm, plan, own, errors);
    co_await own;
  }
  // Each step in flight holds at most one slab to send and one to receive.
  const std::uint32_t window = static_cast<std::uint32_t>(std::max<std::size_t>(1, pool.capacity() / 2));
  for (std::uint32_t first = 1; first < n; first += window) {
    std::vector<task<void>> ops;
    for (std::uint32_t s = first; s < std::min(n, first + window); ++s) {
      const std::uint32_t dst = (me + s) % n, src = (me + n - s) % n;
      auto& out = plan.parts[dst];
      auto& in = plan.parts[src];
      // Both sides decide by the size that travels, so they agree.
      if (out.send_size > zero_copy_above)
        ops.push_back(send_part(comm, dst, out.send, out.send_size, plan.send_memory, round, errors));
      else
        ops.push_back(send_staged(comm, pool, dst, out.send, out.send_size, round, errors));
      const std::size_t arriving = incoming.empty() ? in.recv_size : incoming[src];
      if (arriving > zero_copy_above)
        ops.push_back(recv_part(comm, src, in, plan.recv_memory, plan.exact, round, errors));
      else
        ops.push_back(recv_staged(comm, pool, src, in, arriving, round, errors));
    }
    co_await when_all(std::move(ops));
  }
}

} // namespace ucoro::detail
