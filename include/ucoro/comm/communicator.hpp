#pragma once
// N ranks that know each other by number, on top of the point-to-point
// layer: rank-to-rank tagged messages and small collectives.
//
//   ucoro::communicator comm = co_await ucoro::communicator::bootstrap(worker);
//   co_await comm.send(dst, buffer, tag);
//   std::size_t n = co_await comm.recv(src, buffer, tag);
//   int total = co_await comm.all_reduce(mine, std::plus<>{});
//
// Bootstrap, in this order: explicit bootstrap_options; the TCP rendezvous
// from UCORO_RANK, UCORO_SIZE, UCORO_ROOT=host:port (and UCORO_JOB, a token
// every rank must present); PMIx, when a PMIx launcher started the process
// (mpirun, prterun, srun --mpi=pmix: PMIX_RANK and PMIX_NAMESPACE); else a
// singleton (size 1). An MPI program passes its communicator instead
// (communicator_mpi.hpp). Each way ends with every rank's table entry
// (worker address, identity, host); each peer is an endpoint from its
// worker address with its peer_info, so a same-host rank keeps shared
// memory with its process watched and a remote one gets UCX's peer mode
// (error_handling::automatic). Endpoints are made at first use (lazy, the
// default) or all at bootstrap (connect_policy::eager).
//
// Messages use the communicator tag space of tag.hpp (user tag | source
// rank), so they never meet endpoint or worker-level traffic; between one
// pair of ranks with one tag, order is send order (one UCX endpoint, tag
// matching in order). A rank that fails fails every pending and later
// receive from it, and every send to it, with errc::peer_failed naming it.

#include <ucoro/comm/bootstrap_options.hpp>
#include <ucoro/concepts/buffer.hpp>
#include <ucoro/comm/detail/communicator_state.hpp>
#include <ucoro/comm/detail/rendezvous.hpp>
#include <ucoro/p2p/endpoint.hpp>
#include <ucoro/error.hpp>
#include <ucoro/runtime/event.hpp>
#include <ucoro/ucx/tag.hpp>
#include <ucoro/ucx/tag_message.hpp>
#include <ucoro/runtime/task.hpp>
#include <ucoro/runtime/timer.hpp>
#include <ucoro/runtime/when_all.hpp>
#include <ucoro/ucx/worker.hpp>

#if UCORO_HAS_PMIX
#include <ucoro/comm/detail/pmix_bootstrap.hpp>
#endif

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <type_traits>
#include <vector>

namespace ucoro {

/// What recv_any received.
struct recv_any_info {
  std::uint32_t source = 0;
  std::size_t size = 0;
};

/// What the allocating recv_any received: the rank it came from and the
/// message, in a container of exactly its size.
template <class Container>
struct received_from {
  std::uint32_t source = 0;
  Container data;
};

namespace detail {

/// MPI_Comm's exchange lives in <ucoro/communicator_mpi.hpp>, the only
/// header that needs mpi.h; bootstrap_mpi without it names this type as
/// incomplete.
template <class MpiComm>
struct mpi_address_exchange;

/// Collective traffic uses the top user tag, which user calls cannot name.
inline constexpr std::uint32_t collective_tag = (1U << tag_layout::comm_user_bits) - 1;

} // namespace detail

class communicator {
public:
  /// From the launcher's environment (see the top of this file).
  [[nodiscard]] static task<communicator> bootstrap(worker& w, bootstrap_options options = {});

