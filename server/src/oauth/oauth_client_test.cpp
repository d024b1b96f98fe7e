#include "oauth/oauth_client.hpp"

#include <alter/testing/fake_oauth_provider.hpp>
#include <gtest/gtest.h>

#include <boost/url/parse.hpp>

#include <future>

#include "curl_transport.hpp"

namespace alter::server::oauth {
namespace {

ProviderDef provider() {
  auto p = Catalog::builtin().value()->get("google");
  return *p;
}

class ParseToken : public ::testing::Test {
 protected:
  common::FakeClock clock_;
  OAuthClient client_{nullptr, clock_, std::chrono::seconds(5), true};
  OAuthResult<TokenSet> parse(const ProviderDef& p, int status, std::string body, std::string ct = "application/json") {
    return client_.parse_token_response(p, status, ct, body);
  }
};

TEST_F(ParseToken, StandardJsonAnswer) {
  auto t = parse(provider(), 200, R"({"access_token":"at","refresh_token":"rt","expires_in":3599,"token_type":"bearer","scope":"a b"})");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->access_token.reveal(), "at");
  EXPECT_EQ(t->refresh_token.reveal(), "rt");
  EXPECT_EQ(t->token_type, "Bearer");
  EXPECT_EQ(*t->expires_at, clock_.wall() + std::chrono::seconds(3599));
  EXPECT_EQ(t->scopes, (std::vector<std::string>{"a", "b"}));
}

TEST_F(ParseToken, FormEncodedAnswerAndStringExpiry) {
  auto t = parse(provider(), 200, "access_token=at%2B1&expires_in=60&scope=repo%2Cuser", "application/x-www-form-urlencoded");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->access_token.reveal(), "at+1");
  EXPECT_EQ(*t->expires_at, clock_.wall() + std::chrono::seconds(60));
  EXPECT_EQ(t->scopes, (std::vector<std::string>{"repo", "user"}));
  auto s = parse(provider(), 200, R"({"access_token":"x","expires_in":"120"})");
  EXPECT_EQ(*s->expires_at, clock_.wall() + std::chrono::seconds(120));
}

TEST_F(ParseToken, NestedPathsWithFallback) {
  auto slack = *Catalog::builtin().value()->get("slack");
  auto nested = parse(slack, 200, R"({"ok":true,"access_token":"xoxb-bot","token_type":"bot",
      "authed_user":{"access_token":"xoxp-user","refresh_token":"xoxe-r","expires_in":43200,"scope":"users:read"},"team":{"id":"T1"}})");
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(nested->access_token.reveal(), "xoxp-user");
  EXPECT_EQ(nested->refresh_token.reveal(), "xoxe-r");
  EXPECT_EQ(nested->token_type, "Bearer");  // "bot"/"user" are not HTTP schemes
  EXPECT_EQ(nested->kept["team"]["id"], "T1");
  auto flat = parse(slack, 200, R"({"ok":true,"access_token":"xoxp-new","refresh_token":"xoxe-2","expires_in":43200})");
  ASSERT_TRUE(flat.ok());
  EXPECT_EQ(flat->access_token.reveal(), "xoxp-new");
}

