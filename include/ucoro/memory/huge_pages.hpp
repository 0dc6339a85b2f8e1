#pragma once
// Transparent huge pages, the house's one helper for them: the page size,
// advice for a range, an allocator for large vectors, and resize of a
// user's vector. host_memory (communication buffers) and the join's
// scratch columns both use it.
//
// Why: first touch of a 4 KiB page costs ~11 us on these machines; a 2 MiB
// page is faulted in once for 512 of them, so a cold 80 MB column costs 40
// faults, not 20,000 (milliseconds, not a quarter of a second). THP is
// `madvise`-only here, so memory must ask for it.

#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <type_traits>
#include <utility>

namespace ucoro {

inline constexpr std::size_t huge_page_size = std::size_t{2} << 20;

/// Leaves trivially constructible elements uninitialized on resize (every
/// value is written before it is read, so zero-filling would be a wasted
/// pass) and asks for huge pages when an allocation is large.
template <class T>
class huge_page_allocator {
public:
  using value_type = T;
  /// Below this, plain operator new: a huge page would be mostly unused.
  static constexpr std::size_t huge_threshold = huge_page_size / 2;

  huge_page_allocator() noexcept = default;
  template <class U>
  huge_page_allocator(const huge_page_allocator<U>&) noexcept {}

  [[nodiscard]] T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T))
      throw std::bad_array_new_length();
    const std::size_t bytes = n * sizeof(T);
    if (bytes < huge_threshold)
      return static_cast<T*>(::operator new(bytes, std::align_val_t{alignof(T) < 64 ? 64 : alignof(T)}));
    const std::size_t rounded = (bytes + huge_page_size - 1) / huge_page_size * huge_page_size;
    void* p = std::aligned_alloc(huge_page_size, rounded);
    if (p == nullptr)
      throw std::bad_alloc();
    (void)::madvise(p, rounded, MADV_HUGEPAGE); // advice only: without THP these are plain pages
    return static_cast<T*>(p);
  }

  void deallocate(T* p, std::size_t n) noexcept {
    if (n * sizeof(T) < huge_threshold)
      ::operator delete(p, std::align_val_t{alignof(T) < 64 ? 64 : alignof(T)});
    else
      std::free(p);
  }

  /// resize() of a trivially constructible T leaves the values unset.
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }

  template <class U>
  friend bool operator==(const huge_page_allocator&, const huge_page_allocator<U>&) noexcept {
    return true;
  }
};

/// Advises the whole 2 MiB pages inside [p, p + bytes) for transparent huge
/// pages: memory that is not touched yet (a fresh large malloc) is then
/// faulted in 2 MiB at a time.
inline void advise_huge(void* p, std::size_t bytes) noexcept {
  constexpr std::size_t huge = huge_page_size;
  const auto begin = (reinterpret_cast<std::uintptr_t>(p) + huge - 1) / huge * huge;
  const auto end = (reinterpret_cast<std::uintptr_t>(p) + bytes) / huge * huge;
  if (end > begin)
    (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

/// v.resize(n) for a user's std::vector, whose new memory is advised for
/// huge pages before it is first touched (a std::vector of 80 MB otherwise
/// faults 20,000 4 KiB pages, ~0.2 s on these machines).
template <class Vector>
void resize_huge(Vector& v, std::size_t n) {
  if (v.capacity() < n) {
    v.reserve(std::max(n, v.capacity() * 3 / 2));
    advise_huge(v.data(), v.capacity() * sizeof(typename Vector::value_type));
  }
  v.resize(n);
}

} // namespace ucoro
