#include <ucoro/context.hpp>
#include <ucoro/worker.hpp>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

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

TEST_CASE("a transport-level option reaches the transport", "[context]") {
  // Valid, by its environment name or its field name: tcp opens with it.
  // (UCX takes the field name only: given "TCP_RX_SEG_SIZE" as is, it
  // warned and opened tcp with the default, the option lost.)
  for (const char* name : {"TCP_RX_SEG_SIZE", "UCX_TCP_RX_SEG_SIZE", "RX_SEG_SIZE"}) {
    INFO(name);
    ucoro::context ctx{{{"TLS", "tcp"}, {name, "16k"}}};
    ucoro::worker w{ctx};
    CHECK_THAT(ctx.ucx_info(), Catch::Contains("tcp/lo"));
  }
  // Invalid: the transport's own parser rejects it, which it could only do
  // if the option reached it; the worker fails saying so.
  try {
    ucoro::context ctx{{{"TLS", "tcp"}, {"TCP_RX_SEG_SIZE", "garbage"}}};
    ucoro::worker w{ctx};
    FAIL("tcp opened with RX_SEG_SIZE=garbage: the option never reached it");
  } catch (const ucoro::ucx_error& e) {
    CHECK(e.code() == std::errc::invalid_argument);
    CHECK_THAT(e.what(), Catch::Contains("RX_SEG_SIZE") && Catch::Contains("garbage"));
  }
}

TEST_CASE("a transport option whose field other transports share is refused with the choices", "[context][error]") {
  // sysv and posix both have FIFO_SIZE: UCX would set it for both.
  try {
    ucoro::context ctx{{{"SYSV_FIFO_SIZE", "128"}}};
    FAIL("SYSV_FIFO_SIZE accepted although UCX cannot set it for sysv alone");
  } catch (const ucoro::ucx_error& e) {
    CHECK(e.code() == std::errc::invalid_argument);
    CHECK_THAT(e.what(), Catch::Contains("FIFO_SIZE is a field of POSIX, SYSV") &&
                             Catch::Contains("UCX_SYSV_FIFO_SIZE in the environment"));
  }
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

TEST_CASE("ucx_version is the UCX library in use", "[context][parity]") {
  const ucoro::ucx_version_info v = ucoro::ucx_version();
  CHECK(v.major == UCP_API_MAJOR);
  CHECK(v.minor >= UCP_API_MINOR); // a newer library than the headers is allowed
  CHECK_THAT(v.text, Catch::StartsWith(std::to_string(v.major) + "." + std::to_string(v.minor) + "." +
                                       std::to_string(v.release)));
}

TEST_CASE("effective_config has every UCP setting: defaults, the environment and the context's options",
          "[context][parity]") {
  // The environment is read at creation: set one, then take it back.
  REQUIRE(::setenv("UCX_MAX_EAGER_RAILS", "2", 1) == 0);
  ucoro::context from_env;
  REQUIRE(::unsetenv("UCX_MAX_EAGER_RAILS") == 0);
  CHECK(from_env.effective_config().at("MAX_EAGER_RAILS") == "2");
  CHECK(from_env.config().empty()); // not an option given to the context

  ucoro::context plain;
  CHECK(plain.effective_config().at("MAX_EAGER_RAILS") == "1"); // UCX's default
  CHECK(plain.effective_config().count("TLS") == 1);
  CHECK(plain.effective_config().count("RNDV_THRESH") == 1);

  ucoro::context tcp{{{"TLS", "tcp"}}};
  CHECK(tcp.effective_config().at("TLS") == "tcp");
  // What the context was given is what it applied.
  for (const auto& [name, value] : tcp.config())
    CHECK(tcp.effective_config().at(name) == value);
}