TEST_F(ParseToken, KeepsFieldsForApiHosts) {
  auto sf = *Catalog::builtin().value()->get("salesforce");
  auto t = parse(sf, 200, R"({"access_token":"00D","instance_url":"https://acme.my.salesforce.com","id":"https://login/id/1"})");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->kept["instance_url"], "https://acme.my.salesforce.com");
}

TEST_F(ParseToken, ErrorsAreClassified) {
  EXPECT_EQ(parse(provider(), 400, R"({"error":"invalid_grant"})").error().kind, OAuthFailure::Kind::kInvalidGrant);
  EXPECT_EQ(parse(provider(), 401, R"({"error":"invalid_client"})").error().kind, OAuthFailure::Kind::kInvalidClient);
  EXPECT_EQ(parse(provider(), 500, R"({"error":"server_error"})").error().kind, OAuthFailure::Kind::kTransient);
  EXPECT_EQ(parse(provider(), 502, "<html>bad gateway</html>").error().kind, OAuthFailure::Kind::kTransient);
  EXPECT_EQ(parse(provider(), 429, R"({"error":"slow_down"})").error().kind, OAuthFailure::Kind::kTransient);
  EXPECT_EQ(parse(provider(), 200, R"({"token_type":"bearer"})").error().kind, OAuthFailure::Kind::kProtocol);
  EXPECT_EQ(parse(provider(), 200, R"({"access_token":"a\r\nb"})").error().kind, OAuthFailure::Kind::kProtocol);
  auto e = parse(provider(), 400, R"({"error":"invalid_grant","access_token":"leaked-secret"})");
  EXPECT_EQ(e.error().message.find("leaked-secret"), std::string::npos);
}

TEST_F(ParseToken, DeepOrHugeAnswersAreProtocolFailures) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  for (const std::string& body : {R"({"access_token":"at","x":)" + deep + "}", R"({"access_token":"at","x":)" + std::string(17, '[') +
                                                                                      std::string(17, ']') + "}",
                                  R"({"access_token":"at","x":")" + std::string(300 * 1024, 'a') + "\"}"}) {
    auto t = parse(provider(), 200, body);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(static_cast<int>(t.error().kind), static_cast<int>(OAuthFailure::Kind::kProtocol));
  }
}

