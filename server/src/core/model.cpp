#include "core/model.hpp"

namespace alter::server {

// These spellings are stored in the database: changing one needs a migration.
std::string_view to_string(ConnectionStatus status) {
  switch (status) {
    case ConnectionStatus::kActive: return "active";
    case ConnectionStatus::kReauthRequired: return "reauth_required";
  }
  return "active";
}

std::optional<ConnectionStatus> connection_status_from(std::string_view text) {
  if (text == "active") return ConnectionStatus::kActive;
  if (text == "reauth_required") return ConnectionStatus::kReauthRequired;
  return std::nullopt;
}

std::string_view to_string(ApprovalStatus status) {
  switch (status) {
    case ApprovalStatus::kPending: return "pending";
    case ApprovalStatus::kApproved: return "approved";
    case ApprovalStatus::kDenied: return "denied";
    case ApprovalStatus::kExpired: return "expired";
    case ApprovalStatus::kUsed: return "used";
  }
  return "pending";
}

std::optional<ApprovalStatus> approval_status_from(std::string_view text) {
  if (text == "pending") return ApprovalStatus::kPending;
  if (text == "approved") return ApprovalStatus::kApproved;
  if (text == "denied") return ApprovalStatus::kDenied;
  if (text == "expired") return ApprovalStatus::kExpired;
  if (text == "used") return ApprovalStatus::kUsed;
  return std::nullopt;
}

std::string_view to_string(AuditCapture capture) {
  switch (capture) {
    case AuditCapture::kNone: return "none";
    case AuditCapture::kHeaders: return "headers";
    case AuditCapture::kBodies: return "bodies";
  }
  return "headers";
}

std::optional<AuditCapture> audit_capture_from(std::string_view text) {
  if (text == "none") return AuditCapture::kNone;
  if (text == "headers") return AuditCapture::kHeaders;
  if (text == "bodies") return AuditCapture::kBodies;
  return std::nullopt;
}

nlohmann::json AppSettings::to_json() const {
  nlohmann::json by_provider = nlohmann::json::object();
  for (const auto& [id, c] : audit_capture_by_provider) by_provider[id] = to_string(c);
  return {{"audit_capture", to_string(audit_capture)}, {"audit_capture_by_provider", by_provider},
          {"allow_url_less_token_requests", allow_url_less_token_requests}, {"token_handout", token_handout}};
}

common::Result<AppSettings, std::string> AppSettings::from_json(const nlohmann::json& j) {
  AppSettings out;
  if (!j.is_object()) return common::unexpected(std::string("settings must be an object"));
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "audit_capture") {
      auto c = it->is_string() ? audit_capture_from(it->get<std::string>()) : std::nullopt;
      if (!c) return common::unexpected(std::string("audit_capture must be none, headers or bodies"));
      out.audit_capture = *c;
    } else if (it.key() == "audit_capture_by_provider") {
      if (!it->is_object()) return common::unexpected(std::string("audit_capture_by_provider must be an object"));
      for (auto p = it->begin(); p != it->end(); ++p) {
        auto c = p->is_string() ? audit_capture_from(p->get<std::string>()) : std::nullopt;
        if (!c || p.key().empty() || p.key().size() > 64) {
          return common::unexpected(std::string("audit_capture_by_provider maps provider ids to none, headers or bodies"));
        }
        out.audit_capture_by_provider[p.key()] = *c;
      }
    } else if (it.key() == "allow_url_less_token_requests") {
      if (!it->is_boolean()) return common::unexpected(std::string("allow_url_less_token_requests must be true or false"));
      out.allow_url_less_token_requests = it->get<bool>();
    } else if (it.key() == "token_handout") {
      if (!it->is_boolean()) return common::unexpected(std::string("token_handout must be true or false"));
      out.token_handout = it->get<bool>();
    } else {
      return common::unexpected("unknown setting '" + it.key().substr(0, 64) + "'");
    }
  }
  return out;
}

}  // namespace alter::server
