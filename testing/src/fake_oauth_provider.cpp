#include <alter/testing/fake_oauth_provider.hpp>

#include <alter/testing/encoding.hpp>

#include <boost/url/parse.hpp>
#include <boost/url/parse_query.hpp>
#include <boost/url/url.hpp>
#include <openssl/evp.h>

namespace alter::testing {
namespace {

CannedResponse oauth_error(int status, const std::string& error, const std::string& description = "") {
  return CannedResponse::json(status, nlohmann::json{{"error", error}, {"error_description", description}}.dump());
}

std::string decode_basic(const std::string& header) {
  if (header.rfind("Basic ", 0) != 0) return {};
  const std::string b64 = header.substr(6);
  std::string out(b64.size(), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
  if (n < 0) return {};
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '\0') out.pop_back();
  return out;
}

}  // namespace

std::map<std::string, std::string> parse_form(const std::string& body) {
  std::map<std::string, std::string> out;
  auto params = boost::urls::parse_query(body);
  if (params) {
    boost::urls::encoding_opts form;
    form.space_as_plus = true;
    for (const auto& p : *params) out[p.key.decode(form)] = p.value.decode(form);
  }
  return out;
}

FakeOAuthProvider::FakeOAuthProvider(Options options)
    : options_(std::move(options)), server_([this](const RecordedRequest& r) { return handle(r); }) {}

nlohmann::json FakeOAuthProvider::definition(const std::string& id) const {
  return {{"id", id},
          {"display_name", "Fake " + id},
          {"docs_url", "https://example.invalid/docs"},
          {"authorization_url", base_url() + "/authorize"},
          {"token_url", base_url() + "/token"},
          {"revocation_url", base_url() + "/revoke"},
          {"default_scopes", {"read"}},
          {"scope_separator", " "},
          {"pkce", true},
          {"client_auth", "basic"},
          {"token_request_format", "form"},
          {"api_hosts", {"127.0.0.1"}},
          {"refresh", options_.rotate_refresh_tokens ? "rotates" : "refreshes"}};
}

nlohmann::json FakeOAuthProvider::client_credentials_definition(const std::string& id) const {
  return {{"id", id},
          {"display_name", "Fake " + id},
          {"docs_url", "https://example.invalid/docs"},
          {"credential", {{"kind", "oauth2_client_credentials"}}},
          {"token_url", base_url() + "/token"},
          {"revocation_url", base_url() + "/revoke"},
          {"default_scopes", {"read"}},
          {"client_auth", "basic"},
          {"token_request_format", "form"},
          {"api_hosts", {"127.0.0.1"}}};
}

void FakeOAuthProvider::fail_token_calls(int status, int count) {
  std::lock_guard lock(mu_);
  fail_status_ = status;
  fail_count_ = count;
}
void FakeOAuthProvider::set_invalid_grant(bool on) {
  std::lock_guard lock(mu_);
  invalid_grant_ = on;
}
FakeOAuthProvider::~FakeOAuthProvider() {
  release();
  server_.stop();
}

void FakeOAuthProvider::hold_token_calls(bool on) {
  {
    std::lock_guard lock(mu_);
    hold_ = on;
  }
  cv_.notify_all();
}
void FakeOAuthProvider::on_token_call(std::function<void()> hook) {
  std::lock_guard lock(mu_);
  on_token_call_ = std::move(hook);
}

void FakeOAuthProvider::release() { hold_token_calls(false); }

bool FakeOAuthProvider::wait_for_token_calls(int n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return token_calls_.load() >= n; });
}
void FakeOAuthProvider::set_deny_authorization(bool on) {
  std::lock_guard lock(mu_);
  deny_ = on;
}
void FakeOAuthProvider::set_expires_in(long seconds) {
  std::lock_guard lock(mu_);
  options_.expires_in = seconds;
}

nlohmann::json FakeOAuthProvider::issue_locked(const std::string& user, bool with_refresh) {
  const int n = ++counter_;
  nlohmann::json t = {{"access_token", "fake-at-" + std::to_string(n) + "-" + user},
                      {"token_type", "bearer"},
                      {"expires_in", options_.expires_in},
                      {"scope", "read"}};
  access_tokens_[t["access_token"]] = user;
  if (with_refresh && options_.issue_refresh_tokens) {
    t["refresh_token"] = "fake-rt-" + std::to_string(n) + "-" + user;
    refresh_tokens_[t["refresh_token"]] = user;
  }
  return t;
}

