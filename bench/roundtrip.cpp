// roundtrip: the dask-cuda local_cuda.py roundtrip table, for ucoro.
//
// W worker processes on this host; every pair exchanges N chunks of a given
// size both ways at once, over ucoro (protocol ucx) or plain TCP sockets
// (protocol tcp). Each worker records, per incoming chunk, its size and its
// arrival interval; the table gives per pair (receiver, sender) the 25/50/75%
// bandwidth and the bytes moved, and the total wall time, in dask-cuda's
// layout.
//
//   roundtrip [--workers W] [--chunks N] [--chunk-size 64MiB] [--protocol ucx|tcp]
//             [--ignore-size 1MiB] [--tls LIST] [--polling]
//             [--error-handling automatic|peer|none] (--no-error-handling: none)

#include <ucoro/host_memory.hpp>
#include <ucoro/ucoro.hpp>

#include "args.hpp"
#include "process.hpp"
#include "socket_util.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

using bench::free_port;
using bench::read_all;
using bench::write_all;

struct options {
  int workers = 2;
  int rank = -1; // >= 0: this process is a worker
  std::vector<std::uint16_t> ports;
  std::size_t chunks = 16;
  std::size_t chunk_size = 64U << 20;
  std::size_t ignore_size = 1U << 20;
  std::string protocol = "ucx";
  std::string tls;
  bool polling = false;
  ucoro::error_handling error_handling = ucoro::error_handling::automatic;
};

std::size_t parse_bytes(const std::string& text) {
  std::size_t pos = 0;
  const double value = std::stod(text, &pos);
  std::string unit = text.substr(pos);
  unit.erase(std::remove(unit.begin(), unit.end(), ' '), unit.end());
  std::transform(unit.begin(), unit.end(), unit.begin(), ::tolower);
  if (unit.empty() || unit == "b")
    return static_cast<std::size_t>(value);
  if (unit == "k" || unit == "kb" || unit == "kib")
    return static_cast<std::size_t>(value * 1024);
  if (unit == "m" || unit == "mb" || unit == "mib")
    return static_cast<std::size_t>(value * 1024 * 1024);
  if (unit == "g" || unit == "gb" || unit == "gib")
    return static_cast<std::size_t>(value * 1024 * 1024 * 1024);
  throw std::invalid_argument("unknown size unit in '" + text + "'");
}

// dask.utils.format_bytes / format_time, so the table reads like dask-cuda's.
std::string format_bytes(double n) {
  const std::pair<const char*, double> units[] = {
      {"Pi", 1125899906842624.0}, {"Ti", 1099511627776.0}, {"Gi", 1073741824.0}, {"Mi", 1048576.0}, {"ki", 1024.0}};
  char buf[32];
  for (const auto& [prefix, k] : units)
    if (n >= k * 0.9) {
      std::snprintf(buf, sizeof buf, "%.2f %sB", n / k, prefix);
      return buf;
    }
  std::snprintf(buf, sizeof buf, "%.0f B", n);
  return buf;
}

std::string format_time(double s) {
  char buf[32];
  if (s >= 1)
    std::snprintf(buf, sizeof buf, "%.2f s", s);
  else if (s >= 1e-3)
    std::snprintf(buf, sizeof buf, "%.2f ms", s * 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.2f us", s * 1e6);
  return buf;
}

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos)), hi = static_cast<std::size_t>(std::ceil(pos));
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

/// One incoming chunk as a worker saw it.
struct transfer {
  int from;
  std::size_t bytes;
  double seconds;
};

void report(int rank, const std::vector<transfer>& log, double took) {
  for (const auto& t : log)
    std::printf("transfer %d %d %zu %.9f\n", rank, t.from, t.bytes, t.seconds);
  std::printf("took %.9f\n", took);
  std::fflush(stdout);
}

// ---- protocol ucx ------------------------------------------------------------------