  [[nodiscard]] std::uint32_t rank() const noexcept { return m_state->rank; }
  /// The worker this communicator runs on.
  [[nodiscard]] ucoro::worker& get_worker() const noexcept { return *m_state->w; }
  [[nodiscard]] std::uint32_t size() const noexcept { return m_state->size; }
  [[nodiscard]] bootstrap_method bootstrap_info() const noexcept { return m_state->method; }
  [[nodiscard]] const std::vector<std::uint32_t>& failed_ranks() const noexcept { return m_state->failed_ranks; }
  /// An MPI program's ranks, in `comm`'s order; needs <ucoro/communicator_mpi.hpp>.
  /// Collective over `comm`. options: connection and timeout are used.
  template <class MpiComm>
  [[nodiscard]] static task<communicator> bootstrap_mpi(worker& w, MpiComm comm, bootstrap_options options = {}) {
    auto exchanged = detail::mpi_address_exchange<MpiComm>::run(comm, detail::local_table_entry(w));
    co_return from_table(w, exchanged.rank, std::move(exchanged.table), bootstrap_method::mpi, options, nullptr);
  }

  /// The endpoint to `rank` (its ucx_info(), failure_detection()); connects
  /// if the communicator is lazy and has not yet.
  [[nodiscard]] const endpoint& peer(std::uint32_t rank) const { return m_state->connect(check_rank(rank, "peer")); }

  /// Whether the endpoint to `rank` exists (eager: all of them from the start).
  [[nodiscard]] bool connected(std::uint32_t rank) const {
    return m_state->peers[check_rank(rank, "connected")].has_value();
  }

  /// Largest user tag: 2^24 - 2 (the top value is the collectives').
  static constexpr std::uint32_t max_tag = detail::collective_tag - 1;

  /// One UCX tag send, awaited in place (no allocation). A rank or tag
  /// out of range throws invalid_argument here, naming it.
  template <buffer B>
  [[nodiscard]] detail::comm_send_op send(std::uint32_t dst, const B& buf, std::uint32_t tag) const {
    check_tag(tag, "send");
    const auto view = view_of(buf);
    return {*m_state, check_rank(dst, "send"), view.data, view.size,
            tag_layout::communicator_tag(tag, m_state->rank, 0), to_ucs(view.memory)};
  }

  /// Returns the size received; errc::message_size if it did not fit.
  template <writable_buffer B>
  [[nodiscard]] detail::comm_recv_op recv(std::uint32_t src, B&& buf, std::uint32_t tag) const {
    check_tag(tag, "recv");
    const auto view = writable_view_of(buf);
    return {*m_state, check_rank(src, "recv"), view.data, view.size, tag_layout::communicator_tag(tag, src, 0),
            to_ucs(view.memory)};
  }

  /// Building blocks for collectives on top of the communicator (as
  /// all_to_all.hpp is): every rank calls begin_collective() for the same
  /// collectives in the same order; the round it returns keeps that
  /// collective's messages apart from user calls and other collectives.
  /// Between one pair of ranks, one round's messages match in send order.
  [[nodiscard]] std::uint32_t begin_collective() noexcept { return next_round(); }
  [[nodiscard]] detail::comm_send_op collective_send_op(std::uint32_t dst, const void* data, std::size_t size,
                                                        ucs_memory_type_t memory, std::uint32_t round) const {
    return send_raw(check_rank(dst, "collective_send_op"), data, size, memory, collective(rank(), round));
  }
  [[nodiscard]] detail::comm_recv_op collective_recv_op(std::uint32_t src, void* data, std::size_t size,
                                                        ucs_memory_type_t memory, std::uint32_t round) const {
    return recv_raw(check_rank(src, "collective_recv_op"), data, size, memory, collective(src, round));
  }
  /// Whether `rank` is known to have failed.
  [[nodiscard]] bool failed(std::uint32_t rank) const { return m_state->failed[check_rank(rank, "failed")] != 0; }

  /// From whichever rank sends first with `tag`.
  template <writable_buffer B>
  [[nodiscard]] task<recv_any_info> recv_any(B&& buf, std::uint32_t tag) {
    check_tag(tag, "recv_any");
    const auto view = writable_view_of(buf);
    const tag_recv_info info =
        co_await detail::tag_recv_op(m_state->w->engine(), view.data, view.size,
                                     tag_layout::communicator_tag(tag, 0, 0), any_source_mask, to_ucs(view.memory));
    co_return recv_any_info{source_of(info.sender_tag), info.length};
  }

