// The proxy end to end, against the real binary and the fake provider's protected API: what is
// sent and passed back (raw bytes, headers), the decision binding what is actually sent, the two
// audit rows, 401-then-refresh, Retry-After, timeouts, a provider that is down, size caps,
// approvals bound to the exact request, token handout per app, and no token anywhere it could leak.
#include <alter/common/strings.hpp>

#include <atomic>
#include <set>
#include <thread>

#include "vault_test_fixture.hpp"

namespace alter::testing {
namespace {

const char* kProxyPolicy = R"(
version = 1
[[rules]]
id = "reads"
effect = "allow"
providers = ["fake"]
methods = ["GET", "HEAD"]
paths = ["/api/**"]

[[rules]]
id = "uploads"
effect = "allow"
providers = ["fake"]
methods = ["POST", "PUT"]
paths = ["/api/echo"]

[[rules]]
id = "writes-need-approval"
effect = "require_approval"
providers = ["fake"]
methods = ["POST"]
paths = ["/api/approve-me"]
[rules.approval]
ttl = "10m"

[[rules]]
id = "only-through-the-proxy"
effect = "allow"
providers = ["fake"]
methods = ["GET"]
paths = ["/vault-only/**"]
[rules.conditions]
proxy_required = true
)";

std::string all_bytes(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i % 256);
  return s;
}

class Proxy : public VaultFixture {
 protected:
  void SetUp() override {
    VaultFixture::SetUp();
    apply_policy("default", kProxyPolicy);
    import({{"user_id", "alice"}});
  }

  HttpAnswer proxy(const std::string& method, const std::string& url, const std::string& body = "",
                   std::vector<std::pair<std::string, std::string>> headers = {}, const std::string& key = "") {
    headers.emplace_back("x-api-key", key.empty() ? api_key_ : key);
    headers.emplace_back("x-alter-provider", "fake");
    headers.emplace_back("x-alter-url", url);
    headers.emplace_back("x-alter-user", R"({"user_id":"alice"})");
    headers.emplace_back("x-alter-actor-type", "ai_agent");
    headers.emplace_back("x-alter-actor-id", "proxy-agent");
    return http_->send(method, "/v1/proxy", body, headers);
  }

  nlohmann::json events(const std::string& query) {
    auto a = admin("GET", "/v1/admin/audit?" + query);
    EXPECT_EQ(a.status, 200) << a.body;
    return a.json.is_object() ? a.json["events"] : nlohmann::json::array();
  }

  /// Every access and refresh token the provider handed out or saw, for the leak checks.
  std::set<std::string> tokens_seen() {
    std::set<std::string> out;
    for (const auto& r : fake_.requests()) {
      const std::string auth = r.header("authorization");
      if (auth.rfind("Bearer ", 0) == 0) out.insert(auth.substr(7));
    }
    return out;
  }
};

