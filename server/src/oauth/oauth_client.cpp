#include "oauth/oauth_client.hpp"

#include <alter/common/json.hpp>
#include <alter/common/strings.hpp>

#include <boost/url/parse.hpp>
#include <boost/url/parse_query.hpp>
#include <boost/url/url.hpp>

#include "crypto/crypto.hpp"
#include "guard/url_guard.hpp"
#include "transport.hpp"  // the SDK's transport interface (sdk/src)

namespace alter::server::oauth {
namespace {

OAuthFailure failure(OAuthFailure::Kind kind, int status, std::string code, std::string message) {
  return OAuthFailure{kind, status, std::move(code), std::move(message)};
}

// A form body, encoded by Boost.URL: build "?k=v&..." on a URL and take its encoded query.
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& params) {
  boost::urls::url u;
  for (const auto& [k, v] : params) u.params().append({k, v});
  std::string q(u.encoded_query());
  // application/x-www-form-urlencoded wants '+' and '&'/'=' inside values escaped; Boost.URL
  // already escapes '&', '=' and '#'; a literal '+' must not read as a space.
  std::string out;
  for (char c : q) {
    if (c == '+') out += "%2B";
    else out += c;
  }
  return out;
}

// RFC 6749 2.3.1: the id and secret are form-encoded, then joined and base64-encoded.
std::string basic_auth(const ClientCredentials& client) {
  std::string pair = form_encode({{"a", client.client_id}}).substr(2) + ":" +
                     form_encode({{"a", std::string(client.client_secret.reveal())}}).substr(2);
  std::string header = "Basic " + crypto::base64_encode(pair);
  common::secure_wipe(pair);
  return header;
}

// Client authentication ("basic": an Authorization header; "body": id and secret as parameters;
// "none") and the body in the provider's format (form or JSON). Wipes the parameters after use.
// The request's body and Authorization header hold the client secret or a grant.
void wipe_request(alter::internal::HttpRequest& req) {
  common::secure_wipe(req.body);
  for (auto& [k, v] : req.headers) {
    if (k == "Authorization") common::secure_wipe(v);
  }
}

void finish_request(alter::internal::HttpRequest& req, const ProviderDef& p, const ClientCredentials& client,
                    const std::string& auth, std::vector<std::pair<std::string, std::string>>& params) {
  if (auth == "basic") {
    req.headers.emplace_back("Authorization", basic_auth(client));
  } else if (auth == "body") {
    params.emplace_back("client_id", client.client_id);
    if (!client.client_secret.empty()) params.emplace_back("client_secret", std::string(client.client_secret.reveal()));
  }
  if (p.token_request_format == "json") {
    nlohmann::json body = nlohmann::json::object();
    for (const auto& [k, v] : params) body[k] = v;
    req.body = body.dump();
    req.headers.emplace_back("Content-Type", "application/json");
    for (auto it = body.begin(); it != body.end(); ++it) common::secure_wipe(it->get_ref<std::string&>());
  } else {
    req.body = form_encode(params);
    req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  }
  for (auto& [k, v] : params) common::secure_wipe(v);
}

const nlohmann::json* at_path(const nlohmann::json& j, const std::string& path) {
  const nlohmann::json* cur = &j;
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(key);
    if (it == cur->end()) return nullptr;
    cur = &*it;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur;
}

// The field at the provider's configured path, else at the top level (Slack's refresh answers
// are flat while its code exchange nests the user token).
const nlohmann::json* field_of(const nlohmann::json& j, const ProviderDef& p, const std::string& field) {
  if (auto it = p.token_response_paths.find(field); it != p.token_response_paths.end()) {
    if (const auto* v = at_path(j, it->second)) return v;
  }
  return at_path(j, field);
}

std::string take_secret(nlohmann::json& j, const ProviderDef& p, const std::string& field) {
  auto* v = const_cast<nlohmann::json*>(field_of(j, p, field));
  if (v == nullptr || !v->is_string()) return {};
  std::string out = std::move(v->get_ref<std::string&>());
  return out;
}

// The scope parameter's value: the scopes joined by the provider's separator.
std::string scope_value(const ProviderDef& p, const std::vector<std::string>& scopes) {
  std::string scope;
  for (const auto& s : scopes) {
    if (!scope.empty()) scope += p.scope_separator;
    scope += s;
  }
  return scope;
}

}  // namespace

