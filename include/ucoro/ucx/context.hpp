#pragma once
// RAII ucp_context. Options are UCX's own configuration variables without the
// UCX_ prefix, like UCX-Py's ucp.init(options); the UCX_* environment still
// applies underneath.

#include <ucoro/ucx/detail/ucx_config.hpp>
#include <ucoro/ucx/detail/ucx_info.hpp>
#include <ucoro/error.hpp>

#include <ucp/api/ucp.h>
#include <ucs/config/parser.h>

#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace ucoro {

namespace detail {

/// Bytes ucoro reserves in every UCX request (see detail/request_op.hpp).
inline constexpr std::size_t request_reserved_size = 2 * sizeof(void*);

/// ucp_params.request_init: clears that reserved space in a new request.
inline void clear_request_space(void* request) noexcept {
  void** words = static_cast<void**>(request);
  words[0] = nullptr;
  words[1] = nullptr;
}

struct config_deleter {
  void operator()(ucp_config_t* c) const noexcept { ucp_config_release(c); }
};

} // namespace detail

/// The UCX library in use (ucp_get_version), which may differ from the
/// headers ucoro was compiled against (UCP_API_VERSION).
struct ucx_version_info {
  unsigned major = 0, minor = 0, release = 0;
  std::string text; ///< ucp_get_version_string(), e.g. "1.13.1"
};

[[nodiscard]] inline ucx_version_info ucx_version() {
  ucx_version_info v;
  ucp_get_version(&v.major, &v.minor, &v.release);
  v.text = ucp_get_version_string();
  return v;
}

struct context_options {
  /// Hint for UCX's endpoint tables; 0 leaves UCX's default.
  std::size_t estimated_num_eps = 0;
};

class context {
public:
  /// Defaults plus the UCX_* environment.
  context() : context(std::map<std::string, std::string>{}) {}

  /// UCX configuration on top of the environment, names without the UCX_
  /// prefix: `context ctx{{{"TLS", "tcp,self"}, {"RNDV_THRESH", "8192"}}};`
  explicit context(const std::map<std::string, std::string>& ucx_config, const context_options& options = {}) {
    ucp_config_t* raw_config = nullptr;
    check(ucp_config_read(nullptr, nullptr, &raw_config), "reading UCX configuration");
    std::unique_ptr<ucp_config_t, detail::config_deleter> config{raw_config};

    if (!ucx_config.empty()) {
      detail::load_transport_tables();
      const std::string ucp_names = detail::print_to_string(
          [&](FILE* f) { ucp_config_print(config.get(), f, nullptr, UCS_CONFIG_PRINT_CONFIG); });
      const std::string all_names = detail::all_ucx_config_names();
      const auto prefixes = detail::config_table_prefixes();
      for (const auto& [key, value] : ucx_config) {
        std::string_view name = key;
        // Accept "UCX_TLS" as well as "TLS": the prefix is what users see in docs.
        if (name.starts_with("UCX_"))
          name.remove_prefix(4);
        const std::string option{name};
        const auto resolved = detail::resolve_ucx_option(option, ucp_names, all_names, prefixes);
        if (resolved.ucx_name.empty())
          throw_error(make_error_code(UCS_ERR_NO_ELEM),
                      "UCX option '" + option + "' (UCX_" + option + "): " + resolved.error);
        const ucs_status_t status = ucp_config_modify(config.get(), resolved.ucx_name.c_str(), value.c_str());
        // Named, not the binding itself: Clang 14 cannot capture a structured
        // binding in a lambda (C++20's P1091, implemented in Clang 16).
        const std::string& given = value;
        check(status, [&] {
          return "UCX option '" + option + "' (UCX_" + option + "): invalid value '" + given + "'";
        });
        m_config.emplace(option, value);
      }
    }

    m_effective = detail::parse_config_lines(
        detail::print_to_string([&](FILE* f) { ucp_config_print(config.get(), f, nullptr, UCS_CONFIG_PRINT_CONFIG); }));

    ucp_params_t params{};
    params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_MT_WORKERS_SHARED |
                        UCP_PARAM_FIELD_REQUEST_SIZE | UCP_PARAM_FIELD_REQUEST_INIT;
    params.request_size = detail::request_reserved_size;
    params.request_init = &detail::clear_request_space;
    // TAG for data, AM for the endpoint handshake (it names the replying
    // endpoint, which tag matching cannot), WAKEUP for blocking progress.
    params.features = UCP_FEATURE_TAG | UCP_FEATURE_AM | UCP_FEATURE_WAKEUP;
    params.mt_workers_shared = 0;
    if (options.estimated_num_eps != 0) {
      params.field_mask |= UCP_PARAM_FIELD_ESTIMATED_NUM_EPS;
      params.estimated_num_eps = options.estimated_num_eps;
    }
    ucp_context_h handle = nullptr;
    check(ucp_init(&params, config.get(), &handle), [&] { return describe("creating UCX context"); });
    m_handle = handle;

    m_shared_memory = find_shared_memory_transport();
  }

