#pragma once
// Endpoints with UCX-Py's semantics: connect by host and port (or worker
// address), then co_await send/recv of any buffer over tag matching.
//
// Connection. The client meets the listener at ucoro's front door, a plain
// TCP socket (detail/handshake.hpp): hello and accept carry identities,
// worker addresses, tags and options; both sides resolve the error mode the
// same way (detail/error_mode.hpp); then the client's first UCX message
// proves the UCX connection and the listener answers "ready". No byte from
// the network reaches UCX's own connection manager, which asserts on
// malformed input (docs/security.md). UCX connections are shared per peer
// worker (detail/peer_link.hpp).
//
// Tags. Each side draws random 60-bit tags for its data and control channels
// (tag spaces endpoint_data / endpoint_control, see tag.hpp). With
// guarantee_msg_order the n-th send carries base + n and the n-th recv waits
// for exactly that tag, so messages match in send order even where UCX may
// deliver out of order (several lanes).
//
// Closing. close() sends a control message carrying its send count; the peer
// closes once it has received that many messages, acknowledges, and its
// pending and later operations fail with errc::closed_by_peer (equal to
// std::errc::connection_reset). Operations on an endpoint closed locally fail
// with errc::endpoint_closed (std::errc::not_connected). A peer that dies
// fails pending operations: with errc::peer_failed when ucoro watches its
// process (error_handling::automatic on one host), with UCX's error
// (connection_reset or timed_out) in UCX peer mode, with
// errc::peer_unresponsive when heartbeats stop (docs/failure.md). A
// same-host peer killed mid-write can leave the worker's shared-memory
// receive FIFO stuck for everyone: the worker's other shared-memory
// endpoints then fail with errc::shared_memory_stuck. UCX tag receives
// belong to the worker, not the endpoint, so the endpoint tracks its pending
// receives and cancels them itself when it closes; sends that UCX will never
// finish (mode none, dead peer) are detached: nothing is stranded.

#include <ucoro/concepts/buffer.hpp>
#include <ucoro/p2p/detail/peer_link_registry.hpp>
#include <ucoro/p2p/detail/endpoint_ops.hpp>
#include <ucoro/p2p/detail/multi_part.hpp>
#include <ucoro/p2p/detail/endpoint_state.hpp>
#include <ucoro/p2p/detail/handshake.hpp>
#include <ucoro/p2p/detail/socket.hpp>
#include <ucoro/error.hpp>
#include <ucoro/ucx/tag.hpp>
#include <ucoro/runtime/task.hpp>
#include <ucoro/runtime/timer.hpp>
#include <ucoro/ucx/worker.hpp>

#include <ucp/api/ucp.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ucoro {

namespace detail {
struct endpoint_access;
}

/// A connected endpoint. Move-only; dropping one that is still open closes
/// it gracefully in the background (abort() closes at once).
class endpoint {
public:
  using connect_options = endpoint_options;         ///< what worker::create_endpoint takes
  using address_options = address_endpoint_options; ///< what create_endpoint_from_worker_address takes
  endpoint() = default;
  explicit endpoint(std::shared_ptr<detail::endpoint_state> state) noexcept : m_state(std::move(state)) {}

  /// worker.create_endpoint(host, port, options): ucoro's handshake over
  /// TCP, then UCX (see the header comment). Bounded by connect_timeout.
  [[nodiscard]] static task<endpoint> connect(worker& w, std::string host, std::uint16_t port,
                                              endpoint_options options = {});

  /// worker.create_endpoint_from_worker_address(address, options).
  [[nodiscard]] static endpoint from_worker_address(worker& w, const std::vector<std::byte>& address,
                                                    address_endpoint_options options = {});
  endpoint(endpoint&&) noexcept = default;
  endpoint& operator=(endpoint&& other) noexcept {
    if (this != &other) {
      release();
      m_state = std::move(other.m_state);
    }
    return *this;
  }
  ~endpoint() { release(); }

  /// Sends all of `buf`. Completes when the buffer may be reused.
  template <buffer B>
  [[nodiscard]] detail::ep_send_op send(const B& buf) const {
    return {*state(), view_of(buf)};
  }

