#pragma once
// Messages taken out of UCX's tag matching before they are received: a
// probe that removes the message (ucp_tag_probe_nb with remove), its
// receive by handle (ucp_tag_msg_recv_nbx), and a wait for a message to
// arrive. Together they receive "whatever arrived with this tag" into a
// buffer of exactly its size, with no second round trip:
//
//   if (auto m = w.probe(tag, mask, true))           // now, or nothing
//     co_await w.recv(std::move(*m), buffer_of(m->size()));
//   auto [bytes, sender] = co_await w.recv_any(tag, mask);  // waits, allocates
//
// A removed message belongs to its tag_message: UCX keeps it until it is
// received, so a tag_message dropped unreceived receives it into nothing.

#include <ucoro/concepts/buffer.hpp>
#include <ucoro/error.hpp>
#include <ucoro/runtime/detail/env.hpp>
#include <ucoro/runtime/progress_engine.hpp>
#include <ucoro/runtime/task.hpp>
#include <ucoro/ucx/detail/request_op.hpp>
#include <ucoro/ucx/tag.hpp>

#include <ucp/api/ucp.h>

#include <coroutine>
#include <cstddef>
#include <optional>
#include <ranges>
#include <stop_token>
#include <string>
#include <system_error>
#include <utility>

namespace ucoro {

namespace detail {

/// Completion of a receive nobody awaits: dispatch_completion frees the
/// request, nothing else happens.
inline constexpr completion_target ignore_completion{[](void*, ucs_status_t, const ucp_tag_recv_info_t*) noexcept {}};

/// Receives a removed message into nothing, so that UCX releases it (a
/// rendezvous one answers its sender; the data is never read). The sink
/// outlives any receive UCX may still hold: it is the thread's own, and the
/// worker that completes the receive runs on this thread.
inline void discard_message(ucp_worker_h worker, ucp_tag_message_h message) noexcept {
  static thread_local std::uint64_t sink = 0;
  ucp_request_param_t param{};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  param.cb.recv = &recv_trampoline;
  param.user_data = const_cast<completion_target*>(&ignore_completion);
  (void)post_tag_msg_recv(worker, &sink, sizeof sink, message, param); // the callback frees a request
}

} // namespace detail

/// A message found by worker::probe: its size and the sender's tag and, if
/// the probe removed it from UCX's matching, the message itself, which
/// worker::recv(std::move(message), buf) receives. Move-only. Dropped
/// unreceived, a removed message is received into nothing and discarded
/// (UCX would keep it until the worker goes). Destroy it before its worker.
class tag_message {
public:
  tag_message() noexcept = default;
  tag_message(ucp_worker_h worker, ucp_tag_message_h handle, const ucp_tag_recv_info_t& info) noexcept
      : m_worker(worker), m_handle(handle), m_size(info.length), m_sender_tag(info.sender_tag) {}
  tag_message(tag_message&& other) noexcept
      : m_worker(other.m_worker), m_handle(std::exchange(other.m_handle, nullptr)), m_size(other.m_size),
        m_sender_tag(other.m_sender_tag) {}
  tag_message& operator=(tag_message&& other) noexcept {
    if (this != &other) {
      discard();
      m_worker = other.m_worker;
      m_handle = std::exchange(other.m_handle, nullptr);
      m_size = other.m_size;
      m_sender_tag = other.m_sender_tag;
    }
    return *this;
  }
  ~tag_message() { discard(); }

  /// The message's size in bytes.
  [[nodiscard]] std::size_t size() const noexcept { return m_size; }
  /// The tag it was sent with.
  [[nodiscard]] tag_t sender_tag() const noexcept { return m_sender_tag; }
  /// Whether this holds the message (the probe removed it and it is not
  /// received yet): only then can worker::recv take it.
  [[nodiscard]] bool removed() const noexcept { return m_handle != nullptr; }

  /// Receives it into nothing now (see the class comment).
  void discard() noexcept {
    if (m_handle != nullptr)
      detail::discard_message(m_worker, std::exchange(m_handle, nullptr));
  }

