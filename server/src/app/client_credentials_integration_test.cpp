// OAuth 2 client credentials (RFC 6749 4.4), end to end against the real binary and the fake
// provider's token endpoint: a connection holds a client id and secret (imported, or typed into a
// connect link's form), and the vault asks for the access token itself, caches it, renews it
// before it expires with one token request in flight however many calls wait for it (1,000 here,
// through the token handout and the proxy), and asks again when the provider refuses it with a
// 401. A refused id or secret is refused at import and stores nothing; refused later, the
// connection is marked for re-authorization. The client secret is in no answer, log, audit row or
// metric, and is never sent anywhere but the token endpoint.
#include <sys/resource.h>

#include <alter/testing/http_test_server.hpp>

#include <atomic>
#include <thread>

#include "vault_test_fixture.hpp"

namespace alter::testing {
namespace {

const char* kM2mPolicy = R"(
version = 1
[[rules]]
id = "m2m-reads"
effect = "allow"
providers = ["m2m", "m2m-audience"]
paths = ["/api/**"]
)";

// The fake provider's client (FakeOAuthProvider::Options): the only pair its token endpoint takes.
const std::string kClientId = "fake-client";
const std::string kClientSecret = "fake-secret-123";

// The soft limit on open files raised to the hard one (the vault inherits it): 1,000 concurrent
// calls need a descriptor each, on both sides.
void raise_open_file_limit() {
  rlimit l{};
  if (getrlimit(RLIMIT_NOFILE, &l) == 0 && l.rlim_cur < l.rlim_max) {
    l.rlim_cur = l.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &l);
  }
}

long metric(const std::string& text, const std::string& name) {
  const auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return 0;
  return std::stol(text.substr(at + name.size() + 2));
}

class ClientCredentials : public VaultFixture {
 protected:
  void SetUp() override {
    raise_open_file_limit();
    // A held token request must outlast the arrival of 1,000 calls on a loaded machine: a timeout
    // would turn it into retries (more token requests) and the test into one about timeouts.
    env_["ALTER_VAULT_TOKEN_ENDPOINT_TIMEOUT"] = "120s";
    VaultFixture::SetUp();
    ASSERT_EQ(admin("POST", "/v1/admin/providers", fake_.client_credentials_definition("m2m")).status, 201);
    auto audience = fake_.client_credentials_definition("m2m-audience");
    audience["token_params"] = {{"audience", "https://{tenant}.example.com/api/"}};
    audience["variables"] = {{"tenant", {{"scope", "connection"}, {"pattern", "^[a-z0-9-]{1,32}$"}, {"description", "tenant"}}}};
    ASSERT_EQ(admin("POST", "/v1/admin/providers", audience).status, 201);
    apply_policy("default", kM2mPolicy);
  }

  HttpAnswer import_m2m(const std::string& secret = kClientSecret, const std::string& user = "billing-bot",
                        const std::string& provider = "m2m", const nlohmann::json& metadata = nullptr) {
    nlohmann::json body = {{"provider_id", provider},
                           {"attributes", {{"user_id", user}}},
                           {"credential", {{"client_id", kClientId}, {"client_secret", secret}}}};
    if (!metadata.is_null()) body["metadata"] = metadata;
    return admin("POST", "/v1/admin/apps/default/connections", body);
  }

  nlohmann::json token_ask(const std::string& user = "billing-bot") const {
    return {{"provider_id", "m2m"}, {"attributes", {{"user_id", user}}}, {"method", "GET"}, {"url", api("/me")}};
  }

  HttpAnswer proxied(const HttpClient& client, const std::string& user = "billing-bot") const {
    return client.send("GET", "/v1/proxy", "",
                       {{"x-api-key", api_key_}, {"x-alter-provider", "m2m"}, {"x-alter-url", api("/me")},
                        {"x-alter-user", nlohmann::json{{"user_id", user}}.dump()}, {"x-alter-actor-type", "ai_agent"},
                        {"x-alter-actor-id", "m2m-agent"}},
                       std::chrono::seconds(120));
  }

  /// The token endpoint's requests with grant_type=client_credentials.
  std::vector<RecordedRequest> client_token_requests() const {
    std::vector<RecordedRequest> out;
    for (const auto& r : fake_.requests()) {
      if (r.target.rfind("/token", 0) == 0 && parse_form(r.body)["grant_type"] == "client_credentials") out.push_back(r);
    }
    return out;
  }

