// Credentials that are not OAuth grants, end to end against the real binary: providers whose
// catalog entry says api_key (a header, a header with a prefix, a query parameter), basic or
// aws_sigv4, each imported through the admin API, called with the SDK's request() (answered
// proxy_required for a token, so the SDK goes through the proxy) and checked at a local provider
// that records what it receives; the AWS signature recomputed from what arrived. Then a table of
// bad imports (400, nothing stored, the secret in no answer), the calls a static credential
// refuses (a token, a refresh, a connect link, the caller's own credential header), and every
// secret absent from the log, the audit export, the metrics and the admin API.
#include <alter/common/strings.hpp>

#include <alter/testing/http_test_server.hpp>

#include "credentials/sigv4.hpp"
#include "vault_test_fixture.hpp"

namespace alter::testing {
namespace {

const char* kPolicy = R"(
version = 1
[[rules]]
id = "keyed-reads"
effect = "allow"
providers = ["keyed", "bearer-keyed", "query-keyed", "two-keyed", "basic-auth", "aws-like"]
paths = ["/**"]
)";

// Secrets of this run: each must reach the provider and nowhere else.
const std::string kApiKey = "sk_live_9f8e7d6c5b4a39281706f5e4d3c2b1a0";
const std::string kBearerKey = "pat_0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const std::string kQueryKey = "qk_77aa88bb99cc00dd11ee22ff33aa44bb";
const std::string kAppKey = "ak_5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b";
const std::string kPassword = "correct horse battery staple 42";
const std::string kAwsSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const std::string kAwsToken = "IQoJb3JpZ2luX2VjEHAaCXVzLWVhc3QtMSJGMEQCIFakeSessionToken1234567890";

class Credentials : public VaultFixture {
 protected:
  void SetUp() override {
    VaultFixture::SetUp();
    provider_ = std::make_unique<HttpTestServer>([](const RecordedRequest& r) {
      return CannedResponse::json(200, nlohmann::json{{"method", r.method}, {"target", r.target}}.dump());
    });
    auto define = [&](const std::string& id, nlohmann::json credential, nlohmann::json extra = nlohmann::json::object()) {
      nlohmann::json def = {{"id", id},
                            {"display_name", "Test " + id},
                            {"docs_url", "https://example.invalid/docs"},
                            {"api_hosts", {"127.0.0.1"}},
                            {"credential", std::move(credential)}};
      for (auto it = extra.begin(); it != extra.end(); ++it) def[it.key()] = it.value();
      auto a = admin("POST", "/v1/admin/providers", def);
      ASSERT_EQ(a.status, 201) << a.body;
    };
    define("keyed", {{"kind", "api_key"}, {"header", "X-Api-Key"}});
    define("bearer-keyed", {{"kind", "api_key"}, {"header", "Authorization"}, {"prefix", "Bearer "}});
    define("query-keyed", {{"kind", "api_key"}, {"query_param", "api_key"}});
    // Datadog's shape: two secret headers, each its own field.
    define("two-keyed", {{"kind", "api_key"}, {"header", "X-Api-Key"}, {"more_headers", {{"X-App-Key", "application_key"}}}});
    define("basic-auth", {{"kind", "basic"}});
    define("aws-like", {{"kind", "aws_sigv4"}, {"service", "execute-api"}, {"region", "{region}"}},
           {{"variables", {{"region", {{"scope", "connection"}, {"pattern", "^[a-z0-9-]+$"}}}}}});
    apply_policy("default", kPolicy);
  }

  HttpAnswer import_credential(const std::string& provider, const nlohmann::json& credential, const std::string& user = "alice",
                               const nlohmann::json& metadata = nullptr) {
    nlohmann::json body = {{"provider_id", provider}, {"attributes", {{"user_id", user}}}, {"credential", credential}};
    if (!metadata.is_null()) body["metadata"] = metadata;
    return admin("POST", "/v1/admin/apps/default/connections", body);
  }

