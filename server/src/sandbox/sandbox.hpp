#pragma once
// The dev sandbox: a small OAuth provider with a calendar-like JSON API, served by the vault itself
// under /sandbox/ in dev mode only, so a newcomer can try every flow without Google credentials.
//   GET  /sandbox/oauth/authorize   consent page (or, with auto-consent, an immediate approval)
//   POST /sandbox/oauth/authorize   the consent form's answer
//   POST /sandbox/oauth/token       authorization_code (PKCE S256) and refresh_token (rotating)
//   POST /sandbox/oauth/revoke      RFC 7009
//   GET  /sandbox/api/userinfo
//   GET  /sandbox/api/calendar/v3/calendars/{calendar}/events
//   POST /sandbox/api/calendar/v3/calendars/{calendar}/events
//   DELETE /sandbox/api/calendar/v3/calendars/{calendar}/events/{id}
// and the URLs of the SDK's examples with only their host changed, each answer carrying what the
// sandbox received (`received`: method, raw target, headers with credentials redacted, body):
//   POST /sandbox/api/v1/items
//   GET, PUT, PATCH, DELETE /sandbox/api/v1/items/{item_id}
//   POST /sandbox/api/v1/databases/{db_id}/query
//   GET  /sandbox/api/gmail/v1/users/me/messages
//   GET, POST, PUT, PATCH, DELETE /sandbox/api/echo/{name}
// Tokens are HMAC-signed and self-contained (they survive a restart of the dev vault); codes live in
// memory for a minute.
#include <alter/common/clock.hpp>

#include <nlohmann/json.hpp>

#include <map>
#include <mutex>
#include <set>
#include <string>

#include "http/router.hpp"
#include "oauth/catalog.hpp"

namespace alter::server::sandbox {

struct SandboxOptions {
  std::string client_id = "sandbox-client";
  std::string client_secret;  // set by the dev command
  std::string signing_key;    // HMAC key for tokens (32 bytes)
  std::chrono::seconds access_token_lifetime{3600};
  bool auto_consent = false;  // dev-only switch: approve at once as the connect session's user
};

class Sandbox {
 public:
  Sandbox(SandboxOptions options, const common::Clock& clock);
  /// The catalog entry (dev_only) pointing at `base_url` + /sandbox.
  oauth::ProviderDef provider(const std::string& base_url) const;
  void add_routes(http::Router& router);

  int refresh_calls() const;

 private:
  http::Response authorize_page(const http::Request& req);
  http::Response authorize_answer(const http::Request& req);
  http::Response token(const http::Request& req);
  http::Response revoke(const http::Request& req);
  http::Response api(const http::Request& req, const http::PathParams& params);
  enum class Echo { kCreateItem, kItem, kQueryDatabase, kListMessages, kEcho };
  http::Response echo_api(const http::Request& req, const http::PathParams& params, Echo route);
  /// The claims of the request's Bearer access token, if it holds one that verify() accepts.
  std::optional<nlohmann::json> bearer(const http::Request& req) const;

  std::string issue(const std::string& kind, const std::string& subject, const std::string& scope,
                    std::chrono::seconds lifetime);
  /// The token's claims when its signature holds, it is of `kind`, unexpired and not revoked.
  std::optional<nlohmann::json> verify(const std::string& token, const std::string& kind) const;
  http::Response redirect_with_code(const std::map<std::string, std::string>& q, const std::string& subject);

  SandboxOptions options_;
  const common::Clock& clock_;
  mutable std::mutex mu_;
  struct Code {
    std::string subject, redirect_uri, challenge, scope;
    TimePoint expires_at;
  };
  std::map<std::string, Code> codes_;
  std::set<std::string> revoked_;  // token ids
  std::map<std::string, std::vector<nlohmann::json>> created_events_;  // subject -> events
  int refresh_calls_ = 0;
};

}  // namespace alter::server::sandbox
