#pragma once
// Audit as part of the operation, not a call someone remembers (after OpenBao's audit broker):
// every change the vault makes commits together with its audit row, or neither does and the
// caller gets 503 unavailable. Decisions that change nothing of their own (a token handed out,
// a denial) go through the group commit, and are answered only once durable. One rule for every
// kind of event: admin, policy, connect, refresh, revocation, approval, key rotation.
#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <vector>

#include <alter/common/clock.hpp>

#include "audit/audit.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/types.hpp"
#include "store/store.hpp"

namespace alter::server::audit {

/// An audit event before it becomes a row: its content (kind, decision, app, actor, ...) and the
/// call's payload (headers, bodies), if any.
struct AuditEvent {
  nlohmann::json content;
  nlohmann::json payload = nlohmann::json::object();
};

class AuditLog {
 public:
  AuditLog(Store& store, AuditWriter& writer, const common::Clock& clock, Metrics& metrics, Logger& log);

  /// Runs `change` (whose store calls join one transaction) and writes `events` in it; with
  /// `shared_state_changed` the cross-instance change version is bumped in it too. A domain error
  /// of `change` is returned as it is; a store or audit failure is 503 unavailable. Either way
  /// nothing of it was written. `events` may be filled by `change` (it knows the ids it made).
  Result<void> commit(const std::function<Result<void>()>& change, std::vector<AuditEvent>& events,
                      bool shared_state_changed);
  Result<void> commit(const std::function<Result<void>()>& change, AuditEvent event, bool shared_state_changed);

  /// An event that changes nothing else, through the group commit: 503 when it cannot be written.
  Result<void> record(AuditEvent event);
  Result<void> record(std::vector<AuditEvent> events);
  /// The same without waiting: `done` runs (on the group commit's thread) once the rows are
  /// durable, or with 503 when they cannot be written. It must not block.
  void record_async(std::vector<AuditEvent> events, AuditWriter::Completion done);

  const common::Clock& clock() const { return clock_; }
  /// Whether the last commit (of either kind) failed less than `window` ago, none succeeding since.
  bool failing(std::chrono::steady_clock::duration window) const { return writer_.failing(window); }

 private:
  Store& store_;
  AuditWriter& writer_;
  const common::Clock& clock_;
  Metrics& metrics_;
  Logger& log_;
};

/// The canonical 503 of a trail that cannot be written.
Error audit_unavailable();

}  // namespace alter::server::audit
