#pragma once
// CSV for ucoro-join: RFC 4180 (fields separated by commas, records by LF
// or CRLF; a field in double quotes may hold commas, line breaks and quotes
// written twice), read in parallel and written back.
//
// Reading: rank r of n takes the records that start in its byte range
// [size*r/n, size*(r+1)/n) of the body. A line break inside quotes is not a
// record's end, so where a range begins is decided by the number of quote
// characters before it (the parity trick of parallel CSV readers): each
// rank counts the quotes in its range (count_quotes), the ranks exchange
// the counts, and a rank starts inside quotes when the ranks before it saw
// an odd number. A column is kept as integers while its fields are
// (column_store), else as text; the ranks then agree which columns are
// integers (every field of every rank a 64-bit integer, not quoted, unless
// --schema says) and to_column gives each its kind.
//
// Writing: integers as digits; text as is, or in quotes (inner quotes
// doubled) when it holds a comma, a quote or a line break, is empty, or
// would read back as an integer, so that a written file reads back the
// same. A left join's missing right value is an empty, unquoted field.

#include <ucoro/join/any_column.hpp>
#include <ucoro/join/string_column.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace join_csv {

/// What --schema may say of a column.
enum class column_type : char { infer = 0, integer = 'i', text = 't' };

/// One column of a share as it is read: 64-bit integers while every field
/// is one written the canonical way (no leading zeros, no "-0": its text is
/// then exactly to_chars of the value, so nothing is lost), else the text.
/// Most files' numeric columns are parsed once and never copied as text.
struct column_store {
  bool as_integers = true;
  std::vector<std::int64_t> integers;
  ucoro::join::string_column text;

  [[nodiscard]] std::size_t size() const noexcept { return as_integers ? integers.size() : text.size(); }
  /// Keeps the text from now on (the integers so far become their text).
  void to_text() {
    if (!as_integers)
      return;
    char digits[24];
    text.reserve(integers.size(), integers.size() * 8);
    for (std::int64_t v : integers)
      text.push_back(std::string_view(digits, static_cast<std::size_t>(std::to_chars(digits, digits + sizeof digits, v).ptr - digits)));
    integers = {};
    as_integers = false;
  }
};

/// One rank's share of a CSV file, or its first problem.
struct share {
  std::vector<std::string> names; ///< the header's fields
  std::uint64_t header_lines = 1;  ///< lines the header spans
  std::uint64_t body = 0;          ///< the byte offset where the records start
  std::vector<column_store> columns;
  /// Per column: some field of this share is no 64-bit integer (or is quoted).
  std::vector<std::uint8_t> not_integer;
  std::uint64_t lines = 0;    ///< lines this rank's records span
  std::int64_t bad_line = -1; ///< the first bad record's line, counted within this share
  std::string problem;        ///< what was wrong (with bad_line), or a file-level error

  [[nodiscard]] std::size_t rows() const noexcept { return columns.empty() ? 0 : columns[0].size(); }
};

[[nodiscard]] inline bool is_integer(std::string_view s) noexcept {
  std::int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return !s.empty() && ec == std::errc{} && ptr == s.data() + s.size();
}

