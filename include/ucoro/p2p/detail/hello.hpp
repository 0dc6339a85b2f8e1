#pragma once
// The wire format of ucoro's front door: what a client and a listener say
// over TCP before either touches UCX. Pure functions, no I/O, so that a
// fuzzer can feed the decoder anything (tests/fuzz/hello.cpp).
//
//   header (16 bytes)  magic "UCOROFD1" | u16 version | u16 kind | u32 body length
//   body               fields: u16 type | u16 zero | u32 length | bytes
//   trailer (8 bytes)  FNV-1a 64 of header and fields, inside the body length
//
// All integers little-endian. Unknown field types are skipped (a later
// version may add fields); a known field of the wrong size, a duplicate, a
// length past the end, a bad checksum or a body over max_body is malformed.
// The communicator's TCP rendezvous speaks the same format: a rank's join
// (its entry, rank, size, job token) and the root's table of all entries
// (the only kind allowed a body up to max_table_body).
// The header layout and the reject message never change, so any version
// can tell any other why it refused.

#include <ucoro/p2p/detail/hello_message.hpp>
#include <ucoro/runtime/detail/fnv1a.hpp>
#include <ucoro/runtime/detail/peer_process.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ucoro::detail::hello {

enum class field : std::uint16_t {
  identity = 1,
  host = 2,
  worker_address = 3,
  options = 4,
  tags = 5,
  token = 6,
  reason = 7,
  rank = 8,
  table = 9,
};
inline constexpr std::uint16_t last_field = 9;
inline constexpr std::size_t identity_size = 36 + 4 + 8 + 8;

class writer {
public:
  void bytes(const void* data, std::size_t size) {
    const auto* p = static_cast<const std::byte*>(data);
    m_out.insert(m_out.end(), p, p + size);
  }
  template <class U>
  void integer(U value) {
    for (std::size_t i = 0; i < sizeof(U); ++i)
      m_out.push_back(static_cast<std::byte>((static_cast<std::uint64_t>(value) >> (8 * i)) & 0xFF));
  }
  void begin_field(field type, std::size_t length) {
    integer(static_cast<std::uint16_t>(type));
    integer(std::uint16_t{0});
    integer(static_cast<std::uint32_t>(length));
  }
  [[nodiscard]] std::vector<std::byte>& out() noexcept { return m_out; }

private:
  std::vector<std::byte> m_out;
};

class reader {
public:
  explicit reader(std::span<const std::byte> in) noexcept : m_in(in) {}
  [[nodiscard]] std::size_t left() const noexcept { return m_in.size(); }
  template <class U>
  [[nodiscard]] U integer() noexcept {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i)
      value |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(m_in[i])) << (8 * i);
    m_in = m_in.subspan(sizeof(U));
    return static_cast<U>(value);
  }
  [[nodiscard]] std::span<const std::byte> take(std::size_t n) noexcept {
    auto out = m_in.first(n);
    m_in = m_in.subspan(n);
    return out;
  }

private:
  std::span<const std::byte> m_in;
};

inline void put_identity(writer& w, const process_identity& id) {
  w.bytes(id.boot_id.data(), id.boot_id.size());
  w.integer(id.pid);
  w.integer(id.pid_namespace);
  w.integer(id.start_time);
}

/// `r` holds at least identity_size bytes.
[[nodiscard]] inline process_identity get_identity(reader& r) noexcept {
  process_identity id;
  std::memcpy(id.boot_id.data(), r.take(id.boot_id.size()).data(), id.boot_id.size());
  id.pid = r.integer<std::uint32_t>();
  id.pid_namespace = r.integer<std::uint64_t>();
  id.start_time = r.integer<std::uint64_t>();
  return id;
}

/// The table field: u32 count, then per entry identity | u32 flags |
/// u16 host length | host | u32 address length | address.
inline void put_table(writer& w, const std::vector<table_entry>& table) {
  std::size_t length = 4;
  for (const auto& e : table)
    length += identity_size + 4 + 2 + std::min<std::size_t>(e.host.size(), 255) + 4 + e.worker_address.size();
  w.begin_field(field::table, length);
  w.integer(static_cast<std::uint32_t>(table.size()));
  for (const auto& e : table) {
    put_identity(w, e.identity);
    w.integer(e.flags);
    const std::string_view host = std::string_view(e.host).substr(0, 255);
    w.integer(static_cast<std::uint16_t>(host.size()));
    w.bytes(host.data(), host.size());
    w.integer(static_cast<std::uint32_t>(e.worker_address.size()));
    w.bytes(e.worker_address.data(), e.worker_address.size());
  }
}

