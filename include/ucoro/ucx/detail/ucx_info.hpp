#pragma once
// The one reader of what UCX prints about itself (ucp_context_print_info,
// ucp_ep_print_info): UCX 1.13 offers no query for an endpoint's lanes, and
// ucoro decides things from them (send_completion::automatic, which
// endpoints share the worker's shared-memory FIFO). Tested on captured text
// (tests/unit/ucx_info.cpp).

#include <ucoro/ucx/transport_lane.hpp>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace ucoro::detail {

/// Captures what a UCX print function writes to a FILE*.
template <class Print>
[[nodiscard]] std::string print_to_string(Print&& print) {
  char* data = nullptr;
  std::size_t size = 0;
  FILE* stream = open_memstream(&data, &size);
  if (stream == nullptr)
    return {};
  print(stream);
  std::fclose(stream);
  std::string out(data, size);
  std::free(data);
  return out;
}

/// One lane of an endpoint (ucoro/ucx/transport_lane.hpp).
using ep_lane = transport_lane;

struct ep_lanes {
  std::vector<ep_lane> lanes;
  /// The active-message lane is sysv or posix: this endpoint receives
  /// through the worker's shared-memory FIFO.
  bool shared_memory = false;
  /// The active-message lane is shared memory or self (fast completion pays).
  bool local = false;
  /// The size from which a tag send goes by rendezvous ("tag_send: ...
  /// 8256..<rndv>"); 0 if the text does not say.
  std::size_t rendezvous_from = 0;
};

/// The number before "..<rndv>" on the "tag_send:" line, 0 without one.
[[nodiscard]] inline std::size_t parse_rendezvous_from(std::string_view line) {
  const std::size_t rndv = line.find("..<rndv>");
  if (rndv == std::string_view::npos)
    return 0;
  std::size_t begin = rndv;
  while (begin > 0 && line[begin - 1] >= '0' && line[begin - 1] <= '9')
    --begin;
  std::size_t value = 0;
  for (std::size_t i = begin; i < rndv; ++i)
    value = value * 10 + static_cast<std::size_t>(line[i] - '0');
  return value;
}

[[nodiscard]] inline std::vector<std::string_view> info_lines(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    out.push_back(text.substr(0, end));
    if (end == std::string_view::npos)
      break;
    text.remove_prefix(end + 1);
  }
  return out;
}

[[nodiscard]] inline bool has_word(std::string_view line, std::string_view word) {
  for (std::size_t at = line.find(word); at != std::string_view::npos; at = line.find(word, at + 1)) {
    const bool starts = at == 0 || line[at - 1] == ' ';
    const std::size_t after = at + word.size();
    const bool ends = after == line.size() || line[after] == ' ' || line[after] == '#';
    if (starts && ends)
      return true;
  }
  return false;
}

[[nodiscard]] inline ep_lanes parse_ep_info(std::string_view text) {
  ep_lanes out;
  for (std::string_view line : info_lines(text)) {
    if (const std::size_t at = line.find("tag_send:"); at != std::string_view::npos && out.rendezvous_from == 0)
      out.rendezvous_from = parse_rendezvous_from(line.substr(at));
    const std::size_t lane = line.find("lane[");
    if (lane == std::string_view::npos)
      continue;
    // The resource follows "N:" after the lane's colon: "1:sysv/memory.0".
    std::size_t at = line.find(':', lane);
    if (at == std::string_view::npos)
      continue;
    at = line.find_first_not_of(' ', at + 1);
    const std::size_t colon = line.find(':', at);
    const std::size_t slash = line.find('/', at);
    if (at == std::string_view::npos || colon == std::string_view::npos || slash == std::string_view::npos ||
        slash < colon)
      continue;
    const std::size_t space = std::min(line.find(' ', slash), line.size());
    ep_lane entry;
    entry.transport = std::string(line.substr(colon + 1, slash - colon - 1));
    entry.device = std::string(line.substr(slash + 1, space - slash - 1));
    const std::string_view roles = line.substr(std::min(line.find("->"), line.size()));
    entry.am = has_word(roles, "am");
    entry.am_bw = has_word(roles, "am_bw");
    entry.rma = roles.find("rma_bw") != std::string_view::npos;
    entry.amo = has_word(roles, "amo");
    entry.wireup = has_word(roles, "wireup") || has_word(roles, "keepalive");
    if (entry.am) {
      out.shared_memory = entry.transport == "sysv" || entry.transport == "posix";
      out.local = out.shared_memory || entry.transport == "self";
    }
    out.lanes.push_back(std::move(entry));
  }
  return out;
}

/// The transports of a context, from ucp_context_print_info's resource
/// lines ("#      resource 3  :  md 2  dev 3  flags -- sysv/memory").
[[nodiscard]] inline std::vector<std::string> parse_context_transports(std::string_view text) {
  std::vector<std::string> out;
  for (std::string_view line : info_lines(text)) {
    if (line.find("resource") == std::string_view::npos)
      continue;
    const std::size_t dashes = line.find("-- ");
    if (dashes == std::string_view::npos)
      continue;
    const std::string_view resource = line.substr(dashes + 3);
    out.emplace_back(resource.substr(0, resource.find('/')));
  }
  return out;
}

} // namespace ucoro::detail
