#pragma once
// An event any number of coroutines on the worker's thread can wait for:
// set() resumes every waiter and keeps the event set until reset(). Each
// wait honours the waiting coroutine's stop token, so with_timeout bounds
// it like any UCX operation. Use it instead of polling a flag in a loop.
//
//   ucoro::event ready{worker};
//   ... co_await ready.wait();   // elsewhere: ready.set();

#include <ucoro/runtime/detail/env.hpp>
#include <ucoro/runtime/detail/intrusive_list.hpp>
#include <ucoro/runtime/detail/promise_env.hpp>
#include <ucoro/error.hpp>
#include <ucoro/runtime/progress_engine.hpp>

#include <concepts>
#include <coroutine>

namespace ucoro {

class event {
public:
  explicit event(progress_engine& engine) noexcept : m_engine(&engine) {}
  /// From a worker (or anything with engine()).
  template <class Worker>
    requires requires(Worker& w) { { w.engine() } -> std::same_as<progress_engine&>; }
  explicit event(Worker& w) noexcept : event(w.engine()) {}
  event(const event&) = delete;
  event& operator=(const event&) = delete;
  /// Waiters still suspended are not resumed: destroy an event only when
  /// nothing waits on it (as any awaited object). Waiters set() has woken
  /// may still be queued to run: they no longer use the event.
  ~event() = default;

  [[nodiscard]] bool is_set() const noexcept { return m_set; }

  /// Resumes every waiter (on the worker's thread, after this returns).
  void set() noexcept {
    m_set = true;
    while (!m_waiters.empty()) {
      auto* w = static_cast<awaiter*>(m_waiters.front());
      unlink(*w);
      w->m_woken = true;
      m_engine->schedule(w->m_handle);
    }
  }

  void reset() noexcept { m_set = false; }

  class [[nodiscard]] awaiter : private detail::cancel_node, private detail::list_node {
  public:
    explicit awaiter(event& e) noexcept : m_event(&e) {}
    awaiter(awaiter&& other) noexcept : m_event(other.m_event) {} // only before it starts
    awaiter& operator=(awaiter&&) = delete;
    ~awaiter() {
      m_stop.disarm();
      if (m_linked)
        m_event->unlink(*this);
    }

    [[nodiscard]] bool await_ready() const noexcept { return m_event->m_set; }
    template <class Promise>
    [[nodiscard]] bool await_suspend(std::coroutine_handle<Promise> h) {
      const std::stop_token token = detail::stop_token_of(h);
      if (token.stop_requested())
        return false;
      m_handle = h;
      m_event->link(*this);
      cancel = &on_cancel;
      m_stop.arm(*m_event->m_engine, *this, token);
      return true;
    }
    /// Throws operation_canceled if stopped before the event was set.
    void await_resume() {
      m_stop.disarm();
      if (m_linked)
        m_event->unlink(*this);
      // m_woken first: a waiter set() woke does not touch the event again,
      // so the event may be gone before the waiter runs (a listener's
      // handler woken by set() just before the event's scope ended; Clang's
      // ASan saw the read).
      if (!m_woken && !m_event->m_set)
        throw ucx_error(UCS_ERR_CANCELED, "waiting for an event: cancelled");
    }

  private:
    friend class event;
    static void on_cancel(detail::cancel_node* node) noexcept {
      auto* self = static_cast<awaiter*>(node);
      if (!self->m_linked)
        return; // set() got there first
      self->m_event->unlink(*self);
      self->m_event->m_engine->schedule(self->m_handle);
    }

    event* m_event;
    std::coroutine_handle<> m_handle;
    bool m_linked = false;
    bool m_woken = false; ///< resumed by set(), even if reset() came before it ran
    detail::stop_link m_stop;
  };

  /// `co_await e.wait();` returns once the event is set.
  [[nodiscard]] awaiter wait() noexcept { return awaiter{*this}; }

private:
  void link(awaiter& w) noexcept {
    m_waiters.push_front(w);
    w.m_linked = true;
  }
  void unlink(awaiter& w) noexcept {
    m_waiters.erase(w);
    w.m_linked = false;
  }

  progress_engine* m_engine;
  bool m_set = false;
  detail::intrusive_list m_waiters;
};

} // namespace ucoro
