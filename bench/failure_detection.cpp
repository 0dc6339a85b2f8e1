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
//
//   failure_detection --partition [--repeat N] [--side PATH]
//
// The faults of a network instead, between two test hosts (network
// namespaces on a bridge, UCX over tcp on their veths; root only, exit 77
// without it), with default endpoint options on both sides
// (tests/loopback/partition_side.cpp): the client's process killed, and its
// host cut off (its bridge port down: no RST, both processes alive), each
// while idle and while streaming 64 KiB messages, as ms from the fault to
// each side's operation failing; and the link flapping (down 2 s, up 2 s,
// three times) under a stream of numbered messages, where nothing may fail
// and every message must arrive.

#include <nlohmann/json.hpp>

#include <ucoro/host_memory.hpp>
#include <ucoro/ucoro.hpp>

#include "args.hpp"
#include "netns.hpp"
#include "peer_kill.hpp"
#include "process.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
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
  bool partition = false;
  std::string side = UCORO_PARTITION_SIDE;
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
  nlohmann::json out = {{"rows", nlohmann::json::array()}};
  for (const auto& r : rows) {
    nlohmann::json errors = nlohmann::json::object();
    for (const auto& [text, n] : r.errors)
      errors[text] = n;
    out["rows"].push_back({{"mode", r.mode},
                           {"phase", r.phase},
                           {"median_ms", percentile(r.ms, 0.5)},
                           {"min_ms", percentile(r.ms, 0)},
                           {"max_ms", percentile(r.ms, 1)},
                           {"unarmable", r.unarmable},
                           {"errors", errors}});
  }
  std::ofstream file(path);
  file << out.dump(2) << '\n';
  if (!file.flush())
    throw std::runtime_error(path + ": write failed");
}

// ---- network faults between two test hosts -------------------------------------------

struct network_phase {
  const char* name;
  const char* server_mode;
  const char* client_mode;
  const char* ready; ///< what both sides say once the phase is under way
};
constexpr network_phase network_phases[] = {{"idle", "idle", "idle", "connected"},
                                            {"streaming", "sink", "stream", "streaming"}};

/// ms from the fault to the side's "failed ..." line, and the line; nothing
/// if the side did not fail within the bound.
struct side_outcome {
  std::optional<double> ms;
  std::string error;
};

std::unique_ptr<ucoro::test::child_process> start_side(const ucoro::test::test_hosts& hosts, int host,
                                                       std::vector<std::string> command, const char* ready) {
  auto side = hosts.run_on(host, {}, command);
  const auto line = side->read_output_line(30s);
  if (line != std::optional<std::string>(ready))
    throw std::runtime_error(command[1] + " side said '" + line.value_or("(nothing)") + "', not '" + ready + "'");
  return side;
}

/// One fault ("kill" or "partition") in one phase: the server on host 1,
/// the client on host 2, each side's failure timed from the fault.
std::pair<side_outcome, side_outcome> network_fault_once(const ucoro::test::test_hosts& hosts, const options& o,
                                                         const std::string& fault, const network_phase& ph,
                                                         const std::string& port) {
  auto server = start_side(hosts, 1, {o.side, "serve", port, ph.server_mode}, "listening");
  auto client = hosts.run_on(2, {}, {o.side, "connect", ucoro::test::test_hosts::address(1), port, ph.client_mode});
  for (auto* side : {server.get(), client.get()})
    if (const auto line = side->read_output_line(30s); line != std::optional<std::string>(ph.ready))
      throw std::runtime_error(std::string("a side said '") + line.value_or("(nothing)") + "', not '" + ph.ready + "'");
  const auto t0 = std::chrono::steady_clock::now();
  if (fault == "kill")
    client->kill();
  else
    hosts.set_link(2, false);
  // Both sides read in turns, 10 ms each, so that neither's time waits on
  // the other's: 30 s in all.
  std::pair<side_outcome, side_outcome> out;
  const auto deadline = t0 + 30s;
  const bool client_waits = fault != "kill";
  while (std::chrono::steady_clock::now() < deadline && (!out.first.ms || (client_waits && !out.second.ms))) {
    for (auto [side, result] : {std::pair{server.get(), &out.first}, std::pair{client.get(), &out.second}}) {
      if (result->ms || (side == client.get() && !client_waits))
        continue;
      if (auto line = side->read_output_line(10ms); line && line->rfind("failed", 0) == 0) {
        result->ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        result->error = line->substr(0, line->find(':'));
      }
    }
  }
  server->kill();
  client->kill();
  (void)server->wait_exit(10s);
  (void)client->wait_exit(10s);
  if (fault != "kill")
    hosts.set_link(2, true);
  return out;
}

