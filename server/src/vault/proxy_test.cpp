// The proxy's parts that need no server: the approval digest and what an approver is shown, the
// headers never passed on, the catalog's proxy settings, the app's token_handout default, and the
// proxy_required policy condition. (End to end: server/src/app/proxy_integration_test.cpp.)
#include <gtest/gtest.h>

#include "core/model.hpp"
#include "oauth/catalog.hpp"
#include "policy/engine.hpp"
#include "policy/test_support.hpp"
#include "vault/proxy.hpp"

namespace alter::server {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

TEST(ProxyDigest, AnyByteOfTheBodyOrAnyHeaderChangesItAndNothingElseDoes) {
  const Headers h = {{"Content-Type", "application/json"}, {"X-Custom", "v1"}};
  const std::string body = R"({"amount": 100})";
  const std::string d = vault::proxy_content_digest(h, body);
  EXPECT_EQ(d.size(), 64u);
  // The same request, its header names in another case or order: the same digest.
  EXPECT_EQ(vault::proxy_content_digest({{"x-custom", "v1"}, {"content-type", "application/json"}}, body), d);
  struct Case {
    const char* name;
    Headers headers;
    std::string body;
  };
  for (const Case& c : {Case{"another body byte", h, R"({"amount": 101})"},
                        Case{"a body byte more", h, body + " "},
                        Case{"no body", h, ""},
                        Case{"another header value", {{"Content-Type", "application/json"}, {"X-Custom", "v2"}}, body},
                        Case{"a header more", {{"Content-Type", "application/json"}, {"X-Custom", "v1"}, {"X-More", ""}}, body},
                        Case{"a header less", {{"Content-Type", "application/json"}}, body},
                        // Parts cannot run into each other: a header's value moved into its name.
                        Case{"value moved into the name", {{"Content-Type", "application/json"}, {"X-Customv1", ""}}, body},
                        Case{"header text moved into the body", {{"Content-Type", "application/json"}}, "x-custom:v1" + body}}) {
    SCOPED_TRACE(c.name);
    EXPECT_NE(vault::proxy_content_digest(c.headers, c.body), d);
  }
}

TEST(ProxyShown, CredentialLikeHeadersAreRedactedAndBinaryBodiesAreNamedNotShown) {
  const auto shown = vault::proxy_shown({{"X-Api-Token", "sk-live-secret"}, {"Cookie", "s=1"}, {"Accept", "text/plain"}},
                                        std::string("\x00\xff\x01", 3));
  EXPECT_EQ(shown["headers"]["x-api-token"], "(redacted)");
  EXPECT_EQ(shown["headers"]["cookie"], "(redacted)");
  EXPECT_EQ(shown["headers"]["accept"], "text/plain");
  EXPECT_EQ(shown.dump().find("sk-live-secret"), std::string::npos);
  EXPECT_EQ(shown["body_bytes"], 3);
  EXPECT_EQ(shown["body_preview"], "(binary, 3 bytes)");
  EXPECT_EQ(shown["body_sha256"].get<std::string>().size(), 64u);
  const auto text = vault::proxy_shown({}, std::string(5000, 'a'));
  EXPECT_EQ(text["body_preview"].get<std::string>().size(), 1024u);  // the start only
  EXPECT_EQ(text["body_bytes"], 5000);
}

TEST(ProxyShown, CutsFallOnCharacterBoundaries) {
  const std::string long_value = std::string(511, 'a') + "\xc3\xa9";  // "é" across byte 512
  const auto shown = vault::proxy_shown({{"X-Note", long_value}}, std::string(1023, 'b') + "\xc3\xa9" + "tail");
  const std::string header = shown["headers"]["x-note"];
  EXPECT_EQ(header, std::string(511, 'a'));
  const std::string preview = shown["body_preview"];
  EXPECT_EQ(preview, std::string(1023, 'b'));  // text, not "(binary ...)", cut before the character
  EXPECT_NO_THROW((void)shown.dump());
}

TEST(ProxyDigest, TracingIdsSetAnewOnEachSendAreNotBound) {
  const std::string d = vault::proxy_content_digest({{"Content-Type", "text/plain"}}, "b");
  EXPECT_EQ(vault::proxy_content_digest({{"Content-Type", "text/plain"}, {"X-Request-Id", "1"}, {"traceparent", "00-a-b-01"}}, "b"), d);
  EXPECT_NE(vault::proxy_content_digest({{"Content-Type", "text/plain"}, {"Idempotency-Key", "1"}}, "b"), d);
}

TEST(ProxyHeaders, HopByHopHeadersAreKnown) {
  for (const char* h : {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te",
                        "trailer", "transfer-encoding", "upgrade"}) {
    EXPECT_TRUE(vault::is_hop_by_hop(h)) << h;
  }
  for (const char* h : {"content-type", "accept", "x-custom", "authorization", "etag", "retry-after"}) {
    EXPECT_FALSE(vault::is_hop_by_hop(h)) << h;
  }
}

TEST(CatalogProxy, DefaultsAndBoundsAndUnknownKeysNameTheField) {
  auto base = oauth::Catalog::builtin().value()->get("github")->to_json();
  auto d = oauth::parse_provider(base);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->proxy.retries, 2);
  EXPECT_EQ(d->proxy.max_retry_after, std::chrono::seconds(10));
  base["proxy"] = {{"retries", 0}, {"max_retry_after_seconds", 60}};
  d = oauth::parse_provider(base);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->proxy.retries, 0);
  EXPECT_EQ(d->proxy.max_retry_after, std::chrono::seconds(60));
  EXPECT_EQ(oauth::parse_provider(d->to_json())->proxy.max_retry_after, std::chrono::seconds(60));  // round trip
  struct Case {
    const char* name;
    nlohmann::json proxy;
    const char* field;
  };
  for (const Case& c : {Case{"not an object", 3, "proxy"}, Case{"unknown key", {{"retry", 1}}, "proxy.retry"},
                        Case{"too many retries", {{"retries", 6}}, "proxy.retries"},
                        Case{"negative", {{"retries", -1}}, "proxy.retries"},
                        Case{"a string", {{"retries", "2"}}, "proxy.retries"},
                        Case{"too long a wait", {{"max_retry_after_seconds", 301}}, "proxy.max_retry_after_seconds"}}) {
    SCOPED_TRACE(c.name);
    auto broken = base;
    broken["proxy"] = c.proxy;
    auto r = oauth::parse_provider(broken);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find(c.field), std::string::npos) << r.error().message;
  }
}

