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
                         "quickbooks"}) {
    EXPECT_TRUE(have.count(id)) << id;
  }
  EXPECT_GE(ids.size(), 27u);
  for (const auto& p : (*c)->all()) {
    EXPECT_FALSE(p->api_hosts.empty()) << p->id;
    EXPECT_EQ(p->token_url.rfind("https://", 0), 0u) << p->id;
    EXPECT_EQ(p->authorization_url.rfind("https://", 0), 0u) << p->id;
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
