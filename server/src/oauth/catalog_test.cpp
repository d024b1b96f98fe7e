#include "oauth/catalog.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <set>

namespace alter::server::oauth {
namespace {

TEST(Catalog, EveryBuiltInProviderLoads) {
  auto c = Catalog::builtin();
  ASSERT_TRUE(c.ok()) << c.error().message;
  const auto ids = (*c)->ids();
  const std::set<std::string> have(ids.begin(), ids.end());
  // The SDK's Provider enum names these; each must be in the catalog.
  for (const char* id : {"google", "github", "slack", "microsoft", "salesforce", "sentry", "notion", "gitlab",
                         "bitbucket", "atlassian", "asana", "linear", "hubspot", "zoom", "dropbox", "box", "discord",
                         "spotify", "x", "linkedin", "shopify", "stripe", "figma", "airtable", "intercom", "zendesk",
                         "quickbooks", "openai", "anthropic", "twilio", "sendgrid", "mailgun", "pagerduty", "aws-s3"}) {
    EXPECT_TRUE(have.count(id)) << id;
  }
  EXPECT_GE(ids.size(), 100u) << "the catalog holds at least 100 providers";
  for (const auto& p : (*c)->all()) {
    EXPECT_FALSE(p->api_hosts.empty()) << p->id;
    if (!p->credential.is_static()) {
      EXPECT_EQ(p->token_url.rfind("https://", 0), 0u) << p->id;
    }
    if (!p->credential.is_supplied()) {
      EXPECT_EQ(p->authorization_url.rfind("https://", 0), 0u) << p->id;
    }
    if (p->credential.is_client_credentials()) {
      EXPECT_TRUE(p->authorization_url.empty()) << p->id;
      EXPECT_EQ(p->refresh, RefreshMode::kRefreshes) << p->id;
    }
    // Round trip: the JSON form parses back to the same definition.
    auto again = parse_provider(p->to_json());
    ASSERT_TRUE(again.ok()) << p->id << ": " << again.error().message;
    EXPECT_EQ(again->to_json(), p->to_json()) << p->id;
  }
}

TEST(Catalog, QuirksAreData) {
  auto c = Catalog::builtin().value();
  EXPECT_EQ(c->get("google")->authorization_params.at("access_type"), "offline");
  EXPECT_EQ(c->get("github")->refresh, RefreshMode::kNeverExpires);
  EXPECT_EQ(c->get("notion")->client_auth, "basic");
  EXPECT_EQ(c->get("notion")->token_request_format, "json");
  EXPECT_EQ(c->get("slack")->refresh, RefreshMode::kRotates);
  EXPECT_FALSE(c->get("salesforce")->api_hosts_from_fields.empty());
  EXPECT_EQ(c->get("shopify")->token_header, "X-Shopify-Access-Token");
  EXPECT_TRUE(c->get("shopify")->variables.count("shop"));
  EXPECT_TRUE(c->get("zendesk")->variables.count("subdomain"));
  EXPECT_EQ(c->get("microsoft")->variables.at("tenant").default_value, "common");
}

TEST(Catalog, ParseErrorsNameTheField) {
  auto base = Catalog::builtin().value()->get("google")->to_json();
  auto broken = base;
  broken.erase("token_url");
  auto r = parse_provider(broken);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("token_url"), std::string::npos);
  broken = base;
  broken["client_auth"] = "magic";
  EXPECT_NE(parse_provider(broken).error().message.find("client_auth"), std::string::npos);
  broken = base;
  broken["api_hosts"] = {"*"};
  EXPECT_NE(parse_provider(broken).error().message.find("api_hosts"), std::string::npos);
  broken = base;
  broken["surprise"] = 1;
  EXPECT_NE(parse_provider(broken).error().message.find("surprise"), std::string::npos);
  broken = base;
  broken["id"] = "Bad Id";
  EXPECT_FALSE(parse_provider(broken).ok());
  EXPECT_FALSE(parse_provider_text("{", "x.json").ok());
}

nlohmann::json static_provider(nlohmann::json credential) {
  return {{"id", "k"}, {"display_name", "K"}, {"docs_url", "https://k.example/docs"}, {"api_hosts", {"api.k.example"}},
          {"credential", std::move(credential)}};
}

TEST(Catalog, CredentialKindsParseAndRoundTrip) {
  struct Case {
    nlohmann::json credential;
    CredentialKind kind;
  };
  const std::vector<Case> cases = {
      {{{"kind", "api_key"}, {"header", "X-Api-Key"}}, CredentialKind::kApiKey},
      {{{"kind", "api_key"}, {"header", "Authorization"}, {"prefix", "Bearer "}}, CredentialKind::kApiKey},
      {{{"kind", "api_key"}, {"query_param", "api_key"}}, CredentialKind::kApiKey},
      {{{"kind", "api_key"}, {"header", "DD-API-KEY"}, {"more_headers", {{"DD-APPLICATION-KEY", "application_key"}}}}, CredentialKind::kApiKey},
      {{{"kind", "basic"}}, CredentialKind::kBasic},
      {{{"kind", "basic"}, {"password_optional", true}}, CredentialKind::kBasic},
      {{{"kind", "aws_sigv4"}, {"service", "s3"}, {"region", "us-east-1"}, {"s3", true}}, CredentialKind::kAwsSigV4},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.credential.dump());
    auto d = parse_provider(static_provider(c.credential));
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_EQ(d->credential.kind, c.kind);
    EXPECT_TRUE(d->credential.is_static());
    EXPECT_EQ(d->refresh, RefreshMode::kNeverExpires);
    EXPECT_EQ(d->to_json()["credential"], c.credential);
    EXPECT_FALSE(d->to_json().contains("token_url"));
    auto again = parse_provider(d->to_json());
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_EQ(again->to_json(), d->to_json());
  }
  // A region from a connection variable.
  auto j = static_provider({{"kind", "aws_sigv4"}, {"service", "execute-api"}, {"region", "{region}"}});
  j["variables"] = {{"region", {{"scope", "connection"}}}};
  EXPECT_TRUE(parse_provider(j).ok());
}