[[nodiscard]] inline std::optional<std::vector<table_entry>> get_table(std::span<const std::byte> value,
                                                                      std::string& why) {
  reader r(value);
  if (r.left() < 4) {
    why = "table: no count";
    return std::nullopt;
  }
  const auto count = r.integer<std::uint32_t>();
  if (count == 0 || count > max_ranks) {
    why = "table: " + std::to_string(count) + " entries";
    return std::nullopt;
  }
  std::vector<table_entry> out;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (r.left() < identity_size + 4 + 2) {
      why = "table: entry " + std::to_string(i) + " truncated";
      return std::nullopt;
    }
    table_entry e;
    e.identity = get_identity(r);
    e.flags = r.integer<std::uint32_t>();
    const auto host = r.integer<std::uint16_t>();
    if (host > 255 || r.left() < host + 4U) {
      why = "table: entry " + std::to_string(i) + " has a bad host";
      return std::nullopt;
    }
    const auto host_bytes = r.take(host);
    e.host.assign(reinterpret_cast<const char*>(host_bytes.data()), host_bytes.size());
    const auto address = r.integer<std::uint32_t>();
    if (address == 0 || address > max_worker_address || r.left() < address) {
      why = "table: entry " + std::to_string(i) + " has a bad worker address length";
      return std::nullopt;
    }
    const auto address_bytes = r.take(address);
    e.worker_address.assign(address_bytes.begin(), address_bytes.end());
    out.push_back(std::move(e));
  }
  if (r.left() != 0) {
    why = "table: bytes after the last entry";
    return std::nullopt;
  }
  return out;
}

[[nodiscard]] inline std::vector<std::byte> encode(const message& m) {
  writer w;
  w.bytes(magic.data(), magic.size());
  w.integer(m.sender_version);
  w.integer(static_cast<std::uint16_t>(m.type));
  w.integer(std::uint32_t{0}); // body length, patched below
  const bool describes_sender = m.type == kind::hello || m.type == kind::accept || m.type == kind::join;
  if (describes_sender) {
    w.begin_field(field::identity, identity_size);
    put_identity(w, m.identity);
    const std::string_view host = std::string_view(m.host).substr(0, 255);
    w.begin_field(field::host, host.size());
    w.bytes(host.data(), host.size());
    w.begin_field(field::worker_address, m.worker_address.size());
    w.bytes(m.worker_address.data(), m.worker_address.size());
    w.begin_field(field::options, 8);
    w.integer(m.flags);
    w.integer(m.requested_mode);
    w.integer(m.resolved_mode);
    w.integer(std::uint16_t{0});
    w.begin_field(field::tags, 16);
    w.integer(m.msg_tag);
    w.integer(m.ctrl_tag);
    if (!m.token.empty()) {
      w.begin_field(field::token, m.token.size());
      w.bytes(m.token.data(), m.token.size());
    }
  }
  if (m.type == kind::join || m.type == kind::table) {
    w.begin_field(field::rank, 8);
    w.integer(m.rank);
    w.integer(m.size);
  }
  if (m.type == kind::table)
    put_table(w, m.table);
  if (m.type == kind::reject) {
    const std::string_view text = std::string_view(m.reason_text).substr(0, max_text);
    w.begin_field(field::reason, 4 + text.size());
    w.integer(static_cast<std::uint32_t>(m.reason));
    w.bytes(text.data(), text.size());
  }
  auto& out = w.out();
  const auto body = static_cast<std::uint32_t>(out.size() - header_size + trailer_size);
  for (std::size_t i = 0; i < 4; ++i)
    out[12 + i] = static_cast<std::byte>((body >> (8 * i)) & 0xFF);
  w.integer(fnv1a(out));
  return out;
}

struct header {
  std::uint16_t sender_version = 0;
  kind type = kind::hello;
  std::uint32_t body_length = 0;
};

/// Checks the fixed header: magic, kind, a body length within bounds.
[[nodiscard]] inline std::optional<header> parse_header(std::span<const std::byte> bytes, std::string& why) {
  if (bytes.size() < header_size) {
    why = "short header";
    return std::nullopt;
  }
  if (std::memcmp(bytes.data(), magic.data(), magic.size()) != 0) {
    why = "bad magic: not ucoro's handshake";
    return std::nullopt;
  }
  reader r(bytes.subspan(magic.size()));
  header h;
  h.sender_version = r.integer<std::uint16_t>();
  const auto type = r.integer<std::uint16_t>();
  h.body_length = r.integer<std::uint32_t>();
  if (type < 1 || type > last_kind) {
    why = "unknown message kind " + std::to_string(type);
    return std::nullopt;
  }
  h.type = static_cast<kind>(type);
  const std::size_t limit = h.type == kind::table ? max_table_body : max_body;
  if (h.body_length < trailer_size || h.body_length > limit) {
    why = "body length " + std::to_string(h.body_length) + " outside [" + std::to_string(trailer_size) + ", " +
          std::to_string(limit) + "]";
    return std::nullopt;
  }
  return h;
}