  VaultOptions sdk_options() {
    VaultOptions o;
    o.api_key = api_key_;
    o.base_url = server_->url();
    o.actor_type = "ai_agent";
    o.actor_identifier = "credentials-agent";
    o.timeout = std::chrono::seconds(30);
    return o;
  }

  RecordedRequest last_request() {
    auto all = provider_->requests();
    EXPECT_FALSE(all.empty());
    return all.empty() ? RecordedRequest{} : all.back();
  }

  nlohmann::json connections() {
    auto a = admin("GET", "/v1/admin/apps/default/connections");
    EXPECT_EQ(a.status, 200) << a.body;
    return a.json["connections"];
  }

  std::unique_ptr<HttpTestServer> provider_;
};

TEST_F(Credentials, EachKindReachesTheProviderAsItsCatalogEntrySays) {
  ASSERT_EQ(import_credential("keyed", {{"api_key", kApiKey}}).status, 201);
  ASSERT_EQ(import_credential("bearer-keyed", {{"api_key", kBearerKey}}).status, 201);
  ASSERT_EQ(import_credential("query-keyed", {{"api_key", kQueryKey}}).status, 201);
  ASSERT_EQ(import_credential("two-keyed", {{"api_key", kApiKey}, {"application_key", kAppKey}}).status, 201);
  ASSERT_EQ(import_credential("basic-auth", {{"username", "acct_42"}, {"password", kPassword}}).status, 201);
  auto aws = import_credential("aws-like", {{"access_key_id", "AKIDEXAMPLE12345"}, {"secret_access_key", kAwsSecret}, {"session_token", kAwsToken}},
                               "alice", {{"region", "eu-west-1"}});
  ASSERT_EQ(aws.status, 201) << aws.body;
  EXPECT_EQ(aws.json.value("token_type", ""), "aws_sigv4");

  Vault vault(sdk_options());
  const std::string base = provider_->base_url();
  struct Case {
    std::string provider;
    std::string path;
    std::function<void(const RecordedRequest&)> check;
  };
  const std::vector<Case> cases = {
      {"keyed", "/v1/things", [](const RecordedRequest& r) {
         EXPECT_EQ(r.header("x-api-key"), kApiKey);
         EXPECT_FALSE(r.has_header("authorization"));
       }},
      {"bearer-keyed", "/v1/things", [](const RecordedRequest& r) { EXPECT_EQ(r.header("authorization"), "Bearer " + kBearerKey); }},
      {"query-keyed", "/v1/things?page=2", [](const RecordedRequest& r) {
         EXPECT_EQ(r.target, "/v1/things?page=2&api_key=" + kQueryKey);
         EXPECT_FALSE(r.has_header("authorization"));
       }},
      {"two-keyed", "/v1/things", [](const RecordedRequest& r) {
         EXPECT_EQ(r.header("x-api-key"), kApiKey);
         EXPECT_EQ(r.header("x-app-key"), kAppKey);
       }},
      {"basic-auth", "/v1/things", [](const RecordedRequest& r) {
         // base64("acct_42:correct horse battery staple 42")
         EXPECT_EQ(r.header("authorization"), "Basic YWNjdF80Mjpjb3JyZWN0IGhvcnNlIGJhdHRlcnkgc3RhcGxlIDQy");
       }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.provider);
    auto r = vault.request(c.provider, HttpMethod::Get, base + c.path, {.user = {{"user_id", "alice"}}, .reason = "credential kinds"});
    EXPECT_EQ(r.status_code(), 200) << r.text();
    c.check(last_request());
  }

  // AWS: the signature the provider received is the one its request's own parts give.
  const std::string body = R"({"Action":"List"})";
  auto r = vault.request("aws-like", HttpMethod::Post, base + "/prod/items?b=2&a=1",
                         {.user = {{"user_id", "alice"}}, .extra_headers = {{"X-Amz-Target", "Items.List"}}, .body = body,
                          .content_type = "application/json"});
  EXPECT_EQ(r.status_code(), 200) << r.text();
  const RecordedRequest got = last_request();
  const std::string authorization = got.header("authorization");
  ASSERT_EQ(authorization.rfind("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE12345/", 0), 0u) << authorization;
  EXPECT_NE(authorization.find("/eu-west-1/execute-api/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,"),
            std::string::npos)
      << authorization;
  EXPECT_EQ(got.header("x-amz-security-token"), kAwsToken);
  const std::string amz_date = got.header("x-amz-date");
  ASSERT_EQ(amz_date.size(), 16u);
  std::tm tm{};
  ASSERT_NE(strptime(amz_date.c_str(), "%Y%m%dT%H%M%SZ", &tm), nullptr);
  // sigv4::Request holds views: the strings it sees live here.
  const std::string target = got.target, host = got.header("host");
  const std::string path = target.substr(0, target.find('?')), query = target.substr(target.find('?') + 1);
  server::sigv4::Request expect{got.method, host, path, query,
                                {{"Content-Type", got.header("content-type")}, {"X-Amz-Target", got.header("x-amz-target")}},
                                got.body};
  auto recomputed = server::sigv4::sign(expect, {"AKIDEXAMPLE12345", kAwsSecret, kAwsToken}, {"eu-west-1", "execute-api"},
                                        std::chrono::system_clock::from_time_t(timegm(&tm)));
  ASSERT_TRUE(recomputed.ok()) << recomputed.error().message;
  EXPECT_EQ(authorization.substr(authorization.find("Signature=") + 10), recomputed->signature);
  EXPECT_EQ(got.body, body);

  // The audit rows name the URL as the caller gave it: never the key the vault added to it.
  auto audit = admin("GET", "/v1/admin/audit?provider=query-keyed");
  ASSERT_EQ(audit.status, 200);
  ASSERT_FALSE(audit.json["events"].empty());
  for (const auto& e : audit.json["events"]) {
    if (e.contains("url")) {
      EXPECT_EQ(e["url"].get<std::string>().find("api_key"), std::string::npos) << e.dump();
    }
  }
}

TEST_F(Credentials, ATokenIsNeverHandedOutForThem) {
  ASSERT_EQ(import_credential("keyed", {{"api_key", kApiKey}}).status, 201);
  auto a = http_->send("POST", "/oauth/token",
                       nlohmann::json{{"provider_id", "keyed"},
                                      {"attributes", {{"user_id", "alice"}}},
                                      {"actor_type", "ai_agent"},
                                      {"actor_identifier", "a"},
                                      {"method", "GET"},
                                      {"url", provider_->base_url() + "/v1/things"}}
                           .dump(),
                       {{"x-api-key", api_key_}, {"Content-Type", "application/json"}});
  EXPECT_EQ(a.status, 403) << a.body;
  EXPECT_EQ(a.json.value("error", ""), "proxy_required");
  EXPECT_EQ(a.json["details"].value("credential", ""), "api_key") << "the SDK remembers the provider as proxy-only";
  EXPECT_EQ(a.body.find(kApiKey), std::string::npos);
  EXPECT_TRUE(provider_->requests().empty()) << "nothing reached the provider";
  // Not a decision about anyone's connection: no row. The SDK's calls leave only the proxy's.
  Vault vault(sdk_options());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(vault.request("keyed", HttpMethod::Get, provider_->base_url() + "/v1/things", {.user = {{"user_id", "alice"}}}).status_code(), 200);
  }
  auto rows = admin("GET", "/v1/admin/audit?provider=keyed&kind=token");
  ASSERT_EQ(rows.status, 200) << rows.body;
  ASSERT_EQ(rows.json["events"].size(), 3u) << rows.body;
  for (const auto& e : rows.json["events"]) {
    EXPECT_EQ(e.value("decision", ""), "issued") << e.dump();
    EXPECT_EQ(e.value("via", ""), "proxy") << e.dump();
  }
}

