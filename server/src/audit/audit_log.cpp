#include "audit/audit_log.hpp"

namespace alter::server::audit {

Error audit_unavailable() {
  return make_error(Errc::kUnavailable, "unavailable", "the audit trail cannot be written: nothing was changed");
}

AuditLog::AuditLog(Store& store, AuditWriter& writer, const common::Clock& clock, Metrics& metrics, Logger& log)
    : store_(store), writer_(writer), clock_(clock), metrics_(metrics), log_(log) {}

Result<void> AuditLog::commit(const std::function<Result<void>()>& change, std::vector<AuditEvent>& events,
                              bool shared_state_changed) {
  std::optional<Error> domain_error;
  std::vector<AuditRecord> rows;
  auto committed = store_.commit_with_audit(
      [&]() -> StoreResult<void> {
        if (auto r = change(); !r) {
          domain_error = r.error();
          return common::unexpected(StoreError{StoreErrc::kInvalid, "the change was refused"});
        }
        // The rows are made once the change ran: it may have named what it created.
        const TimePoint now = clock_.wall();
        rows.clear();
        for (auto& e : events) rows.push_back(make_record(e.content, now, e.payload));
        return {};
      },
      rows, chain_hash, shared_state_changed);
  if (domain_error) return common::unexpected(*domain_error);
  if (!committed) {
    metrics_.inc("alter_audit_failures_total");
    const std::string kind = events.empty() ? "" : events.front().content.value("kind", "");
    const std::string decision = events.empty() ? "" : events.front().content.value("decision", "");
    log_.error("a change was refused: it and its audit row could not be committed",
               {{"kind", kind}, {"decision", decision}, {"error", committed.error().message}});
    writer_.note_commit(false);
    return common::unexpected(audit_unavailable());
  }
  writer_.note_commit(true);
  metrics_.inc("alter_audit_rows_total", "", rows.size());
  return {};
}

Result<void> AuditLog::commit(const std::function<Result<void>()>& change, AuditEvent event, bool shared_state_changed) {
  std::vector<AuditEvent> events;
  events.push_back(std::move(event));
  return commit(change, events, shared_state_changed);
}

Result<void> AuditLog::record(AuditEvent event) {
  std::vector<AuditEvent> events;
  events.push_back(std::move(event));
  return record(std::move(events));
}

namespace {

std::vector<AuditRecord> rows_of(std::vector<AuditEvent>& events, TimePoint now) {
  std::vector<AuditRecord> rows;
  rows.reserve(events.size());
  for (auto& e : events) rows.push_back(make_record(std::move(e.content), now, e.payload));
  return rows;
}

}  // namespace

Result<void> AuditLog::record(std::vector<AuditEvent> events) {
  auto written = writer_.write_many(rows_of(events, clock_.wall()));
  if (!written) return common::unexpected(audit_unavailable());
  return {};
}

void AuditLog::record_async(std::vector<AuditEvent> events, AuditWriter::Completion done) {
  writer_.append(rows_of(events, clock_.wall()), [done = std::move(done)](Result<void> written) {
    done(written ? Result<void>{} : Result<void>(common::unexpected(audit_unavailable())));
  });
}

}  // namespace alter::server::audit
