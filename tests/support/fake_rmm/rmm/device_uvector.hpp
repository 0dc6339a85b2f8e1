#pragma once
// RMM-shaped stand-in, see device_buffer.hpp.
#include <cstddef>
#include <vector>
namespace rmm {
template <class T>
class device_uvector {
public:
  explicit device_uvector(std::size_t n) : m_items(n) {}
  T* data() noexcept { return m_items.data(); }
  const T* data() const noexcept { return m_items.data(); }
  std::size_t size() const noexcept { return m_items.size(); }
private:
  std::vector<T> m_items;
};
} // namespace rmm