TEST(Catalog, BadCredentialSpecsNameTheField) {
  struct Case {
    nlohmann::json credential;
    const char* field;
  };
  const std::vector<Case> cases = {
      {"api_key", "credential"},
      {{{"kind", "password"}}, "credential.kind"},
      {{{"kind", "api_key"}}, "credential"},
      {{{"kind", "api_key"}, {"header", "X-Key"}, {"query_param", "key"}}, "credential"},
      {{{"kind", "api_key"}, {"header", "X Key"}}, "credential.header"},
      {{{"kind", "api_key"}, {"header", "Host"}}, "credential.header"},
      {{{"kind", "api_key"}, {"header", "Cookie"}}, "credential.header"},
      {{{"kind", "api_key"}, {"header", "Content-Length"}}, "credential.header"},
      {{{"kind", "api_key"}, {"query_param", "a&b"}}, "credential.query_param"},
      {{{"kind", "api_key"}, {"query_param", "key"}, {"prefix", "Bearer "}}, "credential.prefix"},
      {{{"kind", "api_key"}, {"header", "Authorization"}, {"prefix", "Bearer\r\n"}}, "credential.prefix"},
      {{{"kind", "api_key"}, {"header", "X-Key"}, {"service", "s3"}}, "credential.service"},
      {{{"kind", "api_key"}, {"header", "X-Key"}, {"more_headers", "X-Two"}}, "credential.more_headers"},
      {{{"kind", "api_key"}, {"header", "X-Key"}, {"more_headers", nlohmann::json::object()}}, "credential.more_headers"},
      {{{"kind", "api_key"}, {"query_param", "key"}, {"more_headers", {{"X-Two", "two"}}}}, "credential.more_headers"},
      {{{"kind", "api_key"}, {"header", "X-Key"}, {"more_headers", {{"x-key", "two"}}}}, "credential.more_headers.x-key"},
      {{{"kind", "api_key"}, {"header", "X-Key"}, {"more_headers", {{"Cookie", "two"}}}}, "credential.more_headers.Cookie"},
      {{{"kind", "api_key"}, {"header", "X-Key"}, {"more_headers", {{"X-Two", "api_key"}}}}, "credential.more_headers.X-Two"},
      {{{"kind", "api_key"}, {"header", "X-Key"}, {"more_headers", {{"X-Two", "Two Words"}}}}, "credential.more_headers.X-Two"},
      {{{"kind", "api_key"}, {"header", "X-Key"}, {"more_headers", {{"X-Two", "two"}, {"X-Three", "two"}}}}, "credential.more_headers.X-Two"},
      {{{"kind", "basic"}, {"more_headers", {{"X-Two", "two"}}}}, "credential.more_headers"},
      {{{"kind", "basic"}, {"header", "X-Key"}}, "credential.header"},
      {{{"kind", "basic"}, {"password_optional", "yes"}}, "credential.password_optional"},
      {{{"kind", "aws_sigv4"}, {"region", "us-east-1"}}, "credential.service"},
      {{{"kind", "aws_sigv4"}, {"service", "S3"}, {"region", "us-east-1"}}, "credential.service"},
      {{{"kind", "aws_sigv4"}, {"service", "s3"}}, "credential.region"},
      {{{"kind", "aws_sigv4"}, {"service", "s3"}, {"region", "{nowhere}"}}, "credential.region"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.credential.dump());
    auto d = parse_provider(static_provider(c.credential));
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.error().message.find(std::string("field '") + c.field + "'"), std::string::npos) << d.error().message;
  }
  // OAuth fields do not go with a static credential.
  auto j = static_provider({{"kind", "api_key"}, {"header", "X-Key"}});
  j["token_url"] = "https://k.example/token";
  auto d = parse_provider(j);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("field 'token_url' is for OAuth providers"), std::string::npos) << d.error().message;
}