TEST_F(Proxy, BinaryBodiesGoThereAndBackByteForByteAndOnlyTheCallersHeadersReachTheProvider) {
  const std::string body = all_bytes(4096);
  auto a = proxy("POST", api("/echo"), body,
                 {{"Content-Type", "application/octet-stream"}, {"X-Custom", "kept"}, {"Connection", "x-dropped"},
                  {"X-Dropped", "by Connection"}, {"X-Forwarded-For", "10.9.9.9"}, {"Forwarded", "for=10.9.9.9"},
                  {"X-Forwarded-Host", "internal.example"}, {"Via", "1.1 front"}, {"X-Real-IP", "10.9.9.9"}});
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body, body);
  EXPECT_EQ(a.header("x-alter-source"), "provider");
  EXPECT_EQ(a.header("content-type"), "application/octet-stream");
  EXPECT_EQ(a.header("x-echo-method"), "POST");
  EXPECT_EQ(a.header("x-echo-bytes"), "4096");
  EXPECT_EQ(a.header("x-echo-custom"), "kept");
  EXPECT_FALSE(a.header("x-alter-request-id").empty());
  EXPECT_EQ(a.header("x-alter-audit"), "recorded");
  // Set-Cookie and hop-by-hop headers of the provider's answer are not passed on.
  EXPECT_FALSE(a.has_header("set-cookie"));
  EXPECT_FALSE(a.has_header("keep-alive"));

  // What the provider received: the vault's credential, none of the vault's own headers.
  const auto sent = fake_.requests().back();
  EXPECT_EQ(sent.method, "POST");
  EXPECT_TRUE(fake_.access_token_valid(sent.header("authorization").substr(7)));
  EXPECT_TRUE(sent.header("x-api-key").empty());
  EXPECT_TRUE(sent.header("x-alter-user").empty());
  EXPECT_TRUE(sent.header("x-alter-provider").empty());
  EXPECT_TRUE(sent.header("x-dropped").empty());
  EXPECT_TRUE(sent.header("x-forwarded-for").empty());
  EXPECT_TRUE(sent.header("forwarded").empty());
  EXPECT_TRUE(sent.header("x-forwarded-host").empty());
  EXPECT_TRUE(sent.header("via").empty());
  EXPECT_TRUE(sent.header("x-real-ip").empty());
  EXPECT_EQ(sent.header("x-custom"), "kept");
  EXPECT_EQ(sent.body, body);
}

TEST_F(Proxy, OneDecisionRowAndOneCallRowBothInTheChainWrittenByTheVault) {
  auto a = proxy("GET", api("/me?x=1"), "", {{"x-alter-reason", "reads the profile"}, {"x-alter-run-id", "run-7"}});
  ASSERT_EQ(a.status, 200) << a.body;
  const std::string rid = a.header("x-alter-request-id");
  auto token_rows = events("request_id=" + rid + "&kind=token");
  ASSERT_EQ(token_rows.size(), 1u);
  EXPECT_EQ(token_rows[0]["decision"], "issued");
  EXPECT_EQ(token_rows[0]["via"], "proxy");
  EXPECT_EQ(token_rows[0]["rule_id"], "reads");
  auto calls = events("request_id=" + rid + "&kind=api_call");
  ASSERT_EQ(calls.size(), 1u);
  const auto& c = calls[0];
  EXPECT_EQ(c["via"], "proxy");
  EXPECT_EQ(c["response_status"], 200);
  EXPECT_EQ(c["method"], "GET");
  EXPECT_EQ(c["url"], api("/me?x=1"));
  EXPECT_EQ(c["reason"], "reads the profile");
  EXPECT_EQ(c["run_id"], "run-7");
  EXPECT_EQ(c["actor"]["id"], "proxy-agent");
  EXPECT_EQ(c["user"]["user_id"], "alice");
  EXPECT_GT(c["response_bytes"].get<int>(), 0);
  EXPECT_TRUE(c.contains("latency_ms"));
  EXPECT_GT(c["seq"].get<long>(), token_rows[0]["seq"].get<long>());
  auto verify = admin("GET", "/v1/admin/audit/verify");
  ASSERT_EQ(verify.status, 200) << verify.body;
  EXPECT_EQ(verify.json.value("ok", false), true) << verify.body;
}

TEST_F(Proxy, ThePolicyDecidesOnWhatIsSentAndARefusalSendsNothing) {
  const int before = fake_.api_calls();
  struct Case {
    const char* name;
    const char* method;
    std::string url;
    int status;
    const char* error;
  };
  for (const Case& c : {Case{"no rule for DELETE", "DELETE", api("/me"), 403, "no_matching_rule"},
                        Case{"POST outside the upload path", "POST", api("/other"), 403, "no_matching_rule"},
                        Case{"another host", "GET", "https://example.com/api/me", 403, "url_not_allowed"},
                        Case{"userinfo in the URL", "GET", "http://evil@127.0.0.1:1/api/me", 403, "url_not_allowed"}}) {
    SCOPED_TRACE(c.name);
    auto a = proxy(c.method, c.url);
    EXPECT_EQ(a.status, c.status) << a.body;
    EXPECT_EQ(a.json.value("error", ""), c.error) << a.body;
    EXPECT_EQ(a.header("x-alter-source"), "vault");
  }
  EXPECT_EQ(fake_.api_calls(), before);
}

