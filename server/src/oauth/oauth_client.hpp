#pragma once
// The vault's side of OAuth 2.0 with providers: authorization URLs (PKCE S256), code exchange,
// refresh and revocation (RFC 7009). Outgoing HTTP goes through the SDK's libcurl transport.
#include <alter/common/clock.hpp>
#include <alter/common/result.hpp>
#include <alter/common/secret.hpp>

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/types.hpp"
#include "oauth/catalog.hpp"

#include "transport.hpp"  // the SDK's internal HTTP interface

namespace alter::server::oauth {

struct ClientCredentials {
  std::string client_id;
  common::SecretString client_secret;  // empty for public clients
  std::map<std::string, std::string> variables;  // credential and connection variables
};

struct TokenSet {
  common::SecretString access_token;
  common::SecretString refresh_token;  // empty when none was issued
  common::SecretString id_token;
  std::string token_type = "Bearer";
  std::optional<TimePoint> expires_at;
  std::vector<std::string> scopes;
  nlohmann::json kept = nlohmann::json::object();  // the provider's keep_fields
};

struct OAuthFailure {
  enum class Kind {
    kInvalidGrant,   // the grant is dead: re-authorization needed
    kInvalidClient,  // wrong client credentials
    kTransient,      // timeout, connection failure, 5xx, 429: worth retrying
    kProtocol,       // the provider answered something we cannot use
  };
  Kind kind = Kind::kProtocol;
  int status = 0;
  std::string code;     // the provider's `error`
  std::string message;  // never holds a token or a secret
};

template <class T>
using OAuthResult = common::Result<T, OAuthFailure>;

/// The URL the user's browser is sent to.
Result<std::string> authorization_url(const ProviderDef& provider, const ClientCredentials& client,
                                      const std::string& redirect_uri, const std::vector<std::string>& scopes,
                                      const std::string& state, const std::string& code_challenge, bool dev_mode);

/// base64url(SHA-256(verifier)), RFC 7636.
std::string pkce_challenge(std::string_view verifier);

class OAuthClient {
 public:
  /// Outside `dev_mode` every endpoint must be https (and is read by the guard's URL reader).
  OAuthClient(std::shared_ptr<alter::internal::Transport> transport, const common::Clock& clock,
              std::chrono::milliseconds timeout, bool dev_mode);

  OAuthResult<TokenSet> exchange_code(const ProviderDef& provider, const ClientCredentials& client,
                                      const std::string& code, const std::string& redirect_uri,
                                      const std::string& code_verifier) const;
  OAuthResult<TokenSet> refresh(const ProviderDef& provider, const ClientCredentials& client,
                                std::string_view refresh_token) const;
  /// The same refresh without holding a thread while the provider answers: `done` runs once, on
  /// the HTTP client's thread (it must only hand the result over).
  void refresh_async(std::shared_ptr<const ProviderDef> provider, const ClientCredentials& client,
                     std::string_view refresh_token, std::function<void(OAuthResult<TokenSet>)> done) const;
  /// Client credentials (RFC 6749 4.4): a new access token for the client itself, with `scopes`
  /// and the provider's token_params (variables filled from `client.variables`).
  OAuthResult<TokenSet> client_token(const ProviderDef& provider, const ClientCredentials& client,
                                     const std::vector<std::string>& scopes) const;
  /// The same without holding a thread while the provider answers (as refresh_async).
  void client_token_async(std::shared_ptr<const ProviderDef> provider, const ClientCredentials& client,
                          const std::vector<std::string>& scopes, std::function<void(OAuthResult<TokenSet>)> done) const;
  /// Runs `task` after `delay` on the HTTP client's thread, holding no thread meanwhile (a retry's
  /// back-off); at shutdown, at once.
  void after(std::chrono::milliseconds delay, std::function<void()> task) const { transport_->post_after(delay, std::move(task)); }
  /// Revokes one token; a provider without a revocation URL is a no-op success.
  OAuthResult<bool> revoke(const ProviderDef& provider, const ClientCredentials& client, std::string_view token,
                           std::string_view token_type_hint) const;

  /// Parses a token endpoint answer (exposed for tests). expires_in counts from `sent_at` (when
  /// the request went out), else from now.
  OAuthResult<TokenSet> parse_token_response(const ProviderDef& provider, int status, const std::string& content_type,
                                             std::string& body, std::optional<TimePoint> sent_at = std::nullopt) const;

 private:
  OAuthResult<alter::internal::HttpRequest> token_request(const ProviderDef& provider, const ClientCredentials& client,
                                                          std::vector<std::pair<std::string, std::string>> params,
                                                          const std::string& endpoint) const;
  OAuthResult<TokenSet> token_answer(const ProviderDef& provider, alter::internal::TransportResult response,
                                     TimePoint sent_at) const;
  void token_call_async(std::shared_ptr<const ProviderDef> provider, const ClientCredentials& client,
                        std::vector<std::pair<std::string, std::string>> params, const std::string& endpoint,
                        std::function<void(OAuthResult<TokenSet>)> done) const;
  OAuthResult<TokenSet> token_call(const ProviderDef& provider, const ClientCredentials& client,
                                   std::vector<std::pair<std::string, std::string>> params,
                                   const std::string& endpoint) const;

  std::shared_ptr<alter::internal::Transport> transport_;
  const common::Clock& clock_;
  std::chrono::milliseconds timeout_;
  bool dev_mode_ = false;
};

}  // namespace alter::server::oauth
