#pragma once
// Tag send/recv/probe on a worker, and the layout of the 64-bit UCX tag.
//
// The top four bits name a tag space so that the layers on top of UCX tag
// matching can never steal each other's messages:
//
//   63..60  space        0 user (worker-level tag_send/tag_recv)
//                        1 endpoint data   (random 60-bit tag per endpoint)
//                        2 endpoint control
//                        3 communicator
//                        4 peer link heartbeat (the sender worker's name)
//                        5 endpoint tagged (ep.tag_send/tag_recv: the user's
//                          32-bit tag in bits 31..0, bits 59..32 zero)
//                        6..15 reserved
//   The layers above lay out their own spaces (p2p/detail/link_heartbeat.hpp,
//   comm/detail/tag_fields.hpp); this layer only reserves them.
//
// User tags must leave the top four bits zero; tag_send/tag_recv check that.

#include <ucoro/ucx/detail/request_op.hpp>
#include <ucoro/error.hpp>
#include <ucoro/runtime/progress_engine.hpp>

#include <ucp/api/ucp.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace ucoro {

using tag_t = ucp_tag_t;

namespace tag_layout {

inline constexpr unsigned space_shift = 60;
inline constexpr tag_t space_mask = tag_t{0xF} << space_shift;
inline constexpr tag_t full_mask = ~tag_t{0};

enum class space : std::uint8_t {
  user = 0,
  endpoint_data = 1,
  endpoint_control = 2,
  communicator = 3,
  link_heartbeat = 4, ///< peer links' liveness beats, named by the sending worker
  endpoint_tagged = 5, ///< endpoint tag_send/tag_recv: the user's 32-bit tag as given
};

/// The largest tag endpoint::tag_send and tag_recv take.
inline constexpr tag_t max_endpoint_tag = 0xFFFFFFFFULL;

[[nodiscard]] constexpr tag_t in_space(space s, tag_t value) noexcept {
  return (tag_t{static_cast<std::uint8_t>(s)} << space_shift) | (value & ~space_mask);
}
[[nodiscard]] constexpr space space_of(tag_t tag) noexcept {
  return static_cast<space>(tag >> space_shift);
}
[[nodiscard]] constexpr bool is_user_tag(tag_t tag) noexcept { return (tag & space_mask) == 0; }

} // namespace tag_layout

/// What a completed tag receive reports.
struct tag_recv_info {
  std::size_t length = 0;
  tag_t sender_tag = 0;
};

namespace detail {

inline std::string hex(std::uint64_t value) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out = "0x";
  bool started = false;
  for (int shift = 60; shift >= 0; shift -= 4) {
    const auto d = (value >> shift) & 0xF;
    if (d != 0 || started || shift == 0) {
      out += digits[d];
      started = true;
    }
  }
  return out;
}

/// Where an operation goes, for error messages ("to 127.0.0.1:5000").
struct peer_label {
  const std::string* text = nullptr;
  [[nodiscard]] std::string suffix(const char* preposition) const {
    return text != nullptr && !text->empty() ? std::string(" ") + preposition + " " + *text : std::string{};
  }
};

/// Posts a tag receive. UCX 1.13 leaves recv_info unfilled when
/// ucp_tag_recv_nbx completes at once, so immediate completion is denied
/// (UCP_OP_ATTR_FLAG_NO_IMM_CMPL): UCX then always reports through the
/// callback, with the length and sender tag, possibly before returning
/// (request_op handles that). Measured cheaper than probing first.
[[nodiscard]] inline ucs_status_ptr_t post_tag_recv(ucp_worker_h worker, void* data, std::size_t size, tag_t tag,
                                                   tag_t mask, ucp_request_param_t& param) noexcept {
  param.op_attr_mask |= UCP_OP_ATTR_FLAG_NO_IMM_CMPL;
  return ucp_tag_recv_nbx(worker, data, size, tag, mask, &param);
}

/// Receives the message `message` (a handle from ucp_tag_probe_nb with
/// remove) into `data`. As post_tag_recv, immediate completion is denied,
/// so the length and sender tag always come through the callback.
[[nodiscard]] inline ucs_status_ptr_t post_tag_msg_recv(ucp_worker_h worker, void* data, std::size_t size,
                                                       ucp_tag_message_h message, ucp_request_param_t& param) noexcept {
  param.op_attr_mask |= UCP_OP_ATTR_FLAG_NO_IMM_CMPL;
  return ucp_tag_msg_recv_nbx(worker, data, size, message, &param);
}

/// Receives a message matching (tag, mask) that has already arrived (it
/// waits in UCX's unexpected queue), or returns nothing if none has. For a
/// receive posted after its sender was found gone: what the sender sent
/// before it went is still delivered, in order, and only then do receives
/// fail. The request is as post_tag_recv's.
[[nodiscard]] inline std::optional<ucs_status_ptr_t> post_arrived_tag_recv(ucp_worker_h worker, void* data,
                                                                          std::size_t size, tag_t tag, tag_t mask,
                                                                          ucp_request_param_t& param) noexcept {
  ucp_tag_recv_info_t info{};
  ucp_tag_message_h message = ucp_tag_probe_nb(worker, tag, mask, 1, &info);
  if (message == nullptr)
    return std::nullopt;
  return post_tag_msg_recv(worker, data, size, message, param);
}

