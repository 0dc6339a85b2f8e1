// ucoro-join: the distributed hash join of two CSV files, on the ranks the
// launcher started (mpirun, UCORO_* variables, or one process).
//
//   ucoro-join --help
//   ucoro-join --left L.csv --right R.csv --output PREFIX [--how inner|left|semi|anti]
//              [--algorithm auto|shuffle|broadcast] [--over-decomposition M] [--threads T]
//   ucoro-join --generate LxR [--keys uniform|zipf:S] [--match F] [--seed N]
//              [--repeat K] [--verify] [--save-csv PREFIX] [--how ...] [--algorithm ...]
//              [--over-decomposition M]                          (benchmark mode)
//
// The files have a header line; column 1 is the key, the others payloads,
// all signed 64-bit integers. Each rank reads its own byte range of each
// file (the lines that start in it) and writes PREFIX.<rank>.csv: the key,
// the left payloads, the right payloads (empty for a left join's unmatched
// rows; none for semi and anti). A file is written under a temporary name
// and renamed once complete. Any bad input (a missing file, a non-integer
// field, a line with the wrong number of fields) is reported with its file
// and line, every rank exits non-zero, and no output is left behind.
//
// Benchmark mode generates the tables on each rank (join_data.hpp), joins
// them K times and prints run/summary lines; --verify then checks the
// result against a single-process join of the same data ("verified: N
// rows"), and --save-csv (one rank) writes the data as the CSV files the
// first form reads (for DuckDB or SQLite to join the same rows).

#include "join_data.hpp"

#include <ucoro/join/hash_join.hpp>
#include <ucoro/ucoro.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr const char* usage_text = R"(usage: ucoro-join --left L.csv --right R.csv --output PREFIX [options]
       ucoro-join --generate LxR [benchmark options] [options]
       ucoro-join --help

The distributed hash join of two CSV files on the ranks the launcher started
(mpirun, UCORO_* variables, or one process). The files have a header line;
column 1 is the key, the others payloads, all signed 64-bit integers. Each
rank reads its share of each file and writes PREFIX.<rank>.csv: the key, the
left payloads, the right payloads.

options:
  --left FILE                 the left table (CSV)
  --right FILE                the right table (CSV)
  --output PREFIX             write PREFIX.<rank>.csv on each rank
  --how inner|left|semi|anti  the join kind (default inner)
  --algorithm auto|shuffle|broadcast
                              shuffle both sides, or broadcast the right one
                              (default auto)
  --over-decomposition M      M partitions per rank, so that a partition's
                              local join overlaps the next one's shuffle
  --threads T                 local join threads per rank (1 to 1024)

benchmark options (with --generate LxR: L left and R right rows per rank):
  --keys uniform|zipf:S       the key distribution (default uniform)
  --match F                   the fraction of left keys that match (0 to 1)
  --seed N                    the generator's seed
  --repeat K                  join K times and report each run
  --verify                    check against a single-process join
  --save-csv PREFIX           write the generated tables as CSV (one rank)
  -h, --help                  print this and exit
)";

using table_t = ucoro::join::table<std::int64_t, std::vector<std::vector<std::int64_t>>>;

struct options {
  std::string left, right, output;
  ucoro::join::hash_join_options join;
  bool generate = false, verify = false;
  join_data::spec data;
  std::string keys = "uniform", save_csv;
  int repeat = 1;
  bool help = false;
};

/// One rank's share of a CSV file, or the first problem with it.
struct read_result {
  std::vector<std::string> names; ///< header fields
  table_t rows;
  std::uint64_t lines = 0;            ///< lines this rank parsed
  std::int64_t bad_line = -1;         ///< index among them of the first bad one
  std::string problem;                ///< what was wrong (with bad_line), or a file-level error
};

std::vector<std::string> split_fields(std::string_view line) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = line.find(',', start);
    out.emplace_back(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos)
      return out;
    start = comma + 1;
  }
}

