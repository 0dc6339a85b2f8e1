#pragma once
// FNV-1a, 64 bits: the hello's checksum, and the name a worker's address
// goes by in heartbeat tags. Not a defence against a hostile peer (the
// hello bounds and checks every field); it catches corruption and keeps
// names apart.

#include <cstddef>
#include <cstdint>
#include <span>

namespace ucoro::detail {

[[nodiscard]] inline std::uint64_t fnv1a(std::span<const std::byte> bytes) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::byte b : bytes)
    h = (h ^ static_cast<std::uint8_t>(b)) * 0x100000001b3ULL;
  return h;
}

} // namespace ucoro::detail