TEST(Catalog, HostMatching) {
  EXPECT_TRUE(host_matches("api.github.com", "api.github.com"));
  EXPECT_TRUE(host_matches("api.github.com", "API.GitHub.com"));
  EXPECT_FALSE(host_matches("api.github.com", "evil-api.github.com"));
  EXPECT_TRUE(host_matches("*.googleapis.com", "gmail.googleapis.com"));
  EXPECT_TRUE(host_matches("*.googleapis.com", "a.b.googleapis.com"));
  EXPECT_FALSE(host_matches("*.googleapis.com", "googleapis.com"));
  EXPECT_FALSE(host_matches("*.googleapis.com", "googleapis.com.evil.net"));
  EXPECT_FALSE(host_matches("*.googleapis.com", "evilgoogleapis.com"));
}

TEST(Catalog, Substitution) {
  EXPECT_EQ(substitute("https://{shop}.myshopify.com/x", {{"shop", "acme"}}).value(), "https://acme.myshopify.com/x");
  EXPECT_FALSE(substitute("https://{shop}.myshopify.com", {}).ok());
  EXPECT_FALSE(substitute("https://{shop.myshopify.com", {{"shop", "a"}}).ok());
}

TEST(Catalog, CustomProvidersAddAndRemove) {
  auto c = Catalog::builtin().value();
  auto def = c->get("google")->to_json();
  def["id"] = "acme";
  auto parsed = parse_provider(def);
  ASSERT_TRUE(parsed.ok());
  parsed->custom = true;
  c->put(*parsed);
  EXPECT_NE(c->get("acme"), nullptr);
  EXPECT_FALSE(c->remove_custom("google"));
  EXPECT_TRUE(c->remove_custom("acme"));
  EXPECT_EQ(c->get("acme"), nullptr);
}

nlohmann::json client_credentials_provider() {
  return {{"id", "m2m"},
          {"display_name", "M2M"},
          {"docs_url", "https://m2m.example/docs"},
          {"credential", {{"kind", "oauth2_client_credentials"}}},
          {"token_url", "https://{tenant}.m2m.example/oauth/token"},
          {"client_auth", "body"},
          {"token_request_format", "json"},
          {"token_params", {{"audience", "https://{tenant}.m2m.example/api/"}}},
          {"api_hosts", {"{tenant}.m2m.example"}},
          {"variables", {{"tenant", {{"scope", "connection"}, {"pattern", "^[a-z0-9-]+$"}}}}}};
}