/// Decodes a whole message (header, body and trailer). On failure returns
/// nothing and says why.
[[nodiscard]] inline std::optional<message> decode(std::span<const std::byte> bytes, std::string& why) {
  const auto h = parse_header(bytes, why);
  if (!h)
    return std::nullopt;
  if (bytes.size() != header_size + h->body_length) {
    why = "size " + std::to_string(bytes.size()) + " differs from the header's " +
          std::to_string(header_size + h->body_length);
    return std::nullopt;
  }
  const auto covered = bytes.first(bytes.size() - trailer_size);
  reader trailer(bytes.subspan(covered.size()));
  if (trailer.integer<std::uint64_t>() != fnv1a(covered)) {
    why = "bad checksum";
    return std::nullopt;
  }
  message m;
  m.type = h->type;
  m.sender_version = h->sender_version;
  std::uint32_t seen = 0;
  reader r(covered.subspan(header_size));
  while (r.left() > 0) {
    if (r.left() < 8) {
      why = "truncated field header";
      return std::nullopt;
    }
    const auto type = r.integer<std::uint16_t>();
    (void)r.integer<std::uint16_t>();
    const auto length = r.integer<std::uint32_t>();
    if (length > r.left()) {
      why = "field " + std::to_string(type) + " of length " + std::to_string(length) + " runs past the end";
      return std::nullopt;
    }
    auto value = r.take(length);
    if (type < 1 || type > last_field)
      continue; // a later version's field
    if ((seen & (1U << type)) != 0) {
      why = "field " + std::to_string(type) + " twice";
      return std::nullopt;
    }
    seen |= 1U << type;
    auto wrong_size = [&] {
      why = "field " + std::to_string(type) + " has length " + std::to_string(length);
      return std::nullopt;
    };
    reader v(value);
    switch (static_cast<field>(type)) {
    case field::identity:
      if (length != identity_size)
        return wrong_size();
      m.identity = get_identity(v);
      break;
    case field::host:
      if (length > 255)
        return wrong_size();
      m.host.assign(reinterpret_cast<const char*>(value.data()), value.size());
      break;
    case field::worker_address:
      if (length == 0 || length > max_worker_address)
        return wrong_size();
      m.worker_address.assign(value.begin(), value.end());
      break;
    case field::options:
      if (length != 8)
        return wrong_size();
      m.flags = v.integer<std::uint32_t>();
      m.requested_mode = v.integer<std::uint8_t>();
      m.resolved_mode = v.integer<std::uint8_t>();
      break;
    case field::tags:
      if (length != 16)
        return wrong_size();
      m.msg_tag = v.integer<std::uint64_t>();
      m.ctrl_tag = v.integer<std::uint64_t>();
      break;
    case field::token:
      if (length > max_token)
        return wrong_size();
      m.token.assign(reinterpret_cast<const char*>(value.data()), value.size());
      break;
    case field::reason:
      if (length < 4 || length > 4 + max_text)
        return wrong_size();
      m.reason = static_cast<reject_reason>(v.integer<std::uint32_t>());
      m.reason_text.assign(reinterpret_cast<const char*>(value.data()) + 4, value.size() - 4);
      break;
    case field::rank:
      if (length != 8)
        return wrong_size();
      m.rank = v.integer<std::uint32_t>();
      m.size = v.integer<std::uint32_t>();
      if (m.size == 0 || m.size > max_ranks || m.rank >= m.size) {
        why = "rank " + std::to_string(m.rank) + " of " + std::to_string(m.size);
        return std::nullopt;
      }
      break;
    case field::table: {
      auto table = get_table(value, why);
      if (!table)
        return std::nullopt;
      m.table = std::move(*table);
      break;
    }
    }
  }
  const std::uint32_t required = (m.type == kind::hello || m.type == kind::accept)
                                     ? (1U << 1) | (1U << 3) | (1U << 4) | (1U << 5)
                                 : m.type == kind::join  ? (1U << 1) | (1U << 3) | (1U << 4) | (1U << 8)
                                 : m.type == kind::table ? (1U << 8) | (1U << 9)
                                 : m.type == kind::reject ? (1U << 7)
                                                          : 0U;
  if ((seen & required) != required) {
    why = "a required field is missing";
    return std::nullopt;
  }
  return m;
}

} // namespace ucoro::detail::hello
