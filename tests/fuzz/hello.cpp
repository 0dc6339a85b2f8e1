// libFuzzer target: the front door's decoder (detail/hello.hpp) meets any
// bytes a TCP client or server could send. Besides "no crash, no UB, no
// leak" (ASan+UBSan), it checks what the listener relies on: a message
// that decodes re-encodes to one that decodes to the same fields, and the
// header never promises a body past max_body.
//
//   scripts/test.sh --fuzz     (tests/fuzz/corpus/hello: seeds and every crash found, kept)

#include <ucoro/p2p/detail/hello.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

namespace hello = ucoro::detail::hello;

namespace {

bool same(const hello::message& a, const hello::message& b) {
  return a.type == b.type && a.sender_version == b.sender_version && a.identity.boot_id == b.identity.boot_id &&
         a.identity.pid == b.identity.pid && a.identity.pid_namespace == b.identity.pid_namespace &&
         a.identity.start_time == b.identity.start_time && a.host == b.host &&
         a.worker_address == b.worker_address && a.flags == b.flags && a.requested_mode == b.requested_mode &&
         a.resolved_mode == b.resolved_mode && a.msg_tag == b.msg_tag && a.ctrl_tag == b.ctrl_tag &&
         a.token == b.token && a.reason == b.reason && a.reason_text == b.reason_text && a.rank == b.rank &&
         a.size == b.size && a.table == b.table;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  std::string why;
  // As read_hello does: the header first, then exactly the body it announces.
  if (const auto h = hello::parse_header(bytes, why)) {
    if (h->body_length > (h->type == hello::kind::table ? hello::max_table_body : hello::max_body))
      std::abort();
    (void)hello::decode(bytes.first(std::min(bytes.size(), hello::header_size + h->body_length)), why);
  }
  const auto m = hello::decode(bytes, why);
  if (!m)
    return 0;
  if (m->host.size() > 255 || m->worker_address.size() > hello::max_worker_address ||
      m->token.size() > hello::max_token || m->reason_text.size() > hello::max_text || m->table.size() > hello::max_ranks)
    std::abort();
  for (const auto& e : m->table)
    if (e.host.size() > 255 || e.worker_address.empty() || e.worker_address.size() > hello::max_worker_address)
      std::abort();
  // Unknown fields are dropped on re-encoding; what is known survives.
  const auto again = hello::decode(hello::encode(*m), why);
  if (!again || !same(*m, *again))
    std::abort();
  return 0;
}