std::string pkce_challenge(std::string_view verifier) { return crypto::base64url_encode(crypto::sha256(verifier)); }

Result<std::string> authorization_url(const ProviderDef& p, const ClientCredentials& client,
                                      const std::string& redirect_uri, const std::vector<std::string>& scopes,
                                      const std::string& state, const std::string& code_challenge, bool dev_mode) {
  auto base = substitute(p.authorization_url, client.variables);
  if (!base) return common::unexpected(base.error());
  // Every provider endpoint is read as the guard reads URLs, after its variables are filled in:
  // https outside dev mode, built-in and custom providers alike.
  if (auto ok = guard::check_endpoint_url(*base, dev_mode, "authorization_url"); !ok) return common::unexpected(ok.error());
  auto parsed = boost::urls::parse_uri(*base);
  if (!parsed) return common::unexpected(make_error(Errc::kInternal, "invalid_provider", "authorization_url is not a URL"));
  boost::urls::url u(*parsed);
  const std::string scope = scope_value(p, scopes);
  u.params().append({"response_type", "code"});
  u.params().append({"client_id", client.client_id});
  u.params().append({"redirect_uri", redirect_uri});
  if (!scope.empty()) u.params().append({p.scope_param, scope});
  u.params().append({"state", state});
  if (p.pkce) {
    u.params().append({"code_challenge", code_challenge});
    u.params().append({"code_challenge_method", "S256"});
  }
  for (const auto& [k, v] : p.authorization_params) u.params().append({k, v});
  return std::string(u.buffer());
}

OAuthClient::OAuthClient(std::shared_ptr<alter::internal::Transport> transport, const common::Clock& clock,
                         std::chrono::milliseconds timeout, bool dev_mode)
    : transport_(std::move(transport)), clock_(clock), timeout_(timeout), dev_mode_(dev_mode) {}

