#pragma once
// What the benchmarks share to read sizes and report figures: sizes with
// units, median [min-max] summaries (the machine is small and noisy), and
// JSON through nlohmann-json.

#include "perftest.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace bench {

inline std::size_t parse_size(const std::string& text) {
  std::size_t pos = 0;
  const std::size_t v = std::stoull(text, &pos);
  const std::string unit = text.substr(pos);
  if (unit.empty() || unit == "B")
    return v;
  if (unit == "K" || unit == "KiB")
    return v << 10;
  if (unit == "M" || unit == "MiB")
    return v << 20;
  throw std::invalid_argument("size '" + text + "': use a number with B, K or M");
}

/// "4K,1M" -> {4096, 1048576}
inline std::vector<std::size_t> parse_size_list(const std::string& text) {
  std::vector<std::size_t> out;
  std::stringstream items(text);
  for (std::string item; std::getline(items, item, ',');)
    out.push_back(parse_size(item));
  return out;
}

inline std::string format_size(std::size_t size) {
  if (size >= (1U << 20) && size % (1U << 20) == 0)
    return std::to_string(size >> 20) + " MiB";
  if (size >= 1024 && size % 1024 == 0)
    return std::to_string(size >> 10) + " KiB";
  return std::to_string(size) + " B";
}

struct stats {
  double median = NAN, min = NAN, max = NAN;
};
inline stats summarize(const std::vector<double>& v) { return {median(v), min_of(v), max_of(v)}; }

inline std::string num(double v, int precision = 2) {
  if (std::isnan(v))
    return "-";
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", precision, v);
  return text;
}
inline std::string spread(const stats& s, int precision = 2) {
  return num(s.median, precision) + " [" + num(s.min, precision) + "-" + num(s.max, precision) + "]";
}
/// A summary as JSON (nlohmann writes NaN, a figure not measured, as null).
inline nlohmann::json json_stats(const stats& s) { return {{"median", s.median}, {"min", s.min}, {"max", s.max}}; }

/// `value` as JSON into `path`, indented; a failed write throws naming the file.
inline void write_json_file(const std::string& path, const nlohmann::json& value) {
  std::ofstream out(path);
  out << value.dump(2) << '\n';
  if (!out.flush())
    throw std::runtime_error(path + ": write failed");
}

/// One line of a plot: (x, y) points.
struct plot_series {
  std::string name;
  std::vector<std::pair<double, double>> points;
};
/// One panel of a multiplot, log-log.
struct plot_panel {
  std::string title, xlabel, ylabel;
  std::vector<plot_series> series;
};

/// Writes `png` with gnuplot (its data beside it, in PNG.data/), one panel
/// per entry side by side. False, with the reason on stderr, when gnuplot
/// is missing or fails: a plot is an extra, never the figures themselves.
inline bool write_png(const std::string& png, const std::string& title, const std::vector<plot_panel>& panels,
                      const char* who) {
  const std::string dir = png + ".data";
  std::filesystem::create_directories(dir);
  // gnuplot's single-quoted strings: a quote is written twice.
  auto quoted = [](const std::string& text) {
    std::string out;
    for (char c : text)
      out += c == '\'' ? std::string("''") : std::string(1, c);
    return out;
  };
  std::string script = "set terminal pngcairo size " + std::to_string(700 * panels.size()) +
                       ",600 noenhanced\nset output '" + png + "'\nset multiplot layout 1," +
                       std::to_string(panels.size()) + " title '" + quoted(title) +
                       "'\nset logscale xy\nset grid\nset key left top\n";
  int index = 0;
  for (const plot_panel& panel : panels) {
    std::string plot;
    for (const plot_series& series : panel.series) {
      const std::string file = dir + "/series" + std::to_string(index++) + ".dat";
      std::ofstream data(file);
      for (const auto& [x, y] : series.points)
        data << x << " " << y << "\n";
      plot += (plot.empty() ? "" : ", ") + ("'" + file + "' using 1:2 with linespoints title '" + quoted(series.name) + "'");
    }
    script += "set title '" + quoted(panel.title) + "'\nset xlabel '" + quoted(panel.xlabel) + "'\nset ylabel '" +
              quoted(panel.ylabel) +
              "'\nplot " + plot + "\n";
  }
  script += "unset multiplot\n";
  FILE* gp = ::popen("gnuplot 2>&1", "w");
  if (gp == nullptr) {
    std::fprintf(stderr, "%s: gnuplot not found; no plot\n", who);
    return false;
  }
  std::fputs(script.c_str(), gp);
  if (::pclose(gp) != 0) {
    std::fprintf(stderr, "%s: gnuplot failed (is gnuplot-nox installed?); no plot\n", who);
    return false;
  }
  return true;
}

} // namespace bench