TEST(Pkce, Rfc7636Vector) {
  EXPECT_EQ(pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

TEST(AuthorizationUrl, CarriesEverythingEncoded) {
  auto p = provider();
  ClientCredentials client;
  client.client_id = "id with space";
  auto url = authorization_url(p, client, "http://127.0.0.1:8787/oauth/callback", {"openid", "email"}, "st&te", "chal", true);
  ASSERT_TRUE(url.ok());
  auto u = boost::urls::parse_uri(*url);
  ASSERT_TRUE(u.has_value());
  std::map<std::string, std::string> q;
  for (const auto& kv : u->params()) q[kv.key] = kv.value;
  EXPECT_EQ(q["response_type"], "code");
  EXPECT_EQ(q["client_id"], "id with space");
  EXPECT_EQ(q["redirect_uri"], "http://127.0.0.1:8787/oauth/callback");
  EXPECT_EQ(q["scope"], "openid email");
  EXPECT_EQ(q["state"], "st&te");
  EXPECT_EQ(q["code_challenge"], "chal");
  EXPECT_EQ(q["code_challenge_method"], "S256");
  EXPECT_EQ(q["access_type"], "offline");
  auto slack = *Catalog::builtin().value()->get("slack");
  auto s = authorization_url(slack, client, "https://v/cb", {"users:read", "channels:read"}, "s", "c", true);
  EXPECT_NE(s->find("user_scope=users:read,channels:read"), std::string::npos) << *s;
  EXPECT_EQ(s->find("code_challenge"), std::string::npos);  // Slack: no PKCE
  auto shop = *Catalog::builtin().value()->get("shopify");
  EXPECT_FALSE(authorization_url(shop, client, "https://v/cb", {}, "s", "c", true).ok());  // {shop} missing
  client.variables["shop"] = "acme";
  EXPECT_EQ(authorization_url(shop, client, "https://v/cb", {}, "s", "c", true)->rfind("https://acme.myshopify.com/", 0), 0u);
}

TEST(OAuthClientWire, ExchangeRefreshRevokeAgainstTheFake) {
  testing::FakeOAuthProvider fake;
  common::FakeClock clock;
  OAuthClient client(alter::internal::make_curl_transport({}), clock, std::chrono::seconds(5), true);
  auto def = parse_provider(fake.definition("fake")).value();
  ClientCredentials creds;
  creds.client_id = "fake-client";
  creds.client_secret = common::SecretString("fake-secret-123");
  auto g = fake.grant("alice");
  auto refreshed = client.refresh(def, creds, g["refresh_token"].get<std::string>());
  ASSERT_TRUE(refreshed.ok()) << refreshed.error().message;
  EXPECT_TRUE(fake.access_token_valid(std::string(refreshed->access_token.reveal())));
  EXPECT_EQ(fake.refresh_calls(), 1);
  // Basic auth with the client id and secret.
  auto reqs = fake.requests();
  EXPECT_EQ(reqs.back().header("authorization").rfind("Basic ", 0), 0u);
  EXPECT_EQ(reqs.back().body.find("fake-secret-123"), std::string::npos);
  // A wrong secret is invalid_client, not invalid_grant.
  ClientCredentials wrong;
  wrong.client_id = "fake-client";
  wrong.client_secret = common::SecretString("nope");
  EXPECT_EQ(client.refresh(def, wrong, g["refresh_token"].get<std::string>()).error().kind, OAuthFailure::Kind::kInvalidClient);
  EXPECT_EQ(client.refresh(def, creds, "unknown").error().kind, OAuthFailure::Kind::kInvalidGrant);
  EXPECT_TRUE(client.revoke(def, creds, std::string(refreshed->access_token.reveal()), "access_token").ok());
  EXPECT_FALSE(fake.access_token_valid(std::string(refreshed->access_token.reveal())));
  fake.fail_token_calls(500, 1);
  EXPECT_EQ(client.refresh(def, creds, g["refresh_token"].get<std::string>()).error().kind, OAuthFailure::Kind::kTransient);
}

// RFC 6749 4.4.2: grant_type=client_credentials and the scope, the client authenticated as the
// provider says (Basic here, or id and secret in a JSON body), the token_params with their
// variables filled in; synchronously and without holding a thread.
TEST(OAuthClientWire, ClientCredentialsGrantAgainstTheFake) {
  testing::FakeOAuthProvider fake;
  common::FakeClock clock;
  OAuthClient client(alter::internal::make_curl_transport({}), clock, std::chrono::seconds(5), true);
  auto j = fake.client_credentials_definition("m2m");
  j["token_params"] = {{"audience", "https://{tenant}.example/api/"}};
  j["variables"] = {{"tenant", {{"scope", "connection"}, {"pattern", "^[a-z]+$"}}}};
  auto def = parse_provider(j).value();
  ClientCredentials creds;
  creds.client_id = "fake-client";
  creds.client_secret = common::SecretString("fake-secret-123");
  creds.variables = {{"tenant", "acme"}};
  auto t = client.client_token(def, creds, {"read", "write"});
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_TRUE(fake.access_token_valid(std::string(t->access_token.reveal())));
  EXPECT_TRUE(t->refresh_token.empty());
  EXPECT_EQ(*t->expires_at, clock.wall() + std::chrono::seconds(3600));
  auto form = testing::parse_form(fake.requests().back().body);
  EXPECT_EQ(form["grant_type"], "client_credentials");
  EXPECT_EQ(form["scope"], "read write");
  EXPECT_EQ(form["audience"], "https://acme.example/api/");
  EXPECT_EQ(form.count("client_secret"), 0u);
  EXPECT_EQ(fake.client_token_calls(), 1);

  // Asynchronously, the same request.
  std::promise<OAuthResult<TokenSet>> answered;
  client.client_token_async(std::make_shared<const ProviderDef>(def), creds, {}, [&](OAuthResult<TokenSet> r) { answered.set_value(std::move(r)); });
  auto async = answered.get_future().get();
  ASSERT_TRUE(async.ok()) << async.error().message;
  EXPECT_EQ(testing::parse_form(fake.requests().back().body).count("scope"), 0u) << "no scopes: no scope parameter";

  // A variable without a value is refused before anything is sent; a wrong secret is invalid_client.
  ClientCredentials no_tenant = {creds.client_id, common::SecretString("fake-secret-123"), {}};
  EXPECT_EQ(client.client_token(def, no_tenant, {}).error().kind, OAuthFailure::Kind::kProtocol);
  EXPECT_EQ(fake.client_token_calls(), 2);
  ClientCredentials wrong = {creds.client_id, common::SecretString("nope"), creds.variables};
  EXPECT_EQ(client.client_token(def, wrong, {}).error().kind, OAuthFailure::Kind::kInvalidClient);
}

}  // namespace
}  // namespace alter::server::oauth
