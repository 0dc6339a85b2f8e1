// small_vector: the inline storage of an all-to-all's plan and batch.
#include <ucoro/runtime/detail/small_vector.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <string>

using ucoro::detail::small_vector;

namespace {
struct counted {
  static inline int alive = 0;
  std::unique_ptr<std::string> text; // move-only, and ASan sees a leak or double free
  explicit counted(std::string s) : text(std::make_unique<std::string>(std::move(s))) { ++alive; }
  counted(counted&& o) noexcept : text(std::move(o.text)) { ++alive; }
  ~counted() { --alive; }
};
} // namespace

TEST_CASE("small_vector keeps its first N elements inline and grows past them", "[small_vector]") {
  {
    small_vector<counted, 4> v;
    const void* inline_at = v.data();
    for (int i = 0; i < 4; ++i)
      v.emplace_back(std::to_string(i));
    CHECK(v.data() == inline_at); // no heap while it fits
    CHECK(counted::alive == 4);
    for (int i = 4; i < 11; ++i)
      v.emplace_back(std::to_string(i));
    CHECK(v.data() != inline_at);
    REQUIRE(v.size() == 11);
    for (int i = 0; i < 11; ++i)
      CHECK(*v[i].text == std::to_string(i)); // moved intact
    CHECK(counted::alive == 11);
    v.clear();
    CHECK(v.empty());
    CHECK(counted::alive == 0);
    v.emplace_back("again");
    CHECK(*v[0].text == "again");
  }
  CHECK(counted::alive == 0);
}

TEST_CASE("small_vector(count) value-initializes and reserve keeps the contents", "[small_vector]") {
  small_vector<int, 2> v(5);
  REQUIRE(v.size() == 5);
  for (int x : v)
    CHECK(x == 0);
  v[3] = 7;
  v.reserve(100);
  CHECK(v[3] == 7);
  CHECK(v.size() == 5);
}
