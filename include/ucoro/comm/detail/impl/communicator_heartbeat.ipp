#pragma once
// Part of comm/detail/communicator_state.hpp, which includes it at its end
// (asio's impl/*.ipp): the definitions of its heartbeat members.
//
// The communicator's heartbeat (bootstrap_options::remote_heartbeat): a rank
// reached over a network lane is watched, a beat every interval in each
// direction, and silence past the deadline force-closes the connection,
// which fails the rank and every operation pending with it. Shared memory
// needs none of this: its peers are watched by process handles.

namespace ucoro::detail {

inline void communicator_state::start_heartbeats() {
  // Other ranks' beats keep coming after this communicator is gone.
  w->drop_unmatched_at_destroy(tag_layout::in_space(tag_layout::space::communicator_heartbeat, 0),
                               tag_layout::space_mask);
  if (size < 2 || heartbeat.interval.count() == 0)
    return;
  auto t = heartbeat_listen(weak_from_this(), w->engine(), tag_layout::communicator_heartbeat_tag(heartbeat_job, 0));
  t.set_stop_token(heartbeat_stop.get_token());
  w->spawn(std::move(t));
}

inline void communicator_state::watch(std::uint32_t r) {
  watched[r] = 1;
  last_heard[r] = std::chrono::steady_clock::now();
  endpoint_access::state(*peers[r])->note_heartbeat(heartbeat.timeout, "; over the network: the communicator's heartbeat every " +
                                                           format_duration(heartbeat.interval) + ", deadline " +
                                                           format_duration(heartbeat.timeout) +
                                                           " (bootstrap_options::remote_heartbeat)");
  send_beat(r); // at once: the rank learns it is watched, and watches back
  if (!ticking) {
    ticking = true;
    auto t = heartbeat_tick(weak_from_this(), *w, std::min(heartbeat.interval, heartbeat.timeout / 4));
    t.set_stop_token(heartbeat_stop.get_token());
    w->spawn(std::move(t));
  }
}

inline void communicator_state::heard(std::uint32_t r) {
  if (r >= size || r == rank || failed[r])
    return;
  last_heard[r] = std::chrono::steady_clock::now();
  if (!peers[r])
    (void)connect(r); // lazily connected ranks: it watches us, so we watch it
}

inline void communicator_state::heartbeat_round() {
  const auto now = std::chrono::steady_clock::now();
  for (std::uint32_t r = 0; r < size; ++r) {
    if (!watched[r] || failed[r])
      continue;
    if (now - last_heard[r] > heartbeat.timeout) {
      // Alive or not, it cannot be reached: its connection is force-closed,
      // so sends UCX would hold forever complete, and the close callback
      // fails the rank with this cause.
      watched[r] = 0;
      abandon_connection(r, make_error_code(errc::peer_unresponsive));
    } else {
      send_beat(r);
    }
  }
}

/// Fire and forget: no callback, the request (if any) freed at once, the
/// payload static, so a beat stuck behind a dead link holds nothing of ours.
inline void communicator_state::send_beat(std::uint32_t r) noexcept {
  static constexpr std::uint64_t beat = 0;
  ucp_ep_h ep = peers[r] ? peers[r]->ucp_endpoint() : nullptr;
  if (ep == nullptr)
    return;
  ucp_request_param_t param{};
  const tag_t tag = tag_layout::communicator_heartbeat_tag(heartbeat_job, rank);
  const ucs_status_ptr_t request = post_tag_send(ep, &beat, sizeof beat, tag, UCS_MEMORY_TYPE_HOST, param);
  if (UCS_PTR_IS_PTR(request))
    ucp_request_free(request);
}

inline task<void> communicator_state::heartbeat_listen(std::weak_ptr<communicator_state> weak, progress_engine& engine,
                                                       tag_t tag) {
  std::uint64_t beat = 0; // in this frame: it outlives the posted receive
  for (;;) {
    auto got = co_await as_result(tag_recv_op(engine, &beat, sizeof beat, tag, tag_layout::communicator_heartbeat_mask,
                                              UCS_MEMORY_TYPE_HOST));
    auto self = weak.lock();
    if (!self || got.error == std::errc::operation_canceled)
      co_return; // the communicator is gone
    if (got)
      self->heard(static_cast<std::uint32_t>(got.value.sender_tag & ((tag_t{1} << tag_layout::comm_rank_bits) - 1)));
  }
}

inline task<void> communicator_state::heartbeat_tick(std::weak_ptr<communicator_state> weak, worker& w,
                                                     std::chrono::milliseconds period) {
  for (;;) {
    auto slept = co_await as_result(w.sleep(period));
    auto self = weak.lock();
    if (!slept || !self)
      co_return;
    self->heartbeat_round();
  }
}

} // namespace ucoro::detail
