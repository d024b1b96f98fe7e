#pragma once
// Users' connections: imported token sets, the browser connect flow (one-time links, PKCE, the
// callback that stores the connection), deletion with revocation at the provider, and forced
// refreshes. Every change commits with its audit row (and bumps the change version, so other
// instances drop their cached lookups).
#include <alter/common/clock.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit_log.hpp"
#include "credentials/static_credential.hpp"
#include "core/log.hpp"
#include "oauth/catalog.hpp"
#include "oauth/oauth_client.hpp"
#include "sealed/sealed_store.hpp"
#include "store/store.hpp"
#include "vault/cache.hpp"
#include "vault/token_manager.hpp"
#include "vault/types.hpp"

namespace alter::server::vault {

struct ImportSpec {
  std::string provider_id;
  Attributes attributes;
  common::SecretString access_token;
  common::SecretString refresh_token;
  common::SecretString id_token;
  std::string token_type = "Bearer";
  std::optional<TimePoint> expires_at;
  std::vector<std::string> scopes;
  nlohmann::json metadata = nlohmann::json::object();
  /// A provider whose catalog credential is not OAuth (an API key, Basic, AWS) takes these fields
  /// instead of tokens (credentials/static_credential.hpp).
  credentials::Fields credential;
};

struct ConnectSpec {
  std::string provider_id;
  Attributes attributes;
  std::string return_url;
  std::vector<std::string> scopes;
  Attributes settings;  // connection variables (shop, subdomain, ...)
};

struct ConnectLink {
  ConnectSession session;
  std::string url;  // shown once: it holds the link's secret
};

/// What a connect link or a callback ends in, for the page (or the app's return_url).
struct ConnectOutcome {
  bool ok = false;
  std::string title;          // empty: "Connected to X" / "Not connected"
  std::string message;
  std::string connection_id;
  std::string error_code;
  std::string provider_name;
  std::string return_url;     // the app's page to send the browser to, if it gave one
  std::string provider_id;
};

/// What a connect link's form asks for when the provider's credential is not OAuth.
struct CredentialForm {
  struct Field {
    std::string name;   // the credential field: api_key, username, password, access_key_id, ...
    std::string label;
    bool secret = true;  // a password input
    bool required = true;
  };
  std::string provider_id;
  std::string provider_name;
  std::string kind;
  std::string docs_url;
  std::string setup;
  std::vector<Field> fields;
};

struct Revocation {
  bool attempted = false;
  bool ok = false;
  std::string error;
};

class ConnectionService {
 public:
  struct Options {
    bool dev_mode = false;
    std::chrono::seconds link_lifetime{600};
  };
  ConnectionService(Options options, std::shared_ptr<oauth::Catalog> catalog, Store& store, sealed::SealedStore& sealed,
                    const oauth::OAuthClient& oauth, TokenManager& tokens, audit::AuditLog& audit, VaultCache& cache,
                    Logger& log, const common::Clock& clock, std::function<std::string()> public_url);

  Result<Connection> import(const std::string& app_id, ImportSpec spec, const AdminCaller& by);
  Result<std::vector<Connection>> list(const ConnectionFilter& filter) const;
  Result<Connection> get(const std::string& id) const;
  /// Revokes the tokens at the provider where it supports it (RFC 7009), then deletes the
  /// connection whatever the revocation's outcome, which the audit row records.
  Result<Revocation> remove(const std::string& id, const AdminCaller& by);
  Result<Connection> refresh(const std::string& id);

  /// A one-time connect link for a user (the app's backend or an admin asks). `actor` is what
  /// the audit row names as who asked.
  Result<ConnectLink> create_link(const std::string& app_id, ConnectSpec spec, const nlohmann::json& actor);
  /// The link opened in the user's browser: the provider's authorization URL to send it to.
  /// Errors: link_invalid (404), link_used, link_expired (410: kFailedPrecondition), others.
  Result<std::string> open_link(const std::string& link_token);
  /// The provider's redirect back (state, code or error, iss, ...).
  ConnectOutcome callback(const std::map<std::string, std::string>& query);
  /// A link whose provider takes a key, a password or an AWS key: the form the user fills in;
  /// std::nullopt for an OAuth link (open_link then). The same errors as open_link.
  Result<std::optional<CredentialForm>> link_form(const std::string& link_token);
  /// The form sent back: checked like an import; a bad value is error_code "invalid_credential"
  /// and leaves the link usable; otherwise the link is used up with the connection and its row.
  ConnectOutcome submit_credential(const std::string& link_token, credentials::Fields fields);

  std::string redirect_uri() const { return public_url_() + "/oauth/callback"; }

 private:
  /// The link's session while it is unused and unexpired.
  Result<ConnectSession> live_link(const std::string& link_token) const;
  /// A connect session's result stored in one commit: the session used up (`used_message` when it
  /// already was), the connection upserted, its connect/connected row with `details`. Fills `out`
  /// (ok and connection_id, or the error) and says whether it was stored.
  bool store_connected(const ConnectSession& cs, const Connection& c, TimePoint now, nlohmann::json details,
                       const std::string& used_message, ConnectOutcome& out);
  /// Seals a supplied credential (pack()'s text) into `c`, for the import and the form alike. Client
  /// credentials first get their access token with it (the provider's default scopes when `c`
  /// names none): a refusal is 400, an unreachable provider 502, and nothing is stored.
  Result<void> seal_supplied(const oauth::ProviderDef& provider, Connection& c, const common::SecretString& packed);

  Options options_;
  std::shared_ptr<oauth::Catalog> catalog_;
  Store& store_;
  sealed::SealedStore& sealed_;
  const oauth::OAuthClient& oauth_;
  TokenManager& tokens_;
  audit::AuditLog& audit_;
  VaultCache& cache_;
  Logger& log_;
  const common::Clock& clock_;
  std::function<std::string()> public_url_;
};

}  // namespace alter::server::vault