nlohmann::json FakeOAuthProvider::grant(const std::string& user) {
  std::lock_guard lock(mu_);
  return issue_locked(user, true);
}

bool FakeOAuthProvider::access_token_valid(const std::string& token) const {
  std::lock_guard lock(mu_);
  return access_tokens_.count(token) > 0;
}

bool FakeOAuthProvider::client_ok(const RecordedRequest& r, const std::map<std::string, std::string>& form) const {
  const std::string basic = decode_basic(r.header("authorization"));
  if (!basic.empty()) return basic == options_.client_id + ":" + options_.client_secret;
  auto id = form.find("client_id");
  auto secret = form.find("client_secret");
  return id != form.end() && secret != form.end() && id->second == options_.client_id &&
         secret->second == options_.client_secret;
}

CannedResponse FakeOAuthProvider::handle(const RecordedRequest& r) {
  const std::string path = r.target.substr(0, r.target.find('?'));
  if (path == "/authorize") return authorize(r);
  if (path == "/token") return token(r);
  if (path == "/revoke") return revoke(r);
  if (path.rfind("/api/", 0) == 0) return api(r);
  return CannedResponse::json(404, R"({"error":"not_found"})");
}

CannedResponse FakeOAuthProvider::authorize(const RecordedRequest& r) {
  auto u = boost::urls::parse_origin_form(r.target);
  std::map<std::string, std::string> q;
  if (u) {
    for (const auto& p : u->params()) q[std::string(p.key)] = std::string(p.value);
  }
  auto redirect = boost::urls::parse_uri(q["redirect_uri"]);
  if (!redirect || q["client_id"] != options_.client_id || q["response_type"] != "code") {
    return CannedResponse::json(400, R"({"error":"invalid_request"})");
  }
  boost::urls::url back(*redirect);
  std::lock_guard lock(mu_);
  if (deny_) {
    back.params().append({"error", "access_denied"});
    back.params().append({"error_description", "The user denied access"});
  } else {
    if (q["code_challenge_method"] != "S256" || q["code_challenge"].empty()) {
      back.params().append({"error", "invalid_request"});
    } else {
      const std::string code = "fake-code-" + std::to_string(++counter_);
      codes_[code] = Code{"user-" + std::to_string(counter_.load()), q["redirect_uri"], q["code_challenge"]};
      back.params().append({"code", code});
    }
  }
  back.params().append({"state", q["state"]});
  if (!options_.issuer.empty()) back.params().append({"iss", options_.issuer});
  CannedResponse res;
  res.status = 302;
  res.headers.emplace_back("Location", std::string(back.buffer()));
  return res;
}

CannedResponse FakeOAuthProvider::token(const RecordedRequest& r) {
  const auto form = parse_form(r.body);
  const std::string grant_type = form.count("grant_type") ? form.at("grant_type") : "";
  std::unique_lock lock(mu_);
  ++token_calls_;
  if (grant_type == "refresh_token") ++refresh_calls_;
  if (grant_type == "client_credentials") ++client_token_calls_;
  if (grant_type == "authorization_code") ++code_exchanges_;
  cv_.notify_all();
  cv_.wait(lock, [&] { return !hold_; });
  if (on_token_call_) on_token_call_();
  if (fail_count_ > 0) {
    --fail_count_;
    return oauth_error(fail_status_, "server_error", "injected failure");
  }
  if (!client_ok(r, form)) return oauth_error(401, "invalid_client");
  if (grant_type == "authorization_code") {
    auto it = codes_.find(form.count("code") ? form.at("code") : "");
    if (it == codes_.end()) return oauth_error(400, "invalid_grant", "unknown or used code");
    Code c = it->second;
    codes_.erase(it);  // single use
    if (form.count("redirect_uri") == 0 || form.at("redirect_uri") != c.redirect_uri) {
      return oauth_error(400, "invalid_grant", "redirect_uri mismatch");
    }
    if (form.count("code_verifier") == 0 || pkce_s256(form.at("code_verifier")) != c.challenge) {
      return oauth_error(400, "invalid_grant", "PKCE verification failed");
    }
    return CannedResponse::json(200, issue_locked(c.user, true).dump());
  }
  if (grant_type == "refresh_token") {
    if (invalid_grant_) return oauth_error(400, "invalid_grant", "injected");
    const std::string rt = form.count("refresh_token") ? form.at("refresh_token") : "";
    auto it = refresh_tokens_.find(rt);
    if (it == refresh_tokens_.end()) {
      if (retired_refresh_tokens_.count(rt)) {
        // Reuse of a rotated refresh token revokes the whole grant (as oidc-provider does).
        for (auto a = refresh_tokens_.begin(); a != refresh_tokens_.end();) a = refresh_tokens_.erase(a);
      }
      return oauth_error(400, "invalid_grant", "unknown refresh token");
    }
    const std::string user = it->second;
    nlohmann::json t;
    if (options_.rotate_refresh_tokens) {
      refresh_tokens_.erase(it);
      retired_refresh_tokens_.insert(rt);
      t = issue_locked(user, true);
    } else {
      t = issue_locked(user, false);
    }
    return CannedResponse::json(200, t.dump());
  }
  if (grant_type == "client_credentials") {
    // RFC 6749 4.4.3: an access token for the client itself, no refresh token; the scope asked for.
    nlohmann::json t = issue_locked("client", false);
    t["scope"] = form.count("scope") ? form.at("scope") : "";
    if (options_.client_credentials_refresh_token) t["refresh_token"] = "fake-rt-not-for-client-credentials";
    return CannedResponse::json(200, t.dump());
  }
  return oauth_error(400, "unsupported_grant_type");
}

