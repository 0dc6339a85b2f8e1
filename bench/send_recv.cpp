// send_recv: UCX-Py's send_recv benchmark in C++, with its references run in
// the same invocation.
//
// Two processes on loopback (this program starts its own server unless
// --server / --client are given): ping-pong latency and unidirectional
// bandwidth per message size, for ucoro, for ucx_perftest (tag_lat / tag_bw
// with the same UCX_TLS, sizes, iterations, warm-up and window: -O) and for
// plain TCP sockets. Reports p25/p50/p75 and averages, message rate, and
// ucoro / ucx_perftest.
//
// Like for like (what a user gets, as ucx_perftest gets it): every run
// starts cold, as each ucx_perftest run is a fresh process: a fresh client
// context, worker, endpoint and buffers (the server's buffers are fresh per
// test too), and the bandwidth test runs before the latency test. Buffers
// are a user's std::vector by default (--buffer host_memory: ucoro's
// page-aligned, huge-page-advised memory). The "first N" figures are cold
// bandwidth over a run of just N messages with no warm-up (--first 100,400),
// against ucx_perftest -n N -w 0.
//
//   send_recv [--sizes 8,4K,1M | --sizes 8:16M] [--iters N] [--warmup N]
//             [--buffer vector|host_memory] [--first 100,400 | --first none]
//             [--polling] [--tls LIST] [--error-handling automatic,peer,none]
//             [--no-reuse] [--heartbeat MS] [--memory host] [--completion automatic|fast|standard] [--cpu-client N] [--cpu-server N]
//             [--repeat N] [--parts N] [--json FILE] [--plot FILE.png] [--no-perftest] [--no-tcp] [--quick]
//   --parts N: also send_many of a 16-byte header and N parts of size/N (each its own buffer)
//             per message, against the single send of the same bytes (time ratio)
//   send_recv --server [--port P] [same transport options]
//   send_recv --client HOST:P:TCPPORT [options]

#include <ucoro/host_memory.hpp>
#include <ucoro/ucoro.hpp>

#include "args.hpp"
#include "perftest.hpp"
#include "process.hpp"
#include "report.hpp"
#include "socket_util.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <numeric>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

using bench::free_port;
using bench::max_of;
using bench::median;
using bench::min_of;
using bench::perftest_result;
using bench::quantile;
using bench::read_all;
using bench::write_all;

// ---- options -----------------------------------------------------------------------

/// What the benchmark sends from and receives into.
enum class buffer_kind { vector, host_memory };

struct options {
  enum { launcher, server, client } role = launcher;
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::uint16_t tcp_port = 0;
  std::vector<std::size_t> sizes{8, 4096, 65536, 1 << 20, 16 << 20};
  std::size_t iters = 0;  // 0: by size
  std::size_t warmup = 0; // 0: a tenth of iters
  buffer_kind buffer = buffer_kind::vector;
  std::vector<std::size_t> first{100, 400}; // cold runs of N messages, no warm-up
  ucoro::progress_mode mode = ucoro::progress_mode::polling;
  std::string tls; // empty: UCX's default
  std::vector<std::string> error_modes{"automatic"};
  bool reuse = true;
  ucoro::send_completion completion = ucoro::send_completion::automatic;
  int cpu_client = -1;
  int cpu_server = -1;
  std::string json;
  std::string plot;
  bool perftest = true;
  bool tcp = true;
  bool quick = false;
  bool status = true;
  std::size_t repeat = 3; // alternating ucoro / ucx_perftest runs per size
  long heartbeat_ms = 0;   // endpoint_options::heartbeat.interval on both sides; 0: off (a loopback peer's default)
  std::size_t parts = 0;   // --parts N: also send_many of a header and N parts per message (0: off)
};

std::size_t parse_size(const std::string& text) {
  std::size_t pos = 0;
  const double value = std::stod(text, &pos);
  std::string unit = text.substr(pos);
  std::transform(unit.begin(), unit.end(), unit.begin(), ::tolower);
  double scale = 1;
  if (unit == "k" || unit == "kb" || unit == "kib")
    scale = 1024;
  else if (unit == "m" || unit == "mb" || unit == "mib")
    scale = 1024.0 * 1024;
  else if (unit == "g" || unit == "gb" || unit == "gib")
    scale = 1024.0 * 1024 * 1024;
  else if (!unit.empty())
    throw std::invalid_argument("unknown size unit in '" + text + "'");
  return static_cast<std::size_t>(value * scale);
}

std::vector<std::size_t> parse_sizes(const std::string& text) {
  std::vector<std::size_t> out;
  if (auto colon = text.find(':'); colon != std::string::npos) {
    // A range: every power of 4 (times the start) from start to end.
    std::size_t size = std::max<std::size_t>(1, parse_size(text.substr(0, colon)));
    const std::size_t end = parse_size(text.substr(colon + 1));
    for (; size <= end; size *= 4)
      out.push_back(size);
    return out;
  }
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');)
    out.push_back(parse_size(item));
  return out;
}


std::string format_size(std::size_t size) {
  char buf[32];
  if (size >= (1U << 20) && size % (1U << 20) == 0)
    std::snprintf(buf, sizeof buf, "%zu MiB", size >> 20);
  else if (size >= 1024 && size % 1024 == 0)
    std::snprintf(buf, sizeof buf, "%zu KiB", size >> 10);
  else
    std::snprintf(buf, sizeof buf, "%zu B", size);
  return buf;
}

/// Iterations by size: enough for stable medians, a fraction of a second each.
std::size_t auto_iters(std::size_t size, bool bandwidth, bool quick) {
  std::size_t n;
  if (size <= 4096)
    n = bandwidth ? 200000 : 20000;
  else if (size <= 65536)
    n = bandwidth ? 20000 : 5000;
  else if (size <= (1U << 20))
    n = bandwidth ? 2000 : 1000;
  else
    n = bandwidth ? 200 : 100;
  return quick ? std::max<std::size_t>(n / 50, 20) : n;
}

std::size_t window_for(std::size_t size) { return size >= (1U << 20) ? 16 : 64; }

const char* completion_name(ucoro::send_completion c) {
  switch (c) {
  case ucoro::send_completion::fast: return "fast";
  case ucoro::send_completion::standard: return "standard";
  case ucoro::send_completion::automatic: return "automatic";
  }
  return "?";
}

void pin(int cpu) {
  if (cpu < 0)
    return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0)
    std::fprintf(stderr, "send_recv: cannot pin to CPU %d\n", cpu);
}

// ---- statistics -----------------------------------------------------------------------

