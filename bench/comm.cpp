// comm: rank-to-rank latency and bandwidth through the communicator, next to
// the endpoint path (the same UCX endpoint, through endpoint::send/recv) and
// ucx_perftest (tag_lat / tag_bw), all in one invocation.
//
//   comm [--sizes 8,4K,64K,1M,16M] [--repeat 5] [--blocking] [--vector]
//        [--launcher ucoro|mpirun] [--json FILE] [--quick] [--no-perftest] [--no-pin]
//
// It launches its own two ranks the way users do: UCORO_RANK/SIZE/ROOT on
// loopback (--launcher ucoro, as scripts/launch-local.sh), or mpirun -n 2
// (PMIx). Each rank bootstraps an eager communicator; for every size and
// repeat, both paths run back to back (their order alternating per repeat,
// so drift on this noisy 2-core machine hits both), each after a barrier.
// Rank 0 reports each run; this process pairs them: communicator / endpoint
// per repeat, then the median and the spread. ucx_perftest runs `repeat`
// times per size and test with the same iterations.
// --vector: plain std::vector buffers instead of ucoro::host_memory.
// Rank r runs on CPU r (ucx_perftest's client on 0, server on 1): on two
// cores, two spinning ranks that share one would measure the scheduler.

#include <ucoro/communicator.hpp>
#include <ucoro/host_memory.hpp>

#include "args.hpp"
#include "perftest.hpp"
#include "report.hpp"
#include "process.hpp"

#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using bench::format_size;
using bench::json_stats;
using bench::num;
using bench::parse_size;
using bench::spread;
using bench::stats;
using bench::summarize;

namespace {

struct options {
  std::vector<std::size_t> sizes{8, 4096, 65536, 1U << 20, 16U << 20};
  std::size_t repeat = 5;
  bool blocking = false;
  bool vector = false;
  bool quick = false;
  bool perftest = true;
  std::string launcher = "ucoro";
  std::string json;
  bool as_rank = false;
  bool pin = true;
};

void pin_to(unsigned cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % std::max(1U, std::thread::hardware_concurrency()), &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0)
    std::fprintf(stderr, "comm: cannot pin to CPU %u\n", cpu);
}

/// Round trips per latency run and messages per bandwidth run: a fraction of
/// a second each, as the anchors' ucx_perftest runs.
std::size_t latency_iters(std::size_t size, bool quick) {
  const std::size_t n = size <= 4096 ? 20000 : size <= 65536 ? 4000 : size <= (1U << 20) ? 400 : 40;
  return quick ? std::max<std::size_t>(10, n / 20) : n;
}
std::size_t bandwidth_iters(std::size_t size, bool quick) {
  const std::size_t n = size <= 4096 ? 100000 : size <= 65536 ? 20000 : size <= (1U << 20) ? 2000 : 128;
  return quick ? std::max<std::size_t>(16, n / 20) : n;
}
std::size_t window_for(std::size_t size) { return size >= (1U << 20) ? 16 : 64; }

// ---- one rank ---------------------------------------------------------------------

/// The buffers a run uses: pre-touched (first touch is not the benchmark;
/// see the anchors' page-fault figure), one to send and one to receive.
struct buffers {
  buffers(std::size_t size, bool use_vector) {
    if (use_vector) {
      vec_out.assign(size, std::byte{0x5A});
      vec_in.assign(size, std::byte{0});
    } else {
      mem_out.emplace(size, std::byte{0x5A});
      mem_in.emplace(size, std::byte{0});
    }
  }
  [[nodiscard]] std::span<const std::byte> out() const {
    return mem_out ? std::span<const std::byte>(mem_out->data(), mem_out->size()) : std::span<const std::byte>(vec_out);
  }
  [[nodiscard]] std::span<std::byte> in() {
    return mem_in ? std::span<std::byte>(mem_in->data(), mem_in->size()) : std::span<std::byte>(vec_in);
  }
  std::optional<ucoro::host_memory> mem_out, mem_in;
  std::vector<std::byte> vec_out, vec_in;
};

enum class path { communicator, endpoint };

struct rank_bench {
  ucoro::communicator& comm;
  std::uint32_t other;
  static constexpr std::uint32_t tag = 1;

  ucoro::task<void> send(path p, std::span<const std::byte> data) {
    if (p == path::communicator)
      co_await comm.send(other, data, tag);
    else
      co_await comm.peer(other).send(data);
  }
  ucoro::task<void> recv(path p, std::span<std::byte> data) {
    if (p == path::communicator)
      (void)co_await comm.recv(other, data, tag);
    else
      (void)co_await comm.peer(other).recv(data);
  }

