// send_recv: UCX-Py's send_recv benchmark in C++, with its references run in
// the same invocation.
//
// Two processes on loopback (this program starts its own server unless
// --server / --client are given): ping-pong latency and unidirectional
// bandwidth per message size, for ucoro, for ucx_perftest (tag_lat / tag_bw
// with the same UCX_TLS, sizes and iterations) and for plain TCP sockets.
// Reports p25/p50/p75 and averages, message rate, and ucoro / ucx_perftest.
//
//   send_recv [--sizes 8,4K,1M | --sizes 8:16M] [--iters N] [--warmup N]
//             [--polling] [--tls LIST] [--error-handling automatic,peer,none]
//             [--no-reuse] [--heartbeat MS] [--memory host] [--completion automatic|fast|standard] [--cpu-client N] [--cpu-server N]
//             [--repeat N] [--json FILE] [--plot FILE.png] [--no-perftest] [--no-tcp] [--quick]
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

struct options {
  enum { launcher, server, client } role = launcher;
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::uint16_t tcp_port = 0;
  std::vector<std::size_t> sizes{8, 4096, 65536, 1 << 20, 16 << 20};
  std::size_t iters = 0;  // 0: by size
  std::size_t warmup = 0; // 0: a tenth of iters
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
};

void fill_latency(row& r, const std::vector<double>& one_way_us) {
  r.lat_p25 = quantile(one_way_us, 0.25);
  r.lat_p50 = quantile(one_way_us, 0.50);
  r.lat_p75 = quantile(one_way_us, 0.75);
  r.lat_avg = std::accumulate(one_way_us.begin(), one_way_us.end(), 0.0) / static_cast<double>(one_way_us.size());
}

/// `batch_seconds`: time to receive each batch of `window` messages.
void fill_bandwidth(row& r, const std::vector<double>& batch_seconds, std::size_t window) {
  std::vector<double> gbps;
  double total = 0;
  for (double s : batch_seconds) {
    gbps.push_back(static_cast<double>(window * r.size) / s / 1e9);
    total += s;
  }
  r.bw_p25 = quantile(gbps, 0.25);
  r.bw_p50 = quantile(gbps, 0.50);
  r.bw_p75 = quantile(gbps, 0.75);
  const double messages = static_cast<double>(batch_seconds.size() * window);
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
};

/// Pre-faulted, page-aligned (huge-page-advised when large) like the memory
/// ucx_perftest gets from UCX's allocator: first touch is not the benchmark.
ucoro::host_memory touched(std::size_t size) { return ucoro::host_memory(size, std::byte{0x5A}); }

ucoro::task<void> serve(ucoro::worker& w, ucoro::endpoint ep, bool& quit) {
  const ucoro::progress_mode test_mode = w.mode();
  // Separate receive and send buffers, as ucx_perftest has: reusing one for
  // both directions makes every CMA read pull lines the other core has just
  // dirtied (measured: 1 MiB one-way 83 us instead of 32 us).
  ucoro::host_memory buf, out;
  for (;;) {
    command cmd;
    // Sleep between tests: a spinning server would steal a core from the
    // ucx_perftest and tcp references running meanwhile.
    w.set_mode(ucoro::progress_mode::blocking);
    (void)co_await ep.recv(ucoro::as_writable_bytes(&cmd, sizeof cmd));
    w.set_mode(test_mode);
    if (cmd.kind == command::quit)
      break;
    if (buf.size() < cmd.size) {
      buf = touched(cmd.size);
      out = touched(cmd.size);
    }
    if (cmd.kind == command::latency) {
      for (std::uint64_t i = 0; i < cmd.warmup + cmd.iters; ++i) {
        if (!cmd.reuse) {
          std::vector<std::byte> fresh(cmd.size);
          (void)co_await ep.recv(fresh, cmd.size);
          co_await ep.send(fresh, cmd.size);
          continue;
        }
        (void)co_await ep.recv(buf, cmd.size);
        co_await ep.send(out, cmd.size);
      }
    } else {
      const std::uint64_t batches = cmd.iters / cmd.window, warm_batches = std::max<std::uint64_t>(1, cmd.warmup / cmd.window);
      std::vector<double> seconds;
      seconds.reserve(batches);
      auto last = clock_type::now();
      for (std::uint64_t b = 0; b < warm_batches + batches; ++b) {
        std::vector<ucoro::task<std::size_t>> recvs;
        for (std::uint64_t i = 0; i < cmd.window; ++i)
          recvs.push_back([](ucoro::endpoint& e, ucoro::host_memory& into, std::size_t n,
                             bool reuse) -> ucoro::task<std::size_t> {
            if (!reuse) {
              std::vector<std::byte> fresh(n);
              co_return co_await e.recv(fresh, n);
            }
            co_return co_await e.recv(into, n);
          }(ep, buf, cmd.size, cmd.reuse != 0));
        (void)co_await ucoro::when_all(std::move(recvs));
        const auto now = clock_type::now();
        if (b >= warm_batches)
          seconds.push_back(std::chrono::duration<double>(now - last).count());
        last = now;
      }
      co_await ep.send_obj(seconds);
    }
  }
  quit = true;
  co_await ep.close();
}

