#pragma once
// Hands out a connection's access token, refreshing it first when it is about to expire, with
// exactly one refresh in flight per connection: concurrent requests wait for it and share its
// result. A rotated refresh token is saved (compare-and-set) before the new access token is used.
#include <alter/common/clock.hpp>
#include <alter/common/secret.hpp>

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/types.hpp"
#include "crypto/keyring.hpp"
#include "oauth/catalog.hpp"
#include "oauth/oauth_client.hpp"
#include "store/store.hpp"

namespace alter::server::oauth {

struct TokenManagerOptions {
  std::chrono::milliseconds skew{60000};      // refresh when this close to expiry
  int refresh_attempts = 3;                    // for timeouts, 5xx and 429
  std::chrono::milliseconds retry_backoff{200};  // doubles each attempt
};

/// The secret parts of a connection, as sealed in Connection::tokens.
struct StoredTokens {
  common::SecretString access_token;
  common::SecretString refresh_token;
  common::SecretString id_token;
};

/// Seals and opens Connection::tokens. The additional data binds the blob to the connection's
/// identity (app, provider, attributes), which an upsert keeps.
std::string connection_tokens_aad(const Connection& c);
SealedBlob seal_tokens(const crypto::Keyring& keyring, const Connection& c, std::string_view access_token,
                       std::string_view refresh_token, std::string_view id_token);
Result<StoredTokens> open_tokens(const crypto::Keyring& keyring, const Connection& c);
std::string provider_secret_aad(const std::string& app_id, const std::string& provider_id);

/// Values for `{variable}`s: credential settings, then connection metadata, then defaults.
std::map<std::string, std::string> provider_variables(const ProviderDef& p, const nlohmann::json& credential_settings,
                                                      const nlohmann::json& connection_metadata);

/// Hosts this connection's token may be used for: the provider's, with variables filled, plus
/// hosts taken from kept fields (Salesforce instance_url).
std::vector<std::string> connection_api_hosts(const ProviderDef& p, const Connection& c,
                                              const std::map<std::string, std::string>& variables);

struct IssuedToken {
  common::SecretString access_token;
  Connection connection;  // as stored after any refresh
  bool refreshed = false;
};

/// Writes an audit row for a refresh or revocation (set by the server).
using AuditHook = std::function<void(nlohmann::json event)>;

class TokenManager {
 public:
  TokenManager(Store& store, std::shared_ptr<crypto::Keyring> keyring, const OAuthClient& client, Metrics& metrics,
               Logger& log, const common::Clock& clock, TokenManagerOptions options, AuditHook audit);

  /// The connection's access token, refreshed first when due. Errors: 400 token_expired (grant
  /// dead: reauth_required), 502 token_expired (provider could not refresh now), 503 unavailable.
  Result<IssuedToken> token_for(const Connection& connection, const ProviderDef& provider);

  /// Refreshes now (single flight). `force` refreshes even when the token is still fresh.
  Result<Connection> refresh(const Connection& connection, const ProviderDef& provider, bool force);

  /// Client id, secret and variables for the app's registration at this provider.
  Result<ClientCredentials> client_for(const std::string& app_id, const ProviderDef& provider,
                                       const nlohmann::json& connection_metadata);

  bool needs_refresh(const Connection& c, const ProviderDef& p) const;
  /// Called after this manager stored a new version of a connection (refresh, re-authorization).
  void set_on_update(std::function<void(const Connection&)> hook) { on_update_ = std::move(hook); }
  std::uint64_t refresh_calls() const { return refresh_calls_; }

 private:
  struct Flight {
    bool done = false;
    std::optional<Result<Connection>> result;
  };
  Result<Connection> do_refresh(const Connection& snapshot, const ProviderDef& provider, bool force);

  Store& store_;
  std::shared_ptr<crypto::Keyring> keyring_;
  const OAuthClient& client_;
  Metrics& metrics_;
  Logger& log_;
  const common::Clock& clock_;
  const TokenManagerOptions options_;
  AuditHook audit_;
  std::function<void(const Connection&)> on_update_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<Flight>> flights_;
  std::atomic<std::uint64_t> refresh_calls_{0};
};

}  // namespace alter::server::oauth
