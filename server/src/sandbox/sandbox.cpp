#include "sandbox/sandbox.hpp"

#include <alter/common/json.hpp>
#include <alter/common/redact.hpp>
#include <alter/common/strings.hpp>

#include <boost/url/parse.hpp>
#include <boost/url/parse_query.hpp>
#include <boost/url/url.hpp>

#include "api/pages.hpp"
#include "core/time.hpp"
#include "crypto/crypto.hpp"
#include "oauth/oauth_client.hpp"

namespace alter::server::sandbox {
namespace {

using http::Request;
using http::Response;

Response oauth_error(int status, const std::string& error, const std::string& description) {
  return Response::json(status, {{"error", error}, {"error_description", description}});
}

std::map<std::string, std::string> form_of(const std::string& text) {
  std::map<std::string, std::string> out;
  auto params = boost::urls::parse_query(text);
  if (!params) return out;
  boost::urls::encoding_opts form;
  form.space_as_plus = true;
  for (const auto& p : *params) out[p.key.decode(form)] = p.value.decode(form);
  return out;
}

std::optional<std::string> base64url_decode(std::string s) {
  for (char& c : s) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
  }
  while (s.size() % 4 != 0) s += '=';
  return crypto::base64_decode(s);
}

Response unauthorized() {
  auto r = oauth_error(401, "invalid_token", "a valid Bearer token is required");
  r.headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
  return r;
}

// Request bodies come from anyone who reaches the vault: every one is parsed within these.
constexpr common::JsonLimits kBodyLimits{.max_depth = 8, .max_string = 64 * 1024, .max_key = 256, .max_elements = 1000};

std::optional<nlohmann::json> json_object(const std::string& text) {
  auto parsed = common::parse_json(text, kBodyLimits);
  if (!parsed || !parsed.value().is_object()) return std::nullopt;
  return std::move(parsed.value());
}

// What reached the sandbox, for a caller checking what its client (or the vault's proxy) sent.
// Credential headers keep their name, so a test sees one that should not have been forwarded.
nlohmann::json received(const Request& req, const http::PathParams& params, const std::string& subject) {
  nlohmann::json headers = nlohmann::json::object();
  for (const auto& [name, value] : req.headers) {
    const std::string lower = common::to_lower(name);
    std::string shown = value;
    if (lower == "authorization") shown = "Bearer [redacted]";
    else if (common::is_credential_header(lower)) shown = "[redacted]";  // cookie, x-api-key, x-auth-token, ...
    headers[lower] = headers.contains(lower) ? headers[lower].get<std::string>() + ", " + shown : shown;
  }
  return {{"method", req.method},
          {"target", req.target},  // as the server read it off the wire: not decoded, not normalized
          {"path_params", params},
          {"query", req.query},
          {"headers", headers},
          {"body", req.body.empty() ? nlohmann::json() : nlohmann::json(req.body)},
          {"subject", subject}};
}

// `j` with `secret` cut out of every string and key: a caller may put the token anywhere (a query
// parameter, the body, another header), and an answer echoing it would hand it to whoever logs it.
nlohmann::json without(const nlohmann::json& j, const std::string& secret) {
  const auto cut = [&](std::string s) {
    static const std::string mark = "[redacted]";
    for (auto at = s.find(secret); at != std::string::npos; at = s.find(secret, at + mark.size())) {
      s.replace(at, secret.size(), mark);
    }
    return s;
  };
  if (j.is_string()) return cut(j.get<std::string>());
  if (j.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : j) out.push_back(without(v, secret));
    return out;
  }
  if (j.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto it = j.begin(); it != j.end(); ++it) out[cut(it.key())] = without(it.value(), secret);
    return out;
  }
  return j;
}

// Sample calendar: stable, so the quick start's output reads the same every time.
nlohmann::json sample_events(const std::string& calendar) {
  return nlohmann::json::array({
      {{"id", "evt-standup"}, {"summary", "Team standup"}, {"calendar", calendar},
       {"start", "2026-12-01T09:30:00Z"}, {"end", "2026-12-01T09:45:00Z"}},
      {{"id", "evt-review"}, {"summary", "Design review: Alter Vault"}, {"calendar", calendar},
       {"start", "2026-12-01T14:00:00Z"}, {"end", "2026-12-01T15:00:00Z"}},
      {{"id", "evt-1on1"}, {"summary", "1:1 with Bob"}, {"calendar", calendar},
       {"start", "2026-12-02T10:00:00Z"}, {"end", "2026-12-02T10:30:00Z"}},
  });
}

}  // namespace

