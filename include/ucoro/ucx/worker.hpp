#pragma once
// RAII ucp_worker owned by one thread, with its progress engine.
//
//   ucoro::worker w{ctx};                                  // blocking progress
//   ucoro::worker w{ctx, ucoro::progress_mode::polling};   // spin
//   int answer = w.run(compute());                         // like asyncio.run
//
// Driving it from another event loop instead of run(): watch event_fd() for
// readability; on wake-up call progress() until it returns false; before
// sleeping call arm() and, if it returns false, progress again; bound the
// sleep by time_to_next_timer(). That is UCX's own arm/wait protocol, with
// ucoro's timers and cross-thread posts folded into the same fd.

#include <ucoro/concepts/awaitable.hpp>
#include <ucoro/concepts/buffer.hpp>
#include <ucoro/ucx/context.hpp>
#include <ucoro/runtime/detail/env.hpp>
#include <ucoro/error.hpp>
#include <ucoro/ucx/options.hpp>
#include <ucoro/runtime/progress_engine.hpp>
#include <ucoro/runtime/task.hpp>
#include <ucoro/ucx/tag.hpp>
#include <ucoro/ucx/tag_message.hpp>
#include <ucoro/runtime/task_scope.hpp>
#include <ucoro/runtime/timer.hpp>

#include <ucp/api/ucp.h>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace ucoro {

class endpoint;
class listener;

namespace detail {

template <class T>
using non_void_storage_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

/// The coroutine run() drives: it records completion and keeps the result.
template <class T>
class root_task {
public:
  struct promise_type : promise_env {
    std::optional<non_void_storage_t<T>> value;
    std::exception_ptr error;
    bool finished = false;

    root_task get_return_object() noexcept { return root_task{std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    auto final_suspend() noexcept {
      finished = true;
      return std::suspend_always{};
    }
    void unhandled_exception() noexcept { error = std::current_exception(); }
    template <class U>
    void return_value(U&& v) {
      value.emplace(std::forward<U>(v));
    }
  };

  explicit root_task(std::coroutine_handle<promise_type> h) noexcept : m_handle(h) {}
  root_task(root_task&& o) noexcept : m_handle(std::exchange(o.m_handle, nullptr)) {}
  ~root_task() {
    if (m_handle)
      m_handle.destroy();
  }
  std::coroutine_handle<promise_type> handle() const noexcept { return m_handle; }

private:
  std::coroutine_handle<promise_type> m_handle;
};

} // namespace detail

class worker {
public:
  explicit worker(context& ctx, worker_options options = {})
      : m_context(&ctx), m_handle(create(ctx)), m_engine(std::make_unique<progress_engine>(m_handle, options.mode)),
        m_scope(std::make_unique<task_scope>(*m_engine, options.drain_timeout)) {
    ucp_context_attr_t attr{};
    attr.field_mask = UCP_ATTR_FIELD_MEMORY_TYPES;
    if (ucp_context_query(ctx.handle(), &attr) == UCS_OK)
      m_engine->set_memory_types(attr.memory_types);
    set_error_handler(nullptr);
  }

  worker(context& ctx, progress_mode mode) : worker(ctx, worker_options{.mode = mode}) {}

  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  ~worker() {
    // UCX's teardown order: what uses the worker goes first. Services stop
    // (endpoints abort, failing their pending operations), then spawned
    // tasks, now unblocked, are drained, then the services go.
    for (auto& entry : m_services)
      if (entry.shutdown)
        entry.shutdown();
    m_scope.reset();
    while (!m_services.empty())
      m_services.pop_back();
    m_engine.reset();
    for (const auto& [tag, mask] : m_drop_at_destroy)
      drop_unmatched(m_handle, tag, mask);
    ucp_worker_destroy(m_handle);
  }

  [[nodiscard]] ucp_worker_h ucp_worker() const noexcept { return m_handle; }
  [[nodiscard]] ucoro::context& get_context() const noexcept { return *m_context; }
  [[nodiscard]] progress_engine& engine() noexcept { return *m_engine; }
  [[nodiscard]] progress_mode mode() const noexcept { return m_engine->mode(); }
  void set_mode(progress_mode mode) noexcept { m_engine->set_mode(mode); }