TEST_F(Proxy, BadRequestsGetAJsonErrorFromTheVaultAndSendNothing) {
  const int before = fake_.api_calls();
  struct Case {
    const char* name;
    std::vector<std::pair<std::string, std::string>> headers;
    int status;
  };
  auto send = [&](const std::vector<std::pair<std::string, std::string>>& headers) {
    return http_->send("GET", "/v1/proxy", "", headers);
  };
  const std::pair<std::string, std::string> key{"x-api-key", api_key_};
  const std::pair<std::string, std::string> provider{"x-alter-provider", "fake"};
  const std::pair<std::string, std::string> user{"x-alter-user", R"({"user_id":"alice"})"};
  const std::pair<std::string, std::string> url{"x-alter-url", api("/me")};
  for (const Case& c : std::vector<Case>{
           {"no api key", {provider, user, url}, 401},
           {"no provider", {key, user, url}, 400},
           {"no url", {key, provider, user}, 400},
           {"no user", {key, provider, url}, 400},
           {"user not JSON", {key, provider, url, {"x-alter-user", "alice"}}, 400},
           {"user not strings", {key, provider, url, {"x-alter-user", R"({"user_id":1})"}}, 400},
           {"empty user", {key, provider, url, {"x-alter-user", "{}"}}, 400},
           {"an Authorization header", {key, provider, user, url, {"Authorization", "Bearer mine"}}, 400},
           {"a Cookie", {key, provider, user, url, {"Cookie", "session=mine"}}, 400},
           {"a Google API key", {key, provider, user, url, {"X-Goog-Api-Key", "AIza-mine"}}, 400},
           {"a Proxy-Authorization header", {key, provider, user, url, {"Proxy-Authorization", "Basic bWluZQ=="}}, 400},
           {"an X-Auth-Token", {key, provider, user, url, {"X-Auth-Token", "mine"}}, 400},
           {"a Private-Token", {key, provider, user, url, {"Private-Token", "glpat-mine"}}, 400},
           {"an AWS session token", {key, provider, user, url, {"X-Amz-Security-Token", "mine"}}, 400},
           {"an Authorization in another case", {key, provider, user, url, {"aUtHoRiZaTiOn", "Bearer mine"}}, 400},
           {"a reason with a control character", {key, provider, user, url, {"x-alter-reason", "a\x01b"}}, 400},
           {"timeout not a number", {key, provider, user, url, {"x-alter-timeout-ms", "soon"}}, 400},
           {"timeout too long", {key, provider, user, url, {"x-alter-timeout-ms", "999999"}}, 400},
           {"unknown provider", {key, {"x-alter-provider", "nope"}, user, url}, 400},
           {"no such user", {key, provider, {"x-alter-user", R"({"user_id":"zed"})"}, url}, 404},
       }) {
    SCOPED_TRACE(c.name);
    auto a = send(c.headers);
    EXPECT_EQ(a.status, c.status) << a.body;
    EXPECT_TRUE(a.json.is_object() && a.json.contains("error")) << a.body;
  }
  EXPECT_EQ(fake_.api_calls(), before);
}