  /// One-way latency (half the round trip), median over the run, in us.
  /// The communicator path awaits comm.send/recv, the endpoint path the
  /// endpoint's own awaitables: each is what a user writes.
  ucoro::task<double> latency(path p, buffers& b, std::size_t iters) {
    std::vector<double> one_way;
    one_way.reserve(iters);
    const bool first = comm.rank() == 0;
    const auto& ep = comm.peer(other);
    const std::size_t warmup = iters / 10;
    auto t0 = clock_type::now();
    for (std::size_t i = 0; i < warmup + iters; ++i) {
      if (p == path::communicator) {
        if (first) {
          co_await comm.send(other, b.out(), tag);
          (void)co_await comm.recv(other, b.in(), tag);
        } else {
          (void)co_await comm.recv(other, b.in(), tag);
          co_await comm.send(other, b.out(), tag);
        }
      } else {
        if (first) {
          co_await ep.send(b.out());
          (void)co_await ep.recv(b.in());
        } else {
          (void)co_await ep.recv(b.in());
          co_await ep.send(b.out());
        }
      }
      const auto t1 = clock_type::now();
      if (i >= warmup)
        one_way.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / 2);
      t0 = t1;
    }
    co_return bench::median(std::move(one_way));
  }

  /// Rank 0 sends `iters` messages in windows; rank 1 receives them and
  /// acknowledges the last: GB/s (1e9) from the first send to the ack.
  ucoro::task<double> bandwidth(path p, buffers& b, std::size_t size, std::size_t iters) {
    const std::size_t window = window_for(size);
    const std::size_t batches = std::max<std::size_t>(1, iters / window);
    std::byte ack{};
    const auto t0 = clock_type::now();
    for (std::size_t batch = 0; batch < batches; ++batch) {
      std::vector<ucoro::task<void>> ops;
      ops.reserve(window);
      for (std::size_t i = 0; i < window; ++i)
        ops.push_back(comm.rank() == 0 ? send(p, b.out()) : recv(p, b.in()));
      co_await ucoro::when_all(std::move(ops));
    }
    if (comm.rank() == 0)
      (void)co_await comm.recv(other, std::span(&ack, 1), tag + 1);
    else
      co_await comm.send(other, std::span(&ack, 1), tag + 1);
    const double seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    co_return static_cast<double>(batches * window * size) / seconds / 1e9;
  }
};

ucoro::task<void> run_rank(ucoro::worker& w, const options& o) {
  ucoro::bootstrap_options bo;
  bo.connect = ucoro::connect_policy::eager; // connecting is not the benchmark
  ucoro::communicator comm = co_await ucoro::communicator::bootstrap(w, bo);
  if (comm.size() != 2)
    throw std::invalid_argument("comm: runs on 2 ranks, not " + std::to_string(comm.size()));
  if (o.pin)
    pin_to(comm.rank());
  rank_bench bench{comm, 1 - comm.rank()};
  if (comm.rank() == 0) {
    std::printf("launched %s\n", ucoro::to_string(comm.bootstrap_info()));
    std::fflush(stdout);
  }
  for (std::size_t size : o.sizes) {
    buffers b(size, o.vector);
    for (std::size_t rep = 0; rep < o.repeat; ++rep) {
      const path order[2] = {rep % 2 == 0 ? path::communicator : path::endpoint,
                             rep % 2 == 0 ? path::endpoint : path::communicator};
      for (path p : order) {
        co_await comm.barrier();
        const double lat = co_await bench.latency(p, b, latency_iters(size, o.quick));
        co_await comm.barrier();
        const double bw = co_await bench.bandwidth(p, b, size, bandwidth_iters(size, o.quick));
        if (comm.rank() == 0) {
          std::printf("result %zu %s %zu %.6f %.6f\n", size, p == path::communicator ? "communicator" : "endpoint", rep,
                      lat, bw);
          std::fflush(stdout);
        }
      }
    }
  }
  co_await comm.barrier();
  if (comm.rank() == 0) {
    std::printf("done\n");
    std::fflush(stdout);
  }
}

// ---- the launcher -----------------------------------------------------------------

struct series {
  std::vector<double> lat, bw;
};

