#pragma once
// CRTP base for an awaiter over one UCX non-blocking request. It lives in the
// awaiting coroutine's frame: no allocation per operation. It handles UCX's
// three-way return (NULL = done now, so no suspension; error pointer;
// request), cancellation through the awaiting coroutine's stop token, and
// the case where the frame is destroyed while UCX still holds the request.
//
// Completion reaches the awaiter through user_data, which UCX passes even
// when it completes a request inside the posting call (it does, e.g. for a
// truncated rendezvous receive in 1.13). Each UCX request also carries a
// small slot (context's request_size, zeroed by request_init and reset
// before every free) that can override where a completion goes: that is
// what makes abandoning a request from a destroyed frame safe.

#include <ucoro/ucx/context.hpp>
#include <ucoro/runtime/detail/env.hpp>
#include <ucoro/error.hpp>
#include <ucoro/runtime/progress_engine.hpp>

#include <ucp/api/ucp.h>

#include <chrono>
#include <coroutine>
#include <string>
#include <system_error>
#include <utility>

namespace ucoro::detail {

struct request_slot {
  /// When set, the completion goes here instead of to user_data.
  void (*override_complete)(void* target, ucs_status_t status, const ucp_tag_recv_info_t* info) noexcept;
  void* override_target;
};
static_assert(sizeof(request_slot) <= request_reserved_size);

[[nodiscard]] inline request_slot& slot_of(void* request) noexcept {
  return *static_cast<request_slot*>(request);
}

using completion_fn = void (*)(void* target, ucs_status_t status, const ucp_tag_recv_info_t* info) noexcept;

/// The op's completion function, stored first in every request_op (see
/// request_op::m_complete) so the trampolines can reach it from user_data.
struct completion_target {
  completion_fn complete;
};

inline void dispatch_completion(void* request, ucs_status_t status, const ucp_tag_recv_info_t* info,
                                void* user_data) noexcept {
  request_slot& slot = slot_of(request);
  if (slot.override_complete != nullptr) {
    const request_slot override = slot;
    slot = request_slot{nullptr, nullptr}; // UCX reuses request memory
    override.override_complete(override.override_target, status, info);
  } else {
    auto* target = static_cast<completion_target*>(user_data);
    target->complete(target, status, info);
  }
  // `info` points into the request: completed above, freed only now.
  ucp_request_free(request);
}

inline void send_trampoline(void* request, ucs_status_t status, void* user_data) noexcept {
  dispatch_completion(request, status, nullptr, user_data);
}

inline void recv_trampoline(void* request, ucs_status_t status, const ucp_tag_recv_info_t* info,
                            void* user_data) noexcept {
  dispatch_completion(request, status, info, user_data);
}

inline void set_flag_on_complete(void* target, ucs_status_t, const ucp_tag_recv_info_t*) noexcept {
  if (target != nullptr)
    *static_cast<bool*>(target) = true;
}

/// Why a device-memory operation was refused before posting, and the fix.
[[nodiscard]] inline std::string unsupported_memory_text(ucs_memory_type_t type) {
  return std::string("this UCX cannot move ") + ucs_memory_type_names[type] +
         " memory (it was built without support for it): build against a CUDA-enabled UCX (put its "
         "lib/pkgconfig first in PKG_CONFIG_PATH and rebuild) and include cuda_copy,cuda_ipc in UCX_TLS; "
         "see docs/gpu.md";
}

/// A timer that calls back the operation it belongs to.
template <class Op>
struct op_timer : timer_node {
  Op* op = nullptr;
};

template <class Derived, class Value>
class request_op : private completion_target, private cancel_node {
public:
  using value_type = Value;

  explicit request_op(progress_engine& engine) noexcept : completion_target{&on_complete}, m_engine(&engine) {}

  request_op(request_op&& other) noexcept
      : completion_target{&on_complete}, cancel_node{}, m_engine(other.m_engine), m_status(other.m_status) {}
  request_op& operator=(request_op&&) = delete;

  ~request_op() {
    if (m_request != nullptr) [[unlikely]]
      abandon();
  }

  [[nodiscard]] bool await_ready() const noexcept { return false; }

