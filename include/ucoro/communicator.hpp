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
// default) or all at bootstrap (connection::eager).
//
// Messages use the communicator tag space of tag.hpp (user tag | source
// rank), so they never meet endpoint or worker-level traffic; between one
// pair of ranks with one tag, order is send order (one UCX endpoint, tag
// matching in order). A rank that fails fails every pending and later
// receive from it, and every send to it, with errc::peer_failed naming it.

#include <ucoro/concepts/buffer.hpp>
#include <ucoro/detail/rendezvous.hpp>
#include <ucoro/endpoint.hpp>
#include <ucoro/error.hpp>
#include <ucoro/event.hpp>
#include <ucoro/tag.hpp>
#include <ucoro/task.hpp>
#include <ucoro/timer.hpp>
#include <ucoro/when_all.hpp>
#include <ucoro/worker.hpp>

#if UCORO_HAS_PMIX
#include <ucoro/detail/pmix_bootstrap.hpp>
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

/// When a communicator creates its endpoints.
enum class connection {
  lazy, ///< to a rank at the first send to it or receive from it (jobs where each rank talks to few)
  eager ///< to every rank during bootstrap (all-to-all jobs; the cost is paid before the first message)
};

/// Trivially copyable (inline texts, see inline_text), so that
/// `co_await communicator::bootstrap(w, {...})` is safe under GCC 12.
struct bootstrap_options {
  /// Explicit: set all three, or none (then the environment decides).
  std::optional<std::uint32_t> rank;
  std::optional<std::uint32_t> size;
  inline_text<256> root; ///< "host:port" of rank 0's rendezvous
  /// A token every rank must present (UCORO_JOB): two jobs never mix.
  handshake_token job;
  /// Bound on the whole bootstrap; on expiry the error names missing ranks.
  std::chrono::milliseconds timeout{30'000};
  /// Address rank 0 binds its rendezvous to.
  inline_text<64> bind_address = "0.0.0.0";
  ucoro::connection connection = ucoro::connection::lazy;
};
static_assert(std::is_trivially_copyable_v<bootstrap_options> && std::is_trivially_destructible_v<bootstrap_options>);

enum class bootstrap_method { explicit_options, tcp_rendezvous, pmix, mpi, singleton };

[[nodiscard]] constexpr const char* to_string(bootstrap_method m) noexcept {
  switch (m) {
  case bootstrap_method::explicit_options: return "explicit options";
  case bootstrap_method::tcp_rendezvous: return "TCP rendezvous (UCORO_*)";
  case bootstrap_method::pmix: return "PMIx";
  case bootstrap_method::mpi: return "MPI communicator";
  case bootstrap_method::singleton: return "singleton";
  }
  return "?";
}

/// What recv_any received.
struct recv_any_info {
  std::uint32_t source = 0;
  std::size_t size = 0;
};

namespace detail {

/// Stops the awaitable when the awaiting coroutine is stopped or `extra` is.
template <awaitable A>
[[nodiscard]] task<await_result_t<A>> with_extra_stop(A awaitable, std::stop_token extra) {
  promise_env* env = co_await current_env{};
  std::stop_source source;
  struct forward {
    std::stop_source* source;
    void operator()() const noexcept { source->request_stop(); }
  };
  std::optional<std::stop_callback<forward>> parent;
  if (env != nullptr && env->stop_token().stop_possible())
    parent.emplace(env->stop_token(), forward{&source});
  std::stop_callback<forward> other(extra, forward{&source});
  auto inner = as_task(std::move(awaitable));
  inner.set_stop_token(source.get_token());
  co_return co_await std::move(inner);
}

struct communicator_state {
  worker* w = nullptr;
  std::uint32_t rank = 0;
  std::uint32_t size = 1;
  bootstrap_method method = bootstrap_method::singleton;
  std::vector<hello::table_entry> table;   ///< every rank's entry, indexed by rank
  std::vector<std::optional<endpoint>> peers; ///< indexed by rank (self included); made by connect()
  std::vector<std::stop_source> failed;    ///< stop requested: that rank failed
  std::vector<std::unique_ptr<event>> failure_known; ///< set with `failed`, to await
  std::vector<std::uint32_t> failed_ranks; ///< in the order they failed
  std::uint32_t collective_round = 0;      ///< batch field of collective tags
  std::shared_ptr<void> launcher;          ///< e.g. the PMIx session, finalized after the last use