/// Posts a tag send of `size` bytes of `memory` memory, told to UCX so that
/// it does not detect the memory type per message. With post_tag_recv, the
/// one place ucoro calls ucp_tag_send_nbx: the worker's, the endpoint's and
/// the communicator's operations all post through here.
[[nodiscard]] inline ucs_status_ptr_t post_tag_send(ucp_ep_h ep, const void* data, std::size_t size, tag_t tag,
                                                    ucs_memory_type_t memory, ucp_request_param_t& param) noexcept {
  param.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMORY_TYPE;
  param.memory_type = memory;
  return ucp_tag_send_nbx(ep, data, size, tag, &param);
}

class tag_send_op : public request_op<tag_send_op, void> {
  friend class request_op<tag_send_op, void>;

public:
  tag_send_op(progress_engine& engine, ucp_ep_h ep, const void* data, std::size_t size, tag_t tag,
              ucs_memory_type_t memory_type, peer_label peer = {}) noexcept
      : request_op(engine), m_ep(ep), m_data(data), m_size(size), m_tag(tag), m_memory_type(memory_type),
        m_peer(peer) {}

private:
  ucs_status_ptr_t post(ucp_request_param_t& param) {
    if (!engine().supports_memory(m_memory_type))
      return UCS_STATUS_PTR(UCS_ERR_UNSUPPORTED);
    prepare_send(param);
    return post_tag_send(m_ep, m_data, m_size, m_tag, m_memory_type, param);
  }
  void value() const noexcept {}
  [[nodiscard]] std::string describe(ucs_status_t status) const {
    return "send of " + std::to_string(m_size) + " bytes" + m_peer.suffix("to") + " (tag " + hex(m_tag) +
           "): " + (status == UCS_ERR_UNSUPPORTED ? unsupported_memory_text(m_memory_type) : ucs_status_string(status));
  }

  ucp_ep_h m_ep;
  const void* m_data;
  std::size_t m_size;
  tag_t m_tag;
  ucs_memory_type_t m_memory_type;
  peer_label m_peer;
};

class tag_recv_op : public request_op<tag_recv_op, tag_recv_info> {
  friend class request_op<tag_recv_op, tag_recv_info>;

public:
  tag_recv_op(progress_engine& engine, void* data, std::size_t size, tag_t tag, tag_t mask,
              ucs_memory_type_t memory_type, peer_label peer = {}) noexcept
      : request_op(engine), m_data(data), m_size(size), m_tag(tag), m_mask(mask), m_memory_type(memory_type),
        m_peer(peer) {}

private:
  ucs_status_ptr_t post(ucp_request_param_t& param) {
    if (!engine().supports_memory(m_memory_type))
      return UCS_STATUS_PTR(UCS_ERR_UNSUPPORTED);
    prepare_recv(param);
    param.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMORY_TYPE;
    param.memory_type = m_memory_type;
    return post_tag_recv(engine().ucp_worker(), m_data, m_size, m_tag, m_mask, param);
  }
  void on_recv_info(const ucp_tag_recv_info_t& info) noexcept { m_info = info; }
  [[nodiscard]] tag_recv_info value() const noexcept { return {m_info.length, m_info.sender_tag}; }
  [[nodiscard]] std::string describe(ucs_status_t status) const {
    std::string out = "recv of " + std::to_string(m_size) + " bytes" + m_peer.suffix("from") + " (tag " +
                      hex(m_tag) + "): " +
                      (status == UCS_ERR_UNSUPPORTED ? unsupported_memory_text(m_memory_type) : ucs_status_string(status));
    if (status == UCS_ERR_MESSAGE_TRUNCATED && m_info.length > m_size)
      out += " (peer sent " + std::to_string(m_info.length) + " bytes)";
    return out;
  }

  void* m_data;
  std::size_t m_size;
  tag_t m_tag;
  tag_t m_mask;
  ucs_memory_type_t m_memory_type;
  peer_label m_peer;
  ucp_tag_recv_info_t m_info{};
};

inline void require_user_tag(tag_t tag, const char* what) {
  if (!tag_layout::is_user_tag(tag))
    throw_invalid_argument(std::string(what) + ": tag " + hex(tag) +
                           " uses the top four bits, which ucoro reserves (see ucoro/tag.hpp)");
}

} // namespace detail

/// Raw tag send on a UCX endpoint, in the user tag space.
[[nodiscard]] inline detail::tag_send_op tag_send(progress_engine& engine, ucp_ep_h ep, const void* data,
                                                  std::size_t size, tag_t tag,
                                                  ucs_memory_type_t memory_type = UCS_MEMORY_TYPE_HOST) {
  detail::require_user_tag(tag, "tag_send");
  return {engine, ep, data, size, tag, memory_type};
}

/// Raw tag receive on a worker: any sender whose tag matches under `mask`.
[[nodiscard]] inline detail::tag_recv_op tag_recv(progress_engine& engine, void* data, std::size_t size, tag_t tag,
                                                  tag_t mask = tag_layout::full_mask,
                                                  ucs_memory_type_t memory_type = UCS_MEMORY_TYPE_HOST) {
  detail::require_user_tag(tag, "tag_recv");
  // A mask that ignores the space bits could match ucoro's internal traffic.
  return {engine, data, size, tag, mask | tag_layout::space_mask, memory_type};
}

/// Non-blocking probe: is a message matching (tag, mask) waiting? Leaves it queued.
[[nodiscard]] inline std::optional<tag_recv_info> tag_probe(progress_engine& engine, tag_t tag,
                                                            tag_t mask = tag_layout::full_mask) {
  detail::require_user_tag(tag, "tag_probe");
  ucp_tag_recv_info_t info{};
  if (ucp_tag_probe_nb(engine.ucp_worker(), tag, mask | tag_layout::space_mask, 0, &info) == nullptr)
    return std::nullopt;
  return tag_recv_info{info.length, info.sender_tag};
}

} // namespace ucoro
