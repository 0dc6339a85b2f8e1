#pragma once
// The ucx_perftest reference every benchmark runs in its own invocation,
// and the order statistics they report (medians and spreads: the machine
// is small and noisy).

#include "process.hpp"
#include "socket_util.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace bench {

inline double quantile(std::vector<double> v, double q) {
  if (v.empty())
    return NAN;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = static_cast<std::size_t>(std::ceil(pos));
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}
inline double median(std::vector<double> v) { return quantile(std::move(v), 0.5); }
inline double min_of(const std::vector<double>& v) { return v.empty() ? NAN : *std::min_element(v.begin(), v.end()); }
inline double max_of(const std::vector<double>& v) { return v.empty() ? NAN : *std::max_element(v.begin(), v.end()); }

struct perftest_result {
  double p50_us = NAN, avg_us = NAN, mib_s = NAN, msg_rate = NAN;
};

struct perftest_options {
  bool blocking = false; ///< -E sleep: wait on the worker's event fd, as ucoro's blocking mode
  bool peer = false;     ///< -e: UCX peer error handling
  int cpu_server = -1, cpu_client = -1;
};

/// Runs one ucx_perftest pair on 127.0.0.1 (the environment's UCX_* apply,
/// UCX_NET_DEVICES=lo included); parses its result line (with -f: eight
/// numbers, no "Final:" label). Nothing if it failed.
/// `window`: at most this many sends outstanding (-O), as the bench's own
/// bandwidth test keeps; 0: ucx_perftest's default.
inline std::optional<perftest_result> run_perftest(const perftest_options& o, const std::string& test,
                                                   std::size_t size, std::size_t iters, std::size_t warmup,
                                                   std::size_t window = 0) {
  using namespace std::chrono_literals;
  const std::string port = std::to_string(free_port());
  std::vector<std::string> server{"/usr/bin/ucx_perftest", "-p", port};
  if (o.cpu_server >= 0) {
    server.emplace_back("-c");
    server.push_back(std::to_string(o.cpu_server));
  }
  ucoro::test::child_process srv{server};
  std::this_thread::sleep_for(200ms); // ucx_perftest prints nothing when ready; give it time to listen
  std::vector<std::string> client{"/usr/bin/ucx_perftest", "127.0.0.1", "-p", port};
  for (const auto& a : {std::string("-t"), test, std::string("-s"), std::to_string(size), std::string("-n"),
                        std::to_string(iters), std::string("-w"), std::to_string(warmup), std::string("-f")})
    client.push_back(a);
  if (window > 0) {
    client.emplace_back("-O");
    client.push_back(std::to_string(window));
  }
  if (o.peer)
    client.emplace_back("-e");
  if (o.blocking) {
    client.emplace_back("-E");
    client.emplace_back("sleep");
  }
  if (o.cpu_client >= 0) {
    client.emplace_back("-c");
    client.push_back(std::to_string(o.cpu_client));
  }
  ucoro::test::child_process cli{client};
  std::optional<perftest_result> out;
  while (auto line = cli.read_line(120s)) {
    std::string text = *line;
    if (text.rfind("Final:", 0) == 0)
      text = text.substr(6);
    std::istringstream ss(text);
    double iterations, p50, avg, overall, bw_avg, bw_overall, rate_avg, rate_overall;
    std::string rest;
    if (ss >> iterations >> p50 >> avg >> overall >> bw_avg >> bw_overall >> rate_avg >> rate_overall && !(ss >> rest))
      out = perftest_result{p50, avg, bw_overall, rate_overall};
  }
  (void)cli.wait_exit(30s);
  (void)srv.wait_exit(30s);
  return out;
}

} // namespace bench
