#include <ucoro/context.hpp>

#include <catch2/catch.hpp>

TEST_CASE("a default context reads the environment and describes itself", "[context]") {
  ucoro::context ctx;
  REQUIRE(ctx.handle() != nullptr);
  CHECK_THAT(ctx.ucx_info(), Catch::Contains("UCP context"));
  CHECK(ctx.supports_memory_type(UCS_MEMORY_TYPE_HOST));
  CHECK(ctx.cuda_support() == ctx.supports_memory_type(UCS_MEMORY_TYPE_CUDA));
}

TEST_CASE("options are applied without the UCX_ prefix, and with it", "[context]") {
  ucoro::context ctx{{{"TLS", "tcp,self"}, {"UCX_RNDV_THRESH", "8192"}}};
  CHECK(ctx.config().at("TLS") == "tcp,self");
  CHECK(ctx.config().at("RNDV_THRESH") == "8192");
  // ucp_context_print_info lists the transport resources actually selected.
  const std::string info = ctx.ucx_info();
  CHECK_THAT(info, Catch::Contains("tcp/lo"));
  CHECK_THAT(info, !Catch::Contains("sysv/memory"));
}

TEST_CASE("a transport-level option is accepted as UCX accepts it", "[context]") {
  ucoro::context ctx{{{"TCP_RX_SEG_SIZE", "16k"}, {"SYSV_ERROR_HANDLING", "y"}}};
  CHECK(ctx.config().at("TCP_RX_SEG_SIZE") == "16k");
}

TEST_CASE("an unknown option raises an error naming the option", "[context][error]") {
  try {
    ucoro::context ctx{{{"NO_SUCH_OPTION_XYZ", "1"}}};
    FAIL("context accepted an unknown option");
  } catch (const ucoro::ucx_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("NO_SUCH_OPTION_XYZ"));
    CHECK_THAT(e.what(), Catch::Contains("unknown option"));
    CHECK(e.code() == std::errc::invalid_argument);
  }
}

TEST_CASE("a bad option value raises an error naming the option and the value", "[context][error]") {
  try {
    ucoro::context ctx{{{"RNDV_THRESH", "banana"}}};
    FAIL("context accepted a bad value");
  } catch (const ucoro::ucx_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("RNDV_THRESH"));
    CHECK_THAT(e.what(), Catch::Contains("banana"));
    CHECK(e.code() == std::errc::invalid_argument);
  }
}
