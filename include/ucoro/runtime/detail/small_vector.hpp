#pragma once
// A vector whose first N elements live inline: an all-to-all of a few ranks
// builds its plan and its batch of operations without touching the heap
// (at 64 B blocks each malloc/free pair was a tenth of the call). Elements
// never move while they fit; growing past N moves them once, which is only
// done before any of them is in use (the ops are posted after building).

#include <cstddef>
#include <memory>
#include <new>
#include <span>
#include <utility>

namespace ucoro::detail {

template <class T, std::size_t N>
class small_vector {
public:
  small_vector() noexcept = default;
  small_vector(const small_vector&) = delete;
  small_vector& operator=(const small_vector&) = delete;
  ~small_vector() {
    clear();
    release();
  }

  explicit small_vector(std::size_t count) {
    reserve(count);
    for (std::size_t i = 0; i < count; ++i)
      emplace_back();
  }

  void reserve(std::size_t wanted) {
    if (wanted <= m_capacity)
      return;
    T* bigger = static_cast<T*>(::operator new(wanted * sizeof(T), std::align_val_t{alignof(T)}));
    for (std::size_t i = 0; i < m_size; ++i) {
      ::new (static_cast<void*>(bigger + i)) T(std::move(m_data[i]));
      m_data[i].~T();
    }
    release();
    m_data = bigger;
    m_capacity = wanted;
  }

  template <class... Args>
  T& emplace_back(Args&&... args) {
    if (m_size == m_capacity)
      reserve(2 * m_capacity);
    T* slot = ::new (static_cast<void*>(m_data + m_size)) T(std::forward<Args>(args)...);
    ++m_size;
    return *slot;
  }
  void push_back(T&& value) { emplace_back(std::move(value)); }

  void clear() noexcept {
    for (std::size_t i = m_size; i > 0; --i)
      m_data[i - 1].~T();
    m_size = 0;
  }

  [[nodiscard]] std::size_t size() const noexcept { return m_size; }
  [[nodiscard]] bool empty() const noexcept { return m_size == 0; }
  [[nodiscard]] T* data() noexcept { return m_data; }
  [[nodiscard]] const T* data() const noexcept { return m_data; }
  [[nodiscard]] T* begin() noexcept { return m_data; }
  [[nodiscard]] T* end() noexcept { return m_data + m_size; }
  [[nodiscard]] const T* begin() const noexcept { return m_data; }
  [[nodiscard]] const T* end() const noexcept { return m_data + m_size; }
  [[nodiscard]] T& operator[](std::size_t i) noexcept { return m_data[i]; }
  [[nodiscard]] const T& operator[](std::size_t i) const noexcept { return m_data[i]; }
  operator std::span<T>() noexcept { return {m_data, m_size}; }

private:
  void release() noexcept {
    if (m_data != inline_data())
      ::operator delete(m_data, std::align_val_t{alignof(T)});
  }
  [[nodiscard]] T* inline_data() noexcept { return reinterpret_cast<T*>(m_inline); }

  alignas(T) std::byte m_inline[N * sizeof(T)];
  T* m_data = inline_data();
  std::size_t m_size = 0;
  std::size_t m_capacity = N;
};

} // namespace ucoro::detail