ucoro::task<void> exchange(ucoro::endpoint& ep, int peer, const options& o, ucoro::host_memory& out,
                           ucoro::host_memory& in, std::vector<transfer>& log) {
  auto sender = [&]() -> ucoro::task<void> {
    for (std::size_t i = 0; i < o.chunks; ++i)
      co_await ep.send(out);
  };
  auto receiver = [&]() -> ucoro::task<void> {
    auto last = clock_type::now();
    for (std::size_t i = 0; i < o.chunks; ++i) {
      const std::size_t n = co_await ep.recv(in);
      const auto now = clock_type::now();
      log.push_back({peer, n, std::chrono::duration<double>(now - last).count()});
      last = now;
    }
  };
  co_await ucoro::when_all(sender(), receiver());
}

int run_ucx_worker(const options& o) {
  std::map<std::string, std::string> config;
  if (!o.tls.empty())
    config["TLS"] = o.tls;
  ucoro::context ctx{config};
  ucoro::worker w{ctx, o.polling ? ucoro::progress_mode::polling : ucoro::progress_mode::blocking};
  ucoro::endpoint_options eo;
  eo.error_handling = o.error_handling;
  eo.connect_timeout = 30s;
  ucoro::listener_options lo;
  lo.bind_address = "127.0.0.1";
  lo.endpoint = eo;

  std::map<int, ucoro::endpoint> peers;
  ucoro::event all_connected{w}; // every other rank has an endpoint here
  auto lf = w.create_listener(
      [&](ucoro::endpoint ep) -> ucoro::task<void> {
        std::int64_t rank = -1;
        (void)co_await ep.recv(ucoro::as_writable_bytes(&rank, sizeof rank));
        peers.emplace(static_cast<int>(rank), std::move(ep));
        if (peers.size() == static_cast<std::size_t>(o.workers - 1))
          all_connected.set();
      },
      o.ports[static_cast<std::size_t>(o.rank)], lo);
  std::printf("ready\n");
  std::fflush(stdout);

  std::vector<transfer> log;
  double took = 0;
  w.run(ucoro::with_timeout(
      [&]() -> ucoro::task<void> {
        // Connect to higher ranks; lower ranks connect to us.
        for (int j = o.rank + 1; j < o.workers; ++j) {
          ucoro::endpoint ep;
          for (int attempt = 0;; ++attempt) { // the peer may still be starting
            auto r = co_await ucoro::as_result(w.create_endpoint("127.0.0.1", o.ports[static_cast<std::size_t>(j)], eo));
            if (r) {
              ep = std::move(r.value);
              break;
            }
            if (attempt == 100)
              throw ucoro::ucx_error(r.error, "roundtrip: cannot reach worker " + std::to_string(j));
            co_await w.sleep(50ms);
          }
          const std::int64_t me = o.rank;
          co_await ep.send(ucoro::as_bytes(&me, sizeof me));
          peers.emplace(j, std::move(ep));
        }
        if (peers.size() == static_cast<std::size_t>(o.workers - 1))
          all_connected.set();
        co_await all_connected.wait();

        std::vector<ucoro::host_memory> outs, ins;
        for (std::size_t i = 0; i < peers.size(); ++i) {
          outs.emplace_back(o.chunk_size, std::byte{1});
          ins.emplace_back(o.chunk_size, std::byte{0});
        }
        const auto start = clock_type::now();
        std::vector<ucoro::task<void>> all;
        std::size_t k = 0;
        for (auto& [rank, ep] : peers) {
          all.push_back(exchange(ep, rank, o, outs[k], ins[k], log));
          ++k;
        }
        co_await ucoro::when_all(std::move(all));
        took = std::chrono::duration<double>(clock_type::now() - start).count();
        for (auto& [rank, ep] : peers)
          co_await ep.close();
      }(),
      600s));
  report(o.rank, log, took);
  return 0;
}

