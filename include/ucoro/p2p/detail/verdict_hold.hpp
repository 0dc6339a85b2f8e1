#pragma once
// The wait for a failure verdict, for endpoint and communicator operations
// alike, asynchronous. A transport error (is_transport_failure) may be the
// first sign that a peer died: its pidfd fires a few milliseconds later, or
// UCX's error callback is on its way. So an operation that failed so is held,
// its awaiter still suspended, until the verdict comes (its peer's failure:
// the operation then reports that reason, errc::peer_failed) or its grace
// runs out (it reports the transport's own error). Nothing blocks the loop
// thread meanwhile; the endpoint used to ::poll the pidfd for up to 50 ms
// inside the failing operation, with every other operation on the worker
// waiting behind it.

#include <ucoro/runtime/detail/intrusive_list.hpp>
#include <ucoro/runtime/progress_engine.hpp>
#include <ucoro/ucx/detail/request_op.hpp>

#include <chrono>

namespace ucoro::detail {

/// How a hold ended.
enum class verdict : unsigned char {
  delivered, ///< the peer's failure is known: the operation reports it
  timed_out, ///< the grace ran out: the operation reports the transport's error
};

struct held_tag;
using held_node = basic_list_node<held_tag>;

/// The operations held for one peer (an endpoint, a communicator rank).
class held_operations {
public:
  struct entry : held_node {
    void (*end)(entry*, verdict) noexcept = nullptr;
  };

  held_operations() noexcept = default;
  held_operations(const held_operations&) = delete;
  held_operations& operator=(const held_operations&) = delete;

  /// The verdict came: every held operation ends (each unlinks itself).
  void deliver() noexcept {
    while (!m_list.empty()) {
      auto& e = static_cast<entry&>(*m_list.front());
      e.end(&e, verdict::delivered);
    }
  }
  [[nodiscard]] bool empty() const noexcept { return m_list.empty(); }

private:
  template <class Op>
  friend class verdict_wait;
  basic_intrusive_list<held_tag> m_list;
};

/// One operation's wait, a member of the operation: hold() keeps the
/// awaiter suspended until the peer's verdict is delivered or `grace` ends,
/// then calls Op::end_hold(verdict), which releases the awaiter.
template <class Op>
class verdict_wait : held_operations::entry {
public:
  verdict_wait() noexcept = default;
  verdict_wait(const verdict_wait&) = delete;
  verdict_wait& operator=(const verdict_wait&) = delete;
  ~verdict_wait() { stop(); }

  void hold(Op& op, held_operations& on, progress_engine& engine, std::chrono::milliseconds grace) noexcept {
    m_list = &on.m_list;
    m_engine = &engine;
    m_list->push_front(*this);
    this->end = &ended;
    m_timer.op = this;
    m_timer.deadline = clock::now() + grace;
    m_timer.fire = [](timer_node* node) noexcept {
      verdict_wait* self = static_cast<op_timer<verdict_wait>*>(node)->op;
      ended(self, verdict::timed_out);
    };
    m_op = &op;
    engine.add_timer(m_timer);
  }
  [[nodiscard]] bool held() const noexcept { return m_list != nullptr; }

private:
  static void ended(held_operations::entry* e, verdict v) noexcept {
    auto* self = static_cast<verdict_wait*>(e);
    self->stop();
    self->m_op->end_hold(v); // may resume the awaiter, which may destroy the op and this
  }
  void stop() noexcept {
    if (m_list == nullptr)
      return;
    m_list->erase(*this);
    m_list = nullptr;
    m_engine->remove_timer(m_timer);
  }

  basic_intrusive_list<held_tag>* m_list = nullptr;
  progress_engine* m_engine = nullptr;
  Op* m_op = nullptr;
  op_timer<verdict_wait> m_timer;
};

} // namespace ucoro::detail