  /// Sends the first `nbytes` bytes of `buf`.
  template <buffer B>
  [[nodiscard]] detail::ep_send_op send(const B& buf, std::size_t nbytes) const {
    auto view = view_of(buf);
    check_size("send", view.size, nbytes);
    view.size = nbytes;
    return {*state(), view};
  }

  /// Receives the next message into `buf`; returns the bytes received. A
  /// larger message fails with std::errc::message_size (it is consumed; the
  /// endpoint stays usable).
  template <writable_buffer B>
  [[nodiscard]] detail::ep_recv_op recv(B&& buf) const {
    return {*state(), writable_view_of(buf)};
  }

  /// Receives into the first `nbytes` bytes of `buf`.
  template <writable_buffer B>
  [[nodiscard]] detail::ep_recv_op recv(B&& buf, std::size_t nbytes) const {
    auto view = writable_view_of(buf);
    check_size("recv", view.size, nbytes);
    view.size = nbytes;
    return {*state(), view};
  }

  /// Sends all of `buf` with `tag` (0 to 2^32 - 1), outside the ordered
  /// channel: UCX-Py's force_tag and UCXX's tagSend. Tagged messages live in
  /// a tag space of their own (docs/design.md), so they never meet the
  /// ordered channel, ucoro's control traffic or a communicator's messages.
  template <buffer B>
  [[nodiscard]] detail::ep_send_op tag_send(const B& buf, tag_t tag) const {
    return {*state(), view_of(buf), endpoint_tag("tag_send", tag)};
  }

  /// Receives the message sent with `tag` into `buf`; returns the bytes
  /// received. As UCX-Py's force_tag and UCXX's tagRecv, the tag is the
  /// whole match: a message with `tag` from another endpoint of this worker's
  /// peers matches too (give each peer its own tags). The receive belongs to
  /// this endpoint: its close or its peer's failure fails it.
  template <writable_buffer B>
  [[nodiscard]] detail::ep_recv_op tag_recv(B&& buf, tag_t tag) const {
    return {*state(), writable_view_of(buf), endpoint_tag("tag_recv", tag)};
  }

  /// send_obj with `tag`: the 8-byte size and the payload are two messages
  /// with that tag, so one sender at a time per tag (as UCX-Py's force_tag).
  template <buffer B>
  [[nodiscard]] task<void> tag_send_obj(const B& buf, tag_t tag) const {
    const std::uint64_t size = view_of(buf).size;
    co_await tag_send(as_bytes(&size, sizeof size), tag);
    co_await tag_send(buf, tag);
  }

  /// recv_obj of what tag_send_obj sent with `tag`.
  template <class Container = std::vector<std::byte>>
  [[nodiscard]] task<Container> tag_recv_obj(tag_t tag) const {
    co_return co_await recv_obj_into(Container{}, endpoint_tag("tag_recv_obj", tag));
  }

  /// Sends several buffers as one message of the ordered channel, e.g. a
  /// header and its columns: `co_await ep.send_many(header, keys, values)`,
  /// or a range of buffers. A message of host memory that goes eager moves
  /// as one UCX operation (the IOV datatype, the sizes inside); a larger
  /// one, or one with a device part, as the sizes and then each part a
  /// contiguous message of its own, in order (UCX 1.13 reads a rendezvous
  /// zero-copy only into and from contiguous memory). recv_many receives it. Calls may overlap, with each
  /// other and with send: each takes its place in the channel's order when
  /// it is called.
  template <buffer... B>
    requires(sizeof...(B) > 0 && !(sizeof...(B) == 1 && (buffer_range<B> && ...)))
  [[nodiscard]] task<void> send_many(const B&... bufs) const {
    const std::array<buffer_view<const void>, sizeof...(B)> views{view_of(bufs)...};
    co_await detail::send_parts(state(), views);
  }
  template <buffer_range R>
  [[nodiscard]] task<void> send_many(const R& bufs) const {
    std::vector<buffer_view<const void>> views;
    for (const auto& b : bufs)
      views.push_back(view_of(b));
    co_await detail::send_parts(state(), views);
  }