struct row {
  std::string system; // ucoro, ucx_perftest, tcp
  std::string errors; // none / peer ("-" for tcp)
  std::size_t size = 0;
  std::size_t lat_iters = 0, bw_iters = 0;
  double lat_p25 = NAN, lat_p50 = NAN, lat_p75 = NAN, lat_avg = NAN;  // us, one-way
  double bw_p25 = NAN, bw_p50 = NAN, bw_p75 = NAN, bw_overall = NAN; // GB/s (1e9)
  double msg_rate = NAN;                                              // million messages/s
  double lat_ratio = NAN, bw_ratio = NAN;                             // ucoro / ucx_perftest, median of runs
  double lat_ratio_min = NAN, lat_ratio_max = NAN, bw_ratio_min = NAN, bw_ratio_max = NAN;
  std::size_t runs = 1;
  /// Cold bandwidth over the first N messages (GB/s, median of runs), and
  /// ucoro / ucx_perftest: median, min, max over runs.
  std::map<std::size_t, double> first_gbps{};
  std::map<std::size_t, std::array<double, 3>> first_ratio{};
  /// --parts: send_many of a 16-byte header and the parts, GB/s of the
  /// parts (median run), and its time over the single send's: median, min,
  /// max over runs.
  double many_gbps = NAN;
  std::array<double, 3> many_ratio{NAN, NAN, NAN};
};

void fill_latency(row& r, const std::vector<double>& one_way_us) {
  r.lat_p25 = quantile(one_way_us, 0.25);
  r.lat_p50 = quantile(one_way_us, 0.50);
  r.lat_p75 = quantile(one_way_us, 0.75);
  r.lat_avg = std::accumulate(one_way_us.begin(), one_way_us.end(), 0.0) / static_cast<double>(one_way_us.size());
}

/// The batches of `count` messages with at most `window` in flight: full
/// windows, the last one shorter if need be. Client and server walk the
/// same schedule (warm-up first, then the measured messages).
std::vector<std::size_t> batch_schedule(std::size_t count, std::size_t window) {
  std::vector<std::size_t> out;
  for (std::size_t left = count; left > 0; left -= std::min(left, window))
    out.push_back(std::min(left, window));
  return out;
}

/// One bandwidth run as the server timed it: each measured batch's seconds
/// and message count, and the whole run from the server's "ready" to its
/// last receive (warm-up included: what a cold run of N messages is).
struct bandwidth_run {
  std::vector<double> batch_seconds;
  std::vector<std::size_t> batch_messages;
  double total_seconds = 0;
  std::size_t total_messages = 0;
};

void fill_bandwidth(row& r, const std::vector<double>& batch_seconds, const std::vector<std::size_t>& batch_messages) {
  std::vector<double> gbps;
  double total = 0, messages = 0;
  for (std::size_t i = 0; i < batch_seconds.size(); ++i) {
    const double n = static_cast<double>(batch_messages[i % batch_messages.size()]);
    gbps.push_back(n * static_cast<double>(r.size) / batch_seconds[i] / 1e9);
    total += batch_seconds[i];
    messages += n;
  }
  r.bw_p25 = quantile(gbps, 0.25);
  r.bw_p50 = quantile(gbps, 0.50);
  r.bw_p75 = quantile(gbps, 0.75);
  r.bw_overall = messages * static_cast<double>(r.size) / total / 1e9;
  r.msg_rate = messages / total / 1e6;
}

// ---- the ucoro server and client --------------------------------------------------------

struct command {
  enum kind_type : std::uint32_t { latency = 1, bandwidth = 2, quit = 3 };
  std::uint32_t kind = 0;
  std::uint32_t reuse = 1;
  std::uint64_t size = 0;
  std::uint64_t iters = 0;
  std::uint64_t warmup = 0;
  std::uint64_t window = 0;
  std::uint64_t parts = 0; ///< bandwidth: each message a send_many of a 16-byte header and this many parts
};

/// A test's buffer, fresh per test and filled when made (first touch is not
/// the benchmark; ucx_perftest fills its buffers too): a user's
/// std::vector, or ucoro's host_memory (page-aligned, huge-page-advised
/// when large).
class test_buffer {
public:
  test_buffer() = default;
  test_buffer(buffer_kind kind, std::size_t size) {
    if (kind == buffer_kind::vector)
      m_vector.assign(size, std::byte{0x5A});
    else
      m_memory = ucoro::host_memory(size, std::byte{0x5A});
  }
  [[nodiscard]] std::span<std::byte> bytes() noexcept {
    return m_vector.empty() ? std::span<std::byte>(m_memory.data(), m_memory.size()) : std::span<std::byte>(m_vector);
  }
  [[nodiscard]] std::byte* data() noexcept { return bytes().data(); }

private:
  std::vector<std::byte> m_vector;
  ucoro::host_memory m_memory;
};

const char* to_string(buffer_kind k) { return k == buffer_kind::vector ? "vector" : "host_memory"; }

/// The parts of a send_many message of `size` bytes in `parts` parts, each
/// its own allocation (a table's columns): size / parts bytes each, the
/// remainder in the last.
struct message_parts {
  std::array<std::uint64_t, 2> header{};
  std::vector<test_buffer> columns;
  std::vector<std::span<std::byte>> spans;
  message_parts(buffer_kind kind, std::size_t size, std::size_t parts) {
    columns.reserve(parts);
    for (std::size_t i = 0; i < parts; ++i)
      columns.emplace_back(kind, size / parts + (i + 1 == parts ? size % parts : 0));
    for (auto& c : columns)
      spans.push_back(c.bytes());
  }
};

/// Receives one batch of `n` messages of `size` into `into` (or, without
/// reuse, each into a fresh vector).
ucoro::task<void> receive_batch(ucoro::endpoint& ep, test_buffer& into, std::size_t size, std::size_t n, bool reuse) {
  std::vector<ucoro::task<std::size_t>> recvs;
  recvs.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    recvs.push_back([](ucoro::endpoint& e, test_buffer& buf, std::size_t bytes, bool reuse) -> ucoro::task<std::size_t> {
      if (!reuse) {
        std::vector<std::byte> fresh(bytes);
        co_return co_await e.recv(fresh, bytes);
      }
      co_return co_await e.recv(buf.bytes(), bytes);
    }(ep, into, size, reuse));
  (void)co_await ucoro::when_all(std::move(recvs));
}