namespace detail {

enum class parsed { record, more, bad };

/// Parses the record at data[at]; `last` says data ends where the file
/// does. On `record`, fields/quoted hold it and `at` is past its line end;
/// on `more`, the record runs past data (read more and parse it again); on
/// `bad`, `problem` says why.
/// One record's fields: views into the data, or (a quoted field with a
/// doubled quote) into `unescaped`, whose strings never move (a deque).
struct record {
  std::vector<std::string_view> fields;
  std::vector<std::uint8_t> quoted;
  std::deque<std::string> unescaped;
  std::size_t count = 0;
  std::uint64_t lines = 1;
};

inline parsed parse_record(std::string_view data, std::size_t& at, bool last, record& rec, std::string& problem) {
  rec.count = 0;
  rec.lines = 1;
  std::size_t i = at, escapes = 0;
  auto& fields = rec.fields;
  auto& quoted = rec.quoted;
  std::size_t& count = rec.count;
  std::uint64_t& lines = rec.lines;
  const auto field = [&]() -> std::string_view& {
    if (fields.size() <= count) {
      fields.emplace_back();
      quoted.push_back(0);
    }
    quoted[count] = 0;
    return fields[count++];
  };
  for (;;) {
    std::string_view& f = field();
    if (i < data.size() && data[i] == '"') {
      quoted[count - 1] = 1;
      std::size_t j = i + 1;
      std::string* text = nullptr; // set at the first doubled quote
      for (;;) {
        const std::size_t q = data.find('"', j);
        if (q == std::string_view::npos) {
          if (!last)
            return parsed::more;
          problem = "field " + std::to_string(count) + ": a quoted field runs to the end of the file";
          return parsed::bad;
        }
        lines += static_cast<std::uint64_t>(std::count(data.begin() + static_cast<std::ptrdiff_t>(j),
                                                       data.begin() + static_cast<std::ptrdiff_t>(q), '\n'));
        if (q + 1 == data.size() && !last)
          return parsed::more; // a doubled quote may follow
        if (q + 1 < data.size() && data[q + 1] == '"') {
          if (text == nullptr) {
            if (rec.unescaped.size() <= escapes)
              rec.unescaped.emplace_back();
            text = &rec.unescaped[escapes++];
            text->assign(data.substr(i + 1, q - i - 1));
          } else {
            text->append(data.substr(j, q - j));
          }
          text->push_back('"');
          j = q + 2;
          continue;
        }
        if (text != nullptr) {
          text->append(data.substr(j, q - j));
          f = *text;
        } else {
          f = data.substr(j, q - j);
        }
        i = q + 1;
        break;
      }
      if (i == data.size()) {
        if (!last)
          return parsed::more;
        at = i;
        return parsed::record;
      }
      if (data[i] == ',') {
        ++i;
        continue;
      }
      if (data[i] == '\n' || (data[i] == '\r' && i + 1 < data.size() && data[i + 1] == '\n')) {
        at = i + (data[i] == '\r' ? 2 : 1);
        return parsed::record;
      }
      if (data[i] == '\r' && i + 1 == data.size() && !last)
        return parsed::more;
      problem = "field " + std::to_string(count) + ": text after its closing quote";
      return parsed::bad;
    }
    std::size_t k = i; // the field's end: a plain loop (find_first_of tests each byte against each of the three)
    while (k < data.size() && data[k] != ',' && data[k] != '\n' && data[k] != '"')
      ++k;
    if (k == data.size())
      k = std::string_view::npos;
    if (k != std::string_view::npos && data[k] == '"') {
      problem = "field " + std::to_string(count) + ": a quote inside a field that does not start with one";
      return parsed::bad;
    }
    if (k == std::string_view::npos) {
      if (!last)
        return parsed::more;
      std::string_view rest = data.substr(i);
      if (!rest.empty() && rest.back() == '\r')
        rest.remove_suffix(1);
      f = rest;
      at = data.size();
      return parsed::record;
    }
    std::string_view text = data.substr(i, k - i);
    if (data[k] == '\n') {
      if (!text.empty() && text.back() == '\r')
        text.remove_suffix(1);
      f = text;
      at = k + 1;
      return parsed::record;
    }
    f = text;
    i = k + 1;
  }
}

} // namespace detail

/// Reads the header (which may itself use quotes): names, lines, body.
inline void read_header(const std::string& path, share& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    out.problem = "cannot open";
    return;
  }
  std::string data;
  detail::record rec;
  for (std::string chunk(1 << 16, '\0');;) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    data.append(chunk.data(), static_cast<std::size_t>(in.gcount()));
    const bool last = !in;
    std::size_t at = 0;
    std::string problem;
    const detail::parsed p = detail::parse_record(data, at, last, rec, problem);
    if (p == detail::parsed::more)
      continue;
    if (p == detail::parsed::bad || data.empty() || (rec.count == 1 && rec.fields[0].empty() && !rec.quoted[0])) {
      out.problem = data.empty() || p != detail::parsed::bad ? "no header line" : "header: " + problem;
      return;
    }
    out.names.assign(rec.fields.begin(), rec.fields.begin() + static_cast<std::ptrdiff_t>(rec.count));
    out.header_lines = rec.lines;
    out.body = at;
    return;
  }
}

/// This rank's byte range of the body.
struct byte_range {
  std::uint64_t begin = 0, end = 0, size = 0;
};

[[nodiscard]] inline byte_range range_of(const std::string& path, std::uint64_t body, std::uint32_t rank,
                                         std::uint32_t ranks) {
  std::error_code ec;
  const std::uint64_t size = std::filesystem::file_size(path, ec);
  const std::uint64_t span = !ec && size > body ? size - body : 0;
  return {body + span * rank / ranks, body + span * (rank + 1) / ranks, ec ? 0 : size};
}

/// This rank's bytes of the body: from the byte before its range (to see
/// whether a record starts at r.begin) to r.end.
struct loaded_range {
  byte_range range;
  std::uint64_t from = 0;
  std::string data;
  std::uint64_t quotes = 0; ///< quote characters in [r.begin, r.end)
};

[[nodiscard]] inline loaded_range load_range(const std::string& path, std::uint64_t body, byte_range r) {
  loaded_range out{r, r.begin == body ? r.begin : r.begin - 1, {}, 0};
  std::ifstream in(path, std::ios::binary);
  out.data.resize(r.end - out.from);
  in.seekg(static_cast<std::streamoff>(out.from));
  in.read(out.data.data(), static_cast<std::streamsize>(out.data.size()));
  out.data.resize(static_cast<std::size_t>(in.gcount()));
  // memchr: quotes are rare in most files, and it skips 32 bytes a step.
  const char* p = out.data.data() + (out.from < r.begin ? 1 : 0);
  const char* const end = out.data.data() + out.data.size();
  while (p < end && (p = static_cast<const char*>(std::memchr(p, '"', static_cast<std::size_t>(end - p)))) != nullptr) {
    ++out.quotes;
    ++p;
  }
  return out;
}

