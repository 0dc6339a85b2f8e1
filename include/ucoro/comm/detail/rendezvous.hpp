#pragma once
// The communicator's TCP rendezvous, for launchers that give nothing but
// environment variables (plain scripts, containers): rank 0 listens at the
// root address, every other rank sends a join (its table entry, rank, size
// and the job token) in the front door's format (detail/hello.hpp), and
// once all have joined the root sends each the whole table. A connection
// with garbage, a wrong job token, a wrong size or a rank out of range or
// taken is refused with the reason while the root keeps serving, so two
// jobs on one host never mix. Bounded by one timeout; on expiry the error
// names the ranks that never came.

#include <ucoro/p2p/detail/handshake.hpp>
#include <ucoro/p2p/detail/hello.hpp>
#include <ucoro/p2p/detail/socket.hpp>
#include <ucoro/error.hpp>
#include <ucoro/runtime/event.hpp>
#include <ucoro/runtime/task.hpp>
#include <ucoro/runtime/task_scope.hpp>
#include <ucoro/runtime/timer.hpp>
#include <ucoro/runtime/when_all.hpp>
#include <ucoro/ucx/worker.hpp>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ucoro::detail {

/// This process's entry: what every other rank needs to connect to it.
[[nodiscard]] inline hello::table_entry local_table_entry(worker& w) {
  const peer_info info = w.local_peer_info();
  hello::table_entry e;
  e.identity = info.identity;
  e.flags = (info.pidfd ? hello::pidfd : 0U) | (info.shared_memory ? hello::shared_memory : 0U);
  e.host = this_host_name();
  e.worker_address = w.address();
  return e;
}

/// One entry as a self-checking blob (a one-entry table message), for
/// launchers that move opaque bytes: PMIx's key-value store, MPI_Allgatherv.
[[nodiscard]] inline std::vector<std::byte> encode_table_entry(const hello::table_entry& e) {
  hello::message m;
  m.type = hello::kind::table;
  m.size = 1;
  m.table.push_back(e);
  return hello::encode(m);
}

/// The blob rank `rank` published, checked as strictly as a rendezvous
/// message: it came through a launcher, not from ucoro.
[[nodiscard]] inline hello::table_entry decode_table_entry(std::span<const std::byte> bytes, std::uint32_t rank,
                                                           const std::string& what) {
  std::string why;
  auto m = hello::decode(bytes, why);
  if (m && (m->type != hello::kind::table || m->table.size() != 1 || m->table[0].worker_address.empty()))
    why = "not one table entry";
  else if (m)
    return std::move(m->table[0]);
  throw ucx_error(make_error_code(errc::malformed_message),
                  what + ": rank " + std::to_string(rank) + " published a malformed entry (" + why + ")");
}

/// "2, 5 and 7".
[[nodiscard]] inline std::string rank_list(const std::vector<std::uint32_t>& ranks) {
  std::string out;
  for (std::size_t i = 0; i < ranks.size(); ++i)
    out += (i == 0 ? "" : i + 1 == ranks.size() ? " and " : ", ") + std::to_string(ranks[i]);
  return out;
}

/// What rank 0 binds when bootstrap_options::bind_address is empty: a
/// loopback root host itself (nothing off this host can reach a local
/// job's rendezvous, and a ::1 root needs an IPv6 socket), else 0.0.0.0.
[[nodiscard]] inline std::string rendezvous_bind_address(const std::string& chosen, const std::string& root_host) {
  if (!chosen.empty())
    return chosen;
  if (root_host == "localhost")
    return "127.0.0.1";
  in_addr v4{};
  if (::inet_pton(AF_INET, root_host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127)
    return root_host;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, root_host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6))
    return root_host;
  return "0.0.0.0";
}

/// Rank 0's side. open() binds at once (port 0: any free port), so a test
/// or launcher can learn the port before the ranks start.
class rendezvous_root {
public:
  rendezvous_root(worker& w, const std::string& bind_address, std::uint16_t port) : m_worker(&w) {
    const std::string where = "rendezvous root on " + bind_address + ":" + std::to_string(port);
    m_socket = listen_socket(numeric_address(bind_address, port, where), 1024, where);
    m_port = local_port(m_socket.get());
  }

