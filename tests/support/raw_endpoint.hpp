#pragma once
// A bare UCX endpoint - to a worker address, or as a client of a listener on
// 127.0.0.1 - for tests below ucoro::endpoint (worker-level tag operations,
// clients that misbehave during the handshake). Force-closed on destruction.

#include <ucoro/ucoro.hpp>

#include <ucp/api/ucp.h>

#include <netinet/in.h>

#include <cstddef>
#include <utility>
#include <vector>

namespace ucoro::test {

class raw_endpoint {
public:
  raw_endpoint(worker& w, const std::vector<std::byte>& address) : m_worker(&w) {
    ucp_ep_params_t params{};
    params.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS;
    params.address = reinterpret_cast<const ucp_address_t*>(address.data());
    check(ucp_ep_create(w.ucp_worker(), &params, &m_ep), "creating test endpoint");
  }
  /// A client of the listener on 127.0.0.1:`port`, peer error handling on.
  raw_endpoint(worker& w, std::uint16_t port) : m_worker(&w) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ucp_ep_params_t params{};
    params.field_mask =
        UCP_EP_PARAM_FIELD_FLAGS | UCP_EP_PARAM_FIELD_SOCK_ADDR | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE;
    params.flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER;
    params.sockaddr.addr = reinterpret_cast<const sockaddr*>(&address);
    params.sockaddr.addrlen = sizeof address;
    params.err_mode = UCP_ERR_HANDLING_MODE_PEER;
    check(ucp_ep_create(w.ucp_worker(), &params, &m_ep), "creating raw test client");
  }
  raw_endpoint(const raw_endpoint&) = delete;
  raw_endpoint& operator=(const raw_endpoint&) = delete;
  ~raw_endpoint() {
    ucp_request_param_t param{};
    param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
    param.flags = UCP_EP_CLOSE_FLAG_FORCE;
    void* request = ucp_ep_close_nbx(m_ep, &param);
    if (UCS_PTR_IS_PTR(request)) {
      for (int i = 0; i < 1000000 && ucp_request_check_status(request) == UCS_INPROGRESS; ++i)
        ucp_worker_progress(m_worker->ucp_worker());
      ucp_request_free(request);
    }
  }
  [[nodiscard]] ucp_ep_h get() const noexcept { return m_ep; }

private:
  worker* m_worker;
  ucp_ep_h m_ep = nullptr;
};

} // namespace ucoro::test
