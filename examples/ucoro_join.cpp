// ucoro-join: the distributed hash join of two CSV files, on the ranks the
// launcher started (mpirun, UCORO_* variables, or one process).
//
//   ucoro-join --help
//   ucoro-join --left L.csv --right R.csv --output PREFIX [--how inner|left|semi|anti]
//              [--algorithm auto|shuffle|broadcast] [--broadcast-side auto|left|right]
//              [--over-decomposition M] [--threads T] [--schema NAME:int|text,...]
//   ucoro-join --generate LxR [--keys uniform|zipf:S] [--match F] [--seed N]
//              [--repeat K] [--verify] [--save-csv PREFIX] [--how ...] [--algorithm ...]
//              [--over-decomposition M]                          (benchmark mode)
//
// The files are CSV (RFC 4180, join_csv.hpp) with a header line; column 1
// is the key, the others payloads. A column is text when any of its fields
// is not a signed 64-bit integer (or is quoted), or when --schema says
// NAME:text; otherwise integers. Keys are compared as text when either
// file's key column is text. Each rank reads its own byte range of each
// file (the records that start in it) and writes PREFIX.<rank>.csv: the
// key, the left payloads, the right payloads (empty for a left join's
// unmatched rows; none for semi and anti). A file is written under a
// temporary name and renamed once complete. Any bad input (a missing file,
// a line with the wrong number of fields, a stray quote, a field --schema
// calls int that is not) is reported with its file and line, every rank
// exits non-zero, and no output is left behind.
//
// Benchmark mode generates the tables on each rank (join_data.hpp), joins
// them K times and prints run/summary lines; --verify then checks the
// result against a single-process join of the same data ("verified: N
// rows"), and --save-csv (one rank) writes the data as the CSV files the
// first form reads (for DuckDB or SQLite to join the same rows).

#include "join_csv.hpp"
#include "join_data.hpp"

#include <ucoro/join/hash_join.hpp>
#include <ucoro/ucoro.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <concepts>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

constexpr const char* usage_text = R"(usage: ucoro-join --left L.csv --right R.csv --output PREFIX [options]
       ucoro-join --generate LxR [benchmark options] [options]
       ucoro-join --help

The distributed hash join of two CSV files on the ranks the launcher started
(mpirun, UCORO_* variables, or one process). The files are CSV (RFC 4180
quoting) with a header line; column 1 is the key, the others payloads. A
column is text when a field in it is not a 64-bit integer (or is quoted),
else integers; keys are compared as text if either file's are. Each rank
reads its share of each file and writes PREFIX.<rank>.csv: the key, the
left payloads, the right payloads.

options:
  --left FILE                 the left table (CSV)
  --right FILE                the right table (CSV)
  --output PREFIX             write PREFIX.<rank>.csv on each rank
  --how inner|left|semi|anti  the join kind (default inner)
  --algorithm auto|shuffle|broadcast
                              shuffle both sides, or broadcast one (default
                              auto: broadcast a side that is small enough)
  --broadcast-side auto|left|right
                              the side to broadcast (default auto: the smaller
                              one; left only for an inner join)
  --over-decomposition M      M partitions per rank, so that a partition's
                              local join overlaps the next one's shuffle
  --threads T                 local join threads per rank (1 to 1024)
  --schema NAME:TYPE,...      column types by header name, TYPE int or text
                              (text: compared and written as text even if
                              every field is a number; int: a field that is
                              not one is an error)

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
  std::vector<std::pair<std::string, join_csv::column_type>> schema; ///< --schema NAME:int|text,...
  int repeat = 1;
  bool help = false;
};