/// The link goes down for 2 s and up for 2 s, three times, while the client
/// sends 1500 numbered messages 10 ms apart and the server checks each:
/// true if both sides said "done 1500" (nothing failed, nothing lost).
bool flapping_once(const ucoro::test::test_hosts& hosts, const options& o, const std::string& port) {
  auto server = start_side(hosts, 1, {o.side, "serve", port, "count", "1500"}, "listening");
  auto client = start_side(hosts, 2, {o.side, "connect", ucoro::test::test_hosts::address(1), port, "count", "1500"},
                           "streaming");
  for (int flap = 0; flap < 3; ++flap) {
    hosts.set_link(2, false);
    std::this_thread::sleep_for(2s); // the behaviour measured: an outage shorter than the deadline
    hosts.set_link(2, true);
    std::this_thread::sleep_for(2s);
  }
  bool delivered = true;
  for (auto* side : {server.get(), client.get()}) {
    std::optional<std::string> line;
    do
      line = side->read_output_line(60s);
    while (line == std::optional<std::string>("streaming"));
    delivered = delivered && line == std::optional<std::string>("done 1500");
    delivered = delivered && side->wait_exit(15s) == 0;
  }
  return delivered;
}

std::string ms_cell(std::vector<double> v, int wanted) {
  if (v.empty())
    return "-";
  char text[96];
  std::snprintf(text, sizeof text, "%.0f [%.0f-%.0f]%s", percentile(v, 0.5), percentile(v, 0), percentile(v, 1),
                static_cast<int>(v.size()) == wanted ? "" : (" (" + std::to_string(v.size()) + " of " +
                                                             std::to_string(wanted) + ")").c_str());
  return text;
}

int run_network_faults(const options& o) {
  ucoro::test::test_hosts hosts;
  if (!hosts.ok()) {
    std::printf("SKIP: cannot create network namespaces here (ip netns needs root)\n");
    return 77;
  }
  int next_port = 29300;
  std::printf("\nnetwork faults between two test hosts, default endpoint options (heartbeat 1 s, deadline 5 s):\n");
  std::printf("ms from the fault to each side's operation failing, median [min-max] of %d\n\n", o.repeat);
  std::printf("%-10s %-10s %-26s %-26s %s\n", "fault", "phase", "server ms", "client ms", "error");
  for (const std::string fault : {"kill", "partition"}) {
    for (const auto& ph : network_phases) {
      std::vector<double> server_ms, client_ms;
      std::map<std::string, int> errors;
      for (int k = 0; k < o.repeat; ++k) {
        std::fprintf(stderr, "\r%-10s %-10s run %d/%d   ", fault.c_str(), ph.name, k + 1, o.repeat);
        const auto [server, client] = network_fault_once(hosts, o, fault, ph, std::to_string(next_port++));
        if (server.ms)
          server_ms.push_back(*server.ms);
        if (client.ms)
          client_ms.push_back(*client.ms);
        ++errors[server.ms ? server.error : "server: none within 30 s"];
        if (fault != "kill")
          ++errors[client.ms ? client.error : "client: none within 30 s"];
      }
      std::fprintf(stderr, "\r%60s\r", "");
      std::string error_text;
      for (const auto& [text, n] : errors)
        error_text += (error_text.empty() ? "" : ", ") + text + " x" + std::to_string(n);
      std::printf("%-10s %-10s %-26s %-26s %s\n", fault.c_str(), ph.name, ms_cell(server_ms, o.repeat).c_str(),
                  fault == "kill" ? "(killed)" : ms_cell(client_ms, o.repeat).c_str(), error_text.c_str());
    }
  }
  int delivered = 0;
  for (int k = 0; k < o.repeat; ++k) {
    std::fprintf(stderr, "\rflapping run %d/%d   ", k + 1, o.repeat);
    delivered += flapping_once(hosts, o, std::to_string(next_port++)) ? 1 : 0;
  }
  std::fprintf(stderr, "\r%60s\r", "");
  std::printf("%-10s %-10s %s\n", "flapping", "streaming",
              ("nothing failed, all 1500 messages checked: " + std::to_string(delivered) + " of " +
               std::to_string(o.repeat) + " runs (3 x 2 s down, 2 s up)")
                  .c_str());
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  try {
    options o;
    CLI::App app{"how long after a peer dies its pending operations fail", "failure_detection"};
    std::string modes;
    app.add_option("--modes", modes, "comma-separated error-handling modes");
    app.add_option("--repeat", o.repeat);
    app.add_option("--heartbeat", o.heartbeat_ms);
    app.add_flag_callback("--polling", [&] { o.progress = ucoro::progress_mode::polling; });
    app.add_option("--json", o.json);
    app.add_option("--peer", o.peer);
    app.add_flag("--partition", o.partition);
    app.add_option("--side", o.side);
    bench::parse(app, argc, argv);
    if (!modes.empty())
      o.modes = bench::split(modes);
    if (o.repeat < 1 || o.heartbeat_ms < 1)
      throw std::invalid_argument("--repeat and --heartbeat must be positive");
    if (o.partition)
      return run_network_faults(o);
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
