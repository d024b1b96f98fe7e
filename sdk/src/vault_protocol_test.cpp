#include "vault_protocol.hpp"

#include <alter/errors.hpp>
#include <gtest/gtest.h>

namespace alter::internal {
namespace {

struct MappingCase {
  int status;
  std::string body;
  ErrorKind kind;
  std::string code;
};

class VaultErrorMapping : public ::testing::TestWithParam<MappingCase> {};

TEST_P(VaultErrorMapping, EveryStatusAndCodeMapsToItsKind) {
  const auto& c = GetParam();
  const SdkError e = map_vault_error(c.status, c.body);
  EXPECT_EQ(static_cast<int>(e.kind), static_cast<int>(c.kind)) << c.status << " " << c.body;
  EXPECT_EQ(e.code, c.code);
  EXPECT_EQ(e.status, c.status);
  EXPECT_FALSE(e.message.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Protocol, VaultErrorMapping,
    ::testing::Values(
        MappingCase{403, R"({"error":"no_matching_rule","message":"no rule allows this"})", ErrorKind::kPolicy, "no_matching_rule"},
        MappingCase{403, R"({"error":"denied_by_rule","message":"denied","details":{"rule_id":"r1"}})", ErrorKind::kPolicy, "denied_by_rule"},
        MappingCase{403, R"({"error":"url_not_allowed","message":"host not allowed"})", ErrorKind::kPolicy, "url_not_allowed"},
        MappingCase{403, R"({"error":"rate_limited","message":"too many"})", ErrorKind::kPolicy, "rate_limited"},
        MappingCase{403, R"({"error":"approval_required","message":"ask","approval_id":"ap_1","approval_url":"http://v/a/ap_1"})",
                    ErrorKind::kApprovalRequired, "approval_required"},
        MappingCase{403, "not json", ErrorKind::kPolicy, "policy_denied"},
        MappingCase{404, R"({"error":"connection_not_found","message":"no connection"})", ErrorKind::kConnectionNotFound, "connection_not_found"},
        MappingCase{404, "", ErrorKind::kConnectionNotFound, "connection_not_found"},
        MappingCase{400, R"({"error":"token_expired","message":"reauth","connection_id":"c-1"})", ErrorKind::kTokenExpired, "token_expired"},
        MappingCase{502, R"({"error":"token_expired","message":"refresh failed","connection_id":"c-1"})", ErrorKind::kTokenExpired, "token_expired"},
        MappingCase{400, R"({"error":"invalid_request","message":"bad"})", ErrorKind::kTokenRetrieval, "invalid_request"},
        MappingCase{401, R"({"error":"invalid_api_key","message":"bad key"})", ErrorKind::kTokenRetrieval, "invalid_api_key"},
        MappingCase{409, R"({"error":"ambiguous_connection","message":"2 match"})", ErrorKind::kTokenRetrieval, "ambiguous_connection"},
        MappingCase{503, R"({"error":"unavailable","message":"cannot audit"})", ErrorKind::kTokenRetrieval, "unavailable"},
        MappingCase{500, "<html>oops</html>", ErrorKind::kTokenRetrieval, ""},
        MappingCase{404, R"({"error":"not_found","message":"no route"})", ErrorKind::kTokenRetrieval, "not_found"}));

TEST(VaultErrorMapping, CarriesIdsAndDetails) {
  auto e = map_vault_error(403, R"({"error":"approval_required","message":"m","approval_id":"ap_9","approval_url":"http://v/ap_9","request_id":"r-1"})");
  EXPECT_EQ(e.approval_id, "ap_9");
  EXPECT_EQ(e.approval_url, "http://v/ap_9");
  EXPECT_EQ(e.details["request_id"], "r-1");
  auto x = map_vault_error(400, R"({"error":"token_expired","message":"m","details":{"connection_id":"c-7"}})");
  EXPECT_EQ(x.connection_id, "c-7");
  auto p = map_vault_error(403, R"({"error":"denied_by_rule","message":"no","details":{"rule_id":"block-writes"}})");
  EXPECT_EQ(p.details["rule_id"], "block-writes");
}

TEST(ParseToken, ExtractsGrantAndWipesTheBody) {
  std::string body = R"({"access_token":"ya29.secret-token-value-0123456789","token_type":"bearer","expires_in":3599,
    "expires_at":"2026-11-26T20:00:00Z","scopes":["a","b"],"connection_id":"c-1","request_id":"r-1"})";
  auto g = parse_token_response(200, body);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->access_token.reveal(), "ya29.secret-token-value-0123456789");
  EXPECT_EQ(g->token_type, "Bearer");
  EXPECT_EQ(g->connection_id, "c-1");
  EXPECT_EQ(g->request_id, "r-1");
  EXPECT_EQ(g->scopes, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(body.empty());
  EXPECT_EQ(std::string(body.data(), body.capacity()).find("secret-token"), std::string::npos);
}

TEST(ParseToken, KeepsOtherTokenTypes) {
  std::string body = R"({"access_token":"t","token_type":"MAC","connection_id":"c","request_id":"r"})";
  auto g = parse_token_response(200, body);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->token_type, "MAC");
}

TEST(ParseToken, RefusesMalformedAnswersWithoutEchoingThem) {
  for (std::string body : {std::string("not json"), std::string("[]"), std::string(R"({"token_type":"Bearer"})"),
                           std::string(R"({"access_token":""})"), std::string(R"({"access_token":42})"),
                           std::string(R"({"access_token":"abc\r\nX-Evil: 1"})"),
                           std::string(R"({"access_token":"secret-abc","token_type":"Bearer x"})")}) {
    auto g = parse_token_response(200, body);
    ASSERT_FALSE(g.ok());
    EXPECT_EQ(static_cast<int>(g.error().kind), static_cast<int>(ErrorKind::kTokenRetrieval));
    EXPECT_EQ(g.error().message.find("secret-abc"), std::string::npos);
    EXPECT_EQ(g.error().message.find("X-Evil"), std::string::npos);
  }
}

TEST(ParseToken, DeepOrHugeAnswersAreRefusedWhileParsing) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  for (std::string body : {R"({"access_token":"secret-abc","x":)" + deep + "}",
                           R"({"access_token":"secret-abc","x":)" + std::string(20, '[') + std::string(20, ']') + "}",
                           R"({"access_token":"secret-abc","x":")" + std::string(300 * 1024, 'a') + "\"}"}) {
    auto g = parse_token_response(200, body);
    ASSERT_FALSE(g.ok());
    EXPECT_EQ(static_cast<int>(g.error().kind), static_cast<int>(ErrorKind::kTokenRetrieval));
  }
  // An error answer nested deep maps to a plain error, without crashing.
  auto e = map_vault_error(403, R"({"error":"denied_by_rule","details":)" + deep + "}");
  EXPECT_EQ(e.status, 403);
  // The vault's normalized URL is taken from the answer.
  std::string body = R"({"access_token":"t","connection_id":"c","request_id":"r","url":"https://api.example.com/x"})";
  auto g = parse_token_response(200, body);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->url, "https://api.example.com/x");
}