TEST_F(Proxy, LargeBodiesBothWaysAndTheRequestCap) {
  const std::string up = all_bytes(900 * 1024);
  auto a = proxy("PUT", api("/echo"), up, {{"Content-Type", "application/octet-stream"}});
  ASSERT_EQ(a.status, 200) << a.body.substr(0, 200);
  EXPECT_EQ(a.body, up);
  auto big = proxy("GET", api("/large?bytes=5000000"));
  ASSERT_EQ(big.status, 200);
  EXPECT_EQ(big.body.size(), 5000000u);
  EXPECT_EQ(big.body.substr(0, 3), "abc");
  // Past the vault's body_limit (1 MB by default): 413 before anything is decided or sent.
  const int before = fake_.api_calls();
  auto too_big = proxy("POST", api("/echo"), std::string(2 * 1024 * 1024, 'x'));
  EXPECT_EQ(too_big.status, 413);
  EXPECT_EQ(too_big.json.value("error", ""), "payload_too_large") << too_big.body;
  EXPECT_EQ(fake_.api_calls(), before);
}

TEST_F(Proxy, A401RefreshesOnceAndSendsOnceMore) {
  fake_.forget_access_tokens();  // the stored token is dead at the provider, still "fresh" here
  const int refreshes = fake_.refresh_calls();
  auto a = proxy("GET", api("/me"));
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(fake_.refresh_calls(), refreshes + 1);
  EXPECT_EQ(a.header("x-alter-attempts"), "2");
  auto calls = events("request_id=" + a.header("x-alter-request-id") + "&kind=api_call");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0]["refreshed"], true);
  // The next call uses the new token at once.
  auto b = proxy("GET", api("/me"));
  EXPECT_EQ(b.status, 200);
  EXPECT_EQ(b.header("x-alter-attempts"), "1");
  EXPECT_EQ(fake_.refresh_calls(), refreshes + 1);
}

TEST_F(Proxy, A401ThatARefreshCannotCureIsPassedOnAsTheProvidersAnswer) {
  fake_.forget_access_tokens();
  fake_.set_invalid_grant(true);
  auto a = proxy("GET", api("/me"));
  EXPECT_EQ(a.status, 401) << a.body;
  EXPECT_EQ(a.header("x-alter-source"), "provider");
  EXPECT_EQ(a.json.value("error", ""), "invalid_token");
}

TEST_F(Proxy, RetryAfterIsHonouredForIdempotentMethodsOnlyAndBounded) {
  fake_.throttle_api_calls(2, 429, "0");
  auto get = proxy("GET", api("/me"));
  EXPECT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(get.header("x-alter-attempts"), "3");

  fake_.throttle_api_calls(1, 503, "0");
  auto post = proxy("POST", api("/echo"), "once");
  EXPECT_EQ(post.status, 503) << post.body;
  EXPECT_EQ(post.header("x-alter-source"), "provider");
  EXPECT_EQ(post.header("x-alter-attempts"), "1");
  EXPECT_EQ(post.header("retry-after"), "0");

  fake_.throttle_api_calls(10, 429, "0");  // more than the catalog's 2 retries
  auto gives_up = proxy("GET", api("/me"));
  EXPECT_EQ(gives_up.status, 429);
  EXPECT_EQ(gives_up.header("x-alter-attempts"), "3");

  fake_.throttle_api_calls(1, 429, "3600");  // longer than max_retry_after: passed on at once
  auto long_wait = proxy("GET", api("/me"));
  EXPECT_EQ(long_wait.status, 429);
  EXPECT_EQ(long_wait.header("x-alter-attempts"), "1");
  fake_.throttle_api_calls(0, 0, "");
}

TEST_F(Proxy, ATimeoutAndAProviderThatIsDownAreTypedVaultErrors) {
  auto slow = proxy("GET", api("/hold"), "", {{"x-alter-timeout-ms", "300"}});
  EXPECT_EQ(slow.status, 504) << slow.body;
  EXPECT_EQ(slow.json.value("error", ""), "provider_timeout");
  EXPECT_EQ(slow.header("x-alter-source"), "vault");
  const std::string rid = slow.json.value("request_id", "");
  ASSERT_FALSE(rid.empty()) << slow.body;
  auto calls = events("request_id=" + rid + "&kind=api_call");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0]["error"], "timeout");

  // A port nothing listens on, on the provider's host.
  auto down = proxy("GET", "http://127.0.0.1:9/api/me");
  EXPECT_EQ(down.status, 502) << down.body;
  EXPECT_EQ(down.json.value("error", ""), "provider_unreachable");
  EXPECT_EQ(down.header("x-alter-source"), "vault");
}