/// Receives one batch of `n` send_many messages into `into` (the windows'
/// recv_many calls overlap, as the single receives do).
ucoro::task<void> receive_batch_many(ucoro::endpoint& ep, message_parts& into, std::size_t n) {
  std::vector<ucoro::task<void>> recvs;
  recvs.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    recvs.push_back([](ucoro::endpoint& e, message_parts& m) -> ucoro::task<void> {
      std::vector<std::span<std::byte>> parts{std::as_writable_bytes(std::span(m.header))};
      parts.insert(parts.end(), m.spans.begin(), m.spans.end());
      (void)co_await e.recv_many(parts);
    }(ep, into));
  co_await ucoro::when_all(std::move(recvs));
}

/// Serves one client endpoint until it closes (each run of the client is a
/// fresh worker and endpoint) or says quit (then `quit` is set).
ucoro::task<void> serve(ucoro::worker& w, ucoro::endpoint ep, buffer_kind kind, bool& quit) {
  const ucoro::progress_mode test_mode = w.mode();
  for (;;) {
    command cmd;
    // Sleep between tests: a spinning server would steal a core from the
    // ucx_perftest and tcp references running meanwhile.
    w.set_mode(ucoro::progress_mode::blocking);
    auto got = co_await ucoro::as_result(ep.recv(ucoro::as_writable_bytes(&cmd, sizeof cmd)));
    w.set_mode(test_mode);
    if (!got)
      co_return; // the client's run is over: it closed this endpoint
    if (cmd.kind == command::quit)
      break;
    if (cmd.kind == command::latency) {
      // Separate receive and send buffers, as ucx_perftest has: reusing one
      // for both directions makes every CMA read pull lines the other core
      // has just dirtied (measured: 1 MiB one-way 83 us instead of 32 us).
      test_buffer buf(kind, cmd.size), out(kind, cmd.size);
      for (std::uint64_t i = 0; i < cmd.warmup + cmd.iters; ++i) {
        if (!cmd.reuse) {
          std::vector<std::byte> fresh(cmd.size);
          (void)co_await ep.recv(fresh, cmd.size);
          co_await ep.send(fresh, cmd.size);
          continue;
        }
        (void)co_await ep.recv(buf.bytes(), cmd.size);
        co_await ep.send(out.bytes(), cmd.size);
      }
    } else {
      test_buffer buf(kind, cmd.parts == 0 ? cmd.size : 0); // before "ready": its allocation is not timed
      message_parts many(kind, cmd.size, cmd.parts);
      const auto warm = batch_schedule(cmd.warmup, cmd.window), measured = batch_schedule(cmd.iters, cmd.window);
      std::vector<double> seconds;
      seconds.reserve(measured.size() + 1);
      const std::uint64_t ready = 1;
      co_await ep.send(ucoro::as_bytes(&ready, sizeof ready));
      const auto start = clock_type::now();
      auto last = start;
      for (std::size_t b = 0; b < warm.size() + measured.size(); ++b) {
        const std::size_t n = b < warm.size() ? warm[b] : measured[b - warm.size()];
        if (cmd.parts != 0)
          co_await receive_batch_many(ep, many, n);
        else
          co_await receive_batch(ep, buf, cmd.size, n, cmd.reuse != 0);
        const auto now = clock_type::now();
        if (b >= warm.size())
          seconds.push_back(std::chrono::duration<double>(now - last).count());
        last = now;
      }
      seconds.push_back(std::chrono::duration<double>(last - start).count()); // the whole run, last
      co_await ep.send_obj(seconds);
    }
  }
  quit = true;
  co_await ep.close();
}

ucoro::task<std::vector<double>> client_latency(ucoro::endpoint& ep, buffer_kind kind, std::size_t size,
                                                std::size_t iters, std::size_t warmup, bool reuse) {
  command cmd{command::latency, reuse ? 1U : 0U, size, iters, warmup, 0};
  co_await ep.send(ucoro::as_bytes(&cmd, sizeof cmd));
  test_buffer buf(kind, size), in(kind, size); // separate, as in serve()
  std::vector<double> one_way;
  one_way.reserve(iters);
  // One clock read per round trip (the previous iteration's end is this
  // one's start), like ucx_perftest: the timer is not the benchmark.
  auto t0 = clock_type::now();
  for (std::size_t i = 0; i < warmup + iters; ++i) {
    if (!reuse) {
      // A fresh buffer each time, first touch included: what --no-reuse measures.
      std::vector<std::byte> fresh(size);
      co_await ep.send(fresh, size);
      (void)co_await ep.recv(fresh, size);
    } else {
      co_await ep.send(buf.bytes(), size);
      (void)co_await ep.recv(in.bytes(), size);
    }
    const auto t1 = clock_type::now();
    if (i >= warmup)
      one_way.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / 2);
    t0 = t1;
  }
  co_return one_way;
}

ucoro::task<bandwidth_run> client_bandwidth(ucoro::endpoint& ep, buffer_kind kind, std::size_t size,
                                            std::size_t iters, std::size_t warmup, std::size_t window, bool reuse,
                                            std::size_t parts = 0) {
  command cmd{command::bandwidth, reuse ? 1U : 0U, size, iters, warmup, window, parts};
  test_buffer buf(kind, parts == 0 ? size : 0); // fresh, and made before the run starts
  message_parts many(kind, size, parts);
  many.header = {parts, size};
  co_await ep.send(ucoro::as_bytes(&cmd, sizeof cmd));
  std::uint64_t ready = 0;
  (void)co_await ep.recv(ucoro::as_writable_bytes(&ready, sizeof ready));
  const auto warm = batch_schedule(warmup, window);
  auto schedule = batch_schedule(iters, window);
  bandwidth_run run;
  run.batch_messages = schedule;
  run.total_messages = warmup + iters;
  schedule.insert(schedule.begin(), warm.begin(), warm.end());
  for (const std::size_t n : schedule) {
    std::vector<ucoro::task<void>> sends;
    sends.reserve(n);
    if (parts != 0) {
      for (std::size_t i = 0; i < n; ++i)
        sends.push_back([](ucoro::endpoint& e, message_parts& m) -> ucoro::task<void> {
          std::vector<std::span<const std::byte>> all{std::as_bytes(std::span(m.header))};
          all.insert(all.end(), m.spans.begin(), m.spans.end());
          co_await e.send_many(all);
        }(ep, many));
      co_await ucoro::when_all(std::move(sends));
      continue;
    }
    for (std::size_t i = 0; i < n; ++i)
      sends.push_back([](ucoro::endpoint& e, test_buffer& from, std::size_t bytes, bool reuse_buffer) -> ucoro::task<void> {
        if (!reuse_buffer) {
          const std::vector<std::byte> fresh(bytes);
          co_await e.send(fresh, bytes);
          co_return;
        }
        co_await e.send(from.bytes(), bytes);
      }(ep, buf, size, reuse));
    co_await ucoro::when_all(std::move(sends));
  }
  auto reply = co_await ep.recv_obj();
  std::vector<double> seconds(reply.size() / sizeof(double));
  std::memcpy(seconds.data(), reply.data(), seconds.size() * sizeof(double));
  run.total_seconds = seconds.back();
  seconds.pop_back();
  run.batch_seconds = std::move(seconds);
  co_return run;
}

