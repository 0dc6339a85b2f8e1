#pragma once
// The progress engine's sleeping place: an epoll set holding an eventfd for
// wake-ups from any thread, the UCX worker's event fd, and fds watched with
// a callback (a peer's pidfd). The epoll fd itself is pollable, so an
// external loop can watch just it.

#include <ucoro/runtime/detail/unique_fd.hpp>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <system_error>
#include <unordered_map>
#include <utility>

namespace ucoro::detail {

[[nodiscard]] inline std::system_error errno_error(const char* what) {
  return std::system_error(errno, std::generic_category(), what);
}

class epoll_set {
public:
  epoll_set() {
    m_epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!m_epoll)
      throw errno_error("epoll_create1 for the progress engine");
    m_wake.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!m_wake)
      throw errno_error("eventfd for the progress engine");
    add(m_wake.get());
  }

  [[nodiscard]] int fd() const noexcept { return m_epoll.get(); }

  /// Adds `fd` with no callback: its readiness only ends a wait (the UCX
  /// worker's event fd).
  void add(int fd, std::uint32_t events = EPOLLIN) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
      throw errno_error("adding an fd to the progress engine's epoll set");
  }

  /// Stops (mute) or resumes an added fd's events.
  void set_muted(int fd, bool mute) {
    epoll_event ev{};
    ev.events = mute ? 0U : static_cast<std::uint32_t>(EPOLLIN);
    ev.data.fd = fd;
    if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_MOD, fd, &ev) != 0)
      throw errno_error("muting or unmuting the UCX worker fd in the progress engine's epoll set");
  }

  /// Calls `on_ready` from wait() whenever `fd` has one of `events`
  /// (level-triggered; errors and hang-ups always count). One watch per fd.
  void watch(int fd, std::function<void()> on_ready, std::uint32_t events = EPOLLIN) {
    add(fd, events);
    m_watched[fd] = std::move(on_ready);
  }
  void unwatch(int fd) noexcept {
    if (m_watched.erase(fd) != 0)
      ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
  }
  [[nodiscard]] bool has_watched() const noexcept { return !m_watched.empty(); }

  /// Ends a wait, from any thread. An eventfd rather than
  /// ucp_worker_signal: its thread safety is a property of the syscall, not
  /// of how UCX was built.
  void wake() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(m_wake.get(), &one, sizeof one);
  }

  /// Waits up to `timeout_ms` (-1: no bound, 0: a look), consumes wake-ups
  /// and runs the callbacks of watched fds that are ready. True if one ran.
  bool wait(int timeout_ms) {
    epoll_event events[16];
    const int n = ::epoll_wait(m_epoll.get(), events, 16, timeout_ms);
    if (n < 0) {
      if (errno == EINTR)
        return false;
      throw errno_error("epoll_wait in the progress engine");
    }
    bool active = false;
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == m_wake.get()) {
        std::uint64_t count = 0;
        [[maybe_unused]] auto r = ::read(fd, &count, sizeof count);
      } else if (auto it = m_watched.find(fd); it != m_watched.end()) {
        auto callback = it->second; // it may unwatch itself
        callback();
        active = true;
      }
    }
    return active;
  }

private:
  unique_fd m_epoll;
  unique_fd m_wake;
  std::unordered_map<int, std::function<void()>> m_watched;
};

} // namespace ucoro::detail
