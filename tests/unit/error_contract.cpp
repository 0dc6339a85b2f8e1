// One error contract for every layer (docs/design.md "Errors"): misuse is a
// ucx_error whose code is std::errc::invalid_argument (value_too_large for
// a text that does not fit) and whose what() names the call and the values.
// One case per layer that takes arguments a user can get wrong, all in one
// process (a singleton communicator for the collectives and the join).
#include "../support/join_check.hpp"

#include <ucoro/comm/detail/tag_fields.hpp>
#include <ucoro/ucoro.hpp>

#include <catch2/catch.hpp>

#include <functional>
#include <tuple>
#include <typeinfo>
#include <string>
#include <vector>

using namespace ucoro;
using namespace ucoro::test;

namespace {

/// Runs `misuse`, which must throw ucx_error with `code`, and returns what().
std::string misuse_error(const std::function<void()>& misuse, std::errc code) {
  try {
    misuse();
  } catch (const ucx_error& e) {
    CHECK(e.code() == code);
    return e.what();
  } catch (const std::exception& e) {
    FAIL("threw " << typeid(e).name() << " (" << e.what() << "), not ucx_error");
  }
  FAIL("did not throw");
  return {};
}

} // namespace

TEST_CASE("misuse in every layer is ucx_error(invalid_argument) naming the call and the values", "[error_contract]") {
  context ctx;
  worker w{ctx, progress_mode::polling};

  // ucx: a tag in a reserved space.
  std::vector<std::byte> bytes(8);
  CHECK_THAT(misuse_error([&] { (void)w.recv(bytes, tag_layout::in_space(tag_layout::space::communicator, 1)); },
                          std::errc::invalid_argument),
             Catch::Contains("worker::recv"));

  // p2p: an option's text that names no mode, and one too long to fit.
  CHECK_THAT(misuse_error([] { (void)parse_error_handling("sometimes"); }, std::errc::invalid_argument),
             Catch::Contains("'sometimes'"));
  CHECK_THAT(misuse_error([] { endpoint_options{}.token = std::string(129, 'x'); }, std::errc::value_too_large),
             Catch::Contains("129") && Catch::Contains("128"));

  // comm: a rank, a tag, a part count.
  w.run([&]() -> task<void> {
    communicator comm = co_await communicator::bootstrap(w);
    CHECK_THAT(misuse_error([&] { (void)comm.send(3, bytes, 0); }, std::errc::invalid_argument),
               Catch::Contains("communicator::send: rank 3 outside [0, 1)"));
    CHECK_THAT(misuse_error([&] { (void)comm.recv(0, bytes, communicator::max_tag + 1); }, std::errc::invalid_argument),
               Catch::Contains("tag " + std::to_string(communicator::max_tag + 1)));
    std::vector<std::vector<int>> two_parts(2), recv(1);
    std::string what;
    try {
      co_await all_to_allv(comm, two_parts, recv);
    } catch (const ucx_error& e) {
      CHECK(e.code() == std::errc::invalid_argument);
      what = e.what();
    }
    CHECK_THAT(what, Catch::Contains("all_to_allv: 2 parts to send and 1 to receive into, for 1 ranks"));
  }());

  // join: parts, rows per part, a payload column shorter than its keys.
  join_table_i64 t = make_side(key_mode::unique, true, 0, 1, 10);
  CHECK_THAT(misuse_error([&] { (void)join::partition(t, 0); }, std::errc::invalid_argument),
             Catch::Contains("partition: 0 parts"));
  join::local_join_options zero_rows;
  zero_rows.rows_per_part = 0;
  CHECK_THAT(misuse_error(
                 [&] {
                   (void)join::local_join(std::span<const std::int64_t>(t.keys), std::span<const std::int64_t>(t.keys),
                                          join::join_how::inner, zero_rows);
                 },
                 std::errc::invalid_argument),
             Catch::Contains("rows_per_part"));
  join_table_i64 short_payload = t;
  short_payload.payloads[1].pop_back();
  join::hash_join_options zero_parts;
  zero_parts.over_decomposition = 0;
  // A struct, not a structured binding: Clang 14 cannot capture bindings in the lambda below.
  struct bad_call {
    join_table_i64* table;
    join::hash_join_options options;
    std::string named;
  };
  for (const bad_call& bad : std::vector<bad_call>{{&short_payload, {}, "payload column 1 has 9 rows for 10 keys"},
                                                   {&t, zero_parts, "over_decomposition"}}) {
    const std::string& named = bad.named;
    std::string what;
    w.run([&]() -> task<void> {
      communicator comm = co_await communicator::bootstrap(w);
      try {
        (void)co_await join::hash_join(comm, *bad.table, t, bad.options);
      } catch (const ucx_error& e) {
        CHECK(e.code() == std::errc::invalid_argument);
        what = e.what();
      }
    }());
    CHECK_THAT(what, Catch::Contains(named));
  }
}

TEST_CASE("a peer's unreadable traffic is its own errc, not a handshake failure", "[error_contract]") {
  const std::error_code malformed = errc::malformed_message;
  CHECK(malformed == std::errc::bad_message);
  CHECK(malformed != errc::handshake_failed);
  CHECK(malformed.message() == "malformed message from a peer");
  CHECK(std::error_code(errc::handshake_failed) == std::errc::protocol_error);
}