OAuthResult<TokenSet> OAuthClient::parse_token_response(const ProviderDef& p, int status,
                                                        const std::string& content_type, std::string& body,
                                                        std::optional<TimePoint> sent_at) const {
  nlohmann::json j;
  if (content_type.find("application/x-www-form-urlencoded") != std::string::npos ||
      content_type.find("text/plain") != std::string::npos) {
    // Some providers (GitHub without Accept: application/json) answer in form encoding.
    auto params = boost::urls::parse_query(body);
    j = nlohmann::json::object();
    if (params) {
      boost::urls::encoding_opts form;
      form.space_as_plus = true;
      for (const auto& kv : *params) j[kv.key.decode(form)] = kv.value.decode(form);
    }
  } else {
    // A provider's answer is outside input too: bounded like a request body.
    auto parsed = common::parse_json(body, {.max_depth = 16, .max_string = 256 * 1024, .max_key = 256, .max_elements = 10000});
    j = parsed ? std::move(parsed.value()) : nlohmann::json();
  }
  common::secure_wipe(body);
  if (!j.is_object()) {
    if (status >= 500) return common::unexpected(failure(OAuthFailure::Kind::kTransient, status, "", "the provider answered HTTP " + std::to_string(status)));
    return common::unexpected(failure(OAuthFailure::Kind::kProtocol, status, "", "the token endpoint did not answer with JSON (HTTP " + std::to_string(status) + ")"));
  }
  auto err_code = j.value("error", nlohmann::json()).is_string() ? j["error"].get<std::string>() : std::string();
  if (status >= 400 || !err_code.empty()) {
    std::string desc = j.contains("error_description") && j["error_description"].is_string()
                           ? j["error_description"].get<std::string>() : std::string();
    if (desc.size() > 200) desc.resize(200);
    std::string message = "the provider refused: " + (err_code.empty() ? "HTTP " + std::to_string(status) : err_code);
    if (!desc.empty()) message += " (" + desc + ")";
    // Drop anything token-like the body may carry before it goes away.
    for (const char* k : {"access_token", "refresh_token", "id_token"}) {
      if (j.contains(k) && j[k].is_string()) common::secure_wipe(j[k].get_ref<std::string&>());
    }
    if (err_code == "invalid_grant") return common::unexpected(failure(OAuthFailure::Kind::kInvalidGrant, status, err_code, message));
    if (err_code == "invalid_client" || err_code == "unauthorized_client" || status == 401) {
      return common::unexpected(failure(OAuthFailure::Kind::kInvalidClient, status, err_code, message));
    }
    if (status >= 500 || status == 429 || err_code == "temporarily_unavailable" || err_code == "server_error") {
      return common::unexpected(failure(OAuthFailure::Kind::kTransient, status, err_code, message));
    }
    return common::unexpected(failure(OAuthFailure::Kind::kProtocol, status, err_code, message));
  }
  TokenSet t;
  t.access_token = common::SecretString(take_secret(j, p, "access_token"));
  t.refresh_token = common::SecretString(take_secret(j, p, "refresh_token"));
  t.id_token = common::SecretString(take_secret(j, p, "id_token"));
  if (t.access_token.empty()) {
    return common::unexpected(failure(OAuthFailure::Kind::kProtocol, status, "", "the token answer has no access_token"));
  }
  if (!common::is_safe_header_value(t.access_token.reveal())) {
    return common::unexpected(failure(OAuthFailure::Kind::kProtocol, status, "", "the access_token holds control characters"));
  }
  // Only known HTTP authentication schemes are kept; anything else (Slack's "bot"/"user") is Bearer.
  if (const auto* tt = field_of(j, p, "token_type"); tt != nullptr && tt->is_string()) {
    const std::string v = tt->get<std::string>();
    if (common::iequals(v, "mac")) t.token_type = "MAC";
    else if (common::iequals(v, "dpop")) t.token_type = "DPoP";
  }
  const nlohmann::json* exp = field_of(j, p, "expires_in");
  std::int64_t expires_in = -1;
  if (exp != nullptr && exp->is_number_integer()) expires_in = exp->get<std::int64_t>();
  if (exp != nullptr && exp->is_number_float()) expires_in = static_cast<std::int64_t>(exp->get<double>());
  if (exp != nullptr && exp->is_string()) {
    try {
      expires_in = std::stoll(exp->get<std::string>());
    } catch (...) {
      expires_in = -1;
    }
  }
  // A lifetime counts from when the request was sent: the token may have been minted any time
  // after that, never before, so this errs on the early side.
  if (expires_in > 0 && p.refresh != RefreshMode::kNeverExpires) {
    t.expires_at = sent_at.value_or(clock_.wall()) + std::chrono::seconds(expires_in);
  }
  const nlohmann::json* scope = field_of(j, p, "scope");
  if (scope != nullptr && scope->is_string()) {
    const std::string s = scope->get<std::string>();
    std::size_t start = 0;
    while (start < s.size()) {
      auto end = s.find_first_of(" ,", start);
      if (end == std::string::npos) end = s.size();
      if (end > start) t.scopes.push_back(s.substr(start, end - start));
      start = end + 1;
    }
  } else if (scope != nullptr && scope->is_array()) {
    for (const auto& v : *scope) {
      if (v.is_string()) t.scopes.push_back(v.get<std::string>());
    }
  }
  for (const auto& f : p.keep_fields) {
    if (const auto* v = at_path(j, f); v != nullptr && !v->is_null()) t.kept[f] = *v;
  }
  return t;
}