// ---- protocol tcp -------------------------------------------------------------------



int run_tcp_worker(const options& o) {
  std::uint16_t port = o.ports[static_cast<std::size_t>(o.rank)];
  const int listen_fd = bench::listen_loopback(port);
  std::printf("ready\n");
  std::fflush(stdout);

  std::map<int, int> peers;
  for (int j = o.rank + 1; j < o.workers; ++j) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(o.ports[static_cast<std::size_t>(j)]);
    int attempt = 0;
    while (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
      if (++attempt == 100)
        throw std::runtime_error("roundtrip: cannot reach worker " + std::to_string(j));
      std::this_thread::sleep_for(50ms); // the peer may still be starting
    }
    const std::int64_t me = o.rank;
    write_all(fd, &me, sizeof me);
    peers[j] = fd;
  }
  while (peers.size() < static_cast<std::size_t>(o.workers - 1)) {
    const int fd = ::accept(listen_fd, nullptr, nullptr);
    std::int64_t rank = -1;
    read_all(fd, &rank, sizeof rank);
    peers[static_cast<int>(rank)] = fd;
  }
  ::close(listen_fd);

  std::vector<transfer> log;
  std::vector<std::vector<transfer>> logs(peers.size());
  std::vector<ucoro::host_memory> outs, ins;
  for (std::size_t i = 0; i < peers.size(); ++i) {
    outs.emplace_back(o.chunk_size, std::byte{1});
    ins.emplace_back(o.chunk_size, std::byte{0});
  }
  const auto start = clock_type::now();
  std::vector<std::thread> threads;
  std::size_t k = 0;
  for (auto& [rank, fd] : peers) {
    threads.emplace_back([&, fd = fd, k] {
      for (std::size_t i = 0; i < o.chunks; ++i)
        write_all(fd, outs[k].data(), o.chunk_size);
    });
    threads.emplace_back([&, rank = rank, fd = fd, k] {
      auto last = clock_type::now();
      for (std::size_t i = 0; i < o.chunks; ++i) {
        read_all(fd, ins[k].data(), o.chunk_size);
        const auto now = clock_type::now();
        logs[k].push_back({rank, o.chunk_size, std::chrono::duration<double>(now - last).count()});
        last = now;
      }
    });
    ++k;
  }
  for (auto& t : threads)
    t.join();
  const double took = std::chrono::duration<double>(clock_type::now() - start).count();
  for (auto& [rank, fd] : peers)
    ::close(fd);
  for (auto& l : logs)
    log.insert(log.end(), l.begin(), l.end());
  report(o.rank, log, took);
  return 0;
}

// ---- launcher ---------------------------------------------------------------------