TEST_F(Proxy, TokenHandoutIsPerAppAndOffForNewApps) {
  ASSERT_EQ(admin("POST", "/v1/admin/apps", {{"id", "fresh"}, {"name", "Fresh"}}).status, 201);
  auto app = admin("GET", "/v1/admin/apps/fresh");
  ASSERT_EQ(app.status, 200);
  EXPECT_EQ(app.json["settings"]["token_handout"], false) << app.body;
  ASSERT_EQ(admin("PUT", "/v1/admin/apps/fresh/providers/fake", {{"client_id", "fake-client"}, {"client_secret", "fake-secret-123"}}).status,
            200);
  const std::string key = new_key("fresh");
  apply_policy("fresh", kProxyPolicy);
  import({{"user_id", "alice"}}, 3600, true, "fresh");
  auto refused = token({{"provider_id", "fake"}, {"attributes", {{"user_id", "alice"}}}, {"method", "GET"}, {"url", api("/me")}}, key);
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_EQ(refused.json.value("error", ""), "token_handout_disabled");
  EXPECT_FALSE(refused.json.contains("access_token"));
  auto proxied = proxy("GET", api("/me"), "", {}, key);
  EXPECT_EQ(proxied.status, 200) << proxied.body;
  // And on again, for an app whose callers need the token (alter-sdk 0.1).
  ASSERT_EQ(admin("PATCH", "/v1/admin/apps/fresh", {{"settings", {{"token_handout", true}}}}).status, 200);
  auto handed = token({{"provider_id", "fake"}, {"attributes", {{"user_id", "alice"}}}, {"method", "GET"}, {"url", api("/me")}}, key);
  EXPECT_EQ(handed.status, 200) << handed.body;
}

TEST_F(Proxy, APolicyMayRequireTheProxy) {
  const std::string url = fake_.base_url() + "/vault-only/me";
  auto handout = token({{"provider_id", "fake"}, {"attributes", {{"user_id", "alice"}}}, {"method", "GET"}, {"url", url}});
  EXPECT_EQ(handout.status, 403) << handout.body;
  EXPECT_EQ(handout.json.value("error", ""), "proxy_required");
  auto proxied = proxy("GET", url);
  EXPECT_NE(proxied.status, 403) << proxied.body;
  EXPECT_EQ(proxied.header("x-alter-source"), "provider");
}

