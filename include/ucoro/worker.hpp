#pragma once
// RAII ucp_worker owned by one thread, with its progress engine.
//
//   ucoro::worker w{ctx};                                  // blocking progress
//   ucoro::worker w{ctx, ucoro::progress_mode::polling};   // spin
//   int answer = w.run(compute());                         // like asyncio.run
//
// Driving it from another event loop instead of run(): watch event_fd() for
// readability; on wake-up call progress() until it returns false; before
// sleeping call arm() and, if it returns false, progress again; bound the
// sleep by time_to_next_timer(). That is UCX's own arm/wait protocol, with
// ucoro's timers and cross-thread posts folded into the same fd.

#include <ucoro/concepts/awaitable.hpp>
#include <ucoro/context.hpp>
#include <ucoro/detail/env.hpp>
#include <ucoro/error.hpp>
#include <ucoro/options.hpp>
#include <ucoro/progress_engine.hpp>
#include <ucoro/task.hpp>
#include <ucoro/task_scope.hpp>
#include <ucoro/timer.hpp>

#include <ucp/api/ucp.h>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace ucoro {

namespace detail {

template <class T>
using non_void_storage_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

/// The coroutine run() drives: it records completion and keeps the result.
template <class T>
class root_task {
public:
  struct promise_type : promise_env {
    std::optional<non_void_storage_t<T>> value;
    std::exception_ptr error;
    bool finished = false;

    root_task get_return_object() noexcept { return root_task{std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    auto final_suspend() noexcept {
      finished = true;
      return std::suspend_always{};
    }
    void unhandled_exception() noexcept { error = std::current_exception(); }
    template <class U>
    void return_value(U&& v) {
      value.emplace(std::forward<U>(v));
    }
  };

  explicit root_task(std::coroutine_handle<promise_type> h) noexcept : m_handle(h) {}
  root_task(root_task&& o) noexcept : m_handle(std::exchange(o.m_handle, nullptr)) {}
  ~root_task() {
    if (m_handle)
      m_handle.destroy();
  }
  std::coroutine_handle<promise_type> handle() const noexcept { return m_handle; }

private:
  std::coroutine_handle<promise_type> m_handle;
};

} // namespace detail

class worker {
public:
  explicit worker(context& ctx, worker_options options = {})
      : m_context(&ctx), m_handle(create(ctx)), m_engine(std::make_unique<progress_engine>(m_handle, options.mode)),
        m_scope(std::make_unique<task_scope>(*m_engine, options.drain_timeout)) {}

  worker(context& ctx, progress_mode mode) : worker(ctx, worker_options{.mode = mode}) {}

  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  ~worker() {
    // UCX's teardown order: what uses the worker goes first.
    for (auto& hook : m_shutdown_hooks)
      hook();
    m_scope.reset();
    m_engine.reset();
    ucp_worker_destroy(m_handle);
  }

  [[nodiscard]] ucp_worker_h ucp_worker() const noexcept { return m_handle; }
  [[nodiscard]] ucoro::context& get_context() const noexcept { return *m_context; }
  [[nodiscard]] progress_engine& engine() noexcept { return *m_engine; }
  [[nodiscard]] progress_mode mode() const noexcept { return m_engine->mode(); }

  /// Drives progress on this thread until `awaitable` completes; returns its
  /// value or rethrows its exception.
  template <awaitable A>
  decltype(auto) run(A&& aw) {
    using result_type = await_result_t<A>;
    auto root = make_root<result_type>(std::forward<A>(aw));
    auto h = root.handle();
    h.promise().set_engine(m_engine.get());
    m_engine->schedule(h);
    m_engine->run_until([&] { return h.promise().finished; });
    if (h.promise().error)
      std::rethrow_exception(h.promise().error);
    if constexpr (!std::is_void_v<result_type>)
      return result_type(std::move(*h.promise().value));
  }

  /// Starts `t` on this worker; it is drained (stopped, then waited for) when
  /// the worker is destroyed. Its error goes to the handler set with
  /// set_error_handler, or is kept for join_spawned().
  void spawn(task<void> t) { m_scope->spawn(std::move(t)); }
  [[nodiscard]] task_scope& spawned() noexcept { return *m_scope; }

  /// Runs `fn` on the worker's thread, waking it. Any thread.
  void post(std::function<void()> fn) { m_engine->post(std::move(fn)); }

  /// One non-blocking round of progress (for external loops).
  bool progress() { return m_engine->progress(); }
  [[nodiscard]] int event_fd() const noexcept { return m_engine->event_fd(); }
  [[nodiscard]] bool arm() { return m_engine->arm(); }
  [[nodiscard]] std::optional<std::chrono::nanoseconds> time_to_next_timer() const {
    return m_engine->time_to_next_timer();
  }

  [[nodiscard]] auto sleep(std::chrono::nanoseconds duration) { return sleep_for(*m_engine, duration); }

  /// This worker's UCX address, for create_endpoint_from_worker_address.
  [[nodiscard]] std::vector<std::byte> address() const {
    ucp_worker_attr_t attr{};
    attr.field_mask = UCP_WORKER_ATTR_FIELD_ADDRESS;
    check(ucp_worker_query(m_handle, &attr), "querying the UCX worker address");
    const auto* begin = reinterpret_cast<const std::byte*>(attr.address);
    std::vector<std::byte> out(begin, begin + attr.address_length);
    ucp_worker_release_address(m_handle, attr.address);
    return out;
  }

  /// ucp_worker_print_info.
  [[nodiscard]] std::string ucx_info() const {
    return detail::print_to_string([&](FILE* f) { ucp_worker_print_info(m_handle, f); });
  }

  /// For layers on top (listeners, endpoints): called first in ~worker.
  void add_shutdown_hook(std::function<void()> hook) { m_shutdown_hooks.push_back(std::move(hook)); }

private:
  static ucp_worker_h create(ucoro::context& ctx) {
    ucp_worker_params_t params{};
    params.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
    params.thread_mode = UCS_THREAD_MODE_SINGLE;
    ucp_worker_h handle = nullptr;
    check(ucp_worker_create(ctx.handle(), &params, &handle), "creating UCX worker");
    return handle;
  }

  template <class T, class A>
  static detail::root_task<T> make_root(A&& aw) {
    if constexpr (std::is_void_v<T>) {
      co_await std::forward<A>(aw);
      co_return std::monostate{};
    } else {
      co_return co_await std::forward<A>(aw);
    }
  }

  ucoro::context* m_context;
  ucp_worker_h m_handle;
  std::unique_ptr<progress_engine> m_engine;
  std::unique_ptr<task_scope> m_scope;
  std::vector<std::function<void()>> m_shutdown_hooks;
};

} // namespace ucoro
