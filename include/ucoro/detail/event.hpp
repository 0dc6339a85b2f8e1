#pragma once
// A one-shot event one coroutine can wait for on the worker's thread:
// handshake replies, close acknowledgements. The wait honours the waiting
// coroutine's stop token, so with_timeout bounds it like any UCX operation.

#include <ucoro/detail/env.hpp>
#include <ucoro/error.hpp>
#include <ucoro/progress_engine.hpp>

#include <coroutine>

namespace ucoro::detail {

class oneshot_event : private cancel_node {
public:
  explicit oneshot_event(progress_engine& engine) noexcept : m_engine(&engine) {}
  oneshot_event(const oneshot_event&) = delete;
  oneshot_event& operator=(const oneshot_event&) = delete;
  ~oneshot_event() { m_stop.disarm(); }

  [[nodiscard]] bool is_set() const noexcept { return m_set; }

  void set() noexcept {
    if (m_set)
      return;
    m_set = true;
    if (m_waiter)
      m_engine->schedule(std::exchange(m_waiter, nullptr));
  }

  class awaiter {
  public:
    explicit awaiter(oneshot_event* event) noexcept : m_event(event) {}
    [[nodiscard]] bool await_ready() const noexcept { return m_event->m_set; }
    template <class Promise>
    [[nodiscard]] bool await_suspend(std::coroutine_handle<Promise> h) {
      const std::stop_token token = stop_token_of(h);
      if (token.stop_requested())
        return false;
      m_event->m_waiter = h;
      m_event->cancel = &on_cancel;
      m_event->m_stop.arm(*m_event->m_engine, *m_event, token);
      return true;
    }
    void await_resume() {
      m_event->m_stop.disarm();
      if (!m_event->m_set)
        throw ucx_error(UCS_ERR_CANCELED, "waiting for an event: cancelled");
    }

  private:
    oneshot_event* m_event;
  };

  /// `co_await event.wait();` throws operation_canceled if stopped first.
  [[nodiscard]] awaiter wait() noexcept { return awaiter{this}; }

private:
  static void on_cancel(cancel_node* node) noexcept {
    auto* self = static_cast<oneshot_event*>(node);
    if (self->m_waiter)
      self->m_engine->schedule(std::exchange(self->m_waiter, nullptr));
  }

  progress_engine* m_engine;
  bool m_set = false;
  std::coroutine_handle<> m_waiter;
  stop_link m_stop;
};

} // namespace ucoro::detail