TEST_F(Proxy, AnApprovalBindsTheExactRequestAndTheVaultSendsExactlyThat) {
  const std::string url = api("/approve-me");
  const std::string body = R"({"amount": 100})";
  const std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", "application/json"}, {"X-Custom", "v1"}};
  auto first = proxy("POST", url, body, headers);
  ASSERT_EQ(first.status, 403) << first.body;
  ASSERT_EQ(first.json.value("error", ""), "approval_required");
  const std::string id = first.json.value("approval_id", "");
  ASSERT_FALSE(id.empty());
  const int before = fake_.api_calls();

  // What the approver sees: the headers and the start of the body that will be sent.
  auto shown = admin("GET", "/v1/admin/approvals/" + id);
  ASSERT_EQ(shown.status, 200);
  EXPECT_EQ(shown.json["request"]["proxied"], true) << shown.body;
  EXPECT_EQ(shown.json["request"]["body_preview"], body);
  EXPECT_EQ(shown.json["request"]["headers"]["x-custom"], "v1");
  auto page = http_->send("GET", "/approvals/" + id);
  EXPECT_NE(page.body.find("amount"), std::string::npos);
  EXPECT_NE(page.body.find("x-custom"), std::string::npos);

  ASSERT_EQ(admin("POST", "/v1/admin/approvals/" + id + "/approve").status, 200);
  auto with_id = [&](std::vector<std::pair<std::string, std::string>> h) {
    h.emplace_back("x-alter-approval-id", id);
    return h;
  };
  // A different body, header or URL cannot use it.
  for (const auto& [what, answer] :
       {std::pair{"another body", proxy("POST", url, R"({"amount": 100000})", with_id(headers))},
        std::pair{"another header", proxy("POST", url, body, with_id({{"Content-Type", "application/json"}, {"X-Custom", "v2"}}))},
        std::pair{"another URL", proxy("POST", url + "?to=mallory", body, with_id(headers))}}) {
    SCOPED_TRACE(what);
    EXPECT_EQ(answer.status, 403) << answer.body;
    EXPECT_EQ(answer.json.value("error", ""), "approval_mismatch") << answer.body;
  }
  EXPECT_EQ(fake_.api_calls(), before);
  // The approved request is sent, once (a tracing id set anew on each send is not part of it).
  auto traced = with_id(headers);
  traced.emplace_back("X-Request-Id", "resend-7");
  auto sent = proxy("POST", url, body, traced);
  EXPECT_EQ(sent.status, 200) << sent.body;
  EXPECT_EQ(fake_.api_calls(), before + 1);
  EXPECT_EQ(fake_.requests().back().body, body);
  auto again = proxy("POST", url, body, with_id(headers));
  EXPECT_EQ(again.status, 403);
  EXPECT_EQ(again.json.value("error", ""), "approval_used") << again.body;
  EXPECT_EQ(fake_.api_calls(), before + 1);
}

TEST_F(Proxy, NoTokenInAnyAnswerLogOrAuditRow) {
  std::string answers;
  auto keep = [&](const HttpAnswer& a) {
    answers += a.body;
    for (const auto& [k, v] : a.headers) answers += k + ": " + v + "\n";
  };
  keep(proxy("GET", api("/me")));
  keep(proxy("POST", api("/echo"), "hello", {{"X-Custom", "x"}}));
  fake_.forget_access_tokens();
  keep(proxy("GET", api("/me")));  // a refresh: a new token
  keep(proxy("GET", api("/hold"), "", {{"x-alter-timeout-ms", "200"}}));
  keep(proxy("DELETE", api("/me")));
  ASSERT_EQ(admin("PATCH", "/v1/admin/apps/default", {{"settings", {{"audit_capture", "bodies"}}}}).status, 200);
  keep(proxy("POST", api("/echo"), "with bodies captured", {{"Content-Type", "text/plain"}}));
  const auto tokens = tokens_seen();
  ASSERT_GE(tokens.size(), 2u);
  auto exported = admin("GET", "/v1/admin/audit/export");
  ASSERT_EQ(exported.status, 200);
  ASSERT_NE(exported.body.find("with bodies captured"), std::string::npos);  // the capture works
  const std::string log = server_->stderr_text();
  for (const auto& t : tokens) {
    EXPECT_EQ(answers.find(t), std::string::npos) << "a token in a proxied answer";
    EXPECT_EQ(exported.body.find(t), std::string::npos) << "a token in the audit trail";
    EXPECT_EQ(log.find(t), std::string::npos) << "a token in the vault's log";
  }
}

TEST_F(Proxy, TheTimeoutIsTheWholeCallsNotEachAttempts) {
  fake_.throttle_api_calls(1, 429, "1");  // then the held answer: the retry gets what is left
  const auto started = std::chrono::steady_clock::now();
  auto a = proxy("GET", api("/hold"), "", {{"x-alter-timeout-ms", "1500"}});
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(a.status, 504) << a.body;
  EXPECT_EQ(a.json.value("error", ""), "provider_timeout");
  EXPECT_LT(took, std::chrono::milliseconds(2400));  // 1.5 s and some, not 1 s + a whole 1.5 s more
  fake_.throttle_api_calls(0, 0, "");
}

