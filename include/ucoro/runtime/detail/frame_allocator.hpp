#pragma once
// Where task frames come from: a per-thread cache of recently freed frames,
// by power-of-two size class. An all-to-all of 64 B blocks is three nested
// tasks whose frames (a few KiB: they hold the batch of operations) are
// past malloc's per-thread cache; each call paid three trips through
// malloc's bins, a third of the call (measured: 1.3 us per call against
// 0.75 us for the same messages without the nesting). A frame freed on
// another thread goes into that thread's cache; the cache frees what it
// holds when its thread exits. Under AddressSanitizer the cache is off,
// so a use of a destroyed frame is still reported.
//
// How many frames a class keeps: up to 128, and up to 256 KiB (16 frames
// of 16 KiB; about 1.3 MiB per thread at most in all). A window of 64
// sends and 64 receives as tasks frees 128 frames at once: with 32 kept
// per class, 96 of them went back through malloc every window, and a
// message cost 3,436 instructions; keeping 128, 2,364 (`bench/overhead
// --variant endpoint --pattern window --window 64` under callgrind), and
// bench/send_recv's 8 B message rate went from 3.8-4.4 to 5.1 M/s.

#include <ucoro/config.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <new>

namespace ucoro::detail {

class frame_cache {
public:
  static constexpr std::size_t smallest = 64;
  static constexpr std::size_t classes = 9; ///< 64 B .. 16 KiB
  static constexpr std::size_t most_kept = 128;
  static constexpr std::size_t kept_bytes = 256 * 1024;
  /// The frames class `c` keeps, a table: computed per free it cost ~35
  /// instructions a message (a division per frame) where the cache was
  /// never full.
  static constexpr std::array<std::size_t, classes> kept = [] {
    std::array<std::size_t, classes> out{};
    for (std::size_t c = 0; c < classes; ++c)
      out[c] = std::min(most_kept, kept_bytes / (smallest << c));
    return out;
  }();

  frame_cache() = default;
  frame_cache(const frame_cache&) = delete;
  frame_cache& operator=(const frame_cache&) = delete;
  ~frame_cache() {
    for (std::size_t c = 0; c < classes; ++c) {
      free_list& list = m_free[c];
      while (list.head != nullptr)
        ::operator delete(pop(list));
      // A frame freed later in this thread's exit (another thread_local's
      // task) goes straight to operator delete.
      list.count = kept[c];
    }
  }

  [[nodiscard]] static void* allocate(std::size_t size) {
#if UCORO_ASAN || defined(UCORO_NO_FRAME_CACHE)
    return ::operator new(size);
#else
    const std::size_t c = class_of(size);
    if (c == classes)
      return ::operator new(size);
    free_list& list = local().m_free[c];
    if (list.head != nullptr) {
      --list.count;
      return pop(list);
    }
    return ::operator new(smallest << c);
#endif
  }

  static void deallocate(void* p, std::size_t size) noexcept {
#if UCORO_ASAN || defined(UCORO_NO_FRAME_CACHE)
    ::operator delete(p);
    (void)size;
#else
    const std::size_t c = class_of(size);
    if (c == classes) {
      ::operator delete(p);
      return;
    }
    free_list& list = local().m_free[c];
    if (list.count >= kept[c]) {
      ::operator delete(p);
      return;
    }
    ++list.count;
    auto* node = static_cast<free_node*>(p);
    node->next = list.head;
    list.head = node;
#endif
  }

  /// Frames of `size`'s class this thread's cache holds now (tests).
  [[nodiscard]] static std::size_t cached(std::size_t size) noexcept {
    const std::size_t c = class_of(size);
    return c == classes ? 0 : local().m_free[c].count;
  }

private:
  struct free_node {
    free_node* next;
  };
  struct free_list {
    free_node* head = nullptr;
    std::size_t count = 0;
  };

  [[nodiscard]] static std::size_t class_of(std::size_t size) noexcept {
    if (size <= smallest)
      return 0;
    const std::size_t c = static_cast<std::size_t>(std::bit_width((size - 1) / smallest));
    return c < classes ? c : classes;
  }
  [[nodiscard]] static void* pop(free_list& list) noexcept {
    free_node* node = list.head;
    list.head = node->next;
    return node;
  }
  [[nodiscard]] static frame_cache& local() noexcept {
    thread_local frame_cache cache;
    return cache;
  }

  std::array<free_list, classes> m_free{};
};

} // namespace ucoro::detail
