#pragma once
// A bare UCX endpoint to a worker address, for tests below ucoro::endpoint
// (worker-level tag operations). Force-closed on destruction.

#include <ucoro/ucoro.hpp>

#include <ucp/api/ucp.h>

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