Sandbox::Sandbox(SandboxOptions options, const common::Clock& clock) : options_(std::move(options)), clock_(clock) {}

int Sandbox::refresh_calls() const {
  std::lock_guard lock(mu_);
  return refresh_calls_;
}

oauth::ProviderDef Sandbox::provider(const std::string& base_url) const {
  oauth::ProviderDef d;
  d.id = "sandbox";
  d.display_name = "Alter dev sandbox";
  d.docs_url = base_url + "/sandbox";
  d.authorization_url = base_url + "/sandbox/oauth/authorize";
  d.token_url = base_url + "/sandbox/oauth/token";
  d.revocation_url = base_url + "/sandbox/oauth/revoke";
  d.revocation_auth = "basic";
  d.userinfo_url = base_url + "/sandbox/api/userinfo";
  d.default_scopes = {"calendar.read", "calendar.write"};
  d.scope_separator = " ";
  d.pkce = true;
  d.client_auth = "basic";
  d.token_request_format = "form";
  d.api_hosts = {"127.0.0.1", "localhost"};
  d.refresh = oauth::RefreshMode::kRotates;
  d.notes = "Present only in alter-vault dev.";
  d.dev_only = true;
  return d;
}

std::string Sandbox::issue(const std::string& kind, const std::string& subject, const std::string& scope,
                           std::chrono::seconds lifetime) {
  const auto exp = std::chrono::duration_cast<std::chrono::seconds>((clock_.wall() + lifetime).time_since_epoch()).count();
  const nlohmann::json claims = {{"jti", crypto::random_token(9)}, {"sub", subject}, {"scope", scope}, {"exp", exp}, {"kind", kind}};
  const std::string head = "sbx_" + kind + "." + crypto::base64url_encode(claims.dump());
  return head + "." + crypto::base64url_encode(crypto::hmac_sha256(options_.signing_key, head));
}

std::optional<nlohmann::json> Sandbox::verify(const std::string& token, const std::string& kind) const {
  const auto dot = token.rfind('.');
  if (dot == std::string::npos || token.rfind("sbx_" + kind + ".", 0) != 0) return std::nullopt;
  const std::string head = token.substr(0, dot);
  if (!crypto::constant_time_equal(token.substr(dot + 1),
                                   crypto::base64url_encode(crypto::hmac_sha256(options_.signing_key, head)))) {
    return std::nullopt;
  }
  auto payload = base64url_decode(head.substr(head.find('.') + 1));
  if (!payload) return std::nullopt;
  auto claims = nlohmann::json::parse(*payload, nullptr, false);
  if (!claims.is_object() || claims.value("kind", "") != kind) return std::nullopt;
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(clock_.wall().time_since_epoch()).count();
  if (claims.value("exp", std::int64_t{0}) <= now) return std::nullopt;
  std::lock_guard lock(mu_);
  if (revoked_.count(claims.value("jti", ""))) return std::nullopt;
  return claims;
}

Response Sandbox::redirect_with_code(const std::map<std::string, std::string>& q, const std::string& subject) {
  auto target = boost::urls::parse_uri(q.at("redirect_uri"));
  boost::urls::url back(*target);
  const std::string code = crypto::random_token(24);
  {
    std::lock_guard lock(mu_);
    for (auto it = codes_.begin(); it != codes_.end();) it = it->second.expires_at < clock_.wall() ? codes_.erase(it) : std::next(it);
    codes_[code] = Code{subject, q.at("redirect_uri"), q.count("code_challenge") ? q.at("code_challenge") : "",
                        q.count("scope") ? q.at("scope") : "", clock_.wall() + std::chrono::minutes(1)};
  }
  back.params().append({"code", code});
  back.params().append({"state", q.count("state") ? q.at("state") : ""});
  return Response::redirect(std::string(back.buffer()));
}