/// Reads this rank's share of `path` (join_csv.hpp says how the ranks split
/// a file with quoted line breaks), then every rank learns every rank's
/// problem: the first (by rank) becomes the error, naming the file and its
/// line.
ucoro::task<join_csv::share> read_input(ucoro::communicator& comm, const std::string& path,
                                        const std::vector<std::pair<std::string, join_csv::column_type>>& schema) {
  const std::uint32_t me = comm.rank(), n = comm.size();
  join_csv::share out;
  join_csv::read_header(path, out);
  join_csv::loaded_range loaded;
  if (out.problem.empty())
    loaded = join_csv::load_range(path, out.body, join_csv::range_of(path, out.body, me, n));
  const auto all_quotes = co_await comm.all_gather(loaded.quotes);
  std::uint64_t before_quotes = 0;
  for (std::uint32_t r = 0; r < me; ++r)
    before_quotes += all_quotes[r];
  if (out.problem.empty()) {
    std::vector<join_csv::column_type> types(out.names.size(), join_csv::column_type::infer);
    for (const auto& [name, type] : schema)
      for (std::size_t c = 0; c < out.names.size(); ++c)
        if (out.names[c] == name)
          types[c] = type;
    join_csv::read_share(path, std::move(loaded), before_quotes % 2 == 1, types, out);
  }
  struct share_state {
    std::uint64_t lines;
    std::int64_t bad_line;
    std::uint8_t problem;
  };
  const auto all = co_await comm.all_gather(
      share_state{out.lines, out.bad_line, static_cast<std::uint8_t>(out.problem.empty() ? 0 : 1)});
  std::uint64_t before = 0;
  for (std::uint32_t rank = 0; rank < n; ++rank) {
    if (all[rank].problem) {
      if (rank == me)
        throw std::runtime_error(
            path + (out.bad_line >= 0 ? ":" + std::to_string(out.header_lines + 1 + before + out.bad_line) : "") +
            ": " + out.problem);
      throw std::runtime_error(path + ": rank " + std::to_string(rank) + " found bad input");
    }
    before += all[rank].lines;
  }
  co_return out;
}

/// Per column: whether any rank found a field that is no integer.
ucoro::task<std::vector<bool>> text_columns(ucoro::communicator& comm, const join_csv::share& s) {
  std::vector<bool> text(s.names.size());
  for (std::size_t c0 = 0; c0 < text.size(); c0 += 64) {
    std::uint64_t bits = 0;
    for (std::size_t c = c0; c < std::min(text.size(), c0 + 64); ++c)
      bits |= std::uint64_t{s.not_integer[c]} << (c - c0);
    bits = co_await comm.all_reduce(bits, std::bit_or<>{});
    for (std::size_t c = c0; c < std::min(text.size(), c0 + 64); ++c)
      text[c] = ((bits >> (c - c0)) & 1) != 0;
  }
  co_return text;
}

template <class Key>
using csv_table = ucoro::join::table<Key, std::vector<ucoro::join::any_column>>;

