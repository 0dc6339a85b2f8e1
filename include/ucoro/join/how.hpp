#pragma once
// Which rows a join keeps (shared by the host and device joins).

namespace ucoro::join {

/// inner: the pairs that match; left: those, and each unmatched left row
/// once (no right side); semi: each left row with a match, once; anti: each
/// left row without one.
enum class join_how { inner, left, semi, anti };

[[nodiscard]] constexpr const char* to_string(join_how h) noexcept {
  switch (h) {
  case join_how::inner: return "inner";
  case join_how::left: return "left";
  case join_how::semi: return "semi";
  case join_how::anti: return "anti";
  }
  return "?";
}

} // namespace ucoro::join