  /// The endpoint to rank r, made now if it is not yet.
  endpoint& connect(std::uint32_t r, const std::shared_ptr<communicator_state>& self);
};

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
  [[nodiscard]] const endpoint& peer(std::uint32_t rank) const {
    return m_state->connect(check_rank(rank, "peer"), m_state);
  }

  /// Largest user tag: 2^24 - 2 (the top value is the collectives').
  static constexpr std::uint32_t max_tag = detail::collective_tag - 1;

  template <buffer B>
  [[nodiscard]] task<void> send(std::uint32_t dst, const B& buf, std::uint32_t tag) {
    check_tag(tag, "send");
    const auto view = view_of(buf);
    co_await send_raw(check_rank(dst, "send"), view.data, view.size, to_ucs(view.memory),
                      tag_layout::communicator_tag(tag, m_state->rank, 0));
  }

  /// Returns the size received; errc::message_size if it did not fit.
  template <writable_buffer B>
  [[nodiscard]] task<std::size_t> recv(std::uint32_t src, B&& buf, std::uint32_t tag) {
    check_tag(tag, "recv");
    const auto view = writable_view_of(buf);
    const auto info = co_await recv_raw(check_rank(src, "recv"), view.data, view.size, to_ucs(view.memory),
                                        tag_layout::communicator_tag(tag, src, 0), tag_layout::full_mask);
    co_return info.length;
  }

