#pragma once
// A column of variable-length strings, laid out as Arrow's large_string:
// row i is bytes[offsets[i], offsets[i+1]); offsets has one entry more than
// there are rows and starts at 0. Two flat arrays, so a shuffle moves a
// string column as two all_to_allv calls (the lengths, then the bytes) and
// never a string at a time. It serves as a join key (its rows hash with
// hash_key(std::string_view)) and as a payload column.

#include <ucoro/error.hpp>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ucoro::join {

class string_column {
public:
  using value_type = std::string_view;

  string_column() = default;
  string_column(std::initializer_list<std::string_view> rows) {
    for (std::string_view s : rows)
      push_back(s);
  }
  /// Adopts Arrow arrays; throws ucx_error (invalid_argument) naming the
  /// first offset that breaks the layout (not starting at 0, decreasing, or
  /// not ending at bytes.size()).
  string_column(std::vector<std::uint64_t> offsets, std::vector<char> bytes)
      : m_offsets(std::move(offsets)), m_bytes(std::move(bytes)) {
    if (m_offsets.empty() || m_offsets.front() != 0)
      throw_invalid_argument("string_column: offsets must start with 0 (" + std::to_string(m_offsets.size()) +
                             " offsets given)");
    for (std::size_t i = 1; i < m_offsets.size(); ++i)
      if (m_offsets[i] < m_offsets[i - 1])
        throw_invalid_argument("string_column: offset " + std::to_string(i) + " (" + std::to_string(m_offsets[i]) +
                               ") is below offset " + std::to_string(i - 1) + " (" +
                               std::to_string(m_offsets[i - 1]) + ")");
    if (m_offsets.back() != m_bytes.size())
      throw_invalid_argument("string_column: the last offset is " + std::to_string(m_offsets.back()) + " for " +
                             std::to_string(m_bytes.size()) + " bytes");
  }

  [[nodiscard]] std::size_t size() const noexcept { return m_offsets.size() - 1; }
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }
  [[nodiscard]] std::string_view operator[](std::size_t i) const noexcept {
    return {m_bytes.data() + m_offsets[i], static_cast<std::size_t>(m_offsets[i + 1] - m_offsets[i])};
  }
  [[nodiscard]] std::string_view at(std::size_t i) const {
    if (i >= size())
      throw_invalid_argument("string_column: row " + std::to_string(i) + " of " + std::to_string(size()));
    return (*this)[i];
  }
  [[nodiscard]] std::size_t length(std::size_t i) const noexcept {
    return static_cast<std::size_t>(m_offsets[i + 1] - m_offsets[i]);
  }

  void push_back(std::string_view s) {
    m_bytes.insert(m_bytes.end(), s.begin(), s.end());
    m_offsets.push_back(m_bytes.size());
  }
  void reserve(std::size_t rows, std::size_t bytes) {
    m_offsets.reserve(rows + 1);
    m_bytes.reserve(bytes);
  }
  void clear() noexcept {
    m_offsets.assign(1, 0);
    m_bytes.clear();
  }

  /// The Arrow arrays: offsets (size() + 1 of them) and the bytes.
  [[nodiscard]] const std::vector<std::uint64_t>& offsets() const noexcept { return m_offsets; }
  [[nodiscard]] const std::vector<char>& bytes() const noexcept { return m_bytes; }

  /// For the join's own steps, which fill both arrays in place (the bytes
  /// first) and then keep the layout: `rows` rows of `bytes` bytes, the
  /// offsets' values left for the caller to write (offsets[0] stays 0).
  void resize_for(std::size_t rows, std::size_t bytes) {
    m_offsets.resize(rows + 1);
    m_offsets[0] = 0;
    m_bytes.resize(bytes);
  }
  [[nodiscard]] std::uint64_t* offsets_data() noexcept { return m_offsets.data(); }
  [[nodiscard]] char* bytes_data() noexcept { return m_bytes.data(); }

  friend bool operator==(const string_column& a, const string_column& b) {
    return a.m_offsets == b.m_offsets && a.m_bytes == b.m_bytes;
  }

private:
  std::vector<std::uint64_t> m_offsets{0};
  std::vector<char> m_bytes;
};

} // namespace ucoro::join