// ---- plain TCP baseline -------------------------------------------------------------------





void tcp_serve(int listen_fd, buffer_kind kind) {
  const int fd = ::accept(listen_fd, nullptr, nullptr);
  ::close(listen_fd);
  if (fd < 0)
    return;
  bench::no_delay(fd);
  command cmd;
  while (read_all(fd, &cmd, sizeof cmd) && cmd.kind != command::quit) {
    test_buffer buf(kind, cmd.size), out(kind, cmd.size); // as ucoro's: fresh per test
    if (cmd.kind == command::latency) {
      for (std::uint64_t i = 0; i < cmd.warmup + cmd.iters; ++i)
        if (!read_all(fd, buf.data(), cmd.size) || !write_all(fd, out.data(), cmd.size))
          break;
    } else {
      auto schedule = batch_schedule(cmd.warmup, cmd.window);
      const std::size_t warm_batches = schedule.size();
      const auto measured = batch_schedule(cmd.iters, cmd.window);
      schedule.insert(schedule.end(), measured.begin(), measured.end());
      std::vector<double> seconds;
      auto last = clock_type::now();
      for (std::size_t b = 0; b < schedule.size(); ++b) {
        for (std::size_t i = 0; i < schedule[b]; ++i)
          (void)read_all(fd, buf.data(), cmd.size);
        const auto now = clock_type::now();
        if (b >= warm_batches)
          seconds.push_back(std::chrono::duration<double>(now - last).count());
        last = now;
      }
      const std::uint64_t n = seconds.size();
      write_all(fd, &n, sizeof n);
      write_all(fd, seconds.data(), n * sizeof(double));
    }
  }
  ::close(fd);
}

int tcp_connect(const std::string& host, std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &in.sin_addr) != 1 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&in), sizeof in) != 0)
    throw std::runtime_error("tcp baseline: cannot connect to " + host + ":" + std::to_string(port));
  bench::no_delay(fd);
  return fd;
}

std::vector<double> tcp_latency(int fd, buffer_kind kind, std::size_t size, std::size_t iters, std::size_t warmup) {
  command cmd{command::latency, 1, size, iters, warmup, 0};
  write_all(fd, &cmd, sizeof cmd);
  test_buffer buf(kind, size), in(kind, size);
  std::vector<double> one_way;
  for (std::size_t i = 0; i < warmup + iters; ++i) {
    const auto t0 = clock_type::now();
    write_all(fd, buf.data(), size);
    read_all(fd, in.data(), size);
    if (i >= warmup)
      one_way.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count() / 2);
  }
  return one_way;
}

std::vector<double> tcp_bandwidth(int fd, buffer_kind kind, std::size_t size, std::size_t iters, std::size_t warmup,
                                  std::size_t window) {
  command cmd{command::bandwidth, 1, size, iters, warmup, window};
  write_all(fd, &cmd, sizeof cmd);
  test_buffer buf(kind, size);
  for (std::size_t i = 0; i < warmup + iters; ++i)
    write_all(fd, buf.data(), size);
  std::uint64_t n = 0;
  read_all(fd, &n, sizeof n);
  std::vector<double> seconds(n);
  read_all(fd, seconds.data(), n * sizeof(double));
  return seconds;
}

// ---- ucx_perftest reference ---------------------------------------------------------------


std::optional<perftest_result> run_perftest(const options& o, const std::string& test, std::size_t size,
                                            std::size_t iters, std::size_t warmup, bool peer, std::size_t window = 0) {
  return bench::run_perftest({o.mode == ucoro::progress_mode::blocking, peer, o.cpu_server, o.cpu_client}, test, size,
                             iters, warmup, window);
}

