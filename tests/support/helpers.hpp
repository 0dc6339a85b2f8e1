#pragma once
// Shared by the tests: bounded waits and small buffers.

#include <ucoro/ucoro.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ucoro::test {

using namespace std::chrono_literals;

/// Every wait in a test has a bound: a hang fails the test instead.
inline constexpr auto test_timeout = 10s;

template <class A>
auto bounded(A&& aw, std::chrono::milliseconds limit = test_timeout) {
  return ucoro::with_timeout(std::forward<A>(aw), limit);
}

/// A recognisable pattern, different for each (size, seed).
inline std::vector<std::byte> pattern(std::size_t size, std::uint32_t seed = 1) {
  std::vector<std::byte> out(size);
  std::uint32_t x = seed * 2654435761U + 1;
  for (auto& b : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<std::byte>(x);
  }
  return out;
}

inline const char* mode_name(progress_mode mode) {
  return mode == progress_mode::blocking ? "blocking" : mode == progress_mode::polling ? "polling" : "yielding";
}

} // namespace ucoro::test