TEST(ParseToken, ErrorStatusGoesThroughTheMapping) {
  std::string body = R"({"error":"connection_not_found","message":"none"})";
  auto g = parse_token_response(404, body);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(static_cast<int>(g.error().kind), static_cast<int>(ErrorKind::kConnectionNotFound));
}

TEST(TransportErrors, MapToNetworkAndTimeout) {
  EXPECT_EQ(static_cast<int>(map_transport_error({TransportErrorKind::kTimeout, "t"}, "x").kind),
            static_cast<int>(ErrorKind::kTimeout));
  EXPECT_EQ(static_cast<int>(map_transport_error({TransportErrorKind::kConnect, "c"}, "x").kind),
            static_cast<int>(ErrorKind::kNetwork));
  EXPECT_EQ(static_cast<int>(map_transport_error({TransportErrorKind::kTooLarge, "c"}, "x").kind),
            static_cast<int>(ErrorKind::kNetwork));
}

TEST(Raise, ThrowsThePublicTypesWithTheirAccessors) {
  SdkError e;
  e.kind = ErrorKind::kPolicy;
  e.code = "denied_by_rule";
  e.message = "denied";
  e.status = 403;
  try {
    raise(e);
    FAIL();
  } catch (const PolicyViolationError& x) {
    EXPECT_EQ(x.policy_error(), "denied_by_rule");
    EXPECT_EQ(x.message(), "denied");
    EXPECT_STREQ(x.what(), "denied");
    EXPECT_EQ(x.status(), 403);
    EXPECT_EQ(x.error_code(), "denied_by_rule");
  }
  e.kind = ErrorKind::kTokenExpired;
  e.connection_id = "c-1";
  EXPECT_THROW(raise(e), TokenExpiredError);
  try { raise(e); } catch (const TokenExpiredError& x) { EXPECT_EQ(x.connection_id(), "c-1"); }
  e.kind = ErrorKind::kApprovalRequired;
  e.approval_id = "ap";
  e.approval_url = "u";
  try { raise(e); } catch (const ApprovalRequiredError& x) {
    EXPECT_EQ(x.approval_id(), "ap");
    EXPECT_EQ(x.approval_url(), "u");
  }
  e.kind = ErrorKind::kProviderApi;
  e.status = 418;
  e.response_body = "teapot";
  try { raise(e); } catch (const ProviderAPIError& x) {
    EXPECT_EQ(x.status_code(), 418);
    EXPECT_EQ(x.response_body(), "teapot");
  }
  e.kind = ErrorKind::kTimeout;
  EXPECT_THROW(raise(e), NetworkError);  // TimeoutError is a NetworkError
  e.kind = ErrorKind::kConnectionNotFound;
  EXPECT_THROW(raise(e), TokenRetrievalError);
  e.kind = ErrorKind::kValidation;
  EXPECT_THROW(raise(e), AlterSDKError);
}