/// Runs a reference (ucx_perftest, plain tcp) while this worker keeps
/// answering the server's heartbeats: with --heartbeat 100 a second-long
/// reference run left the endpoint silent past its deadline. The worker
/// sleeps meanwhile (blocking mode), so the reference has the core.
template <class Reference>
auto while_worker_answers(ucoro::worker* worker, Reference reference) {
  if (worker == nullptr) // no endpoint open: nothing to answer
    return reference();
  ucoro::worker& w = *worker;
  auto outcome = std::async(std::launch::async, std::move(reference));
  const ucoro::progress_mode mode = w.mode();
  w.set_mode(ucoro::progress_mode::blocking);
  w.run([](ucoro::worker& wk, decltype(outcome)& pending) -> ucoro::task<void> {
    while (pending.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
      co_await wk.sleep(std::chrono::milliseconds(20));
  }(w, outcome));
  w.set_mode(mode);
  return outcome.get();
}

// ---- output ----------------------------------------------------------------------------

std::string num(double v, int precision = 2) {
  if (std::isnan(v))
    return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", precision, v);
  return buf;
}

void print_table(const std::vector<row>& rows, const options& o) {
  std::printf("\nsend_recv: two processes on 127.0.0.1, UCX_TLS=%s, %s progress, %s %s buffers, %s send completion; "
              "every run on a fresh client worker, bandwidth before latency\n",
              o.tls.empty() ? "(default)" : o.tls.c_str(),
              o.mode == ucoro::progress_mode::polling ? "polling" : "blocking", o.reuse ? "reused" : "fresh",
              to_string(o.buffer), completion_name(o.completion));
  std::printf("latency: one-way (round trip / 2), us; bandwidth: unidirectional, GB/s = 1e9 B/s; %zu alternating runs per "
              "size: percentiles pooled, 'bw all' and ucx_perftest figures the median run; ratio: ucoro / ucx_perftest "
              "(same error handling), median [min-max] over runs\n\n",
              o.repeat);
  std::printf("%-9s %-13s %-5s %7s %8s %8s %8s %8s | %7s %7s %7s %7s %8s | %-19s %-19s\n", "size", "system", "errh",
              "iters", "lat p25", "lat p50", "lat p75", "lat avg", "bw p25", "bw p50", "bw p75", "bw all", "Mmsg/s",
              "lat ratio [min-max]", "bw ratio [min-max]");
  std::size_t last = 0;
  for (const auto& r : rows) {
    if (r.size != last && last != 0)
      std::printf("\n");
    last = r.size;
    auto ratio = [](double mid, double lo, double hi) {
      return std::isnan(mid) ? std::string("-") : num(mid, 2) + " [" + num(lo, 2) + "-" + num(hi, 2) + "]";
    };
    std::printf("%-9s %-13s %-5s %7zu %8s %8s %8s %8s | %7s %7s %7s %7s %8s | %-19s %-19s\n", format_size(r.size).c_str(),
                r.system.c_str(), r.errors.c_str(), r.lat_iters, num(r.lat_p25).c_str(), num(r.lat_p50).c_str(),
                num(r.lat_p75).c_str(), num(r.lat_avg).c_str(), num(r.bw_p25).c_str(), num(r.bw_p50).c_str(),
                num(r.bw_p75).c_str(), num(r.bw_overall).c_str(), num(r.msg_rate, 3).c_str(),
                ratio(r.lat_ratio, r.lat_ratio_min, r.lat_ratio_max).c_str(),
                ratio(r.bw_ratio, r.bw_ratio_min, r.bw_ratio_max).c_str());
  }
  if (!o.first.empty()) {
    std::printf("\ncold start: GB/s over a run of just the first N messages, no warm-up: ucoro on a fresh client "
                "worker, endpoint and buffers (timed by the server from its ready message to its last receive), "
                "ucx_perftest a fresh process (-n N -w 0, same -O window); median of %zu runs; ratio: ucoro / "
                "ucx_perftest, median [min-max]\n\n",
                o.repeat);
    std::printf("%-9s %-13s %-5s", "size", "system", "errh");
    for (std::size_t n : o.first)
      std::printf(" | %9s %-19s", ("first " + std::to_string(n)).c_str(), "ratio [min-max]");
    std::printf("\n");
    for (const auto& r : rows) {
      if (r.first_gbps.empty())
        continue;
      std::printf("%-9s %-13s %-5s", format_size(r.size).c_str(), r.system.c_str(), r.errors.c_str());
      for (std::size_t n : o.first) {
        const auto g = r.first_gbps.find(n);
        const auto q = r.first_ratio.find(n);
        std::printf(" | %9s %-19s", num(g == r.first_gbps.end() ? NAN : g->second, 3).c_str(),
                    q == r.first_ratio.end() ? "" : (num(q->second[0]) + " [" + num(q->second[1]) + "-" +
                                                     num(q->second[2]) + "]").c_str());
      }
      std::printf("\n");
    }
  }
  if (o.parts != 0) {
    std::printf("\nsend_many: each message a 16-byte header and %zu parts (each its own %s) in one send_many, against "
                "one send of the same bytes in one buffer (the ucoro rows above), same window and warm-up, each run on "
                "a fresh worker, the two alternating; GB/s of the parts (median run); time ratio: send_many / send, "
                "median [min-max] over %zu runs\n\n",
                o.parts, to_string(o.buffer), o.repeat);
    std::printf("%-9s %-5s %9s %9s %-19s\n", "size", "errh", "send", "send_many", "time ratio [min-max]");
    for (const auto& r : rows) {
      if (r.system != "ucoro" || std::isnan(r.many_gbps))
        continue;
      std::printf("%-9s %-5s %9s %9s %-19s\n", format_size(r.size).c_str(), r.errors.c_str(), num(r.bw_overall).c_str(),
                  num(r.many_gbps).c_str(),
                  (num(r.many_ratio[0]) + " [" + num(r.many_ratio[1]) + "-" + num(r.many_ratio[2]) + "]").c_str());
    }
  }
  std::fflush(stdout);
}

/// {"100": {...}, "400": {...}} for the first-N figures.
nlohmann::json json_first(const row& r) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [n, g] : r.first_gbps) {
    nlohmann::json& at = out[std::to_string(n)];
    at["gbps"] = g;
    if (const auto q = r.first_ratio.find(n); q != r.first_ratio.end()) {
      at["ratio"] = q->second[0];
      at["ratio_range"] = {q->second[1], q->second[2]};
    }
  }
  return out;
}

void write_json(const std::vector<row>& rows, const options& o) {
  nlohmann::json out = {{"benchmark", "send_recv"},
                        {"ucx_version", std::to_string(UCP_API_MAJOR) + "." + std::to_string(UCP_API_MINOR)},
                        {"tls", o.tls.empty() ? "default" : o.tls},
                        {"progress", o.mode == ucoro::progress_mode::polling ? "polling" : "blocking"},
                        {"reuse", o.reuse},
                        {"buffer", to_string(o.buffer)},
                        {"rows", nlohmann::json::array()}};
  for (const auto& r : rows)
    out["rows"].push_back({{"system", r.system},
                           {"error_handling", r.errors},
                           {"size", r.size},
                           {"latency_iterations", r.lat_iters},
                           {"bandwidth_iterations", r.bw_iters},
                           {"latency_us", {{"p25", r.lat_p25}, {"p50", r.lat_p50}, {"p75", r.lat_p75}, {"avg", r.lat_avg}}},
                           {"bandwidth_gbps",
                            {{"p25", r.bw_p25}, {"p50", r.bw_p50}, {"p75", r.bw_p75}, {"overall", r.bw_overall}}},
                           {"message_rate_mps", r.msg_rate},
                           {"latency_ratio", r.lat_ratio},
                           {"bandwidth_ratio", r.bw_ratio},
                           {"latency_ratio_range", {r.lat_ratio_min, r.lat_ratio_max}},
                           {"bandwidth_ratio_range", {r.bw_ratio_min, r.bw_ratio_max}},
                           {"first", json_first(r)},
                           {"runs", r.runs}});
  for (std::size_t i = 0; i < rows.size(); ++i)
    if (!std::isnan(rows[i].many_gbps))
      out["rows"][i]["send_many"] = {{"parts", o.parts},
                                     {"gbps", rows[i].many_gbps},
                                     {"time_ratio", rows[i].many_ratio[0]},
                                     {"time_ratio_range", {rows[i].many_ratio[1], rows[i].many_ratio[2]}}};
  bench::write_json_file(o.json, out);
}

