// The Vault's proxy mode over fake transports: the wire format of <method> /v1/proxy, when request()
// uses it, approvals, audit, and the mapping of the proxy's answers to exceptions.
#include <alter/alter.hpp>
#include <gtest/gtest.h>

#include <alter/common/strings.hpp>

#include "fake_transport.hpp"
#include "vault_impl.hpp"

namespace alter::internal {
namespace {

using namespace std::chrono_literals;

constexpr const char* kToken = "ya29.TOKEN-0123456789-abcdefghijklmnopqrstuvwxyz";
constexpr const char* kKey = "alter_key_test_0123456789";
constexpr const char* kProxyUrl = "http://127.0.0.1:8787/v1/proxy";

std::string grant_body() {
  return nlohmann::json{{"access_token", kToken}, {"token_type", "Bearer"}, {"expires_in", 3600},
                        {"connection_id", "conn-1"}, {"request_id", "req-1"}}
      .dump();
}

Headers provider_headers(std::string_view request_id = "req-p1") {
  Headers h;
  h.emplace("Content-Type", "application/json");
  h.emplace("X-RateLimit-Remaining", "42");
  h.emplace("x-alter-source", "provider");
  h.emplace("x-alter-request-id", std::string(request_id));
  return h;
}

Headers vault_source() {
  Headers h;
  h.emplace("Content-Type", "application/json");
  h.emplace("x-alter-source", "vault");
  return h;
}

TransportResult vault_error(int status, const nlohmann::json& body) { return FakeTransport::reply(status, body.dump(), vault_source()); }

bool is_proxy(const HttpRequest& r) { return r.url == kProxyUrl; }
bool is_token(const HttpRequest& r) { return r.url.find("/oauth/token") != std::string::npos; }

struct ProxyFixture : ::testing::Test {
  std::shared_ptr<FakeTransport> vault_tx = std::make_shared<FakeTransport>();
  std::shared_ptr<FakeTransport> provider_tx = std::make_shared<FakeTransport>();
  common::FakeClock clock;
  std::vector<std::chrono::milliseconds> sleeps;
  // What the vault answers: to POST /oauth/token and to /v1/proxy.
  std::function<TransportResult(const HttpRequest&)> token_answer = [](const HttpRequest&) {
    return FakeTransport::reply(200, grant_body());
  };
  std::function<TransportResult(const HttpRequest&)> proxy_answer = [](const HttpRequest&) {
    return FakeTransport::reply(200, R"({"items":[1,2]})", provider_headers());
  };
  std::vector<std::string> approval_statuses;  // answered in turn to GET /oauth/approvals/ap_1

  void SetUp() override {
    vault_tx->set_script([this](const HttpRequest& r) {
      if (is_token(r)) return token_answer(r);
      if (is_proxy(r)) return proxy_answer(r);
      if (r.url.find("/oauth/approvals/ap_1") != std::string::npos) {
        const std::string s = approval_statuses.empty() ? "pending" : approval_statuses.front();
        if (!approval_statuses.empty()) approval_statuses.erase(approval_statuses.begin());
        return FakeTransport::reply(200, nlohmann::json{{"id", "ap_1"}, {"status", s}}.dump());
      }
      return FakeTransport::reply(202, R"({"accepted":1})");
    });
    provider_tx->set_script([](const HttpRequest&) { return FakeTransport::reply(200, R"({"direct":true})"); });
  }

  VaultOptions options() {
    VaultOptions o;
    o.api_key = kKey;
    o.base_url = "http://127.0.0.1:8787";
    o.actor_type = "ai_agent";
    o.actor_identifier = "email-assistant-v2";
    o.actor_name = "Email Assistant";
    o.actor_version = "2.0.0";
    o.framework = "langgraph";
    o.client_type = "cursor";
    return o;
  }

