// slab_pool: registered, pre-touched slabs; an empty pool makes acquire()
// wait until a slab comes back (back-pressure), never throw.

#include "../support/helpers.hpp"

#include <ucoro/memory/pool.hpp>

#include <cstdint>

using namespace ucoro;
using namespace std::chrono_literals;

TEST_CASE("slabs are distinct, registered and come back when released", "[pool]") {
  context ctx;
  worker w{ctx};
  slab_pool pool{w, 64 << 10, 3};
  CHECK(pool.capacity() == 3);
  CHECK(pool.slab_size() == 64 << 10);
  CHECK(pool.registration() != nullptr);
  {
    auto a = pool.try_acquire(), b = pool.try_acquire(), c = pool.try_acquire();
    REQUIRE((a && b && c));
    CHECK(pool.available() == 0);
    CHECK_FALSE(pool.try_acquire());
    CHECK(a->data() != b->data());
    CHECK(b->data() != c->data());
    // Writable across the whole slab, and slabs do not overlap.
    std::memset(a->data(), 1, a->size());
    std::memset(b->data(), 2, b->size());
    CHECK(a->data()[a->size() - 1] == std::byte{1});
  }
  CHECK(pool.available() == 3);
  pool.warm_up();
  CHECK(pool.available() == 3);
}

TEST_CASE("an empty pool makes acquire wait until a slab is released", "[pool]") {
  context ctx;
  worker w{ctx};
  slab_pool pool{w, 4096, 2};
  w.run(with_timeout(
      [&]() -> task<void> {
        auto a = co_await pool.acquire();
        auto b = co_await pool.acquire();
        CHECK(pool.available() == 0);
        bool got = false;
        std::byte* const released = b.data();
        auto waiter = [&]() -> task<void> {
          auto c = co_await pool.acquire(); // waits for a or b
          got = true;
          CHECK(c.data() == released); // b's slab, released below
        };
        auto releaser = [&]() -> task<void> {
          co_await w.sleep(20ms); // the waiter is parked by now: the release is what wakes it
          CHECK_FALSE(got);
          slab_pool::slab gone = std::move(b);
        };
        co_await when_all(waiter(), releaser());
        CHECK(got);
      }(),
      10s));
  CHECK(pool.available() == 2);
}

TEST_CASE("a pool of no slabs is an invalid_argument error", "[pool]") {
  context ctx;
  worker w{ctx};
  CHECK_THROWS_AS(slab_pool(w, 4096, 0), ucx_error);
  CHECK_THROWS_AS(slab_pool(w, 0, 4), ucx_error);
}