  /// Receives what send_many sent into as many buffers; returns the bytes
  /// received into each. A part larger than its buffer is
  /// std::errc::message_size naming it; the message is consumed and the
  /// endpoint stays usable. Another number of parts is message_size too,
  /// and closes the endpoint (errc::malformed_message): the two sides'
  /// messages are out of step. Calls may overlap, as recv's.
  template <writable_buffer... B>
    requires(sizeof...(B) > 0 && !(sizeof...(B) == 1 && (writable_buffer_range<B> && ...)))
  [[nodiscard]] task<std::array<std::size_t, sizeof...(B)>> recv_many(B&&... bufs) const {
    const std::array<buffer_view<void>, sizeof...(B)> views{writable_view_of(bufs)...};
    std::array<std::size_t, sizeof...(B)> received{};
    co_await detail::recv_parts(state(), views, received);
    co_return received;
  }
  template <writable_buffer_range R>
  [[nodiscard]] task<std::vector<std::size_t>> recv_many(R&& bufs) const {
    std::vector<buffer_view<void>> views;
    for (auto&& b : bufs)
      views.push_back(writable_view_of(b));
    std::vector<std::size_t> received(views.size());
    co_await detail::recv_parts(state(), views, received);
    co_return received;
  }

  /// An 8-byte size, then the payload. Calls on one endpoint must not
  /// overlap with other sends (the two messages must be consecutive).
  template <buffer B>
  [[nodiscard]] task<void> send_obj(const B& buf) const {
    const std::uint64_t size = view_of(buf).size;
    co_await send(as_bytes(&size, sizeof size));
    co_await send(buf);
  }

  /// Receives what send_obj sent into a new container of exactly its size:
  /// `recv_obj()` bytes, `recv_obj<std::string>()`,
  /// `recv_obj<std::vector<float>>()`. A payload that is not a whole number
  /// of elements is received (the endpoint stays in step) and then refused
  /// with std::errc::bad_message naming both sizes.
  /// (Coroutines themselves, not forwarding calls: GCC 12 relocates a
  /// by-value std::string argument of a plain function awaited in a
  /// co_await expression by copying its bytes.)
  template <resizable_container Container = std::vector<std::byte>>
  [[nodiscard]] task<Container> recv_obj() const {
    co_return co_await recv_obj_into(Container{});
  }

  /// Bytes into a vector with this allocator (a pool, pinned memory).
  template <class Allocator>
    requires requires(Allocator a) { std::vector<std::byte, Allocator>(a); }
  [[nodiscard]] task<std::vector<std::byte, Allocator>> recv_obj(Allocator alloc) const {
    co_return co_await recv_obj_into(std::vector<std::byte, Allocator>(alloc));
  }

  /// Graceful close (see the header comment). Bounded by close_timeout.
  [[nodiscard]] task<void> close() {
    auto s = state();
    co_await s->close();
  }

  /// Closes now; pending operations fail with errc::endpoint_closed.
  void abort() { state()->abort(); }

  [[nodiscard]] bool closed() const noexcept { return !m_state || m_state->closed(); }

  /// Why it closed (empty while open).
  [[nodiscard]] std::error_code close_reason() const noexcept {
    return m_state ? m_state->close_reason() : std::error_code{};
  }

  /// Closes after the n-th completed receive, counted from now or from the
  /// endpoint's creation.
  void close_after_n_recv(std::uint64_t n, bool count_from_ep_creation = false) {
    state()->close_after_n_recv(n, count_from_ep_creation);
  }

  /// Runs once, on the worker's thread, when the endpoint closes (for any
  /// reason), with the reason.
  void set_close_callback(std::function<void(std::error_code)> fn) { state()->set_close_callback(std::move(fn)); }