  /// From whichever rank sends first with `tag`, into a new container of
  /// exactly the message's size: worker::recv_any's path (a probe that
  /// removes the message, then its receive by handle). A message that is
  /// not a whole number of elements is received, then refused with
  /// std::errc::bad_message.
  template <resizable_container Container = std::vector<std::byte>>
  [[nodiscard]] task<received_from<Container>> recv_any(std::uint32_t tag) {
    check_tag(tag, "recv_any");
    progress_engine& engine = m_state->w->engine();
    tag_message message = co_await detail::message_wait(engine, tag_layout::communicator_tag(tag, 0, 0),
                                                         any_source_mask, "communicator recv_any");
    const std::uint32_t source = source_of(message.sender_tag());
    auto got = co_await detail::receive_whole<Container>(engine, std::move(message), "communicator recv_any");
    co_return received_from<Container>{source, std::move(got.data)};
  }

  /// Every rank has arrived (dissemination: log2(size) rounds).
  [[nodiscard]] task<void> barrier() {
    const std::uint32_t round = next_round();
    std::byte token{};
    for (std::uint32_t step = 1; step < size(); step <<= 1) {
      const std::uint32_t to = (rank() + step) % size(), from = (rank() + size() - step) % size();
      std::byte got{};
      (void)co_await when_all(collective_send(to, &token, 1, round), collective_recv(from, &got, 1, round));
    }
  }

  /// Everyone's `value`, indexed by rank.
  template <class T>
    requires std::is_trivially_copyable_v<T>
  [[nodiscard]] task<std::vector<T>> all_gather(const T& value) {
    const std::uint32_t round = next_round();
    std::vector<T> out(size());
    out[rank()] = value;
    std::vector<task<void>> ops;
    for (std::uint32_t r = 0; r < size(); ++r) {
      if (r == rank())
        continue;
      ops.push_back(collective_send(r, &out[rank()], sizeof(T), round));
      ops.push_back(collective_recv(r, &out[r], sizeof(T), round));
    }
    co_await when_all(std::move(ops));
    co_return out;
  }

  /// op(...(op(v0, v1), v2)..., v_{n-1}) on every rank, in rank order, so
  /// every rank gets the same bits even for floating point.
  template <class T, class Op>
    requires std::is_trivially_copyable_v<T> && std::is_invocable_r_v<T, Op&, const T&, const T&>
  [[nodiscard]] task<T> all_reduce(const T& value, Op op) {
    const std::vector<T> all = co_await all_gather(value);
    T total = all[0];
    for (std::uint32_t r = 1; r < all.size(); ++r)
      total = op(total, all[r]);
    co_return total;
  }

  /// `buf` on `root` to every rank's `buf` (binomial tree).
  template <writable_buffer B>
  [[nodiscard]] task<void> broadcast(B& buf, std::uint32_t root) {
    check_rank(root, "broadcast");
    const std::uint32_t round = next_round();
    const auto view = writable_view_of(buf);
    const std::uint32_t me = (rank() + size() - root) % size(); // rank relative to the root
    std::uint32_t mask = 1;
    while (mask < size()) { // receive from the parent
      if ((me & mask) != 0) {
        const std::uint32_t parent = (me - mask + root) % size();
        const std::size_t length =
            co_await recv_raw(parent, view.data, view.size, to_ucs(view.memory), collective(parent, round));
        if (length != view.size)
          throw ucx_error(make_error_code(std::errc::message_size),
                          "broadcast from rank " + std::to_string(root) + ": " + std::to_string(length) +
                              " bytes into " + std::to_string(view.size));
        break;
      }
      mask <<= 1;
    }
    std::vector<task<void>> sends;
    for (mask >>= 1; mask > 0; mask >>= 1)
      if (me + mask < size())
        sends.push_back(as_task(send_raw((me + mask + root) % size(), view.data, view.size, to_ucs(view.memory),
                                         collective(rank(), round))));
    co_await when_all(std::move(sends));
  }

private:
  explicit communicator(std::shared_ptr<detail::communicator_state> s) noexcept : m_state(std::move(s)) {}

