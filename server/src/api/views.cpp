#include "api/views.hpp"

#include "core/time.hpp"

namespace alter::server::api {

nlohmann::json app_json(const App& a) {
  return {{"id", a.id}, {"name", a.name}, {"return_url_allowlist", a.return_url_allowlist},
          {"created_at", iso8601(a.created_at)}, {"settings", a.settings.to_json()}};
}

nlohmann::json key_json(const ApiKeyRecord& k) {
  nlohmann::json j = {{"id", k.id}, {"app_id", k.app_id}, {"name", k.name}, {"hint", k.hint},
                      {"created_at", iso8601(k.created_at)}, {"revoked", k.revoked_at.has_value()}};
  if (k.revoked_at) j["revoked_at"] = iso8601(*k.revoked_at);
  return j;
}

nlohmann::json credential_json(const ProviderCredential& c) {
  return {{"app_id", c.app_id}, {"provider_id", c.provider_id}, {"client_id", c.client_id},
          {"has_client_secret", !c.client_secret.bytes.empty()}, {"settings", c.settings},
          {"updated_at", iso8601(c.updated_at)}};
}

nlohmann::json connection_json(const Connection& c) {
  nlohmann::json j = {{"id", c.id}, {"app_id", c.app_id}, {"provider_id", c.provider_id},
                      {"attributes", c.attributes}, {"token_type", c.token_type}, {"scopes", c.scopes},
                      {"status", to_string(c.status)}, {"metadata", c.metadata},
                      {"created_at", iso8601(c.created_at)}, {"updated_at", iso8601(c.updated_at)},
                      {"key_version", c.tokens.key_version}};
  j["expires_at"] = c.expires_at ? nlohmann::json(iso8601(*c.expires_at)) : nlohmann::json(nullptr);
  return j;
}

nlohmann::json approval_json(const Approval& a, const std::string& url) {
  nlohmann::json j = {{"id", a.id}, {"app_id", a.app_id}, {"status", to_string(a.status)}, {"request", a.request},
                      {"rule_id", a.rule_id}, {"created_at", iso8601(a.created_at)},
                      {"expires_at", iso8601(a.expires_at)}, {"uses", a.uses}, {"approval_url", url}};
  if (a.decided_at) j["decided_at"] = iso8601(*a.decided_at);
  if (!a.decided_by.empty()) j["decided_by"] = a.decided_by;
  if (a.valid_until) j["valid_until"] = iso8601(*a.valid_until);
  return j;
}

nlohmann::json audit_row_json(const AuditRecord& r) {
  auto content = nlohmann::json::parse(r.content, nullptr, false);
  if (!content.is_object()) content = nlohmann::json::object();
  content["seq"] = r.seq;
  content["hash"] = r.hash;
  if (r.payload) {
    auto payload = nlohmann::json::parse(*r.payload, nullptr, false);
    if (payload.is_object()) content["payload"] = std::move(payload);
  } else if (content.contains("payload_sha256")) {
    content["payload_purged"] = true;
  }
  return content;
}

nlohmann::json admin_credential_json(const AdminCredential& c) {
  return {{"id", c.id}, {"name", c.name}, {"hint", c.hint}, {"created_at", iso8601(c.created_at)},
          {"revoked", c.revoked_at.has_value()}};
}

}  // namespace alter::server::api