TEST(Headers, VaultCallsCarryKeyAgentAndActor) {
  VaultOptions o;
  o.api_key = "alter_key_abc";
  o.actor_type = "ai_agent";
  o.actor_identifier = "email-assistant-v2";
  o.actor_name = "Email Assistant";
  o.actor_version = "2.0.0";
  o.framework = "langgraph";
  o.client_type = "cursor";
  std::map<std::string, std::string> h;
  for (auto& [k, v] : vault_headers(o)) h[k] = v;
  EXPECT_EQ(h["x-api-key"], "alter_key_abc");
  EXPECT_EQ(h["User-Agent"].rfind("alter-sdk-cpp/", 0), 0u);
  EXPECT_EQ(h["x-alter-actor-type"], "ai_agent");
  EXPECT_EQ(h["x-alter-actor-id"], "email-assistant-v2");
  EXPECT_EQ(h["x-alter-actor-name"], "Email Assistant");
  EXPECT_EQ(h["x-alter-actor-version"], "2.0.0");
  EXPECT_EQ(h["x-alter-framework"], "langgraph");
  EXPECT_EQ(h["x-alter-client-type"], "cursor");
}

TEST(Body, TokenRequestHasEveryField) {
  TokenRequest r{"google", {{"user_id", "alice"}}, "why", "GET", "https://x/y", "run", "thr", "call"};
  auto j = nlohmann::json::parse(token_request_body(r));
  EXPECT_EQ(j["provider_id"], "google");
  EXPECT_EQ(j["attributes"]["user_id"], "alice");
  EXPECT_EQ(j["reason"], "why");
  EXPECT_EQ(j["method"], "GET");
  EXPECT_EQ(j["url"], "https://x/y");
  EXPECT_EQ(j["run_id"], "run");
  EXPECT_EQ(j["thread_id"], "thr");
  EXPECT_EQ(j["tool_call_id"], "call");
  TokenRequest minimal{"github", {}, "", "", "", "", "", ""};
  auto m = nlohmann::json::parse(token_request_body(minimal));
  EXPECT_EQ(m.size(), 2u);  // only provider_id and attributes
}

}  // namespace
}  // namespace alter::internal
