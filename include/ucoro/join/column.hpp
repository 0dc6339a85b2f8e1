#pragma once
// The column kinds a join table holds, and the two row operations every
// step of the join applies to each of them:
//
//   fixed-width  std::vector<T> of a trivially copyable T (any allocator)
//   strings      string_column (Arrow offsets + bytes)
//   run time     any_column (either of the two above, chosen per column)
//
// empty_like(c) is an empty column of c's kind (for any_column, the same
// alternative); append_gathered(to, c, rows) appends c[rows[i]] to `to`
// (no_row gives a zero, or an empty string). Scattering lives with the
// partition (partition.hpp), moving with the shuffle (shuffle.hpp).

#include <ucoro/error.hpp>
#include <ucoro/join/any_column.hpp>
#include <ucoro/join/scratch_vector.hpp>
#include <ucoro/join/string_column.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <ranges>
#include <span>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace ucoro::join {

/// Row numbers within one rank's table; `no_row` marks a missing match.
using row_index = std::uint32_t;
inline constexpr row_index no_row = std::numeric_limits<row_index>::max();

namespace detail {
template <class C>
struct is_std_vector : std::false_type {};
template <class T, class A>
struct is_std_vector<std::vector<T, A>> : std::true_type {};
} // namespace detail

/// A std::vector of trivially copyable values: moved as raw bytes.
template <class C>
concept fixed_width_column =
    detail::is_std_vector<std::remove_cv_t<C>>::value && std::is_trivially_copyable_v<typename C::value_type>;

/// Any column a join table may hold.
template <class C>
concept join_column = fixed_width_column<C> || std::same_as<std::remove_cv_t<C>, string_column> ||
                      std::same_as<std::remove_cv_t<C>, any_column>;

/// A key type the join takes: any integral type, or std::string (whose
/// column is a string_column).
template <class K>
concept join_key = std::integral<K> || std::same_as<K, std::string>;

namespace detail {
template <class K>
struct key_column_of {
  using type = std::vector<K>;
};
template <>
struct key_column_of<std::string> {
  using type = string_column;
};
} // namespace detail

/// The column that holds keys of type K.
template <join_key K>
using key_column_t = typename detail::key_column_of<K>::type;

template <fixed_width_column C>
[[nodiscard]] C empty_like(const C&) {
  return C{};
}
[[nodiscard]] inline string_column empty_like(const string_column&) { return {}; }
[[nodiscard]] inline any_column empty_like(const any_column& c) {
  return std::visit([](const auto& held) { return any_column(empty_like(held)); }, c.get());
}

/// Appends column[rows[i]] for each i to `to` (no_row gives a zero),
/// straight into its place (see resize_huge).
template <class Vector, fixed_width_column Column>
void append_gathered(Vector& to, const Column& column, std::span<const row_index> rows) {
  using T = typename Vector::value_type;
  const std::size_t old = to.size();
  resize_huge(to, old + rows.size());
  T* const at = to.data() + old;
  for (std::size_t i = 0; i < rows.size(); ++i)
    at[i] = rows[i] == no_row ? T{} : column[rows[i]];
}

/// Strings: the lengths first (one pass sizes the bytes), then the bytes;
/// no_row gives an empty string.
inline void append_gathered(string_column& to, const string_column& column, std::span<const row_index> rows) {
  const std::size_t old_rows = to.size(), old_bytes = to.bytes().size();
  std::size_t bytes = 0;
  for (row_index r : rows)
    bytes += r == no_row ? 0 : column.length(r);
  to.resize_for(old_rows + rows.size(), old_bytes + bytes);
  std::uint64_t* const offsets = to.offsets_data() + old_rows;
  char* const out = to.bytes_data();
  std::uint64_t at = old_bytes;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] != no_row) {
      const std::string_view s = column[rows[i]];
      std::memcpy(out + at, s.data(), s.size());
      at += s.size();
    }
    offsets[i + 1] = at;
  }
}

/// Calls f(from's column, to's column of the same kind), `to` first made
/// an empty column of from's kind if it holds the other: how every step of
/// the join applies its typed operation to run-time columns.
template <class F>
void with_kind_of(const any_column& from, any_column& to, F&& f) {
  if (to.get().index() != from.get().index())
    to = empty_like(from);
  std::visit(
      [&](auto& into) {
        using C = std::remove_cvref_t<decltype(into)>;
        f(std::get<C>(from.get()), into);
      },
      to.get());
}

/// Run-time columns: `to` takes the kind of `column` while it is empty; a
/// column of the other kind is invalid_argument.
inline void append_gathered(any_column& to, const any_column& column, std::span<const row_index> rows) {
  if (to.get().index() != column.get().index() && to.size() != 0)
    throw_invalid_argument(std::string("append_gathered: a ") + (column.is_text() ? "string" : "integer") +
                           " column into a non-empty " + (to.is_text() ? "string" : "integer") + " column");
  with_kind_of(column, to, [&](const auto& from, auto& into) { append_gathered(into, from, rows); });
}

} // namespace ucoro::join
