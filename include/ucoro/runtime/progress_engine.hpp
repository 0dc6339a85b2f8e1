#pragma once
// The loop that drives one ucp_worker. It owns:
//  - a ready queue: UCX callbacks only record a result and enqueue the
//    waiting coroutine; coroutines are resumed after ucp_worker_progress has
//    returned, so user code never runs inside UCX (where ep close, nested
//    progress or a long computation would be unsafe or stall UCX);
//  - timers (sleep, with_timeout);
//  - work posted from other threads, and cancellations requested from other
//    threads, both executed here because a worker is single-threaded;
//  - an epoll set holding the worker's event fd, an eventfd for wake-ups and
//    any fds the user adds (e.g. pidfds): detail/epoll_set.hpp. The epoll fd
//    itself is pollable, so an external loop can watch just `event_fd()`.

#include <ucoro/runtime/detail/epoll_set.hpp>
#include <ucoro/runtime/detail/intrusive_list.hpp>
#include <ucoro/error.hpp>
#include <ucoro/runtime/progress_mode.hpp>

#include <ucp/api/ucp.h>

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace ucoro {

class progress_engine;

namespace detail {

using clock = std::chrono::steady_clock;

/// Intrusive timer entry; lives in the frame of whoever waits.
struct timer_node {
  clock::time_point deadline{};
  void (*fire)(timer_node*) = nullptr;
  std::multimap<clock::time_point, timer_node*>::iterator position{};
  bool armed = false;
};

/// Intrusive entry for a cancellation requested from any thread and run on
/// the worker's thread.
struct cancel_node : basic_list_node<cancel_node> {
  void (*cancel)(cancel_node*) = nullptr;
  bool queued = false;
};

/// Intrusive entry run after every round of UCX progress while it is
/// linked: a wait for a message to arrive unexpected (worker::recv_any),
/// which UCX announces by no callback. Only UCX progress puts messages in
/// its unexpected queue, so looking after each round misses none.
struct round_hook : basic_list_node<round_hook> {
  void (*on_round)(round_hook*) = nullptr;
  bool linked = false;
};

} // namespace detail

class progress_engine {
public:
  progress_engine(ucp_worker_h worker, progress_mode mode) : m_worker(worker), m_mode(mode) {
    int worker_fd = -1;
    check(ucp_worker_get_efd(m_worker, &worker_fd), "getting the UCX worker event fd");
    m_worker_fd = worker_fd;
    m_events.add(m_worker_fd);
  }

  progress_engine(const progress_engine&) = delete;
  progress_engine& operator=(const progress_engine&) = delete;

  /// How often polling mode looks at watched fds (blocking mode sleeps on
  /// them): bounds the delay in noticing a peer's exit.
  static constexpr std::chrono::microseconds fd_poll_interval{500};

  [[nodiscard]] progress_mode mode() const noexcept { return m_mode; }

  /// The memory types the context can move (ucp_context_query), recorded
  /// by the worker so that operations can refuse others before posting.
  void set_memory_types(std::uint64_t mask) noexcept { m_memory_types = mask; }
  [[nodiscard]] bool supports_memory(ucs_memory_type_t type) const noexcept {
    return type == UCS_MEMORY_TYPE_HOST || type == UCS_MEMORY_TYPE_UNKNOWN || (m_memory_types & UCS_BIT(type)) != 0;
  }

  /// Switches between spinning and sleeping, e.g. to poll only while a
  /// latency-critical phase runs. Takes effect on the next loop iteration.
  void set_mode(progress_mode mode) noexcept { m_mode = mode; }
  [[nodiscard]] ucp_worker_h ucp_worker() const noexcept { return m_worker; }

  // ---- called on the worker's thread -------------------------------------

  /// Queue a coroutine to be resumed by the loop (never inline).
  void schedule(std::coroutine_handle<> h) { m_ready.push_back(h); }

  /// For an awaiter whose operation finished while being posted: true if
  /// `h` was queued (suspend it), false if it may go on inline. Inline is
  /// the fast path, but only so many times per round: a coroutine whose
  /// every send completes at once (8 B eager sends into tcp) never returned
  /// to the loop, and a heartbeat timer fired 1.3 s late (docs/failure.md).
  [[nodiscard]] bool queue_if_inline_spent(std::coroutine_handle<> h) {
    if (m_inline_left != 0) {
      --m_inline_left;
      return false;
    }
    ++m_stats.requeues;
    schedule(h);
    return true;
  }

  void add_timer(detail::timer_node& node) {
    node.position = m_timers.emplace(node.deadline, &node);
    node.armed = true;
  }

  void remove_timer(detail::timer_node& node) noexcept {
    if (node.armed) {
      m_timers.erase(node.position);
      node.armed = false;
    }
  }

  /// Runs `hook` after every round of UCX progress until it is removed;
  /// its on_round may remove it (not others).
  void add_round_hook(detail::round_hook& hook) noexcept {
    if (!hook.linked) {
      m_round_hooks.push_front(hook);
      hook.linked = true;
    }
  }
  void remove_round_hook(detail::round_hook& hook) noexcept {
    if (hook.linked) {
      m_round_hooks.erase(hook);
      hook.linked = false;
    }
  }

  /// Calls `on_ready` on the worker's thread whenever `fd` has one of
  /// `events` (level-triggered epoll events; errors and hang-ups always
  /// count). One watch per fd.
  void watch_fd(int fd, std::function<void()> on_ready, std::uint32_t events = EPOLLIN) {
    m_events.watch(fd, std::move(on_ready), events);
  }
  void unwatch_fd(int fd) noexcept { m_events.unwatch(fd); }

  /// One non-blocking round: UCX progress, resumptions, posted work,
  /// cancellations, expired timers and watched fds. True if anything happened.
  bool progress() {
    ++m_stats.rounds;
    m_inline_left = inline_continuations_per_round;
    bool active = ucp_worker_progress(m_worker) != 0;
    if (!m_round_hooks.empty()) [[unlikely]]
      run_round_hooks();
    active |= drain_ready();
    if (m_has_foreign_work.load(std::memory_order_acquire))
      active |= run_foreign_work();
    const unsigned round = ++m_poll_round;
    if (m_mode == progress_mode::blocking) {
      if (!m_timers.empty())
        active |= fire_timers();
    } else if ((round & 15U) == 0 && !m_timers.empty()) {
      // Polling: reading the clock on every spin would delay noticing each
      // message; every 16th spin is still far finer than any timer's meaning.
      active |= fire_timers();
    }
    // Watched fds (a peer's pidfd) cost an epoll_wait syscall: every 64th
    // spin doubled 256 B latency on shared memory, so at most once per
    // fd_poll_interval. Blocking mode needs this too: it only sleeps on
    // them when UCX lets it arm, and a peer killed mid-write into a
    // shared-memory FIFO leaves UCX busy (never armable) for good.
    if ((round & 63U) == 0 && m_events.has_watched()) {
      const auto now = detail::clock::now();
      if (now - m_last_fd_poll >= fd_poll_interval) {
        m_last_fd_poll = now;
        active |= m_events.wait(0);
      }
    }
    return active;
  }

  /// Drives progress on the calling thread until `done()` is true.
  template <class Done>
  void run_until(Done&& done) {
    while (!done()) {
      const bool active = progress();
      if (active)
        m_unarmable_rounds = 0;
      else if (m_mode == progress_mode::blocking && !done())
        wait_for_events();
      else if (m_mode == progress_mode::yielding && !done()) {
        ++m_stats.yields;
        ::sched_yield();
      }
    }
  }

  /// For an external event loop: the fd to watch for readability. It is an
  /// epoll fd that becomes readable when the worker, a wake-up or a watched
  /// fd has something; then call progress() until it returns false and
  /// arm() before sleeping again.
  [[nodiscard]] int event_fd() const noexcept { return m_events.fd(); }

  /// True if it is safe to sleep on event_fd(); false means call progress()
  /// again first (UCX had events pending: ucp_worker_arm returned BUSY).
  /// A worker whose shared-memory FIFO a dead peer left stuck answers false
  /// for good: bound the spin and check stuck_unarmable() (docs/failure.md).
  [[nodiscard]] bool arm() {
    if (!m_ready.empty() || m_has_foreign_work.load(std::memory_order_acquire))
      return false;
    const ucs_status_t status = ucp_worker_arm(m_worker);
    if (status == UCS_ERR_BUSY)
      return false;
    check(status, "arming the UCX worker for sleep");
    set_worker_fd(worker_fd::watched); // muted while UCX could not be armed (wait_for_events)
    return true;
  }

  /// True if UCX keeps reporting events that progress never finds: over up
  /// to 4 x `rounds` rounds of ucp_worker_progress, `rounds` in a row found
  /// nothing while ucp_worker_arm answered BUSY. That is a shared-memory
  /// receive FIFO with a slot a killed sender claimed and never filled
  /// (docs/failure.md). Traffic that progress does find (a live peer over
  /// tcp) restarts the count, so a busy worker is not taken for a stuck one.
  /// Call outside UCX callbacks, on the worker's thread.
  [[nodiscard]] bool stuck_unarmable(unsigned rounds = 1000) {
    unsigned idle_busy = 0;
    for (unsigned round = 0; round < 4 * rounds && idle_busy < rounds; ++round) {
      if (ucp_worker_progress(m_worker) != 0) {
        idle_busy = 0;
        continue;
      }
      if (ucp_worker_arm(m_worker) != UCS_ERR_BUSY) {
        set_worker_fd(worker_fd::watched);
        return false;
      }
      ++idle_busy;
    }
    return idle_busy >= rounds;
  }

  /// What the loop did so far, to tell a sleeping engine from a spinning
  /// one without timing it (tests, diagnostics). Counted on the worker's
  /// thread; read there.
  struct statistics {
    std::uint64_t rounds = 0; ///< progress() calls
    std::uint64_t sleeps = 0; ///< blocking mode: armed waits in epoll_wait
    std::uint64_t naps = 0;   ///< blocking mode: bounded naps while UCX could not be armed
    std::uint64_t yields = 0; ///< yielding mode: idle rounds that gave the core away
    std::uint64_t requeues = 0; ///< finished-at-once ops sent through the loop to keep it turning
  };
  [[nodiscard]] const statistics& stats() const noexcept { return m_stats; }

  /// Time until the next timer is due, for an external loop's sleep bound.
  [[nodiscard]] std::optional<std::chrono::nanoseconds> time_to_next_timer() const {
    if (m_timers.empty())
      return std::nullopt;
    const auto left = m_timers.begin()->first - detail::clock::now();
    return left.count() > 0 ? std::chrono::duration_cast<std::chrono::nanoseconds>(left)
                            : std::chrono::nanoseconds{0};
  }

  // ---- callable from any thread --------------------------------------------

  /// Runs `fn` on the worker's thread and wakes the loop.
  void post(std::function<void()> fn) {
    {
      std::lock_guard lock{m_foreign_mutex};
      m_posted.push_back(std::move(fn));
    }
    m_has_foreign_work.store(true, std::memory_order_release);
    wake();
  }

  /// Asks the loop to run node.cancel on the worker's thread. Idempotent.
  void request_cancel(detail::cancel_node& node) noexcept {
    {
      std::lock_guard lock{m_foreign_mutex};
      if (node.queued)
        return;
      node.queued = true;
      m_cancels.push_front(node);
    }
    m_has_foreign_work.store(true, std::memory_order_release);
    wake();
  }

  /// Worker thread only: forget a cancellation that was requested but has
  /// not run (the operation completed first).
  void withdraw_cancel(detail::cancel_node& node) noexcept {
    std::lock_guard lock{m_foreign_mutex};
    if (!node.queued)
      return;
    m_cancels.erase(node);
    node.queued = false;
  }

  /// Wakes a loop sleeping in epoll (epoll_set::wake).
  void wake() noexcept { m_events.wake(); }

private:
  void run_round_hooks() {
    for (auto* node = m_round_hooks.front(); node != nullptr;) {
      auto* next = node->next; // on_round may unlink its own node
      auto* hook = static_cast<detail::round_hook*>(node);
      hook->on_round(hook);
      node = next;
    }
  }

  bool drain_ready() {
    if (m_ready.empty())
      return false;
    // Resume only this batch: what they schedule runs next round, after UCX
    // has been progressed again. The batch is a local so that a nested
    // run_until (a scope drained from inside a coroutine) cannot disturb it;
    // the spare buffer keeps the steady state allocation-free.
    std::vector<std::coroutine_handle<>> batch = std::move(m_spare);
    batch.clear();
    batch.swap(m_ready);
    for (std::size_t i = 0; i < batch.size(); ++i)
      batch[i].resume();
    batch.clear();
    if (batch.capacity() > m_spare.capacity())
      m_spare = std::move(batch);
    return true;
  }

  bool run_foreign_work() {
    std::vector<std::function<void()>> posted;
    std::vector<detail::cancel_node*> cancels;
    {
      std::lock_guard lock{m_foreign_mutex};
      m_has_foreign_work.store(false, std::memory_order_relaxed);
      posted.swap(m_posted);
      while (!m_cancels.empty()) {
        auto& node = m_cancels.pop_front<detail::cancel_node>();
        node.queued = false;
        cancels.push_back(&node);
      }
    }
    // Nodes stay alive: only this thread completes their operations, and a
    // cancel only records a status and schedules a resumption.
    for (auto* node : cancels)
      node->cancel(node);
    for (auto& fn : posted)
      fn();
    return !posted.empty() || !cancels.empty();
  }

  bool fire_timers() {
    const auto now = detail::clock::now();
    bool fired = false;
    while (!m_timers.empty() && m_timers.begin()->first <= now) {
      detail::timer_node* node = m_timers.begin()->second;
      m_timers.erase(m_timers.begin());
      node->armed = false;
      node->fire(node);
      fired = true;
    }
    return fired;
  }

  void wait_for_events() {
    int timeout_ms = -1;
    if (auto left = time_to_next_timer()) {
      if (left->count() == 0)
        return;
      // Round up: waking early would spin until the deadline.
      timeout_ms = static_cast<int>((left->count() + 999'999) / 1'000'000);
    }
    if (!arm()) {
      // UCX reports events, yet progress found none. Briefly that is a race;
      // for good it is a shared-memory FIFO slot that a killed peer claimed
      // and never wrote (docs/failure.md): arm() stays BUSY, the worker's fd
      // stays readable, and a blocking worker would spin a core forever.
      // After a run of such rounds, nap up to 1 ms between rounds on the
      // other fds (wake-ups, watched fds), the worker's fd muted.
      if (++m_unarmable_rounds >= unarmable_rounds_before_nap) {
        ++m_stats.naps;
        set_worker_fd(worker_fd::muted);
        (void)m_events.wait(timeout_ms < 0 ? 1 : std::min(timeout_ms, 1));
      }
      return;
    }
    m_unarmable_rounds = 0;
    ++m_stats.sleeps;
    (void)m_events.wait(timeout_ms);
  }

  enum class worker_fd : bool { watched, muted };
  void set_worker_fd(worker_fd state) {
    const bool mute = state == worker_fd::muted;
    if (mute == m_worker_fd_muted)
      return;
    m_events.set_muted(m_worker_fd, mute);
    m_worker_fd_muted = mute;
  }

  ucp_worker_h m_worker;
  progress_mode m_mode;
  detail::epoll_set m_events;
  int m_worker_fd = -1;
  unsigned m_poll_round = 0;
  static constexpr unsigned unarmable_rounds_before_nap = 1000;
  unsigned m_unarmable_rounds = 0;
  // A round costs ~50 ns of UCX progress plus a clock read every 16th: per
  // 64 inline continuations of >= 100 ns each, lost in the noise.
  static constexpr unsigned inline_continuations_per_round = 64;
  unsigned m_inline_left = inline_continuations_per_round;
  statistics m_stats;
  bool m_worker_fd_muted = false;
  detail::clock::time_point m_last_fd_poll{};
  std::uint64_t m_memory_types = UCS_BIT(UCS_MEMORY_TYPE_HOST);

  std::vector<std::coroutine_handle<>> m_ready;
  std::vector<std::coroutine_handle<>> m_spare;
  std::multimap<detail::clock::time_point, detail::timer_node*> m_timers;

  std::mutex m_foreign_mutex;
  std::atomic<bool> m_has_foreign_work{false};
  std::vector<std::function<void()>> m_posted;
  detail::basic_intrusive_list<detail::cancel_node> m_cancels;
  detail::basic_intrusive_list<detail::round_hook> m_round_hooks;
};

} // namespace ucoro
