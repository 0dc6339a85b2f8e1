#pragma once
// What the join works on: a key column (of any integral type, or strings)
// and payload columns, either a fixed tuple of typed columns
// (std::tuple<std::vector<A>, string_column>) or a run-time number of
// columns (std::vector<std::vector<std::int64_t>>, or
// std::vector<any_column> as ucoro-join reads from CSV). column.hpp lists
// the column kinds.
// Every building block moves whole columns: it computes row positions once
// from the keys, then applies them to each column in one pass.

#include <ucoro/error.hpp>
#include <ucoro/join/column.hpp>
#include <ucoro/join/scratch_vector.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace ucoro::join {

namespace detail {
template <class T>
struct is_tuple : std::false_type {};
template <class... C>
struct is_tuple<std::tuple<C...>> : std::true_type {};
} // namespace detail

/// Payload columns: a tuple of columns, or a std::vector of columns of one kind.
template <class P>
concept payload_columns = detail::is_tuple<std::remove_cv_t<P>>::value ||
                          (std::ranges::random_access_range<P> && join_column<std::ranges::range_value_t<P>>);

/// keys[i] and row i of every payload column make row i. A std::string key
/// type keeps its keys in a string_column.
template <join_key Key, payload_columns Payloads>
struct table {
  using key_type = Key;
  using payloads_type = Payloads;
  key_column_t<Key> keys;
  Payloads payloads{};

  [[nodiscard]] std::size_t size() const noexcept { return keys.size(); }
};

/// Any ucoro::join::table.
template <class T>
concept join_table = requires { typename T::key_type; typename T::payloads_type; } &&
                     std::same_as<T, table<typename T::key_type, typename T::payloads_type>>;

/// Calls f(column) for every payload column, in order.
template <payload_columns P, class F>
void for_each_column(P& payloads, F&& f) {
  if constexpr (detail::is_tuple<std::remove_const_t<P>>::value)
    std::apply([&](auto&... column) { (f(column), ...); }, payloads);
  else
    for (auto& column : payloads)
      f(column);
}

/// Calls f(a column i, b column i) for every column of two payloads of one shape.
template <payload_columns P, payload_columns Q, class F>
void for_each_column_pair(P& a, Q& b, F&& f) {
  if constexpr (detail::is_tuple<std::remove_const_t<P>>::value) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (f(std::get<I>(a), std::get<I>(b)), ...);
    }(std::make_index_sequence<std::tuple_size_v<std::remove_const_t<P>>>{});
  } else {
    for (std::size_t i = 0; i < a.size(); ++i)
      f(a[i], b[i]);
  }
}

/// Payloads of the same shape, column i = f(payloads column i).
template <payload_columns P, class F>
[[nodiscard]] P transform_columns(const P& payloads, F&& f) {
  if constexpr (detail::is_tuple<P>::value) {
    return std::apply([&](const auto&... column) { return P{f(column)...}; }, payloads);
  } else {
    P out;
    out.reserve(payloads.size());
    for (const auto& column : payloads)
      out.push_back(f(column));
    return out;
  }
}

/// Payloads of `like`'s shape, every column empty.
template <payload_columns P>
[[nodiscard]] P empty_columns_like(const P& like) {
  return transform_columns(like, [](const auto& column) { return empty_like(column); });
}

/// The number of payload columns.
template <payload_columns P>
[[nodiscard]] std::size_t column_count(const P& payloads) noexcept {
  if constexpr (detail::is_tuple<P>::value)
    return std::tuple_size_v<P>;
  else
    return payloads.size();
}

/// Throws ucx_error (std::errc::invalid_argument) unless every payload column has one value per key.
template <join_table T>
void check_shape(const T& t, const char* what) {
  std::size_t i = 0;
  for_each_column(t.payloads, [&](const auto& column) {
    if (column.size() != t.keys.size())
      throw_invalid_argument(std::string(what) + ": payload column " + std::to_string(i) + " has " +
                             std::to_string(column.size()) + " rows for " + std::to_string(t.keys.size()) + " keys");
    ++i;
  });
}

} // namespace ucoro::join