  Vault make(VaultOptions o) {
    VaultDeps deps;
    deps.vault_transport = vault_tx;
    deps.provider_transport = provider_tx;
    deps.clock = &clock;
    deps.threaded_audit = false;
    deps.sleep = [this](std::chrono::milliseconds d) {
      sleeps.push_back(d);
      clock.advance(d);
    };
    return VaultAccess::make(std::move(o), deps);
  }
  Vault make() { return make(options()); }

  std::vector<HttpRequest> proxy_calls() {
    std::vector<HttpRequest> out;
    for (auto& r : vault_tx->sent()) {
      if (is_proxy(r)) out.push_back(r);
    }
    return out;
  }
  std::size_t token_calls() {
    std::size_t n = 0;
    for (auto& r : vault_tx->sent()) n += is_token(r) ? 1 : 0;
    return n;
  }
};

const std::string kBinary = std::string("\x00\xff\x01 raw\r\n\xfe", 10);

TEST_F(ProxyFixture, ProxyRequestSendsMethodPathHeadersAndTheRawBody) {
  auto vault = make();
  auto r = vault.proxy_request("notion", HttpMethod::Patch, "https://api.notion.com/v1/pages/{page_id}",
                               {.user = {{"user_id", "alice"}},
                                .path_params = {{"page_id", "a/b"}},
                                .query_params = {{"q", "x y"}},
                                .extra_headers = {{"Notion-Version", "2022-06-28"}},
                                .reason = "Réunion d'équipe",
                                .run_id = "run-1",
                                .thread_id = "thread-xyz",
                                .tool_call_id = "call_abc_123",
                                .body = kBinary,
                                .content_type = "application/x-thing",
                                .timeout = 1500ms});
  ASSERT_EQ(vault_tx->count(), 1u);  // no token request, nothing else
  EXPECT_EQ(provider_tx->count(), 0u);
  const auto p = proxy_calls().at(0);
  EXPECT_EQ(p.method, "PATCH");
  EXPECT_EQ(p.url, kProxyUrl);
  EXPECT_EQ(header_of(p, "x-api-key"), kKey);
  EXPECT_EQ(header_of(p, "x-alter-provider"), "notion");
  EXPECT_EQ(header_of(p, "x-alter-url"), "https://api.notion.com/v1/pages/a%2Fb?q=x%20y");
  EXPECT_EQ(header_of(p, "x-alter-user"), R"({"user_id":"alice"})");
  EXPECT_EQ(header_of(p, "x-alter-reason"), "Réunion d'équipe");  // as UTF-8, not percent-encoded
  EXPECT_EQ(header_of(p, "x-alter-run-id"), "run-1");
  EXPECT_EQ(header_of(p, "x-alter-thread-id"), "thread-xyz");
  EXPECT_EQ(header_of(p, "x-alter-tool-call-id"), "call_abc_123");
  EXPECT_EQ(header_of(p, "x-alter-timeout-ms"), "1500");
  EXPECT_FALSE(has_header(p, "x-alter-approval-id"));
  EXPECT_EQ(header_of(p, "x-alter-actor-type"), "ai_agent");
  EXPECT_EQ(header_of(p, "x-alter-actor-id"), "email-assistant-v2");
  EXPECT_EQ(header_of(p, "x-alter-actor-name"), "Email Assistant");
  EXPECT_EQ(header_of(p, "x-alter-actor-version"), "2.0.0");
  EXPECT_EQ(header_of(p, "x-alter-framework"), "langgraph");
  EXPECT_EQ(header_of(p, "x-alter-client-type"), "cursor");
  EXPECT_EQ(header_of(p, "User-Agent").rfind("alter-sdk-cpp/", 0), 0u);
  EXPECT_EQ(header_of(p, "Notion-Version"), "2022-06-28");
  EXPECT_EQ(header_of(p, "Content-Type"), "application/x-thing");
  EXPECT_FALSE(has_header(p, "Authorization"));
  EXPECT_FALSE(has_header(p, "Accept"));  // not ours to add: it would reach the provider
  EXPECT_TRUE(p.has_body);
  ASSERT_EQ(p.body.size(), kBinary.size());
  EXPECT_EQ(p.body, kBinary);
  EXPECT_EQ(p.timeout, 1500ms + 5s);  // the vault's provider_timeout answer comes first

  EXPECT_EQ(r.status_code(), 200);
  EXPECT_EQ(r.text(), R"({"items":[1,2]})");
  EXPECT_EQ(r.request_id(), "req-p1");
  EXPECT_EQ(r.url(), "https://api.notion.com/v1/pages/a%2Fb?q=x%20y");
  EXPECT_EQ(r.header("X-RateLimit-Remaining").value_or(""), "42");
  EXPECT_FALSE(r.header("x-alter-source").has_value());
}

TEST_F(ProxyFixture, JsonBodyHeadAndTheDefaultTimeout) {
  auto o = options();
  o.timeout = 7s;
  auto vault = make(o);
  vault.proxy_request("github", HttpMethod::Post, "https://api.github.com/x", {.json = nlohmann::json{{"a", 1}}});
  vault.proxy_request("github", HttpMethod::Head, "https://api.github.com/x");
  const auto calls = proxy_calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].body, R"({"a":1})");
  EXPECT_EQ(header_of(calls[0], "Content-Type"), "application/json");
  EXPECT_EQ(header_of(calls[0], "x-alter-timeout-ms"), "7000");
  EXPECT_EQ(header_of(calls[0], "x-alter-user"), "{}");
  EXPECT_FALSE(has_header(calls[0], "x-alter-reason"));
  EXPECT_EQ(calls[0].timeout, 12s);
  EXPECT_EQ(calls[1].method, "HEAD");
  EXPECT_FALSE(calls[1].has_body);
  EXPECT_FALSE(has_header(calls[1], "Content-Type"));
}