/// The lines whose first byte lies in this rank's byte range [size*r/n, size*(r+1)/n),
/// read in one piece and parsed in place with from_chars (no string per field).
read_result read_share(const std::string& path, std::uint32_t rank, std::uint32_t ranks) {
  read_result out;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    out.problem = "cannot open";
    return out;
  }
  std::string header;
  std::getline(in, header);
  if (!header.empty() && header.back() == '\r')
    header.pop_back();
  out.names = split_fields(header);
  if (header.empty() || out.names.size() < 1) {
    out.problem = "no header line";
    return out;
  }
  const std::uint64_t body = static_cast<std::uint64_t>(in.tellg() < 0 ? 0 : static_cast<std::uint64_t>(in.tellg()));
  const std::uint64_t size = std::filesystem::file_size(path);
  const std::uint64_t span = size > body ? size - body : 0;
  const std::uint64_t begin = body + span * rank / ranks, end = body + span * (rank + 1) / ranks;
  // From the byte before ours (to see whether a line starts at `begin`) to
  // the end of the last line that starts before `end`.
  const std::uint64_t from = begin == body ? body : begin - 1;
  std::string data(end - from, '\0');
  in.seekg(static_cast<std::streamoff>(from));
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<std::size_t>(in.gcount()));
  if (!data.empty() && data.back() != '\n' && end < size)
    for (std::string chunk(1 << 16, '\0');;) { // the last line runs past `end`
      in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      const auto got = static_cast<std::size_t>(in.gcount());
      const std::size_t newline = std::string_view(chunk.data(), got).find('\n');
      data.append(chunk.data(), newline == std::string_view::npos ? got : newline + 1);
      if (newline != std::string_view::npos || got == 0)
        break;
    }
  std::size_t at = 0;
  if (begin != body) // the line holding byte begin-1 belongs to an earlier rank
    at = data.find('\n') == std::string::npos ? data.size() : data.find('\n') + 1;
  const std::size_t columns = out.names.size();
  out.rows.payloads.resize(columns - 1);
  const std::size_t estimate = (data.size() - at) / (columns * 8 + 1);
  out.rows.keys.reserve(estimate);
  for (auto& column : out.rows.payloads)
    column.reserve(estimate);
  while (at < data.size()) {
    std::size_t eol = data.find('\n', at);
    const bool last_in_file = eol == std::string::npos || from + eol + 1 >= size;
    if (eol == std::string::npos)
      eol = data.size();
    std::string_view line(data.data() + at, eol - at);
    at = eol + 1;
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    const std::uint64_t index = out.lines++;
    if (line.empty() && last_in_file)
      break; // a final newline
    const char* p = line.data();
    const char* const stop = line.data() + line.size();
    for (std::size_t f = 0; f < columns; ++f) {
      const char* comma = std::find(p, stop, ',');
      const bool wrong_count = (f + 1 < columns) == (comma == stop);
      if (wrong_count) {
        out.bad_line = static_cast<std::int64_t>(index);
        out.problem = std::to_string(std::count(line.begin(), line.end(), ',') + 1) + " fields, the header has " +
                      std::to_string(columns);
        return out;
      }
      std::int64_t value = 0;
      const auto [ptr, ec] = std::from_chars(p, comma, value);
      if (ec != std::errc{} || ptr != comma || p == comma) {
        out.bad_line = static_cast<std::int64_t>(index);
        out.problem = "field " + std::to_string(f + 1) + " ('" + std::string(p, comma) + "') is not a 64-bit integer";
        return out;
      }
      (f == 0 ? out.rows.keys : out.rows.payloads[f - 1]).push_back(value);
      p = comma == stop ? stop : comma + 1;
    }
  }
  return out;
}

/// Every rank learns every rank's problem; the first (by rank) becomes the
/// error, naming the file and its line (the header is line 1).
ucoro::task<void> agree_on_input(ucoro::communicator& comm, const std::string& path, const read_result& r) {
  struct share {
    std::uint64_t lines;
    std::int64_t bad_line;
    std::uint8_t file_problem;
  };
  const auto all = co_await comm.all_gather(share{r.lines, r.bad_line, static_cast<std::uint8_t>(r.problem.empty() ? 0 : 1)});
  std::uint64_t before = 0;
  for (std::uint32_t rank = 0; rank < comm.size(); ++rank) {
    if (all[rank].file_problem) {
      if (rank == comm.rank())
        throw std::runtime_error(path + (r.bad_line >= 0 ? ":" + std::to_string(before + 2 + r.bad_line) : "") + ": " +
                                 r.problem);
      throw std::runtime_error(path + ": rank " + std::to_string(rank) + " found bad input");
    }
    before += all[rank].lines;
  }
}