  /// Drives progress on this thread until `awaitable` completes; returns its
  /// value or rethrows its exception.
  template <awaitable A>
  decltype(auto) run(A&& aw) {
    using result_type = await_result_t<A>;
    auto root = make_root<result_type>(std::forward<A>(aw));
    auto h = root.handle();
    h.promise().set_engine(m_engine.get());
    m_engine->schedule(h);
    m_engine->run_until([&] { return h.promise().finished; });
    if (h.promise().error)
      std::rethrow_exception(h.promise().error);
    if constexpr (!std::is_void_v<result_type>)
      return result_type(std::move(*h.promise().value));
  }

  /// Starts `t` on this worker; it is drained (stopped, then waited for) when
  /// the worker is destroyed. If it fails, its exception goes to the error
  /// handler (set_error_handler) as soon as it happens.
  void spawn(task<void> t) { m_scope->spawn(std::move(t)); }
  [[nodiscard]] task_scope& spawned() noexcept { return *m_scope; }

  /// Where failures of spawned tasks go, as they happen, on the worker's
  /// thread: tasks from spawn(), listener handlers without
  /// listener_options::on_error, close callbacks. The default (also
  /// restored by nullptr) writes each to stderr at once. run() does not
  /// rethrow them: a server outlives a failing connection; a handler that
  /// must stop the program can request it (a stop_source, an event).
  void set_error_handler(std::function<void(std::exception_ptr)> handler) {
    if (!handler)
      handler = [](std::exception_ptr error) {
        std::fprintf(stderr,
                     "ucoro: a task spawned on this worker failed (worker::set_error_handler or "
                     "listener_options::on_error receive these): %s\n",
                     detail::describe_exception(error).c_str());
      };
    m_scope->set_error_handler(std::move(handler));
  }

  /// Runs `fn` on the worker's thread, waking it. Any thread.
  void post(std::function<void()> fn) { m_engine->post(std::move(fn)); }

  /// One non-blocking round of progress (for external loops).
  bool progress() { return m_engine->progress(); }
  [[nodiscard]] int event_fd() const noexcept { return m_engine->event_fd(); }
  [[nodiscard]] bool arm() { return m_engine->arm(); }
  [[nodiscard]] std::optional<std::chrono::nanoseconds> time_to_next_timer() const {
    return m_engine->time_to_next_timer();
  }

  [[nodiscard]] auto sleep(std::chrono::nanoseconds duration) { return sleep_for(*m_engine, duration); }

  // ---- point-to-point ----------------------------------------------------------
  // The worker does not know endpoints: these forward to the endpoint and
  // listener classes, which the call site has (<ucoro/endpoint.hpp>,
  // <ucoro/listener.hpp> or <ucoro/ucoro.hpp>). The template parameter
  // defers the lookup of the class and of its options type to that point,
  // so this layer names them and includes nothing of theirs.

  /// Connects to a listener and handshakes; bounded by connect_timeout.
  /// A coroutine itself, not a forwarding call: GCC 12 relocates by-value
  /// arguments of a plain function awaited in a co_await expression by
  /// copying their bytes, which breaks the std::string in options.
  template <class Endpoint = endpoint>
  [[nodiscard]] task<Endpoint> create_endpoint(std::string host, std::uint16_t port,
                                                typename Endpoint::connect_options options = {}) {
    Endpoint ep = co_await Endpoint::connect(*this, std::move(host), port, std::move(options));
    co_return ep;
  }

  /// An endpoint to a worker address, without handshake: both sides agree
  /// on the channel. No close protocol (close() just releases).
  template <class Endpoint = endpoint>
  [[nodiscard]] auto create_endpoint_from_worker_address(const std::vector<std::byte>& address,
                                                         typename Endpoint::address_options options = {}) {
    return Endpoint::from_worker_address(*this, address, options);
  }