TEST_F(ProxyFixture, TheCallersUserAgentReplacesTheSdks) {
  auto vault = make();
  vault.proxy_request("github", HttpMethod::Get, "https://api.github.com/x", {.extra_headers = {{"User-Agent", "my-app/1"}}});
  const auto p = proxy_calls().at(0);
  int count = 0;
  for (const auto& [n, v] : p.headers) count += common::iequals(n, "user-agent") ? 1 : 0;
  EXPECT_EQ(count, 1);
  EXPECT_EQ(header_of(p, "User-Agent"), "my-app/1");
}

TEST_F(ProxyFixture, HeaderFieldsWithControlCharactersAreRefusedBeforeSending) {
  auto vault = make();
  const std::vector<RequestOptions> bad = {
      {.reason = "line\nbreak"}, {.reason = "a\rb"}, {.reason = "tab\there"}, {.reason = std::string("nul\0x", 5)},
      {.reason = "del\x7f"},     {.run_id = "r\n1"}, {.thread_id = "t\x01"},  {.tool_call_id = "c\r\n"},
      {.extra_headers = {{"x-alter-url", "https://evil.example"}}},           {.extra_headers = {{"X-Api-Key", "k"}}},
      {.extra_headers = {{"Authorization", "Bearer s3cret"}}}};
  for (const auto& ro : bad) {
    try {
      vault.proxy_request("github", HttpMethod::Get, "https://api.github.com/x", ro);
      ADD_FAILURE() << "no exception for reason '" << ro.reason << "'";
    } catch (const TokenRetrievalError&) {
      ADD_FAILURE() << "wrong type";
    } catch (const AlterSDKError& e) {
      EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos);
    }
  }
  EXPECT_EQ(vault_tx->count(), 0u);
  EXPECT_EQ(provider_tx->count(), 0u);
}