OAuthResult<alter::internal::HttpRequest> OAuthClient::token_request(const ProviderDef& p, const ClientCredentials& client,
                                                                     std::vector<std::pair<std::string, std::string>> params,
                                                                     const std::string& endpoint) const {
  auto url = substitute(endpoint, client.variables);
  if (!url) return common::unexpected(failure(OAuthFailure::Kind::kProtocol, 0, "", url.error().message));
  if (auto ok = guard::check_endpoint_url(*url, dev_mode_, "token_url"); !ok) {
    return common::unexpected(failure(OAuthFailure::Kind::kProtocol, 0, "", ok.error().message));
  }
  alter::internal::HttpRequest req;
  req.method = "POST";
  req.url = *url;
  req.timeout = timeout_;
  req.has_body = true;
  req.headers.emplace_back("Accept", "application/json");
  finish_request(req, p, client, p.client_auth, params);
  for (auto& [k, v] : params) common::secure_wipe(v);
  return req;
}

OAuthResult<TokenSet> OAuthClient::token_answer(const ProviderDef& p, alter::internal::TransportResult res,
                                                TimePoint sent_at) const {
  if (!res) {
    return common::unexpected(failure(OAuthFailure::Kind::kTransient, 0, "",
                                      "the token endpoint could not be reached: " + res.error().message));
  }
  std::string content_type;
  if (auto it = res->headers.find("content-type"); it != res->headers.end()) content_type = it->second;
  return parse_token_response(p, res->status, content_type, res->body, sent_at);
}

OAuthResult<TokenSet> OAuthClient::token_call(const ProviderDef& p, const ClientCredentials& client,
                                              std::vector<std::pair<std::string, std::string>> params,
                                              const std::string& endpoint) const {
  auto req = token_request(p, client, std::move(params), endpoint);
  if (!req) return common::unexpected(std::move(req.error()));
  const TimePoint sent_at = clock_.wall();
  auto res = transport_->send(*req);
  wipe_request(*req);
  return token_answer(p, std::move(res), sent_at);
}

void OAuthClient::refresh_async(std::shared_ptr<const ProviderDef> p, const ClientCredentials& client,
                                std::string_view refresh_token, std::function<void(OAuthResult<TokenSet>)> done) const {
  const std::string endpoint = p->refresh_url.empty() ? p->token_url : p->refresh_url;
  token_call_async(std::move(p), client, {{"grant_type", "refresh_token"}, {"refresh_token", std::string(refresh_token)}}, endpoint,
                   std::move(done));
}

namespace {

Result<std::vector<std::pair<std::string, std::string>>> client_token_params(const ProviderDef& p, const ClientCredentials& client,
                                                                             const std::vector<std::string>& scopes) {
  std::vector<std::pair<std::string, std::string>> params = {{"grant_type", "client_credentials"}};
  const std::string scope = scope_value(p, scopes);
  if (!scope.empty()) params.emplace_back(p.scope_param, scope);
  for (const auto& [k, v] : p.token_params) {
    auto value = substitute(v, client.variables);
    if (!value) return common::unexpected(value.error());
    params.emplace_back(k, *value);
  }
  return params;
}

}  // namespace

OAuthResult<TokenSet> OAuthClient::client_token(const ProviderDef& p, const ClientCredentials& client,
                                                const std::vector<std::string>& scopes) const {
  auto params = client_token_params(p, client, scopes);
  if (!params) return common::unexpected(failure(OAuthFailure::Kind::kProtocol, 0, "", params.error().message));
  return token_call(p, client, std::move(params.value()), p.token_url);
}