  /// Listens on `port` (0: any free port) and runs `handler(endpoint)` as a
  /// spawned task for each connection.
  template <class Handler, class Listener = listener>
  [[nodiscard]] auto create_listener(Handler handler, std::uint16_t port = 0,
                                     typename Listener::options options = {}) {
    return Listener::open(*this, std::move(handler), port, std::move(options));
  }

  /// Worker-level receive from any sender whose (user-space) tag matches
  /// under `mask`; returns the length and the sender's tag.
  template <writable_buffer B>
  [[nodiscard]] auto recv(B&& buf, tag_t tag, tag_t mask = tag_layout::full_mask) {
    const auto view = writable_view_of(buf);
    detail::require_user_tag(tag, "worker::recv");
    return detail::tag_recv_op(*m_engine, view.data, view.size, tag, mask | tag_layout::space_mask, to_ucs(view.memory));
  }

  /// Is a message matching (tag, mask) waiting? It stays queued.
  [[nodiscard]] std::optional<tag_recv_info> tag_probe(tag_t tag, tag_t mask = tag_layout::full_mask) {
    return ucoro::tag_probe(*m_engine, tag, mask);
  }

  /// Is a message matching (tag, mask) waiting? Its size and sender's tag,
  /// or nothing. `remove`: the message also leaves UCX's matching (no other
  /// receive can take it) and the result holds it, for recv(message, buf).
  [[nodiscard]] std::optional<tag_message> probe(tag_t tag, tag_t mask = tag_layout::full_mask, bool remove = false) {
    detail::require_user_tag(tag, "worker::probe");
    return detail::probe_message(m_handle, tag, mask | tag_layout::space_mask, remove);
  }

  /// Receives a message probe(…, true) removed into `buf`; returns its
  /// length and sender's tag. A buffer smaller than the message fails with
  /// std::errc::message_size naming both sizes (the message is consumed).
  /// A message refused here (not removed, another worker's) stays with
  /// its holder.
  template <writable_buffer B>
  [[nodiscard]] detail::tag_msg_recv_op recv(tag_message&& message, B&& buf) {
    if (!message.removed())
      throw_invalid_argument("worker::recv(message, buf): the message was not removed by its probe (probe(tag, "
                             "mask, true)) or was received already");
    if (message.ucp_worker() != m_handle)
      throw_invalid_argument("worker::recv(message, buf): the message was probed on another worker");
    const auto view = writable_view_of(buf);
    return {*m_engine, std::move(message), view.data, view.size, to_ucs(view.memory)};
  }

  /// Waits for a message matching (tag, mask) from any sender and receives
  /// it into a new container of exactly its size; returns it with the
  /// sender's tag. `recv_any()` bytes, `recv_any<std::vector<float>>(…)`:
  /// a message that is not a whole number of elements is received and then
  /// refused with std::errc::bad_message naming both sizes.
  template <resizable_container Container = std::vector<std::byte>>
  [[nodiscard]] task<received_message<Container>> recv_any(tag_t tag, tag_t mask = tag_layout::full_mask) {
    detail::require_user_tag(tag, "worker::recv_any");
    tag_message message = co_await detail::message_wait(*m_engine, tag, mask | tag_layout::space_mask, "worker::recv_any");
    co_return co_await detail::receive_whole<Container>(*m_engine, std::move(message), "worker::recv_any");
  }

  /// This worker's UCX address, for create_endpoint_from_worker_address.
  [[nodiscard]] std::vector<std::byte> address() const {
    ucp_worker_attr_t attr{};
    attr.field_mask = UCP_WORKER_ATTR_FIELD_ADDRESS;
    check(ucp_worker_query(m_handle, &attr), "querying the UCX worker address");
    const auto* begin = reinterpret_cast<const std::byte*>(attr.address);
    std::vector<std::byte> out(begin, begin + attr.address_length);
    ucp_worker_release_address(m_handle, attr.address);
    return out;
  }

  /// This process and worker as create_endpoint_from_worker_address's
  /// `peer` option on the other side needs them.
  [[nodiscard]] peer_info local_peer_info() const {
    return {detail::this_process(), detail::pidfd_available(), m_context->has_shared_memory_transport()};
  }