std::vector<std::string> rank_arguments(const options& o) {
  std::string sizes;
  for (std::size_t s : o.sizes)
    sizes += (sizes.empty() ? "" : ",") + std::to_string(s);
  std::vector<std::string> args{"--as-rank", "--sizes", sizes, "--repeat", std::to_string(o.repeat)};
  if (o.blocking)
    args.emplace_back("--blocking");
  if (o.vector)
    args.emplace_back("--vector");
  if (o.quick)
    args.emplace_back("--quick");
  if (!o.pin)
    args.emplace_back("--no-pin");
  return args;
}

int launch(const options& o) {
  // This program's path, resolved here: in a child, /proc/self/exe is env's.
  const std::string self = std::filesystem::canonical("/proc/self/exe").string();
  std::vector<std::unique_ptr<ucoro::test::child_process>> ranks;
  if (o.launcher == "mpirun") {
    std::vector<std::string> command{"/usr/bin/mpirun", "--allow-run-as-root", "--oversubscribe", "-n", "2", "--mca",
                                     "btl", "self,vader", "--mca", "pml", "ob1", "--mca", "oob_tcp_if_include", "lo",
                                     "-x", "UCX_NET_DEVICES", self};
    for (auto& a : rank_arguments(o))
      command.push_back(a);
    ranks.push_back(std::make_unique<ucoro::test::child_process>(command));
  } else if (o.launcher == "ucoro") {
    const std::string root = "127.0.0.1:" + std::to_string(bench::free_port());
    for (int r = 0; r < 2; ++r) {
      std::vector<std::string> command{"/usr/bin/env", "UCORO_RANK=" + std::to_string(r), "UCORO_SIZE=2",
                                       "UCORO_ROOT=" + root, "UCORO_JOB=bench-comm-" + std::to_string(::getpid()),
                                       self};
      for (auto& a : rank_arguments(o))
        command.push_back(a);
      ranks.push_back(std::make_unique<ucoro::test::child_process>(command));
    }
  } else {
    throw std::invalid_argument("--launcher is ucoro or mpirun, not '" + o.launcher + "'");
  }

  std::map<std::size_t, std::map<std::string, series>> runs;
  std::map<std::size_t, std::vector<double>> lat_ratio, bw_ratio;
  std::map<std::pair<std::size_t, std::size_t>, std::map<std::string, std::pair<double, double>>> by_rep;
  std::string launched;
  bool done = false;
  while (auto line = ranks[0]->read_line(600s)) {
    std::istringstream in(*line);
    std::string word;
    in >> word;
    if (word == "launched") {
      launched = line->substr(9);
    } else if (word == "result") {
      std::size_t size = 0, rep = 0;
      std::string which;
      double lat = NAN, bw = NAN;
      in >> size >> which >> rep >> lat >> bw;
      runs[size][which].lat.push_back(lat);
      runs[size][which].bw.push_back(bw);
      by_rep[{size, rep}][which] = {lat, bw};
    } else if (word == "done") {
      done = true;
      break;
    } else if (word == "error:") {
      std::fprintf(stderr, "comm: rank 0: %s\n", line->c_str());
    }
  }
  for (auto& r : ranks)
    if (r->wait_exit(60s) != 0)
      done = false;
  if (!done) {
    std::fprintf(stderr, "comm: the ranks did not finish\n");
    return 1;
  }
  for (auto& [key, paths] : by_rep) {
    const auto& c = paths["communicator"];
    const auto& e = paths["endpoint"];
    lat_ratio[key.first].push_back(c.first / e.first);
    bw_ratio[key.first].push_back(c.second / e.second);
  }

  // ucx_perftest, same sizes and iterations, `repeat` runs each.
  std::map<std::size_t, series> perftest;
  if (o.perftest) {
    bench::perftest_options po;
    po.blocking = o.blocking;
    if (o.pin) {
      po.cpu_client = 0;
      po.cpu_server = 1;
    }
    for (std::size_t size : o.sizes)
      for (std::size_t rep = 0; rep < o.repeat; ++rep) {
        const std::size_t li = latency_iters(size, o.quick), bi = bandwidth_iters(size, o.quick);
        if (auto r = bench::run_perftest(po, "tag_lat", size, li, li / 10))
          perftest[size].lat.push_back(r->p50_us);
        if (auto r = bench::run_perftest(po, "tag_bw", size, bi, bi / 10))
          perftest[size].bw.push_back(r->mib_s * 1048576.0 / 1e9);
      }
  }

  std::printf("comm: 2 ranks via %s, %s progress, %s buffers, %s, %zu repeats; median [min-max] over repeats\n",
              launched.c_str(), o.blocking ? "blocking" : "polling", o.vector ? "std::vector" : "host_memory",
              o.pin ? "pinned to CPUs 0 and 1" : "not pinned", o.repeat);
  std::printf("%-8s | %-20s %-20s %-20s | %-18s %-8s | %-20s %-20s %-20s | %-18s %-8s\n", "size", "lat comm us",
              "lat endpoint us", "lat ucx_perftest us", "comm/endpoint", "comm/pt", "bw comm GB/s", "bw endpoint GB/s",
              "bw ucx_perftest", "comm/endpoint", "comm/pt");
  nlohmann::json json = {{"launcher", launched},
                         {"progress", o.blocking ? "blocking" : "polling"},
                         {"buffers", o.vector ? "std::vector" : "host_memory"},
                         {"repeat", o.repeat},
                         {"rows", nlohmann::json::array()}};
  for (std::size_t size : o.sizes) {
    const stats lc = summarize(runs[size]["communicator"].lat), le = summarize(runs[size]["endpoint"].lat),
                lp = summarize(perftest[size].lat);
    const stats bc = summarize(runs[size]["communicator"].bw), be = summarize(runs[size]["endpoint"].bw),
                bp = summarize(perftest[size].bw);
    const stats lr = summarize(lat_ratio[size]), br = summarize(bw_ratio[size]);
    const double lat_pt = lc.median / lp.median, bw_pt = bc.median / bp.median;
    std::printf("%-8s | %-20s %-20s %-20s | %-18s %-8s | %-20s %-20s %-20s | %-18s %-8s\n", format_size(size).c_str(),
                spread(lc).c_str(), spread(le).c_str(), spread(lp).c_str(), spread(lr, 3).c_str(), num(lat_pt, 3).c_str(),
                spread(bc, 3).c_str(), spread(be, 3).c_str(), spread(bp, 3).c_str(), spread(br, 3).c_str(),
                num(bw_pt, 3).c_str());
    json["rows"].push_back(
        {{"size", size},
         {"latency_us", {{"communicator", json_stats(lc)}, {"endpoint", json_stats(le)}, {"ucx_perftest", json_stats(lp)}}},
         {"bandwidth_gbps",
          {{"communicator", json_stats(bc)}, {"endpoint", json_stats(be)}, {"ucx_perftest", json_stats(bp)}}},
         {"latency_ratio_endpoint", json_stats(lr)},
         {"bandwidth_ratio_endpoint", json_stats(br)},
         {"latency_ratio_perftest", lat_pt},
         {"bandwidth_ratio_perftest", bw_pt}});
  }
  std::printf("comm/endpoint: paired per repeat (the lower the better for latency, the higher for bandwidth); "
              "comm/pt: medians against ucx_perftest tag_lat/tag_bw\n");
  if (!o.json.empty())
    bench::write_json_file(o.json, json);
  return 0;
}