TEST_F(Credentials, BadImportsAreRefusedStoreNothingAndNeverEchoTheSecret) {
  const std::string secret = "s3cr3t-value-0123456789abcdef";
  struct Case {
    const char* what;
    std::string provider;
    nlohmann::json body_credential;  // null: send OAuth tokens instead
    nlohmann::json extra;
  };
  const std::vector<Case> cases = {
      {"a key with CR/LF", "keyed", {{"api_key", secret + "\r\nX-Injected: 1"}}, {}},
      {"a key with a space", "keyed", {{"api_key", "sk live " + secret}}, {}},
      {"an empty key", "keyed", {{"api_key", ""}}, {}},
      {"no key at all", "keyed", nlohmann::json::object(), {}},
      {"a field the kind does not take", "keyed", {{"api_key", secret}, {"password", secret}}, {}},
      {"the first of two keys only", "two-keyed", {{"api_key", secret}}, {}},
      {"the second key with CR/LF", "two-keyed", {{"api_key", secret}, {"application_key", secret + "\r\n"}}, {}},
      {"a number for a key", "keyed", {{"api_key", 12345}}, {}},
      {"not an object", "keyed", secret, {}},
      {"OAuth tokens for a key provider", "keyed", nullptr, {{"access_token", secret}}},
      {"a key beside OAuth tokens", "keyed", {{"api_key", secret}}, {{"access_token", secret}}},
      {"a credential for an OAuth provider", "fake", {{"api_key", secret}}, {}},
      {"a Basic user name with ':'", "basic-auth", {{"username", "a:b"}, {"password", secret}}, {}},
      {"a Basic password with a NUL", "basic-auth", {{"username", "a"}, {"password", std::string("x\0y", 3) + secret}}, {}},
      {"a Basic credential without a password", "basic-auth", {{"username", "a"}}, {}},
      {"a lower-case AWS key id", "aws-like", {{"access_key_id", "akidexample12345"}, {"secret_access_key", secret}}, {}},
      {"an AWS key without its secret", "aws-like", {{"access_key_id", "AKIDEXAMPLE12345"}}, {}},
      {"an AWS secret with a line break", "aws-like", {{"access_key_id", "AKIDEXAMPLE12345"}, {"secret_access_key", secret + "\n"}}, {}},
      {"an unknown provider", "nope", {{"api_key", secret}}, {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    nlohmann::json body = {{"provider_id", c.provider}, {"attributes", {{"user_id", "mallory"}}}};
    if (!c.body_credential.is_null()) body["credential"] = c.body_credential;
    for (auto it = c.extra.begin(); it != c.extra.end(); ++it) body[it.key()] = it.value();
    auto a = admin("POST", "/v1/admin/apps/default/connections", body);
    EXPECT_EQ(a.status, 400) << a.body;
    EXPECT_EQ(a.json.value("error", ""), "invalid_request") << a.body;
    EXPECT_FALSE(a.json.value("message", "").empty());
    EXPECT_EQ(a.body.find(secret), std::string::npos) << a.body;
  }
  for (const auto& conn : connections()) EXPECT_NE(conn["attributes"].value("user_id", ""), "mallory") << conn.dump();
  EXPECT_EQ(server_->stderr_text().find(secret), std::string::npos);
}

TEST_F(Credentials, WhatAStaticCredentialRefuses) {
  auto imported = import_credential("keyed", {{"api_key", kApiKey}});
  ASSERT_EQ(imported.status, 201);
  ASSERT_EQ(import_credential("query-keyed", {{"api_key", kQueryKey}}).status, 201);
  ASSERT_EQ(import_credential("two-keyed", {{"api_key", kApiKey}, {"application_key", kAppKey}}).status, 201);
  ASSERT_EQ(import_credential("aws-like", {{"access_key_id", "AKIDEXAMPLE12345"}, {"secret_access_key", kAwsSecret}}, "alice",
                              {{"region", "us-east-1"}})
                .status,
            201);
  const std::string id = imported.json.value("id", "");
  auto refresh = admin("POST", "/v1/admin/connections/" + id + "/refresh");
  EXPECT_EQ(refresh.status, 400) << refresh.body;
  auto link = admin("POST", "/v1/admin/apps/default/connect-sessions",
                    {{"provider_id", "keyed"}, {"attributes", {{"user_id", "bob"}}}, {"scopes", {"read"}}});
  EXPECT_EQ(link.status, 400) << link.body << ": a key has no scopes";
  auto client = admin("PUT", "/v1/admin/apps/default/providers/keyed", {{"client_id", "x"}, {"client_secret", "y"}});
  EXPECT_EQ(client.status, 400) << client.body;

  // The caller's own copy of what carries the credential: refused, never sent beside the vault's.
  Vault vault(sdk_options());
  const std::string base = provider_->base_url();
  struct Case {
    const char* what;
    std::string provider, url;
    std::map<std::string, std::string> headers;
  };
  const std::vector<Case> cases = {
      {"the key's header", "keyed", base + "/v1/x", {{"x-api-key", "mine"}}},
      {"the key's header in other case", "keyed", base + "/v1/x", {{"X-API-KEY", "mine"}}},
      {"the key's query parameter", "query-keyed", base + "/v1/x?api_key=mine", {}},
      {"the second key's header", "two-keyed", base + "/v1/x", {{"X-App-Key", "mine"}}},
      {"a SigV4 date", "aws-like", base + "/v1/x", {{"X-Amz-Date", "20150830T123600Z"}}},
      {"a SigV4 token", "aws-like", base + "/v1/x", {{"X-Amz-Security-Token", "mine"}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    try {
      vault.request(c.provider, HttpMethod::Get, c.url, {.user = {{"user_id", "alice"}}, .extra_headers = c.headers});
      ADD_FAILURE() << "the call went through";
    } catch (const AlterSDKError& e) {
      // Refused by the SDK (x-api-key is its own header), or by the vault: either way it names it.
      const std::string said = common::to_lower(e.what());
      const std::string named = c.headers.empty() ? "api_key" : common::to_lower(c.headers.begin()->first);
      EXPECT_NE(said.find(named), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(provider_->requests().empty()) << "nothing reached the provider";
}

// The end user types the key on the connect link's page: the same checks as an import, the link
// used up only by a credential that was stored, and the page never shows a secret.
TEST_F(Credentials, AConnectLinkAsksForTheKeyOnAForm) {
  auto path_of = [](const std::string& url) { return url.substr(url.find("/connect/")); };
  auto link = admin("POST", "/v1/admin/apps/default/connect-sessions", {{"provider_id", "keyed"}, {"attributes", {{"user_id", "carol"}}}});
  ASSERT_EQ(link.status, 201) << link.body;
  const std::string path = path_of(link.json.value("connect_url", ""));
  auto form = http_->send("GET", path);
  ASSERT_EQ(form.status, 200) << form.body;
  EXPECT_NE(form.body.find("<label for=\"api_key\">API key</label>"), std::string::npos) << form.body;
  EXPECT_NE(form.body.find("type=\"password\""), std::string::npos);
  EXPECT_NE(form.body.find("action=\"" + path + "\""), std::string::npos);
  auto post = [&](const std::string& p, const std::string& body) {
    return http_->send("POST", p, body, {{"Content-Type", "application/x-www-form-urlencoded"}});
  };
  // Refused values: the form again with the reason, nothing stored, the link still usable.
  for (const std::string& bad : {std::string("api_key="), std::string("api_key=two+words"), std::string("api_key=a%0D%0Ab"),
                                 std::string("other=") + kApiKey}) {
    SCOPED_TRACE(bad);
    auto a = post(path, bad);
    EXPECT_EQ(a.status, 400) << a.body;
    EXPECT_NE(a.body.find("id=\"notice\""), std::string::npos) << a.body;
    EXPECT_EQ(a.body.find(kApiKey), std::string::npos);
  }
  for (const auto& c : connections()) EXPECT_NE(c["attributes"].value("user_id", ""), "carol");
  auto saved = post(path, "api_key=" + kApiKey);
  ASSERT_EQ(saved.status, 200) << saved.body;
  EXPECT_EQ(saved.body.find(kApiKey), std::string::npos);
  EXPECT_EQ(http_->send("GET", path).status, 410) << "the link is used up";
  EXPECT_EQ(post(path, "api_key=" + kApiKey).status, 410);
  // The key works, through the SDK, for the user the link named.
  Vault vault(sdk_options());
  auto r = vault.request("keyed", HttpMethod::Get, provider_->base_url() + "/v1/mine", {.user = {{"user_id", "carol"}}});
  EXPECT_EQ(r.status_code(), 200) << r.text();
  EXPECT_EQ(last_request().header("x-api-key"), kApiKey);

  // An AWS key, with the link's region, and an optional session token left empty.
  auto aws_link = admin("POST", "/v1/admin/apps/default/connect-sessions",
                        {{"provider_id", "aws-like"}, {"attributes", {{"user_id", "carol"}}}, {"settings", {{"region", "ap-south-1"}}}});
  ASSERT_EQ(aws_link.status, 201) << aws_link.body;
  const std::string aws_path = path_of(aws_link.json.value("connect_url", ""));
  auto aws_form = http_->send("GET", aws_path);
  for (const char* field : {"access_key_id", "secret_access_key", "session_token"}) {
    EXPECT_NE(aws_form.body.find(std::string("name=\"") + field + "\""), std::string::npos) << field;
  }
  auto aws_saved = post(aws_path, "access_key_id=AKIDEXAMPLE12345&secret_access_key=" + kAwsSecret.substr(0, 20) + "&session_token=");
  ASSERT_EQ(aws_saved.status, 200) << aws_saved.body;
  auto signed_call = vault.request("aws-like", HttpMethod::Get, provider_->base_url() + "/v1/x", {.user = {{"user_id", "carol"}}});
  EXPECT_EQ(signed_call.status_code(), 200) << signed_call.text();
  EXPECT_NE(last_request().header("authorization").find("/ap-south-1/execute-api/aws4_request"), std::string::npos);
  EXPECT_FALSE(last_request().has_header("x-amz-security-token"));
  EXPECT_EQ(server_->stderr_text().find(kApiKey), std::string::npos);
}

TEST_F(Credentials, NoSecretInTheLogTheAuditTheMetricsOrTheAdminApi) {
  ASSERT_EQ(import_credential("keyed", {{"api_key", kApiKey}}).status, 201);
  ASSERT_EQ(import_credential("query-keyed", {{"api_key", kQueryKey}}).status, 201);
  ASSERT_EQ(import_credential("two-keyed", {{"api_key", kApiKey}, {"application_key", kAppKey}}).status, 201);
  ASSERT_EQ(import_credential("basic-auth", {{"username", "acct_42"}, {"password", kPassword}}).status, 201);
  ASSERT_EQ(import_credential("aws-like", {{"access_key_id", "AKIDEXAMPLE12345"}, {"secret_access_key", kAwsSecret}, {"session_token", kAwsToken}},
                              "alice", {{"region", "us-east-1"}})
                .status,
            201);
  Vault vault(sdk_options());
  for (const char* p : {"keyed", "query-keyed", "two-keyed", "basic-auth", "aws-like"}) {
    auto r = vault.request(p, HttpMethod::Get, provider_->base_url() + "/v1/things", {.user = {{"user_id", "alice"}}});
    EXPECT_EQ(r.status_code(), 200) << p << ": " << r.text();
  }
  std::vector<std::pair<const char*, std::string>> places = {
      {"audit export", admin("GET", "/v1/admin/audit/export").body},
      {"connections", admin("GET", "/v1/admin/apps/default/connections").body},
      {"metrics", http_->send("GET", "/metrics").body},
  };
  for (const auto& c : connections()) places.emplace_back("one connection", admin("GET", "/v1/admin/connections/" + c["id"].get<std::string>()).body);
  places.emplace_back("the log", server_->stderr_text());
  for (const auto& [where, text] : places) {
    ASSERT_FALSE(text.empty()) << where;
    for (const std::string& s : {kApiKey, kQueryKey, kAppKey, kPassword, kAwsSecret, kAwsToken}) {
      EXPECT_EQ(text.find(s), std::string::npos) << where << " holds a secret";
    }
  }
}

}  // namespace
}  // namespace alter::testing
