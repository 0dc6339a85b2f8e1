#pragma once
// Which name UCX 1.13 actually applies for an option a user gives.
//
// UCP's own options (TLS, RNDV_THRESH, ...) go to ucp_config_modify as they
// are. A transport's option is known to users by its environment name,
// UCX_TCP_RX_SEG_SIZE, but ucp_config_modify only caches the name and, when
// each transport interface opens, applies it as a field of that transport's
// table: "RX_SEG_SIZE". Handed "TCP_RX_SEG_SIZE", UCX matches no field,
// warns "invalid configuration" and opens tcp with its default, so the
// option is silently lost (measured). ucoro therefore strips the
// transport's prefix, and refuses a name whose field other transport
// families share (UCX would set it for all of them).

#include <ucoro/ucx/detail/ucx_info.hpp>

#include <ucp/api/ucp.h>
#include <ucs/debug/log_def.h>
#include <ucs/config/parser.h>
#include <uct/api/uct.h>

#include <cstdarg>
#include <cstddef>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace ucoro::detail {

/// Loads UCT's modules, which registers every transport's configuration
/// table (and its prefix) in ucs_config_global_list.
inline void load_transport_tables() {
  uct_component_h* components = nullptr;
  unsigned count = 0;
  if (uct_query_components(&components, &count) == UCS_OK)
    uct_release_component_list(components);
}

/// Every option name UCX knows, as printed: "UCX_TCP_RX_SEG_SIZE=64K" lines.
[[nodiscard]] inline std::string all_ucx_config_names() {
  return print_to_string([](FILE* f) {
    ucs_config_parser_print_all_opts(f, "UCX_",
                                     static_cast<ucs_config_print_flags_t>(UCS_CONFIG_PRINT_CONFIG |
                                                                           UCS_CONFIG_PRINT_HIDDEN),
                                     &ucs_config_global_list);
  });
}

/// The non-empty prefixes of registered tables ("TCP_", "SYSV_", "TCP_CM_", ...).
[[nodiscard]] inline std::set<std::string> config_table_prefixes() {
  std::set<std::string> out;
  // The list walked by hand: UCX's ucs_list_for_each computes its first
  // element through a member access on a null pointer (its offsetof), which
  // Clang's UBSan reports; offsetof itself is defined for this C struct.
  const ucs_list_link_t* head = &ucs_config_global_list;
  for (const ucs_list_link_t* link = head->next; link != head; link = link->next) {
    const auto* entry = reinterpret_cast<const ucs_config_global_list_entry_t*>(
        reinterpret_cast<const char*>(link) - offsetof(ucs_config_global_list_entry_t, list));
    if (entry->prefix != nullptr && entry->prefix[0] != '\0')
      out.emplace(entry->prefix);
  }
  return out;
}

[[nodiscard]] inline bool has_config_line(std::string_view printed, std::string_view name) {
  const std::string line = "UCX_" + std::string(name) + "=";
  for (std::size_t at = printed.find(line); at != std::string_view::npos; at = printed.find(line, at + 1))
    if (at == 0 || printed[at - 1] == '\n')
      return true;
  return false;
}

/// "UCX_NAME=value" lines of a ucp_config_print, as NAME -> value.
[[nodiscard]] inline std::map<std::string, std::string> parse_config_lines(std::string_view printed) {
  std::map<std::string, std::string> out;
  for (std::string_view line : info_lines(printed)) {
    const std::size_t eq = line.find('=');
    if (line.starts_with("UCX_") && eq != std::string_view::npos)
      out.emplace(line.substr(4, eq - 4), line.substr(eq + 1));
  }
  return out;
}

/// What to pass to ucp_config_modify for `option`, or why not.
struct resolved_option {
  std::string ucx_name; ///< empty: refused, see `error`
  std::string error;
};

/// `ucp_names`: ucp_config_print of the UCP table; `all_names`:
/// all_ucx_config_names(); `prefixes`: config_table_prefixes().
[[nodiscard]] inline resolved_option resolve_ucx_option(const std::string& option, std::string_view ucp_names,
                                                        std::string_view all_names,
                                                        const std::set<std::string>& prefixes) {
  if (has_config_line(ucp_names, option))
    return {option, {}};
  // A transport's option by its environment name: the longest prefix wins
  // ("TCP_CM_" over "TCP_").
  std::string prefix;
  for (const std::string& p : prefixes)
    if (option.size() > p.size() && option.starts_with(p) && p.size() > prefix.size() &&
        has_config_line(all_names, option))
      prefix = p;
  const std::string field = prefix.empty() ? option : option.substr(prefix.size());
  std::set<std::string> owners;
  for (const std::string& p : prefixes)
    if (has_config_line(all_names, p + field))
      owners.insert(p.substr(0, p.size() - 1));
  if (owners.empty())
    return {{}, "unknown option"};
  if (!prefix.empty() && owners.size() > 1) {
    std::string list;
    for (const std::string& o : owners)
      list += (list.empty() ? "" : ", ") + o;
    return {{},
            "UCX applies transport options by field name, and " + field + " is a field of " + list +
                ": give '" + field + "' to set it for all of them, or set UCX_" + option +
                " in the environment to set it for " + prefix.substr(0, prefix.size() - 1) + " alone"};
  }
  return {field, {}};
}

/// Transport options UCX rejects (a bad value, or no interface with such a
/// field) are only logged while a worker opens its interfaces. This runs
/// `open` with a log handler that collects those lines instead, so the
/// worker can fail with them.
class transport_option_rejections {
public:
  template <class Open>
  [[nodiscard]] static std::string while_running(Open&& open) {
    static std::mutex serial; // UCX's handler stack is global
    std::lock_guard lock{serial};
    std::string collected;
    current() = &collected;
    ucs_log_push_handler(&collect);
    try {
      open();
    } catch (...) {
      ucs_log_pop_handler();
      current() = nullptr;
      throw;
    }
    ucs_log_pop_handler();
    current() = nullptr;
    return collected;
  }

private:
  static std::string*& current() noexcept {
    static thread_local std::string* sink = nullptr;
    return sink;
  }

  static ucs_log_func_rc_t collect(const char* file, unsigned /*line*/, const char* /*function*/,
                                   ucs_log_level_t level, const ucs_log_component_config_t* /*config*/,
                                   const char* format, va_list ap) {
    std::string* sink = current();
    if (sink == nullptr || file == nullptr || level > UCS_LOG_LEVEL_WARN)
      return UCS_LOG_FUNC_RC_CONTINUE;
    const std::string_view where(file);
    // parser.c: "Invalid value for X: 'v'. Expected: ..."; ucp_worker.c:
    // "invalid configuration: X=v" (no interface took it).
    if (!where.ends_with("parser.c") && !where.ends_with("ucp_worker.c"))
      return UCS_LOG_FUNC_RC_CONTINUE;
    char message[512];
    va_list copy;
    va_copy(copy, ap);
    std::vsnprintf(message, sizeof message, format, copy);
    va_end(copy);
    const std::string_view text(message);
    if (!text.starts_with("Invalid value for") && !text.starts_with("invalid configuration:"))
      return UCS_LOG_FUNC_RC_CONTINUE;
    if (!sink->empty())
      *sink += "; ";
    *sink += text;
    return UCS_LOG_FUNC_RC_STOP;
  }
};

} // namespace ucoro::detail
