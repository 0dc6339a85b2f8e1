#pragma once
// Sleeping, deadlines and explicit stop tokens.
//
// with_timeout(awaitable, d) gives the awaitable a stop token of its own
// (linked to the awaiting coroutine's) and requests stop when d runs out.
// Every ucoro operation inside it - however deeply nested in tasks - sees
// that token and cancels its UCX request; the resulting operation_canceled
// is turned into an error equal to std::errc::timed_out. An awaitable that
// ignores stop tokens is waited for to the end.

#include <ucoro/concepts/awaitable.hpp>
#include <ucoro/runtime/detail/env.hpp>
#include <ucoro/error.hpp>
#include <ucoro/runtime/progress_engine.hpp>
#include <ucoro/runtime/task.hpp>

#include <chrono>
#include <coroutine>
#include <optional>
#include <stop_token>
#include <string>

namespace ucoro {

namespace detail {

class sleep_op : private timer_node, private cancel_node {
public:
  sleep_op(progress_engine& engine, clock::time_point deadline) noexcept : m_engine(&engine) {
    this->deadline = deadline;
  }
  sleep_op(sleep_op&& other) noexcept : timer_node{}, cancel_node{}, m_engine(other.m_engine) {
    this->deadline = other.deadline;
  }
  sleep_op& operator=(sleep_op&&) = delete;
  ~sleep_op() {
    m_stop.disarm();
    m_engine->remove_timer(*this);
  }

  [[nodiscard]] bool await_ready() const noexcept { return false; }

  template <class Promise>
  [[nodiscard]] bool await_suspend(std::coroutine_handle<Promise> h) {
    const std::stop_token token = stop_token_of(h);
    if (token.stop_requested()) {
      m_cancelled = true;
      return false;
    }
    m_continuation = h;
    this->fire = &on_fire;
    this->cancel = &on_cancel;
    m_engine->add_timer(*this);
    m_stop.arm(*m_engine, *this, token);
    return true;
  }

  void await_resume() {
    m_stop.disarm();
    if (m_cancelled)
      throw ucx_error(UCS_ERR_CANCELED, "sleep: cancelled");
  }

private:
  static void on_fire(timer_node* node) noexcept {
    auto* self = static_cast<sleep_op*>(node);
    self->m_engine->schedule(self->m_continuation);
  }
  static void on_cancel(cancel_node* node) noexcept {
    auto* self = static_cast<sleep_op*>(node);
    if (!static_cast<timer_node*>(self)->armed)
      return; // fired already; its resumption is queued
    self->m_engine->remove_timer(*self);
    self->m_cancelled = true;
    self->m_engine->schedule(self->m_continuation);
  }

  progress_engine* m_engine;
  std::coroutine_handle<> m_continuation;
  bool m_cancelled = false;
  stop_link m_stop;
};

template <class A>
task<await_result_t<A>> as_task(A awaitable) {
  co_return co_await std::move(awaitable);
}

[[nodiscard]] inline progress_engine& require_engine(promise_env* env, const char* what) {
  if (env == nullptr || env->engine() == nullptr)
    throw_error(std::make_error_code(std::errc::operation_not_permitted),
                std::string(what) + ": not inside a coroutine driven by a ucoro worker (use worker::run or spawn)");
  return *env->engine();
}

template <class Duration>
[[nodiscard]] std::string format_duration(Duration d) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return us % 1000 == 0 ? std::to_string(us / 1000) + " ms" : std::to_string(us) + " us";
}

} // namespace detail

/// `co_await sleep_for(engine, 10ms);` Cancellable through the stop token.
[[nodiscard]] inline detail::sleep_op sleep_for(progress_engine& engine, std::chrono::nanoseconds duration) {
  return {engine, detail::clock::now() + std::chrono::duration_cast<detail::clock::duration>(duration)};
}

[[nodiscard]] inline detail::sleep_op sleep_until(progress_engine& engine, detail::clock::time_point deadline) {
  return {engine, deadline};
}

