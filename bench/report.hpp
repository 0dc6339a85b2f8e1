#pragma once
// What the benchmarks share to read sizes and report figures: sizes with
// units, and median [min-max] summaries (the machine is small and noisy).

#include "perftest.hpp"

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
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
inline std::string json_stats(const stats& s) {
  auto j = [](double v) { return std::isnan(v) ? std::string("null") : num(v, 6); };
  return "{\"median\": " + j(s.median) + ", \"min\": " + j(s.min) + ", \"max\": " + j(s.max) + "}";
}

} // namespace bench