Response Sandbox::authorize_page(const Request& req) {
  std::map<std::string, std::string> q(req.query.begin(), req.query.end());
  if (q["client_id"] != options_.client_id || q["response_type"] != "code" || !boost::urls::parse_uri(q["redirect_uri"])) {
    return api::page(400, "Invalid authorization request", api::para("Unknown client, response type or redirect URI."));
  }
  if (q["code_challenge_method"] != "S256" || q["code_challenge"].empty()) {
    return api::page(400, "Invalid authorization request", api::para("PKCE (S256) is required."));
  }
  if (options_.auto_consent) return redirect_with_code(q, q.count("login_hint") ? q["login_hint"] : "alice");
  std::string hidden;
  for (const char* k : {"client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method", "response_type"}) {
    hidden += "<input type=\"hidden\" name=\"" + std::string(k) + "\" value=\"" + http::html_escape(q[k]) + "\">";
  }
  std::string body = api::para("An application connected to Alter Vault asks to use your sandbox calendar.") +
                     "<p>It asks for: <code>" + http::html_escape(q["scope"]) + "</code></p>"
                     "<form method=\"post\" action=\"/sandbox/oauth/authorize\">" + hidden +
                     "<p><label>Sign in as <input name=\"login\" value=\"alice\" id=\"login\"></label></p>"
                     "<p><button name=\"decision\" value=\"allow\" id=\"allow\">Allow</button>"
                     "<button name=\"decision\" value=\"deny\" id=\"deny\">Deny</button></p></form>"
                     "<p><small>This is the dev sandbox of <code>alter-vault dev</code>, not a real provider.</small></p>";
  return api::page(200, "Sandbox: allow access?", body);
}

Response Sandbox::authorize_answer(const Request& req) {
  auto f = form_of(req.body);
  if (f["client_id"] != options_.client_id || !boost::urls::parse_uri(f["redirect_uri"])) {
    return api::page(400, "Invalid authorization request", api::para("Unknown client or redirect URI."));
  }
  if (f["decision"] != "allow") {
    boost::urls::url back(*boost::urls::parse_uri(f["redirect_uri"]));
    back.params().append({"error", "access_denied"});
    back.params().append({"error_description", "The user denied access"});
    back.params().append({"state", f["state"]});
    return Response::redirect(std::string(back.buffer()));
  }
  std::string login = f["login"].empty() ? "alice" : f["login"];
  if (login.size() > 64) login.resize(64);
  return redirect_with_code(f, login);
}

Response Sandbox::token(const Request& req) {
  auto f = form_of(req.body);
  // Client authentication: HTTP Basic (as the catalog entry says) or the body.
  std::string id = f["client_id"], secret = f["client_secret"];
  const std::string auth = req.header("authorization");
  if (auth.rfind("Basic ", 0) == 0) {
    auto decoded = crypto::base64_decode(auth.substr(6));
    if (decoded) {
      const auto colon = decoded->find(':');
      id = form_of("a=" + decoded->substr(0, colon))["a"];
      secret = colon == std::string::npos ? "" : form_of("a=" + decoded->substr(colon + 1))["a"];
    }
  }
  if (id != options_.client_id || !crypto::constant_time_equal(secret, options_.client_secret)) {
    return oauth_error(401, "invalid_client", "client authentication failed");
  }
  const std::string grant = f["grant_type"];
  std::string subject, scope;
  if (grant == "authorization_code") {
    Code c;
    {
      std::lock_guard lock(mu_);
      auto it = codes_.find(f["code"]);
      if (it == codes_.end()) return oauth_error(400, "invalid_grant", "unknown or used code");
      c = it->second;
      codes_.erase(it);
    }
    if (c.expires_at < clock_.wall()) return oauth_error(400, "invalid_grant", "the code expired");
    if (f["redirect_uri"] != c.redirect_uri) return oauth_error(400, "invalid_grant", "redirect_uri mismatch");
    if (oauth::pkce_challenge(f["code_verifier"]) != c.challenge) return oauth_error(400, "invalid_grant", "PKCE verification failed");
    subject = c.subject;
    scope = c.scope;
  } else if (grant == "refresh_token") {
    auto claims = verify(f["refresh_token"], "rt");
    if (!claims) return oauth_error(400, "invalid_grant", "unknown, expired or rotated refresh token");
    std::lock_guard lock(mu_);
    ++refresh_calls_;
    revoked_.insert((*claims)["jti"].get<std::string>());  // rotation: the old one is spent
    subject = (*claims)["sub"];
    scope = (*claims)["scope"];
  } else {
    return oauth_error(400, "unsupported_grant_type", "authorization_code or refresh_token");
  }
  return Response::json(200, {{"access_token", issue("at", subject, scope, options_.access_token_lifetime)},
                              {"refresh_token", issue("rt", subject, scope, std::chrono::hours(24 * 30))},
                              {"token_type", "Bearer"},
                              {"expires_in", options_.access_token_lifetime.count()},
                              {"scope", scope}});
}