  template <class Promise>
  [[nodiscard]] bool await_suspend(std::coroutine_handle<Promise> awaiting) {
    const std::stop_token token = stop_token_of(awaiting);
    if (!start(token))
      return m_engine->queue_if_inline_spent(awaiting);
    m_continuation = awaiting;
    return true;
  }

  Value await_resume() {
    const std::error_code error = finish();
    if (error)
      throw ucx_error(error, derived().describe(m_status));
    return derived().value();
  }

  /// The non-throwing spelling: `result<Value> r = co_await op.nothrow();`
  [[nodiscard]] auto nothrow() && { return nothrow_awaiter{std::move(derived())}; }

  [[nodiscard]] ucs_status_t status() const noexcept { return m_status; }

protected:
  [[nodiscard]] progress_engine& engine() const noexcept { return *m_engine; }

  /// Default mapping; derived ops may translate (e.g. to errc::closed_by_peer).
  [[nodiscard]] std::error_code error_code(ucs_status_t status) const noexcept {
    return make_error_code(status);
  }

  /// Called by derived ops' completion when UCX produced recv info.
  void on_recv_info(const ucp_tag_recv_info_t&) noexcept {}

  /// Called when UCX keeps the request pending (the awaiter will suspend).
  void on_pending() noexcept {}

  /// Called once when the operation has finished, however it finished
  /// (inline, through UCX's callback, or failing to start).
  void on_done(ucs_status_t) noexcept {}

  /// Called after on_done: true keeps the awaiting coroutine suspended
  /// until the op calls release() (e.g. to learn why it failed first).
  [[nodiscard]] bool hold(ucs_status_t) noexcept { return false; }

  /// Resumes the awaiting coroutine after hold() kept it.
  void release() noexcept { derived().resume_awaiting(); }

  /// How a finished op wakes whoever awaits it; a derived op awaited as
  /// part of a group counts down instead.
  void resume_awaiting() noexcept { m_engine->schedule(m_continuation); }

  /// For ops started without a coroutine of their own (a group of them is
  /// awaited as one): posts; false if it finished already.
  bool begin(const std::stop_token& token) { return start(token); }
  /// The outcome, once finished.
  [[nodiscard]] result<Value> outcome() noexcept {
    const std::error_code error = finish();
    if constexpr (std::is_void_v<Value>)
      return {error};
    else
      return error ? result<Value>{error, {}} : result<Value>{error, derived().value()};
  }

  /// Asks UCX to cancel the request if it is still pending; the completion
  /// then arrives with UCS_ERR_CANCELED through the usual path.
  void cancel_request() noexcept {
    if (m_request != nullptr)
      ucp_request_cancel(m_engine->ucp_worker(), m_request);
  }

  [[nodiscard]] bool pending() const noexcept { return m_request != nullptr; }

  /// What a stop request does; an op that UCX cannot cancel overrides it.
  void on_stop() noexcept { cancel_request(); }

  /// The one rule for a stop request on a send, endpoint's and
  /// communicator's alike. UCX cannot cancel a send it has started (a
  /// rendezvous waiting for the receiver, a tcp send into a partitioned
  /// link), and the awaiter may not return while UCX can still read the
  /// buffer. So: ask anyway, give the send `grace` to finish, and then call
  /// Derived::abandoned(), which resumes the awaiter (detach) and gives up
  /// the connection: one with a message half sent cannot be trusted to stay
  /// in step. `timer` is the op's own.
  template <class Timer>
  void stop_send(Timer& timer, std::chrono::milliseconds grace) noexcept {
    cancel_request();
    if (!pending() || timer.armed)
      return;
    timer.op = &derived();
    timer.deadline = clock::now() + grace;
    timer.fire = [](timer_node* node) noexcept {
      Derived* op = static_cast<Timer*>(node)->op;
      if (static_cast<request_op*>(op)->pending())
        op->abandoned();
    };
    m_engine->add_timer(timer);
  }
  /// Gives up on a request UCX will never complete (its endpoint was
  /// force-closed after a peer died without UCX error handling, which in
  /// UCX 1.13 leaves rendezvous sends waiting for an answer): the awaiting
  /// coroutine resumes with `status`, and a late completion only frees the
  /// request.
  void detach(ucs_status_t status) noexcept {
    if (m_request == nullptr)
      return;
    void* request = std::exchange(m_request, nullptr);
    // Released to UCX: it frees the request if it ever finishes, and calls
    // nothing back.
    slot_of(request) = request_slot{nullptr, nullptr};
    ucp_request_free(request);
    m_stop.disarm();
    m_status = status;
    derived().on_done(status);
    derived().resume_awaiting();
  }

