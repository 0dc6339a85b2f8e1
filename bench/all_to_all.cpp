// all_to_all: per-rank all-to-all throughput of every ucoro algorithm and
// of automatic, next to Open MPI's MPI_Alltoall / MPI_Alltoallv (ob1/vader,
// its default, and pml ucx) run in the same invocation, and memcpy.
//
//   all_to_all [--ranks 2,4] [--sizes 64,4K,64K,1M,16M] [--repeat 3] [--quick]
//              [--tls default|tcp] [--json FILE] [--plot FILE.png] [--no-mpi]
//
// GB/s per rank is counted as ../shared/anchors/alltoall_mpi.c counts it:
// bytes sent plus received across process boundaries, 2*(P-1)*block, over
// the slowest rank's time of the repetition (a barrier before each). ucoro
// runs as P ranks launched through UCORO_* on loopback; each algorithm runs
// with std::vector buffers and with pre-touched host_memory ("pool"
// buffers), interleaved; a round's figure is the median over its
// iterations. Beside them, "raw UCX": every receive and send of the
// exchange posted at once with ucp_tag_*_nbx on the same UCX endpoints,
// then progress: the floor over UCX, with no ucoro on the path.
//
// Like for like: Open MPI gets the same buffers as each ucoro row (its
// reference takes --buffers vector|pool), and the two alternate: each of
// `repeat` rounds is one ucoro job, then one launch per Open MPI
// configuration and buffer kind. Ratios: ucoro / the best Open MPI
// configuration with the same buffers in the same round, median [min-max]
// over the rounds. --tls tcp: ucoro and Open MPI's pml ucx with
// UCX_TLS=tcp on loopback, and Open MPI's ob1 with its tcp btl (the
// multi-host transport of these machines).

#include <ucoro/all_to_all.hpp>
#include <ucoro/host_memory.hpp>

#include "args.hpp"
#include "perftest.hpp"
#include "process.hpp"
#include "report.hpp"

#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
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
using bench::num;
using bench::spread;
using bench::summarize;