options parse(int argc, char** argv) {
  options o;
  CLI::App app{"the communicator against its endpoints and ucx_perftest", "comm"};
  std::string sizes;
  app.add_option("--sizes", sizes, "comma-separated message sizes (B, K, M)");
  app.add_option("--repeat", o.repeat);
  app.add_flag("--blocking", o.blocking);
  app.add_flag("--vector", o.vector);
  app.add_flag("--quick", o.quick);
  app.add_flag_callback("--no-perftest", [&] { o.perftest = false; });
  app.add_option("--launcher", o.launcher);
  app.add_option("--json", o.json);
  app.add_flag_callback("--no-pin", [&] { o.pin = false; });
  app.add_flag("--as-rank", o.as_rank);
  bench::parse(app, argc, argv);
  if (!sizes.empty()) {
    o.sizes = bench::parse_size_list(sizes);
  }
  if (o.sizes.empty() || o.repeat == 0)
    throw std::invalid_argument("--sizes and --repeat need at least one");
  return o;
}

} // namespace

int main(int argc, char** argv) {
  try {
    const options o = parse(argc, argv);
    if (!o.as_rank)
      return launch(o);
    ucoro::context ctx;
    ucoro::worker w{ctx, o.blocking ? ucoro::progress_mode::blocking : ucoro::progress_mode::polling};
    w.run(ucoro::with_timeout(run_rank(w, o), 1800s));
    return 0;
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    std::fflush(stdout);
    return 1;
  }
}