  /// ucp_ep_print_info (the lanes and transports this endpoint uses),
  /// after a line saying how peer failure is detected and why.
  [[nodiscard]] std::string ucx_info() const {
    auto s = state();
    const ucoro::failure_detection& d = s->detection();
    std::string out = "# ucoro failure detection: UCX error handling ";
    out += d.ucx_mode == error_handling::peer ? "peer" : "none";
    if (d.process_watch)
      out += " + pidfd on pid " + std::to_string(d.peer_pid);
    if (d.heartbeat_timeout.count() > 0)
      out += " + heartbeat (timeout " + detail::format_duration(d.heartbeat_timeout) + ")";
    out += " (" + d.reason + ")\n";
    if (s->ucp_endpoint() != nullptr)
      out += detail::print_to_string([&](FILE* f) { ucp_ep_print_info(s->ucp_endpoint(), f); });
    return out;
  }

  /// An id for this endpoint, unique among the process's live endpoints
  /// (UCX-Py's `ep.uid`); it moves with the endpoint.
  [[nodiscard]] std::uint64_t uid() const noexcept { return reinterpret_cast<std::uintptr_t>(m_state.get()); }

  /// The lanes this endpoint's UCX connection uses, as values: each lane's
  /// transport and device, and the operations it carries (what
  /// ucx_info() prints). Empty once the connection is gone.
  [[nodiscard]] std::vector<transport_lane> transports() const {
    const auto& conn = state()->link();
    return conn ? conn->lanes().lanes : std::vector<transport_lane>{};
  }
  /// transports() by its earlier name.
  [[nodiscard]] std::vector<transport_lane> lanes() const { return transports(); }

  /// How this endpoint detects a failed peer (what error_handling chose).
  [[nodiscard]] const ucoro::failure_detection& failure_detection() const { return state()->detection(); }
  [[nodiscard]] bool cuda_support() const { return state()->get_worker().get_context().cuda_support(); }
  [[nodiscard]] ucp_worker_h ucp_worker() const { return state()->get_worker().ucp_worker(); }
  [[nodiscard]] ucp_ep_h ucp_endpoint() const { return state()->ucp_endpoint(); }
  [[nodiscard]] const std::string& peer() const { return state()->peer(); }
  [[nodiscard]] std::uint64_t send_count() const { return state()->tags().send_count(); }
  /// Whether sends use UCX's fast local completion (see send_completion).
  [[nodiscard]] bool fast_completion() const { return state()->fast_completion(); }
  /// Whether messages travel over shared memory (sysv/posix): such
  /// endpoints share the worker's receive FIFO (docs/failure.md).
  [[nodiscard]] bool uses_shared_memory() const { return state()->uses_shared_memory(); }
  [[nodiscard]] std::uint64_t recv_count() const { return state()->recv_count(); }

private:
  friend struct detail::endpoint_access;
  [[nodiscard]] const std::shared_ptr<detail::endpoint_state>& state() const {
    if (!m_state)
      throw_error(make_error_code(errc::endpoint_closed), "use of an empty (moved-from) ucoro::endpoint");
    return m_state;
  }

  void check_size(const char* what, std::size_t have, std::size_t want) const {
    if (want > have)
      throw_invalid_argument(std::string(what) + " of " + std::to_string(want) + " bytes " +
                             (what[0] == 's' ? "to " : "from ") + peer() + ": the buffer holds only " +
                             std::to_string(have) + " bytes");
  }

  void release() noexcept {
    if (!m_state || m_state->closed())
      return;
    try {
      m_state->get_worker().spawn(m_state->close());
    } catch (...) {
      m_state->abort();
    }
  }

  /// `tag` in the endpoint_tagged space; one above 32 bits is invalid_argument.
  [[nodiscard]] static tag_t endpoint_tag(const char* what, tag_t tag) {
    if (tag > tag_layout::max_endpoint_tag)
      throw_invalid_argument(std::string("endpoint::") + what + ": tag " + detail::hex(tag) +
                             " is above 32 bits (0 to 0xffffffff)");
    return tag_layout::in_space(tag_layout::space::endpoint_tagged, tag);
  }

  /// The ordered channel's next message (tag nullptr) or the one with *tag.
  [[nodiscard]] detail::ep_recv_op recv_part(buffer_view<void> view, const tag_t* tag) const {
    return tag != nullptr ? detail::ep_recv_op{*state(), view, *tag} : detail::ep_recv_op{*state(), view};
  }