Response Sandbox::revoke(const Request& req) {
  auto f = form_of(req.body);
  for (const char* kind : {"at", "rt"}) {
    if (auto claims = verify(f["token"], kind)) {
      std::lock_guard lock(mu_);
      revoked_.insert((*claims)["jti"].get<std::string>());
    }
  }
  return Response::json(200, nlohmann::json::object());
}

std::optional<nlohmann::json> Sandbox::bearer(const Request& req) const {
  const std::string auth = req.header("authorization");
  if (auth.rfind("Bearer ", 0) != 0) return std::nullopt;
  return verify(auth.substr(7), "at");
}

Response Sandbox::api(const Request& req, const http::PathParams& params) {
  auto claims = bearer(req);
  if (!claims) return unauthorized();
  const std::string subject = (*claims)["sub"];
  const std::string scope = (*claims)["scope"];
  if (!params.count("calendar")) return Response::json(200, {{"sub", subject}, {"name", subject}, {"scope", scope}});
  const std::string calendar = params.at("calendar");
  const bool write = req.method != "GET";
  if (scope.find(write ? "calendar.write" : "calendar.read") == std::string::npos) {
    return oauth_error(403, "insufficient_scope", write ? "calendar.write is required" : "calendar.read is required");
  }
  std::lock_guard lock(mu_);
  auto& mine = created_events_[subject + "/" + calendar];
  if (req.method == "GET") {
    nlohmann::json items = sample_events(calendar);
    for (const auto& e : mine) items.push_back(e);
    std::size_t max = items.size();
    if (auto m = req.query.find("maxResults"); m != req.query.end()) {
      try {
        max = std::min<std::size_t>(max, std::stoul(m->second));
      } catch (...) {
        return oauth_error(400, "invalid_request", "maxResults must be a number");
      }
    }
    nlohmann::json page = nlohmann::json::array();
    for (std::size_t i = 0; i < max; ++i) page.push_back(items[i]);
    return Response::json(200, {{"kind", "sandbox#events"}, {"calendar", calendar}, {"owner", subject}, {"items", page}});
  }
  if (req.method == "POST") {
    const nlohmann::json body = json_object(req.body).value_or(nlohmann::json());
    if (!body.is_object() || !body.contains("summary") || !body["summary"].is_string()) {
      return oauth_error(400, "invalid_request", "a JSON body with a summary is required");
    }
    nlohmann::json event = {{"id", "evt-" + crypto::random_token(6)}, {"summary", body["summary"]}, {"calendar", calendar},
                            {"start", body.value("start", "2026-12-03T09:00:00Z")}, {"end", body.value("end", "2026-12-03T10:00:00Z")}};
    mine.push_back(event);
    return Response::json(201, event);
  }
  if (req.method == "DELETE" && params.count("event")) {
    for (auto it = mine.begin(); it != mine.end(); ++it) {
      if ((*it)["id"] == params.at("event")) {
        mine.erase(it);
        return Response::json(200, {{"deleted", params.at("event")}});
      }
    }
    return oauth_error(404, "not_found", "no such event");
  }
  return oauth_error(405, "method_not_allowed", "not supported");
}