  /// Fills the callback part of the parameters for a send- or recv-type op.
  void prepare_send(ucp_request_param_t& param) noexcept {
    param.op_attr_mask |= UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    param.cb.send = &send_trampoline;
    param.user_data = static_cast<completion_target*>(this);
  }
  void prepare_recv(ucp_request_param_t& param) noexcept {
    param.op_attr_mask |= UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    param.cb.recv = &recv_trampoline;
    param.user_data = static_cast<completion_target*>(this);
  }

private:
  struct nothrow_awaiter {
    Derived m_op;
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    template <class Promise>
    [[nodiscard]] bool await_suspend(std::coroutine_handle<Promise> h) {
      return m_op.await_suspend(h);
    }
    result<Value> await_resume() { return m_op.outcome(); }
  };

  [[nodiscard]] Derived& derived() noexcept { return static_cast<Derived&>(*this); }

  /// Posts the operation. False: it finished already (or never started).
  /// Always inlined: the per-message path (bench/profile.sh) lost 20-40
  /// instructions whenever an op's hooks grew enough for GCC to call it.
  [[gnu::always_inline]] bool start(const std::stop_token& token) {
    if (token.stop_requested()) {
      m_status = UCS_ERR_CANCELED;
      derived().on_done(m_status);
      return false;
    }
    ucp_request_param_t param{};
    m_posting = true;
    const ucs_status_ptr_t request = derived().post(param);
    m_posting = false;
    if (m_completed_while_posting)
      return derived().hold(m_status); // the callback ran inside the call and freed the request
    if (request == nullptr || UCS_PTR_IS_ERR(request)) {
      m_status = request == nullptr ? UCS_OK : UCS_PTR_STATUS(request);
      derived().on_done(m_status);
      return m_status != UCS_OK && derived().hold(m_status);
    }
    m_request = request;
    m_status = UCS_INPROGRESS;
    derived().on_pending();
    this->cancel = &on_cancel;
    m_stop.arm(*m_engine, *this, token);
    return true;
  }

  std::error_code finish() noexcept {
    m_stop.disarm();
    return m_status == UCS_OK ? std::error_code{} : derived().error_code(m_status);
  }

  static void on_complete(void* target, ucs_status_t status, const ucp_tag_recv_info_t* info) noexcept {
    auto* self = static_cast<request_op*>(static_cast<completion_target*>(target));
    self->m_request = nullptr;
    self->m_status = status;
    if (info != nullptr)
      static_cast<Derived*>(self)->on_recv_info(*info);
    static_cast<Derived*>(self)->on_done(status);
    if (self->m_posting)
      self->m_completed_while_posting = true; // start() returns false (or holds): no suspension yet
    else if (!static_cast<Derived*>(self)->hold(status))
      static_cast<Derived*>(self)->resume_awaiting();
  }

  // A stop request: the derived op may do more than ask UCX (which cancels
  // receives, not sends) through on_stop().
  static void on_cancel(cancel_node* node) noexcept {
    static_cast<Derived*>(static_cast<request_op*>(node))->on_stop();
  }

  /// The frame is going away with the request still in UCX: cancel it and
  /// give UCX a bounded chance to finish, so it does not write into freed
  /// memory; after that the completion only frees the request.
  void abandon() noexcept {
    m_stop.disarm();
    bool finished = false;
    void* request = std::exchange(m_request, nullptr);
    slot_of(request) = request_slot{&set_flag_on_complete, &finished};
    ucp_request_cancel(m_engine->ucp_worker(), request);
    for (int round = 0; !finished && round < 100000; ++round)
      ucp_worker_progress(m_engine->ucp_worker());
    if (!finished)
      slot_of(request) = request_slot{&set_flag_on_complete, nullptr};
  }

  progress_engine* m_engine;
  void* m_request = nullptr;
  bool m_posting = false;
  bool m_completed_while_posting = false;
  ucs_status_t m_status = UCS_OK;
  std::coroutine_handle<> m_continuation;
  stop_link m_stop;
};

} // namespace ucoro::detail