TEST_F(ProxyFixture, AlwaysProxyRoutesRequestThroughTheProxy) {
  auto o = options();
  o.always_proxy = true;
  auto vault = make(o);
  auto r = vault.request(Provider::Google, HttpMethod::Get, "https://www.googleapis.com/calendar/v3/calendars/{id}/events",
                         {.user = {{"user_id", "alice"}}, .path_params = {{"id", "primary"}}});
  EXPECT_EQ(r.text(), R"({"items":[1,2]})");
  EXPECT_EQ(vault.request_async("github", HttpMethod::Delete, "https://api.github.com/x").get().status_code(), 200);
  EXPECT_EQ(token_calls(), 0u);
  EXPECT_EQ(provider_tx->count(), 0u);
  const auto calls = proxy_calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(header_of(calls[0], "x-alter-url"), "https://www.googleapis.com/calendar/v3/calendars/primary/events");
  EXPECT_EQ(calls[1].method, "DELETE");
}

TEST_F(ProxyFixture, WithoutAlwaysProxyRequestCallsTheProviderDirectly) {
  auto vault = make();
  auto r = vault.request("github", HttpMethod::Get, "https://api.github.com/x");
  EXPECT_EQ(r.text(), R"({"direct":true})");
  EXPECT_EQ(token_calls(), 1u);
  EXPECT_EQ(provider_tx->count(), 1u);
  EXPECT_TRUE(proxy_calls().empty());
}

TEST_F(ProxyFixture, TokenHandoutDisabledFallsBackOnceThenGoesStraightToTheProxy) {
  token_answer = [](const HttpRequest&) {
    return vault_error(403, {{"error", "token_handout_disabled"}, {"message", "this app gets no tokens"}, {"details", nlohmann::json::object()}});
  };
  auto vault = make();
  auto first = vault.request("slack", HttpMethod::Post, "https://slack.com/api/chat.postMessage",
                             {.user = {{"user_id", "alice"}}, .json = nlohmann::json{{"text", "hi"}}, .reason = "notify"});
  EXPECT_EQ(first.status_code(), 200);
  EXPECT_TRUE(VaultAccess::impl(vault).token_handout_disabled());
  auto second = vault.request("slack", HttpMethod::Get, "https://slack.com/api/x");
  EXPECT_EQ(second.text(), R"({"items":[1,2]})");
  vault.request_async("slack", HttpMethod::Get, "https://slack.com/api/y").get();
  EXPECT_EQ(token_calls(), 1u);  // asked once; later calls skip the question
  EXPECT_EQ(provider_tx->count(), 0u);
  const auto calls = proxy_calls();
  ASSERT_EQ(calls.size(), 3u);
  // The fallback sent the very request that was asked for.
  EXPECT_EQ(calls[0].method, "POST");
  EXPECT_EQ(header_of(calls[0], "x-alter-url"), "https://slack.com/api/chat.postMessage");
  EXPECT_EQ(header_of(calls[0], "x-alter-reason"), "notify");
  EXPECT_EQ(header_of(calls[0], "x-alter-user"), R"({"user_id":"alice"})");
  EXPECT_EQ(calls[0].body, R"({"text":"hi"})");
  EXPECT_EQ(header_of(calls[1], "x-alter-url"), "https://slack.com/api/x");
}

TEST_F(ProxyFixture, ProxyRequiredFallsBackForThatRequestOnly) {
  token_answer = [](const HttpRequest& r) {
    if (nlohmann::json::parse(r.body).value("url", "").find("/admin") != std::string::npos) {
      return vault_error(403, {{"error", "proxy_required"}, {"message", "rule admin-via-proxy requires the proxy"}});
    }
    return FakeTransport::reply(200, grant_body());
  };
  auto vault = make();
  auto proxied = vault.request("github", HttpMethod::Get, "https://api.github.com/admin");
  EXPECT_EQ(proxied.text(), R"({"items":[1,2]})");
  EXPECT_FALSE(VaultAccess::impl(vault).token_handout_disabled());
  auto direct = vault.request("github", HttpMethod::Get, "https://api.github.com/user");
  EXPECT_EQ(direct.text(), R"({"direct":true})");
  EXPECT_EQ(token_calls(), 2u);
  EXPECT_EQ(proxy_calls().size(), 1u);
  ASSERT_EQ(provider_tx->count(), 1u);
  EXPECT_EQ(provider_tx->sent()[0].url, "https://api.github.com/user");
}

