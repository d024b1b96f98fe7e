#pragma once
// The tamper-evident audit trail. Each row's hash covers the previous row's hash, its own seq and
// its canonical content (sorted-key JSON), so a changed, removed or reordered row breaks the chain
// from that point; the head (last seq and hash) is kept apart, so cutting rows off the end shows too.
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/types.hpp"
#include "store/store.hpp"

namespace alter::server::audit {

inline const std::string kGenesisHash(64, '0');

/// hex SHA-256 of prev_hash "\n" seq "\n" content.
std::string chain_hash(const std::string& prev_hash, std::int64_t seq, const std::string& content);

/// Builds a row from an event: `event` must hold "kind"; "id" and "ts" are added. Empty strings
/// and empty objects are dropped so the content is canonical. The query columns are copied from
/// the content (actor.id, user.user_id, provider_id, ...).
AuditRecord make_record(nlohmann::json event, TimePoint ts);
/// The same, with a payload (a call's redacted headers and capped bodies): kept beside the row,
/// its SHA-256 in the row's content as payload_sha256, so it can be purged later and the chain
/// still verifies. An empty object is no payload.
AuditRecord make_record(nlohmann::json event, TimePoint ts, const nlohmann::json& payload);

/// The closed sets an audit query filters on (the CLI and the admin API refuse anything else).
const std::vector<std::string>& audit_kinds();
const std::vector<std::string>& audit_decisions();

/// Rebuilds the query columns a row should have from its content (used by verify).
AuditRecord columns_from_content(const nlohmann::json& content);

struct VerifyReport {
  bool ok = true;
  std::int64_t rows_checked = 0;
  std::int64_t first_bad_seq = 0;  // 0 when ok
  std::string problem;             // empty when ok
  std::string head_hash;
  std::int64_t head_seq = 0;
  std::int64_t payloads_checked = 0;
  std::int64_t payloads_purged = 0;  // rows whose payload was purged (their digest stays)
};

/// Walks the whole chain. Reports the first row that does not fit.
Result<VerifyReport> verify(Store& store);

/// Group commit: rows from many requests are appended in one transaction, on the writer's own
/// thread. append() returns at once and calls `done` (on that thread) when the rows are durable or
/// failed (then nothing of them was written): the request path awaits it without holding a thread.
/// write() blocks the calling thread for the same, for the paths that run on worker threads.
class AuditWriter {
 public:
  /// `log`, when given, gets one error line per failed group commit (at most one per 5 s).
  AuditWriter(Store& store, Metrics& metrics, std::size_t max_batch, Logger* log = nullptr);
  ~AuditWriter();
  AuditWriter(const AuditWriter&) = delete;
  AuditWriter& operator=(const AuditWriter&) = delete;

  using Completion = std::function<void(Result<void>)>;

  /// Queues `records` for the next group commit; `done` runs once, on the writer's thread (or at
  /// once, on the caller's, when the writer is stopping). It must not block.
  void append(std::vector<AuditRecord> records, Completion done);
  Result<void> write(AuditRecord record);
  Result<void> write_many(std::vector<AuditRecord> records);

  /// Whether the most recent commit failed (and when): /readyz reports the vault not ready while
  /// its last commit failed less than `window` ago, since every audited answer is a 503 then.
  bool failing(std::chrono::steady_clock::duration window) const;
  /// A commit made elsewhere (a change with its audit rows) succeeded or failed: /readyz counts it.
  void note_commit(bool ok);

 private:
  struct Pending {
    std::vector<AuditRecord> rows;
    Completion done;
  };
  void loop();
  void complete(const Completion& done, Result<void> result);

  Store& store_;
  Metrics& metrics_;
  const std::size_t max_batch_;
  Logger* log_;
  LogThrottle failure_log_;  // one line per 5 s for failed group commits
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stop_ = false;
  std::atomic<std::int64_t> last_ok_ns_{0};
  std::atomic<std::int64_t> last_failure_ns_{0};
  std::thread thread_;
};

}  // namespace alter::server::audit
