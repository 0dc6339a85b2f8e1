#pragma once
// All-to-all(v) over a communicator, as templates on any buffers the
// point-to-point layer takes (host, device):
//
//   co_await ucoro::all_to_all(comm, send, recv);               // size() == comm.size() * block
//   auto got = co_await ucoro::all_to_allv(comm, parts);        // parts[r] goes to rank r
//   co_await ucoro::all_to_allv(comm, parts, recv_parts, opts); // into given ranges
//
// Algorithms (all_to_all_options::algorithm):
//   direct    every send and receive posted at once;
//   pairwise  step s sends to rank+s and receives from rank-s, a bounded
//             number of steps in flight (UCC's default for large blocks);
//   bruck     log2(P) rounds of packed blocks, for tiny blocks and many ranks;
//   buffered  staged through a registered slab_pool in batches of one slab
//             (the completion of batch i posts batch i+1, so the pool bounds
//             memory whatever the data size), zero-copy above a size;
//   automatic picks by block size, rank count and memory, and says what it
//             picked in all_to_all_options::report. It does not pick
//             buffered: bench/all_to_all measured staging slower than
//             zero-copy here even from std::vector (2 ranks, 1 MiB: 2.7 vs
//             4.8 GB/s), so staging is for when memory must stay bounded.
//
// A rank that fails mid-exchange does not strand the others: operations with
// it fail at once (peer_failed), the survivors finish what they exchange
// among themselves (so no receive stays posted and no send waits for a
// receive that was cancelled), and then every survivor's call throws
// peer_failed naming the rank. A survivor already in the next exchange
// when another leaves this one waits for it (docs/all_to_all.md,
// "Failures": no revocation yet), so bound collectives with with_timeout.

