#pragma once
// RMM-shaped stand-in (RMM is not packaged for Debian): the members
// ucoro/buffer/rmm.hpp uses, with host storage. Tests only.
#include <cstddef>
#include <vector>
namespace rmm {
class device_buffer {
public:
  explicit device_buffer(std::size_t size) : m_bytes(size) {}
  void* data() noexcept { return m_bytes.data(); }
  const void* data() const noexcept { return m_bytes.data(); }
  std::size_t size() const noexcept { return m_bytes.size(); }
private:
  std::vector<std::byte> m_bytes;
};
} // namespace rmm