  /// From whichever rank sends first with `tag`.
  template <writable_buffer B>
  [[nodiscard]] task<recv_any_info> recv_any(B&& buf, std::uint32_t tag) {
    check_tag(tag, "recv_any");
    const auto view = writable_view_of(buf);
    const tag_t mask = ~(((tag_t{1} << tag_layout::comm_rank_bits) - 1) << tag_layout::comm_rank_shift);
    const tag_recv_info info =
        co_await detail::tag_recv_op(m_state->w->engine(), view.data, view.size,
                                     tag_layout::communicator_tag(tag, 0, 0), mask, to_ucs(view.memory));
    co_return recv_any_info{source_of(info.sender_tag), info.length};
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
        const tag_recv_info info = co_await recv_raw(parent, view.data, view.size, to_ucs(view.memory),
                                                     collective(parent, round), tag_layout::full_mask);
        if (info.length != view.size)
          throw ucx_error(make_error_code(std::errc::message_size),
                          "broadcast from rank " + std::to_string(root) + ": " + std::to_string(info.length) +
                              " bytes into " + std::to_string(view.size));
        break;
      }
      mask <<= 1;
    }
    std::vector<task<void>> sends;
    for (mask >>= 1; mask > 0; mask >>= 1)
      if (me + mask < size())
        sends.push_back(send_raw((me + mask + root) % size(), view.data, view.size, to_ucs(view.memory),
                                 collective(rank(), round)));
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
      throw_error(std::make_error_code(std::errc::invalid_argument),
                  std::string("communicator::") + what + ": rank " + std::to_string(r) + " outside [0, " +
                      std::to_string(m_state->size) + ")");
    return r;
  }
  static void check_tag(std::uint32_t tag, const char* what) {
    if (tag > max_tag)
      throw_error(std::make_error_code(std::errc::invalid_argument),
                  std::string("communicator::") + what + ": tag " + std::to_string(tag) + " above " +
                      std::to_string(max_tag));
  }
  static std::uint32_t source_of(tag_t tag) noexcept {
    return static_cast<std::uint32_t>((tag >> tag_layout::comm_rank_shift) & ((1U << tag_layout::comm_rank_bits) - 1));
  }
  std::uint32_t next_round() noexcept { return ++m_state->collective_round & ((1U << tag_layout::comm_batch_bits) - 1); }
  static tag_t collective(std::uint32_t source, std::uint32_t round) noexcept {
    return tag_layout::communicator_tag(detail::collective_tag, source, round);
  }

  [[noreturn]] void throw_failed(std::uint32_t r, const char* what) const {
    throw ucx_error(make_error_code(errc::peer_failed),
                    std::string("communicator ") + what + " rank " + std::to_string(r) + ": rank " +
                        std::to_string(r) + " failed");
  }

  task<void> send_raw(std::uint32_t dst, const void* data, std::size_t size, ucs_memory_type_t memory, tag_t tag) {
    if (m_state->failed[dst].stop_requested())
      throw_failed(dst, "send to");
    auto sent = co_await as_result(
        detail::tag_send_op(m_state->w->engine(), m_state->connect(dst, m_state).ucp_endpoint(), data, size, tag, memory));
    if (!sent) {
      if (co_await failure_confirmed(dst, sent.error))
        throw_failed(dst, "send to");
      throw ucx_error(sent.error, "communicator send to rank " + std::to_string(dst) + ": " + sent.error.message());
    }
  }

  task<tag_recv_info> recv_raw(std::uint32_t src, void* data, std::size_t size, ucs_memory_type_t memory, tag_t tag,
                               tag_t mask) {
    if (m_state->failed[src].stop_requested())
      throw_failed(src, "recv from");
    (void)m_state->connect(src, m_state); // watches src, whose failure fails this receive
    // A worker-level receive belongs to no endpoint: the rank's failure
    // stops it explicitly.
    std::optional<tag_recv_info> got;
    std::exception_ptr failure;
    std::error_code code;
    try {
      got.emplace(co_await detail::with_extra_stop(detail::tag_recv_op(m_state->w->engine(), data, size, tag, mask, memory),
                                                   m_state->failed[src].get_token()));
    } catch (const std::system_error& e) {
      failure = std::current_exception();
      code = e.code();
    }
    if (got)
      co_return *got;
    if ((code == std::errc::operation_canceled && m_state->failed[src].stop_requested()) ||
        co_await failure_confirmed(src, code))
      throw_failed(src, "recv from");
    std::rethrow_exception(failure);
  }

  /// A transport error (a CMA read from a process that just died, a reset
  /// connection) usually comes before the peer's pidfd or UCX's error
  /// callback says the rank failed: wait for that verdict, briefly.
  task<bool> failure_confirmed(std::uint32_t r, std::error_code error) {
    if (m_state->failed[r].stop_requested())
      co_return true;
    const bool transport = error == std::errc::io_error || error == std::errc::connection_reset ||
                           error == std::errc::connection_aborted || error == std::errc::not_connected ||
                           error == errc::peer_failed || error == errc::endpoint_closed;
    if (!transport)
      co_return false;
    auto known = co_await as_result(with_timeout(m_state->failure_known[r]->wait(), failure_grace));
    co_return static_cast<bool>(known);
  }

  /// Same host: the pidfd fires within milliseconds of the exit.
  static constexpr std::chrono::milliseconds failure_grace{1000};

  task<void> collective_send(std::uint32_t to, const void* data, std::size_t size, std::uint32_t round) {
    return send_raw(to, data, size, UCS_MEMORY_TYPE_HOST, collective(rank(), round));
  }
  task<void> collective_recv(std::uint32_t from, void* data, std::size_t size, std::uint32_t round) {
    (void)co_await recv_raw(from, data, size, UCS_MEMORY_TYPE_HOST, collective(from, round), tag_layout::full_mask);
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
    throw_error(std::make_error_code(std::errc::invalid_argument),
                std::string("communicator bootstrap: ") + name + "='" + text + "' is not a rank count");
  return static_cast<std::uint32_t>(v);
}

} // namespace detail

