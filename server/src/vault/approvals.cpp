#include "vault/approvals.hpp"

#include "core/time.hpp"
#include "crypto/crypto.hpp"
#include "vault/authenticator.hpp"

namespace alter::server::vault {
namespace {

Error approval_error(std::string code, std::string message) {
  return make_error(Errc::kPermissionDenied, std::move(code), std::move(message));
}

// Expiry is computed on read: a pending approval past its time is expired.
Approval effective(Approval a, TimePoint now) {
  if (a.status == ApprovalStatus::kPending && a.expires_at <= now) a.status = ApprovalStatus::kExpired;
  return a;
}

}  // namespace

std::string approval_binding(const policy::PolicyRequest& r) {
  nlohmann::json j = {{"app_id", r.app_id}, {"actor_type", r.actor.type}, {"actor_id", r.actor.id},
                      {"user", r.user}, {"provider_id", r.provider_id}, {"method", r.method}, {"url", r.url}};
  // A proxied call binds its body and forwarded headers too (a token handout has none to bind).
  if (r.proxied) {
    j["proxied"] = true;
    j["content_digest"] = r.content_digest;
  }
  return crypto::sha256_hex(j.dump());
}

Decided<ApprovalService::Check> ApprovalService::check(const policy::PolicyRequest& request, const policy::Decision& decision,
                                                       const std::optional<std::string>& approval_id,
                                                       const std::string& request_id, const nlohmann::json& shown) const {
  const TimePoint now = clock_.wall();
  const std::string binding = approval_binding(request);
  const nlohmann::json rule = {{"rule_id", decision.rule_id}};
  if (approval_id) {
    auto a = store_.get_approval(*approval_id);
    if (!a || a->app_id != request.app_id) return refuse(approval_error("approval_not_found", "no such approval for this app"), rule);
    if (a->binding_hash != binding) {
      return refuse(approval_error("approval_mismatch", "this approval was given for a different request"), rule);
    }
    if (a->status == ApprovalStatus::kDenied) return refuse(approval_error("approval_denied", "the approver denied this request"), rule);
    if (a->status == ApprovalStatus::kUsed) return refuse(approval_error("approval_used", "this approval was already used"), rule);
    if (a->status == ApprovalStatus::kExpired || (a->status == ApprovalStatus::kPending && a->expires_at <= now) ||
        (a->status == ApprovalStatus::kApproved && a->valid_until && *a->valid_until <= now)) {
      return refuse(approval_error("approval_expired", "this approval expired"), rule);
    }
    return Check{a->status == ApprovalStatus::kApproved ? Check::State::kGranted : Check::State::kPending, *a};
  }
  // Without an id: use an approved approval of this exact request, or join a pending one.
  auto existing = store_.list_approvals(request.app_id, std::nullopt, 200);
  if (!existing) return refuse(store_error(existing.error()));
  for (const auto& a : *existing) {
    if (a.binding_hash == binding && a.status == ApprovalStatus::kApproved && (!a.valid_until || *a.valid_until > now)) {
      return Check{Check::State::kGranted, a};
    }
  }
  for (const auto& a : *existing) {
    if (a.binding_hash == binding && a.status == ApprovalStatus::kPending && a.expires_at > now) {
      return Check{Check::State::kPending, a};
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
  if (request.proxied) {
    a.request["proxied"] = true;
    for (auto it = shown.begin(); it != shown.end(); ++it) a.request[it.key()] = it.value();
  }
  a.rule_id = decision.rule_id;
  a.created_at = now;
  a.expires_at = now + decision.approval.ttl;
  return Check{Check::State::kNew, std::move(a)};
}

Result<void> ApprovalService::consume(const Approval& a) const {
  Approval next = a;
  ++next.uses;
  // Single use: approved -> used. A window keeps it approved until valid_until.
  if (!a.valid_until) next.status = ApprovalStatus::kUsed;
  auto saved = store_.update_approval(next, ApprovalStatus::kApproved);
  if (!saved) {
    if (saved.error().code == StoreErrc::kConflict) return common::unexpected(approval_error("approval_used", "this approval was already used"));
    return common::unexpected(store_error(saved.error()));
  }
  return {};
}

Result<void> ApprovalService::create(const Approval& a) const {
  if (auto r = store_.create_approval(a); !r) return common::unexpected(store_error(r.error()));
  return {};
}

Result<Approval> ApprovalService::get(const std::string& id) const {
  auto a = store_.get_approval(id);
  if (!a) {
    if (a.error().code == StoreErrc::kNotFound) return common::unexpected(make_error(Errc::kNotFound, "not_found", "no such approval"));
    return common::unexpected(store_error(a.error()));
  }
  return effective(std::move(a.value()), clock_.wall());
}

Result<std::vector<Approval>> ApprovalService::list(const std::string& app_id, std::optional<ApprovalStatus> status) const {
  // Expiry is computed on read: filter on the effective status, not the stored one.
  auto rows = store_.list_approvals(app_id, std::nullopt, 500);
  if (!rows) return common::unexpected(store_error(rows.error()));
  std::vector<Approval> out;
  const TimePoint now = clock_.wall();
  for (auto& a : *rows) {
    a = effective(std::move(a), now);
    if (!status || a.status == *status) out.push_back(std::move(a));
  }
  return out;
}

Result<Approval> ApprovalService::decide(const std::string& app_id, const std::string& id, bool approve, const std::string& by) {
  auto a = store_.get_approval(id);
  if (!a || (!app_id.empty() && a->app_id != app_id)) {
    return common::unexpected(make_error(Errc::kNotFound, "not_found", "no such approval"));
  }
  const TimePoint now = clock_.wall();
  if (a->status != ApprovalStatus::kPending) {
    return common::unexpected(make_error(Errc::kConflict, "approval_decided", "this approval is already " + std::string(to_string(a->status))));
  }
  if (a->expires_at <= now) {
    return common::unexpected(make_error(Errc::kConflict, "approval_expired", "this approval expired before a decision"));
  }
  Approval next = *a;
  next.status = approve ? ApprovalStatus::kApproved : ApprovalStatus::kDenied;
  next.decided_at = now;
  next.decided_by = "admin:" + by;
  const auto window = a->request.value("window_seconds", 0);
  if (approve && window > 0) next.valid_until = now + std::chrono::seconds(window);
  audit::AuditEvent event{{{"kind", "approval"}, {"app_id", a->app_id}, {"decision", approve ? "approved" : "denied"},
                           {"provider_id", a->request.value("provider_id", "")}, {"user", a->request.value("user", nlohmann::json::object())},
                           {"request_id", a->request.value("request_id", "")}, {"rule_id", a->rule_id},
                           {"actor", {{"type", "admin"}, {"id", by}}},
                           {"details", {{"approval_id", a->id}, {"by", by}}}}};
  std::optional<Approval> saved;
  auto committed = audit_.commit(
      [&]() -> Result<void> {
        auto r = store_.update_approval(next, ApprovalStatus::kPending);
        if (!r) {
          if (r.error().code == StoreErrc::kConflict) {
            return common::unexpected(make_error(Errc::kConflict, "approval_decided", "this approval was decided meanwhile"));
          }
          return common::unexpected(store_error(r.error()));
        }
        saved = std::move(r.value());
        return {};
      },
      std::move(event), false);
  if (!committed) return common::unexpected(committed.error());
  return *saved;
}

}  // namespace alter::server::vault