void write_plot(const std::vector<row>& rows, const options& o) {
  // One series per (system, error handling): bandwidth overall and latency p50 by size.
  std::map<std::string, std::pair<bench::plot_series, bench::plot_series>> series;
  for (const auto& r : rows) {
    const std::string name = r.system + (r.errors == "-" ? "" : " (errh " + r.errors + ")");
    auto& [bw, lat] = series[name];
    bw.name = lat.name = name;
    bw.points.emplace_back(r.size, std::isnan(r.bw_overall) ? 0 : r.bw_overall);
    lat.points.emplace_back(r.size, std::isnan(r.lat_p50) ? 0 : r.lat_p50);
  }
  bench::plot_panel bandwidth{"Bandwidth", "message size (bytes)", "bandwidth (GB/s)", {}};
  bench::plot_panel latency{"Latency", "message size (bytes)", "one-way latency p50 (us)", {}};
  for (auto& [name, pair] : series) {
    bandwidth.series.push_back(std::move(pair.first));
    latency.series.push_back(std::move(pair.second));
  }
  (void)bench::write_png(o.plot,
                         "send_recv, two processes on loopback, UCX_TLS=" + (o.tls.empty() ? std::string("default") : o.tls),
                         {bandwidth, latency}, "send_recv");
}

void status(const options& o, const std::string& text) {
  if (!o.status)
    return;
  std::fprintf(stderr, "\r\033[K%s", text.c_str());
  std::fflush(stderr);
}

// ---- roles ---------------------------------------------------------------------------

std::map<std::string, std::string> ucx_config(const options& o) {
  std::map<std::string, std::string> m;
  if (!o.tls.empty())
    m["TLS"] = o.tls;
  return m;
}

int run_server(const options& o) {
  // A launcher killed mid-run must not leave this server spinning a core
  // (it would skew every later measurement on this 2-core machine).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  pin(o.cpu_server);
  ucoro::context ctx{ucx_config(o)};
  ucoro::worker w{ctx, o.mode};
  std::uint16_t tcp_port = 0;
  std::thread tcp_thread;
  if (o.tcp) {
    const int tcp_fd = bench::listen_loopback(tcp_port);
    tcp_thread = std::thread{[tcp_fd, kind = o.buffer] { tcp_serve(tcp_fd, kind); }};
  }
  ucoro::event finished{w};
  ucoro::listener_options lo;
  lo.bind_address = "127.0.0.1";
  lo.endpoint.error_handling = ucoro::parse_error_handling(o.error_modes[0]);
  lo.endpoint.completion = o.completion;
  lo.endpoint.heartbeat.interval = std::chrono::milliseconds(o.heartbeat_ms);
  auto lf = w.create_listener(
      [&](ucoro::endpoint ep) -> ucoro::task<void> {
        bool quit = false;
        co_await serve(w, std::move(ep), o.buffer, quit);
        if (quit)
          finished.set();
      },
      o.port, lo);
  std::printf("ports %u tcp %u\n", lf.port(), tcp_port);
  std::fflush(stdout);
  w.run(ucoro::with_timeout(finished.wait(), 3600s));
  if (tcp_thread.joinable())
    tcp_thread.join();
  return 0;
}

/// A client run's own context, worker and endpoint to the server, made
/// fresh for every run as each ucx_perftest run is a fresh process, and
/// closed after it (the server's serve() then ends for that endpoint).
struct client_session {
  std::unique_ptr<ucoro::context> ctx;
  std::unique_ptr<ucoro::worker> w;
  std::optional<ucoro::endpoint> ep;

  client_session(const options& o, std::uint16_t port) {
    ctx = std::make_unique<ucoro::context>(ucx_config(o));
    w = std::make_unique<ucoro::worker>(*ctx, o.mode);
    ucoro::endpoint_options eo;
    eo.error_handling = ucoro::parse_error_handling(o.error_modes[0]);
    eo.completion = o.completion;
    eo.heartbeat.interval = std::chrono::milliseconds(o.heartbeat_ms);
    ep = w->run(ucoro::with_timeout(w->create_endpoint(o.host, port, eo), 30s));
  }
  client_session(const client_session&) = delete;
  client_session& operator=(const client_session&) = delete;
  ~client_session() {
    try {
      w->run(ucoro::with_timeout(ep->close(), 30s));
    } catch (...) {
      // The server went away: nothing to close gracefully.
    }
  }
  template <class T>
  T run(ucoro::task<T> t) {
    return w->run(std::move(t));
  }
};

/// Median, min and max of ratios.
std::array<double, 3> spread(const std::vector<double>& v) {
  return {v.empty() ? NAN : median(v), min_of(v), max_of(v)};
}

