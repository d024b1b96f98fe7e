#include "store/store.hpp"

#include <sys/random.h>

#include <array>
#include <cerrno>

#include "store/store_internal.hpp"

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

namespace store_internal {

std::optional<std::string> new_row_id() {
  std::array<unsigned char, 16> bytes{};
  std::size_t filled = 0;
  while (filled < bytes.size()) {
    const ssize_t n = ::getrandom(bytes.data() + filled, bytes.size() - filled, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    filled += static_cast<std::size_t>(n);
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0F) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3F) | 0x80);  // RFC 4122 variant
  constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 0x0F];
  }
  return out;
}

// dump() throws on invalid UTF-8; that is the caller's bad input, not a store failure.
StoreResult<std::string> to_json_text(const nlohmann::json& value, std::string_view field) {
  try {
    return value.dump();
  } catch (const nlohmann::json::exception&) {
    return common::unexpected(StoreError{StoreErrc::kInvalid, std::string(field) + " is not valid UTF-8"});
  }
}

StoreResult<std::string> canonical_attributes(const Attributes& attributes) {
  return to_json_text(nlohmann::json(attributes), "attributes");
}

StoreResult<std::string> string_list_json(const std::vector<std::string>& list, std::string_view field) {
  return to_json_text(nlohmann::json(list), field);
}

std::optional<nlohmann::json> parse_json(const std::string& text) {
  auto value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return std::nullopt;
  return value;
}

bool parse_string_list(const std::string& text, std::vector<std::string>& out) {
  auto value = parse_json(text);
  if (!value || !value->is_array()) return false;
  out.clear();
  for (const auto& item : *value) {
    if (!item.is_string()) return false;
    out.push_back(item.get<std::string>());
  }
  return true;
}

bool parse_attributes(const std::string& text, Attributes& out) {
  auto value = parse_json(text);
  if (!value || !value->is_object()) return false;
  out.clear();
  for (const auto& [name, item] : value->items()) {
    if (!item.is_string()) return false;
    out.emplace(name, item.get<std::string>());
  }
  return true;
}

}  // namespace store_internal
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
          {"allow_url_less_token_requests", allow_url_less_token_requests}};
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
    } else {
      return common::unexpected("unknown setting '" + it.key().substr(0, 64) + "'");
    }
  }
  return out;
}

}  // namespace alter::server