CannedResponse FakeOAuthProvider::revoke(const RecordedRequest& r) {
  ++revocations_;
  const auto form = parse_form(r.body);
  std::lock_guard lock(mu_);
  if (!client_ok(r, form)) return oauth_error(401, "invalid_client");
  const std::string token = form.count("token") ? form.at("token") : "";
  refresh_tokens_.erase(token);
  access_tokens_.erase(token);
  return CannedResponse::json(200, "{}");
}

CannedResponse FakeOAuthProvider::api(const RecordedRequest& r) {
  ++api_calls_;
  const std::string auth = r.header("authorization");
  std::lock_guard lock(mu_);
  if (auth.rfind("Bearer ", 0) != 0 || access_tokens_.count(auth.substr(7)) == 0) {
    CannedResponse res = oauth_error(401, "invalid_token");
    res.headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
    return res;
  }
  const std::string user = access_tokens_.at(auth.substr(7));
  if (throttle_count_ > 0) {
    --throttle_count_;
    CannedResponse res = CannedResponse::json(throttle_status_, R"({"error":"slow_down"})");
    res.headers.emplace_back("Retry-After", throttle_retry_after_);
    return res;
  }
  const std::string path = r.target.substr(0, r.target.find('?'));
  if (path == "/api/echo") {
    // The body back as it came, with what a proxy must not pass on.
    CannedResponse res;
    res.status = 200;
    res.body = r.body;
    const std::string type = r.header("content-type");
    res.headers.emplace_back("Content-Type", type.empty() ? "application/octet-stream" : type);
    res.headers.emplace_back("X-Echo-Method", r.method);
    res.headers.emplace_back("X-Echo-Bytes", std::to_string(r.body.size()));
    res.headers.emplace_back("X-Echo-Custom", r.header("x-custom"));
    res.headers.emplace_back("Set-Cookie", "session=provider-session-cookie; HttpOnly");
    res.headers.emplace_back("Keep-Alive", "timeout=5");
    return res;
  }
  if (path == "/api/large") {
    const auto at = r.target.find("bytes=");
    const std::size_t n = at == std::string::npos ? 0 : std::stoul(r.target.substr(at + 6));
    CannedResponse res;
    res.status = 200;
    res.body.resize(n);
    for (std::size_t i = 0; i < n; ++i) res.body[i] = static_cast<char>('a' + i % 26);
    res.headers.emplace_back("Content-Type", "text/plain");
    return res;
  }
  if (path == "/api/hold") {
    CannedResponse res = CannedResponse::json(200, "{}");
    res.hold = true;
    return res;
  }
  return CannedResponse::json(200, nlohmann::json{{"sub", user}, {"path", r.target}, {"method", r.method}}.dump());
}

void FakeOAuthProvider::forget_access_tokens() {
  std::lock_guard lock(mu_);
  access_tokens_.clear();
}

void FakeOAuthProvider::throttle_api_calls(int count, int status, const std::string& retry_after) {
  std::lock_guard lock(mu_);
  throttle_count_ = count;
  throttle_status_ = status;
  throttle_retry_after_ = retry_after;
}

}  // namespace alter::testing