  template <class Container>
  [[nodiscard]] task<Container> recv_obj_into(Container out, std::optional<tag_t> tag = std::nullopt) const {
    using element = std::ranges::range_value_t<Container>;
    const tag_t* const tagged = tag ? &*tag : nullptr;
    std::uint64_t size = 0;
    auto header = as_writable_bytes(&size, sizeof size);
    const std::size_t got = co_await recv_part(writable_view_of(header), tagged);
    if (got != sizeof size)
      throw ucx_error(make_error_code(errc::handshake_failed),
                      "recv_obj from " + peer() + ": expected an 8-byte size header, got " + std::to_string(got) +
                          " bytes");
    out.resize(static_cast<std::size_t>((size + sizeof(element) - 1) / sizeof(element)));
    auto view = writable_view_of(out);
    view.size = static_cast<std::size_t>(size);
    const std::size_t payload = co_await recv_part(view, tagged);
    if (size % sizeof(element) != 0)
      throw ucx_error(std::make_error_code(std::errc::bad_message),
                      "recv_obj from " + peer() + ": " + std::to_string(payload) + " bytes are not a whole number of " +
                          std::to_string(sizeof(element)) + "-byte elements");
    co_return out;
  }

  std::shared_ptr<detail::endpoint_state> m_state;
};


namespace detail {

[[nodiscard]] inline std::error_code reject_code(hello::reject_reason reason) noexcept {
  switch (reason) {
  case hello::reject_reason::bad_token: return std::make_error_code(std::errc::permission_denied);
  case hello::reject_reason::shared_memory_stuck: return make_error_code(errc::shared_memory_stuck);
  default: return make_error_code(errc::protocol_mismatch);
  }
}

/// The client's half of the front door, after the socket connected. The
/// caller awaits it at once: references to its locals stay valid.
inline task<endpoint> connect_as_client(worker& w, int fd_handle, std::shared_ptr<endpoint_state> state,
                                        const endpoint_options& options, const std::string& what) {
  auto& registry = w.use_service<peer_link_registry>();
  progress_engine& engine = w.engine();
  co_await write_hello(engine, fd_handle, make_hello(hello::kind::hello, registry, *state, options, options.token.view()));
  const hello::message reply = co_await read_hello(engine, fd_handle, what);
  if (reply.type == hello::kind::reject)
    throw ucx_error(reject_code(reply.reason), what + ": the listener refused: " + reply.reason_text);
  if (reply.type != hello::kind::accept)
    throw ucx_error(make_error_code(errc::handshake_failed), what + ": expected the listener's accept");
  const error_mode_resolution mode = resolve_error_mode(side_of(reply), side_of(registry, options));
  const auto listener_mode = static_cast<error_handling>(reply.resolved_mode);
  if (!mode.agreed || mode.ucx_mode != listener_mode)
    throw ucx_error(make_error_code(errc::protocol_mismatch),
                    what + ": the listener chose UCX error handling " + to_string(listener_mode) + ", this side " +
                        (mode.agreed ? to_string(mode.ucx_mode) : mode.reason.c_str()));
  const bool ucx_peer = mode.ucx_mode == error_handling::peer;
  if (!ucx_peer && !registry.shared_memory_stuck().empty() && reply.identity.same_host_as(this_process()))
    throw ucx_error(make_error_code(errc::shared_memory_stuck),
                    what + ": " + registry.shared_memory_stuck() +
                        "; nothing can arrive here over shared memory any more: connect from a new worker (or "
                        "use error_handling::peer, which goes over tcp)");
  state->attach(registry.get(reply.worker_address, ucx_peer, state->peer()), reply.msg_tag, reply.ctrl_tag,
                mode.reason);
  co_await state->send_control({control_message::attach, 0, 0});
  const hello::message ready = co_await read_hello(engine, fd_handle, what);
  if (ready.type != hello::kind::ready)
    throw ucx_error(make_error_code(errc::handshake_failed), what + ": expected the listener's ready");
  state->start(reply.identity);
  co_return endpoint{std::move(state)};
}

} // namespace detail

