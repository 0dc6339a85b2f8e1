#pragma once
// Reading the current coroutine's environment from inside it, and tying a
// stop token to a cancellation that runs on the worker's thread.

#include <ucoro/runtime/detail/promise_env.hpp>
#include <ucoro/runtime/progress_engine.hpp>

#include <optional>
#include <stop_token>

namespace ucoro::detail {

/// `promise_env* env = co_await current_env{};` (nullptr in foreign coroutines)
struct current_env {
  promise_env* m_env = nullptr;
  [[nodiscard]] bool await_ready() const noexcept { return false; }
  template <class Promise>
  [[nodiscard]] bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    if constexpr (std::is_base_of_v<promise_env, Promise>)
      m_env = &h.promise();
    return false;
  }
  [[nodiscard]] promise_env* await_resume() const noexcept { return m_env; }
};

/// While armed, a stop request on the token queues `node` for cancellation
/// on the engine's thread. Disarming waits out a callback running on another
/// thread (std::stop_callback's destructor does) and withdraws a queued one,
/// so after disarm() the node may be destroyed.
class stop_link {
  struct requester {
    progress_engine* engine;
    cancel_node* node;
    void operator()() const noexcept { engine->request_cancel(*node); }
  };

public:
  stop_link() noexcept = default;
  // Awaiters are moved only before they start, when nothing is armed.
  stop_link(stop_link&&) noexcept {}
  stop_link& operator=(stop_link&&) = delete;
  ~stop_link() { disarm(); }

  void arm(progress_engine& engine, cancel_node& node, const std::stop_token& token) {
    if (!token.stop_possible())
      return;
    m_engine = &engine;
    m_node = &node;
    m_callback.emplace(token, requester{&engine, &node});
  }

  void disarm() noexcept {
    if (m_engine != nullptr) [[unlikely]]
      disarm_slow();
  }

private:
  void disarm_slow() noexcept {
    m_callback.reset();
    m_engine->withdraw_cancel(*m_node);
    m_engine = nullptr;
  }

  progress_engine* m_engine = nullptr;
  cancel_node* m_node = nullptr;
  std::optional<std::stop_callback<requester>> m_callback;
};

} // namespace ucoro::detail
