#pragma once
// The environment a ucoro coroutine passes down to what it awaits: for now the
// stop token. A task awaited by another inherits the awaiter's token unless it
// was given its own, so `with_timeout(parent_task)` reaches every UCX request
// the parent starts, however deep (stdexec's get_stop_token, by inheritance).

#include <coroutine>
#include <stop_token>
#include <type_traits>
#include <utility>

namespace ucoro {
class progress_engine;
}

namespace ucoro::detail {

class promise_env {
public:
  /// The engine driving this coroutine, if known (set by run/spawn, inherited).
  [[nodiscard]] progress_engine* engine() const noexcept { return m_engine; }
  void set_engine(progress_engine* engine) noexcept { m_engine = engine; }

  [[nodiscard]] const std::stop_token& stop_token() const noexcept { return m_stop; }

  void set_stop_token(std::stop_token token) noexcept {
    m_stop = std::move(token);
    m_stop_set = true;
  }

  /// Called when awaited: takes the awaiter's token unless one was set explicitly.
  void inherit_stop_token(const std::stop_token& parent) noexcept {
    if (!m_stop_set)
      m_stop = parent;
  }

  /// Called when awaited: what the awaiting coroutine knows, this one knows.
  void inherit(const promise_env& parent) noexcept {
    inherit_stop_token(parent.m_stop);
    if (m_engine == nullptr)
      m_engine = parent.m_engine;
  }

private:
  progress_engine* m_engine = nullptr;
  std::stop_token m_stop;
  bool m_stop_set = false;
};

template <class Promise>
concept has_stop_token = requires(const Promise& p) {
  { p.stop_token() } -> std::convertible_to<std::stop_token>;
};

/// The stop token of whatever coroutine is awaiting, or an empty one for
/// foreign coroutine types.
/// Passes the awaiting coroutine's environment to an awaited one.
template <class Promise>
void inherit_env(promise_env& child, std::coroutine_handle<Promise> parent) noexcept {
  if constexpr (std::is_base_of_v<promise_env, Promise>)
    child.inherit(parent.promise());
}

template <class Promise>
[[nodiscard]] std::stop_token stop_token_of(std::coroutine_handle<Promise> h) noexcept {
  if constexpr (has_stop_token<Promise>)
    return h.promise().stop_token();
  else
    return {};
}

} // namespace ucoro::detail
