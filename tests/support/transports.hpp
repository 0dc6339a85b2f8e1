#pragma once
// The transports the loopback tests run over, and the listener and client
// options that go with them.

#include <ucoro/ucoro.hpp>

#include <map>
#include <string>
#include <vector>

namespace ucoro::test {

struct transport {
  const char* name;
  std::map<std::string, std::string> ucx;
  ucoro::error_handling error_handling;
};

// tcp with UCX peer error handling; shared memory (sysv + cma) without it,
// and through automatic, which picks it for a same-host peer (UCX 1.13's
// sysv/posix refuse PEER mode: docs/failure.md). "shm" has no tcp at all:
// the front door is ucoro's own socket, so UCX needs no connection manager.
inline std::vector<transport> transports() {
  return {{"tcp", {{"TLS", "tcp"}}, error_handling::peer},
          {"shm", {{"TLS", "sm,self"}}, error_handling::none},
          {"automatic", {}, error_handling::automatic}};
}

inline listener_options loopback_listener(ucoro::error_handling mode = error_handling::automatic) {
  listener_options o;
  o.bind_address = "127.0.0.1";
  o.endpoint.error_handling = mode;
  return o;
}

inline endpoint_options client_options(ucoro::error_handling mode = error_handling::automatic) {
  endpoint_options o;
  o.error_handling = mode;
  return o;
}

} // namespace ucoro::test
