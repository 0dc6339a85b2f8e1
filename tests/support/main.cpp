// Catch2's runner, plus exit status 77 (meson's SKIP) when a selected case
// could not run here and nothing failed (support/skip.hpp).
#define CATCH_CONFIG_RUNNER
#include "skip.hpp"

#include <catch2/catch.hpp>

int main(int argc, char* argv[]) {
  const int failed = Catch::Session().run(argc, argv);
  if (failed == 0 && ucoro::test::skipped_cases() > 0)
    return 77;
  return failed;
}