  nlohmann::json connections() {
    auto a = admin("GET", "/v1/admin/apps/default/connections");
    EXPECT_EQ(a.status, 200) << a.body;
    return a.json["connections"];
  }
};

TEST_F(ClientCredentials, TheVaultAsksForTheTokenWithTheClientsCredentialsAndHandsOutOnlyTheToken) {
  auto imported = import_m2m();
  ASSERT_EQ(imported.status, 201) << imported.body;
  EXPECT_EQ(imported.body.find(kClientSecret), std::string::npos);
  EXPECT_EQ(imported.json.value("token_type", ""), "Bearer");
  EXPECT_EQ(imported.json["scopes"], nlohmann::json::array({"read"}));
  // The import asked once, to check the pair: RFC 6749 4.4.2, the client authenticated with Basic.
  ASSERT_EQ(fake_.client_token_calls(), 1);
  const auto asked = client_token_requests();
  ASSERT_EQ(asked.size(), 1u);
  auto form = parse_form(asked[0].body);
  EXPECT_EQ(form["scope"], "read");
  EXPECT_EQ(form.count("client_secret"), 0u) << "client_auth basic: the secret is in the header only";
  EXPECT_EQ(form.count("refresh_token"), 0u);
  EXPECT_EQ(asked[0].header("authorization").rfind("Basic ", 0), 0u);

  // The SDK gets the access token (a bearer token, as any OAuth one) and calls the API with it.
  Vault vault(sdk_options());
  auto r = vault.request("m2m", HttpMethod::Get, api("/me"), {.user = {{"user_id", "billing-bot"}}, .reason = "nightly invoices"});
  EXPECT_EQ(r.status_code(), 200) << r.text();
  EXPECT_EQ(r.json()["sub"], "client");
  auto t = token(token_ask());
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_TRUE(fake_.access_token_valid(t.json.value("access_token", "")));
  EXPECT_EQ(t.body.find(kClientSecret), std::string::npos);
  // ... and through the proxy the same token is put on the call.
  auto p = proxied(*http_);
  EXPECT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(fake_.client_token_calls(), 1) << "the token was cached";
  for (const auto& req : fake_.requests()) {
    if (req.target.rfind("/api/", 0) == 0) {
      EXPECT_EQ(req.body.find(kClientSecret), std::string::npos);
    }
  }
}

