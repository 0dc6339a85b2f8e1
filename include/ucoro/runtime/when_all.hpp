#pragma once
// when_all: run tasks concurrently on the current worker, resume when all
// have finished. Results keep argument order. If any fails, the others are
// asked to stop (their stop token fires, cancelling their UCX requests) and
// the first exception to occur is rethrown once all have finished: nothing
// is left running behind the caller's back.

#include <ucoro/concepts/awaitable.hpp>
#include <ucoro/runtime/detail/env.hpp>
#include <ucoro/runtime/task.hpp>

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <stop_token>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace ucoro {

namespace detail {

template <class T>
using non_void_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

struct when_all_state {
  std::size_t remaining = 0;
  std::coroutine_handle<> continuation;
  std::exception_ptr first_error;
  std::stop_source stop;
};

/// A self-destroying coroutine that awaits one task and reports to the state.
class when_all_child {
public:
  struct promise_type : promise_env {
    when_all_state* state = nullptr;

    when_all_child get_return_object() noexcept {
      return when_all_child{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    auto final_suspend() const noexcept {
      struct awaiter {
        bool await_ready() const noexcept { return false; }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
          when_all_state* s = h.promise().state;
          h.destroy();
          return --s->remaining == 0 ? s->continuation : std::noop_coroutine();
        }
        void await_resume() const noexcept {}
      };
      return awaiter{};
    }
    void return_void() const noexcept {}
    void unhandled_exception() noexcept {
      if (!state->first_error)
        state->first_error = std::current_exception();
      state->stop.request_stop();
    }
  };

  explicit when_all_child(std::coroutine_handle<promise_type> h) noexcept : m_handle(h) {}

  void start(when_all_state& state, const promise_env* parent) {
    m_handle.promise().state = &state;
    m_handle.promise().set_stop_token(state.stop.get_token());
    if (parent != nullptr)
      m_handle.promise().set_engine(parent->engine());
    m_handle.resume();
  }

private:
  std::coroutine_handle<promise_type> m_handle;
};

template <class T, class Slot>
when_all_child run_child(task<T>& t, Slot& slot) {
  if constexpr (std::is_void_v<T>) {
    co_await t;
    slot.emplace();
  } else {
    // Named first: GCC 12 mishandles some co_await operands in initializers.
    T value = co_await std::move(t);
    slot.emplace(std::move(value));
  }
}

/// Suspends the when_all coroutine until every started child has reported.
struct when_all_join {
  when_all_state* state;
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    state->continuation = h;
    // `remaining` started at children + 1; this is the +1. Children that all
    // finished synchronously leave it at zero: no suspension.
    return --state->remaining != 0;
  }
  void await_resume() const noexcept {}
};

struct forward_stop {
  std::stop_source* source;
  void operator()() const noexcept { source->request_stop(); }
};

} // namespace detail

/// `auto [a, b] = co_await when_all(task_a(), task_b());` (void -> std::monostate)
template <class... Ts>
[[nodiscard]] task<std::tuple<detail::non_void_t<Ts>...>> when_all(task<Ts>... tasks) {
  detail::promise_env* env = co_await detail::current_env{};
  detail::when_all_state state;
  state.remaining = sizeof...(Ts) + 1;
  std::optional<std::stop_callback<detail::forward_stop>> link;
  if (env != nullptr && env->stop_token().stop_possible())
    link.emplace(env->stop_token(), detail::forward_stop{&state.stop});

  std::tuple<std::optional<detail::non_void_t<Ts>>...> slots;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (detail::run_child(tasks, std::get<I>(slots)).start(state, env), ...);
  }(std::index_sequence_for<Ts...>{});
  co_await detail::when_all_join{&state};

  if (state.first_error)
    std::rethrow_exception(state.first_error);
  co_return std::apply([](auto&... slot) { return std::tuple<detail::non_void_t<Ts>...>{std::move(*slot)...}; },
                       slots);
}

namespace detail {

template <class T>
inline constexpr bool is_task_v = false;
template <class T>
inline constexpr bool is_task_v<task<T>> = true;

template <class A>
task<await_result_t<A>> wrap_in_task(A awaitable) {
  co_return co_await std::move(awaitable);
}

template <class A>
auto to_task(A awaitable) {
  if constexpr (is_task_v<A>)
    return awaitable;
  else
    return wrap_in_task(std::move(awaitable));
}

} // namespace detail

/// Any awaitables, not only tasks: `co_await when_all(ep.send(a), comm.recv(r, b, tag))`.
/// Each that is not a task runs in one of its own.
template <awaitable... As>
  requires(sizeof...(As) > 0 && !(detail::is_task_v<As> && ...))
[[nodiscard]] auto when_all(As... awaitables) {
  return when_all(detail::to_task(std::move(awaitables))...);
}

/// Over a vector: results in input order (void tasks give no result).
template <class T>
[[nodiscard]] task<std::conditional_t<std::is_void_v<T>, void, std::vector<T>>> when_all(std::vector<task<T>> tasks) {
  detail::promise_env* env = co_await detail::current_env{};
  detail::when_all_state state;
  state.remaining = tasks.size() + 1;
  std::optional<std::stop_callback<detail::forward_stop>> link;
  if (env != nullptr && env->stop_token().stop_possible())
    link.emplace(env->stop_token(), detail::forward_stop{&state.stop});

  std::vector<std::optional<detail::non_void_t<T>>> slots(tasks.size());
  for (std::size_t i = 0; i < tasks.size(); ++i)
    detail::run_child(tasks[i], slots[i]).start(state, env);
  co_await detail::when_all_join{&state};

  if (state.first_error)
    std::rethrow_exception(state.first_error);
  if constexpr (!std::is_void_v<T>) {
    std::vector<T> results;
    results.reserve(slots.size());
    for (auto& slot : slots)
      results.push_back(std::move(*slot));
    co_return results;
  }
}

} // namespace ucoro