  /// Every bootstrap ends here, with every rank's entry.
  static communicator from_table(worker& w, std::uint32_t rank, std::vector<detail::hello::table_entry> table,
                                 bootstrap_method method, const bootstrap_options& options,
                                 std::shared_ptr<void> launcher);

  std::uint32_t check_rank(std::uint32_t r, const char* what) const {
    if (r >= m_state->size)
      throw_invalid_argument(std::string("communicator::") + what + ": rank " + std::to_string(r) + " outside [0, " +
                             std::to_string(m_state->size) + ")");
    return r;
  }
  static void check_tag(std::uint32_t tag, const char* what) {
    if (tag > max_tag)
      throw_invalid_argument(std::string("communicator::") + what + ": tag " + std::to_string(tag) + " above " +
                             std::to_string(max_tag));
  }
  /// Every field but the source rank.
  static constexpr tag_t any_source_mask =
      ~(((tag_t{1} << tag_layout::comm_rank_bits) - 1) << tag_layout::comm_rank_shift);

  static std::uint32_t source_of(tag_t tag) noexcept {
    return static_cast<std::uint32_t>((tag >> tag_layout::comm_rank_shift) & ((1U << tag_layout::comm_rank_bits) - 1));
  }
  std::uint32_t next_round() noexcept { return ++m_state->collective_round & ((1U << tag_layout::comm_batch_bits) - 1); }
  static tag_t collective(std::uint32_t source, std::uint32_t round) noexcept {
    return tag_layout::communicator_tag(detail::collective_tag, source, round);
  }

  detail::comm_send_op send_raw(std::uint32_t dst, const void* data, std::size_t size, ucs_memory_type_t memory,
                                tag_t tag) const {
    return {*m_state, dst, data, size, tag, memory};
  }
  detail::comm_recv_op recv_raw(std::uint32_t src, void* data, std::size_t size, ucs_memory_type_t memory,
                                tag_t tag) const {
    return {*m_state, src, data, size, tag, memory};
  }

  task<void> collective_send(std::uint32_t to, const void* data, std::size_t size, std::uint32_t round) {
    co_await send_raw(to, data, size, UCS_MEMORY_TYPE_HOST, collective(rank(), round));
  }
  task<void> collective_recv(std::uint32_t from, void* data, std::size_t size, std::uint32_t round) {
    (void)co_await recv_raw(from, data, size, UCS_MEMORY_TYPE_HOST, collective(from, round));
  }

