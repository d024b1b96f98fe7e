#pragma once
// Policy documents of an app: apply a new version (validated first; committed with its audit row
// and the change version, so every instance decides with it from its next request), list, show,
// diff, and the dry run with its per-rule trace.
#include <alter/common/clock.hpp>

#include <memory>
#include <string>

#include "audit/audit_log.hpp"
#include "policy/engine.hpp"
#include "store/store.hpp"
#include "vault/types.hpp"

namespace alter::server::vault {

struct AppliedPolicy {
  PolicyVersion version;
  std::size_t rules = 0;
};

class PolicyService {
 public:
  PolicyService(Store& store, policy::PolicyEngine& engine, audit::AuditLog& audit, const common::Clock& clock)
      : store_(store), engine_(engine), audit_(audit), clock_(clock) {}

  /// `format`: toml, json or auto. Errors: invalid_policy naming the line and field.
  Result<AppliedPolicy> apply(const std::string& app_id, const std::string& document, std::string format, const AdminCaller& by);
  Result<std::vector<PolicyVersion>> list(const std::string& app_id) const;
  /// version 0: the latest.
  Result<PolicyVersion> get(const std::string& app_id, std::int64_t version) const;
  Result<nlohmann::json> diff(const std::string& app_id, std::int64_t from, std::int64_t to) const;
  /// The decision this request would get, with a trace; no rate-limit quota is used.
  Result<policy::Decision> test(const policy::PolicyRequest& request);

 private:
  Result<void> app_exists(const std::string& app_id) const;

  Store& store_;
  policy::PolicyEngine& engine_;
  audit::AuditLog& audit_;
  const common::Clock& clock_;
};

}  // namespace alter::server::vault
