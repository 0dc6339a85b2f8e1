#pragma once
// check(): what a rank (a thread of a rank group, or a child process) found
// wrong, thrown as check_failed and reported with the rank by the caller.

#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace ucoro::test {

/// What a check found wrong.
struct check_failed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Throws check_failed(WHAT) unless `ok`. WHAT is a string, or a function
/// returning one, so that a per-element check builds its message only for
/// the element that fails (building it for every element was most of the
/// all-to-all suite's CPU time under ASan).
template <class What>
void check(bool ok, What&& what) {
  if (ok)
    return;
  if constexpr (std::is_invocable_v<What&>)
    throw check_failed(std::string(what()));
  else
    throw check_failed(std::string(std::forward<What>(what)));
}

} // namespace ucoro::test