inline task<communicator> communicator::bootstrap(worker& w, bootstrap_options options) {
  bootstrap_method method = bootstrap_method::singleton;
  const bool explicit_set = options.rank || options.size || !options.root.empty();
  if (explicit_set) {
    if (!options.rank || !options.size || (options.root.empty() && *options.size > 1))
      throw_error(std::make_error_code(std::errc::invalid_argument),
                  "communicator bootstrap: explicit options need rank, size and root together");
    method = bootstrap_method::explicit_options;
  } else if (auto root = detail::env_text("UCORO_ROOT")) {
    const auto rank = detail::env_text("UCORO_RANK"), size = detail::env_text("UCORO_SIZE");
    if (!rank || !size)
      throw_error(std::make_error_code(std::errc::invalid_argument),
                  "communicator bootstrap: UCORO_ROOT is set, so UCORO_RANK and UCORO_SIZE must be too");
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
                "built without PMIx: install libpmix-dev (pkg-config pmix) and rebuild, or set "
                "UCORO_RANK/UCORO_SIZE/UCORO_ROOT");
#endif
  } else {
    options.rank = 0;
    options.size = 1;
  }
  const std::uint32_t rank = *options.rank, size = *options.size;
  if (size == 0 || size > detail::hello::max_ranks || rank >= size)
    throw_error(std::make_error_code(std::errc::invalid_argument),
                "communicator bootstrap: rank " + std::to_string(rank) + " of " + std::to_string(size));
  if (size == 1)
    co_return from_table(w, 0, {detail::local_table_entry(w)}, method, options, nullptr);

  const std::string root = options.root.str();
  const auto colon = root.rfind(':');
  if (colon == std::string::npos)
    throw_error(std::make_error_code(std::errc::invalid_argument),
                "communicator bootstrap: root '" + root + "' is not host:port");
  std::string host = root.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const auto port = static_cast<std::uint16_t>(detail::env_number("root port", root.substr(colon + 1)));
  std::vector<detail::hello::table_entry> table;
  if (rank == 0) {
    detail::rendezvous_root rendezvous(w, options.bind_address.str(), port);
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
    throw_error(std::make_error_code(std::errc::invalid_argument),
                "communicator bootstrap: rank " + std::to_string(rank) + " in a table of " + std::to_string(table.size()));
  auto state = std::make_shared<detail::communicator_state>();
  state->w = &w;
  state->rank = rank;
  state->size = static_cast<std::uint32_t>(table.size());
  state->method = method;
  state->table = std::move(table);
  state->launcher = std::move(launcher);
  state->peers.resize(state->size);
  state->failed.resize(state->size);
  for (std::uint32_t r = 0; r < state->size; ++r)
    state->failure_known.push_back(std::make_unique<event>(w));
  if (options.connection == connection::eager)
    for (std::uint32_t r = 0; r < state->size; ++r)
      (void)state->connect(r, state);
  return communicator{std::move(state)};
}

inline endpoint& detail::communicator_state::connect(std::uint32_t r, const std::shared_ptr<communicator_state>& self) {
  if (peers[r])
    return *peers[r];
  const auto& e = table[r];
  address_endpoint_options o;
  if (r == rank)
    o.error_handling = error_handling::none; // to oneself: nothing to watch
  else
    o.peer = peer_info{e.identity, (e.flags & hello::pidfd) != 0, (e.flags & hello::shared_memory) != 0};
  endpoint ep = w->create_endpoint_from_worker_address(e.worker_address, o);
  std::weak_ptr<communicator_state> weak = self;
  ep.set_close_callback([weak, r](std::error_code reason) {
    auto s = weak.lock();
    if (!s || !reason || s->failed[r].stop_requested())
      return;
    s->failed_ranks.push_back(r);
    // A rank that sent and then exited (measured: its last eager message
    // sits in our shared-memory FIFO when its pidfd fires) must not lose
    // that message: UCX matches what has arrived before the receives
    // from r are failed.
    s->w->spawn([](std::shared_ptr<communicator_state> state, std::uint32_t rank) -> task<void> {
      for (int round = 0; round < 1000 && ucp_worker_progress(state->w->ucp_worker()) != 0; ++round) {
      }
      co_await state->w->sleep(std::chrono::milliseconds(0)); // matched receives resume first
      state->failed[rank].request_stop(); // fails the receives from r pending now
      state->failure_known[rank]->set();
    }(s, r));
  });
  peers[r].emplace(std::move(ep));
  return *peers[r];
}

} // namespace ucoro
