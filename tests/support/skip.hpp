#pragma once
// A case that cannot run here is a SKIP, not a pass. Catch2 v2 has no skip,
// so: such a case is hidden ([.tag], left out of the executable's default
// run) and gets a meson test of its own that selects it by tag; it calls
// UCORO_SKIP(reason), and main() (support/main.cpp) then exits 77, which
// meson reports as SKIP.

#include <catch2/catch.hpp>

namespace ucoro::test {

inline int& skipped_cases() noexcept {
  static int count = 0;
  return count;
}

} // namespace ucoro::test

#define UCORO_SKIP(reason)                                                                                           \
  do {                                                                                                               \
    WARN("SKIP: " << reason);                                                                                        \
    ++::ucoro::test::skipped_cases();                                                                                \
    return;                                                                                                          \
  } while (false)