namespace {

struct options {
  std::vector<std::uint32_t> ranks{2, 4};
  std::vector<std::size_t> sizes{64, 4096, 65536, 1U << 20, 16U << 20};
  std::size_t repeat = 3;
  bool quick = false;
  bool mpi = true;
  std::string tls = "default"; // or tcp
  std::size_t first_round = 0; // --as-rank: the round this job is (rotates the algorithms)
  std::string json;
  std::string plot;
  bool as_rank = false;
};

int iterations_for(std::size_t block, bool quick) {
  const int n = block <= 65536 ? 100 : block <= (1U << 20) ? 20 : 4;
  return quick ? std::max(2, n / 10) : n;
}

const ucoro::all_to_all_algorithm algorithms[] = {
    ucoro::all_to_all_algorithm::automatic, ucoro::all_to_all_algorithm::direct, ucoro::all_to_all_algorithm::pairwise,
    ucoro::all_to_all_algorithm::bruck, ucoro::all_to_all_algorithm::buffered};

// ---- one rank ---------------------------------------------------------------------

/// Median over `iterations` of the slowest rank's time, in us.
template <class Buffer>
ucoro::task<double> time_exchange(ucoro::communicator& comm, const Buffer& send, Buffer& recv,
                                  ucoro::all_to_all_options o, int iterations) {
  std::vector<double> times;
  for (int i = -1; i < iterations; ++i) { // one warm-up
    co_await comm.barrier();
    const auto t0 = clock_type::now();
    co_await ucoro::all_to_all(comm, send, recv, o);
    const double mine = std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
    const double slowest = co_await comm.all_reduce(mine, [](double a, double b) { return std::max(a, b); });
    if (i >= 0)
      times.push_back(slowest);
  }
  co_return bench::median(std::move(times));
}

/// Completions of one raw exchange, counted by UCX's callbacks.
struct raw_count {
  std::size_t done = 0;
};

void raw_recv_done(void* request, ucs_status_t, const ucp_tag_recv_info_t*, void* user) {
  ++static_cast<raw_count*>(user)->done;
  ucp_request_free(request);
}
void raw_send_done(void* request, ucs_status_t, void* user) {
  ++static_cast<raw_count*>(user)->done;
  ucp_request_free(request);
}

/// The floor over UCX: the exchange with every receive and send posted at
/// once on the communicator's own UCX endpoints (user tag space: no ucoro
/// traffic there), then ucp_worker_progress until all are done; the own
/// block copied. Median over `iterations` of the slowest rank's time, us.
ucoro::task<double> time_raw_exchange(ucoro::communicator& comm, const std::byte* send, std::byte* recv,
                                      std::size_t block, int iterations) {
  const std::uint32_t n = comm.size(), me = comm.rank();
  ucp_worker_h worker = comm.get_worker().ucp_worker();
  std::vector<ucp_ep_h> eps(n, nullptr);
  for (std::uint32_t r = 0; r < n; ++r)
    if (r != me)
      eps[r] = comm.peer(r).ucp_endpoint();
  const bool yield = comm.get_worker().mode() == ucoro::progress_mode::yielding;
  std::vector<double> times;
  for (int i = -1; i < iterations; ++i) { // one warm-up
    const ucp_tag_t round = static_cast<ucp_tag_t>(i + 2) << 20; // this exchange's messages only
    co_await comm.barrier();
    const auto t0 = clock_type::now();
    raw_count count;
    std::size_t posted = 0;
    ucp_request_param_t rp{};
    // Host memory said, as ucoro says it: without it UCX looks the buffer's
    // type up per operation.
    rp.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_MEMORY_TYPE |
                     UCP_OP_ATTR_FLAG_NO_IMM_CMPL;
    rp.cb.recv = &raw_recv_done;
    rp.user_data = &count;
    rp.memory_type = UCS_MEMORY_TYPE_HOST;
    for (std::uint32_t r = 0; r < n; ++r) {
      if (r == me)
        continue;
      ++posted;
      const ucs_status_ptr_t req = ucp_tag_recv_nbx(worker, recv + block * r, block, round | r, ~ucp_tag_t{0}, &rp);
      if (!UCS_PTR_IS_PTR(req))
        ++count.done;
    }
    ucp_request_param_t sp{};
    sp.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_MEMORY_TYPE;
    sp.cb.send = &raw_send_done;
    sp.user_data = &count;
    sp.memory_type = UCS_MEMORY_TYPE_HOST;
    for (std::uint32_t k = 1; k < n; ++k) { // to me+1, me+2, ...: not every rank to rank 0 first
      const std::uint32_t r = (me + k) % n;
      ++posted;
      const ucs_status_ptr_t req = ucp_tag_send_nbx(eps[r], send + block * r, block, round | me, &sp);
      if (!UCS_PTR_IS_PTR(req))
        ++count.done;
    }
    std::memcpy(recv + block * me, send + block * me, block);
    // Past one rank per core, give the core away when idle, as ucoro's
    // yielding mode does (spinning, 4 ranks on 2 cores ran at 1/100 of it).
    while (count.done < posted)
      if (ucp_worker_progress(worker) == 0 && yield)
        ::sched_yield();
    const double mine = std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
    const double slowest = co_await comm.all_reduce(mine, [](double a, double b) { return std::max(a, b); });
    if (i >= 0)
      times.push_back(slowest);
  }
  co_return bench::median(std::move(times));
}

ucoro::task<void> run_rank(ucoro::worker& w, const options& o) {
  ucoro::bootstrap_options bo;
  bo.connect = ucoro::connect_policy::eager;
  ucoro::communicator comm = co_await ucoro::communicator::bootstrap(w, bo);
  const std::uint32_t n = comm.size();
  ucoro::slab_pool pool{w, 1 << 20, std::max<std::size_t>(8, 2 * n)};
  pool.warm_up();
  for (std::size_t block : o.sizes) {
    const std::size_t total = block * n;
    std::vector<std::byte> vsend(total, std::byte{1}), vrecv(total, std::byte{0});
    ucoro::host_memory hsend(total, std::byte{1}), hrecv(total, std::byte{0});
    constexpr std::size_t kinds = std::size(algorithms);
    for (std::size_t round = o.first_round; round < o.first_round + o.repeat; ++round) {
      for (const bool vector : {true, false}) {
        const double us = vector ? co_await time_raw_exchange(comm, vsend.data(), vrecv.data(), block,
                                                              iterations_for(block, o.quick))
                                 : co_await time_raw_exchange(comm, hsend.data(), hrecv.data(), block,
                                                              iterations_for(block, o.quick));
        if (comm.rank() == 0) {
          std::printf("ucoro raw-UCX %s %zu %u %zu %.3f -\n", vector ? "vector" : "pool", block, n, round, us);
          std::fflush(stdout);
        }
      }
      // Each round starts at another algorithm: what ran just before (bruck's
      // fresh scratch, the pool's slabs) measurably slowed the next run of
      // std::vector buffers (1 MiB, 2 ranks: 15.8 GB/s for automatic, which
      // always ran first, against 18.7 for direct, the same exchange).
      for (std::size_t k = 0; k < kinds; ++k)
        for (const bool vector : {true, false}) {
          const auto algorithm = algorithms[(k + round) % kinds];
          ucoro::all_to_all_options ao;
          ao.algorithm = algorithm;
          ao.pool = &pool;
          ucoro::all_to_all_report report;
          ao.report = &report;
          const double us = vector ? co_await time_exchange(comm, vsend, vrecv, ao, iterations_for(block, o.quick))
                                   : co_await time_exchange(comm, hsend, hrecv, ao, iterations_for(block, o.quick));
          if (comm.rank() == 0) {
            std::printf("ucoro %s %s %zu %u %zu %.3f %s\n", ucoro::to_string(algorithm), vector ? "vector" : "pool",
                        block, n, round, us, ucoro::to_string(report.algorithm));
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

double gbps(std::size_t block, std::uint32_t ranks, double us) {
  return 2.0 * (ranks - 1) * static_cast<double>(block) / (us * 1e-6) / 1e9;
}

/// memcpy of 16 MiB between pre-touched buffers, GB/s (read + write counted once).
double memcpy_gbps() {
  ucoro::host_memory a(16U << 20, std::byte{1}), b(16U << 20, std::byte{0});
  std::vector<double> rates;
  for (int i = 0; i < 20; ++i) {
    const auto t0 = clock_type::now();
    std::memcpy(b.data(), a.data(), a.size());
    rates.push_back(static_cast<double>(a.size()) / std::chrono::duration<double>(clock_type::now() - t0).count() / 1e9);
  }
  return bench::median(rates);
}

struct key {
  std::string system, buffers;
  std::size_t block;
  std::uint32_t ranks;
  auto operator<=>(const key&) const = default;
};

/// One panel per rank count: GB/s by block size for ucoro automatic (both
/// buffer kinds), each ucoro algorithm on std::vector, and the best Open
/// MPI configuration at each size.
void write_plot(const options& o, const std::map<key, std::vector<double>>& us) {
  std::vector<bench::plot_panel> panels;
  for (std::uint32_t ranks : o.ranks) {
    bench::plot_panel panel{std::to_string(ranks) + " ranks", "block per pair (bytes)", "GB/s per rank", {}};
    std::map<std::string, bench::plot_series> lines;
    for (std::size_t block : o.sizes) {
      double best_mpi = 0;
      for (const auto& [k, v] : us) {
        if (k.ranks != ranks || k.block != block)
          continue;
        const double rate = gbps(block, ranks, bench::median(v));
        if (k.system.rfind("Open MPI", 0) == 0)
          best_mpi = std::max(best_mpi, rate);
        else if (k.system == "ucoro automatic" || k.buffers == "vector")
          lines[k.system + " (" + k.buffers + ")"].points.emplace_back(static_cast<double>(block), rate);
      }
      if (best_mpi > 0)
        lines["best Open MPI"].points.emplace_back(static_cast<double>(block), best_mpi);
    }
    for (auto& [name, series] : lines) {
      series.name = name;
      panel.series.push_back(std::move(series));
    }
    panels.push_back(std::move(panel));
  }
  if (bench::write_png(o.plot, "all_to_all on one host: per-rank GB/s, 2(P-1)*block / slowest rank's time", panels,
                       "all_to_all"))
    std::printf("plot: %s\n", o.plot.c_str());
}

/// One round's ucoro job: every algorithm and the raw-UCX exchange, both
/// buffer kinds, `ranks` ranks; fills `us` and `picked`. False if it failed.
bool run_ucoro_round(const options& o, const std::string& self, std::uint32_t ranks, std::size_t round,
                     std::map<key, std::vector<double>>& us, std::map<key, std::string>& picked) {
  std::string sizes;
  for (std::size_t s : o.sizes)
    sizes += (sizes.empty() ? "" : ",") + std::to_string(s);
  const std::string root = "127.0.0.1:" + std::to_string(bench::free_port());
  std::vector<std::unique_ptr<ucoro::test::child_process>> procs;
  for (std::uint32_t r = 0; r < ranks; ++r) {
    std::vector<std::string> command{"/usr/bin/env", "UCORO_RANK=" + std::to_string(r),
                                     "UCORO_SIZE=" + std::to_string(ranks), "UCORO_ROOT=" + root,
                                     "UCORO_JOB=bench-a2a-" + std::to_string(::getpid()) + "-" + std::to_string(round)};
    if (o.tls == "tcp") {
      command.emplace_back("UCX_TLS=tcp");
      command.emplace_back("UCX_NET_DEVICES=lo");
    }
    for (const auto& a : {self, std::string("--as-rank"), std::string("--sizes"), sizes, std::string("--repeat"),
                          std::string("1"), std::string("--round"), std::to_string(round)})
      command.push_back(a);
    if (o.quick)
      command.emplace_back("--quick");
    procs.push_back(std::make_unique<ucoro::test::child_process>(command));
  }
  bool done = false;
  while (auto line = procs[0]->read_output_line(1200s)) {
    std::istringstream in(*line);
    std::string word, algorithm, buffers, ran;
    std::size_t block = 0, r = 0;
    std::uint32_t n = 0;
    double t = 0;
    in >> word;
    if (word == "done") {
      done = true;
      break;
    }
    if (word == "error:")
      std::fprintf(stderr, "all_to_all: rank 0: %s\n", line->c_str());
    if (word != "ucoro" || !(in >> algorithm >> buffers >> block >> n >> r >> t >> ran))
      continue;
    const std::string system = algorithm == "raw-UCX" ? "raw UCX" : "ucoro " + algorithm;
    us[{system, buffers, block, n}].push_back(t);
    picked[{system, buffers, block, n}] = ran;
  }
  for (auto& p : procs)
    if (p->wait_exit(60s) != 0)
      done = false;
  if (!done)
    std::fprintf(stderr, "all_to_all: the %u ucoro ranks did not finish round %zu\n", ranks, round);
  return done;
}

/// One round of Open MPI: each configuration once per buffer kind.
void run_mpi_round(const options& o, const std::string& mpi_reference, std::uint32_t ranks,
                   std::map<key, std::vector<double>>& us) {
  const bool tcp = o.tls == "tcp";
  const std::vector<std::pair<std::string, std::vector<std::string>>> configs{
      {tcp ? "Open MPI ob1 tcp" : "Open MPI ob1",
       tcp ? std::vector<std::string>{"--mca", "pml", "ob1", "--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include",
                                      "lo"}
           : std::vector<std::string>{"--mca", "pml", "ob1", "--mca", "btl", "self,vader"}},
      {"Open MPI pml ucx", {"--mca", "pml", "ucx", "--mca", "pml_ucx_tls", "any", "--mca", "pml_ucx_devices", "any"}}};
  for (const auto& [name, mca] : configs)
    for (const char* buffers : {"vector", "pool"}) {
      std::vector<std::string> command{"/usr/bin/env"};
      if (tcp) {
        command.emplace_back("UCX_TLS=tcp");
        command.emplace_back("UCX_NET_DEVICES=lo");
      }
      for (const auto& a : {"/usr/bin/mpirun", "--allow-run-as-root", "--oversubscribe", "-n"})
        command.emplace_back(a);
      command.push_back(std::to_string(ranks));
      for (const auto& a : {"--mca", "oob_tcp_if_include", "lo", "-x", "UCX_NET_DEVICES"})
        command.emplace_back(a);
      if (tcp) { // pml ucx over UCX's tcp transport, as ucoro runs
        command.emplace_back("-x");
        command.emplace_back("UCX_TLS");
      }
      command.insert(command.end(), mca.begin(), mca.end());
      command.push_back(mpi_reference);
      command.emplace_back("--buffers");
      command.emplace_back(buffers);
      if (o.quick) {
        command.emplace_back("--iterations");
        command.emplace_back("5");
      }
      for (std::size_t s : o.sizes)
        command.push_back(std::to_string(s));
      ucoro::test::child_process job{command};
      while (auto line = job.read_output_line(1200s)) {
        std::istringstream in(*line);
        std::string word, op;
        std::size_t block = 0;
        std::uint32_t n = 0;
        double median = 0;
        if (in >> word >> op >> block >> n >> median && word == "mpi")
          us[{name + " " + op, buffers, block, n}].push_back(median);
      }
      if (job.wait_exit(60s) != 0)
        std::fprintf(stderr, "all_to_all: %s (%s) on %u ranks failed\n", name.c_str(), buffers, ranks);
    }
}

int launch(const options& o) {
  const std::string self = std::filesystem::canonical("/proc/self/exe").string();
  const std::string mpi_reference = std::filesystem::path(self).parent_path() / "all_to_all_mpi";
  const bool with_mpi =
      o.mpi && std::filesystem::exists(mpi_reference) && std::filesystem::exists("/usr/bin/mpirun");
  std::map<key, std::vector<double>> us; // per round, in round order
  std::map<key, std::string> picked;
  for (std::uint32_t ranks : o.ranks)
    for (std::size_t round = 0; round < o.repeat; ++round) { // ucoro and Open MPI alternate
      if (!run_ucoro_round(o, self, ranks, round, us, picked))
        return 1;
      if (with_mpi)
        run_mpi_round(o, mpi_reference, ranks, us);
    }

  const double memcpy_rate = memcpy_gbps();
  std::printf("all_to_all: UCX_TLS=%s; per-rank GB/s = 2(P-1)*block / slowest rank's time; median [min-max] over %zu "
              "rounds, ucoro and Open MPI alternating; ratio: to the best Open MPI configuration with the same buffers "
              "in the same round, median [min-max]; memcpy 16 MiB: %.1f GB/s\n",
              o.tls == "tcp" ? "tcp (Open MPI ob1: tcp btl)" : "default", o.repeat, memcpy_rate);
  nlohmann::json json = {{"memcpy_gbps", memcpy_rate}, {"tls", o.tls}, {"repeat", o.repeat},
                         {"rows", nlohmann::json::array()}};
  for (std::uint32_t ranks : o.ranks)
    for (std::size_t block : o.sizes) {
      // Per buffer kind and round: the best Open MPI rate.
      std::map<std::string, std::vector<double>> best; // buffers -> per round
      std::map<std::string, std::string> best_name;
      std::map<std::string, double> best_median;
      for (auto& [k, v] : us) {
        if (k.ranks != ranks || k.block != block || k.system.rfind("Open MPI", 0) != 0)
          continue;
        auto& b = best[k.buffers];
        b.resize(std::max(b.size(), v.size()), 0.0);
        for (std::size_t i = 0; i < v.size(); ++i)
          b[i] = std::max(b[i], gbps(block, ranks, v[i]));
        const double rate = gbps(block, ranks, bench::median(v));
        if (rate > best_median[k.buffers]) {
          best_median[k.buffers] = rate;
          best_name[k.buffers] = k.system;
        }
      }
      std::string bests;
      for (const auto& [buffers, name] : best_name)
        bests += (bests.empty() ? " (best Open MPI on " : "; on ") + buffers + ": " + name + ", " +
                 num(best_median[buffers], 3) + " GB/s";
      std::printf("\n%u ranks, %s blocks%s%s\n", ranks, format_size(block).c_str(), bests.c_str(),
                  bests.empty() ? "" : ")");
      for (auto& [k, v] : us) {
        if (k.ranks != ranks || k.block != block)
          continue;
        std::vector<double> rates, ratios;
        for (double t : v)
          rates.push_back(gbps(block, ranks, t));
        const auto b = best.find(k.buffers);
        const bool mpi_row = k.system.rfind("Open MPI", 0) == 0;
        if (b != best.end() && !mpi_row)
          for (std::size_t i = 0; i < rates.size() && i < b->second.size(); ++i)
            if (b->second[i] > 0)
              ratios.push_back(rates[i] / b->second[i]);
        const bench::stats s = summarize(rates);
        const std::string ratio_text = ratios.empty() ? "-" : spread(summarize(ratios), 2);
        const std::string ran = picked.count(k) ? picked[k] : "";
        std::printf("  %-26s %-7s %-26s ratio %-20s %s\n", k.system.c_str(), k.buffers.c_str(), spread(s, 3).c_str(),
                    ratio_text.c_str(), k.system == "ucoro automatic" ? ("(ran " + ran + ")").c_str() : "");
        json["rows"].push_back({{"ranks", ranks},
                                {"block", block},
                                {"system", k.system},
                                {"buffers", k.buffers},
                                {"gbps", bench::json_stats(s)},
                                {"ratio_to_best_mpi", ratios.empty() ? nlohmann::json(nullptr)
                                                                     : bench::json_stats(summarize(ratios))},
                                {"ran", ran}});
      }
    }
  if (!o.json.empty())
    bench::write_json_file(o.json, json);
  if (!o.plot.empty())
    write_plot(o, us);
  return 0;
}

options parse(int argc, char** argv) {
  options o;
  CLI::App app{"all-to-all against Open MPI, raw UCX and memcpy", "all_to_all"};
  std::string ranks, sizes;
  app.add_option("--ranks", ranks, "comma-separated rank counts");
  app.add_option("--sizes", sizes, "comma-separated block sizes (B, K, M)");
  app.add_option("--repeat", o.repeat);
  app.add_flag("--quick", o.quick);
  app.add_option("--tls", o.tls);
  app.add_option("--round", o.first_round);
  app.add_flag_callback("--no-mpi", [&] { o.mpi = false; });
  app.add_option("--json", o.json);
  app.add_option("--plot", o.plot);
  app.add_flag("--as-rank", o.as_rank);
  bench::parse(app, argc, argv);
  if (o.tls != "default" && o.tls != "tcp")
    throw std::invalid_argument("--tls is default or tcp, not '" + o.tls + "'");
  if (!ranks.empty()) {
    o.ranks.clear();
    for (const auto& r : bench::split(ranks))
      o.ranks.push_back(static_cast<std::uint32_t>(std::stoul(r)));
  }
  if (!sizes.empty()) {
    o.sizes = bench::parse_size_list(sizes);
  }
  if (o.sizes.empty() || o.ranks.empty() || o.repeat == 0)
    throw std::invalid_argument("--ranks, --sizes and --repeat need at least one");
  return o;
}

} // namespace

int main(int argc, char** argv) {
  try {
    const options o = parse(argc, argv);
    if (!o.as_rank)
      return launch(o);
    ucoro::context ctx;
    // Past one rank per core, spinning ranks would steal each other's turns
    // (Open MPI yields when oversubscribed too).
    const char* size = std::getenv("UCORO_SIZE");
    const bool oversubscribed = size != nullptr && std::strtoul(size, nullptr, 10) > std::thread::hardware_concurrency();
    ucoro::worker w{ctx, oversubscribed ? ucoro::progress_mode::yielding : ucoro::progress_mode::polling};
    w.run(ucoro::with_timeout(run_rank(w, o), 1800s));
    return 0;
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    std::fflush(stdout);
    return 1;
  }
}