ucoro::task<std::vector<double>> client_latency(ucoro::endpoint& ep, std::size_t size, std::size_t iters,
                                                std::size_t warmup, bool reuse) {
  command cmd{command::latency, reuse ? 1U : 0U, size, iters, warmup, 0};
  co_await ep.send(ucoro::as_bytes(&cmd, sizeof cmd));
  auto buf = touched(size), in = touched(size); // separate, as in serve()
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
      co_await ep.send(buf, size);
      (void)co_await ep.recv(in, size);
    }
    const auto t1 = clock_type::now();
    if (i >= warmup)
      one_way.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / 2);
    t0 = t1;
  }
  co_return one_way;
}

ucoro::task<std::vector<double>> client_bandwidth(ucoro::endpoint& ep, std::size_t size, std::size_t iters,
                                                  std::size_t warmup, std::size_t window, bool reuse) {
  command cmd{command::bandwidth, reuse ? 1U : 0U, size, iters, warmup, window};
  co_await ep.send(ucoro::as_bytes(&cmd, sizeof cmd));
  auto buf = touched(size);
  const std::size_t batches = iters / window + std::max<std::size_t>(1, warmup / window);
  for (std::size_t b = 0; b < batches; ++b) {
    std::vector<ucoro::task<void>> sends;
    for (std::size_t i = 0; i < window; ++i)
      sends.push_back([](ucoro::endpoint& e, const ucoro::host_memory& from, std::size_t n,
                         bool reuse_buffer) -> ucoro::task<void> {
        if (!reuse_buffer) {
          const std::vector<std::byte> fresh(n);
          co_await e.send(fresh, n);
          co_return;
        }
        co_await e.send(from, n);
      }(ep, buf, size, reuse));
    co_await ucoro::when_all(std::move(sends));
  }
  auto reply = co_await ep.recv_obj();
  std::vector<double> seconds(reply.size() / sizeof(double));
  std::memcpy(seconds.data(), reply.data(), seconds.size() * sizeof(double));
  co_return seconds;
}

// ---- plain TCP baseline -------------------------------------------------------------------





