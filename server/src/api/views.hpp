#pragma once
// How the domain's records look on the wire (never a secret: tokens and client secrets are not
// part of any view).
#include <nlohmann/json.hpp>

#include "core/model.hpp"

namespace alter::server::api {

nlohmann::json app_json(const App& a);
nlohmann::json key_json(const ApiKeyRecord& k);
nlohmann::json credential_json(const ProviderCredential& c);
nlohmann::json connection_json(const Connection& c);
nlohmann::json approval_json(const Approval& a, const std::string& url);
nlohmann::json audit_row_json(const AuditRecord& r);
nlohmann::json admin_credential_json(const AdminCredential& c);

}  // namespace alter::server::api