int launch(const options& o, const std::vector<std::string>& passthrough) {
  std::string ports;
  for (int i = 0; i < o.workers; ++i)
    ports += (ports.empty() ? "" : ",") + std::to_string(free_port());
  std::vector<std::unique_ptr<ucoro::test::child_process>> workers;
  for (int i = 0; i < o.workers; ++i) {
    std::vector<std::string> args{"/proc/self/exe", "--rank", std::to_string(i), "--ports", ports};
    args.insert(args.end(), passthrough.begin(), passthrough.end());
    workers.push_back(std::make_unique<ucoro::test::child_process>(args));
  }
  std::map<std::pair<int, int>, std::vector<double>> bandwidths;
  std::map<std::pair<int, int>, double> total_nbytes;
  double took = 0;
  for (auto& w : workers) {
    while (auto line = w->read_line(600s)) {
      std::istringstream ss(*line);
      std::string kind;
      ss >> kind;
      if (kind == "transfer") {
        int to = 0, from = 0;
        std::size_t bytes = 0;
        double seconds = 0;
        ss >> to >> from >> bytes >> seconds;
        if (bytes >= o.ignore_size && seconds > 0) {
          bandwidths[{to, from}].push_back(static_cast<double>(bytes) / seconds);
          total_nbytes[{to, from}] += static_cast<double>(bytes);
        }
      } else if (kind == "took") {
        double t = 0;
        ss >> t;
        took = std::max(took, t);
        break;
      }
    }
    if (w->wait_exit(60s) != 0) {
      std::fprintf(stderr, "roundtrip: a worker failed\n");
      return 1;
    }
  }

  std::string devices;
  for (int i = 0; i < o.workers; ++i)
    devices += (devices.empty() ? "" : ",") + std::string("cpu") + std::to_string(i);
  std::printf("Roundtrip benchmark\n");
  std::printf("--------------------------\n");
  std::printf("Size        | %zu*%s\n", o.chunks, format_bytes(static_cast<double>(o.chunk_size)).c_str());
  std::printf("Chunk-size  | %s\n", format_bytes(static_cast<double>(o.chunk_size)).c_str());
  std::printf("Ignore-size | %s\n", format_bytes(static_cast<double>(o.ignore_size)).c_str());
  std::printf("Protocol    | %s\n", o.protocol.c_str());
  std::printf("Device(s)   | %s\n", devices.c_str());
  std::printf("npartitions | %zu\n", o.chunks);
  std::printf("==========================\n");
  std::printf("Total time  | %s\n", format_time(took).c_str());
  std::printf("==========================\n");
  std::printf("(w1,w2)     | 25%% 50%% 75%% (total nbytes)\n");
  std::printf("--------------------------\n");
  for (const auto& [pair, bw] : bandwidths)
    std::printf("(%02d,%02d)     | %s/s %s/s %s/s (%s)\n", pair.first, pair.second,
                format_bytes(quantile(bw, 0.25)).c_str(), format_bytes(quantile(bw, 0.50)).c_str(),
                format_bytes(quantile(bw, 0.75)).c_str(), format_bytes(total_nbytes[pair]).c_str());
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  try {
    options o;
    std::vector<std::string> passthrough;
    CLI::App app{"the dask-cuda-style roundtrip benchmark", "roundtrip"};
    std::string ports, chunk_size, ignore_size, error_handling;
    bool no_error_handling = false;
    app.add_option("--rank", o.rank);
    app.add_option("--ports", ports);
    app.add_option("--workers", o.workers);
    app.add_option("--chunks", o.chunks);
    app.add_option("--chunk-size", chunk_size);
    app.add_option("--ignore-size", ignore_size);
    app.add_option("--protocol", o.protocol);
    app.add_option("--tls", o.tls);
    app.add_flag("--polling", o.polling);
    app.add_flag("--no-error-handling", no_error_handling);
    app.add_option("--error-handling", error_handling);
    bench::parse(app, argc, argv);
    for (const auto& p : bench::split(ports))
      o.ports.push_back(static_cast<std::uint16_t>(std::stoul(p)));
    if (!chunk_size.empty())
      o.chunk_size = parse_bytes(chunk_size);
    if (!ignore_size.empty())
      o.ignore_size = parse_bytes(ignore_size);
    if (no_error_handling)
      o.error_handling = ucoro::error_handling::none;
    if (!error_handling.empty())
      o.error_handling = ucoro::parse_error_handling(error_handling);
    // What the launcher passes on to the worker processes: every option but
    // --rank and --ports, which it gives each worker itself.
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--rank" || a == "--ports") {
        ++i;
        continue;
      }
      passthrough.push_back(a);
    }
    if (o.protocol != "ucx" && o.protocol != "tcp")
      throw std::invalid_argument("--protocol is ucx or tcp");
    if (o.workers < 2)
      throw std::invalid_argument("--workers needs at least 2");
    if (o.rank >= 0)
      return o.protocol == "ucx" ? run_ucx_worker(o) : run_tcp_worker(o);
    return launch(o, passthrough);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "roundtrip: %s\n", e.what());
    return 1;
  }
}
