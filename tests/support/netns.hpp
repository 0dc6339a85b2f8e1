#pragma once
// Test hosts on one machine: network namespaces whose veth0
// (198.18.0.1-3/15) meet on a bridge in a fourth, all named after this
// process and deleted at the end. Only root can make them; `ok()` says
// whether it worked (a test then skips, 77). A host's link can be cut and
// restored at the bridge: no RST, both processes alive, as when a switch
// port or a NIC dies. Failures throw (no Catch here): bench/failure_detection
// uses the same hosts.

#include "process.hpp"

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace ucoro::test {

class test_hosts {
  static void run(const std::string& command) {
    if (std::system(command.c_str()) != 0)
      throw std::runtime_error("test hosts: failed: " + command);
  }

public:
  test_hosts() : m_prefix("ucoro" + std::to_string(::getpid())) {
    std::string script = "set -e; ip netns add " + sw() + "; ip -n " + sw() + " link add br0 type bridge; ip -n " + sw() +
                         " link set br0 up; ";
    for (int i = 1; i <= 3; ++i) {
      const std::string h = host(i), port = "p" + std::to_string(i);
      script += "ip netns add " + h + "; ip link add veth0 netns " + h + " type veth peer name " + port + " netns " +
                sw() + "; ip -n " + sw() + " link set " + port + " master br0; ip -n " + sw() + " link set " + port +
                " up; ip -n " + h + " addr add " + address(i) + "/15 dev veth0; ip -n " + h + " link set veth0 up; ip -n " +
                h + " link set lo up; ";
    }
    m_ok = ::geteuid() == 0 && std::system(("(" + script + ") >/dev/null 2>&1").c_str()) == 0;
  }
  ~test_hosts() {
    std::string script;
    for (int i = 1; i <= 3; ++i)
      script += "ip netns del " + host(i) + " 2>/dev/null; ";
    script += "ip netns del " + sw() + " 2>/dev/null; true";
    (void)std::system(script.c_str());
  }
  test_hosts(const test_hosts&) = delete;
  test_hosts& operator=(const test_hosts&) = delete;

  [[nodiscard]] bool ok() const noexcept { return m_ok; }
  [[nodiscard]] std::string host(int i) const { return m_prefix + "h" + std::to_string(i); }
  [[nodiscard]] static std::string address(int i) { return "198.18.0." + std::to_string(i); }

  /// Bytes the bridge has sent to host i (its port's tx counter).
  [[nodiscard]] std::uint64_t bytes_to_host(int i) const {
    const std::string command =
        "ip netns exec " + sw() + " cat /sys/class/net/p" + std::to_string(i) + "/statistics/tx_bytes";
    FILE* out = ::popen(command.c_str(), "r");
    if (out == nullptr)
      throw std::runtime_error("test hosts: cannot run " + command);
    unsigned long long bytes = 0;
    const int fields = std::fscanf(out, "%llu", &bytes);
    ::pclose(out);
    if (fields != 1)
      throw std::runtime_error("test hosts: no byte count from " + command);
    return bytes;
  }

  /// Cuts host i off (its bridge port down: packets vanish, nobody is told)
  /// or joins it again.
  /// Joining again also forgets the neighbour entries the cut left FAILED:
  /// a host that sent into the cut otherwise answers its next connect()
  /// with EHOSTUNREACH at once (measured: "No route to host" for a client
  /// started right after the link came back), which is the kernel's state,
  /// not the behaviour a test that restores the link is about.
  void set_link(int i, bool up) const {
    std::string command = "ip -n " + sw() + " link set p" + std::to_string(i) + (up ? " up" : " down");
    if (up)
      for (int h = 1; h <= 3; ++h)
        command += " && ip -n " + host(h) + " neigh flush dev veth0";
    run(command);
  }

  /// Shapes what the bridge sends to host i with a tc qdisc ("tbf rate
  /// 2mbit burst 16kbit latency 10s"; this kernel has no netem).
  void shape(int i, const std::string& qdisc) const {
    const std::string command =
        "ip netns exec " + sw() + " tc qdisc replace dev p" + std::to_string(i) + " root " + qdisc;
    run(command);
  }

  /// `command` on host i with UCX over tcp on its veth0 only, so its
  /// traffic crosses the bridge; `env` are NAME=VALUE settings.
  [[nodiscard]] std::unique_ptr<child_process> run_on(int i, const std::vector<std::string>& env,
                                                      const std::vector<std::string>& command) const {
    std::vector<std::string> args{"/usr/sbin/ip", "netns", "exec", host(i), "/usr/bin/env", "UCX_TLS=tcp",
                                  "UCX_NET_DEVICES=veth0"};
    args.insert(args.end(), env.begin(), env.end());
    args.insert(args.end(), command.begin(), command.end());
    return std::make_unique<child_process>(args);
  }

private:
  [[nodiscard]] std::string sw() const { return m_prefix + "sw"; }
  std::string m_prefix;
  bool m_ok = false;
};

} // namespace ucoro::test