  /// ucp_worker_print_info.
  [[nodiscard]] std::string ucx_info() const {
    return detail::print_to_string([&](FILE* f) { ucp_worker_print_info(m_handle, f); });
  }

  /// A per-worker object of type Service, created on first use with
  /// `Service(worker&)` and destroyed with the worker (asio's use_service).
  /// Layers on top keep their worker-wide state here: the connection registry.
  /// A service may have `void shutdown()`, called first in ~worker, before
  /// spawned tasks are drained.
  /// Messages matching `tag`/`mask` that may still arrive unasked (a layer
  /// on top's liveness beats, sent by peers that outlive it) are received
  /// and dropped just before the UCX worker is destroyed. Registered once.
  void drop_unmatched_at_destroy(tag_t tag, tag_t mask) {
    for (const auto& entry : m_drop_at_destroy)
      if (entry == std::pair{tag, mask})
        return;
    m_drop_at_destroy.emplace_back(tag, mask);
  }

  template <class Service>
  Service& use_service() {
    for (auto& entry : m_services)
      if (entry.id == &service_id<Service>)
        return *static_cast<Service*>(entry.object.get());
    auto object = std::make_unique<Service>(*this);
    Service& ref = *object;
    service_entry entry{&service_id<Service>, {object.release(), [](void* p) { delete static_cast<Service*>(p); }}, {}};
    if constexpr (requires { ref.shutdown(); })
      entry.shutdown = [&ref] { ref.shutdown(); };
    m_services.push_back(std::move(entry));
    return ref;
  }

private:
  /// Receives the messages still unmatched in `tag`/`mask` and drops them,
  /// so UCX does not warn about each one when the worker goes.
  static void drop_unmatched(ucp_worker_h handle, tag_t tag, tag_t mask) noexcept {
    for (int message = 0; message < 100'000; ++message) {
      ucp_tag_recv_info_t info{};
      ucp_tag_message_h found = ucp_tag_probe_nb(handle, tag, mask, 1, &info);
      if (found == nullptr)
        return;
      static thread_local std::uint64_t sink = 0; // outlives a receive UCX may still hold
      ucp_request_param_t param{};
      const ucs_status_ptr_t request = ucp_tag_msg_recv_nbx(handle, &sink, sizeof sink, found, &param);
      if (!UCS_PTR_IS_PTR(request))
        continue;
      for (int round = 0; round < 1'000'000 && ucp_request_check_status(request) == UCS_INPROGRESS; ++round)
        ucp_worker_progress(handle);
      ucp_request_free(request);
    }
  }

  static ucp_worker_h create(ucoro::context& ctx) {
    ucp_worker_params_t params{};
    params.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
    params.thread_mode = UCS_THREAD_MODE_SINGLE;
    ucp_worker_h handle = nullptr;
    ucs_status_t status = UCS_OK;
    const std::string rejected = detail::transport_option_rejections::while_running(
        [&] { status = ucp_worker_create(ctx.handle(), &params, &handle); });
    check(status, "creating UCX worker");
    if (!rejected.empty()) {
      ucp_worker_destroy(handle);
      throw_error(make_error_code(UCS_ERR_INVALID_PARAM),
                  "creating UCX worker: the transports rejected an option (" + rejected + ")");
    }
    return handle;
  }

  template <class T, class A>
  static detail::root_task<T> make_root(A&& aw) {
    if constexpr (std::is_void_v<T>) {
      co_await std::forward<A>(aw);
      co_return std::monostate{};
    } else {
      co_return co_await std::forward<A>(aw);
    }
  }

  template <class Service>
  static constexpr char service_id = 0;

  struct service_entry {
    const char* id;
    std::unique_ptr<void, void (*)(void*)> object;
    std::function<void()> shutdown;
  };

  ucoro::context* m_context;
  ucp_worker_h m_handle;
  std::unique_ptr<progress_engine> m_engine;
  std::unique_ptr<task_scope> m_scope;
  std::vector<service_entry> m_services;
  std::vector<std::pair<tag_t, tag_t>> m_drop_at_destroy; // tag, mask
};

} // namespace ucoro