TEST_F(ClientCredentials, AThousandConcurrentRequestsMakeOneTokenFetchThenUseItsCache) {
  fake_.set_expires_in(5);  // inside the vault's 60 s refresh skew: the import's token is due at once
  ASSERT_EQ(import_m2m().status, 201);
  ASSERT_EQ(fake_.client_token_calls(), 1);
  fake_.set_expires_in(3600);
  fake_.hold_token_calls(true);
  const long waiters_before = metric(http_->send("GET", "/metrics").body, "alter_refresh_waiters_total");

  constexpr int kRequests = 1000;
  HttpClient client(server_->url());
  std::vector<HttpAnswer> answers(kRequests);
  std::vector<std::thread> threads;
  threads.reserve(kRequests);
  // Half ask for the token (the SDK's request()), half call through the proxy.
  for (int i = 0; i < kRequests; ++i) {
    threads.emplace_back([&, i] {
      answers[i] = i % 2 == 0 ? client.send("POST", "/oauth/token", token_ask().dump(),
                                            {{"x-api-key", api_key_}, {"Content-Type", "application/json"}},
                                            std::chrono::seconds(120))
                              : proxied(client);
    });
  }
  // One renewal reaches the provider; every other request waits for it (no second one starts).
  const bool renewing = fake_.wait_for_token_calls(2, std::chrono::seconds(60));
  long waiting = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(100);
  while (renewing && std::chrono::steady_clock::now() < deadline) {
    waiting = metric(http_->send("GET", "/metrics").body, "alter_refresh_waiters_total") - waiters_before;
    if (waiting >= kRequests - 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const int fetches_while_held = fake_.client_token_calls();
  fake_.release();
  fake_.hold_token_calls(false);
  for (auto& t : threads) t.join();
  ASSERT_TRUE(renewing) << "no renewal reached the provider";
  EXPECT_GE(waiting, kRequests - 1) << "the requests did not all wait at once for the one renewal";
  EXPECT_EQ(fetches_while_held, 2);

  std::map<int, int> statuses;
  for (const auto& a : answers) ++statuses[a.status];
  EXPECT_EQ(statuses[200], kRequests) << "answers by status: " << nlohmann::json(statuses).dump() << "; first: " << answers[0].body;
  std::set<std::string> tokens;
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_EQ(answers[i].status, 200) << i << ": " << answers[i].body;
    if (i % 2 == 0) tokens.insert(answers[i].json.value("access_token", ""));
    if (i % 2 == 1) {
      EXPECT_EQ(answers[i].json.value("sub", ""), "client");
    }
  }
  EXPECT_EQ(tokens.size(), 1u) << "all of them got the one renewed token";
  EXPECT_TRUE(fake_.access_token_valid(*tokens.begin()));
  EXPECT_EQ(fake_.client_token_calls(), 2) << "one fetch at import, one renewal for the 1,000";

  // Cached: another thousand, not held, ask the provider for nothing.
  threads.clear();
  for (int i = 0; i < kRequests; ++i) {
    threads.emplace_back([&, i] { answers[i] = i % 2 == 0 ? client.send("POST", "/oauth/token", token_ask().dump(),
                                                                         {{"x-api-key", api_key_}, {"Content-Type", "application/json"}})
                                                           : proxied(client); });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kRequests; ++i) ASSERT_EQ(answers[i].status, 200) << answers[i].body;
  EXPECT_EQ(fake_.client_token_calls(), 2);

  // The renewal is audited as one refresh of the client-credentials grant.
  auto rows = admin("GET", "/v1/admin/audit?kind=refresh");
  ASSERT_EQ(rows.status, 200);
  ASSERT_EQ(rows.json["events"].size(), 1u) << rows.body;
  EXPECT_EQ(rows.json["events"][0].value("decision", ""), "refreshed");
  EXPECT_EQ(rows.json["events"][0]["details"].value("grant", ""), "client_credentials");
  auto verify = admin("GET", "/v1/admin/audit/verify");
  EXPECT_TRUE(verify.json.value("ok", false)) << verify.body;
}

TEST_F(ClientCredentials, ATokenTheProviderRefusesIsRenewedOnceAndTheCallSentAgain) {
  ASSERT_EQ(import_m2m().status, 201);
  fake_.forget_access_tokens();
  auto p = proxied(*http_);
  EXPECT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(p.json.value("sub", ""), "client");
  EXPECT_EQ(fake_.client_token_calls(), 2);
  // An admin may renew it too (the refresh route), and a refresh token answered anyway is not
  // kept in place of the client's credentials: the renewal after it still authenticates.
  const std::string id = connections()[0].value("id", "");
  for (int i = 0; i < 2; ++i) {
    auto r = admin("POST", "/v1/admin/connections/" + id + "/refresh");
    EXPECT_EQ(r.status, 200) << r.body;
  }
  EXPECT_EQ(fake_.client_token_calls(), 4);
}

class ClientCredentialsAnsweredWithARefreshToken : public VaultFixture {
 protected:
  ClientCredentialsAnsweredWithARefreshToken() : VaultFixture(options()) {}
  static FakeOAuthProvider::Options options() {
    FakeOAuthProvider::Options o;
    o.client_credentials_refresh_token = true;
    return o;
  }
};

TEST_F(ClientCredentialsAnsweredWithARefreshToken, TheClientsCredentialsStayAndRenewalsKeepWorking) {
  ASSERT_EQ(admin("POST", "/v1/admin/providers", fake_.client_credentials_definition("m2m")).status, 201);
  auto imported = admin("POST", "/v1/admin/apps/default/connections",
                        {{"provider_id", "m2m"}, {"attributes", {{"user_id", "bot"}}},
                         {"credential", {{"client_id", kClientId}, {"client_secret", kClientSecret}}}});
  ASSERT_EQ(imported.status, 201) << imported.body;
  const std::string id = imported.json.value("id", "");
  for (int i = 0; i < 3; ++i) {
    auto r = admin("POST", "/v1/admin/connections/" + id + "/refresh");
    ASSERT_EQ(r.status, 200) << r.body;
    auto rows = admin("GET", "/v1/admin/audit?kind=refresh");
    EXPECT_FALSE(rows.json["events"][0]["details"].value("rotated", true)) << rows.body;
  }
  EXPECT_EQ(fake_.client_token_calls(), 4);
  for (const auto& r : fake_.requests()) {
    EXPECT_EQ(r.body.find("fake-rt-not-for-client-credentials"), std::string::npos) << "the answered refresh token is never used";
  }
}

TEST_F(ClientCredentials, RefusedCredentialsAreRefusedAtImportAndStoreNothing) {
  struct Case {
    const char* name;
    nlohmann::json credential;
    int status;
    const char* says;
  };
  const std::vector<Case> cases = {
      {"a wrong secret", {{"client_id", kClientId}, {"client_secret", "not-the-secret-9f8e"}}, 400, "refused these client credentials"},
      {"a wrong id", {{"client_id", "someone-else"}, {"client_secret", kClientSecret}}, 400, "refused these client credentials"},
      {"no secret", {{"client_id", kClientId}}, 400, "'client_secret' is required"},
      {"an empty id", {{"client_id", ""}, {"client_secret", kClientSecret}}, 400, "'client_id' is required"},
      {"a secret with CR/LF", {{"client_id", kClientId}, {"client_secret", "abc\r\nX-Evil: 1"}}, 400, "'client_secret' must be"},
      {"an API key's field", {{"api_key", kClientSecret}}, 400, "is not one of"},
      {"OAuth tokens", nullptr, 400, "not OAuth tokens"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    nlohmann::json body = {{"provider_id", "m2m"}, {"attributes", {{"user_id", "bot"}}}};
    if (c.credential.is_null()) body["access_token"] = "at-123";
    else body["credential"] = c.credential;
    auto a = admin("POST", "/v1/admin/apps/default/connections", body);
    EXPECT_EQ(a.status, c.status) << a.body;
    EXPECT_NE(a.json.value("message", "").find(c.says), std::string::npos) << a.body;
    EXPECT_EQ(a.body.find("not-the-secret-9f8e"), std::string::npos);
    EXPECT_EQ(a.body.find(kClientSecret), std::string::npos);
  }
  // Variables are checked before the token endpoint is asked (a value lands in its request).
  auto no_tenant = import_m2m(kClientSecret, "bot", "m2m-audience");
  EXPECT_EQ(no_tenant.status, 400) << no_tenant.body;
  auto bad_tenant = import_m2m(kClientSecret, "bot", "m2m-audience", {{"tenant", "evil.com/x"}});
  EXPECT_EQ(bad_tenant.status, 400) << bad_tenant.body;
  // The provider down: 502, nothing stored, try again later.
  fake_.fail_token_calls(503, 1);
  auto down = import_m2m();
  EXPECT_EQ(down.status, 502) << down.body;
  EXPECT_EQ(down.json.value("error", ""), "provider_unavailable") << down.body;
  EXPECT_TRUE(connections().empty());
  const int wrong_asks = fake_.client_token_calls();
  EXPECT_EQ(wrong_asks, 3) << "the two refused pairs and the unavailable provider were asked; no malformed input was";

  // The token_params reach the token endpoint with the connection's variable filled in.
  auto audience = import_m2m(kClientSecret, "bot", "m2m-audience", {{"tenant", "acme"}});
  ASSERT_EQ(audience.status, 201) << audience.body;
  EXPECT_EQ(parse_form(client_token_requests().back().body)["audience"], "https://acme.example.com/api/");
  EXPECT_EQ(server_->stderr_text().find(kClientSecret), std::string::npos);
}

TEST_F(ClientCredentials, CredentialsRefusedLaterMarkTheConnectionForReauthorization) {
  ASSERT_EQ(import_m2m().status, 201);
  const std::string id = connections()[0].value("id", "");
  fake_.fail_token_calls(401, 1);  // the client's secret was rotated at the provider
  auto r = admin("POST", "/v1/admin/connections/" + id + "/refresh");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.json.value("error", ""), "token_expired") << r.body;
  EXPECT_NE(r.json.value("message", "").find("import new ones"), std::string::npos) << r.body;
  EXPECT_EQ(admin("GET", "/v1/admin/connections/" + id).json.value("status", ""), "reauth_required");
  Vault vault(sdk_options());
  EXPECT_THROW(vault.request("m2m", HttpMethod::Get, api("/me"), {.user = {{"user_id", "billing-bot"}}}), TokenExpiredError);
  // Importing the pair again makes the connection usable.
  ASSERT_EQ(import_m2m().status, 201);
  EXPECT_EQ(vault.request("m2m", HttpMethod::Get, api("/me"), {.user = {{"user_id", "billing-bot"}}}).status_code(), 200);
  auto rows = admin("GET", "/v1/admin/audit?kind=refresh");
  ASSERT_FALSE(rows.json["events"].empty());
  EXPECT_EQ(rows.json["events"][0].value("decision", ""), "reauth_required") << rows.body;
}

TEST_F(ClientCredentials, AConnectLinkAsksForTheClientIdAndSecretOnAForm) {
  auto link = admin("POST", "/v1/admin/apps/default/connect-sessions",
                    {{"provider_id", "m2m"}, {"attributes", {{"user_id", "dana"}}}, {"scopes", {"read", "write"}}});
  ASSERT_EQ(link.status, 201) << link.body;
  const std::string url = link.json.value("connect_url", "");
  const std::string path = url.substr(url.find("/connect/"));
  auto form = http_->send("GET", path);
  ASSERT_EQ(form.status, 200) << form.body;
  EXPECT_NE(form.body.find("name=\"client_id\""), std::string::npos) << form.body;
  EXPECT_NE(form.body.find("name=\"client_secret\""), std::string::npos);
  auto post = [&](const std::string& body) {
    return http_->send("POST", path, body, {{"Content-Type", "application/x-www-form-urlencoded"}});
  };
  auto wrong = post("client_id=" + kClientId + "&client_secret=not-the-secret-9f8e");
  EXPECT_EQ(wrong.status, 400) << wrong.body;
  EXPECT_NE(wrong.body.find("refused these client credentials"), std::string::npos) << wrong.body;
  EXPECT_EQ(wrong.body.find("not-the-secret-9f8e"), std::string::npos);
  EXPECT_TRUE(connections().empty());
  auto saved = post("client_id=" + kClientId + "&client_secret=" + kClientSecret);
  ASSERT_EQ(saved.status, 200) << saved.body;
  EXPECT_EQ(saved.body.find(kClientSecret), std::string::npos);
  EXPECT_EQ(http_->send("GET", path).status, 410) << "the link is used up";
  // The link's scopes were asked for, and the connection works for the user the link named.
  EXPECT_EQ(parse_form(client_token_requests().back().body)["scope"], "read write");
  Vault vault(sdk_options());
  EXPECT_EQ(vault.request("m2m", HttpMethod::Get, api("/me"), {.user = {{"user_id", "dana"}}}).status_code(), 200);
  auto rows = admin("GET", "/v1/admin/audit?kind=connect");
  bool connected = false;
  for (const auto& e : rows.json["events"]) {
    if (e.value("decision", "") != "connected") continue;
    connected = true;
    EXPECT_EQ(e["details"].value("credential", ""), "oauth2_client_credentials") << e.dump();
  }
  EXPECT_TRUE(connected) << rows.body;
}

TEST_F(ClientCredentials, TheSecretIsInNoAnswerLogAuditRowOrMetric) {
  ASSERT_EQ(import_m2m().status, 201);
  Vault vault(sdk_options());
  EXPECT_EQ(vault.request("m2m", HttpMethod::Get, api("/me"), {.user = {{"user_id", "billing-bot"}}}).status_code(), 200);
  fake_.forget_access_tokens();
  EXPECT_EQ(proxied(*http_).status, 200);
  const std::string id = connections()[0].value("id", "");
  auto removed = admin("DELETE", "/v1/admin/connections/" + id);
  EXPECT_EQ(removed.status, 200) << removed.body;
  // Deleting revoked the access token only: the client's credentials are not a token.
  for (const auto& r : fake_.requests()) {
    if (r.target.rfind("/revoke", 0) == 0) {
      EXPECT_EQ(parse_form(r.body)["token_type_hint"], "access_token");
    }
  }
  const std::vector<std::pair<const char*, std::string>> places = {
      {"audit export", admin("GET", "/v1/admin/audit/export").body},
      {"metrics", http_->send("GET", "/metrics").body},
      {"the log", server_->stderr_text()},
  };
  for (const auto& [where, text] : places) {
    ASSERT_FALSE(text.empty()) << where;
    EXPECT_EQ(text.find(kClientSecret), std::string::npos) << where << " holds the client secret";
  }
}

}  // namespace
}  // namespace alter::testing