#include <ucoro/comm/all_to_all_options.hpp>
#include <ucoro/comm/communicator.hpp>
#include <ucoro/comm/detail/exchange.hpp>
#include <ucoro/memory/pool.hpp>

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace ucoro {

namespace detail {

/// One slab per peer, and at least two: a step holds one to send and one
/// to receive, and a rendezvous send completes only once the peer receives.
[[nodiscard]] constexpr std::size_t min_pool_slabs(std::uint32_t ranks) noexcept {
  return std::max<std::size_t>(2, ranks > 0 ? ranks - 1 : 0);
}

/// What automatic runs, and why.
[[nodiscard]] inline all_to_all_report choose(const all_to_all_options& o, std::uint32_t ranks, std::size_t block,
                                              bool host_memory, bool equal_blocks, const char* what) {
  all_to_all_report r{o.algorithm, block, ranks, "requested"};
  if (o.algorithm != all_to_all_algorithm::automatic) {
    if ((o.algorithm == all_to_all_algorithm::bruck || o.algorithm == all_to_all_algorithm::buffered) && !host_memory)
      throw_invalid_argument(std::string(what) + ": " + to_string(o.algorithm) +
                             " packs or stages in host memory; device buffers take direct or pairwise");
    if (o.algorithm == all_to_all_algorithm::bruck && !equal_blocks) {
      r.algorithm = all_to_all_algorithm::pairwise;
      r.reason = "bruck needs equal blocks: pairwise instead";
    }
    return r;
  }
  if (ranks <= 1) {
    r.algorithm = all_to_all_algorithm::direct;
    r.reason = "one rank: a copy";
  } else if (equal_blocks && host_memory && block <= o.bruck_max_block && ranks >= 8) {
    r.algorithm = all_to_all_algorithm::bruck;
    r.reason = "tiny blocks, many ranks: log2(P) rounds";
  } else if (ranks <= 4 || block <= 64 * 1024) {
    r.algorithm = all_to_all_algorithm::direct;
    r.reason = ranks <= 4 ? "few ranks: everything in flight" : "small blocks: everything in flight";
  } else {
    r.algorithm = all_to_all_algorithm::pairwise;
    r.reason = "large blocks, many ranks: a bounded number of steps in flight";
  }
  return r;
}

inline void throw_if_failed(const exchange_errors& errors, const char* what, const all_to_all_report& chosen,
                            std::uint32_t rank) {
  if (errors.error)
    throw ucx_error(errors.error, std::string(what) + " (" + to_string(chosen.algorithm) + ") on rank " +
                                      std::to_string(rank) + ": " + errors.text);
}

/// Runs `plan` with the chosen algorithm; throws the exchange's error.
/// `incoming[r]`: what rank r sends (empty: each part's recv_size).
/// `round`: from comm.begin_collective(), taken when the call starts (so
/// collectives started in the same order on every rank match, even when
/// they run concurrently and finish in different orders).
inline task<void> run_plan(communicator& comm, std::uint32_t round, exchange_plan& plan,
                           std::span<const std::size_t> incoming,
                           all_to_all_report chosen, const all_to_all_options& o, std::size_t equal_block,
                           const char* what) {
  exchange_errors errors;
  switch (chosen.algorithm) {
  case all_to_all_algorithm::bruck:
    co_await run_bruck(comm, plan.parts[0].send, plan.parts[0].recv, equal_block, round, errors);
    break;
  case all_to_all_algorithm::buffered:
    co_await run_buffered(comm, plan, incoming, *o.pool, o.zero_copy_above, round, errors);
    break;
  case all_to_all_algorithm::pairwise:
    co_await run_pairwise(comm, plan, round, o.steps_in_flight, errors);
    break;
  default: {
    exchange_batch batch{comm, round, plan.send_memory, plan.recv_memory, plan.exact, errors, comm.size()};
    fill_direct(comm, plan, batch, errors);
    co_await batch;
    break;
  }
  }
  throw_if_failed(errors, what, chosen, comm.rank());
}

inline void check_pool(const all_to_all_options& o, std::uint32_t ranks, const char* what) {
  if (o.algorithm != all_to_all_algorithm::buffered)
    return;
  if (o.pool == nullptr)
    throw_invalid_argument(std::string(what) + ": buffered needs all_to_all_options::pool");
  if (o.pool->capacity() < min_pool_slabs(ranks))
    throw_invalid_argument(std::string(what) + ": a pool of " + std::to_string(o.pool->capacity()) + " slabs for " +
                           std::to_string(ranks - 1) + " peers: it needs at least " +
                           std::to_string(min_pool_slabs(ranks)) +
                           " (one per peer, and never fewer than two: one to send while one receives)");
}

/// The element type of a buffer: its value_type (std::vector, std::span,
/// thrust and RMM vectors), else bytes.
template <class B>
struct element_type {
  using type = std::byte;
};
template <class B>
  requires requires { typename std::remove_cvref_t<B>::value_type; }
struct element_type<B> {
  using type = std::remove_cv_t<typename std::remove_cvref_t<B>::value_type>;
};
template <class B>
using element_of = typename element_type<B>::type;

} // namespace detail

namespace detail {

/// What `co_await all_to_all(...)` awaits. The direct exchange is posted
/// from here, in the awaiting coroutine's frame, with no coroutine of its
/// own: at 64 B blocks the two frames of a task-based call (the call's and
/// the plan's) were ~0.3 us of a ~1.1 us call. Other algorithms run as a
/// task. Input is checked when awaited, so a bad call fails at its
/// co_await, as a task's would.
class all_to_all_awaiter {
public:
  all_to_all_awaiter(communicator& comm, buffer_view<const void> send, buffer_view<void> recv, std::size_t element,
                     const all_to_all_options& options) noexcept
      : m_comm(&comm), m_send(send), m_recv(recv), m_element(element), m_options(options) {}
  /// Before it is awaited (with_timeout, when_all take it by value).
  all_to_all_awaiter(all_to_all_awaiter&& other) noexcept
      : m_comm(other.m_comm), m_send(other.m_send), m_recv(other.m_recv), m_element(other.m_element),
        m_options(other.m_options) {}
  all_to_all_awaiter& operator=(all_to_all_awaiter&&) = delete;

  [[nodiscard]] bool await_ready() const noexcept { return false; }

  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiting) {
    const std::uint32_t n = m_comm->size();
    const std::size_t count = m_send.size / m_element, recv_count = m_recv.size / m_element;
    if (count != recv_count || count % n != 0)
      throw_invalid_argument("all_to_all: send has " + std::to_string(count) + " elements and recv " +
                             std::to_string(recv_count) + "; both must be comm.size() (" + std::to_string(n) +
                             ") times the block");
    check_pool(m_options, n, "all_to_all");
    const std::size_t block = count / n * m_element;
    const bool host = m_send.memory == memory_type::host && m_recv.memory == memory_type::host;
    m_chosen = choose(m_options, n, block, host, true, "all_to_all");
    if (m_options.report != nullptr)
      *m_options.report = m_chosen;
    exchange_plan& plan = m_plan.emplace(n);
    plan.send_memory = to_ucs(m_send.memory);
    plan.recv_memory = to_ucs(m_recv.memory);
    for (std::uint32_t r = 0; r < n; ++r)
      plan.parts[r] = {static_cast<const std::byte*>(m_send.data) + r * block, block,
                       static_cast<std::byte*>(m_recv.data) + r * block, block, 0};
    const std::uint32_t round = m_comm->begin_collective();
    if (m_chosen.algorithm != all_to_all_algorithm::direct) {
      task<void>& planned = (m_task = run_plan(*m_comm, round, plan, {}, m_chosen, m_options, block, "all_to_all"));
      return planned.operator co_await().await_suspend(awaiting);
    }
    exchange_batch& batch =
        m_batch.emplace(*m_comm, round, plan.send_memory, plan.recv_memory, plan.exact, m_errors, n);
    fill_direct(*m_comm, plan, batch, m_errors);
    auto posting = batch.operator co_await();
    return !posting.await_ready() && posting.await_suspend(awaiting);
  }

  void await_resume() {
    if (m_task.valid()) {
      m_task.operator co_await().await_resume();
      return;
    }
    m_batch->operator co_await().await_resume(); // records each outcome
    throw_if_failed(m_errors, "all_to_all", m_chosen, m_comm->rank());
  }

private:
  communicator* m_comm;
  buffer_view<const void> m_send;
  buffer_view<void> m_recv;
  std::size_t m_element;
  all_to_all_options m_options;
  all_to_all_report m_chosen;
  exchange_errors m_errors;
  std::optional<exchange_plan> m_plan;
  std::optional<exchange_batch> m_batch; // direct: its ops never move once posted
  task<void> m_task;                     // the other algorithms
};

} // namespace detail