  std::shared_ptr<detail::communicator_state> m_state;
};

namespace detail {

[[nodiscard]] inline std::optional<std::string> env_text(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0')
    return std::nullopt;
  return std::string(v);
}

[[nodiscard]] inline std::uint32_t env_number(const char* name, const std::string& text) {
  char* end = nullptr;
  const unsigned long v = std::strtoul(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || v > hello::max_ranks)
    throw_invalid_argument(std::string("communicator bootstrap: ") + name + "='" + text + "' is not a rank count");
  return static_cast<std::uint32_t>(v);
}

} // namespace detail

inline task<communicator> communicator::bootstrap(worker& w, bootstrap_options options) {
  bootstrap_method method = bootstrap_method::singleton;
  const bool explicit_set = options.rank || options.size || !options.root.empty();
  if (explicit_set) {
    if (!options.rank || !options.size || (options.root.empty() && *options.size > 1))
      throw_invalid_argument("communicator bootstrap: explicit options need rank, size and root together");
    method = bootstrap_method::explicit_options;
  } else if (auto root = detail::env_text("UCORO_ROOT")) {
    const auto rank = detail::env_text("UCORO_RANK"), size = detail::env_text("UCORO_SIZE");
    if (!rank || !size)
      throw_invalid_argument("communicator bootstrap: UCORO_ROOT is set, so UCORO_RANK and UCORO_SIZE must be too");
    options.rank = detail::env_number("UCORO_RANK", *rank);
    options.size = detail::env_number("UCORO_SIZE", *size);
    options.root = *root;
    if (auto job = detail::env_text("UCORO_JOB"))
      options.job = *job;
    method = bootstrap_method::tcp_rendezvous;
  } else if (detail::env_text("PMIX_RANK") && detail::env_text("PMIX_NAMESPACE")) {
#if UCORO_HAS_PMIX
    auto exchanged = detail::pmix_exchange(detail::local_table_entry(w), options.timeout);
    co_return from_table(w, exchanged.rank, std::move(exchanged.table), bootstrap_method::pmix, options,
                         std::move(exchanged.session));
#else
    throw_error(std::make_error_code(std::errc::not_supported),
                "communicator bootstrap: a PMIx launcher started this process (PMIX_RANK is set), but ucoro was "
                "built without PMIx: install libpmix-dev and compile with `pkg-config --cflags --libs pmix` (UCORO_HAS_PMIX), or set "
                "UCORO_RANK/UCORO_SIZE/UCORO_ROOT");
#endif
  } else {
    options.rank = 0;
    options.size = 1;
  }
  const std::uint32_t rank = *options.rank, size = *options.size;
  if (size == 0 || size > detail::hello::max_ranks || rank >= size)
    throw_invalid_argument("communicator bootstrap: rank " + std::to_string(rank) + " of " + std::to_string(size));
  if (size == 1)
    co_return from_table(w, 0, {detail::local_table_entry(w)}, method, options, nullptr);

  const std::string root = options.root.str();
  const auto colon = root.rfind(':');
  if (colon == std::string::npos)
    throw_invalid_argument("communicator bootstrap: root '" + root + "' is not host:port");
  std::string host = root.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const auto port = static_cast<std::uint16_t>(detail::env_number("root port", root.substr(colon + 1)));
  std::vector<detail::hello::table_entry> table;
  if (rank == 0) {
    detail::rendezvous_root rendezvous(w, detail::rendezvous_bind_address(options.bind_address.str(), host), port);
    table = co_await rendezvous.run(detail::local_table_entry(w), size, options.job.str(), options.timeout);
  } else {
    table = co_await detail::rendezvous_join(w, host, port, rank, size, options.job.str(),
                                             detail::local_table_entry(w), options.timeout);
  }
  co_return from_table(w, rank, std::move(table), method, options, nullptr);
}

inline communicator communicator::from_table(worker& w, std::uint32_t rank,
                                             std::vector<detail::hello::table_entry> table, bootstrap_method method,
                                             const bootstrap_options& options, std::shared_ptr<void> launcher) {
  if (table.empty() || rank >= table.size())
    throw_invalid_argument("communicator bootstrap: rank " + std::to_string(rank) + " in a table of " +
                           std::to_string(table.size()));
  auto state = std::make_shared<detail::communicator_state>();
  state->w = &w;
  state->rank = rank;
  state->size = static_cast<std::uint32_t>(table.size());
  state->method = method;
  state->table = std::move(table);
  state->launcher = std::move(launcher);
  state->peers.resize(state->size);
  state->failed.assign(state->size, 0);
  state->failure_cause.resize(state->size);
  state->heartbeat = detail::checked_heartbeat(options.remote_heartbeat, "communicator bootstrap");
  state->pending = std::make_unique<detail::pending_operations<detail::comm_recv_op, detail::comm_send_op>[]>(state->size);
  for (std::uint32_t r = 0; r < state->size; ++r)
    state->failure_known.push_back(std::make_unique<event>(w));
  state->start_heartbeats();
  if (options.connect == connect_policy::eager)
    for (std::uint32_t r = 0; r < state->size; ++r)
      (void)state->connect(r);
  return communicator{std::move(state)};
}

} // namespace ucoro
