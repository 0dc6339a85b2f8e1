#pragma once
// A child process for two-process tests: spawned with its stdout on a pipe,
// read line by line with a deadline, killed and reaped with a bound. The
// destructor kills it, so a failing test never leaves one behind.

#include <ucoro/p2p/detail/socket.hpp>
#include <ucoro/task.hpp>
#include <ucoro/worker.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace ucoro::test {

class child_process {
public:
  explicit child_process(std::vector<std::string> argv) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe2 failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(a.data());
    args.push_back(nullptr);
    const int rc = posix_spawn(&m_pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    m_out = fds[0];
    if (rc != 0) {
      ::close(m_out);
      throw std::runtime_error("posix_spawn " + argv[0] + " failed");
    }
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process() {
    if (m_pid > 0 && !m_reaped) {
      ::kill(m_pid, SIGKILL);
      (void)wait_exit(std::chrono::seconds(10));
    }
    ::close(m_out);
  }

  [[nodiscard]] pid_t pid() const noexcept { return m_pid; }

  /// The next line of the child's stdout, or nothing by the deadline / at EOF.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto nl = m_buffer.find('\n'); nl != std::string::npos) {
        std::string line = m_buffer.substr(0, nl);
        m_buffer.erase(0, nl + 1);
        return line;
      }
      // Poll at least once, even with no time left (a zero timeout peeks).
      const auto left = std::max<long long>(
          0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
      pollfd p{m_out, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) {
        if (left == 0)
          return std::nullopt;
        continue;
      }
      char chunk[512];
      const ssize_t n = ::read(m_out, chunk, sizeof chunk);
      if (n <= 0)
        return std::nullopt;
      m_buffer.append(chunk, static_cast<std::size_t>(n));
    }
  }

  /// The next line, awaited on the worker's loop (the pipe sleeps in its
  /// epoll set): bounded by the awaiting coroutine's timeout. Throws
  /// runtime_error at EOF.
  ucoro::task<std::string> next_line(ucoro::worker& w) {
    for (;;) {
      if (auto line = read_line(std::chrono::milliseconds(0)))
        co_return std::move(*line);
      pollfd p{m_out, POLLIN, 0};
      if (::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) == 0)
        throw std::runtime_error("the child closed its output");
      co_await ucoro::detail::fd_wait{w.engine(), m_out, EPOLLIN};
    }
  }

  /// The next line that is the program's own: UCX logs its warnings to
  /// stdout ("[time] [host:pid:thread] file.c:line UCX WARN ..."), at
  /// moments no test controls; those go to stderr for the test log.
  std::optional<std::string> read_output_line(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto line = read_line(std::chrono::duration_cast<std::chrono::milliseconds>(
          std::max(deadline - std::chrono::steady_clock::now(), std::chrono::steady_clock::duration::zero())));
      if (!line || line->empty() || line->front() != '[' || line->find(" UCX ") == std::string::npos)
        return line;
      std::fprintf(stderr, "(child %d) %s\n", static_cast<int>(m_pid), line->c_str());
    }
  }

  /// Reads lines until one starts with `prefix`; returns the rest of it.
  std::optional<std::string> expect(const std::string& prefix, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto line = read_line(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
      if (!line)
        return std::nullopt;
      if (line->rfind(prefix, 0) == 0)
        return line->substr(prefix.size());
    }
    return std::nullopt;
  }

  void kill(int signal = SIGKILL) { ::kill(m_pid, signal); }

  /// Exit status (or 128 + signal), or nothing if it has not exited in time.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      int status = 0;
      const pid_t r = ::waitpid(m_pid, &status, WNOHANG);
      if (r == m_pid) {
        m_reaped = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() >= deadline)
        return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(5)); // bounded poll of waitpid (deadline above): a pidfd needs Linux >= 5.3 headers
    }
  }

private:
  pid_t m_pid = -1;
  int m_out = -1;
  bool m_reaped = false;
  std::string m_buffer;
};

} // namespace ucoro::test