/// Equal blocks: `send` and `recv` (any buffers: std::vector, std::span,
/// host_memory, thrust or RMM device vectors) hold comm.size() blocks of
/// their element type T each; block r of `send` goes to rank r, block r of
/// `recv` comes from rank r. Both must outlive the co_await.
template <class S, class R>
  requires buffer<const S&> && writable_buffer<R&> && std::is_trivially_copyable_v<detail::element_of<S>> &&
           std::same_as<detail::element_of<S>, detail::element_of<R>>
[[nodiscard]] detail::all_to_all_awaiter all_to_all(communicator& comm, const S& send, R&& recv,
                                                    all_to_all_options options = {}) {
  return {comm, view_of(send), writable_view_of(recv), sizeof(detail::element_of<S>), options};
}

namespace detail {

/// Exchanges the part sizes (bytes): what every rank will send this one.
inline task<std::vector<std::size_t>> exchange_sizes(communicator& comm, std::uint32_t round,
                                                     const std::vector<std::uint64_t>& outgoing) {
  std::vector<std::uint64_t> incoming(comm.size());
  exchange_plan plan{comm.size()};
  for (std::uint32_t r = 0; r < comm.size(); ++r)
    plan.parts[r] = {reinterpret_cast<const std::byte*>(&outgoing[r]), 8, reinterpret_cast<std::byte*>(&incoming[r]), 8, 0};
  all_to_all_options o;
  o.algorithm = all_to_all_algorithm::direct;
  co_await run_plan(comm, round, plan, {}, {all_to_all_algorithm::direct, 8, comm.size(), ""},
                    o, 8, "all_to_allv (sizes)");
  co_return std::vector<std::size_t>(incoming.begin(), incoming.end());
}

template <class Parts>
using part_of = std::remove_cvref_t<std::ranges::range_value_t<Parts>>;

} // namespace detail

/// Variable blocks into given ranges: parts[r] goes to rank r, what rank r
/// sends lands in recv_parts[r]. A sender that sends more than its range
/// holds fails the call with errc::message_size naming it (its data is
/// consumed; the rest is delivered).
template <std::ranges::random_access_range Parts, std::ranges::random_access_range RecvParts>
  requires buffer<const detail::part_of<Parts>&> && writable_buffer<detail::part_of<RecvParts>&>