/// Parses the records that start in the loaded range into out.columns (the
/// header must have been read into `out`). `in_quotes`: whether r.begin
/// lies inside a quoted field (an odd number of quotes between the body and
/// r.begin).
/// `types`: per column, what --schema says (an integer column's fields are
/// checked here, so that the error names the line).
inline void read_share(const std::string& path, loaded_range&& loaded, bool in_quotes,
                       const std::vector<column_type>& types, share& out) {
  const byte_range r = loaded.range;
  const std::size_t columns = out.names.size();
  out.columns.assign(columns, {});
  out.not_integer.assign(columns, 0);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    out.problem = "cannot open";
    return;
  }
  const std::uint64_t from = loaded.from;
  std::string data = std::move(loaded.data);
  std::uint64_t read_to = from + data.size();
  in.seekg(static_cast<std::streamoff>(read_to));
  std::size_t at = 0;
  if (r.begin != out.body) { // the first record start in our range: after a line break outside quotes
    bool quoted = in_quotes;
    at = data.size();
    if (!data.empty() && data[0] == '\n' && !quoted)
      at = 1;
    else
      for (std::size_t i = 1; i < data.size(); ++i) {
        if (data[i] == '"')
          quoted = !quoted;
        else if (data[i] == '\n' && !quoted) {
          at = i + 1;
          break;
        }
      }
  }
  detail::record rec;
  std::string chunk;
  while (from + at < r.end && from + at < r.size) {
    std::size_t next = at;
    std::string problem;
    const detail::parsed p = detail::parse_record(data, next, read_to >= r.size, rec, problem);
    if (p == detail::parsed::more) { // the last record runs past our range: read on
      chunk.resize(1 << 16);
      in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      const auto got = static_cast<std::size_t>(in.gcount());
      data.append(chunk.data(), got);
      read_to += got;
      if (got == 0)
        read_to = r.size; // the file ended (or shrank) under us: parse what there is as its end
      continue;
    }
    const auto bad = [&](std::string what) {
      out.bad_line = static_cast<std::int64_t>(out.lines);
      out.problem = std::move(what);
    };
    if (p == detail::parsed::bad)
      return bad(problem);
    at = next;
    if (rec.count == 1 && rec.fields[0].empty() && !rec.quoted[0] && from + at >= r.size)
      break; // a blank last line
    if (rec.count != columns)
      return bad(std::to_string(rec.count) + " fields, the header has " + std::to_string(columns));
    for (std::size_t c = 0; c < columns; ++c) {
      const std::string_view f = rec.fields[c];
      column_store& store = out.columns[c];
      std::int64_t value = 0;
      const auto [ptr, ec] = std::from_chars(f.data(), f.data() + f.size(), value);
      const bool integer = !rec.quoted[c] && !f.empty() && ec == std::errc{} && ptr == f.data() + f.size();
      if (!integer && types[c] == column_type::integer)
        return bad("field " + std::to_string(c + 1) + " ('" + std::string(f) + "') is not a 64-bit integer" +
                   " (--schema says " + out.names[c] + ":int)");
      out.not_integer[c] |= integer ? 0 : 1;
      const bool canonical = f.size() == 1 || (f[0] != '0' && !(f[0] == '-' && f[1] == '0'));
      if (store.as_integers && integer && canonical) {
        store.integers.push_back(value);
        continue;
      }
      store.to_text();
      store.text.push_back(f);
    }
    out.lines += rec.lines;
  }
}

/// A column as the join takes it, once the ranks agreed on its kind:
/// integers (every field of every rank one) or the text.
[[nodiscard]] inline ucoro::join::any_column to_column(column_store&& store, bool integer) {
  if (!integer) {
    store.to_text();
    return ucoro::join::any_column(std::move(store.text));
  }
  if (store.as_integers)
    return ucoro::join::any_column(std::move(store.integers));
  const ucoro::join::string_column& text = store.text;
  std::vector<std::int64_t> values(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const std::string_view s = text[i];
    std::from_chars(s.data(), s.data() + s.size(), values[i]); // every field was checked to be one
  }
  return ucoro::join::any_column(std::move(values));
}

/// Appends a text field, quoted where reading it back needs that.
inline void put_text(std::vector<char>& out, std::string_view s) {
  const bool quote = s.empty() || s.find_first_of(",\"\r\n") != std::string_view::npos || is_integer(s);
  if (!quote) {
    out.insert(out.end(), s.begin(), s.end());
    return;
  }
  out.push_back('"');
  for (char c : s) {
    out.push_back(c);
    if (c == '"')
      out.push_back('"');
  }
  out.push_back('"');
}

inline void put_integer(std::vector<char>& out, std::int64_t v) {
  char digits[24];
  out.insert(out.end(), digits, std::to_chars(digits, digits + sizeof digits, v).ptr);
}

/// Appends row i of a run-time column.
inline void put_cell(std::vector<char>& out, const ucoro::join::any_column& c, std::size_t i) {
  if (c.is_text())
    put_text(out, c.strings()[i]);
  else
    put_integer(out, c.ints()[i]);
}

} // namespace join_csv