/// Runs every size against one server: the error-handling mode in
/// o.error_modes[0] (one mode per server and worker: a worker that also has a
/// tcp endpoint polls its tcp interface on every spin, which would slow the
/// shared-memory endpoint down), plus the tcp baseline if o.tcp. Per size
/// and run, ucoro then ucx_perftest (alternated, so that slow phases of this
/// noisy machine hit both; ratios per pair): the cold first-N runs, then
/// bandwidth, then latency.
std::vector<row> run_client(const options& o, std::uint16_t port, std::uint16_t tcp_port, std::size_t& step,
                            std::size_t steps) {
  pin(o.cpu_client);
  std::vector<row> rows;
  if (o.heartbeat_ms > 0) { // what is armed, as the endpoint says it (the heartbeat's cost is what --heartbeat measures)
    client_session probe(o, port);
    const std::string info = probe.ep->ucx_info();
    std::printf("%s\n", info.substr(0, info.find('\n')).c_str());
  }
  const int tcp_fd = o.tcp ? tcp_connect(o.host, tcp_port) : -1;

  for (std::size_t size : o.sizes) {
    const std::size_t lat_iters = o.iters ? o.iters : auto_iters(size, false, o.quick);
    const std::size_t bw_iters = o.iters ? o.iters : auto_iters(size, true, o.quick);
    const std::size_t window = window_for(size);
    const std::size_t lat_warm = o.warmup ? o.warmup : std::max<std::size_t>(lat_iters / 10, 10);
    const std::size_t bw_warm = o.warmup ? o.warmup : std::max<std::size_t>(bw_iters / 10, window);
    const bool peer = o.error_modes[0] == "peer";
    row r{"ucoro", o.error_modes[0], size, lat_iters, bw_iters};
    row p{"ucx_perftest", o.error_modes[0], size, lat_iters, bw_iters};
    std::vector<double> lat_pool, batch_pool, bw_runs, lat_ratios, bw_ratios;
    std::vector<std::size_t> batch_messages;
    std::vector<double> p_lat, p_avg, p_bw, p_rate;
    std::map<std::size_t, std::vector<double>> first_ucoro, first_perftest, first_ratios;
    std::vector<double> many_gbps, many_ratios;
    // --parts: send_many over the same bytes, on a fresh session as each
    // run is; before the single send in odd runs, after it in even ones.
    auto many_run = [&]() {
      client_session m(o, port);
      const auto run = m.run(client_bandwidth(*m.ep, o.buffer, size, bw_iters, bw_warm, window, o.reuse, o.parts));
      row many{"ucoro", o.error_modes[0], size};
      fill_bandwidth(many, run.batch_seconds, run.batch_messages);
      many_gbps.push_back(many.bw_overall);
      return many.bw_overall;
    };
    auto say = [&](const std::string& what, std::size_t rep) {
      status(o, "[" + std::to_string(++step) + "/" + std::to_string(steps) + "] " + what + " " + format_size(size) +
                    " (error handling " + o.error_modes[0] + ", run " + std::to_string(rep + 1) + ")");
    };
    for (std::size_t rep = 0; rep < o.repeat; ++rep) {
      say("ucoro", rep);
      std::map<std::size_t, double> cold;
      for (const std::size_t n : o.first) {
        client_session s(o, port);
        const auto run = s.run(client_bandwidth(*s.ep, o.buffer, size, n, 0, window, o.reuse));
        cold[n] = static_cast<double>(n * size) / run.total_seconds / 1e9;
        first_ucoro[n].push_back(cold[n]);
      }
      const double many_first = o.parts != 0 && rep % 2 == 1 ? many_run() : NAN;
      client_session s(o, port);
      const auto bw = s.run(client_bandwidth(*s.ep, o.buffer, size, bw_iters, bw_warm, window, o.reuse));
      const auto lat = s.run(client_latency(*s.ep, o.buffer, size, lat_iters, lat_warm, o.reuse));
      row one{"ucoro", o.error_modes[0], size};
      fill_latency(one, lat);
      fill_bandwidth(one, bw.batch_seconds, bw.batch_messages);
      lat_pool.insert(lat_pool.end(), lat.begin(), lat.end());
      batch_pool.insert(batch_pool.end(), bw.batch_seconds.begin(), bw.batch_seconds.end());
      batch_messages.insert(batch_messages.end(), bw.batch_messages.begin(), bw.batch_messages.end());
      bw_runs.push_back(one.bw_overall);
      if (o.parts != 0)
        many_ratios.push_back(one.bw_overall / (rep % 2 == 1 ? many_first : many_run())); // time ratio
      if (!o.perftest)
        continue;
      say("ucx_perftest" + std::string(peer ? " -e" : ""), rep);
      for (const std::size_t n : o.first) {
        const auto pc = while_worker_answers(s.w.get(), [&] { return run_perftest(o, "tag_bw", size, n, 0, peer, window); });
        if (pc) {
          const double gbps = pc->mib_s * 1048576.0 / 1e9;
          first_perftest[n].push_back(gbps);
          first_ratios[n].push_back(cold[n] / gbps);
        }
      }
      const auto pbw =
          while_worker_answers(s.w.get(), [&] { return run_perftest(o, "tag_bw", size, bw_iters, bw_warm, peer, window); });
      const auto plat =
          while_worker_answers(s.w.get(), [&] { return run_perftest(o, "tag_lat", size, lat_iters, lat_warm, peer); });
      if (plat) {
        p_lat.push_back(plat->p50_us);
        p_avg.push_back(plat->avg_us);
        lat_ratios.push_back(one.lat_p50 / plat->p50_us);
      }
      if (pbw) {
        p_bw.push_back(pbw->mib_s * 1048576.0 / 1e9);
        p_rate.push_back(pbw->msg_rate / 1e6);
        bw_ratios.push_back(one.bw_overall / p_bw.back());
      }
    }
    fill_latency(r, lat_pool);
    fill_bandwidth(r, batch_pool, batch_messages);
    r.bw_overall = median(bw_runs);
    r.runs = o.repeat;
    for (const auto& [n, v] : first_ucoro)
      r.first_gbps[n] = median(v);
    if (o.parts != 0) {
      r.many_gbps = median(many_gbps);
      r.many_ratio = spread(many_ratios);
    }
    if (o.perftest) {
      p.lat_p50 = p_lat.empty() ? NAN : median(p_lat);
      p.lat_avg = p_avg.empty() ? NAN : median(p_avg);
      p.bw_overall = p_bw.empty() ? NAN : median(p_bw);
      p.msg_rate = p_rate.empty() ? NAN : median(p_rate);
      p.runs = o.repeat;
      const auto l = spread(lat_ratios);
      r.lat_ratio = l[0];
      r.lat_ratio_min = l[1];
      r.lat_ratio_max = l[2];
      const auto b = spread(bw_ratios);
      r.bw_ratio = b[0];
      r.bw_ratio_min = b[1];
      r.bw_ratio_max = b[2];
      for (const auto& [n, v] : first_perftest)
        p.first_gbps[n] = median(v);
      for (const auto& [n, v] : first_ratios)
        r.first_ratio[n] = spread(v);
      rows.push_back(r);
      rows.push_back(p);
    } else {
      rows.push_back(r);
    }
    if (o.tcp) {
      status(o, "[" + std::to_string(++step) + "/" + std::to_string(steps) + "] tcp " + format_size(size));
      row t{"tcp", "-", size, lat_iters, bw_iters};
      fill_latency(t, tcp_latency(tcp_fd, o.buffer, size, lat_iters, lat_warm));
      fill_bandwidth(t, tcp_bandwidth(tcp_fd, o.buffer, size, bw_iters, bw_warm, window),
                     batch_schedule(bw_iters, window));
      rows.push_back(t);
    }
  }
  {
    client_session s(o, port);
    s.run(ucoro::with_timeout(
        [](ucoro::endpoint& e) -> ucoro::task<void> {
          command quit{command::quit};
          co_await e.send(ucoro::as_bytes(&quit, sizeof quit));
        }(*s.ep),
        30s));
  }
  if (tcp_fd >= 0) {
    command quit{command::quit};
    write_all(tcp_fd, &quit, sizeof quit);
    ::close(tcp_fd);
  }
  return rows;
}

void finish(std::vector<row> rows, const options& o) {
  status(o, "");
  if (o.status)
    std::fprintf(stderr, "\r\033[K");
  // By size, then ucoro before its reference, tcp last.
  std::stable_sort(rows.begin(), rows.end(), [](const row& a, const row& b) { return a.size < b.size; });
  print_table(rows, o);
  if (!o.json.empty())
    write_json(rows, o);
  if (!o.plot.empty())
    write_plot(rows, o);
}