TEST(TokenHandout, OnForStoredAppsOffForNewOnesAndABooleanOnly) {
  auto stored = AppSettings::from_json(nlohmann::json::object());  // settings saved before the proxy
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(stored->token_handout);
  EXPECT_FALSE(AppSettings::for_new_app().token_handout);
  auto round = AppSettings::from_json(AppSettings::for_new_app().to_json());
  ASSERT_TRUE(round.ok());
  EXPECT_FALSE(round->token_handout);
  EXPECT_FALSE(AppSettings::from_json({{"token_handout", "off"}}).ok());
  EXPECT_FALSE(AppSettings::from_json({{"token_handout", 0}}).ok());
}

TEST(ProxyRequired, ARuleWithItGrantsProxiedCallsOnlyAndADenyRuleCannotHaveIt) {
  auto compiled = policy::CompiledPolicy::compile(R"(
[[rules]]
id = "calendar-via-vault"
effect = "allow"
providers = ["google"]
methods = ["GET"]
[rules.conditions]
proxy_required = true
)",
                                                  "toml");
  ASSERT_TRUE(compiled.ok()) << compiled.error().message;
  auto limiter = policy::make_memory_rate_limiter();
  auto req = policy::testing::calendar_read();
  req.proxied = false;
  const auto handout = compiled.value()->evaluate(req, *limiter);
  EXPECT_EQ(handout.effect, policy::Effect::kDeny);
  EXPECT_EQ(handout.policy_error, "proxy_required");
  EXPECT_EQ(handout.rule_id, "calendar-via-vault");
  EXPECT_NE(handout.message.find("proxy"), std::string::npos);
  req.proxied = true;
  EXPECT_EQ(compiled.value()->evaluate(req, *limiter).effect, policy::Effect::kAllow);

  for (const char* bad : {"effect = \"deny\"\n[rules.conditions]\nproxy_required = true",
                          "effect = \"allow\"\n[rules.conditions]\nproxy_required = \"yes\""}) {
    SCOPED_TRACE(bad);
    auto r = policy::CompiledPolicy::compile(std::string("[[rules]]\nid = \"r\"\n") + bad + "\n", "toml");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("proxy_required"), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace alter::server