/// Awaits `awaitable` and returns its outcome as result<T> instead of
/// throwing: a system_error becomes the error code (other exceptions pass).
template <awaitable A>
[[nodiscard]] task<result<await_result_t<A>>> as_result(A awaitable) {
  using value_type = await_result_t<A>;
  try {
    if constexpr (std::is_void_v<value_type>) {
      co_await std::move(awaitable);
      co_return result<void>{};
    } else {
      // Await into a named local: GCC 12 mishandles a co_await inside a
      // braced aggregate initializer (the awaited temporary is destroyed as
      // if still live; for an endpoint that closes it).
      value_type value = co_await std::move(awaitable);
      co_return result<value_type>{{}, std::move(value)};
    }
  } catch (const std::system_error& error) {
    co_return result<value_type>{error.code()};
  }
}

/// Runs `awaitable` with `token` as its stop token (linked to nothing else).
template <awaitable A>
[[nodiscard]] task<await_result_t<A>> with_stop_token(A awaitable, std::stop_token token) {
  auto inner = detail::as_task(std::move(awaitable));
  inner.set_stop_token(std::move(token));
  co_return co_await std::move(inner);
}

/// Awaits `awaitable`, cancelling it if it has not finished after `timeout`;
/// then throws ucx_error equal to std::errc::timed_out. An awaitable that
/// reports errors as a result<T> (`op.nothrow()`, as_result) reports the
/// timeout the same way: its error is timed_out, not the cancellation the
/// timeout caused.
template <awaitable A, class Rep, class Period>
[[nodiscard]] task<await_result_t<A>> with_timeout(A awaitable, std::chrono::duration<Rep, Period> timeout) {
  detail::promise_env* env = co_await detail::current_env{};
  progress_engine& engine = detail::require_engine(env, "with_timeout");

  std::stop_source source;
  struct forward_stop {
    std::stop_source* source;
    void operator()() const noexcept { source->request_stop(); }
  };
  std::optional<std::stop_callback<forward_stop>> parent_link;
  if (env->stop_token().stop_possible())
    parent_link.emplace(env->stop_token(), forward_stop{&source});

  struct deadline_timer : detail::timer_node {
    std::stop_source* source = nullptr;
    bool expired = false;
    progress_engine* engine = nullptr;
    ~deadline_timer() { engine->remove_timer(*this); }
  } timer;
  timer.deadline = detail::clock::now() + std::chrono::duration_cast<detail::clock::duration>(timeout);
  timer.source = &source;
  timer.engine = &engine;
  timer.fire = [](detail::timer_node* node) noexcept {
    auto* self = static_cast<deadline_timer*>(node);
    self->expired = true;
    self->source->request_stop();
  };
  engine.add_timer(timer);

  auto inner = detail::as_task(std::move(awaitable));
  inner.set_stop_token(source.get_token());
  if constexpr (detail::is_result_v<await_result_t<A>>) {
    await_result_t<A> outcome = co_await std::move(inner);
    if (timer.expired && outcome.error == std::errc::operation_canceled)
      outcome.error = make_error_code(UCS_ERR_TIMED_OUT);
    co_return outcome;
  } else {
    try {
      co_return co_await std::move(inner);
    } catch (const std::system_error& error) {
      if (timer.expired && error.code() == std::errc::operation_canceled) {
        // "recv of 8 bytes ... from host:port: no completion within 100 ms
        // (with_timeout): Operation timed out" - the operation, not the
        // cancellation that ended it.
        const auto* ours = dynamic_cast<const ucx_error*>(&error);
        const std::string operation = ours != nullptr ? ours->context() : std::string(error.what());
        throw ucx_error(UCS_ERR_TIMED_OUT,
                        operation + ": no completion within " + detail::format_duration(timeout) + " (with_timeout)");
      }
      throw;
    }
  }
}

} // namespace ucoro