Response Sandbox::echo_api(const Request& req, const http::PathParams& params, Echo route) {
  auto claims = bearer(req);
  if (!claims) return unauthorized();
  const std::string token = req.header("authorization").substr(7);
  // A create needs a body; an update or a query may come without one, but what comes is JSON.
  const bool update = route == Echo::kItem && (req.method == "PUT" || req.method == "PATCH");
  std::optional<nlohmann::json> body;
  if (route == Echo::kCreateItem || (!req.body.empty() && (update || route == Echo::kQueryDatabase))) {
    body = json_object(req.body);
    if (!body) return oauth_error(400, "invalid_request", "the body must be a JSON object");
  }
  nlohmann::json answer = nlohmann::json::object();
  switch (route) {
    case Echo::kCreateItem:
      answer = *body;
      answer["id"] = "item-" + crypto::random_token(6);
      break;
    case Echo::kItem:
      if (body) answer = *body;
      answer["id"] = params.at("item_id");
      break;
    case Echo::kQueryDatabase:
      answer = {{"object", "list"}, {"database_id", params.at("db_id")}, {"results", nlohmann::json::array()}};
      if (body && body->contains("page_size")) answer["page_size"] = (*body)["page_size"];
      break;
    case Echo::kListMessages:
      answer = {{"messages", nlohmann::json::array({{{"id", "msg-1"}, {"threadId", "thread-1"}},
                                                    {{"id", "msg-2"}, {"threadId", "thread-2"}}})},
                {"resultSizeEstimate", 2}};
      break;
    case Echo::kEcho:
      break;
  }
  // Set last, so a body's own "id" or "received" cannot pass for the sandbox's.
  answer["received"] = received(req, params, (*claims)["sub"].get<std::string>());
  return Response::json(route == Echo::kCreateItem ? 201 : 200, without(answer, token));
}

void Sandbox::add_routes(http::Router& router) {
  router.add("GET", "/sandbox/oauth/authorize", http::Auth::kPublic, [this](const Request& r, const http::PathParams&, const http::Principal&) { return authorize_page(r); });
  router.add("POST", "/sandbox/oauth/authorize", http::Auth::kPublic, [this](const Request& r, const http::PathParams&, const http::Principal&) { return authorize_answer(r); });
  router.add("POST", "/sandbox/oauth/token", http::Auth::kPublic, [this](const Request& r, const http::PathParams&, const http::Principal&) { return token(r); });
  router.add("POST", "/sandbox/oauth/revoke", http::Auth::kPublic, [this](const Request& r, const http::PathParams&, const http::Principal&) { return revoke(r); });
  router.add("GET", "/sandbox/api/userinfo", http::Auth::kPublic, [this](const Request& r, const http::PathParams& p, const http::Principal&) { return api(r, p); });
  const std::string events = "/sandbox/api/calendar/v3/calendars/{calendar}/events";
  router.add("GET", events, http::Auth::kPublic, [this](const Request& r, const http::PathParams& p, const http::Principal&) { return api(r, p); });
  router.add("POST", events, http::Auth::kPublic, [this](const Request& r, const http::PathParams& p, const http::Principal&) { return api(r, p); });
  router.add("DELETE", events + "/{event}", http::Auth::kPublic, [this](const Request& r, const http::PathParams& p, const http::Principal&) { return api(r, p); });
  const auto echo = [this](Echo route) {
    return [this, route](const Request& r, const http::PathParams& p, const http::Principal&) { return echo_api(r, p, route); };
  };
  router.add("POST", "/sandbox/api/v1/items", http::Auth::kPublic, echo(Echo::kCreateItem));
  for (const char* m : {"GET", "PUT", "PATCH", "DELETE"}) router.add(m, "/sandbox/api/v1/items/{item_id}", http::Auth::kPublic, echo(Echo::kItem));
  router.add("POST", "/sandbox/api/v1/databases/{db_id}/query", http::Auth::kPublic, echo(Echo::kQueryDatabase));
  router.add("GET", "/sandbox/api/gmail/v1/users/me/messages", http::Auth::kPublic, echo(Echo::kListMessages));
  for (const char* m : {"GET", "POST", "PUT", "PATCH", "DELETE"}) router.add(m, "/sandbox/api/echo/{name}", http::Auth::kPublic, echo(Echo::kEcho));
  router.add("GET", "/sandbox", http::Auth::kPublic, [](const Request&, const http::PathParams&, const http::Principal&) {
    return api::page(200, "Alter dev sandbox",
                     api::para("A pretend OAuth provider with a calendar API, present only in alter-vault dev.") +
                         "<p>OAuth: <code>/sandbox/oauth/authorize</code>, <code>/sandbox/oauth/token</code>. "
                         "API: <code>GET /sandbox/api/calendar/v3/calendars/primary/events</code>; "
                         "for the SDK's examples, <code>/sandbox/api/v1/items</code>, <code>/sandbox/api/v1/databases/{id}/query</code>, "
                         "<code>/sandbox/api/gmail/v1/users/me/messages</code> and <code>/sandbox/api/echo/{name}</code>.</p>");
  });
}

}  // namespace alter::server::sandbox
