#include <ucoro/address.hpp>

#include <catch2/catch.hpp>

TEST_CASE("get_address of the loopback interface is 127.0.0.1", "[address]") {
  CHECK(ucoro::get_address("lo") == "127.0.0.1");
}

TEST_CASE("get_address with no name returns some address", "[address]") {
  CHECK_FALSE(ucoro::get_address().empty());
}

TEST_CASE("get_address of an unknown interface is a clear error", "[address][error]") {
  try {
    (void)ucoro::get_address("nosuchif0");
    FAIL("no error for an unknown interface");
  } catch (const ucoro::ucx_error& e) {
    CHECK(e.code() == std::errc::no_such_device);
    CHECK_THAT(e.what(), Catch::Contains("nosuchif0") && Catch::Contains("does not exist"));
  }
}
