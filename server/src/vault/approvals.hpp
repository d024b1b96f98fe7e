#pragma once
// Human approval of risky calls. A `require_approval` decision answers approval_required with an
// id and a URL; an approver approves or denies (CLI, admin API, the page at the URL). An approval
// is bound to the exact request (actor, user, provider, method, URL), expires, and is single use
// unless the rule grants a window. Every change of an approval commits with its audit row.
#include <functional>
#include <optional>
#include <string>

#include <alter/common/clock.hpp>

#include "audit/audit_log.hpp"
#include "policy/policy.hpp"
#include "store/store.hpp"
#include "vault/types.hpp"

namespace alter::server::vault {

/// The hash an approval is bound to.
std::string approval_binding(const policy::PolicyRequest& request);

class ApprovalService {
 public:
  ApprovalService(Store& store, audit::AuditLog& audit, const common::Clock& clock, std::function<std::string()> public_url)
      : store_(store), audit_(audit), clock_(clock), public_url_(std::move(public_url)) {}

  struct Check {
    enum class State { kGranted, kPending, kNew };
    State state = State::kNew;
    Approval approval;  // kGranted: the one to consume; kPending: the one to wait for; kNew: to create
  };
  /// What a require_approval decision finds for this request (read only): an approved approval
  /// to use, a pending one to wait for, or a new one to create. Refusals: approval_not_found,
  /// approval_mismatch, approval_denied, approval_used, approval_expired.
  /// `shown`: more of the request for the approver to see (a proxied call's headers, redacted, and
  /// the start of its body), kept with a new approval.
  Decided<Check> check(const policy::PolicyRequest& request, const policy::Decision& decision,
                       const std::optional<std::string>& approval_id, const std::string& request_id,
                       const nlohmann::json& shown = nlohmann::json::object()) const;
  /// Uses a granted approval (compare-and-set): call inside the commit of the decision's row.
  Result<void> consume(const Approval& approval) const;
  Result<void> create(const Approval& approval) const;

  /// An approver's decision, committed with its audit row.
  Result<Approval> decide(const std::string& app_id, const std::string& id, bool approve, const std::string& by);
  Result<Approval> get(const std::string& id) const;
  Result<std::vector<Approval>> list(const std::string& app_id, std::optional<ApprovalStatus> status) const;

  std::string url_for(const std::string& id) const { return public_url_() + "/approvals/" + id; }

 private:
  Store& store_;
  audit::AuditLog& audit_;
  const common::Clock& clock_;
  std::function<std::string()> public_url_;
};

}  // namespace alter::server::vault
