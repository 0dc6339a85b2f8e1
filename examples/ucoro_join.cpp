// ucoro-join: the distributed hash join of two CSV files, on the ranks the
// launcher started (mpirun, UCORO_* variables, or one process).
//
//   ucoro-join --left L.csv --right R.csv --output PREFIX [--how inner|left|semi|anti]
//              [--algorithm auto|shuffle|broadcast] [--over-decomposition M]
//
// The files have a header line; column 1 is the key, the others payloads,
// all signed 64-bit integers. Each rank reads its own byte range of each
// file (the lines that start in it) and writes PREFIX.<rank>.csv: the key,
// the left payloads, the right payloads (empty for a left join's unmatched
// rows; none for semi and anti). A file is written under a temporary name
// and renamed once complete. Any bad input (a missing file, a non-integer
// field, a line with the wrong number of fields) is reported with its file
// and line, every rank exits non-zero, and no output is left behind.

#include <ucoro/join/hash_join.hpp>
#include <ucoro/ucoro.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using table_t = ucoro::join::table<std::int64_t, std::vector<std::vector<std::int64_t>>>;

struct options {
  std::string left, right, output;
  ucoro::join::hash_join_options join;
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

/// The lines whose first byte lies in this rank's byte range [size*r/n, size*(r+1)/n).
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
  std::uint64_t begin = body + span * rank / ranks, end = body + span * (rank + 1) / ranks;
  in.seekg(static_cast<std::streamoff>(begin == body ? body : begin - 1));
  std::string line;
  if (begin != body) { // the line that holds byte begin-1 belongs to an earlier rank
    std::getline(in, line);
    begin = static_cast<std::uint64_t>(in.tellg());
  }
  out.rows.payloads.resize(out.names.size() - 1);
  std::uint64_t at = begin;
  while (at < end && std::getline(in, line)) {
    at += line.size() + 1;
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    const std::uint64_t index = out.lines++;
    if (line.empty() && at >= size)
      break; // a final newline
    const auto fields = split_fields(line);
    if (fields.size() != out.names.size()) {
      out.bad_line = static_cast<std::int64_t>(index);
      out.problem = std::to_string(fields.size()) + " fields, the header has " + std::to_string(out.names.size());
      return out;
    }
    for (std::size_t f = 0; f < fields.size(); ++f) {
      std::int64_t value = 0;
      const auto [ptr, ec] = std::from_chars(fields[f].data(), fields[f].data() + fields[f].size(), value);
      if (ec != std::errc{} || ptr != fields[f].data() + fields[f].size() || fields[f].empty()) {
        out.bad_line = static_cast<std::int64_t>(index);
        out.problem = "field " + std::to_string(f + 1) + " ('" + fields[f] + "') is not a 64-bit integer";
        return out;
      }
      (f == 0 ? out.rows.keys : out.rows.payloads[f - 1]).push_back(value);
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

ucoro::task<int> run(ucoro::worker& w, const options& o) {
  ucoro::communicator comm = co_await ucoro::communicator::bootstrap(w);
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
    for (std::size_t i = 0; i < result.size(); ++i) {
      line = field(result.keys[i]);
      for (const auto& column : result.left)
        line += "," + field(column[i]);
      if (with_right) {
        const bool matched = jo.how != ucoro::join::join_how::left || result.matched[i] != 0;
        for (const auto& column : result.right)
          line += "," + (matched ? field(column[i]) : std::string());
      }
      out << line << '\n';
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
    std::printf("  read %.3f s, partition %.3f s, shuffle %.3f s, join %.3f s, output %.3f s, write %.3f s\n", read_s,
                report.partition_s, report.shuffle_s, report.join_s, report.output_s, write_s);
    std::printf("  %.2f M rows/s (build + probe rows / total time)\n",
                static_cast<double>(report.left_rows + report.right_rows) / total / 1e6);
  }
  co_return 0;
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
    } else {
      throw std::invalid_argument("unknown argument '" + a + "'");
    }
  }
  if (o.left.empty() || o.right.empty() || o.output.empty())
    throw std::invalid_argument("--left, --right and --output are required");
  return o;
}

} // namespace

int main(int argc, char** argv) {
  try {
    const options o = parse(argc, argv);
    ucoro::context ctx;
    ucoro::worker w{ctx, ucoro::progress_mode::blocking};
    return w.run(ucoro::with_timeout(run(w, o), std::chrono::hours(1)));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ucoro-join: error: %s\n", e.what());
    return 1;
  }
}
