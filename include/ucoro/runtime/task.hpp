#pragma once
// task<T>: a lazy, move-only coroutine.
//
// Awaiting a task starts it with a plain resume() and records whether it
// finished before returning: if so, the awaiter does not suspend at all. Only
// a task that really suspended (on I/O, a timer) resumes its awaiter from
// final_suspend, by symmetric transfer. A loop of a million synchronously
// completing awaits therefore runs in constant stack even where the compiler
// does not turn symmetric transfer into a tail call (GCC below -O2, ASan).

#include <ucoro/runtime/detail/frame_allocator.hpp>
#include <ucoro/runtime/detail/promise_env.hpp>

#include <coroutine>
#include <exception>
#include <type_traits>
#include <utility>
#include <variant>

namespace ucoro {

template <class T = void>
class [[nodiscard]] task;

namespace detail {

class task_promise_base : public promise_env {
public:
  enum class start_state : unsigned char { running, finished_inline, awaiter_suspended };

private:
  struct final_awaiter {
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    template <class Promise>
    [[nodiscard]] std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) noexcept {
      task_promise_base& p = h.promise();
      if (p.m_state == start_state::running) {
        // Still inside the awaiter's await_suspend: return there.
        p.m_state = start_state::finished_inline;
        return std::noop_coroutine();
      }
      return p.m_continuation ? p.m_continuation : std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };

public:
  [[nodiscard]] static void* operator new(std::size_t size) { return frame_cache::allocate(size); }
  static void operator delete(void* frame, std::size_t size) noexcept { frame_cache::deallocate(frame, size); }

  [[nodiscard]] std::suspend_always initial_suspend() const noexcept { return {}; }
  [[nodiscard]] final_awaiter final_suspend() const noexcept { return {}; }

  /// Starts the task on behalf of `awaiting`. True if the awaiter must
  /// suspend (the task is still running), false if it already finished.
  [[nodiscard]] bool start(std::coroutine_handle<> self, std::coroutine_handle<> awaiting) {
    m_continuation = awaiting;
    m_state = start_state::running;
    self.resume();
    if (m_state == start_state::finished_inline)
      return false;
    m_state = start_state::awaiter_suspended;
    return true;
  }

private:
  std::coroutine_handle<> m_continuation;
  start_state m_state = start_state::awaiter_suspended;
};

template <class T>
class task_promise final : public task_promise_base {
public:
  [[nodiscard]] task<T> get_return_object() noexcept;

  template <class U>
    requires std::is_convertible_v<U&&, T>
  void return_value(U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    m_result.template emplace<1>(std::forward<U>(value));
  }
  void unhandled_exception() noexcept { m_result.template emplace<2>(std::current_exception()); }

  T result() & {
    if (m_result.index() == 2)
      std::rethrow_exception(std::get<2>(m_result));
    return std::get<1>(m_result);
  }
  T result() && {
    if (m_result.index() == 2)
      std::rethrow_exception(std::get<2>(m_result));
    return std::move(std::get<1>(m_result));
  }

private:
  std::variant<std::monostate, T, std::exception_ptr> m_result;
};

template <>
class task_promise<void> final : public task_promise_base {
public:
  [[nodiscard]] task<void> get_return_object() noexcept;
  void return_void() const noexcept {}
  void unhandled_exception() noexcept { m_exception = std::current_exception(); }
  void result() const {
    if (m_exception)
      std::rethrow_exception(m_exception);
  }

private:
  std::exception_ptr m_exception;
};

} // namespace detail

template <class T>
class [[nodiscard]] task {
  static_assert(!std::is_reference_v<T>, "task<T&> is not supported; return a pointer or wrapper");

public:
  using promise_type = detail::task_promise<T>;
  using value_type = T;

  task() noexcept = default;
  explicit task(std::coroutine_handle<promise_type> h) noexcept : m_handle(h) {}
  task(task&& other) noexcept : m_handle(std::exchange(other.m_handle, nullptr)) {}
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      destroy();
      m_handle = std::exchange(other.m_handle, nullptr);
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() { destroy(); }

  [[nodiscard]] bool valid() const noexcept { return m_handle != nullptr; }
  [[nodiscard]] bool done() const noexcept { return !m_handle || m_handle.done(); }

  /// Gives this task its own stop token instead of inheriting its awaiter's.
  void set_stop_token(std::stop_token token) noexcept { m_handle.promise().set_stop_token(std::move(token)); }

  [[nodiscard]] auto operator co_await() & noexcept { return awaiter<false>{m_handle}; }
  [[nodiscard]] auto operator co_await() && noexcept { return awaiter<true>{m_handle}; }

  /// For drivers (run, when_all, task_scope): the raw handle, ownership kept.
  [[nodiscard]] std::coroutine_handle<promise_type> handle() const noexcept { return m_handle; }

private:
  template <bool Move>
  struct awaiter {
    std::coroutine_handle<promise_type> m_handle;

    [[nodiscard]] bool await_ready() const noexcept { return !m_handle || m_handle.done(); }

    template <class Promise>
    [[nodiscard]] bool await_suspend(std::coroutine_handle<Promise> awaiting) {
      detail::inherit_env(m_handle.promise(), awaiting);
      return m_handle.promise().start(m_handle, awaiting);
    }

    decltype(auto) await_resume() {
      if constexpr (Move)
        return std::move(m_handle.promise()).result();
      else
        return m_handle.promise().result();
    }
  };

  void destroy() noexcept {
    if (m_handle)
      std::exchange(m_handle, nullptr).destroy();
  }

  std::coroutine_handle<promise_type> m_handle;
};

namespace detail {

template <class T>
inline task<T> task_promise<T>::get_return_object() noexcept {
  return task<T>{std::coroutine_handle<task_promise<T>>::from_promise(*this)};
}

inline task<void> task_promise<void>::get_return_object() noexcept {
  return task<void>{std::coroutine_handle<task_promise<void>>::from_promise(*this)};
}

} // namespace detail

} // namespace ucoro
