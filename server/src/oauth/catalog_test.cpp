#include "oauth/catalog.hpp"

#include <gtest/gtest.h>

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
      EXPECT_EQ(p->authorization_url.rfind("https://", 0), 0u) << p->id;
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

}  // namespace
}  // namespace alter::server::oauth
