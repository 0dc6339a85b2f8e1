// failure_detection: how long after a peer process is SIGKILLed the
// survivor's pending operation fails, per error-handling mode and per phase
// (idle, eager messages arriving, 64 MiB rendezvous arriving or leaving).
// Each kill is a fresh peer process (tests/loopback/peer.cpp); the table
// gives the median and the range over --repeat kills, the error seen, and
// how many kills left the worker unarmable (a stuck shared-memory FIFO).
//
//   failure_detection [--modes automatic,peer,none] [--repeat N] [--heartbeat MS] [--polling]
//                     [--json FILE] [--peer PATH]
//
// Mode none runs with a heartbeat (default 100 ms, timeout 5 x): without one
// nothing detects a dead peer (docs/failure.md).

#include <ucoro/host_memory.hpp>
#include <ucoro/ucoro.hpp>

#include "args.hpp"
#include "peer_kill.hpp"
#include "process.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

using ucoro::test::kill_phase;

struct options {
  std::vector<std::string> modes{"automatic", "peer", "none"};
  int repeat = 5;
  long heartbeat_ms = 100;
  ucoro::progress_mode progress = ucoro::progress_mode::blocking;
  std::string json;
  std::string peer = UCORO_FAILURE_PEER;
};

struct sample {
  double ms = 0;
  std::string error;
  bool unarmable = false; ///< the kill left the worker's shared-memory FIFO stuck
};

struct row {
  std::string mode;
  std::string phase;
  std::vector<double> ms;
  std::map<std::string, int> errors;
  int unarmable = 0;
};

sample kill_once(ucoro::worker& w, const options& o, ucoro::error_handling mode, const kill_phase& ph) {
  std::vector<std::string> args{o.peer, "--mode", ph.peer_mode, "--size", std::to_string(ph.size),
                                "--error-handling", ucoro::to_string(mode)};
  ucoro::endpoint_options eo;
  eo.error_handling = mode;
  if (mode == ucoro::error_handling::none) {
    args.emplace_back("--heartbeat");
    args.push_back(std::to_string(o.heartbeat_ms));
    eo.heartbeat.interval = std::chrono::milliseconds(o.heartbeat_ms);
  }
  ucoro::test::child_process peer{args};
  const auto port = peer.expect("port ", 20s);
  if (!port)
    throw std::runtime_error("the peer did not start: " + o.peer);
  const auto killed =
      ucoro::test::kill_during(w, peer, static_cast<std::uint16_t>(std::stoi(*port)), ph, eo, 60s);
  sample s;
  s.ms = killed.detection.count();
  s.error = killed.outcome ? "none (completed)" : killed.outcome.error.message();
  s.unarmable = w.engine().stuck_unarmable();
  (void)peer.wait_exit(10s);
  return s;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double at = p * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(at);
  const auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (at - static_cast<double>(lo));
}

void print(const std::vector<row>& rows, const options& o) {
  std::printf("\nfailure detection: ms from SIGKILL of the peer to the survivor's operation failing\n");
  std::printf("(%d kills each, %s progress; none runs with a %ld ms heartbeat, timeout %ld ms)\n\n", o.repeat,
              o.progress == ucoro::progress_mode::polling ? "polling" : "blocking", o.heartbeat_ms,
              5 * o.heartbeat_ms);
  std::printf("%-10s %-22s %9s %19s %10s  %s\n", "mode", "phase", "median", "[min - max]", "unarmable", "error");
  for (const auto& r : rows) {
    std::string errors;
    for (const auto& [text, n] : r.errors)
      errors += (errors.empty() ? "" : ", ") + text + (n == o.repeat ? "" : " x" + std::to_string(n));
    const std::string unarmable = std::to_string(r.unarmable) + "/" + std::to_string(r.ms.size());
    std::printf("%-10s %-22s %9.1f   [%6.1f - %7.1f] %10s  %s\n", r.mode.c_str(), r.phase.c_str(),
                percentile(r.ms, 0.5), percentile(r.ms, 0), percentile(r.ms, 1), unarmable.c_str(), errors.c_str());
  }
}

void write_json(const std::vector<row>& rows, const std::string& path) {
  std::ofstream out(path);
  out << "{\"rows\": [\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    out << "  {\"mode\": \"" << r.mode << "\", \"phase\": \"" << r.phase << "\", \"median_ms\": "
        << percentile(r.ms, 0.5) << ", \"min_ms\": " << percentile(r.ms, 0) << ", \"max_ms\": " << percentile(r.ms, 1)
        << ", \"unarmable\": " << r.unarmable << ", \"errors\": {";
    bool first = true;
    for (const auto& [text, n] : r.errors) {
      out << (first ? "" : ", ") << "\"" << text << "\": " << n;
      first = false;
    }
    out << "}}" << (i + 1 < rows.size() ? "," : "") << "\n";
  }
  out << "]}\n";
}

} // namespace

int main(int argc, char** argv) {
  try {
    options o;
    for (bench::arguments args{argc, argv}; args.next();) {
      const std::string a = args.flag();
      auto next = [&] { return args.value(); };
      if (a == "--modes")
        o.modes = bench::split(next());
      else if (a == "--repeat")
        o.repeat = std::stoi(next());
      else if (a == "--heartbeat")
        o.heartbeat_ms = std::stol(next());
      else if (a == "--polling")
        o.progress = ucoro::progress_mode::polling;
      else if (a == "--json")
        o.json = next();
      else if (a == "--peer")
        o.peer = next();
      else
        throw std::invalid_argument("unknown option " + a);
    }
    if (o.repeat < 1 || o.heartbeat_ms < 1)
      throw std::invalid_argument("--repeat and --heartbeat must be positive");
    std::vector<row> rows;
    for (const auto& name : o.modes) {
      const auto mode = ucoro::parse_error_handling(name);
      ucoro::context ctx;
      for (const auto& ph : ucoro::test::kill_phases) {
        row r{name, ph.name, {}, {}, 0};
        for (int k = 0; k < o.repeat; ++k) {
          std::fprintf(stderr, "\r%-10s %-22s kill %d/%d   ", name.c_str(), ph.name, k + 1, o.repeat);
          // A fresh worker per kill: a peer killed while writing into the
          // worker's shared-memory FIFO can stall it for later senders
          // (docs/failure.md); samples stay independent.
          ucoro::worker w{ctx, o.progress};
          const auto s = kill_once(w, o, mode, ph);
          r.ms.push_back(s.ms);
          ++r.errors[s.error];
          r.unarmable += s.unarmable ? 1 : 0;
        }
        rows.push_back(std::move(r));
      }
    }
    std::fprintf(stderr, "\r%60s\r", "");
    print(rows, o);
    if (!o.json.empty())
      write_json(rows, o.json);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "failure_detection: %s\n", e.what());
    return 1;
  }
}
