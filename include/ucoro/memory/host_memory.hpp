#pragma once
// Host memory for communication buffers: page-aligned (2 MiB-aligned and
// advised for transparent huge pages when large), and pre-faulted.
//
// Why: on these VMs the first touch of a 4 KiB page costs ~11 us, and CMA
// (process_vm_readv) pins the peer's pages one by one, so a 1 MiB buffer from
// malloc (257 small, unaligned pages) moves noticeably slower than the same
// bytes in one huge page. ucx_perftest gets such memory from UCX's allocator;
// ucoro users get it here. It is a writable buffer (std::span-like).

#include <ucoro/error.hpp>
#include <ucoro/memory/huge_pages.hpp>

#include <sys/mman.h>

#include <cstddef>
#include <cstring>
#include <span>
#include <system_error>
#include <utility>

namespace ucoro {

class host_memory {
public:
  static constexpr std::size_t huge_page_size = ucoro::huge_page_size;

  host_memory() noexcept = default;

  /// `size` bytes, filled with `fill` so every page is faulted in now.
  explicit host_memory(std::size_t size, std::byte fill = std::byte{0}) : m_size(size) {
    if (size == 0)
      return;
    const bool huge = size >= huge_page_size / 2;
    const std::size_t page = huge ? huge_page_size : 4096;
    m_mapped = (size + page - 1) / page * page + (huge ? huge_page_size : 0);
    void* raw = ::mmap(nullptr, m_mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
      throw ucx_error(std::error_code(errno, std::generic_category()),
                      "host_memory: mmap of " + std::to_string(m_mapped) + " bytes");
    m_base = raw;
    auto address = reinterpret_cast<std::uintptr_t>(raw);
    if (huge) {
      address = (address + huge_page_size - 1) / huge_page_size * huge_page_size;
      advise_huge(reinterpret_cast<void*>(address), m_mapped - (address - reinterpret_cast<std::uintptr_t>(raw)));
    }
    m_data = reinterpret_cast<std::byte*>(address);
    std::memset(m_data, static_cast<int>(fill), size);
  }

  host_memory(host_memory&& other) noexcept
      : m_base(std::exchange(other.m_base, nullptr)), m_data(std::exchange(other.m_data, nullptr)),
        m_size(std::exchange(other.m_size, 0)), m_mapped(std::exchange(other.m_mapped, 0)) {}
  host_memory& operator=(host_memory&& other) noexcept {
    if (this != &other) {
      release();
      m_base = std::exchange(other.m_base, nullptr);
      m_data = std::exchange(other.m_data, nullptr);
      m_size = std::exchange(other.m_size, 0);
      m_mapped = std::exchange(other.m_mapped, 0);
    }
    return *this;
  }
  host_memory(const host_memory&) = delete;
  host_memory& operator=(const host_memory&) = delete;
  ~host_memory() { release(); }

  [[nodiscard]] std::byte* data() noexcept { return m_data; }
  [[nodiscard]] const std::byte* data() const noexcept { return m_data; }
  [[nodiscard]] std::size_t size() const noexcept { return m_size; }
  [[nodiscard]] std::byte* begin() noexcept { return m_data; }
  [[nodiscard]] std::byte* end() noexcept { return m_data + m_size; }
  [[nodiscard]] const std::byte* begin() const noexcept { return m_data; }
  [[nodiscard]] const std::byte* end() const noexcept { return m_data + m_size; }
  [[nodiscard]] std::span<std::byte> span() noexcept { return {m_data, m_size}; }

private:
  void release() noexcept {
    if (m_base != nullptr)
      ::munmap(m_base, m_mapped);
    m_base = nullptr;
  }

  void* m_base = nullptr;
  std::byte* m_data = nullptr;
  std::size_t m_size = 0;
  std::size_t m_mapped = 0;
};

} // namespace ucoro