options parse(int argc, char** argv) {
  options o;
  o.status = ::isatty(STDERR_FILENO) != 0;
  CLI::App app{"ucoro against ucx_perftest and TCP: latency, bandwidth, message rate", "send_recv"};
  std::string client, sizes, error_handling, buffer, first, memory = "host", completion;
  std::size_t repeat = o.repeat;
  app.add_flag_callback("--server", [&] { o.role = options::server; });
  app.add_option("--client", client, "HOST:PORT:TCP_PORT");
  app.add_option("--port", o.port);
  app.add_option("--sizes", sizes);
  app.add_option("--iters", o.iters);
  app.add_option("--warmup", o.warmup);
  app.add_flag_callback("--polling", [&] { o.mode = ucoro::progress_mode::polling; });
  app.add_flag_callback("--blocking", [&] { o.mode = ucoro::progress_mode::blocking; });
  app.add_option("--tls", o.tls);
  app.add_option("--error-handling", error_handling);
  app.add_option("--heartbeat", o.heartbeat_ms);
  app.add_option("--buffer", buffer);
  app.add_option("--first", first);
  app.add_flag_callback("--no-reuse", [&] { o.reuse = false; });
  app.add_option("--memory", memory);
  app.add_option("--completion", completion);
  app.add_option("--cpu-client", o.cpu_client);
  app.add_option("--cpu-server", o.cpu_server);
  app.add_option("--json", o.json);
  app.add_option("--plot", o.plot);
  app.add_flag_callback("--no-perftest", [&] { o.perftest = false; });
  app.add_flag_callback("--no-tcp", [&] { o.tcp = false; });
  app.add_flag("--quick", o.quick);
  app.add_option("--repeat", repeat);
  app.add_option("--parts", o.parts, "also time send_many of a 16-byte header and N parts per message");
  app.add_flag_callback("--progress", [&] { o.status = true; });
  app.add_flag_callback("--no-progress", [&] { o.status = false; });
  bench::parse(app, argc, argv);
  o.repeat = std::max<std::size_t>(1, repeat);
  if (!client.empty()) {
    o.role = options::client;
    const auto c1 = client.find(':'), c2 = client.rfind(':');
    if (c1 == std::string::npos || c1 == c2)
      throw std::invalid_argument("--client is HOST:PORT:TCP_PORT, not '" + client + "'");
    o.host = client.substr(0, c1);
    o.port = static_cast<std::uint16_t>(std::stoul(client.substr(c1 + 1, c2 - c1 - 1)));
    o.tcp_port = static_cast<std::uint16_t>(std::stoul(client.substr(c2 + 1)));
  }
  if (!sizes.empty())
    o.sizes = parse_sizes(sizes);
  if (!error_handling.empty())
    o.error_modes = bench::split(error_handling);
  if (!buffer.empty()) {
    if (buffer == "vector")
      o.buffer = buffer_kind::vector;
    else if (buffer == "host_memory")
      o.buffer = buffer_kind::host_memory;
    else
      throw std::invalid_argument("--buffer is vector or host_memory, not '" + buffer + "'");
  }
  if (!first.empty()) {
    o.first.clear();
    if (first != "none")
      for (const auto& item : bench::split(first)) {
        const std::size_t n = std::stoull(item);
        if (n == 0)
          throw std::invalid_argument("--first takes message counts above 0 or 'none', not '" + first + "'");
        o.first.push_back(n);
      }
  }
  // Device memory joins with CUDA-enabled UCX (the device-memory issue);
  // until then say so instead of silently measuring host memory.
  if (memory != "host")
    throw std::invalid_argument("--memory " + memory + ": only host memory is supported by this build");
  if (!completion.empty()) {
    if (completion == "fast")
      o.completion = ucoro::send_completion::fast;
    else if (completion == "standard")
      o.completion = ucoro::send_completion::standard;
    else if (completion == "automatic")
      o.completion = ucoro::send_completion::automatic;
    else
      throw std::invalid_argument("--completion is automatic, fast or standard, not '" + completion + "'");
  }
  for (const auto& m : o.error_modes)
    (void)ucoro::parse_error_handling(m); // names the bad one
  return o;
}

/// Transport options passed on to the spawned server (o.error_modes holds
/// the one mode that server runs).
std::vector<std::string> forwarded(const options& o) {
  std::vector<std::string> out{o.mode == ucoro::progress_mode::polling ? "--polling" : "--blocking"};
  if (!o.tls.empty()) {
    out.emplace_back("--tls");
    out.push_back(o.tls);
  }
  std::string modes;
  for (const auto& m : o.error_modes)
    modes += (modes.empty() ? "" : ",") + m;
  out.emplace_back("--error-handling");
  out.push_back(modes);
  if (o.cpu_server >= 0) {
    out.emplace_back("--cpu-server");
    out.push_back(std::to_string(o.cpu_server));
  }
  if (!o.tcp)
    out.emplace_back("--no-tcp");
  out.emplace_back("--completion");
  out.emplace_back(completion_name(o.completion));
  out.emplace_back("--buffer");
  out.emplace_back(to_string(o.buffer));
  out.emplace_back("--heartbeat");
  out.push_back(std::to_string(o.heartbeat_ms));
  return out;
}

} // namespace

int main(int argc, char** argv) {
  try {
    options o = parse(argc, argv);
    if (o.role == options::server)
      return run_server(o);

    // Launcher: for each error-handling mode, a server process of this
    // program and a fresh client worker; the tcp baseline runs with the
    // first.
    if (o.role == options::client) {
      std::size_t step = 0;
      finish(run_client(o, o.port, o.tcp_port, step, o.sizes.size() * 3), o);
      return 0;
    }
    std::vector<row> rows;
    std::size_t step = 0;
    const std::size_t steps =
        o.sizes.size() * o.error_modes.size() * (o.perftest ? 2 : 1) * o.repeat + (o.tcp ? o.sizes.size() : 0);
    for (std::size_t m = 0; m < o.error_modes.size(); ++m) {
      options one = o;
      one.error_modes = {o.error_modes[m]};
      one.tcp = o.tcp && m == 0;
      std::vector<std::string> args{"/proc/self/exe", "--server"};
      for (auto& a : forwarded(one))
        args.push_back(a);
      ucoro::test::child_process server{args};
      const auto line = server.expect("ports", 30s);
      if (!line)
        throw std::runtime_error("the server did not start");
      std::istringstream ss(*line);
      unsigned port = 0, tcp_port = 0;
      std::string word;
      ss >> port >> word >> tcp_port;
      auto part = run_client(one, static_cast<std::uint16_t>(port), static_cast<std::uint16_t>(tcp_port), step, steps);
      rows.insert(rows.end(), part.begin(), part.end());
      if (server.wait_exit(60s) != 0)
        std::fprintf(stderr, "send_recv: the server did not exit cleanly\n");
    }
    finish(std::move(rows), o);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "send_recv: %s\n", e.what());
    return 1;
  }
}