TEST(Catalog, ClientCredentialsProvidersParseAndRoundTrip) {
  auto d = parse_provider(client_credentials_provider());
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_TRUE(d->credential.is_client_credentials());
  EXPECT_TRUE(d->credential.is_supplied());
  EXPECT_FALSE(d->credential.is_static()) << "its token is an OAuth access token, not a proxy-only secret";
  EXPECT_EQ(d->refresh, RefreshMode::kRefreshes);
  EXPECT_FALSE(d->pkce);
  EXPECT_TRUE(d->default_scopes.empty());
  EXPECT_EQ(d->token_params.at("audience"), "https://{tenant}.m2m.example/api/");
  EXPECT_EQ(d->to_json()["credential"], (nlohmann::json{{"kind", "oauth2_client_credentials"}}));
  EXPECT_FALSE(d->to_json().contains("authorization_url"));
  auto again = parse_provider(d->to_json());
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->to_json(), d->to_json());
}

TEST(Catalog, ClientCredentialsProvidersRefuseWhatTheGrantHasNot) {
  struct Case {
    const char* name;
    std::function<void(nlohmann::json&)> change;
    const char* says;
  };
  const std::vector<Case> cases = {
      {"an authorization URL", [](auto& j) { j["authorization_url"] = "https://m2m.example/authorize"; }, "field 'authorization_url' is for authorization-code"},
      {"PKCE", [](auto& j) { j["pkce"] = true; }, "field 'pkce' is for authorization-code"},
      {"a refresh mode", [](auto& j) { j["refresh"] = "rotates"; }, "field 'refresh' is for authorization-code"},
      {"a refresh URL", [](auto& j) { j["refresh_url"] = "https://m2m.example/refresh"; }, "field 'refresh_url'"},
      {"kept fields", [](auto& j) { j["keep_fields"] = {"instance_url"}; }, "field 'keep_fields'"},
      {"authorization parameters", [](auto& j) { j["authorization_params"] = {{"prompt", "consent"}}; }, "field 'authorization_params'"},
      {"no token URL", [](auto& j) { j.erase("token_url"); }, "field 'token_url' is required"},
      {"no client_auth", [](auto& j) { j.erase("client_auth"); }, "field 'client_auth' is required"},
      {"no request format", [](auto& j) { j.erase("token_request_format"); }, "field 'token_request_format' is required"},
      {"a credential key", [](auto& j) { j["credential"]["header"] = "X-Key"; }, "field 'credential.header'"},
      {"grant_type overridden", [](auto& j) { j["token_params"]["grant_type"] = "password"; }, "field 'token_params.grant_type'"},
      {"the secret overridden", [](auto& j) { j["token_params"]["client_secret"] = "x"; }, "field 'token_params.client_secret'"},
      {"the scope overridden", [](auto& j) { j["token_params"]["scope"] = "admin"; }, "field 'token_params.scope'"},
      {"an undeclared variable", [](auto& j) { j["token_params"]["resource"] = "{nowhere}"; }, "field 'token_params.resource'"},
      {"a non-string parameter", [](auto& j) { j["token_params"]["n"] = 1; }, "field 'token_params.n'"},
      {"a credential variable", [](auto& j) { j["variables"]["tenant"]["scope"] = "credential"; }, "field 'variables.tenant.scope'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto j = client_credentials_provider();
    c.change(j);
    auto d = parse_provider(j);
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.error().message.find(c.says), std::string::npos) << d.error().message;
  }
  // token_params belong to this kind only.
  auto google = Catalog::builtin().value()->get("google")->to_json();
  google["token_params"] = {{"audience", "x"}};
  auto d = parse_provider(google);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("field 'token_params' is for oauth2_client_credentials"), std::string::npos) << d.error().message;
}

}  // namespace
}  // namespace alter::server::oauth
