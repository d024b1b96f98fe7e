#pragma once
// The audit trail as the admin API and the SDK see it: the SDK's call events (each tied to the
// token decision it used), queries and export, verification of the chain, and purging payloads.
#include <alter/common/clock.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit.hpp"
#include "audit/audit_log.hpp"
#include "oauth/catalog.hpp"
#include "store/store.hpp"
#include "vault/cache.hpp"
#include "vault/issued.hpp"
#include "vault/types.hpp"

namespace alter::server::vault {

/// One call the SDK made with a token, as it reports it (the 0.1 shape, plus request_id, sizes).
struct CallEvent {
  std::map<std::string, std::string> text;        // connection_id, provider_id, method, url, reason, request_id,
                                                  // run_id, thread_id, tool_call_id, timestamp, error
  std::map<std::string, std::int64_t> numbers;    // response_status, latency_ms, request_bytes, response_bytes
  nlohmann::json request_headers = nlohmann::json::object();
  nlohmann::json response_headers = nlohmann::json::object();
  std::optional<nlohmann::json> request_body;
  std::optional<nlohmann::json> response_body;
};

/// What the trail keeps of a call's headers and bodies beside its row, as `capture` says:
/// credential headers never (the common class and the provider's own token header), values and
/// bodies capped.
nlohmann::json call_payload(AuditCapture capture, const oauth::ProviderDef* provider, const nlohmann::json& request_headers,
                            const nlohmann::json& response_headers, const std::optional<nlohmann::json>& request_body,
                            const std::optional<nlohmann::json>& response_body);
/// Raw body bytes as the trail can keep them: UTF-8 text as it is, anything else as a note of
/// its size (a JSON row holds text only).
/// At most `cap` bytes of it (10 KB by default), cut at a character boundary.
nlohmann::json body_for_audit(std::string_view body, std::size_t cap = 10 * 1024);

class AuditTrail {
 public:
  AuditTrail(std::shared_ptr<oauth::Catalog> catalog, Store& store, audit::AuditLog& audit, IssuedDecisions& issued,
             VaultCache& cache, const common::Clock& clock);

  /// Call rows, all or none: each must name the request_id of a decision of this app that issued
  /// a token, for the same connection (an app that allows url-less requests may leave it out: the
  /// connection's latest such decision is then named). 400 naming events[i] otherwise. Headers and
  /// bodies are kept as the app's audit_capture says, credential headers never.
  Result<std::size_t> record_calls(const AppCaller& caller, const nlohmann::json& actor, std::vector<CallEvent> events);

  Result<std::vector<AuditRecord>> query(const AuditFilter& filter) const;
  Result<audit::VerifyReport> verify() const;
  /// The latest verify() on this instance (the console's overview shows it), if any.
  struct LastVerify {
    TimePoint at{};
    audit::VerifyReport report;
  };
  std::optional<LastVerify> last_verify() const;
  Result<std::int64_t> purge(const AuditFilter& filter, const nlohmann::json& said, const AdminCaller& by);

 private:
  Result<audit::AuditEvent> call_row(const AppCaller& caller, const nlohmann::json& actor, CallEvent& e, std::size_t index,
                               const AppSettings& settings);

  std::shared_ptr<oauth::Catalog> catalog_;
  Store& store_;
  audit::AuditLog& audit_;
  IssuedDecisions& issued_;
  VaultCache& cache_;
  const common::Clock& clock_;
  mutable std::mutex verify_mu_;
  mutable std::optional<LastVerify> last_verify_;
};

}  // namespace alter::server::vault