std::string field(std::int64_t v) { return std::to_string(v); }

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void write_csv(const std::string& path, const char* header, const join_data::table_t& t) {
  std::ofstream out(path, std::ios::trunc);
  out << header << '\n';
  std::string line;
  for (std::size_t i = 0; i < t.size(); ++i) {
    line = field(t.keys[i]);
    for (const auto& column : t.payloads)
      line += "," + field(column[i]);
    out << line << '\n';
  }
  if (!out.flush())
    throw std::runtime_error(path + ": write failed");
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

/// Benchmark mode: generated tables, K timed joins, optional verification.
ucoro::task<int> run_generated(ucoro::communicator& comm, const options& o) {
  using ucoro::join::join_how;
  const std::uint32_t me = comm.rank(), n = comm.size();
  join_data::table_t left, right;
  join_data::generator(o.data).make(me, n, left, right);
  if (!o.save_csv.empty()) {
    if (n != 1)
      throw std::invalid_argument("--save-csv writes whole files: run it on one rank");
    write_csv(o.save_csv + ".left.csv", "k,lv", left);
    write_csv(o.save_csv + ".right.csv", "k,rv", right);
    std::printf("wrote %s.left.csv and %s.right.csv\n", o.save_csv.c_str(), o.save_csv.c_str());
  }
  std::vector<double> wall, partition, shuffle, build, probe, output, overlap;
  ucoro::join::hash_join_report report;
  std::uint64_t rows_out = 0, bytes = 0;
  using result_t = ucoro::join::joined<join_data::table_t, join_data::table_t>;
  result_t result;
  ucoro::join::hash_table_memory memory; // run 0 is the cold start, the others reuse its tables
  for (int rep = 0; rep < o.repeat; ++rep) {
    result = result_t{};
    ucoro::join::hash_join_options jo = o.join;
    jo.report = &report;
    jo.memory = &memory;
    co_await comm.barrier(); // every rank starts together: the slowest rank's time is the join's
    const auto t0 = std::chrono::steady_clock::now();
    result = co_await ucoro::join::hash_join(comm, left, right, jo);
    // One collective for every rank's figures: the slowest rank's times, the sums.
    struct figures {
      double wall, partition, shuffle, build, probe, output;
      std::uint64_t rows, bytes;
    };
    const auto all = co_await comm.all_gather(figures{seconds_since(t0), report.partition_s, report.shuffle_s,
                                                      report.build_s, report.probe_s, report.output_s, result.size(),
                                                      report.bytes.sent});
    const auto slowest = [&](double figures::*f) {
      double m = 0;
      for (const figures& r : all)
        m = std::max(m, r.*f);
      return m;
    };
    wall.push_back(slowest(&figures::wall));
    partition.push_back(slowest(&figures::partition));
    shuffle.push_back(slowest(&figures::shuffle));
    build.push_back(slowest(&figures::build));
    probe.push_back(slowest(&figures::probe));
    output.push_back(slowest(&figures::output));
    overlap.push_back(report.overlap_efficiency);
    rows_out = bytes = 0;
    for (const figures& r : all) {
      rows_out += r.rows;
      bytes += r.bytes;
    }
    if (me == 0)
      std::printf("run ucoro_join rep=%d s=%.3f total_Mrows_s=%.2f rows_out=%llu\n", rep, wall.back(),
                  static_cast<double>(o.data.left_rows + o.data.right_rows) / wall.back() / 1e6,
                  static_cast<unsigned long long>(rows_out));
    std::fflush(stdout);
  }
  if (me == 0) {
    const double s = median_of(wall), sh = median_of(shuffle);
    const double rows = static_cast<double>(o.data.left_rows + o.data.right_rows);
    std::printf("ucoro-join: %u ranks, %s, %s, M=%u: %llu + %llu rows in (generated, %s keys, match %.2f, seed %llu), "
                "%llu rows out\n",
                n, ucoro::join::to_string(o.join.how), ucoro::join::to_string(report.algorithm),
                o.join.over_decomposition, static_cast<unsigned long long>(o.data.left_rows),
                static_cast<unsigned long long>(o.data.right_rows), o.keys.c_str(), o.data.match,
                static_cast<unsigned long long>(o.data.seed), static_cast<unsigned long long>(rows_out));
    std::printf("  median of %d: %.3f s [%.3f-%.3f]; partition %.3f s, shuffle %.3f s, build %.3f s, probe %.3f s, "
                "output %.3f s (slowest rank each)\n",
                o.repeat, s, *std::min_element(wall.begin(), wall.end()), *std::max_element(wall.begin(), wall.end()),
                median_of(partition), sh, median_of(build), median_of(probe), median_of(output));
    std::printf("summary ucoro_join ranks=%u threads=%u how=%s algorithm=%s M=%u keys=%s left=%llu right=%llu rows_out=%llu "
                "median_s=%.4f min_s=%.4f max_s=%.4f total_Mrows_s=%.2f per_rank_Mrows_s=%.2f partition_s=%.4f "
                "shuffle_s=%.4f build_s=%.4f probe_s=%.4f output_s=%.4f shuffle_GBs=%.3f overlap=%.2f\n",
                n, o.join.threads, ucoro::join::to_string(o.join.how), ucoro::join::to_string(report.algorithm),
                o.join.over_decomposition, o.keys.c_str(), static_cast<unsigned long long>(o.data.left_rows),
                static_cast<unsigned long long>(o.data.right_rows), static_cast<unsigned long long>(rows_out), s,
                *std::min_element(wall.begin(), wall.end()), *std::max_element(wall.begin(), wall.end()),
                rows / s / 1e6, rows / s / 1e6 / n, median_of(partition), sh, median_of(build), median_of(probe),
                median_of(output), sh > 0 ? static_cast<double>(bytes) / sh / 1e9 : 0.0, median_of(overlap));
    std::fflush(stdout);
  }
  if (!o.verify)
    co_return 0;
  join_data::checksum mine;
  const bool with_right = o.join.how == join_how::inner || o.join.how == join_how::left;
  for (std::size_t i = 0; i < result.size(); ++i)
    mine.add(result.keys[i], result.left[0][i],
             !with_right || (o.join.how == join_how::left && result.matched[i] == 0)
                 ? join_data::checksum::no_right
                 : static_cast<std::uint64_t>(result.right[0][i]));
  const auto all = co_await comm.all_reduce(std::array<std::uint64_t, 2>{mine.rows, mine.sum}, [](auto a, const auto& b) {
    a[0] += b[0];
    a[1] += b[1];
    return a;
  });
  std::array<std::uint64_t, 3> verdict{}; // ok, expected rows, expected sum: rank 0 joins it all alone
  if (me == 0) {
    const join_data::checksum expected = join_data::single_process(o.data, o.join.how);
    verdict = {expected.rows == all[0] && expected.sum == all[1] ? 1U : 0U, expected.rows, expected.sum};
  }
  co_await comm.broadcast(verdict, 0);
  if (verdict[0] != 1)
    throw std::runtime_error("verification failed: " + std::to_string(all[0]) + " rows (checksum " +
                             std::to_string(all[1]) + "), a single-process join gives " + std::to_string(verdict[1]) +
                             " rows (checksum " + std::to_string(verdict[2]) + ")");
  if (me == 0)
    std::printf("verified: %llu rows (the same rows as a single-process join of the same data)\n",
                static_cast<unsigned long long>(all[0]));
  co_return 0;
}

ucoro::task<int> run(ucoro::worker& w, const options& o) {
  ucoro::communicator comm = co_await ucoro::communicator::bootstrap(w);
  if (o.generate)
    co_return co_await run_generated(comm, o);
  const std::uint32_t me = comm.rank(), n = comm.size();
  const auto t0 = std::chrono::steady_clock::now();
  read_result left = read_share(o.left, me, n), right = read_share(o.right, me, n);
  co_await agree_on_input(comm, o.left, left);
  co_await agree_on_input(comm, o.right, right);
  for (std::size_t a = 1; a < left.names.size(); ++a)
    for (std::size_t b = 1; b < right.names.size(); ++b)
      if (left.names[a] == right.names[b])
        throw std::runtime_error(o.left + " and " + o.right + ": both have a payload column '" + left.names[a] +
                                 "' (names must be distinct across the two files)");
  const double read_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ucoro::join::hash_join_options jo = o.join;
  ucoro::join::hash_join_report report;
  jo.report = &report;
  const auto result = co_await ucoro::join::hash_join(comm, left.rows, right.rows, jo);

  const auto t1 = std::chrono::steady_clock::now();
  const std::string final_name = o.output + "." + std::to_string(me) + ".csv", temporary = final_name + ".partial";
  {
    std::ofstream out(temporary, std::ios::trunc);
    if (!out)
      throw std::runtime_error(temporary + ": cannot write");
    const bool with_right = jo.how == ucoro::join::join_how::inner || jo.how == ucoro::join::join_how::left;
    std::string line = left.names[0];
    for (std::size_t c = 1; c < left.names.size(); ++c)
      line += "," + left.names[c];
    if (with_right)
      for (std::size_t c = 1; c < right.names.size(); ++c)
        line += "," + right.names[c];
    out << line << '\n';
    // Formatted with to_chars into one buffer, written a megabyte at a time.
    std::vector<char> text;
    text.reserve((1 << 20) + 1024);
    auto put = [&](std::int64_t v) {
      char digits[24];
      text.insert(text.end(), digits, std::to_chars(digits, digits + sizeof digits, v).ptr);
    };
    for (std::size_t i = 0; i < result.size(); ++i) {
      put(result.keys[i]);
      for (const auto& column : result.left) {
        text.push_back(',');
        put(column[i]);
      }
      if (with_right) {
        const bool matched = jo.how != ucoro::join::join_how::left || result.matched[i] != 0;
        for (const auto& column : result.right) {
          text.push_back(',');
          if (matched)
            put(column[i]);
        }
      }
      text.push_back('\n');
      if (text.size() >= (1 << 20) || i + 1 == result.size()) {
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
        text.clear();
      }
    }
    if (!out.flush())
      throw std::runtime_error(temporary + ": write failed");
  }
  // Renamed only once every rank has written its part, so no complete-looking
  // set of outputs exists unless the whole join succeeded.
  std::exception_ptr failed;
  try {
    co_await comm.barrier();
    std::filesystem::rename(temporary, final_name);
  } catch (...) {
    failed = std::current_exception();
  }
  if (failed) {
    std::filesystem::remove(temporary);
    std::rethrow_exception(failed);
  }
  const double write_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  const std::uint64_t rows = co_await comm.all_reduce(std::uint64_t{result.size()}, std::plus<>{});
  if (me == 0) {
    const double total = read_s + report.total_s + write_s;
    std::printf("ucoro-join: %u ranks, %s, %s: %llu + %llu rows in, %llu rows out\n", n,
                ucoro::join::to_string(jo.how), ucoro::join::to_string(report.algorithm),
                static_cast<unsigned long long>(report.left_rows), static_cast<unsigned long long>(report.right_rows),
                static_cast<unsigned long long>(rows));
    std::printf("  rank 0: read %.3f s, partition %.3f s, shuffle %.3f s, build %.3f s, probe %.3f s, output %.3f s, "
                "write %.3f s\n",
                read_s, report.partition_s, report.shuffle_s, report.build_s, report.probe_s, report.output_s, write_s);
    std::printf("  %.2f M rows/s (build + probe rows / total time), %.2f per rank\n",
                static_cast<double>(report.left_rows + report.right_rows) / total / 1e6,
                static_cast<double>(report.left_rows + report.right_rows) / total / 1e6 / n);
  }
  co_return 0;
}

/// `text` as a number, if all of it is one.
std::optional<double> number(const std::string& text) {
  std::size_t used = 0;
  try {
    const double v = std::stod(text, &used);
    if (used == text.size())
      return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      o.help = true;
      return o;
    }
    if (a == "--left")
      o.left = value();
    else if (a == "--right")
      o.right = value();
    else if (a == "--output")
      o.output = value();
    else if (a == "--how") {
      const std::string h = value();
      if (h == "inner")
        o.join.how = ucoro::join::join_how::inner;
      else if (h == "left")
        o.join.how = ucoro::join::join_how::left;
      else if (h == "semi")
        o.join.how = ucoro::join::join_how::semi;
      else if (h == "anti")
        o.join.how = ucoro::join::join_how::anti;
      else
        throw std::invalid_argument("--how " + h + ": inner, left, semi or anti");
    } else if (a == "--algorithm") {
      const std::string v = value();
      if (v == "auto")
        o.join.algorithm = ucoro::join::join_algorithm::automatic;
      else if (v == "shuffle")
        o.join.algorithm = ucoro::join::join_algorithm::shuffle;
      else if (v == "broadcast")
        o.join.algorithm = ucoro::join::join_algorithm::broadcast;
      else
        throw std::invalid_argument("--algorithm " + v + ": auto, shuffle or broadcast");
    } else if (a == "--over-decomposition") {
      const std::string v = value();
      o.join.over_decomposition = static_cast<std::uint32_t>(std::stoul(v));
      if (o.join.over_decomposition == 0)
        throw std::invalid_argument("--over-decomposition must be at least 1");
    } else if (a == "--threads") {
      const std::string v = value();
      o.join.threads = static_cast<unsigned>(std::stoul(v));
      if (o.join.threads == 0 || o.join.threads > 1024)
        throw std::invalid_argument("--threads " + v + ": 1 to 1024");
    } else if (a == "--generate") {
      o.generate = true;
      join_data::parse_shape(value(), o.data);
    } else if (a == "--keys") {
      o.keys = value();
      if (o.keys.rfind("zipf:", 0) == 0) {
        const std::optional<double> s = number(o.keys.substr(5));
        if (!s || !(*s > 0))
          throw std::invalid_argument("--keys " + o.keys + ": the zipf exponent must be a number > 0");
        o.data.zipf = *s;
      } else if (o.keys != "uniform") {
        throw std::invalid_argument("--keys " + o.keys + ": uniform or zipf:S");
      }
    } else if (a == "--match") {
      const std::string v = value();
      const std::optional<double> f = number(v);
      if (!f || !(*f >= 0 && *f <= 1))
        throw std::invalid_argument("--match " + v + ": a fraction between 0 and 1");
      o.data.match = *f;
    } else if (a == "--seed") {
      o.data.seed = std::stoull(value());
    } else if (a == "--repeat") {
      o.repeat = std::stoi(value());
      if (o.repeat < 1)
        throw std::invalid_argument("--repeat must be at least 1");
    } else if (a == "--verify") {
      o.verify = true;
    } else if (a == "--save-csv") {
      o.save_csv = value();
    } else {
      throw std::invalid_argument("unknown argument '" + a + "' (ucoro-join --help lists them)");
    }
  }
  if (o.generate) {
    if (!o.left.empty() || !o.right.empty() || !o.output.empty())
      throw std::invalid_argument("--generate makes its own tables: no --left, --right or --output");
    return o;
  }
  if (o.verify || o.repeat != 1 || !o.save_csv.empty() || o.keys != "uniform" || o.data.match != 1 || o.data.seed != 1)
    throw std::invalid_argument("--keys, --match, --seed, --repeat, --verify and --save-csv go with --generate");
  if (o.left.empty() || o.right.empty() || o.output.empty())
    throw std::invalid_argument("--left, --right and --output are required");
  return o;
}

} // namespace

int main(int argc, char** argv) {
  try {
    const options o = parse(argc, argv);
    if (o.help) {
      std::fputs(usage_text, stdout);
      return 0;
    }
    ucoro::context ctx;
    ucoro::worker w{ctx, ucoro::progress_mode::blocking};
    return w.run(ucoro::with_timeout(run(w, o), std::chrono::hours(1)));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ucoro-join: error: %s\n", e.what());
    return 1;
  }
}
