#pragma once
// A payload column whose type is known only at run time: 64-bit integers or
// strings. What ucoro-join reads from CSV, where a file's header decides how
// many columns there are and their fields decide which are text; a table of
// them is table<Key, std::vector<any_column>>. Every column operation of the
// join (column.hpp, partition.hpp, shuffle.hpp) visits the alternative held.

#include <ucoro/join/string_column.hpp>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <variant>
#include <vector>

namespace ucoro::join {

class any_column {
public:
  using int_column = std::vector<std::int64_t>;
  using variant_type = std::variant<int_column, string_column>;

  any_column() = default; ///< an empty integer column
  any_column(int_column c) : m_column(std::move(c)) {}
  any_column(string_column c) : m_column(std::move(c)) {}

  [[nodiscard]] bool is_text() const noexcept { return std::holds_alternative<string_column>(m_column); }
  [[nodiscard]] std::size_t size() const noexcept {
    return std::visit([](const auto& c) { return c.size(); }, m_column);
  }

  /// The column held; std::get throws std::bad_variant_access for the other kind.
  [[nodiscard]] variant_type& get() noexcept { return m_column; }
  [[nodiscard]] const variant_type& get() const noexcept { return m_column; }
  [[nodiscard]] int_column& ints() { return std::get<int_column>(m_column); }
  [[nodiscard]] const int_column& ints() const { return std::get<int_column>(m_column); }
  [[nodiscard]] string_column& strings() { return std::get<string_column>(m_column); }
  [[nodiscard]] const string_column& strings() const { return std::get<string_column>(m_column); }

  friend bool operator==(const any_column&, const any_column&) = default;

private:
  variant_type m_column;
};

} // namespace ucoro::join