  /// For the receive: the handle, which this no longer holds.
  [[nodiscard]] ucp_tag_message_h release() noexcept { return std::exchange(m_handle, nullptr); }
  [[nodiscard]] ucp_worker_h ucp_worker() const noexcept { return m_worker; }

private:
  ucp_worker_h m_worker = nullptr;
  ucp_tag_message_h m_handle = nullptr;
  std::size_t m_size = 0;
  tag_t m_sender_tag = 0;
};

/// What worker::recv_any received: the bytes, in a container of exactly
/// their size, and the tag they were sent with.
template <class Container>
struct received_message {
  Container data;
  tag_t sender_tag = 0;
};

namespace detail {

/// ucp_tag_probe_nb, as a tag_message.
[[nodiscard]] inline std::optional<tag_message> probe_message(ucp_worker_h worker, tag_t tag, tag_t mask,
                                                              bool remove) noexcept {
  ucp_tag_recv_info_t info{};
  ucp_tag_message_h handle = ucp_tag_probe_nb(worker, tag, mask, remove ? 1 : 0, &info);
  if (handle == nullptr)
    return std::nullopt;
  return tag_message{worker, remove ? handle : nullptr, info};
}

/// Receives a removed message into a buffer (ucp_tag_msg_recv_nbx). A
/// buffer smaller than the message fails with message_size naming both
/// sizes; the message is consumed either way.
class tag_msg_recv_op : public request_op<tag_msg_recv_op, tag_recv_info> {
  friend class request_op<tag_msg_recv_op, tag_recv_info>;

public:
  tag_msg_recv_op(progress_engine& engine, tag_message message, void* data, std::size_t size,
                  ucs_memory_type_t memory_type) noexcept
      : request_op(engine), m_message(std::move(message)), m_data(data), m_size(size), m_memory_type(memory_type) {}
  tag_msg_recv_op(tag_msg_recv_op&& other) noexcept
      : request_op(std::move(other)), m_message(std::move(other.m_message)), m_data(other.m_data),
        m_size(other.m_size), m_memory_type(other.m_memory_type) {}

private:
  ucs_status_ptr_t post(ucp_request_param_t& param) {
    if (!engine().supports_memory(m_memory_type))
      return UCS_STATUS_PTR(UCS_ERR_UNSUPPORTED); // the message stays with m_message, discarded with it
    prepare_recv(param);
    param.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMORY_TYPE;
    param.memory_type = m_memory_type;
    return post_tag_msg_recv(engine().ucp_worker(), m_data, m_size, m_message.release(), param);
  }
  void on_recv_info(const ucp_tag_recv_info_t& info) noexcept { m_info = info; }
  [[nodiscard]] tag_recv_info value() const noexcept { return {m_info.length, m_info.sender_tag}; }
  [[nodiscard]] std::string describe(ucs_status_t status) const {
    std::string out = "recv of a " + std::to_string(m_message.size()) + "-byte probed message (tag " +
                      hex(m_message.sender_tag()) + ") into " + std::to_string(m_size) + " bytes: ";
    out += status == UCS_ERR_UNSUPPORTED ? unsupported_memory_text(m_memory_type) : ucs_status_string(status);
    return out;
  }

  tag_message m_message;
  void* m_data;
  std::size_t m_size;
  ucs_memory_type_t m_memory_type;
  ucp_tag_recv_info_t m_info{};
};

/// Waits until a message matching (tag, mask) has arrived and takes it out
/// of UCX's matching (a probe that removes it), checked at once and then
/// after every round of UCX progress (progress_engine::round_hook). A stop
/// request ends the wait with operation_canceled; no message is taken then.
class message_wait : private round_hook, private cancel_node {
public:
  message_wait(progress_engine& engine, tag_t tag, tag_t mask, const char* what) noexcept
      : m_engine(&engine), m_tag(tag), m_mask(mask), m_what(what) {}
  message_wait(message_wait&& other) noexcept
      : round_hook{}, cancel_node{}, m_engine(other.m_engine), m_tag(other.m_tag), m_mask(other.m_mask),
        m_what(other.m_what) {}
  message_wait& operator=(message_wait&&) = delete;
  ~message_wait() {
    m_engine->remove_round_hook(*this);
    m_stop.disarm();
  }

  [[nodiscard]] bool await_ready() noexcept { return take(); }

  template <class Promise>
  [[nodiscard]] bool await_suspend(std::coroutine_handle<Promise> awaiting) {
    const std::stop_token token = stop_token_of(awaiting);
    if (token.stop_requested()) {
      m_canceled = true;
      return false;
    }
    m_continuation = awaiting;
    this->on_round = &on_round_of;
    this->cancel = &on_cancel;
    m_engine->add_round_hook(*this);
    m_stop.arm(*m_engine, *this, token);
    return true;
  }

  tag_message await_resume() {
    m_stop.disarm();
    if (m_canceled)
      throw ucx_error(make_error_code(UCS_ERR_CANCELED),
                      std::string(m_what) + ": waiting for a message with tag " + hex(m_tag) + " (mask " +
                          hex(m_mask) + ")");
    return std::move(*m_message);
  }

private:
  bool take() noexcept {
    m_message = probe_message(m_engine->ucp_worker(), m_tag, m_mask, true);
    return m_message.has_value();
  }
  static void on_round_of(round_hook* hook) {
    auto* self = static_cast<message_wait*>(hook);
    if (!self->take())
      return;
    self->m_engine->remove_round_hook(*self);
    self->m_engine->schedule(self->m_continuation);
  }
  static void on_cancel(cancel_node* node) noexcept {
    auto* self = static_cast<message_wait*>(node);
    if (!static_cast<round_hook*>(self)->linked)
      return; // a message was taken first: it wins
    self->m_engine->remove_round_hook(*self);
    self->m_canceled = true;
    self->m_engine->schedule(self->m_continuation);
  }

  progress_engine* m_engine;
  tag_t m_tag;
  tag_t m_mask;
  const char* m_what;
  std::optional<tag_message> m_message;
  bool m_canceled = false;
  std::coroutine_handle<> m_continuation;
  stop_link m_stop;
};

/// Receives a removed message into a new container of exactly its size.
template <class Container>
[[nodiscard]] task<received_message<Container>> receive_whole(progress_engine& engine, tag_message message,
                                                              const char* what) {
  using element = std::ranges::range_value_t<Container>;
  const std::size_t size = message.size();
  received_message<Container> out;
  out.data.resize((size + sizeof(element) - 1) / sizeof(element));
  auto view = writable_view_of(out.data);
  const tag_recv_info info =
      co_await tag_msg_recv_op(engine, std::move(message), view.data, size, to_ucs(view.memory));
  if (size % sizeof(element) != 0)
    throw ucx_error(std::make_error_code(std::errc::bad_message),
                    std::string(what) + ": " + std::to_string(size) + " bytes are not a whole number of " +
                        std::to_string(sizeof(element)) + "-byte elements");
  out.sender_tag = info.sender_tag;
  co_return out;
}

} // namespace detail
} // namespace ucoro
