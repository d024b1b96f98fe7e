#pragma once
// The SDK's side of the vault wire protocol, version 1 (docs/protocol.md).
#include <alter/common/result.hpp>
#include <alter/common/secret.hpp>
#include <alter/http_method.hpp>
#include <alter/options.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "sdk_error.hpp"
#include "transport.hpp"

namespace alter::internal {

struct TokenRequest {
  std::string provider_id;
  std::map<std::string, std::string> attributes;
  std::string reason;
  std::string method;
  std::string url;
  std::string run_id;
  std::string thread_id;
  std::string tool_call_id;
  std::string approval_id;  // a granted approval to use (after waiting for one)
};

/// What the vault hands out. `access_token` wipes itself.
struct TokenGrant {
  common::SecretString access_token;
  std::string token_type;
  /// Set when the provider reads the bare token from its own header (e.g. X-Shopify-Access-Token)
  /// instead of `Authorization: <token_type> <token>`.
  std::string token_header;
  std::string connection_id;
  std::string request_id;
  /// The normalized URL the vault decided on; the SDK calls exactly this one when it is set.
  std::string url;
  /// What the vault keeps of the call: "none", "headers" or "bodies" (empty: an older vault).
  std::string audit_capture;
  std::string expires_at;
  std::vector<std::string> scopes;
};

std::string token_request_body(const TokenRequest& request);

/// Headers every vault call carries: x-api-key, User-Agent, the actor headers, content type.
std::vector<std::pair<std::string, std::string>> vault_headers(const VaultOptions& options);

/// Turns the vault's answer to POST /oauth/token into a grant or the matching error. Wipes `body`
/// (it held the token) before returning.
common::Result<TokenGrant, SdkError> parse_token_response(int status, std::string& body);

/// The error for a non-2xx vault answer: every status and `error` code of the protocol maps to
/// its exception kind.
SdkError map_vault_error(int status, const std::string& body);

/// One call through the vault's proxy endpoint (`<method> /v1/proxy`): what travels in its
/// `x-alter-*` headers. The caller's own headers and the raw body travel as they are.
struct ProxyCall {
  std::string provider_id;
  std::map<std::string, std::string> attributes;
  std::string url;  // the absolute provider URL, templated and with its query
  std::string reason;
  std::string run_id;
  std::string thread_id;
  std::string tool_call_id;
  std::chrono::milliseconds timeout{30000};  // the provider call's, as x-alter-timeout-ms
};

/// The vault's headers of a proxy call: x-api-key, the actor headers, User-Agent (unless
/// `with_user_agent` is false: the caller sets its own, which goes to the provider) and the
/// `x-alter-*` call fields. No `Accept`: whatever the request carries is forwarded to the provider.
std::vector<std::pair<std::string, std::string>> proxy_headers(const VaultOptions& options, const ProxyCall& call,
                                                               bool with_user_agent);

/// True when the proxy's answer is an error of the vault's own (`x-alter-source: vault`, or no
/// source on a non-2xx answer) rather than the provider's answer.
bool is_proxy_vault_error(const HttpResponse& response);

/// The error for a vault answer of the proxy endpoint: every code `map_vault_error` knows, plus the
/// proxy's own (`provider_timeout` is a timeout, `provider_unreachable` and
/// `provider_response_too_large` are network errors, `request_too_large` is the caller's mistake).
SdkError map_proxy_error(int status, const std::string& body);

/// True when `value` holds a control character (C0 or DEL): it cannot travel in a header.
bool has_control_char(std::string_view value) noexcept;

/// The status of an approval, from GET /oauth/approvals/{id}: "pending", "approved", "denied",
/// "expired" or "used"; an SdkError when the answer is not usable.
common::Result<std::string, SdkError> parse_approval_status(int status, const std::string& body);

/// The error for a failed exchange with the vault or a provider.
SdkError map_transport_error(const TransportError& error, std::string_view peer);

}  // namespace alter::internal
