#pragma once
// Bytes as hex text, for handing worker addresses and peer_info between a
// test and its child process on a command line or stdout.

#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace ucoro::test {

[[nodiscard]] inline std::string to_hex(const void* data, std::size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * size);
  for (std::size_t i = 0; i < size; ++i) {
    const auto b = static_cast<const unsigned char*>(data)[i];
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

[[nodiscard]] inline std::vector<std::byte> from_hex(std::string_view text) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    throw std::invalid_argument("not a hex digit");
  };
  if (text.size() % 2 != 0)
    throw std::invalid_argument("odd-length hex");
  std::vector<std::byte> out(text.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<std::byte>(nibble(text[2 * i]) * 16 + nibble(text[2 * i + 1]));
  return out;
}

template <class T>
  requires std::is_trivially_copyable_v<T>
[[nodiscard]] T from_hex_as(std::string_view text) {
  const auto bytes = from_hex(text);
  if (bytes.size() != sizeof(T))
    throw std::invalid_argument("hex of the wrong size");
  T out;
  std::memcpy(&out, bytes.data(), sizeof(T));
  return out;
}

} // namespace ucoro::test