TEST_F(Proxy, A401ForcesOneRefreshPerConnectionPerWindowNotOnePerCall) {
  fake_.forget_access_tokens();
  const int refreshes = fake_.refresh_calls();
  EXPECT_EQ(proxy("GET", api("/me")).status, 200);
  EXPECT_EQ(fake_.refresh_calls(), refreshes + 1);
  fake_.forget_access_tokens();  // again at once: a provider that keeps answering 401
  auto a = proxy("GET", api("/me"));
  EXPECT_EQ(a.status, 401);
  EXPECT_EQ(a.header("x-alter-source"), "provider");
  EXPECT_EQ(fake_.refresh_calls(), refreshes + 1);
}

// The route's worker path (an API key not in memory yet) with a single worker: it must not wait
// for work queued behind it on the same pool (the decision's store reads, a refresh).
class ProxyOneWorker : public Proxy {
 public:
  ProxyOneWorker() { env_["ALTER_VAULT_WORKER_THREADS"] = "1"; }
};

TEST_F(ProxyOneWorker, FirstCallsOfNewKeysNeedTheStoreAndARefreshAndStillAnswer) {
  auto first = proxy("POST", api("/approve-me"), "x", {}, new_key("default"));
  EXPECT_EQ(first.status, 403) << first.body;
  EXPECT_EQ(first.json.value("error", ""), "approval_required");
  fake_.forget_access_tokens();
  auto refreshed = proxy("GET", api("/me"), "", {}, new_key("default"));
  EXPECT_EQ(refreshed.status, 200) << refreshed.body;
  EXPECT_EQ(refreshed.header("x-alter-attempts"), "2");
  fake_.throttle_api_calls(1, 429, "0");
  EXPECT_EQ(proxy("GET", api("/me"), "", {}, new_key("default")).status, 200);
}

// ---- the SDK over the real proxy ----

TEST_F(Proxy, SdkProxyRequestSendsRawBytesAndMapsTheProvidersErrors) {
  Vault vault(sdk_options());
  const std::string body = all_bytes(70000);
  auto r = vault.proxy_request("fake", HttpMethod::Post, api("/echo"),
                               {.user = {{"user_id", "alice"}}, .reason = "upload", .body = body, .content_type = "application/octet-stream"});
  EXPECT_EQ(r.status_code(), 200);
  EXPECT_EQ(r.text(), body);
  EXPECT_FALSE(r.request_id().empty());
  auto calls = events("request_id=" + r.request_id() + "&kind=api_call");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0]["reason"], "upload");
  EXPECT_EQ(calls[0]["actor"]["id"], "integration-agent");
  // The provider's error answer is a ProviderAPIError; a policy refusal and a timeout are the vault's.
  fake_.throttle_api_calls(1, 503, "3600");
  try {
    vault.proxy_request("fake", HttpMethod::Get, api("/me"), {.user = {{"user_id", "alice"}}});
    ADD_FAILURE() << "a 503 from the provider must throw";
  } catch (const ProviderAPIError& e) {
    EXPECT_EQ(e.status_code(), 503);
    EXPECT_NE(e.response_body().find("slow_down"), std::string::npos);
  }
  EXPECT_THROW(vault.proxy_request("fake", HttpMethod::Delete, api("/me"), {.user = {{"user_id", "alice"}}}), PolicyViolationError);
  EXPECT_THROW(vault.proxy_request("fake", HttpMethod::Get, api("/hold"), {.user = {{"user_id", "alice"}}, .timeout = std::chrono::milliseconds(300)}),
               TimeoutError);
  vault.close();
  // The vault wrote the call rows: the SDK queued none of its own.
  EXPECT_EQ(vault.audit_stats().enqueued, 0u);
}

