#pragma once
// RAII registration of memory with a UCX context (ucp_mem_map /
// ucp_mem_unmap): UCX then holds the memory's keys, so transfers from it
// skip the registration cache. Memory-type aware: the type is given (UCX
// would otherwise detect it on every map).

#include <ucoro/ucx/context.hpp>
#include <ucoro/error.hpp>

#include <ucp/api/ucp.h>

#include <cstddef>
#include <string>
#include <utility>

namespace ucoro {

class registered_memory {
public:
  registered_memory() noexcept = default;

  /// Registers [address, address + length) of `type` memory with `ctx`.
  registered_memory(context& ctx, void* address, std::size_t length, ucs_memory_type_t type = UCS_MEMORY_TYPE_HOST)
      : m_context(ctx.handle()), m_address(address), m_length(length) {
    ucp_mem_map_params_t params{};
    params.field_mask =
        UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH | UCP_MEM_MAP_PARAM_FIELD_MEMORY_TYPE;
    params.address = address;
    params.length = length;
    params.memory_type = type;
    const ucs_status_t status = ucp_mem_map(m_context, &params, &m_handle);
    if (status != UCS_OK)
      throw ucx_error(make_error_code(status), "ucp_mem_map of " + std::to_string(length) + " bytes of " +
                                                   ucs_memory_type_names[type] + " memory: " +
                                                   ucs_status_string(status));
  }
  registered_memory(registered_memory&& other) noexcept
      : m_context(other.m_context), m_handle(std::exchange(other.m_handle, nullptr)), m_address(other.m_address),
        m_length(other.m_length) {}
  registered_memory& operator=(registered_memory&& other) noexcept {
    if (this != &other) {
      release();
      m_context = other.m_context;
      m_handle = std::exchange(other.m_handle, nullptr);
      m_address = other.m_address;
      m_length = other.m_length;
    }
    return *this;
  }
  registered_memory(const registered_memory&) = delete;
  registered_memory& operator=(const registered_memory&) = delete;
  ~registered_memory() { release(); }

  [[nodiscard]] ucp_mem_h handle() const noexcept { return m_handle; }
  [[nodiscard]] void* address() const noexcept { return m_address; }
  [[nodiscard]] std::size_t length() const noexcept { return m_length; }

private:
  void release() noexcept {
    if (m_handle != nullptr)
      (void)ucp_mem_unmap(m_context, m_handle);
    m_handle = nullptr;
  }

  ucp_context_h m_context = nullptr;
  ucp_mem_h m_handle = nullptr;
  void* m_address = nullptr;
  std::size_t m_length = 0;
};

} // namespace ucoro
