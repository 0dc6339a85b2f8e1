#pragma once
// A case that cannot run here is a SKIP, not a pass. Catch2 v2 has no skip,
// so: such a case is hidden ([.tag], left out of the executable's default
// run) and gets a meson test of its own that selects it by tag; it calls
// UCORO_SKIP(reason), and main() (support/main.cpp) then exits 77, which
// meson reports as SKIP.

#include <iostream>

namespace ucoro::test {

inline int& skipped_cases() noexcept {
  static int count = 0;
  return count;
}

} // namespace ucoro::test

/// Says why on stderr (meson keeps it in the test log) and ends the case;
/// main() turns the count into exit status 77.
#define UCORO_SKIP(reason)                                                                                           \
  do {                                                                                                               \
    std::cerr << "SKIP: " << reason << '\n';                                                                        \
    ++::ucoro::test::skipped_cases();                                                                                \
    return;                                                                                                          \
  } while (false)