  [[nodiscard]] std::uint16_t port() const noexcept { return m_port; }
  /// Connections refused so far (garbage, wrong job, bad rank).
  [[nodiscard]] std::size_t rejected() const noexcept { return m_rejected; }

  /// Collects `size` entries (this one is rank 0) and sends the table to
  /// every rank; returns it, indexed by rank.
  task<std::vector<hello::table_entry>> run(hello::table_entry self, std::uint32_t size, std::string job,
                                            std::chrono::milliseconds timeout) {
    if (size == 0 || size > hello::max_ranks)
      throw_invalid_argument("rendezvous: size " + std::to_string(size) + " outside [1, " +
                             std::to_string(hello::max_ranks) + "]");
    m_size = size;
    m_job = std::move(job);
    m_slots.clear();
    m_slots.resize(size);
    m_slots[0].entry = std::move(self);
    m_slots[0].joined = true;
    m_joined = 1;
    event all_joined{*m_worker};
    if (m_joined == size)
      all_joined.set();
    m_all_joined = &all_joined;
    task_scope connections(m_worker->engine());
    connections.set_error_handler([this](std::exception_ptr) { ++m_rejected; });
    m_timeout = timeout;
    connections.spawn(accept_loop(connections));
    auto r = co_await as_result(with_timeout(all_joined.wait(), timeout));
    // Stops the acceptor and joins still being read (silent or slow
    // connections: they count as rejected).
    connections.request_stop();
    co_await connections.join();
    if (r.error && r.error != std::errc::timed_out)
      throw ucx_error(r.error, "rendezvous of " + std::to_string(size) + " ranks: stopped");
    if (!r) {
      std::vector<std::uint32_t> missing;
      for (std::uint32_t rank = 0; rank < size; ++rank)
        if (!m_slots[rank].joined)
          missing.push_back(rank);
      const std::string text = "rendezvous of " + std::to_string(size) + " ranks: rank" +
                               (missing.size() > 1 ? "s " : " ") + rank_list(missing) + " never joined within " +
                               format_duration(timeout);
      const hello::message reject = make_reject(hello::reject_reason::timed_out, text);
      for (auto& s : m_slots)
        if (s.fd) {
          auto sent = co_await as_result(with_timeout(write_hello(m_worker->engine(), s.fd.get(), reject), timeout));
          (void)sent; // a rank that is gone cannot be told
        }
      throw ucx_error(std::make_error_code(std::errc::timed_out), text);
    }
    hello::message table;
    table.type = hello::kind::table;
    table.size = size;
    for (auto& s : m_slots)
      table.table.push_back(s.entry);
    const auto bytes = hello::encode(table);
    for (auto& s : m_slots)
      if (s.fd)
        co_await with_timeout(write_all(m_worker->engine(), s.fd.get(), bytes), timeout);
    co_return std::move(table.table);
  }

private:
  struct slot {
    hello::table_entry entry;
    bool joined = false;
    unique_fd fd; ///< kept open until the table goes out
  };

