#include "api/approvals.hpp"

#include "core/time.hpp"
#include "crypto/crypto.hpp"

namespace alter::server::api {

std::string approval_binding(const policy::PolicyRequest& r) {
  nlohmann::json j = {{"app_id", r.app_id}, {"actor_type", r.actor.type}, {"actor_id", r.actor.id},
                      {"user", r.user}, {"provider_id", r.provider_id}, {"method", r.method}, {"url", r.url}};
  return crypto::sha256_hex(j.dump());
}

std::string ApprovalService::url_for(const std::string& id) const { return s_.public_url + "/approvals/" + id; }

nlohmann::json ApprovalService::to_json(const Approval& a) const {
  nlohmann::json j = {{"id", a.id}, {"app_id", a.app_id}, {"status", to_string(a.status)}, {"request", a.request},
                      {"rule_id", a.rule_id}, {"created_at", iso8601(a.created_at)},
                      {"expires_at", iso8601(a.expires_at)}, {"uses", a.uses}, {"approval_url", url_for(a.id)}};
  if (a.decided_at) j["decided_at"] = iso8601(*a.decided_at);
  if (!a.decided_by.empty()) j["decided_by"] = a.decided_by;
  if (a.valid_until) j["valid_until"] = iso8601(*a.valid_until);
  return j;
}

Result<ApprovalService::Outcome> ApprovalService::resolve(const policy::PolicyRequest& request,
                                                          const policy::Decision& decision,
                                                          const std::optional<std::string>& approval_id,
                                                          const std::string& request_id) {
  const TimePoint now = s_.clock.wall();
  const std::string binding = approval_binding(request);

  auto usable = [&](const Approval& a) {
    if (a.app_id != request.app_id || a.binding_hash != binding) return false;
    if (a.status == ApprovalStatus::kApproved) return !a.valid_until || *a.valid_until > now;
    return false;
  };
  auto consume = [&](Approval a) -> Result<Outcome> {
    Approval next = a;
    ++next.uses;
    // Single use: approved -> used. A window keeps it approved until valid_until.
    if (!a.valid_until) next.status = ApprovalStatus::kUsed;
    auto saved = s_.store.update_approval(next, ApprovalStatus::kApproved);
    if (!saved) {
      if (saved.error().code == StoreErrc::kConflict) {
        return common::unexpected(make_error(Errc::kPermissionDenied, "approval_used", "this approval was already used"));
      }
      return common::unexpected(store_error(saved.error()));
    }
    return Outcome{true, a.id, url_for(a.id), "approved"};
  };

  if (approval_id) {
    auto a = s_.store.get_approval(*approval_id);
    if (!a || a->app_id != request.app_id) {
      return common::unexpected(make_error(Errc::kPermissionDenied, "approval_not_found", "no such approval for this app"));
    }
    if (a->binding_hash != binding) {
      return common::unexpected(make_error(Errc::kPermissionDenied, "approval_mismatch", "this approval was given for a different request"));
    }
    if (a->status == ApprovalStatus::kDenied) return common::unexpected(make_error(Errc::kPermissionDenied, "approval_denied", "the approver denied this request"));
    if (a->status == ApprovalStatus::kUsed) return common::unexpected(make_error(Errc::kPermissionDenied, "approval_used", "this approval was already used"));
    if (a->status == ApprovalStatus::kExpired || (a->status == ApprovalStatus::kPending && a->expires_at <= now) ||
        (a->status == ApprovalStatus::kApproved && a->valid_until && *a->valid_until <= now)) {
      return common::unexpected(make_error(Errc::kPermissionDenied, "approval_expired", "this approval expired"));
    }
    if (a->status == ApprovalStatus::kApproved) return consume(*a);
    return Outcome{false, a->id, url_for(a->id), "pending"};
  }

  // Without an id: use an approved approval of this exact request, or join a pending one.
  auto existing = s_.store.list_approvals(request.app_id, std::nullopt, 200);
  if (!existing) return common::unexpected(store_error(existing.error()));
  for (const auto& a : *existing) {
    if (usable(a)) return consume(a);
  }
  for (const auto& a : *existing) {
    if (a.binding_hash == binding && a.status == ApprovalStatus::kPending && a.expires_at > now) {
      return Outcome{false, a.id, url_for(a.id), "pending"};
    }
  }
  Approval a;
  a.id = "ap_" + crypto::random_token(12);
  a.app_id = request.app_id;
  a.status = ApprovalStatus::kPending;
  a.binding_hash = binding;
  a.request = {{"actor", {{"type", request.actor.type}, {"id", request.actor.id}, {"name", request.actor.name}}},
               {"user", request.user}, {"provider_id", request.provider_id}, {"method", request.method},
               {"url", request.url}, {"reason", request.reason}, {"request_id", request_id},
               {"window_seconds", decision.approval.window ? decision.approval.window->count() : 0}};
  a.rule_id = decision.rule_id;
  a.created_at = now;
  a.expires_at = now + decision.approval.ttl;
  if (auto r = s_.store.create_approval(a); !r) return common::unexpected(store_error(r.error()));
  // The request is refused either way; an audit failure surfaces as 503 through the decision's own row.
  (void)s_.audit.write(audit::make_record({{"kind", "approval"}, {"app_id", a.app_id}, {"decision", "requested"},
                                     {"provider_id", request.provider_id}, {"user", request.user},
                                     {"actor", {{"type", request.actor.type}, {"id", request.actor.id}}},
                                     {"request_id", request_id}, {"rule_id", a.rule_id},
                                     {"details", {{"approval_id", a.id}}}},
                                    now));
  return Outcome{false, a.id, url_for(a.id), "pending"};
}

Result<Approval> ApprovalService::decide(const std::string& app_id, const std::string& id, bool approve,
                                         const std::string& by) {
  auto a = s_.store.get_approval(id);
  if (!a || (!app_id.empty() && a->app_id != app_id)) {
    return common::unexpected(make_error(Errc::kNotFound, "not_found", "no such approval"));
  }
  const TimePoint now = s_.clock.wall();
  if (a->status != ApprovalStatus::kPending) {
    return common::unexpected(make_error(Errc::kConflict, "approval_decided", "this approval is already " + std::string(to_string(a->status))));
  }
  Approval next = *a;
  if (a->expires_at <= now) {
    next.status = ApprovalStatus::kExpired;
    (void)s_.store.update_approval(next, ApprovalStatus::kPending);
    return common::unexpected(make_error(Errc::kConflict, "approval_expired", "this approval expired before a decision"));
  }
  next.status = approve ? ApprovalStatus::kApproved : ApprovalStatus::kDenied;
  next.decided_at = now;
  next.decided_by = by;
  const auto window = a->request.value("window_seconds", 0);
  if (approve && window > 0) next.valid_until = now + std::chrono::seconds(window);
  auto saved = s_.store.update_approval(next, ApprovalStatus::kPending);
  if (!saved) {
    if (saved.error().code == StoreErrc::kConflict) {
      return common::unexpected(make_error(Errc::kConflict, "approval_decided", "this approval was decided meanwhile"));
    }
    return common::unexpected(store_error(saved.error()));
  }
  auto w = s_.audit.write(audit::make_record({{"kind", "approval"}, {"app_id", a->app_id},
                                              {"decision", approve ? "approved" : "denied"},
                                              {"provider_id", a->request.value("provider_id", "")},
                                              {"request_id", a->request.value("request_id", "")},
                                              {"rule_id", a->rule_id},
                                              {"details", {{"approval_id", a->id}, {"by", by}}}},
                                             now));
  if (!w) return common::unexpected(w.error());
  return saved.value();
}

}  // namespace alter::server::api
