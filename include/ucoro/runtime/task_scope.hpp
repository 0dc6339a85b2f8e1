#pragma once
// A nursery for spawned tasks. spawn() starts a task at once (it runs until
// its first suspension); join() waits for all of them and rethrows the first
// error. Errors are never lost: each is kept for join(), or handed to the
// error handler if one is set, and a scope destroyed with errors nobody saw
// writes them to stderr. Destroying a scope with tasks still running asks
// them to stop, drives the engine until they finish (bounded), and destroys
// what is left, which cancels their UCX requests.

#include <ucoro/runtime/detail/env.hpp>
#include <ucoro/runtime/detail/intrusive_list.hpp>
#include <ucoro/runtime/progress_engine.hpp>
#include <ucoro/runtime/task.hpp>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <functional>
#include <stop_token>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace ucoro {

namespace detail {
/// what() of an exception_ptr's exception, for reports.
[[nodiscard]] inline std::string describe_exception(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}
} // namespace detail

class task_scope {
  class child {
  public:
    struct promise_type : detail::promise_env, detail::list_node {
      task_scope* scope = nullptr;

      child get_return_object() noexcept { return child{std::coroutine_handle<promise_type>::from_promise(*this)}; }
      std::suspend_always initial_suspend() const noexcept { return {}; }
      auto final_suspend() const noexcept {
        struct awaiter {
          bool await_ready() const noexcept { return false; }
          std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
            task_scope* s = h.promise().scope;
            s->unlink(h.promise());
            h.destroy();
            return s->on_child_done();
          }
          void await_resume() const noexcept {}
        };
        return awaiter{};
      }
      void return_void() const noexcept {}
      void unhandled_exception() noexcept { scope->report(std::current_exception()); }
    };
    std::coroutine_handle<promise_type> handle;
  };

public:
  using error_handler = std::function<void(std::exception_ptr)>;

  explicit task_scope(progress_engine& engine, std::chrono::milliseconds drain_timeout = std::chrono::seconds(5))
      : m_engine(&engine), m_drain_timeout(drain_timeout) {}

  task_scope(const task_scope&) = delete;
  task_scope& operator=(const task_scope&) = delete;

  ~task_scope() {
    drain();
    if (!m_errors.empty()) {
      std::fprintf(stderr, "ucoro: task_scope destroyed with %zu unobserved task error(s):\n", m_errors.size());
      for (auto& e : m_errors)
        std::fprintf(stderr, "  %s\n", detail::describe_exception(e).c_str());
    }
  }

  /// Starts `t` now; the scope owns it until it finishes.
  void spawn(task<void> t) {
    child c = run(std::move(t));
    auto& p = c.handle.promise();
    p.scope = this;
    p.set_engine(m_engine);
    p.set_stop_token(m_stop.get_token());
    m_children.push_front(p);
    ++m_active;
    c.handle.resume();
  }

  /// Waits until every spawned task has finished; rethrows the first error
  /// not yet observed (the rest stay in errors()).
  [[nodiscard]] auto join() noexcept {
    struct awaiter {
      task_scope* scope;
      bool await_ready() const noexcept { return scope->m_active == 0; }
      void await_suspend(std::coroutine_handle<> h) noexcept { scope->m_joiners.push_back(h); }
      void await_resume() {
        if (!scope->m_errors.empty()) {
          auto first = scope->m_errors.front();
          scope->m_errors.erase(scope->m_errors.begin());
          std::rethrow_exception(first);
        }
      }
    };
    return awaiter{this};
  }

  /// Errors go to `handler` as they happen instead of being kept for join().
  void set_error_handler(error_handler handler) { m_handler = std::move(handler); }

  /// Takes the errors kept so far (they then count as observed).
  [[nodiscard]] std::vector<std::exception_ptr> take_errors() { return std::exchange(m_errors, {}); }

  [[nodiscard]] std::size_t active() const noexcept { return m_active; }

  /// Requests stop on every spawned task's stop token.
  void request_stop() noexcept { m_stop.request_stop(); }
  [[nodiscard]] std::stop_token stop_token() const noexcept { return m_stop.get_token(); }

  /// Asks running tasks to stop, runs the engine until they finish (up to
  /// the drain timeout), then destroys any still suspended. Call on the
  /// engine's thread.
  void drain() {
    if (m_active == 0)
      return;
    request_stop();
    const auto deadline = std::chrono::steady_clock::now() + m_drain_timeout;
    bool timed_out = false;
    struct deadline_timer : detail::timer_node {
      bool* flag = nullptr;
    } timer;
    timer.deadline = deadline;
    timer.flag = &timed_out;
    timer.fire = [](detail::timer_node* n) noexcept { *static_cast<deadline_timer*>(n)->flag = true; };
    m_engine->add_timer(timer);
    m_engine->run_until([&] { return m_active == 0 || timed_out; });
    m_engine->remove_timer(timer);
    while (!m_children.empty()) {
      promise_type_ptr p = &m_children.pop_front<child::promise_type>();
      --m_active;
      std::coroutine_handle<child::promise_type>::from_promise(*p).destroy();
    }
  }

  /// Records an error as a spawned task's would be (for callbacks that run
  /// on the engine's thread, such as an endpoint's close callback).
  void report(std::exception_ptr e) {
    // A task ending in operation_canceled because this scope asked it to
    // stop (drain, shutdown) did what it was told: not an error to report.
    if (m_stop.stop_requested() && is_cancellation(e))
      return;
    if (m_handler)
      m_handler(std::move(e));
    else
      m_errors.push_back(std::move(e));
  }

private:
  using promise_type_ptr = child::promise_type*;

  static child run(task<void> t) { co_await std::move(t); }

  static bool is_cancellation(const std::exception_ptr& e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::system_error& error) {
      return error.code() == std::errc::operation_canceled;
    } catch (...) {
      return false;
    }
  }

  void unlink(child::promise_type& p) noexcept { m_children.erase(p); }

  std::coroutine_handle<> on_child_done() noexcept {
    if (--m_active != 0 || m_joiners.empty())
      return std::noop_coroutine();
    // The first joiner continues here; any others are queued on the engine.
    auto joiners = std::exchange(m_joiners, {});
    for (std::size_t i = 1; i < joiners.size(); ++i)
      m_engine->schedule(joiners[i]);
    return joiners.front();
  }

  progress_engine* m_engine;
  std::chrono::milliseconds m_drain_timeout;
  std::stop_source m_stop;
  detail::intrusive_list m_children; // of child::promise_type
  std::size_t m_active = 0;
  std::vector<std::coroutine_handle<>> m_joiners;
  std::vector<std::exception_ptr> m_errors;
  error_handler m_handler;
};

} // namespace ucoro