  /// Hands each connection to admit() until stopped.
  task<void> accept_loop(task_scope& scope) {
    try {
      for (;;) {
        co_await fd_wait{m_worker->engine(), m_socket.get(), EPOLLIN};
        for (;;) {
          unique_fd fd(::accept4(m_socket.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
          if (!fd)
            break;
          scope.spawn(admit(std::move(fd)));
        }
      }
    } catch (const std::system_error& e) {
      if (e.code() != std::errc::operation_canceled)
        throw;
    }
  }

  /// One connection: a valid join takes its slot, anything else is refused.
  task<void> admit(unique_fd fd) {
    progress_engine& engine = m_worker->engine();
    const std::string what = "rendezvous root";
    const hello::message join = co_await with_timeout(read_hello(engine, fd.get(), what), m_timeout);
    auto refuse = [&](hello::reject_reason reason, std::string text) -> task<void> {
      co_await write_hello(engine, fd.get(), make_reject(reason, text));
      throw ucx_error(reason == hello::reject_reason::bad_token ? std::make_error_code(std::errc::permission_denied)
                                                                : std::make_error_code(std::errc::invalid_argument),
                      what + ": refused: " + text);
    };
    if (join.type != hello::kind::join)
      co_await refuse(hello::reject_reason::internal, "expected a join");
    if (!same_token(m_job, join.token))
      co_await refuse(hello::reject_reason::bad_token, "the job token differs (another job's rank?)");
    if (join.size != m_size)
      co_await refuse(hello::reject_reason::bad_rank, "this job has " + std::to_string(m_size) + " ranks, the joiner says " +
                                                          std::to_string(join.size));
    if (join.rank == 0 || m_slots[join.rank].joined)
      co_await refuse(hello::reject_reason::bad_rank, "rank " + std::to_string(join.rank) + " is taken");
    slot& s = m_slots[join.rank];
    s.entry = {join.identity, join.flags, join.host, join.worker_address};
    s.joined = true;
    s.fd = std::move(fd);
    if (++m_joined == m_size)
      m_all_joined->set();
  }

  worker* m_worker;
  unique_fd m_socket;
  std::uint16_t m_port = 0;
  std::uint32_t m_size = 0;
  std::string m_job;
  std::vector<slot> m_slots;
  std::uint32_t m_joined = 0;
  std::size_t m_rejected = 0;
  std::chrono::milliseconds m_timeout{0};
  event* m_all_joined = nullptr;
};

/// Rank `rank`'s side: connects to the root (retrying while nothing listens
/// yet: ranks start in any order), joins, and returns the table.
/// `self` is what the others need of this rank (local_table_entry(w)).
inline task<std::vector<hello::table_entry>> rendezvous_join(worker& w, std::string root_host, std::uint16_t root_port,
                                                             std::uint32_t rank, std::uint32_t size, std::string job,
                                                             hello::table_entry self,
                                                             std::chrono::milliseconds timeout) {
  const std::string what = "rendezvous with root " + root_host + ":" + std::to_string(root_port) + " as rank " +
                           std::to_string(rank) + " of " + std::to_string(size);
  if (size == 0 || size > hello::max_ranks || rank == 0 || rank >= size)
    throw_invalid_argument(what + ": rank out of range (rank 0 is the root)");
  hello::message join;
  join.type = hello::kind::join;
  join.identity = self.identity;
  join.flags = self.flags;
  join.host = self.host;
  join.worker_address = self.worker_address;
  join.rank = rank;
  join.size = size;
  join.token = job;
  const socket_address address = resolve(root_host, root_port, what);
  bool refused = false; // the root said why: its reason stands, even a timeout's
  auto exchange = [&]() -> task<std::vector<hello::table_entry>> {
    unique_fd fd;
    for (;;) { // bounded by the timeout below
      auto connected = co_await as_result(connect_socket(w.engine(), address, what));
      if (connected) {
        fd = std::move(connected.value);
        break;
      }
      if (connected.error != std::errc::connection_refused)
        throw ucx_error(connected.error, what + ": " + connected.error.message());
      co_await w.sleep(std::chrono::milliseconds(20)); // the root is not listening yet
    }
    co_await write_hello(w.engine(), fd.get(), join);
    hello::message reply = co_await read_hello(w.engine(), fd.get(), what);
    refused = reply.type == hello::kind::reject;
    if (refused)
      throw ucx_error(reply.reason == hello::reject_reason::bad_token ? std::make_error_code(std::errc::permission_denied)
                      : reply.reason == hello::reject_reason::timed_out ? std::make_error_code(std::errc::timed_out)
                                                                         : std::make_error_code(std::errc::invalid_argument),
                      what + ": the root refused: " + reply.reason_text);
    if (reply.type != hello::kind::table || reply.size != size || reply.table.size() != size)
      throw ucx_error(make_error_code(errc::handshake_failed), what + ": the root's answer is not this job's table");
    co_return std::move(reply.table);
  };
  // Awaited outside the try, then returned: GCC 12 mishandles a co_return
  // of a co_await inside one.
  // The root's own timeout names the missing ranks: wait a little longer
  // than it, so that its verdict, not ours, reaches the user.
  const auto bound = timeout + std::max<std::chrono::milliseconds>(std::chrono::seconds(1), timeout / 10);
  std::optional<std::vector<hello::table_entry>> table;
  try {
    table.emplace(co_await with_timeout(exchange(), bound));
  } catch (const std::system_error& e) {
    if (e.code() != std::errc::timed_out || refused)
      throw;
    throw ucx_error(e.code(), what + ": no table within " + format_duration(bound));
  }
  co_return std::move(*table);
}

} // namespace ucoro::detail
