// libFuzzer target: control-channel messages (detail/control.hpp) from a
// peer past the front door. A decoded message has a known, current kind, zero
// reserved bits and a heartbeat interval the endpoint can honour, and
// encodes back to the same bytes.

#include <ucoro/p2p/detail/control.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

using ucoro::detail::control_message;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  const auto m = control_message::decode(bytes);
  if (!m)
    return 0;
  if (m->type < control_message::close || m->type > control_message::attach ||
      m->type == control_message::retired_heartbeat || m->reserved != 0)
    std::abort();
  if (m->type == control_message::heartbeat_request &&
      (m->count < 1 || m->count > static_cast<std::uint64_t>(control_message::max_heartbeat.count())))
    std::abort();
  const auto wire = m->encode();
  if (std::memcmp(wire.data(), data, wire.size()) != 0)
    std::abort();
  return 0;
}
