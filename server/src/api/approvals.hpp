#pragma once
// Human approval of risky calls. A `require_approval` decision answers 403 approval_required with
// an id and a URL; an approver approves or denies (CLI, admin API or the page at the URL). An
// approval is bound to the exact request (actor, user, provider, method, URL), expires, and is
// single use unless the rule grants a window.
#include <optional>
#include <string>

#include "api/services.hpp"
#include "policy/policy.hpp"

namespace alter::server::api {

std::string approval_binding(const policy::PolicyRequest& request);

class ApprovalService {
 public:
  explicit ApprovalService(Services& services) : s_(services) {}

  struct Outcome {
    bool granted = false;       // an approved approval was consumed: hand the token out
    std::string approval_id;    // granted: the one used; else: the pending one to wait for
    std::string approval_url;
    std::string status;         // "approved", "pending", "denied", "expired"
  };

  /// Handles a require_approval decision for this request.
  Result<Outcome> resolve(const policy::PolicyRequest& request, const policy::Decision& decision,
                          const std::optional<std::string>& approval_id, const std::string& request_id);

  Result<Approval> decide(const std::string& app_id, const std::string& id, bool approve, const std::string& by);
  std::string url_for(const std::string& id) const;
  nlohmann::json to_json(const Approval& a) const;

 private:
  Services& s_;
};

}  // namespace alter::server::api
