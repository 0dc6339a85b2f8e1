#pragma once
// A registered pool of fixed-size slabs of host memory, for staging
// transfers (the buffered all-to-all): one allocation, 2 MiB-aligned and
// advised for transparent huge pages, pre-touched (a first touch costs
// ~11 us per 4 KiB page on these machines) and registered with UCX once.
//
//   ucoro::slab_pool pool{worker, 1 << 20, 16};   // 16 slabs of 1 MiB
//   ucoro::slab_pool::slab s = co_await pool.acquire();   // waits while none is free
//   std::memcpy(s.data(), src, n);                        // back to the pool when s goes
//
// An empty pool makes acquire() wait (back-pressure), never throw.

#include <ucoro/runtime/event.hpp>
#include <ucoro/memory/host_memory.hpp>
#include <ucoro/memory/registration.hpp>
#include <ucoro/runtime/task.hpp>
#include <ucoro/ucx/worker.hpp>

#include <cstddef>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace ucoro {

class slab_pool {
public:
  /// `count` slabs of `slab_size` bytes (both > 0).
  slab_pool(worker& w, std::size_t slab_size, std::size_t count)
      : m_slab_size(slab_size), m_count(count), m_freed(w) {
    if (slab_size == 0 || count == 0)
      throw_invalid_argument("slab_pool: " + std::to_string(count) + " slabs of " + std::to_string(slab_size) +
                             " bytes (both must be positive)");
    m_memory = host_memory(slab_size * count); // pre-touched
    m_registration = registered_memory(w.get_context(), m_memory.data(), m_memory.size());
    m_free.reserve(count);
    for (std::size_t i = count; i > 0; --i)
      m_free.push_back(i - 1);
  }
  slab_pool(const slab_pool&) = delete;
  slab_pool& operator=(const slab_pool&) = delete;

  /// A slab on loan; it returns to the pool when destroyed.
  class slab {
  public:
    slab() noexcept = default;
    slab(slab&& other) noexcept : m_pool(std::exchange(other.m_pool, nullptr)), m_index(other.m_index) {}
    slab& operator=(slab&& other) noexcept {
      if (this != &other) {
        give_back();
        m_pool = std::exchange(other.m_pool, nullptr);
        m_index = other.m_index;
      }
      return *this;
    }
    slab(const slab&) = delete;
    slab& operator=(const slab&) = delete;
    ~slab() { give_back(); }

    [[nodiscard]] std::byte* data() const noexcept { return m_pool->m_memory.data() + m_index * m_pool->m_slab_size; }
    [[nodiscard]] std::size_t size() const noexcept { return m_pool->m_slab_size; }
    [[nodiscard]] std::span<std::byte> bytes() const noexcept { return {data(), size()}; }
    [[nodiscard]] explicit operator bool() const noexcept { return m_pool != nullptr; }

  private:
    friend class slab_pool;
    slab(slab_pool* pool, std::size_t index) noexcept : m_pool(pool), m_index(index) {}
    void give_back() noexcept {
      if (m_pool != nullptr)
        std::exchange(m_pool, nullptr)->release(m_index);
    }
    slab_pool* m_pool = nullptr;
    std::size_t m_index = 0;
  };

  /// A free slab now, or nothing.
  [[nodiscard]] std::optional<slab> try_acquire() noexcept {
    if (m_free.empty())
      return std::nullopt;
    const std::size_t index = m_free.back();
    m_free.pop_back();
    return slab{this, index};
  }

  /// A free slab, waiting (on the worker's loop) while there is none.
  [[nodiscard]] task<slab> acquire() {
    for (;;) {
      if (auto s = try_acquire())
        co_return std::move(*s);
      m_freed.reset();
      co_await m_freed.wait();
    }
  }

  /// Touches every free slab again (writes, then reads), so that the first
  /// exchange does not pay for pages the kernel reclaimed or never backed.
  void warm_up() noexcept {
    volatile std::byte sink{};
    for (std::size_t index : m_free) {
      std::byte* p = m_memory.data() + index * m_slab_size;
      std::memset(p, 0, m_slab_size);
      for (std::size_t off = 0; off < m_slab_size; off += 4096)
        sink = p[off];
    }
    (void)sink;
  }

  [[nodiscard]] std::size_t slab_size() const noexcept { return m_slab_size; }
  [[nodiscard]] std::size_t capacity() const noexcept { return m_count; }
  [[nodiscard]] std::size_t available() const noexcept { return m_free.size(); }
  [[nodiscard]] ucp_mem_h registration() const noexcept { return m_registration.handle(); }

private:
  void release(std::size_t index) noexcept {
    m_free.push_back(index);
    m_freed.set();
  }

  std::size_t m_slab_size;
  std::size_t m_count;
  host_memory m_memory;
  registered_memory m_registration;
  std::vector<std::size_t> m_free;
  event m_freed;
};

} // namespace ucoro