// A provider whose credential never leaves the vault (an API key): asked once, then every call to
// that provider, and only that provider, goes straight to the proxy.
TEST_F(ProxyFixture, AProxyOnlyCredentialIsRememberedForItsProvider) {
  token_answer = [](const HttpRequest& r) {
    if (nlohmann::json::parse(r.body).value("provider_id", "") == "openai") {
      return vault_error(403, {{"error", "proxy_required"}, {"message", "OpenAI's credential never leaves the vault"},
                               {"details", {{"credential", "api_key"}}}});
    }
    return FakeTransport::reply(200, grant_body());
  };
  auto vault = make();
  for (const char* path : {"/v1/models", "/v1/files"}) {
    EXPECT_EQ(vault.request("openai", HttpMethod::Get, std::string("https://api.openai.com") + path).text(), R"({"items":[1,2]})");
  }
  vault.request_async("openai", HttpMethod::Get, "https://api.openai.com/v1/x").get();
  EXPECT_EQ(token_calls(), 1u) << "asked once for the provider";
  EXPECT_EQ(proxy_calls().size(), 3u);
  EXPECT_FALSE(VaultAccess::impl(vault).token_handout_disabled()) << "the app still gets tokens for other providers";
  auto direct = vault.request("github", HttpMethod::Get, "https://api.github.com/user");
  EXPECT_EQ(direct.text(), R"({"direct":true})");
  EXPECT_EQ(token_calls(), 2u);
  EXPECT_EQ(provider_tx->count(), 1u);
}

TEST_F(ProxyFixture, OtherTokenRefusalsDoNotFallBack) {
  token_answer = [](const HttpRequest&) { return vault_error(403, {{"error", "denied_by_rule"}, {"message", "no"}}); };
  auto vault = make();
  EXPECT_THROW(vault.request("github", HttpMethod::Get, "https://api.github.com/x"), PolicyViolationError);
  EXPECT_TRUE(proxy_calls().empty());
}

TEST_F(ProxyFixture, ProviderErrorThroughTheProxyIsProviderAPIError) {
  proxy_answer = [](const HttpRequest&) { return FakeTransport::reply(404, R"({"message":"Not Found"})", provider_headers("req-404")); };
  auto vault = make();
  try {
    vault.proxy_request("github", HttpMethod::Get, "https://api.github.com/repos/o/missing");
    FAIL() << "no exception";
  } catch (const ProviderAPIError& e) {
    EXPECT_EQ(e.status_code(), 404);
    EXPECT_EQ(e.response_body(), R"({"message":"Not Found"})");
    EXPECT_EQ(e.details()["request_id"], "req-404");
    EXPECT_EQ(e.details()["url"], "https://api.github.com/repos/o/missing");
  }
  // The source decides, not the body's look: a provider's body shaped like a vault error is still the provider's.
  proxy_answer = [](const HttpRequest&) {
    return FakeTransport::reply(403, R"({"error":"denied_by_rule","message":"GitHub says no"})", provider_headers());
  };
  try {
    vault.proxy_request("github", HttpMethod::Get, "https://api.github.com/x");
    FAIL() << "no exception";
  } catch (const ProviderAPIError& e) {
    EXPECT_EQ(e.status_code(), 403);
  }
}

template <class E>
E expect_proxy_throw(Vault& v) {
  try {
    v.proxy_request("google", HttpMethod::Get, "https://www.googleapis.com/x", {.user = {{"user_id", "alice"}}});
  } catch (const E& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception: " << typeid(e).name() << " " << e.what();
    throw;
  }
  ADD_FAILURE() << "no exception";
  throw std::logic_error("unreachable");
}

