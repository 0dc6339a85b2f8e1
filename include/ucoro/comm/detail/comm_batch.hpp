#pragma once
// Many communicator operations in flight at once, awaited as one, with no
// coroutine frame per operation. At 64 B per part, a task per message (its
// frame, its when_all slot, its stop callback) cost more than the message:
// an all-to-all of 4 ranks spent most of its time there. Here each op
// lives in the batch's vectors and counts down one shared group.

#include <ucoro/comm/detail/communicator_state.hpp>
#include <ucoro/runtime/detail/promise_env.hpp>
#include <ucoro/runtime/detail/small_vector.hpp>

#include <coroutine>
#include <cstddef>
#include <span>

namespace ucoro::detail {

class comm_batch {
public:
  comm_batch() = default;
  comm_batch(const comm_batch&) = delete;
  comm_batch& operator=(const comm_batch&) = delete;

  void reserve(std::size_t recvs, std::size_t sends) {
    m_recvs.reserve(recvs);
    m_sends.reserve(sends);
  }
  /// Adds before awaiting; the ops never move once posted.
  void add(comm_recv_op op) { m_recvs.push_back(std::move(op)); }
  void add(comm_send_op op) { m_sends.push_back(std::move(op)); }
  /// Forgets finished ops, to reuse the batch (and its memory).
  void clear() noexcept {
    m_recvs.clear();
    m_sends.clear();
  }

  [[nodiscard]] std::span<comm_recv_op> recvs() noexcept { return m_recvs; }
  [[nodiscard]] std::span<comm_send_op> sends() noexcept { return m_sends; }

  /// Posts every op, receives first (a sender finds them posted), and
  /// resumes when all have finished; read each op's outcome() after.
  struct awaiter {
    comm_batch* self;
    [[nodiscard]] bool await_ready() const noexcept { return self->m_recvs.empty() && self->m_sends.empty(); }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
      self->m_group = op_group{0, h};
      const std::stop_token token = stop_token_of(h);
      try {
        for (auto& op : self->m_recvs)
          op.start_in(self->m_group, token);
        for (auto& op : self->m_sends)
          op.start_in(self->m_group, token);
      } catch (...) {
        // Posting failed part-way (an endpoint could not be made): the
        // coroutine resumes with the error now, so the ops already posted
        // must not resume it again; the batch's end abandons them.
        self->m_group.awaiting = std::noop_coroutine();
        throw;
      }
      if (self->m_group.pending != 0)
        return true;
      // All finished at once (arrived messages, eager sends): a loop of
      // such batches must still let the loop turn (request_op does the same).
      progress_engine& engine = self->m_recvs.empty() ? self->m_sends[0].engine() : self->m_recvs[0].engine();
      return engine.queue_if_inline_spent(h);
    }
    void await_resume() const noexcept {}
  };
  [[nodiscard]] awaiter operator co_await() & noexcept { return awaiter{this}; }

private:
  small_vector<comm_recv_op, 4> m_recvs;
  small_vector<comm_send_op, 4> m_sends;
  op_group m_group;
};

} // namespace ucoro::detail
