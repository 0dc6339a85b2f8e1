#include "../support/helpers.hpp"

#include <ucoro/runtime/detail/frame_allocator.hpp>

#include <memory>
#include <utility>
#include <vector>
#include <stdexcept>
#include <string>

using namespace ucoro;
using namespace std::chrono_literals;

namespace {

task<int> answer() { co_return 42; }
task<void> nothing(int& touched) {
  touched = 1;
  co_return;
}
task<int> thrower() {
  throw std::runtime_error("boom");
  co_return 0;
}
task<std::unique_ptr<int>> move_only() { co_return std::make_unique<int>(7); }

task<int> one() { co_return 1; }
task<long> chain(int n) {
  long sum = 0;
  for (int i = 0; i < n; ++i)
    sum += co_await one();
  co_return sum;
}

struct counted {
  static inline int alive = 0;
  counted() { ++alive; }
  counted(const counted&) { ++alive; }
  ~counted() { --alive; }
};
task<void> holds(counted c) {
  (void)c;
  co_return;
}

/// Move-only; counts destructions of objects that still own their value.
struct owner {
  static inline int live_destructions = 0;
  bool live = true;
  owner() = default;
  owner(owner&& o) noexcept : live(std::exchange(o.live, false)) {}
  owner& operator=(owner&&) = delete;
  ~owner() {
    if (live)
      ++live_destructions;
  }
};
task<owner> make_owner() { co_return owner{}; }

} // namespace

TEST_CASE("as_result and when_all hand over a move-only value exactly once", "[task][regression]") {
  // GCC 12 destroyed the awaited temporary of `co_return result<T>{{}, co_await x}`
  // as if it still owned its value: for an endpoint, that closed it.
  context ctx;
  worker w{ctx};
  owner::live_destructions = 0;
  {
    auto r = w.run(as_result(make_owner()));
    REQUIRE(r);
    CHECK(r.value.live);
    CHECK(owner::live_destructions == 0);
  }
  CHECK(owner::live_destructions == 1);
  owner::live_destructions = 0;
  {
    auto [a, b] = w.run(when_all(make_owner(), make_owner()));
    CHECK(a.live);
    CHECK(b.live);
    CHECK(owner::live_destructions == 0);
  }
  CHECK(owner::live_destructions == 2);
}

TEST_CASE("a task returns its value to the awaiter", "[task]") {
  context ctx;
  worker w{ctx};
  CHECK(w.run(answer()) == 42);
}

TEST_CASE("a void task runs its body once awaited", "[task]") {
  context ctx;
  worker w{ctx};
  int touched = 0;
  auto t = nothing(touched);
  CHECK(touched == 0); // lazy
  w.run(std::move(t));
  CHECK(touched == 1);
}

TEST_CASE("an exception in a task propagates to the awaiter", "[task][error]") {
  context ctx;
  worker w{ctx};
  CHECK_THROWS_WITH(w.run(thrower()), "boom");
}

TEST_CASE("a task moves, and a move-only result moves out", "[task]") {
  context ctx;
  worker w{ctx};
  auto a = answer();
  auto b = std::move(a);
  CHECK_FALSE(a.valid());
  CHECK(b.valid());
  CHECK(w.run(std::move(b)) == 42);
  auto p = w.run(move_only());
  REQUIRE(p);
  CHECK(*p == 7);
}

TEST_CASE("destroying an unstarted task destroys its frame and arguments", "[task]") {
  counted::alive = 0;
  {
    auto t = holds(counted{});
    CHECK(counted::alive == 1); // the argument copy lives in the frame
  }
  CHECK(counted::alive == 0);
}

TEST_CASE("a chain of 1,000,000 immediately completing awaits does not overflow the stack", "[task]") {
  context ctx;
  worker w{ctx};
  CHECK(w.run(chain(1'000'000)) == 1'000'000);
}

TEST_CASE("the frame cache keeps up to 128 frames of a small class, 256 KiB of a large one, none past 16 KiB",
          "[task][frame_cache]") {
  using ucoro::detail::frame_cache;
  // Frees `n` frames of `size` at once, as a window of tasks does; how many the cache then holds.
  auto free_at_once = [](std::size_t size, std::size_t n) {
    std::vector<void*> frames;
    for (std::size_t i = 0; i < n; ++i)
      frames.push_back(frame_cache::allocate(size));
    for (void* p : frames)
      frame_cache::deallocate(p, size);
    return frame_cache::cached(size);
  };
#if UCORO_ASAN || defined(UCORO_NO_FRAME_CACHE)
  CHECK(free_at_once(64, 200) == 0); // the cache is off: ASan sees every frame's use after free
#else
  CHECK(free_at_once(64, 200) == 128);
  CHECK(free_at_once(4 * 1024, 100) == 64);  // 256 KiB of 4 KiB frames
  CHECK(free_at_once(16 * 1024, 40) == 16);  // 256 KiB of 16 KiB frames
  CHECK(free_at_once(64 * 1024, 10) == 0);   // past the largest class: straight to operator delete
#endif
}