void OAuthClient::client_token_async(std::shared_ptr<const ProviderDef> p, const ClientCredentials& client,
                                     const std::vector<std::string>& scopes, std::function<void(OAuthResult<TokenSet>)> done) const {
  auto params = client_token_params(*p, client, scopes);
  if (!params) {
    done(common::unexpected(failure(OAuthFailure::Kind::kProtocol, 0, "", params.error().message)));
    return;
  }
  const std::string endpoint = p->token_url;
  token_call_async(std::move(p), client, std::move(params.value()), endpoint, std::move(done));
}

void OAuthClient::token_call_async(std::shared_ptr<const ProviderDef> p, const ClientCredentials& client,
                                   std::vector<std::pair<std::string, std::string>> params, const std::string& endpoint,
                                   std::function<void(OAuthResult<TokenSet>)> done) const {
  auto req = token_request(*p, client, std::move(params), endpoint);
  if (!req) {
    done(common::unexpected(std::move(req.error())));
    return;
  }
  const TimePoint sent_at = clock_.wall();
  // The transport wipes its copy of the body and headers once the exchange is over.
  transport_->send_async(std::move(*req), [this, p = std::move(p), sent_at, done = std::move(done)](alter::internal::TransportResult res) {
    done(token_answer(*p, std::move(res), sent_at));
  });
}

OAuthResult<TokenSet> OAuthClient::exchange_code(const ProviderDef& p, const ClientCredentials& client,
                                                 const std::string& code, const std::string& redirect_uri,
                                                 const std::string& code_verifier) const {
  std::vector<std::pair<std::string, std::string>> params = {
      {"grant_type", "authorization_code"}, {"code", code}, {"redirect_uri", redirect_uri}};
  if (p.pkce && !code_verifier.empty()) params.emplace_back("code_verifier", code_verifier);
  return token_call(p, client, std::move(params), p.token_url);
}

OAuthResult<TokenSet> OAuthClient::refresh(const ProviderDef& p, const ClientCredentials& client,
                                           std::string_view refresh_token) const {
  return token_call(p, client, {{"grant_type", "refresh_token"}, {"refresh_token", std::string(refresh_token)}},
                    p.refresh_url.empty() ? p.token_url : p.refresh_url);
}

OAuthResult<bool> OAuthClient::revoke(const ProviderDef& p, const ClientCredentials& client, std::string_view token,
                                      std::string_view token_type_hint) const {
  if (p.revocation_url.empty()) return false;
  auto url = substitute(p.revocation_url, client.variables);
  if (!url) return common::unexpected(failure(OAuthFailure::Kind::kProtocol, 0, "", url.error().message));
  if (auto ok = guard::check_endpoint_url(*url, dev_mode_, "revocation_url"); !ok) {
    return common::unexpected(failure(OAuthFailure::Kind::kProtocol, 0, "", ok.error().message));
  }
  std::vector<std::pair<std::string, std::string>> params = {{"token", std::string(token)}};
  if (!token_type_hint.empty()) params.emplace_back("token_type_hint", std::string(token_type_hint));
  alter::internal::HttpRequest req;
  req.method = "POST";
  req.url = *url;
  req.timeout = timeout_;
  req.has_body = true;
  // Revocation speaks the provider's token-request format too (Notion takes JSON).
  finish_request(req, p, client, p.revocation_auth.empty() ? p.client_auth : p.revocation_auth, params);
  auto res = transport_->send(req);
  common::secure_wipe(req.body);
  if (!res) return common::unexpected(failure(OAuthFailure::Kind::kTransient, 0, "", "revocation endpoint unreachable: " + res.error().message));
  // RFC 7009: 200 for success, also for an already invalid token.
  if (res->status == 200 || res->status == 204) return true;
  if (res->status >= 500 || res->status == 429) {
    return common::unexpected(failure(OAuthFailure::Kind::kTransient, res->status, "", "revocation failed: HTTP " + std::to_string(res->status)));
  }
  return common::unexpected(failure(OAuthFailure::Kind::kProtocol, res->status, "", "revocation refused: HTTP " + std::to_string(res->status)));
}

}  // namespace alter::server::oauth