inline task<endpoint> endpoint::connect(worker& w, std::string host, std::uint16_t port, endpoint_options options) {
  const std::string peer = host + ":" + std::to_string(port);
  const std::string what = "create_endpoint to " + peer;
  auto state = detail::make_endpoint_state(w, peer, options);
  const detail::socket_address address = detail::resolve(host, port, what);
  const auto timeout = options.connect_timeout;
  // "create_endpoint: nothing listening on 127.0.0.1:5000", naming the
  // host as given only where it is not the address itself.
  const std::string connect_what =
      detail::sockaddr_label(address.storage) == peer ? std::string("create_endpoint") : what;
  auto handshake = [&]() -> task<endpoint> {
    detail::unique_fd fd = co_await detail::connect_socket(w.engine(), address, connect_what);
    endpoint connected = co_await detail::connect_as_client(w, fd.get(), state, options, what);
    co_return std::move(connected); // explicit: nvcc does not move a returned local in co_return
  };
  // The value is moved out after the try block: GCC 12 mishandles a
  // co_return of a co_await inside one (it destroyed a parameter twice).
  std::optional<endpoint> connected;
  std::exception_ptr failure;
  std::error_code code;
  try {
    connected.emplace(co_await with_timeout(handshake(), timeout));
  } catch (const std::system_error& e) {
    failure = std::current_exception();
    code = e.code();
  } catch (...) {
    failure = std::current_exception();
  }
  if (connected)
    co_return std::move(*connected);
  state->fail(make_error_code(errc::handshake_failed));
  if (code == std::errc::timed_out)
    throw ucx_error(code, what + ": no answer within connect_timeout (" + detail::format_duration(timeout) +
                              "): the peer did not complete ucoro's handshake");
  std::rethrow_exception(failure);
}

inline endpoint endpoint::from_worker_address(worker& w, const std::vector<std::byte>& address,
                                              address_endpoint_options options) {
  if (address.empty())
    throw_invalid_argument("create_endpoint_from_worker_address: empty address");
  endpoint_options o;
  o.guarantee_msg_order = options.guarantee_msg_order;
  o.error_handling = options.error_handling;
  o.completion = options.completion;
  auto state = detail::make_endpoint_state(w, "worker address", o);
  // No handshake: both sides derive the data tag from the channel they agree on.
  state->tags().use_channel((options.channel * 0x9E3779B97F4A7C15ULL) & ~tag_layout::space_mask);
  auto& registry = w.use_service<detail::peer_link_registry>();
  if (options.error_handling == error_handling::automatic && options.peer) {
    // Both sides hold both peer_infos, and the resolution is symmetric in
    // its mode, so they reach the same one without talking.
    const peer_info local = w.local_peer_info();
    const auto mode = detail::resolve_error_mode(detail::error_mode_side{error_handling::automatic, local.pidfd,
                                                                         local.shared_memory, local.identity},
                                                 detail::error_mode_side{error_handling::automatic,
                                                                         options.peer->pidfd,
                                                                         options.peer->shared_memory,
                                                                         options.peer->identity});
    const bool ucx_peer = mode.ucx_mode == error_handling::peer;
    state->attach(registry.get(address, ucx_peer, state->peer()), state->tags().recv_msg_base(), 0, mode.reason);
    state->watch_process(options.peer->identity);
    return endpoint{std::move(state)};
  }
  const bool none = options.error_handling == error_handling::none;
  state->attach(registry.get(address, !none, state->peer()), state->tags().recv_msg_base(), 0,
                options.error_handling == error_handling::automatic
                    ? "automatic: no handshake on an address endpoint and no peer_info, so the peer's process "
                      "is unknown"
                    : "requested");
  return endpoint{std::move(state)};
}

namespace detail {
/// How a layer above reaches the state of an endpoint it owns (the
/// communicator fails its ranks' endpoints and describes them), without
/// this layer naming that layer.
struct endpoint_access {
  [[nodiscard]] static const std::shared_ptr<endpoint_state>& state(const endpoint& ep) { return ep.state(); }
};
} // namespace detail

} // namespace ucoro