/// A share's columns as a join table: column 0 the key, the others payloads.
template <class Key>
csv_table<Key> to_table(join_csv::share& s, const std::vector<bool>& text) {
  csv_table<Key> t;
  ucoro::join::any_column key = join_csv::to_column(std::move(s.columns[0]), !text[0]);
  if constexpr (std::same_as<Key, std::string>)
    t.keys = std::move(key.strings());
  else
    t.keys = std::move(key.ints());
  for (std::size_t c = 1; c < s.columns.size(); ++c)
    t.payloads.push_back(join_csv::to_column(std::move(s.columns[c]), !text[c]));
  s.columns.clear();
  return t;
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
      std::printf("run ucoro_join rep=%d s=%.5f total_Mrows_s=%.2f rows_out=%llu\n", rep, wall.back(),
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

/// Joins the two files' tables (keys of type Key) and writes this rank's rows.
template <class Key>
ucoro::task<void> join_and_write(ucoro::communicator& comm, const options& o, join_csv::share& l, join_csv::share& r,
                                 const std::vector<bool>& left_text, const std::vector<bool>& right_text,
                                 double read_s) {
  const std::uint32_t me = comm.rank(), n = comm.size();
  csv_table<Key> left = to_table<Key>(l, left_text), right = to_table<Key>(r, right_text);
  ucoro::join::hash_join_options jo = o.join;
  ucoro::join::hash_join_report report;
  jo.report = &report;
  const auto result = co_await ucoro::join::hash_join(comm, left, right, jo);

  const auto t1 = std::chrono::steady_clock::now();
  const std::string final_name = o.output + "." + std::to_string(me) + ".csv", temporary = final_name + ".partial";
  {
    std::ofstream out(temporary, std::ios::trunc | std::ios::binary);
    if (!out)
      throw std::runtime_error(temporary + ": cannot write");
    const bool with_right = jo.how == ucoro::join::join_how::inner || jo.how == ucoro::join::join_how::left;
    // Formatted into one buffer, written a megabyte at a time.
    std::vector<char> text;
    text.reserve((1 << 20) + 1024);
    const auto put_names = [&](const std::vector<std::string>& names, std::size_t first) {
      for (std::size_t c = first; c < names.size(); ++c) {
        if (c > 0)
          text.push_back(',');
        join_csv::put_text(text, names[c]);
      }
    };
    put_names(l.names, 0);
    if (with_right)
      put_names(r.names, 1);
    text.push_back('\n');
    for (std::size_t i = 0; i < result.size(); ++i) {
      if constexpr (std::same_as<Key, std::string>)
        join_csv::put_text(text, result.keys[i]);
      else
        join_csv::put_integer(text, result.keys[i]);
      for (const auto& column : result.left) {
        text.push_back(',');
        join_csv::put_cell(text, column, i);
      }
      if (with_right) {
        const bool matched = jo.how != ucoro::join::join_how::left || result.matched[i] != 0;
        for (const auto& column : result.right) {
          text.push_back(',');
          if (matched)
            join_csv::put_cell(text, column, i);
        }
      }
      text.push_back('\n');
      if (text.size() >= (1 << 20)) {
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
        text.clear();
      }
    }
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
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
    const bool broadcast = report.algorithm == ucoro::join::join_algorithm::broadcast;
    std::printf("  %s keys; %s%s%s\n", std::same_as<Key, std::string> ? "text" : "integer",
                broadcast ? "broadcast the " : ucoro::join::to_string(report.algorithm),
                broadcast ? ucoro::join::to_string(report.broadcast) : "", broadcast ? " side" : "");
    std::printf("  why: %s\n", report.reason);
    std::printf("  rank 0: read %.3f s, partition %.3f s, shuffle %.3f s, build %.3f s, probe %.3f s, output %.3f s, "
                "write %.3f s\n",
                read_s, report.partition_s, report.shuffle_s, report.build_s, report.probe_s, report.output_s, write_s);
    std::printf("  %.2f M rows/s (build + probe rows / total time), %.2f per rank\n",
                static_cast<double>(report.left_rows + report.right_rows) / total / 1e6,
                static_cast<double>(report.left_rows + report.right_rows) / total / 1e6 / n);
  }
}

ucoro::task<int> run(ucoro::worker& w, const options& o) {
  ucoro::communicator comm = co_await ucoro::communicator::bootstrap(w);
  if (o.generate)
    co_return co_await run_generated(comm, o);
  const auto t0 = std::chrono::steady_clock::now();
  join_csv::share left = co_await read_input(comm, o.left, o.schema);
  join_csv::share right = co_await read_input(comm, o.right, o.schema);
  for (std::size_t a = 1; a < left.names.size(); ++a)
    for (std::size_t b = 1; b < right.names.size(); ++b)
      if (left.names[a] == right.names[b])
        throw std::runtime_error(o.left + " and " + o.right + ": both have a payload column '" + left.names[a] +
                                 "' (names must be distinct across the two files)");
  for (const auto& [name, type] : o.schema)
    if (std::find(left.names.begin(), left.names.end(), name) == left.names.end() &&
        std::find(right.names.begin(), right.names.end(), name) == right.names.end())
      throw std::runtime_error("--schema names '" + name + "', a column neither " + o.left + " nor " + o.right +
                               " has");
  std::vector<bool> left_text = co_await text_columns(comm, left), right_text = co_await text_columns(comm, right);
  // --schema's text columns are text even where every field is a number.
  const auto schema_text = [&](const join_csv::share& file, std::vector<bool>& text) {
    for (const auto& [name, type] : o.schema)
      for (std::size_t c = 0; c < text.size(); ++c)
        if (file.names[c] == name && type == join_csv::column_type::text)
          text[c] = true;
  };
  schema_text(left, left_text);
  schema_text(right, right_text);
  // The keys are compared as text when either side's are text.
  const bool text_keys = left_text[0] || right_text[0];
  left_text[0] = right_text[0] = text_keys;
  const double read_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (text_keys)
    co_await join_and_write<std::string>(comm, o, left, right, left_text, right_text, read_s);
  else
    co_await join_and_write<std::int64_t>(comm, o, left, right, left_text, right_text, read_s);
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

/// The command line, through CLI11 (which converts and range-checks the
/// values); the checks between options, and the messages the tests hold
/// the tool to, are ours.
options parse(int argc, char** argv) {
  options o;
  CLI::App app{"the distributed hash join of two CSV files", "ucoro-join"};
  app.set_help_flag(); // --help prints usage_text, which says more than CLI11's listing
  app.allow_extras();  // reported below, in this tool's words
  app.add_flag("-h,--help", o.help);
  app.add_option("--left", o.left);
  app.add_option("--right", o.right);
  app.add_option("--output", o.output);
  std::string how = "inner", algorithm = "auto", side = "auto", shape, match, schema;
  app.add_option("--how", how)->check(CLI::IsMember({"inner", "left", "semi", "anti"}));
  app.add_option("--algorithm", algorithm)->check(CLI::IsMember({"auto", "shuffle", "broadcast"}));
  app.add_option("--broadcast-side", side)->check(CLI::IsMember({"auto", "left", "right"}));
  app.add_option("--over-decomposition", o.join.over_decomposition)->check(CLI::Range(1U, 1U << 20));
  app.add_option("--threads", o.join.threads)->check(CLI::Range(1U, 1024U));
  app.add_option("--schema", schema);
  app.add_option("--generate", shape);
  app.add_option("--keys", o.keys);
  app.add_option("--match", match);
  app.add_option("--seed", o.data.seed);
  app.add_option("--repeat", o.repeat)->check(CLI::Range(1, 1 << 30));
  app.add_flag("--verify", o.verify);
  app.add_option("--save-csv", o.save_csv);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    throw std::invalid_argument(e.what());
  }
  if (o.help)
    return o;
  if (!app.remaining().empty())
    throw std::invalid_argument("unknown argument '" + app.remaining().front() + "' (ucoro-join --help lists them)");
  using ucoro::join::broadcast_side;
  using ucoro::join::join_algorithm;
  using ucoro::join::join_how;
  o.join.how = how == "left" ? join_how::left : how == "semi" ? join_how::semi : how == "anti" ? join_how::anti
                                                                                               : join_how::inner;
  o.join.algorithm = algorithm == "shuffle"     ? join_algorithm::shuffle
                     : algorithm == "broadcast" ? join_algorithm::broadcast
                                                : join_algorithm::automatic;
  o.join.broadcast = side == "left" ? broadcast_side::left : side == "right" ? broadcast_side::right
                                                                             : broadcast_side::automatic;
  for (std::size_t at = 0; !schema.empty() && at <= schema.size();) {
    const std::size_t comma = std::min(schema.find(',', at), schema.size());
    const std::string item = schema.substr(at, comma - at);
    const std::size_t colon = item.rfind(':');
    const std::string type = colon == std::string::npos ? "" : item.substr(colon + 1);
    if (colon == std::string::npos || colon == 0 || (type != "int" && type != "text"))
      throw std::invalid_argument("--schema " + schema + ": '" + item + "' is not NAME:int or NAME:text");
    o.schema.emplace_back(item.substr(0, colon),
                          type == "int" ? join_csv::column_type::integer : join_csv::column_type::text);
    at = comma + 1;
  }
  if (app.count("--generate") > 0) {
    o.generate = true;
    join_data::parse_shape(shape, o.data);
  }
  if (o.keys.rfind("zipf:", 0) == 0) {
    const std::optional<double> exponent = number(o.keys.substr(5));
    if (!exponent || !(*exponent > 0))
      throw std::invalid_argument("--keys " + o.keys + ": the zipf exponent must be a number > 0");
    o.data.zipf = *exponent;
  } else if (o.keys != "uniform") {
    throw std::invalid_argument("--keys " + o.keys + ": uniform or zipf:S");
  }
  if (app.count("--match") > 0) {
    const std::optional<double> f = number(match);
    if (!f || !(*f >= 0 && *f <= 1))
      throw std::invalid_argument("--match " + match + ": a fraction between 0 and 1");
    o.data.match = *f;
  }
  if (o.generate) {
    if (!o.left.empty() || !o.right.empty() || !o.output.empty())
      throw std::invalid_argument("--generate makes its own tables: no --left, --right or --output");
    return o;
  }
  for (const char* only : {"--keys", "--match", "--seed", "--repeat", "--verify", "--save-csv"})
    if (app.count(only) > 0)
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