TEST_F(ProxyFixture, VaultAnswersThroughTheProxyMapToExceptions) {
  auto vault = make();
  auto answer = [&](int status, nlohmann::json body, bool with_source = true) {
    proxy_answer = [status, body, with_source](const HttpRequest&) {
      return with_source ? vault_error(status, body) : FakeTransport::reply(status, body.dump());
    };
  };
  answer(403, {{"error", "denied_by_rule"}, {"message", "Policy denied"}, {"details", {{"rule_id", "no-writes"}}}, {"request_id", "req-d"}});
  auto p = expect_proxy_throw<PolicyViolationError>(vault);
  EXPECT_EQ(p.policy_error(), "denied_by_rule");
  EXPECT_EQ(p.message(), "Policy denied");
  EXPECT_EQ(p.details()["rule_id"], "no-writes");
  EXPECT_EQ(p.details()["request_id"], "req-d");

  answer(403, {{"error", "url_not_allowed"}, {"message", "host"}}, /*with_source=*/false);  // no source: the vault's
  EXPECT_EQ(expect_proxy_throw<PolicyViolationError>(vault).policy_error(), "url_not_allowed");

  answer(403, {{"error", "approval_required"}, {"message", "ask"}, {"approval_id", "ap_1"}, {"approval_url", "http://v/approvals/ap_1"}});
  EXPECT_EQ(expect_proxy_throw<ApprovalRequiredError>(vault).approval_url(), "http://v/approvals/ap_1");
  answer(404, {{"error", "connection_not_found"}, {"message", "connect first"}});
  expect_proxy_throw<ConnectionNotFoundError>(vault);
  answer(400, {{"error", "token_expired"}, {"message", "reauth"}, {"connection_id", "conn-9"}});
  EXPECT_EQ(expect_proxy_throw<TokenExpiredError>(vault).connection_id(), "conn-9");
  answer(401, {{"error", "invalid_api_key"}, {"message", "bad key"}});
  EXPECT_EQ(expect_proxy_throw<TokenRetrievalError>(vault).error_code(), "invalid_api_key");

  answer(504, {{"error", "provider_timeout"}, {"message", "the provider did not answer in 30 s"}});
  auto t = expect_proxy_throw<TimeoutError>(vault);
  EXPECT_EQ(t.details()["status"], 504);
  EXPECT_EQ(t.details()["error"], "provider_timeout");

  for (const char* code : {"provider_unreachable", "provider_response_too_large"}) {
    SCOPED_TRACE(code);
    answer(502, {{"error", code}, {"message", "x"}});
    try {
      vault.proxy_request("google", HttpMethod::Get, "https://www.googleapis.com/x");
      ADD_FAILURE() << "no exception";
    } catch (const TimeoutError&) {
      ADD_FAILURE() << "a network error, not a timeout";
    } catch (const NetworkError& e) {
      EXPECT_EQ(e.details()["error"], code);
    }
  }

  answer(413, {{"error", "request_too_large"}, {"message", "body over the limit"}});
  try {
    vault.proxy_request("google", HttpMethod::Post, "https://www.googleapis.com/x", {.body = "x"});
    ADD_FAILURE() << "no exception";
  } catch (const TokenRetrievalError&) {
    ADD_FAILURE() << "the caller's mistake, not a refusal";
  } catch (const NetworkError&) {
    ADD_FAILURE() << "the caller's mistake, not a network failure";
  } catch (const ProviderAPIError&) {
    ADD_FAILURE() << "the vault's answer, not the provider's";
  } catch (const AlterSDKError& e) {
    EXPECT_EQ(e.details()["status"], 413);
  }

  for (const char* code : {"audit_unavailable", "unavailable"}) {
    answer(503, {{"error", code}, {"message", "cannot audit"}});
    auto u = expect_proxy_throw<TokenRetrievalError>(vault);
    EXPECT_EQ(u.status(), 503);
    EXPECT_EQ(u.error_code(), code);
  }
  EXPECT_EQ(provider_tx->count(), 0u);
}

