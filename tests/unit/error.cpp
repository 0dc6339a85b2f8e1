#include <ucoro/error.hpp>

#include <catch2/catch.hpp>

#include <system_error>

TEST_CASE("ucs_status_t codes compare equal to the std::errc they mean", "[error]") {
  using ucoro::make_error_code;
  CHECK(make_error_code(UCS_ERR_CANCELED) == std::errc::operation_canceled);
  CHECK(make_error_code(UCS_ERR_TIMED_OUT) == std::errc::timed_out);
  CHECK(make_error_code(UCS_ERR_ENDPOINT_TIMEOUT) == std::errc::timed_out);
  CHECK(make_error_code(UCS_ERR_MESSAGE_TRUNCATED) == std::errc::message_size);
  CHECK(make_error_code(UCS_ERR_CONNECTION_RESET) == std::errc::connection_reset);
  CHECK(make_error_code(UCS_ERR_UNREACHABLE) == std::errc::host_unreachable);
  CHECK(make_error_code(UCS_ERR_REJECTED) == std::errc::connection_refused);
  CHECK(make_error_code(UCS_ERR_UNSUPPORTED) == std::errc::not_supported);
  CHECK(make_error_code(UCS_ERR_NO_MEMORY) == std::errc::not_enough_memory);
  CHECK(make_error_code(UCS_ERR_CANCELED) != std::errc::timed_out);
  CHECK_FALSE(make_error_code(UCS_OK));
}

TEST_CASE("the ucx category names itself and uses UCX's messages", "[error]") {
  const auto ec = ucoro::make_error_code(UCS_ERR_MESSAGE_TRUNCATED);
  CHECK(std::string(ec.category().name()) == "ucx");
  CHECK(ec.message() == ucs_status_string(UCS_ERR_MESSAGE_TRUNCATED));
}

TEST_CASE("ucoro's own conditions map to std::errc", "[error]") {
  CHECK(std::error_code(ucoro::errc::closed_by_peer) == std::errc::connection_reset);
  CHECK(std::error_code(ucoro::errc::peer_failed) == std::errc::connection_reset);
  CHECK(std::error_code(ucoro::errc::endpoint_closed) == std::errc::not_connected);
  CHECK(std::error_code(ucoro::errc::handshake_failed) == std::errc::protocol_error);
  CHECK(std::error_code(ucoro::errc::closed_by_peer).message() == "closed by peer");
}

TEST_CASE("ucx_error is a system_error carrying the code and what was being done", "[error]") {
  try {
    ucoro::check(UCS_ERR_MESSAGE_TRUNCATED, [] { return std::string("recv of 4096 bytes from 127.0.0.1:5000"); });
    FAIL("check did not throw");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::message_size);
    CHECK_THAT(e.what(), Catch::Contains("recv of 4096 bytes from 127.0.0.1:5000"));
  }
  CHECK_NOTHROW(ucoro::check(UCS_OK, "nothing"));
}

TEST_CASE("ucx_error says the code's message once, after what was being done", "[error][text]") {
  using ucoro::make_error_code;
  using ucoro::ucx_error;
  const std::error_code peer_failed = ucoro::errc::peer_failed;
  const std::string message = peer_failed.message();
  // The usual shape: context, then the code's message.
  const ucx_error plain(peer_failed, "recv of 8 bytes from host:1");
  CHECK(std::string(plain.what()) == "recv of 8 bytes from host:1: " + message);
  CHECK(plain.context() == "recv of 8 bytes from host:1");
  // A layer below already ended its words with the message: not twice
  // ("peer process exited: peer process exited" before).
  const ucx_error described(peer_failed, "recv of 8 bytes from host:1: " + message);
  CHECK(std::string(described.what()) == "recv of 8 bytes from host:1: " + message);
  const ucx_error bare(make_error_code(UCS_ERR_CANCELED), "");
  CHECK(std::string(bare.what()) == ucs_status_string(UCS_ERR_CANCELED));
  const ucx_error same(make_error_code(UCS_ERR_CANCELED), ucs_status_string(UCS_ERR_CANCELED));
  CHECK(std::string(same.what()) == ucs_status_string(UCS_ERR_CANCELED));
  // Copies keep the text (exceptions are copied when rethrown).
  const ucx_error copy = plain;
  CHECK(std::string(copy.what()) == plain.what());
  CHECK(copy.code() == std::errc::connection_reset);
}
