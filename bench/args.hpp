#pragma once
// Command lines of the benchmarks: CLI11 (Debian libcli11-dev) parses and
// converts; each benchmark declares its options on a CLI::App and checks
// what CLI11 cannot (values in a list, combinations) itself.
//
//   CLI::App app{"what it measures", "name"};
//   app.add_option("--size", size);
//   bench::parse(app, argc, argv);

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

/// Parses the command line into `app`'s options. --help prints CLI11's
/// listing and exits 0; a bad command line (an unknown option, a missing or
/// unconvertible value) is std::invalid_argument in CLI11's words.
inline void parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    std::exit(0);
  } catch (const CLI::ParseError& e) {
    throw std::invalid_argument(e.what());
  }
}

/// "a,b,c" -> {"a", "b", "c"}
inline std::vector<std::string> split(const std::string& text, char separator = ',') {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, separator);)
    out.push_back(item);
  return out;
}

} // namespace bench