TEST_F(ProxyFixture, TransportFailuresReachingTheVaultAreNetworkAndTimeout) {
  auto vault = make();
  proxy_answer = [](const HttpRequest&) { return FakeTransport::fail(TransportErrorKind::kConnect, "refused"); };
  try {
    vault.proxy_request("github", HttpMethod::Get, "https://api.github.com/x");
    FAIL();
  } catch (const TimeoutError&) {
    FAIL() << "not a timeout";
  } catch (const NetworkError&) {
  }
  proxy_answer = [](const HttpRequest&) { return FakeTransport::fail(TransportErrorKind::kTimeout); };
  EXPECT_THROW(vault.proxy_request("github", HttpMethod::Get, "https://api.github.com/x"), TimeoutError);
}

TEST_F(ProxyFixture, ALargerAnswerThanMaxResponseBytesIsANetworkError) {
  auto o = options();
  o.max_response_bytes = 100;
  auto vault = make(o);
  proxy_answer = [](const HttpRequest&) { return FakeTransport::reply(200, std::string(101, 'x'), provider_headers()); };
  EXPECT_THROW(vault.proxy_request("github", HttpMethod::Get, "https://api.github.com/x"), NetworkError);
  proxy_answer = [](const HttpRequest&) { return FakeTransport::reply(200, std::string(100, 'x'), provider_headers()); };
  EXPECT_EQ(vault.proxy_request("github", HttpMethod::Get, "https://api.github.com/x").text().size(), 100u);
}

TEST_F(ProxyFixture, NoAuditEventIsQueuedForAProxiedCall) {
  auto vault = make();
  vault.proxy_request("github", HttpMethod::Post, "https://api.github.com/x", {.body = "payload"});
  proxy_answer = [](const HttpRequest&) { return FakeTransport::reply(500, "oops", provider_headers()); };
  EXPECT_THROW(vault.proxy_request("github", HttpMethod::Get, "https://api.github.com/x"), ProviderAPIError);
  EXPECT_TRUE(vault.flush(1s));
  EXPECT_EQ(vault.audit_stats().enqueued, 0u);
  for (const auto& r : vault_tx->sent()) EXPECT_EQ(r.url.find("/oauth/audit"), std::string::npos) << r.url;
  // A direct call, for contrast, queues its event.
  vault.request("github", HttpMethod::Get, "https://api.github.com/x");
  EXPECT_EQ(vault.audit_stats().enqueued, 1u);
}

TEST_F(ProxyFixture, ApprovalWaitResendsTheIdenticalRequestWithTheApprovalId) {
  proxy_answer = [](const HttpRequest& r) {
    if (header_of(r, "x-alter-approval-id") == "ap_1") return FakeTransport::reply(201, R"({"id":"new"})", provider_headers("req-approved"));
    return vault_error(403, {{"error", "approval_required"}, {"message", "ask"}, {"approval_id", "ap_1"}, {"approval_url", "http://v/approvals/ap_1"}});
  };
  approval_statuses = {"pending", "approved"};
  auto vault = make();
  auto r = vault.proxy_request("github", HttpMethod::Post, "https://api.github.com/repos/{o}/issues",
                               {.user = {{"user_id", "alice"}},
                                .path_params = {{"o", "acme"}},
                                .extra_headers = {{"X-GitHub-Api-Version", "2022-11-28"}},
                                .reason = "file a bug",
                                .body = kBinary,
                                .wait_for_approval = 60s});
  EXPECT_EQ(r.status_code(), 201);
  EXPECT_EQ(r.request_id(), "req-approved");
  EXPECT_EQ(sleeps.size(), 2u);
  const auto calls = proxy_calls();
  ASSERT_EQ(calls.size(), 2u);
  const auto& first = calls[0];
  const auto& again = calls[1];
  EXPECT_FALSE(has_header(first, "x-alter-approval-id"));
  EXPECT_EQ(header_of(again, "x-alter-approval-id"), "ap_1");
  EXPECT_EQ(again.method, first.method);
  EXPECT_EQ(again.url, first.url);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(again.body, kBinary);
  EXPECT_EQ(again.has_body, first.has_body);
  auto without_approval = again.headers;
  std::erase_if(without_approval, [](const auto& h) { return common::iequals(h.first, "x-alter-approval-id"); });
  EXPECT_EQ(without_approval, first.headers);  // every other header, in the same order, with the same value
  EXPECT_EQ(token_calls(), 0u);
  EXPECT_EQ(vault.audit_stats().enqueued, 0u);
}