  context(const context&) = delete;
  context& operator=(const context&) = delete;
  context(context&& other) noexcept
      : m_handle(std::exchange(other.m_handle, nullptr)), m_config(std::move(other.m_config)),
        m_effective(std::move(other.m_effective)), m_shared_memory(other.m_shared_memory) {}
  context& operator=(context&& other) noexcept {
    if (this != &other) {
      reset();
      m_handle = std::exchange(other.m_handle, nullptr);
      m_config = std::move(other.m_config);
      m_effective = std::move(other.m_effective);
      m_shared_memory = other.m_shared_memory;
    }
    return *this;
  }
  ~context() { reset(); }

  [[nodiscard]] ucp_context_h handle() const noexcept { return m_handle; }

  /// ucp_context_print_info: transports, devices and the configuration in use.
  [[nodiscard]] std::string ucx_info() const {
    return detail::print_to_string([&](FILE* f) { ucp_context_print_info(m_handle, f); });
  }

  /// Whether UCX was built with CUDA memory support (cuda_copy/cuda_ipc).
  [[nodiscard]] bool cuda_support() const {
    return supports_memory_type(UCS_MEMORY_TYPE_CUDA);
  }

  /// Whether a shared-memory transport (sysv or posix) is among the
  /// context's resources: error_handling::automatic keeps UCX's error
  /// handling off for same-host peers only where that buys shared memory.
  [[nodiscard]] bool has_shared_memory_transport() const noexcept { return m_shared_memory; }

  [[nodiscard]] bool supports_memory_type(ucs_memory_type_t type) const {
    ucp_context_attr_t attr{};
    attr.field_mask = UCP_ATTR_FIELD_MEMORY_TYPES;
    check(ucp_context_query(m_handle, &attr), "querying UCX context memory types");
    return (attr.memory_types & UCS_BIT(type)) != 0;
  }

  /// The options this context was created with (prefix stripped).
  [[nodiscard]] const std::map<std::string, std::string>& config() const noexcept {
    return m_config;
  }

  /// Every UCP setting as this context was created with it: defaults, the
  /// UCX_* environment and config() together, names without the UCX_
  /// prefix ("TLS" -> "tcp"), as ucp_config_print writes them.
  [[nodiscard]] const std::map<std::string, std::string>& effective_config() const noexcept {
    return m_effective;
  }

private:
  [[nodiscard]] bool find_shared_memory_transport() const {
    for (const std::string& transport : detail::parse_context_transports(ucx_info()))
      if (transport == "sysv" || transport == "posix")
        return true;
    return false;
  }

  [[nodiscard]] std::string describe(const std::string& what) const {
    std::string out = what;
    if (!m_config.empty()) {
      out += " with";
      for (const auto& [k, v] : m_config)
        out += " UCX_" + k + "=" + v;
    }
    return out;
  }

  void reset() noexcept {
    if (m_handle != nullptr)
      ucp_cleanup(std::exchange(m_handle, nullptr));
  }

  ucp_context_h m_handle = nullptr;
  std::map<std::string, std::string> m_config;
  std::map<std::string, std::string> m_effective;
  bool m_shared_memory = false;
};

} // namespace ucoro
