#include "audit/audit.hpp"

#include <future>

#include "core/time.hpp"
#include "crypto/crypto.hpp"

namespace alter::server::audit {
namespace {

// Drops absent top-level fields (null, "" or {}), so an event's content does not depend on
// which optional fields the caller spelled out. Nested values are kept exactly.
void prune(nlohmann::json& j) {
  if (!j.is_object()) return;
  for (auto it = j.begin(); it != j.end();) {
    const auto& v = it.value();
    const bool empty = v.is_null() || (v.is_string() && v.get_ref<const std::string&>().empty()) ||
                       (v.is_object() && v.empty());
    it = empty ? j.erase(it) : std::next(it);
  }
}

std::string str(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  return (it != j.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

}  // namespace

std::string chain_hash(const std::string& prev_hash, std::int64_t seq, const std::string& content) {
  std::string input;
  input.reserve(prev_hash.size() + content.size() + 24);
  input.append(prev_hash).append("\n").append(std::to_string(seq)).append("\n").append(content);
  return crypto::sha256_hex(input);
}

AuditRecord columns_from_content(const nlohmann::json& c) {
  AuditRecord r;
  r.id = str(c, "id");
  if (auto ts = parse_iso8601(str(c, "ts"))) r.ts = *ts;
  r.kind = str(c, "kind");
  r.app_id = str(c, "app_id");
  if (auto a = c.find("actor"); a != c.end()) r.actor_id = str(*a, "id");
  if (auto u = c.find("user"); u != c.end()) r.user_id = str(*u, "user_id");
  r.provider_id = str(c, "provider_id");
  r.connection_id = str(c, "connection_id");
  r.decision = str(c, "decision");
  r.request_id = str(c, "request_id");
  return r;
}

AuditRecord make_record(nlohmann::json event, TimePoint ts) {
  event["id"] = crypto::new_uuid();
  event["ts"] = iso8601(ts);
  prune(event);
  AuditRecord r = columns_from_content(event);
  r.ts = ts;
  // nlohmann's object is a std::map: dump() is key-sorted, hence canonical. Invalid UTF-8 coming
  // from outside is replaced, so the content always parses back.
  r.content = event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

AuditRecord make_record(nlohmann::json event, TimePoint ts, const nlohmann::json& payload) {
  if (!payload.is_object() || payload.empty()) return make_record(std::move(event), ts);
  std::string text = payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  event["payload_sha256"] = crypto::sha256_hex(text);
  AuditRecord r = make_record(std::move(event), ts);
  r.payload = std::move(text);
  return r;
}

const std::vector<std::string>& audit_kinds() {
  static const std::vector<std::string> kinds = {"token", "api_call", "refresh", "connect", "revocation", "approval", "admin"};
  return kinds;
}

const std::vector<std::string>& audit_decisions() {
  static const std::vector<std::string> decisions = {
      // token decisions
      "issued", "denied", "not_found", "ambiguous", "expired", "approval_required", "error",
      // calls, refreshes, connects, revocations, approvals
      "called", "refreshed", "refresh_failed", "reauth_required", "link_created", "connected", "failed", "deleted",
      "requested", "approved",
      // admin actions
      "initialized", "app_created", "app_updated", "api_key_created", "api_key_revoked", "provider_credential_set",
      "provider_credential_deleted", "provider_added", "provider_removed", "connection_imported", "key_rotated",
      "admin_credential_created", "admin_credential_revoked", "policy_applied", "audit_payloads_purged",
      "key_rotation_finished"};
  return decisions;
}

Result<VerifyReport> verify(Store& store) {
  VerifyReport report;
  std::string prev = kGenesisHash;
  std::int64_t expected_seq = 1;
  AuditFilter filter;
  filter.limit = 2000;
  auto fail = [&](std::int64_t seq, std::string problem) {
    report.ok = false;
    report.first_bad_seq = seq;
    report.problem = std::move(problem);
  };
  for (;;) {
    auto page = store.query_audit(filter);
    if (!page) return common::unexpected(make_error(Errc::kUnavailable, "unavailable", "cannot read the audit trail: " + page.error().message));
    for (const auto& row : *page) {
      ++report.rows_checked;
      if (row.seq != expected_seq) {
        fail(expected_seq, "row " + std::to_string(expected_seq) + " is missing (next row found is " +
                               std::to_string(row.seq) + ")");
        return report;
      }
      if (row.prev_hash != prev) {
        fail(row.seq, "row " + std::to_string(row.seq) + " does not follow the row before it (removed or reordered rows)");
        return report;
      }
      if (chain_hash(prev, row.seq, row.content) != row.hash) {
        fail(row.seq, "row " + std::to_string(row.seq) + " was changed after it was written");
        return report;
      }
      auto content = nlohmann::json::parse(row.content, nullptr, false);
      // A payload must be the one the row committed to; a missing one was purged.
      const std::string digest = content.is_object() ? content.value("payload_sha256", "") : std::string();
      if (row.payload) {
        ++report.payloads_checked;
        if (digest.empty() || crypto::sha256_hex(*row.payload) != digest) {
          fail(row.seq, "the payload of row " + std::to_string(row.seq) + " was changed after it was written");
          return report;
        }
      } else if (!digest.empty()) {
        ++report.payloads_purged;
      }
      const AuditRecord cols = columns_from_content(content);
      if (content.is_discarded() || cols.id != row.id || cols.kind != row.kind || cols.app_id != row.app_id ||
          cols.actor_id != row.actor_id || cols.user_id != row.user_id || cols.provider_id != row.provider_id ||
          cols.connection_id != row.connection_id || cols.decision != row.decision ||
          cols.request_id != row.request_id || to_unix_ms(cols.ts) != to_unix_ms(row.ts)) {
        fail(row.seq, "the query columns of row " + std::to_string(row.seq) + " do not match its content");
        return report;
      }
      prev = row.hash;
      ++expected_seq;
      filter.after_seq = row.seq;
    }
    if (page->size() < filter.limit) break;
  }
  auto head = store.audit_head();
  if (!head) return common::unexpected(make_error(Errc::kUnavailable, "unavailable", "cannot read the audit head: " + head.error().message));
  report.head_seq = head->seq;
  report.head_hash = head->hash;
  if (head->seq != expected_seq - 1 || head->hash != prev) {
    fail(expected_seq, "the trail ends at row " + std::to_string(expected_seq - 1) + " but " +
                           std::to_string(head->seq) + " rows were written (rows removed from the end)");
  }
  return report;
}

AuditWriter::AuditWriter(Store& store, Metrics& metrics, std::size_t max_batch, Logger* log)
    : store_(store), metrics_(metrics), max_batch_(std::max<std::size_t>(max_batch, 1)), log_(log) {
  thread_ = std::thread([this] { loop(); });
}

AuditWriter::~AuditWriter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Result<void> AuditWriter::write(AuditRecord record) {
  std::vector<AuditRecord> rows;
  rows.push_back(std::move(record));
  return write_many(std::move(rows));
}

void AuditWriter::append(std::vector<AuditRecord> records, Completion done) {
  if (records.empty()) {
    done({});
    return;
  }
  {
    std::lock_guard lock(mu_);
    if (!stop_) {
      queue_.push_back(Pending{std::move(records), std::move(done)});
      done = nullptr;
    }
  }
  if (done) {
    done(common::unexpected(make_error(Errc::kUnavailable, "unavailable", "the audit writer is shutting down")));
    return;
  }
  cv_.notify_one();
}

Result<void> AuditWriter::write_many(std::vector<AuditRecord> records) {
  std::promise<Result<void>> promise;
  auto done = promise.get_future();
  append(std::move(records), [&promise](Result<void> r) { promise.set_value(std::move(r)); });
  return done.get();
}

void AuditWriter::note_commit(bool ok) {
  (ok ? last_ok_ns_ : last_failure_ns_).store(std::chrono::steady_clock::now().time_since_epoch().count());
}

bool AuditWriter::failing(std::chrono::steady_clock::duration window) const {
  const auto failed = last_failure_ns_.load();
  if (failed == 0 || failed < last_ok_ns_.load()) return false;
  return std::chrono::steady_clock::now().time_since_epoch().count() - failed < window.count();
}

void AuditWriter::complete(const Completion& done, Result<void> result) {
  // A completion hands its answer over; if that fails, the request it belongs to is answered 500
  // by its own Reply. The writer thread goes on committing.
  try {
    done(std::move(result));
  } catch (const std::exception&) {
    metrics_.inc("alter_audit_completion_failures_total");
  }
}

void AuditWriter::loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    std::vector<Pending> batch;
    std::size_t rows = 0;
    while (!queue_.empty() && (batch.empty() || rows + queue_.front().rows.size() <= max_batch_)) {
      rows += queue_.front().rows.size();
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.unlock();
    std::vector<AuditRecord> all;
    all.reserve(rows);
    for (auto& p : batch) {
      for (auto& r : p.rows) all.push_back(std::move(r));
    }
    const auto started = std::chrono::steady_clock::now();
    auto result = store_.append_audit(all, chain_hash);
    metrics_.observe("alter_audit_commit_seconds", "", std::chrono::steady_clock::now() - started);
    const auto finished = std::chrono::steady_clock::now().time_since_epoch().count();
    (result ? last_ok_ns_ : last_failure_ns_).store(finished);
    if (result) {
      metrics_.inc("alter_audit_rows_total", "", all.size());
      for (auto& p : batch) complete(p.done, {});
    } else {
      metrics_.inc("alter_audit_failures_total");
      if (log_ && failure_log_.allow()) {
        log_->error("audit rows could not be committed: the decisions waiting on them were answered 503 and no token left",
                    {{"rows", all.size()}, {"error", result.error().message}});
      }
      const Error err = make_error(Errc::kUnavailable, "unavailable", "the audit trail cannot be written: " + result.error().message);
      for (auto& p : batch) complete(p.done, common::unexpected(err));
    }
    lock.lock();
  }
}

}  // namespace alter::server::audit