TEST_F(ProxyFixture, ApprovalThroughTheProxyWithoutWaitingOrDenied) {
  proxy_answer = [](const HttpRequest&) {
    return vault_error(403, {{"error", "approval_required"}, {"message", "ask"}, {"approval_id", "ap_1"}, {"approval_url", "http://v/approvals/ap_1"}});
  };
  auto vault = make();
  try {
    vault.proxy_request("github", HttpMethod::Post, "https://api.github.com/x");
    FAIL();
  } catch (const ApprovalRequiredError& e) {
    EXPECT_EQ(e.approval_id(), "ap_1");
  }
  EXPECT_TRUE(sleeps.empty());
  EXPECT_EQ(proxy_calls().size(), 1u);

  approval_statuses = {"denied"};
  try {
    vault.proxy_request("github", HttpMethod::Post, "https://api.github.com/x", {.wait_for_approval = 60s});
    FAIL();
  } catch (const PolicyViolationError& e) {
    EXPECT_EQ(e.policy_error(), "approval_denied");
  }
  EXPECT_EQ(proxy_calls().size(), 2u);  // not sent again
}

TEST_F(ProxyFixture, TokenHandoutDisabledThenApprovalThroughTheProxy) {
  token_answer = [](const HttpRequest&) { return vault_error(403, {{"error", "token_handout_disabled"}, {"message", "off"}}); };
  proxy_answer = [](const HttpRequest& r) {
    if (header_of(r, "x-alter-approval-id") == "ap_1") return FakeTransport::reply(200, "done", provider_headers());
    return vault_error(403, {{"error", "approval_required"}, {"message", "ask"}, {"approval_id", "ap_1"}});
  };
  approval_statuses = {"approved"};
  auto vault = make();
  EXPECT_EQ(vault.request("github", HttpMethod::Delete, "https://api.github.com/x", {.wait_for_approval = 10s}).text(), "done");
  EXPECT_EQ(token_calls(), 1u);
  EXPECT_EQ(proxy_calls().size(), 2u);
  EXPECT_EQ(provider_tx->count(), 0u);
}

TEST_F(ProxyFixture, TheTokenNeverTravelsOnAProxiedCall) {
  auto vault = make();
  vault.proxy_request("github", HttpMethod::Get, "https://api.github.com/x");
  for (const auto& r : vault_tx->sent()) {
    for (const auto& [n, v] : r.headers) EXPECT_EQ(v.find(kToken), std::string::npos) << n;
  }
}

TEST_F(ProxyFixture, ProxyRequestAfterCloseIsRefused) {
  auto vault = make();
  vault.close();
  EXPECT_THROW(vault.proxy_request("github", HttpMethod::Get, "https://api.github.com/x"), AlterSDKError);
  EXPECT_THROW(vault.proxy_request_async("github", HttpMethod::Get, "https://api.github.com/x"), AlterSDKError);
  EXPECT_EQ(vault_tx->count(), 0u);
}

TEST_F(ProxyFixture, ProxyRequestAsyncDeliversResultsAndExceptions) {
  auto vault = make();
  auto ok = vault.proxy_request_async(Provider::Google, HttpMethod::Get, "https://www.googleapis.com/x");
  EXPECT_EQ(ok.get().request_id(), "req-p1");
  proxy_answer = [](const HttpRequest&) { return vault_error(504, {{"error", "provider_timeout"}, {"message", "slow"}}); };
  auto slow = vault.proxy_request_async(Provider::Google, HttpMethod::Get, "https://www.googleapis.com/x");
  EXPECT_THROW(slow.get(), TimeoutError);
  EXPECT_EQ(token_calls(), 0u);
}

}  // namespace
}  // namespace alter::internal
