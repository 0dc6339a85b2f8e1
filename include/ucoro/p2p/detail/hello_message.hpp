#pragma once
// What the front door's messages say (hello.hpp is how they are written on
// the wire): the kinds, the reasons a side refuses, the flags, a rank's
// table entry, and the message every kind is read into. Its bounds are the
// decoder's (a peer's bytes never size an allocation past them).

#include <ucoro/runtime/detail/peer_process.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ucoro::detail::hello {

inline constexpr std::array<unsigned char, 8> magic{'U', 'C', 'O', 'R', 'O', 'F', 'D', '1'};
/// 2: heartbeats left the control channel for the peer link (link_heartbeat.hpp).
inline constexpr std::uint16_t version = 2;
inline constexpr std::size_t header_size = 16;
inline constexpr std::size_t trailer_size = 8;
/// Worker addresses are a few hundred bytes (a few KiB with many devices).
inline constexpr std::size_t max_body = 64 * 1024;
inline constexpr std::size_t max_worker_address = 32 * 1024;
inline constexpr std::size_t max_token = 1024;
inline constexpr std::size_t max_text = 1024;
/// A table of every rank's entry: a few hundred bytes each.
inline constexpr std::size_t max_table_body = 64 * 1024 * 1024;
/// Ranks fit the communicator's 20-bit tag field.
inline constexpr std::uint32_t max_ranks = 1U << 20;

enum class kind : std::uint16_t {
  hello = 1,  ///< client -> listener: who I am, what I want
  accept = 2, ///< listener -> client: who I am, the resolved error mode
  reject = 3, ///< either way: why not (a reason code and text)
  ready = 4,  ///< listener -> client: the client's first UCX message arrived
  join = 5,   ///< rank -> rendezvous root: my entry, rank, size, job token
  table = 6,  ///< rendezvous root -> rank: every rank's entry
};
inline constexpr std::uint16_t last_kind = 6;

enum class reject_reason : std::uint32_t {
  none = 0,
  version_mismatch = 1,
  order_mismatch = 2,
  error_mode_mismatch = 3,
  bad_token = 4,
  shared_memory_stuck = 5,
  internal = 6,
  bad_rank = 7,  ///< rendezvous: a rank out of range, taken twice, or a size that differs
  timed_out = 8, ///< rendezvous: not every rank joined in time
};

enum flag : std::uint32_t {
  ordered = 1,       ///< guarantee_msg_order
  pidfd = 2,         ///< the sender can watch a same-host peer's process
  shared_memory = 4, ///< the sender's context has sysv/posix
};

/// One rank as the rendezvous table carries it.
struct table_entry {
  process_identity identity{};
  std::uint32_t flags = 0; ///< hello::flag bits
  std::string host;
  std::vector<std::byte> worker_address;
  friend bool operator==(const table_entry&, const table_entry&) = default;
};

struct message {
  kind type = kind::hello;
  std::uint16_t sender_version = version;
  process_identity identity{};
  std::string host;
  std::vector<std::byte> worker_address;
  std::uint32_t flags = 0;
  std::uint8_t requested_mode = 0; ///< ucoro::error_handling as sent
  std::uint8_t resolved_mode = 0;  ///< accept: what both sides use
  std::uint64_t msg_tag = 0;       ///< the sender receives data on this tag
  std::uint64_t ctrl_tag = 0;      ///< ... and control messages on this one
  std::string token;
  reject_reason reason = reject_reason::none;
  std::string reason_text;
  std::uint32_t rank = 0; ///< join, table
  std::uint32_t size = 0; ///< join, table
  std::vector<table_entry> table;
};

} // namespace ucoro::detail::hello
