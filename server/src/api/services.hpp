#pragma once
// Everything a handler depends on. Handlers are plain functions of (Services&, Request) that
// return a Response; the executable and the tests build Services the same way (app/vault.cpp).
#include <alter/common/clock.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "audit/audit.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "crypto/keyring.hpp"
#include "http/types.hpp"
#include "oauth/catalog.hpp"
#include "oauth/oauth_client.hpp"
#include "oauth/token_manager.hpp"
#include "policy/policy.hpp"
#include "store/store.hpp"

namespace alter::server::api {

class ApprovalService;
class VaultCache;

/// Decides a token request (the policy engine, or a stand-in until one is configured).
using PolicyHook = std::function<Result<policy::Decision>(const policy::PolicyRequest&)>;

struct Services {
  Config config;
  Logger& log;
  Metrics& metrics;
  const common::Clock& clock;
  Store& store;
  std::shared_ptr<crypto::Keyring> keyring;
  const crypto::MasterKey& master;
  audit::AuditWriter& audit;
  std::shared_ptr<oauth::Catalog> catalog;
  oauth::OAuthClient& oauth;
  oauth::TokenManager& tokens;
  PolicyHook policy;
  /// Policy explanation without side effects (rate limits untouched), for `policies test`.
  PolicyHook explain;
  std::function<void(const std::string& app_id)> policy_changed;
  std::function<Result<nlohmann::json>()> start_rekey;  // rotate-key: new version + background re-encryption
  std::function<nlohmann::json()> rekey_status;
  ApprovalService* approvals = nullptr;
  std::string public_url;  // no trailing slash
  VaultCache* cache = nullptr;  // read-through caches of the token path (none: always the store)
};

/// The caller of an SDK endpoint.
struct AppCaller {
  std::string app_id;
  std::string key_id;
};

/// An app, through the cache. 404 not_found, or 503 when the store cannot be read.
Result<std::shared_ptr<const App>> find_app(Services& s, const std::string& id);

/// x-api-key → the app. 401 invalid_api_key for a missing, malformed, unknown or revoked key.
Result<AppCaller> authenticate_app(Services& s, const http::Request& req);
/// Authorization: Bearer alter_admin_... → the admin credential's id. 401 otherwise.
Result<std::string> authenticate_admin(Services& s, const http::Request& req);

/// A new secret of the form prefix + 43 url-safe chars (256 bits), its hash and a display hint.
struct NewSecret {
  std::string value;
  std::string hash;
  std::string hint;
};
NewSecret new_api_key();
NewSecret new_admin_token();

/// The one table from canonical codes to HTTP statuses.
int http_status(Errc errc);

http::Response error_response(const Error& e, const nlohmann::json& details = nlohmann::json::object(),
                              const nlohmann::json& extra = nlohmann::json::object());

/// Wraps an admin handler `f(request, params, admin_id)` with admin authentication.
template <class F>
auto admin_only(Services& s, F f) {
  return [&s, f](const http::Request& req, const std::map<std::string, std::string>& params) -> http::Response {
    auto who = authenticate_admin(s, req);
    if (!who) return error_response(who.error());
    return f(req, params, *who);
  };
}

Error store_error(const StoreError& e);

}  // namespace alter::server::api