void tcp_serve(int listen_fd) {
  const int fd = ::accept(listen_fd, nullptr, nullptr);
  ::close(listen_fd);
  if (fd < 0)
    return;
  bench::no_delay(fd);
  ucoro::host_memory buf, out;
  command cmd;
  while (read_all(fd, &cmd, sizeof cmd) && cmd.kind != command::quit) {
    if (buf.size() < cmd.size) {
      buf = touched(cmd.size);
      out = touched(cmd.size);
    }
    if (cmd.kind == command::latency) {
      for (std::uint64_t i = 0; i < cmd.warmup + cmd.iters; ++i)
        if (!read_all(fd, buf.data(), cmd.size) || !write_all(fd, out.data(), cmd.size))
          break;
    } else {
      const std::uint64_t batches = cmd.iters / cmd.window, warm_batches = std::max<std::uint64_t>(1, cmd.warmup / cmd.window);
      std::vector<double> seconds;
      auto last = clock_type::now();
      for (std::uint64_t b = 0; b < warm_batches + batches; ++b) {
        for (std::uint64_t i = 0; i < cmd.window; ++i)
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

std::vector<double> tcp_latency(int fd, std::size_t size, std::size_t iters, std::size_t warmup) {
  command cmd{command::latency, 1, size, iters, warmup, 0};
  write_all(fd, &cmd, sizeof cmd);
  auto buf = touched(size), in = touched(size);
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

std::vector<double> tcp_bandwidth(int fd, std::size_t size, std::size_t iters, std::size_t warmup, std::size_t window) {
  command cmd{command::bandwidth, 1, size, iters, warmup, window};
  write_all(fd, &cmd, sizeof cmd);
  auto buf = touched(size);
  const std::size_t batches = iters / window + std::max<std::size_t>(1, warmup / window);
  for (std::size_t i = 0; i < batches * window; ++i)
    write_all(fd, buf.data(), size);
  std::uint64_t n = 0;
  read_all(fd, &n, sizeof n);
  std::vector<double> seconds(n);
  read_all(fd, seconds.data(), n * sizeof(double));
  return seconds;
}

// ---- ucx_perftest reference ---------------------------------------------------------------


std::optional<perftest_result> run_perftest(const options& o, const std::string& test, std::size_t size,
                                            std::size_t iters, std::size_t warmup, bool peer) {
  return bench::run_perftest({o.mode == ucoro::progress_mode::blocking, peer, o.cpu_server, o.cpu_client}, test, size,
                             iters, warmup);
}

/// Runs a reference (ucx_perftest, plain tcp) while this worker keeps
/// answering the server's heartbeats: with --heartbeat 100 a second-long
/// reference run left the endpoint silent past its deadline. The worker
/// sleeps meanwhile (blocking mode), so the reference has the core.
template <class Reference>
auto while_worker_answers(ucoro::worker& w, Reference reference) {
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
  std::printf("\nsend_recv: two processes on 127.0.0.1, UCX_TLS=%s, %s progress, %s buffers, %s send completion\n",
              o.tls.empty() ? "(default)" : o.tls.c_str(),
              o.mode == ucoro::progress_mode::polling ? "polling" : "blocking", o.reuse ? "reused" : "fresh",
              completion_name(o.completion));
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
  std::fflush(stdout);
}

std::string json_number(double v) { return std::isnan(v) ? "null" : num(v, 6); }

void write_json(const std::vector<row>& rows, const options& o) {
  std::ofstream out(o.json);
  out << "{\n  \"benchmark\": \"send_recv\",\n  \"ucx_version\": \"" << UCP_API_MAJOR << "." << UCP_API_MINOR
      << "\",\n  \"tls\": \"" << (o.tls.empty() ? "default" : o.tls) << "\",\n  \"progress\": \""
      << (o.mode == ucoro::progress_mode::polling ? "polling" : "blocking") << "\",\n  \"reuse\": "
      << (o.reuse ? "true" : "false") << ",\n  \"rows\": [\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    out << "    {\"system\": \"" << r.system << "\", \"error_handling\": \"" << r.errors << "\", \"size\": " << r.size
        << ", \"latency_iterations\": " << r.lat_iters << ", \"bandwidth_iterations\": " << r.bw_iters
        << ", \"latency_us\": {\"p25\": " << json_number(r.lat_p25) << ", \"p50\": " << json_number(r.lat_p50)
        << ", \"p75\": " << json_number(r.lat_p75) << ", \"avg\": " << json_number(r.lat_avg)
        << "}, \"bandwidth_gbps\": {\"p25\": " << json_number(r.bw_p25) << ", \"p50\": " << json_number(r.bw_p50)
        << ", \"p75\": " << json_number(r.bw_p75) << ", \"overall\": " << json_number(r.bw_overall)
        << "}, \"message_rate_mps\": " << json_number(r.msg_rate) << ", \"latency_ratio\": "
        << json_number(r.lat_ratio) << ", \"bandwidth_ratio\": " << json_number(r.bw_ratio)
        << ", \"latency_ratio_range\": [" << json_number(r.lat_ratio_min) << ", " << json_number(r.lat_ratio_max)
        << "], \"bandwidth_ratio_range\": [" << json_number(r.bw_ratio_min) << ", " << json_number(r.bw_ratio_max)
        << "], \"runs\": " << r.runs << "}"
        << (i + 1 < rows.size() ? ",\n" : "\n");
  }
  out << "  ]\n}\n";
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
    tcp_thread = std::thread{[tcp_fd] { tcp_serve(tcp_fd); }};
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
        co_await serve(w, std::move(ep), quit);
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

/// Runs every size against one server: the error-handling mode in
/// o.error_modes[0] (one mode per server and worker: a worker that also has a
/// tcp endpoint polls its tcp interface on every spin, which would slow the
/// shared-memory endpoint down), plus the tcp baseline if o.tcp.
std::vector<row> run_client(const options& o, std::uint16_t port, std::uint16_t tcp_port, std::size_t& step,
                            std::size_t steps) {
  pin(o.cpu_client);
  ucoro::context ctx{ucx_config(o)};
  ucoro::worker w{ctx, o.mode};
  std::vector<row> rows;

  std::vector<ucoro::endpoint> eps;
  {
    ucoro::endpoint_options eo;
    eo.error_handling = ucoro::parse_error_handling(o.error_modes[0]);
    eo.completion = o.completion;
    eo.heartbeat.interval = std::chrono::milliseconds(o.heartbeat_ms);
    eps.push_back(w.run(ucoro::with_timeout(w.create_endpoint(o.host, port, eo), 30s)));
  }
  if (o.heartbeat_ms > 0) { // what is armed, as the endpoint says it (the heartbeat's cost is what --heartbeat measures)
    const std::string info = eps.front().ucx_info();
    std::printf("%s\n", info.substr(0, info.find('\n')).c_str());
  }
  const int tcp_fd = o.tcp ? tcp_connect(o.host, tcp_port) : -1;

  for (std::size_t size : o.sizes) {
    const std::size_t lat_iters = o.iters ? o.iters : auto_iters(size, false, o.quick);
    const std::size_t bw_iters = o.iters ? o.iters : auto_iters(size, true, o.quick);
    const std::size_t window = window_for(size);
    const std::size_t lat_warm = o.warmup ? o.warmup : std::max<std::size_t>(lat_iters / 10, 10);
    const std::size_t bw_warm = o.warmup ? o.warmup : std::max<std::size_t>(bw_iters / 10, window);
    {
      const bool peer = o.error_modes[0] == "peer";
      row r{"ucoro", o.error_modes[0], size, lat_iters, bw_iters};
      row p{"ucx_perftest", o.error_modes[0], size, lat_iters, bw_iters};
      std::vector<double> lat_pool, batch_pool, bw_runs, lat_ratios, bw_ratios;
      std::vector<double> p_lat, p_avg, p_bw, p_rate;
      // Alternate the two systems so that slow phases of this noisy
      // machine hit both; the ratio is taken per pair of runs.
      for (std::size_t rep = 0; rep < o.repeat; ++rep) {
        status(o, "[" + std::to_string(++step) + "/" + std::to_string(steps) + "] ucoro " + format_size(size) +
                      " (error handling " + o.error_modes[0] + ", run " + std::to_string(rep + 1) + ")");
        row one{"ucoro", o.error_modes[0], size};
        const auto lat = w.run(client_latency(eps[0], size, lat_iters, lat_warm, o.reuse));
        const auto bw = w.run(client_bandwidth(eps[0], size, bw_iters, bw_warm, window, o.reuse));
        fill_latency(one, lat);
        fill_bandwidth(one, bw, window);
        lat_pool.insert(lat_pool.end(), lat.begin(), lat.end());
        batch_pool.insert(batch_pool.end(), bw.begin(), bw.end());
        bw_runs.push_back(one.bw_overall);
        if (!o.perftest)
          continue;
        status(o, "[" + std::to_string(++step) + "/" + std::to_string(steps) + "] ucx_perftest " + format_size(size) +
                      (peer ? " -e" : "") + " (run " + std::to_string(rep + 1) + ")");
        const auto plat =
            while_worker_answers(w, [&] { return run_perftest(o, "tag_lat", size, lat_iters, lat_warm, peer); });
        const auto pbw =
            while_worker_answers(w, [&] { return run_perftest(o, "tag_bw", size, bw_iters, bw_warm, peer); });
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
      fill_bandwidth(r, batch_pool, window);
      r.bw_overall = median(bw_runs);
      r.runs = o.repeat;
      if (o.perftest) {
        p.lat_p50 = p_lat.empty() ? NAN : median(p_lat);
        p.lat_avg = p_avg.empty() ? NAN : median(p_avg);
        p.bw_overall = p_bw.empty() ? NAN : median(p_bw);
        p.msg_rate = p_rate.empty() ? NAN : median(p_rate);
        p.runs = o.repeat;
        r.lat_ratio = lat_ratios.empty() ? NAN : median(lat_ratios);
        r.lat_ratio_min = min_of(lat_ratios);
        r.lat_ratio_max = max_of(lat_ratios);
        r.bw_ratio = bw_ratios.empty() ? NAN : median(bw_ratios);
        r.bw_ratio_min = min_of(bw_ratios);
        r.bw_ratio_max = max_of(bw_ratios);
        rows.push_back(r);
        rows.push_back(p);
      } else {
        rows.push_back(r);
      }
    }
    if (o.tcp) {
      status(o, "[" + std::to_string(++step) + "/" + std::to_string(steps) + "] tcp " + format_size(size));
      row t{"tcp", "-", size, lat_iters, bw_iters};
      fill_latency(t, while_worker_answers(w, [&] { return tcp_latency(tcp_fd, size, lat_iters, lat_warm); }));
      fill_bandwidth(t, while_worker_answers(w, [&] { return tcp_bandwidth(tcp_fd, size, bw_iters, bw_warm, window); }),
                     window);
      rows.push_back(t);
    }
  }
  for (auto& ep : eps)
    w.run(ucoro::with_timeout(
        [](ucoro::endpoint& e) -> ucoro::task<void> {
          command quit{command::quit};
          co_await e.send(ucoro::as_bytes(&quit, sizeof quit));
          co_await e.close();
        }(ep),
        30s));
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
  for (bench::arguments args{argc, argv}; args.next();) {
    const std::string a = args.flag();
    auto next = [&] { return args.value(); };
    if (a == "--server")
      o.role = options::server;
    else if (a == "--client") {
      o.role = options::client;
      const auto parts = next();
      const auto c1 = parts.find(':'), c2 = parts.rfind(':');
      o.host = parts.substr(0, c1);
      o.port = static_cast<std::uint16_t>(std::stoul(parts.substr(c1 + 1, c2 - c1 - 1)));
      o.tcp_port = static_cast<std::uint16_t>(std::stoul(parts.substr(c2 + 1)));
    } else if (a == "--port")
      o.port = static_cast<std::uint16_t>(std::stoul(next()));
    else if (a == "--sizes")
      o.sizes = parse_sizes(next());
    else if (a == "--iters")
      o.iters = std::stoull(next());
    else if (a == "--warmup")
      o.warmup = std::stoull(next());
    else if (a == "--polling")
      o.mode = ucoro::progress_mode::polling;
    else if (a == "--blocking")
      o.mode = ucoro::progress_mode::blocking;
    else if (a == "--tls")
      o.tls = next();
    else if (a == "--error-handling")
      o.error_modes = bench::split(next());
    else if (a == "--heartbeat")
      o.heartbeat_ms = std::stol(next());
    else if (a == "--no-reuse")
      o.reuse = false;
    else if (a == "--memory") {
      // Device memory joins with CUDA-enabled UCX (the device-memory issue);
      // until then say so instead of silently measuring host memory.
      const std::string m = next();
      if (m != "host")
        throw std::invalid_argument("--memory " + m + ": only host memory is supported by this build");
    }
    else if (a == "--completion") {
      const std::string c = next();
      if (c == "fast")
        o.completion = ucoro::send_completion::fast;
      else if (c == "standard")
        o.completion = ucoro::send_completion::standard;
      else if (c == "automatic")
        o.completion = ucoro::send_completion::automatic;
      else
        throw std::invalid_argument("--completion is automatic, fast or standard, not '" + c + "'");
    }
    else if (a == "--cpu-client")
      o.cpu_client = std::stoi(next());
    else if (a == "--cpu-server")
      o.cpu_server = std::stoi(next());
    else if (a == "--json")
      o.json = next();
    else if (a == "--plot")
      o.plot = next();
    else if (a == "--no-perftest")
      o.perftest = false;
    else if (a == "--no-tcp")
      o.tcp = false;
    else if (a == "--quick")
      o.quick = true;
    else if (a == "--repeat")
      o.repeat = std::max<std::size_t>(1, std::stoull(next()));
    else if (a == "--progress")
      o.status = true;
    else if (a == "--no-progress")
      o.status = false;
    else
      throw std::invalid_argument("unknown option " + a);
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
