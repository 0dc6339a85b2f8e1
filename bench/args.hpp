#pragma once
// Command-line walking shared by the benchmarks:
//
//   for (bench::arguments args{argc, argv}; args.next();)
//     if (args.flag() == "--size") size = std::stoull(args.value());

#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

class arguments {
public:
  arguments(int argc, char** argv) noexcept : m_argc(argc), m_argv(argv) {}

  /// Moves to the next argument; false past the last.
  bool next() noexcept { return ++m_index < m_argc; }
  [[nodiscard]] std::string flag() const { return m_argv[m_index]; }

  /// The current flag's value (the argument after it); a missing one is an
  /// error naming the flag.
  std::string value() {
    if (m_index + 1 >= m_argc)
      throw std::invalid_argument(flag() + " needs a value");
    return m_argv[++m_index];
  }

private:
  int m_argc;
  char** m_argv;
  int m_index = 0;
};

/// "a,b,c" -> {"a", "b", "c"}
inline std::vector<std::string> split(const std::string& text, char separator = ',') {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, separator);)
    out.push_back(item);
  return out;
}

} // namespace bench