TEST_F(Proxy, SdkRequestGoesThroughTheProxyWhenTheAppHandsOutNoTokens) {
  ASSERT_EQ(admin("PATCH", "/v1/admin/apps/default", {{"settings", {{"token_handout", false}}}}).status, 200);
  Vault vault(sdk_options());
  for (int i = 0; i < 3; ++i) {
    auto r = vault.request("fake", HttpMethod::Get, api("/me"), {.user = {{"user_id", "alice"}}});
    EXPECT_EQ(r.status_code(), 200);
    EXPECT_EQ(r.json()["sub"], "alice");
  }
  // One refused token request, then straight to the proxy.
  auto refused = events("kind=token&decision=denied");
  std::size_t handout_refusals = 0;
  for (const auto& e : refused) handout_refusals += e.value("policy_error", "") == "token_handout_disabled";
  EXPECT_EQ(handout_refusals, 1u);
  EXPECT_EQ(events("kind=api_call").size(), 3u);
}

TEST_F(Proxy, SdkWaitsForAnApprovalAndGetsTheApprovedRequestsAnswer) {
  Vault vault(sdk_options());
  std::atomic<bool> approved{false};
  std::thread approver([&] {
    for (int i = 0; i < 200 && !approved; ++i) {
      auto list = admin("GET", "/v1/admin/apps/default/approvals?status=pending");
      if (list.status == 200 && list.json.contains("approvals") && !list.json["approvals"].empty()) {
        const std::string id = list.json["approvals"][0].value("id", "");
        approved = admin("POST", "/v1/admin/approvals/" + id + "/approve").status == 200;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  auto r = vault.proxy_request("fake", HttpMethod::Post, api("/approve-me"),
                               {.user = {{"user_id", "alice"}}, .json = nlohmann::json{{"amount", 5}},
                                .wait_for_approval = std::chrono::seconds(20)});
  approver.join();
  EXPECT_TRUE(approved);
  EXPECT_EQ(r.status_code(), 200);
  EXPECT_EQ(fake_.requests().back().body, R"({"amount":5})");
}

class ProxyRotating : public VaultFixture {
 public:
  ProxyRotating() : VaultFixture(FakeOAuthProvider::Options{.rotate_refresh_tokens = true}) {}
};

TEST_F(ProxyRotating, A401RefreshesARotatingGrantOnceAndSendsOnceMore) {
  import({{"user_id", "alice"}});
  Vault vault(sdk_options());
  ASSERT_EQ(vault.proxy_request("fake", HttpMethod::Get, api("/me"), {.user = {{"user_id", "alice"}}}).status_code(), 200);
  fake_.forget_access_tokens();
  const int refreshes = fake_.refresh_calls();
  auto r = vault.proxy_request("fake", HttpMethod::Get, api("/me"), {.user = {{"user_id", "alice"}}});
  EXPECT_EQ(r.status_code(), 200);
  EXPECT_EQ(r.header("x-alter-attempts").value_or(""), "2");
  EXPECT_EQ(fake_.refresh_calls(), refreshes + 1);
}

class ProxySmallAnswers : public Proxy {
 public:
  ProxySmallAnswers() { env_["ALTER_VAULT_PROXY_MAX_RESPONSE_BYTES"] = "65536"; }
};

TEST_F(ProxySmallAnswers, AnAnswerPastTheCapIsAClearErrorNotATruncatedBody) {
  auto ok = proxy("GET", api("/large?bytes=60000"));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body.size(), 60000u);
  auto big = proxy("GET", api("/large?bytes=200000"));
  EXPECT_EQ(big.status, 502) << big.body.substr(0, 200);
  EXPECT_EQ(big.json.value("error", ""), "provider_response_too_large");
  EXPECT_EQ(big.header("x-alter-source"), "vault");
}

}  // namespace
}  // namespace alter::testing