[[nodiscard]] task<void> all_to_allv(communicator& comm, const Parts& parts, RecvParts& recv_parts,
                                     all_to_all_options options = {}) {
  using T = detail::element_of<detail::part_of<Parts>>;
  static_assert(std::is_trivially_copyable_v<T>, "all_to_allv: elements must be trivially copyable");
  const std::uint32_t n = comm.size();
  if (std::ranges::size(parts) != n || std::ranges::size(recv_parts) != n)
    throw_invalid_argument("all_to_allv: " + std::to_string(std::ranges::size(parts)) + " parts to send and " +
                           std::to_string(std::ranges::size(recv_parts)) + " to receive into, for " +
                           std::to_string(n) + " ranks");
  detail::check_pool(options, n, "all_to_allv");
  const std::uint32_t sizes_round = comm.begin_collective(), data_round = comm.begin_collective();
  std::vector<std::uint64_t> outgoing(n);
  detail::exchange_plan plan{n};
  plan.exact = false;
  bool host = true, first = true;
  std::size_t largest = 0;
  for (std::uint32_t r = 0; r < n; ++r) {
    const auto sv = view_of(parts[r]);
    auto rv = writable_view_of(recv_parts[r]);
    host = host && sv.memory == memory_type::host && rv.memory == memory_type::host;
    if (first) {
      plan.send_memory = to_ucs(sv.memory);
      plan.recv_memory = to_ucs(rv.memory);
      first = false;
    }
    outgoing[r] = sv.size;
    largest = std::max(largest, sv.size);
    plan.parts[r] = {static_cast<const std::byte*>(sv.data), sv.size, static_cast<std::byte*>(rv.data), rv.size, 0};
  }
  const std::vector<std::size_t> incoming = co_await detail::exchange_sizes(comm, sizes_round, outgoing);
  const all_to_all_report chosen = detail::choose(options, n, largest, host, false, "all_to_allv");
  if (options.report != nullptr)
    *options.report = chosen;
  std::string oversized;
  for (std::uint32_t r = 0; r < n; ++r)
    if (incoming[r] > plan.parts[r].recv_size && oversized.empty())
      oversized = "rank " + std::to_string(r) + " sends " + std::to_string(incoming[r] / sizeof(T)) +
                  " elements into a range of " + std::to_string(plan.parts[r].recv_size / sizeof(T));
  // Receives are posted with the space given; UCX consumes and reports a
  // larger message (truncated), so nothing is left unmatched.
  std::optional<ucx_error> failure;
  try {
    co_await detail::run_plan(comm, data_round, plan, incoming, chosen, options, 0, "all_to_allv");
  } catch (const ucx_error& e) {
    failure.emplace(e);
  }
  if (failure && failure->code() != std::errc::message_size)
    throw *failure;
  if (!oversized.empty())
    throw ucx_error(std::make_error_code(std::errc::message_size), "all_to_allv on rank " +
                                                                       std::to_string(comm.rank()) + ": " + oversized);
  if (failure)
    throw *failure;
}

/// Variable blocks: parts[r] goes to rank r; returns what arrived, one
/// vector per source rank (the sizes travel first).
template <std::ranges::random_access_range Parts>
  requires buffer<const detail::part_of<Parts>&>
[[nodiscard]] task<std::vector<std::vector<detail::element_of<detail::part_of<Parts>>>>>
all_to_allv(communicator& comm, const Parts& parts, all_to_all_options options = {}) {
  using T = detail::element_of<detail::part_of<Parts>>;
  static_assert(std::is_trivially_copyable_v<T>, "all_to_allv: elements must be trivially copyable");
  const std::uint32_t n = comm.size();
  if (std::ranges::size(parts) != n)
    throw_invalid_argument("all_to_allv: " + std::to_string(std::ranges::size(parts)) + " parts for " +
                           std::to_string(n) + " ranks");
  detail::check_pool(options, n, "all_to_allv");
  const std::uint32_t sizes_round = comm.begin_collective(), data_round = comm.begin_collective();
  std::vector<std::uint64_t> outgoing(n);
  for (std::uint32_t r = 0; r < n; ++r)
    outgoing[r] = view_of(parts[r]).size;
  const std::vector<std::size_t> incoming = co_await detail::exchange_sizes(comm, sizes_round, outgoing);
  std::vector<std::vector<T>> got(n);
  for (std::uint32_t r = 0; r < n; ++r) {
    if (incoming[r] % sizeof(T) != 0)
      throw ucx_error(make_error_code(errc::malformed_message),
                      "all_to_allv: rank " + std::to_string(r) + " announces " + std::to_string(incoming[r]) +
                          " bytes, not whole elements of " + std::to_string(sizeof(T)));
    got[r].resize(incoming[r] / sizeof(T));
  }
  detail::exchange_plan plan{n};
  bool host = true;
  std::size_t largest = 0;
  for (std::uint32_t r = 0; r < n; ++r) {
    const auto sv = view_of(parts[r]);
    host = host && sv.memory == memory_type::host;
    plan.send_memory = to_ucs(sv.memory);
    largest = std::max(largest, sv.size);
    plan.parts[r] = {static_cast<const std::byte*>(sv.data), sv.size, reinterpret_cast<std::byte*>(got[r].data()),
                     incoming[r], 0};
  }
  const all_to_all_report chosen = detail::choose(options, n, largest, host, false, "all_to_allv");
  if (options.report != nullptr)
    *options.report = chosen;
  co_await detail::run_plan(comm, data_round, plan, incoming, chosen, options, 0, "all_to_allv");
  co_return got;
}

} // namespace ucoro
