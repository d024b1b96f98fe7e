#pragma once
// The provider catalog: definitions loaded from data (providers/*.json, embedded at build time or
// read from --providers-dir), plus custom providers added through the admin API. Quirks are data.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "core/types.hpp"

namespace alter::server::oauth {

enum class RefreshMode { kRefreshes, kRotates, kNeverExpires, kNone };

struct Variable {
  std::string scope;  // "connection" | "credential"
  std::string pattern;
  std::string default_value;
  std::string description;
};

/// How the vault's proxy treats this provider's answers (the catalog's `proxy` object).
struct ProxySettings {
  /// Retries of an idempotent call (GET, HEAD, OPTIONS, PUT, DELETE) answered 429 or 503 with a
  /// Retry-After; never for POST or PATCH. 0: none.
  int retries = 2;
  /// A Retry-After longer than this is not waited for: the answer is passed on as it is.
  std::chrono::seconds max_retry_after{10};
};

/// What a connection of this provider holds and how the vault's proxy presents it (the catalog's
/// `credential` object; absent: an OAuth 2 authorization-code grant).
enum class CredentialKind { kOAuth2, kApiKey, kBasic, kAwsSigV4, kClientCredentials };
const char* credential_kind_name(CredentialKind kind);

struct CredentialSpec {
  CredentialKind kind = CredentialKind::kOAuth2;
  // api_key: sent in `header` as prefix + key, or as the query parameter `query_param`.
  std::string header;
  std::string prefix;
  std::string query_param;
  /// api_key with a header: more headers, each carrying a field of its own (Datadog's
  /// DD-APPLICATION-KEY beside DD-API-KEY): header name -> field name, each field required.
  std::map<std::string, std::string> more_headers;
  // basic: the password may be empty (a key sent as the user name, as Stripe takes it).
  bool password_optional = false;
  // aws_sigv4: the signing scope; `region` may name a connection variable ("{region}").
  std::string aws_service;
  std::string aws_region;
  bool aws_s3 = false;  // S3's rules: the path signed as sent, x-amz-content-sha256 sent
  /// Not an OAuth grant: the secret is supplied (imported), never refreshed, and used only by the
  /// vault's proxy (the SDK is answered proxy_required, so the secret never leaves the vault).
  bool is_static() const { return kind == CredentialKind::kApiKey || kind == CredentialKind::kBasic || kind == CredentialKind::kAwsSigV4; }
  /// OAuth 2 client credentials (RFC 6749 4.4): the connection holds a client id and secret, and
  /// the vault fetches, caches and renews the access token with them, as it refreshes a grant.
  bool is_client_credentials() const { return kind == CredentialKind::kClientCredentials; }
  /// The connection's secret is supplied as fields (admin import, the connect link's form), not
  /// granted through an authorization flow.
  bool is_supplied() const { return kind != CredentialKind::kOAuth2; }
};

struct ProviderDef {
  std::string id;
  std::string display_name;
  std::string docs_url;
  std::string authorization_url;
  std::string token_url;
  std::string refresh_url;  // empty: token_url
  std::string revocation_url;
  std::string revocation_auth;  // "basic" | "body" | "none"
  std::string userinfo_url;
  /// The authorization server's issuer: when set, the callback requires a matching `iss`
  /// parameter (RFC 9207, mix-up defence).
  std::string issuer;
  std::vector<std::string> default_scopes;
  std::string scope_separator = " ";
  std::string scope_param = "scope";
  bool pkce = true;
  std::string client_auth = "body";          // "basic" | "body"
  std::string token_request_format = "form";  // "form" | "json"
  std::map<std::string, std::string> authorization_params;
  /// Client credentials: extra parameters of the token request (Auth0's audience); values may
  /// use `{variable}`s.
  std::map<std::string, std::string> token_params;
  std::vector<std::string> api_hosts;
  std::string token_header;  // empty: Authorization: <token_type> <token>
  RefreshMode refresh = RefreshMode::kRefreshes;
  std::vector<std::string> keep_fields;
  std::vector<std::string> keep_callback_params;
  std::vector<std::string> api_hosts_from_fields;
  std::map<std::string, std::string> token_response_paths;
  std::map<std::string, Variable> variables;
  std::string notes;
  /// How to register the OAuth app or create the key at the provider (the provider's docs page).
  std::string setup;
  bool custom = false;
  bool dev_only = false;  // the dev sandbox
  ProxySettings proxy;
  CredentialSpec credential;

  nlohmann::json to_json() const;
};

/// Strict parse: every required field present with the right type; the error names the field.
Result<ProviderDef> parse_provider(const nlohmann::json& j);
Result<ProviderDef> parse_provider_text(std::string_view text, std::string_view source);

/// Replaces `{name}` with values; an unknown or missing name is an error.
Result<std::string> substitute(std::string_view text, const std::map<std::string, std::string>& values);

/// True when `host` (lower-case, no port) is allowed by `pattern`: an exact name, or
/// `*.example.com` for any name below example.com.
bool host_matches(std::string_view pattern, std::string_view host);

class Catalog {
 public:
  /// The providers built into the binary.
  static Result<std::shared_ptr<Catalog>> builtin();
  static Result<std::shared_ptr<Catalog>> from_dir(const std::filesystem::path& dir);

  std::shared_ptr<const ProviderDef> get(const std::string& id) const;
  std::vector<std::string> ids() const;
  std::vector<std::shared_ptr<const ProviderDef>> all() const;
  /// Adds or replaces a provider (custom ones from the store, the dev sandbox).
  void put(ProviderDef def);
  bool remove_custom(const std::string& id);

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<const ProviderDef>> providers_;
};

/// The JSON texts embedded at build time (generated from providers/catalog.cmake).
const std::vector<std::pair<std::string_view, std::string_view>>& embedded_provider_files();

}  // namespace alter::server::oauth
