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
#include <memory>

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
/// then calls Op::end_hold(verdict), which releases the awaiter. Nothing of
/// it is set up until hold(): an operation that never fails pays one store
/// and one compare for it (the list node, timer and pointers set up front
/// cost the endpoint ~50 instructions a message, bench/profile.sh).
template <class Op>
class verdict_wait {
public:
  verdict_wait() noexcept {}
  verdict_wait(const verdict_wait&) = delete;
  verdict_wait& operator=(const verdict_wait&) = delete;
  ~verdict_wait() {
    if (m_on != nullptr)
      stop();
  }

  // Out of line: the failure path, kept out of the completion path it is
  // called from (inlined, it cost the endpoint 10 instructions a message).
  [[gnu::noinline]] void hold(Op& op, held_operations& on, progress_engine& engine,
                              std::chrono::milliseconds grace) noexcept {
    std::construct_at(&m_parts);
    m_parts.end = &ended;
    m_parts.self = this;
    m_parts.op = &op;
    m_parts.engine = &engine;
    m_parts.timer.op = this;
    m_parts.timer.deadline = clock::now() + grace;
    m_parts.timer.fire = [](timer_node* node) noexcept {
      static_cast<op_timer<verdict_wait>*>(node)->op->end(verdict::timed_out);
    };
    m_on = &on.m_list;
    m_on->push_front(m_parts);
    engine.add_timer(m_parts.timer);
  }
  [[nodiscard]] bool held() const noexcept { return m_on != nullptr; }

private:
  struct parts : held_operations::entry {
    verdict_wait* self;
    Op* op;
    progress_engine* engine;
    op_timer<verdict_wait> timer;
  };

  static void ended(held_operations::entry* e, verdict v) noexcept { static_cast<parts*>(e)->self->end(v); }
  void end(verdict v) noexcept {
    Op* op = m_parts.op;
    stop();
    op->end_hold(v); // may resume the awaiter, which may destroy the op and this
  }
  void stop() noexcept {
    m_on->erase(m_parts);
    m_on = nullptr;
    m_parts.engine->remove_timer(m_parts.timer);
    std::destroy_at(&m_parts);
  }

  union {
    parts m_parts; // alive while held
  };
  basic_intrusive_list<held_tag>* m_on = nullptr;
};

} // namespace ucoro::detail
