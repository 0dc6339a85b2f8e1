// Built with UCORO_HAS_HWLOC=0 (which wins over <hwloc.h> being installed):
// the header compiles and every call says why it cannot work.
#include <ucoro/topology.hpp>

#include <catch2/catch.hpp>

static_assert(UCORO_HAS_HWLOC == 0, "this test must be built with hwloc off");

TEST_CASE("without hwloc every topology call throws not_supported with the fix", "[topology][error]") {
  try {
    (void)ucoro::topology::this_machine();
    FAIL("no error without hwloc");
  } catch (const ucoro::ucx_error& e) {
    CHECK(e.code() == std::errc::not_supported);
    CHECK_THAT(e.what(), Catch::Contains("without hwloc") && Catch::Contains("UCORO_HAS_HWLOC=0") && Catch::Contains("libhwloc-dev"));
  }
  CHECK_THROWS_AS(ucoro::topology::from_xml("x.xml"), ucoro::ucx_error);
}
