#pragma once
// The communicator's PMIx bootstrap: under Open MPI's mpirun / prterun or
// Slurm's srun --mpi=pmix, every process is a PMIx client of its launcher.
// Each rank puts its table entry (worker address, identity, host) under one
// key, a fence with data collection hands every rank everyone's, and the
// table is read back with PMIx_Get. No MPI library is involved.
//
// Compiled only where <pmix.h> is on the include path (UCORO_HAS_PMIX, see
// config.hpp: `pkg-config --cflags --libs pmix`); elsewhere a PMIx launch is a
// not_supported error.

#include <ucoro/comm/detail/rendezvous.hpp>
#include <ucoro/error.hpp>

#include <pmix.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace ucoro::detail {

/// PMIx stays initialized while a communicator made from it lives: a
/// launcher that sees a client exit without PMIx_Finalize may report it, and
/// PMIx reference-counts PMIx_Init, so a user's own PMIx (or MPI) use is
/// unaffected.
class pmix_session {
public:
  pmix_session() {
    const pmix_status_t rc = PMIx_Init(&m_proc, nullptr, 0);
    if (rc != PMIX_SUCCESS)
      throw_error(std::make_error_code(std::errc::connection_refused),
                  std::string("communicator bootstrap: PMIx_Init: ") + PMIx_Error_string(rc) +
                      " (PMIX_NAMESPACE is set, but the launcher's PMIx server did not answer)");
  }
  ~pmix_session() { (void)PMIx_Finalize(nullptr, 0); }
  pmix_session(const pmix_session&) = delete;
  pmix_session& operator=(const pmix_session&) = delete;

  [[nodiscard]] const pmix_proc_t& proc() const noexcept { return m_proc; }

private:
  pmix_proc_t m_proc{};
};

struct pmix_table {
  std::shared_ptr<pmix_session> session;
  std::uint32_t rank = 0;
  std::vector<hello::table_entry> table;
};

[[nodiscard]] inline std::string pmix_failure(const char* call, pmix_status_t rc) {
  return std::string("communicator bootstrap through PMIx: ") + call + ": " + PMIx_Error_string(rc);
}

[[nodiscard]] inline std::error_code pmix_error_code(pmix_status_t rc) {
  if (rc == PMIX_ERR_TIMEOUT)
    return std::make_error_code(std::errc::timed_out);
  if (rc == PMIX_ERR_NOT_FOUND)
    return std::make_error_code(std::errc::no_such_device_or_address);
  return std::make_error_code(std::errc::io_error);
}

/// Blocking (PMIx's calls are): bootstrap happens once, before any traffic.
/// `timeout` bounds the fence and each get (PMIx counts whole seconds).
[[nodiscard]] inline pmix_table pmix_exchange(const hello::table_entry& self, std::chrono::milliseconds timeout) {
  static constexpr char key[] = "ucoro.table_entry.v1";
  pmix_table out;
  out.session = std::make_shared<pmix_session>();
  const pmix_proc_t& me = out.session->proc();
  out.rank = me.rank;

  pmix_proc_t job;
  PMIX_LOAD_PROCID(&job, me.nspace, PMIX_RANK_WILDCARD);
  pmix_value_t* value = nullptr;
  pmix_status_t rc = PMIx_Get(&job, PMIX_JOB_SIZE, nullptr, 0, &value);
  if (rc != PMIX_SUCCESS || value == nullptr || value->type != PMIX_UINT32)
    throw_error(pmix_error_code(rc), pmix_failure("PMIx_Get(PMIX_JOB_SIZE)", rc));
  const std::uint32_t size = value->data.uint32;
  PMIX_VALUE_RELEASE(value);
  if (size == 0 || size > hello::max_ranks || out.rank >= size)
    throw_invalid_argument("communicator bootstrap through PMIx: rank " + std::to_string(out.rank) + " of " +
                           std::to_string(size));

  std::vector<std::byte> mine = encode_table_entry(self);
  pmix_value_t put;
  PMIX_VALUE_CONSTRUCT(&put);
  put.type = PMIX_BYTE_OBJECT;
  put.data.bo.bytes = reinterpret_cast<char*>(mine.data());
  put.data.bo.size = mine.size();
  rc = PMIx_Put(PMIX_GLOBAL, key, &put); // copies the bytes
  if (rc != PMIX_SUCCESS)
    throw_error(pmix_error_code(rc), pmix_failure("PMIx_Put", rc));
  if (rc = PMIx_Commit(); rc != PMIX_SUCCESS)
    throw_error(pmix_error_code(rc), pmix_failure("PMIx_Commit", rc));

  int seconds = static_cast<int>(std::max<std::chrono::milliseconds::rep>(
      1, std::chrono::ceil<std::chrono::seconds>(timeout).count()));
  bool collect = true;
  pmix_info_t fence_info[2];
  PMIX_INFO_LOAD(&fence_info[0], PMIX_COLLECT_DATA, &collect, PMIX_BOOL);
  PMIX_INFO_LOAD(&fence_info[1], PMIX_TIMEOUT, &seconds, PMIX_INT);
  rc = PMIx_Fence(&job, 1, fence_info, 2);
  PMIX_INFO_DESTRUCT(&fence_info[0]);
  PMIX_INFO_DESTRUCT(&fence_info[1]);
  if (rc != PMIX_SUCCESS)
    throw_error(pmix_error_code(rc), pmix_failure("PMIx_Fence", rc) + " (" + std::to_string(size) +
                                         " ranks within " + std::to_string(seconds) + " s: one never arrived?)");

  pmix_info_t get_info;
  PMIX_INFO_LOAD(&get_info, PMIX_TIMEOUT, &seconds, PMIX_INT);
  out.table.reserve(size);
  std::vector<std::uint32_t> missing;
  for (std::uint32_t r = 0; r < size; ++r) {
    pmix_proc_t peer;
    PMIX_LOAD_PROCID(&peer, me.nspace, r);
    value = nullptr;
    rc = PMIx_Get(&peer, key, &get_info, 1, &value);
    if (rc != PMIX_SUCCESS || value == nullptr || value->type != PMIX_BYTE_OBJECT) {
      if (value != nullptr)
        PMIX_VALUE_RELEASE(value);
      missing.push_back(r);
      out.table.emplace_back();
      continue;
    }
    const std::span<const std::byte> blob(reinterpret_cast<const std::byte*>(value->data.bo.bytes), value->data.bo.size);
    try {
      out.table.push_back(decode_table_entry(blob, r, "communicator bootstrap through PMIx"));
    } catch (...) {
      PMIX_VALUE_RELEASE(value);
      PMIX_INFO_DESTRUCT(&get_info);
      throw;
    }
    PMIX_VALUE_RELEASE(value);
  }
  PMIX_INFO_DESTRUCT(&get_info);
  if (!missing.empty())
    throw_error(std::make_error_code(std::errc::timed_out),
                "communicator bootstrap through PMIx: no entry from rank" + std::string(missing.size() > 1 ? "s " : " ") +
                    rank_list(missing) + " of " + std::to_string(size) + " (not a ucoro process, or it never bootstrapped)");
  return out;
}

} // namespace ucoro::detail
