// The Vault over fake transports: what is sent where, validation before sending, error mapping.
#include <alter/alter.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <future>
#include <optional>
#include <thread>

#include <alter/common/strings.hpp>

#include "fake_transport.hpp"
#include "vault_impl.hpp"

namespace alter::internal {
namespace {

using namespace std::chrono_literals;

constexpr const char* kToken = "ya29.TOKEN-0123456789-abcdefghijklmnopqrstuvwxyz";
constexpr const char* kKey = "alter_key_test_0123456789";

std::string grant_body(const std::string& token = kToken) {
  return nlohmann::json{{"access_token", token}, {"token_type", "Bearer"},   {"expires_in", 3600},
                        {"expires_at", "2026-11-26T21:00:00Z"}, {"scopes", {"calendar"}},
                        {"connection_id", "conn-1"}, {"request_id", "req-1"}}
      .dump();
}

struct Fixture : ::testing::Test {
  std::shared_ptr<FakeTransport> vault_tx = std::make_shared<FakeTransport>();
  std::shared_ptr<FakeTransport> provider_tx = std::make_shared<FakeTransport>();
  common::FakeClock clock;

  void SetUp() override {
    vault_tx->set_script([](const HttpRequest& r) {
      if (r.url.find("/oauth/token") != std::string::npos) return FakeTransport::reply(200, grant_body());
      return FakeTransport::reply(202, R"({"accepted":1})");
    });
    provider_tx->set_script([](const HttpRequest&) {
      Headers h;
      h.emplace("Content-Type", "application/json");
      h.emplace("Set-Cookie", "session=abc");
      return FakeTransport::reply(200, R"({"items":[1,2]})", h);
    });
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
    return VaultAccess::make(std::move(o), deps);
  }
  Vault make() { return make(options()); }

  std::vector<HttpRequest> vault_calls_to(const std::string& path) {
    std::vector<HttpRequest> out;
    for (auto& r : vault_tx->sent()) {
      if (r.url.find(path) != std::string::npos) out.push_back(r);
    }
    return out;
  }
};

TEST_F(Fixture, TheProviderIsCalledAtTheUrlTheVaultDecidedOn) {
  // The vault answers with its normalized reading of the URL: that, not our spelling, is called.
  vault_tx->set_script([](const HttpRequest& r) {
    if (r.url.find("/oauth/token") == std::string::npos) return FakeTransport::reply(202, R"({"accepted":1})");
    auto body = nlohmann::json::parse(grant_body());
    body["url"] = "https://www.googleapis.com/calendar/v3/x";
    return FakeTransport::reply(200, body.dump());
  });
  auto vault = make();
  auto r = vault.request(Provider::Google, HttpMethod::Get, "https://WWW.GoogleAPIs.com./calendar/v3/a/../x", {.user = {{"user_id", "alice"}}});
  ASSERT_EQ(provider_tx->sent().size(), 1u);
  EXPECT_EQ(provider_tx->sent()[0].url, "https://www.googleapis.com/calendar/v3/x");
  EXPECT_EQ(r.url(), "https://www.googleapis.com/calendar/v3/x");
  // The token request named the URL as written; the vault did the normalizing.
  auto sent = nlohmann::json::parse(vault_calls_to("/oauth/token").at(0).body);
  EXPECT_EQ(sent["url"], "https://WWW.GoogleAPIs.com./calendar/v3/a/../x");
}

TEST_F(Fixture, TokenRequestCarriesKeyActorAndEveryField) {
  auto vault = make();
  auto r = vault.request(Provider::Google, HttpMethod::Get,
                         "https://www.googleapis.com/calendar/v3/calendars/{calendar_id}/events",
                         {.user = {{"user_id", "alice"}},
                          .path_params = {{"calendar_id", "primary"}},
                          .query_params = {{"maxResults", "10"}},
                          .reason = "Listing events",
                          .run_id = "550e8400-e29b-41d4-a716-446655440000",
                          .thread_id = "thread-xyz",
                          .tool_call_id = "call_abc_123"});
  EXPECT_EQ(r.status_code(), 200);
  auto token_calls = vault_calls_to("/oauth/token");
  ASSERT_EQ(token_calls.size(), 1u);
  const auto& t = token_calls[0];
  EXPECT_EQ(t.method, "POST");
  EXPECT_EQ(t.url, "http://127.0.0.1:8787/oauth/token");
  EXPECT_EQ(header_of(t, "x-api-key"), kKey);
  EXPECT_EQ(header_of(t, "x-alter-actor-type"), "ai_agent");
  EXPECT_EQ(header_of(t, "x-alter-actor-id"), "email-assistant-v2");
  EXPECT_EQ(header_of(t, "x-alter-actor-name"), "Email Assistant");
  EXPECT_EQ(header_of(t, "x-alter-actor-version"), "2.0.0");
  EXPECT_EQ(header_of(t, "x-alter-framework"), "langgraph");
  EXPECT_EQ(header_of(t, "x-alter-client-type"), "cursor");
  EXPECT_EQ(header_of(t, "User-Agent").rfind("alter-sdk-cpp/", 0), 0u);
  auto body = nlohmann::json::parse(t.body);
  EXPECT_EQ(body["provider_id"], "google");
  EXPECT_EQ(body["attributes"], (nlohmann::json{{"user_id", "alice"}}));
  EXPECT_EQ(body["method"], "GET");
  EXPECT_EQ(body["url"], "https://www.googleapis.com/calendar/v3/calendars/primary/events?maxResults=10");
  EXPECT_EQ(body["reason"], "Listing events");
  EXPECT_EQ(body["run_id"], "550e8400-e29b-41d4-a716-446655440000");
  EXPECT_EQ(body["thread_id"], "thread-xyz");
  EXPECT_EQ(body["tool_call_id"], "call_abc_123");
}

TEST_F(Fixture, ProviderCallCarriesTheTokenAndNeverTheKey) {
  auto vault = make();
  vault.request("notion", HttpMethod::Post, "https://api.notion.com/v1/databases/{db_id}/query",
                {.user = {{"user_id", "alice"}},
                 .path_params = {{"db_id", "abc123"}},
                 .extra_headers = {{"Notion-Version", "2022-06-28"}},
                 .json = nlohmann::json{{"page_size", 10}}});
  auto sent = provider_tx->sent();
  ASSERT_EQ(sent.size(), 1u);
  const auto& p = sent[0];
  EXPECT_EQ(p.method, "POST");
  EXPECT_EQ(p.url, "https://api.notion.com/v1/databases/abc123/query");
  EXPECT_EQ(header_of(p, "Authorization"), std::string("Bearer ") + kToken);
  EXPECT_EQ(header_of(p, "Notion-Version"), "2022-06-28");
  EXPECT_EQ(header_of(p, "Content-Type"), "application/json");
  EXPECT_EQ(nlohmann::json::parse(p.body), (nlohmann::json{{"page_size", 10}}));
  EXPECT_FALSE(has_header(p, "x-api-key"));
  for (const auto& [n, v] : p.headers) EXPECT_EQ(v.find(kKey), std::string::npos) << n;
  EXPECT_EQ(p.body.find(kKey), std::string::npos);
}

TEST_F(Fixture, TheVaultNeverSeesTheToken) {
  auto vault = make();
  vault.request(Provider::Github, HttpMethod::Get, "https://api.github.com/user", {.user = {{"user_id", "alice"}}});
  EXPECT_TRUE(vault.flush(1s));
  for (const auto& r : vault_tx->sent()) {
    EXPECT_EQ(r.body.find(kToken), std::string::npos) << r.url;
    for (const auto& [n, v] : r.headers) EXPECT_EQ(v.find(kToken), std::string::npos);
  }
}

TEST_F(Fixture, AuditEventDescribesTheCallWithoutSecrets) {
  auto vault = make();
  vault.request(Provider::Salesforce, HttpMethod::Post, "https://api.example.com/v1/items",
                {.user = {{"user_id", "alice"}},
                 .extra_headers = {{"X-Trace", "t-1"}, {"Cookie", "a=b"}, {"X-Auth-Token", "zzz"}},
                 .json = nlohmann::json{{"name", "New Item"}, {"price", 99.99}},
                 .reason = "Creating new item"});
  EXPECT_TRUE(vault.flush(1s));
  auto batches = vault_calls_to("/oauth/audit/batch");
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(header_of(batches[0], "x-api-key"), kKey);
  EXPECT_EQ(header_of(batches[0], "x-alter-actor-id"), "email-assistant-v2");
  auto events = nlohmann::json::parse(batches[0].body)["events"];
  ASSERT_EQ(events.size(), 1u);
  const auto& e = events[0];
  EXPECT_EQ(e["connection_id"], "conn-1");
  EXPECT_EQ(e["request_id"], "req-1");
  EXPECT_EQ(e["provider_id"], "salesforce");
  EXPECT_EQ(e["method"], "POST");
  EXPECT_EQ(e["url"], "https://api.example.com/v1/items");
  EXPECT_EQ(e["response_status"], 200);
  EXPECT_EQ(e["reason"], "Creating new item");
  EXPECT_EQ(e["request_headers"]["x-trace"], "t-1");
  EXPECT_FALSE(e["request_headers"].contains("authorization"));
  EXPECT_FALSE(e["request_headers"].contains("cookie"));
  EXPECT_FALSE(e["request_headers"].contains("x-auth-token"));
  EXPECT_FALSE(e["response_headers"].contains("set-cookie"));
  EXPECT_EQ(e["response_headers"]["content-type"], "application/json");
  EXPECT_EQ(e["response_body"], R"({"items":[1,2]})");
  EXPECT_TRUE(e.contains("timestamp"));
  EXPECT_TRUE(e.contains("latency_ms"));
  EXPECT_EQ(e.dump().find(kToken), std::string::npos);
}

TEST_F(Fixture, TheCallEventCarriesOnlyWhatTheVaultKeeps) {
  struct Case {
    const char* capture;
    bool headers;
    bool bodies;
  };
  for (const Case c : {Case{"none", false, false}, Case{"headers", true, false}, Case{"bodies", true, true}, Case{"", true, true}}) {
    SCOPED_TRACE(c.capture);
    vault_tx->clear();
    vault_tx->set_script([c](const HttpRequest& r) {
      if (r.url.find("/oauth/token") == std::string::npos) return FakeTransport::reply(202, R"({"accepted":1})");
      auto body = nlohmann::json::parse(grant_body());
      if (*c.capture) body["audit_capture"] = c.capture;
      return FakeTransport::reply(200, body.dump());
    });
    auto vault = make();
    vault.request("github", HttpMethod::Put, "https://api.github.com/x", {.body = std::string(300, 'y')});
    vault.flush(1s);
    auto e = nlohmann::json::parse(vault_calls_to("/oauth/audit/batch").at(0).body)["events"][0];
    EXPECT_EQ(e.contains("request_headers"), c.headers);
    EXPECT_EQ(e.contains("response_headers"), c.headers);
    EXPECT_EQ(e.contains("request_body"), c.bodies);
    EXPECT_EQ(e.contains("response_body"), c.bodies);
    EXPECT_EQ(e["request_bytes"], 300);
    EXPECT_EQ(e["response_bytes"], 15);
    EXPECT_EQ(e["response_status"], 200);
  }
}

TEST_F(Fixture, AuditBodiesAreCapped) {
  provider_tx->set_script([](const HttpRequest&) { return FakeTransport::reply(200, std::string(50000, 'x')); });
  auto vault = make();
  vault.request("github", HttpMethod::Put, "https://api.github.com/x", {.body = std::string(30000, 'y')});
  vault.flush(1s);
  auto e = nlohmann::json::parse(vault_calls_to("/oauth/audit/batch").at(0).body)["events"][0];
  EXPECT_EQ(e["response_body"].get<std::string>().size(), 10240u);
  EXPECT_EQ(e["request_body"].get<std::string>().size(), 10240u);
}

TEST_F(Fixture, RawBodyHasItsContentType) {
  auto vault = make();
  vault.request("slack", HttpMethod::Post, "https://slack.com/api/chat.postMessage",
                {.body = "a=1&b=2", .content_type = "application/x-www-form-urlencoded"});
  auto p = provider_tx->sent().at(0);
  EXPECT_EQ(p.body, "a=1&b=2");
  EXPECT_EQ(header_of(p, "Content-Type"), "application/x-www-form-urlencoded");
  vault.request("slack", HttpMethod::Post, "https://slack.com/api/x", {.body = "raw"});
  EXPECT_EQ(header_of(provider_tx->sent().at(1), "Content-Type"), "application/octet-stream");
}

TEST_F(Fixture, PerRequestTimeoutOverridesTheVaults) {
  auto o = options();
  o.timeout = 7s;
  auto vault = make(o);
  vault.request("github", HttpMethod::Get, "https://api.github.com/x");
  EXPECT_EQ(provider_tx->sent().at(0).timeout, 7s);
  EXPECT_EQ(vault_calls_to("/oauth/token").at(0).timeout, 7s);
  vault.request("github", HttpMethod::Get, "https://api.github.com/x", {.timeout = 1500ms});
  EXPECT_EQ(provider_tx->sent().at(1).timeout, 1500ms);
}

// ---- validation before anything is sent ----

struct BadRequest {
  std::string name;
  std::function<void(Vault&)> call;
};

class Validation : public Fixture, public ::testing::WithParamInterface<BadRequest> {};

TEST_P(Validation, IsAnAlterSDKErrorAndSendsNothing) {
  auto vault = make();
  try {
    GetParam().call(vault);
    FAIL() << "no exception";
  } catch (const TokenRetrievalError&) {
    FAIL() << "wrong type";
  } catch (const AlterSDKError& e) {
    EXPECT_FALSE(e.message().empty());
    EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos);
  }
  EXPECT_EQ(vault_tx->count(), 0u);
  EXPECT_EQ(provider_tx->count(), 0u);
}

const std::string kUrl = "https://api.github.com/repos/{owner}/{repo}";
const std::map<std::string, std::string> kPath = {{"owner", "o"}, {"repo", "r"}};

INSTANTIATE_TEST_SUITE_P(
    BeforeSending, Validation,
    ::testing::Values(
        BadRequest{"authorization", [](Vault& v) { v.request("github", HttpMethod::Get, kUrl, {.path_params = kPath, .extra_headers = {{"Authorization", "Bearer s3cret"}}}); }},
        BadRequest{"authorization_case", [](Vault& v) { v.request("github", HttpMethod::Get, kUrl, {.path_params = kPath, .extra_headers = {{"aUtHoRiZaTiOn", "s3cret"}}}); }},
        BadRequest{"proxy_authorization", [](Vault& v) { v.request("github", HttpMethod::Get, kUrl, {.path_params = kPath, .extra_headers = {{"Proxy-Authorization", "s3cret"}}}); }},
        BadRequest{"crlf_value", [](Vault& v) { v.request("github", HttpMethod::Get, kUrl, {.path_params = kPath, .extra_headers = {{"X-A", "s3cret\r\nX-Injected: 1"}}}); }},
        BadRequest{"lf_value", [](Vault& v) { v.request("github", HttpMethod::Get, kUrl, {.path_params = kPath, .extra_headers = {{"X-A", "a\nb"}}}); }},
        BadRequest{"nul_value", [](Vault& v) { v.request("github", HttpMethod::Get, kUrl, {.path_params = kPath, .extra_headers = {{"X-A", std::string("a\0b", 3)}}}); }},
        BadRequest{"crlf_name", [](Vault& v) { v.request("github", HttpMethod::Get, kUrl, {.path_params = kPath, .extra_headers = {{"X-A\r\nX-B", "v"}}}); }},
        BadRequest{"colon_name", [](Vault& v) { v.request("github", HttpMethod::Get, kUrl, {.path_params = kPath, .extra_headers = {{"X-A: b", "v"}}}); }},
        BadRequest{"empty_name", [](Vault& v) { v.request("github", HttpMethod::Get, kUrl, {.path_params = kPath, .extra_headers = {{"", "v"}}}); }},
        BadRequest{"missing_path_param", [](Vault& v) { v.request("github", HttpMethod::Get, kUrl, {.path_params = {{"owner", "o"}}}); }},
        BadRequest{"unknown_path_param", [](Vault& v) { v.request("github", HttpMethod::Get, kUrl, {.path_params = {{"owner", "o"}, {"repo", "r"}, {"x", "s3cret"}}}); }},
        BadRequest{"http_url", [](Vault& v) { v.request("github", HttpMethod::Get, "http://api.github.com/user"); }},
        BadRequest{"ftp_url", [](Vault& v) { v.request("github", HttpMethod::Get, "ftp://api.github.com/user"); }},
        BadRequest{"garbage_url", [](Vault& v) { v.request("github", HttpMethod::Get, "::not a url::"); }},
        BadRequest{"json_and_body", [](Vault& v) { v.request("github", HttpMethod::Post, "https://api.github.com/x", {.json = nlohmann::json::object(), .body = "x"}); }},
        BadRequest{"empty_provider", [](Vault& v) { v.request("", HttpMethod::Get, "https://api.github.com/x"); }},
        BadRequest{"bad_provider", [](Vault& v) { v.request("Git Hub/../x", HttpMethod::Get, "https://api.github.com/x"); }},
        BadRequest{"zero_timeout", [](Vault& v) { v.request("github", HttpMethod::Get, "https://api.github.com/x", {.timeout = 0ms}); }}),
    [](const ::testing::TestParamInfo<BadRequest>& param_info) { return param_info.param.name; });

TEST_F(Fixture, OptionsAreValidatedAtConstruction) {
  auto bad = [&](auto mutate) {
    auto o = options();
    mutate(o);
    EXPECT_THROW(make(o), AlterSDKError);
  };
  bad([](VaultOptions& o) { o.api_key = "sk_live_123"; });
  bad([](VaultOptions& o) { o.api_key = ""; });
  bad([](VaultOptions& o) { o.api_key = "alter_key_"; });
  bad([](VaultOptions& o) { o.api_key = "alter_key_a\r\nb"; });
  bad([](VaultOptions& o) { o.actor_type = "robot"; });
  bad([](VaultOptions& o) { o.actor_name = "a\nb"; });
  bad([](VaultOptions& o) { o.base_url = "not a url"; });
  bad([](VaultOptions& o) { o.base_url = "ftp://vault"; });
  bad([](VaultOptions& o) { o.timeout = 0ms; });
  auto o = options();
  o.actor_type = "mcp_server";
  EXPECT_NO_THROW(make(o));
  o.actor_type = "";
  EXPECT_NO_THROW(make(o));
}

TEST_F(Fixture, TheApiKeyIsNotInValidationMessages) {
  auto o = options();
  o.api_key = "sk_live_s3cret";
  try {
    make(o);
    FAIL();
  } catch (const AlterSDKError& e) {
    EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos);
  }
}

TEST_F(Fixture, BaseUrlDefaultsToTheEnvironmentThenLoopback) {
  auto o = options();
  o.base_url.clear();
  ::unsetenv("ALTER_VAULT_URL");
  EXPECT_EQ(make(o).base_url(), "http://127.0.0.1:8787");
  ::setenv("ALTER_VAULT_URL", "https://vault.example.com/", 1);
  EXPECT_EQ(make(o).base_url(), "https://vault.example.com");
  ::unsetenv("ALTER_VAULT_URL");
}

// ---- mapping of answers to exceptions ----

template <class E>
E expect_throw(Vault& v) {
  try {
    v.request("google", HttpMethod::Get, "https://www.googleapis.com/x", {.user = {{"user_id", "alice"}}});
  } catch (const E& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception: " << typeid(e).name() << " " << e.what();
    throw;
  }
  ADD_FAILURE() << "no exception";
  throw std::logic_error("unreachable");
}

TEST_F(Fixture, VaultAnswersMapToExceptions) {
  auto vault = make();
  auto answer = [&](int status, nlohmann::json body) {
    vault_tx->set_script([status, body](const HttpRequest&) { return FakeTransport::reply(status, body.dump()); });
  };
  answer(403, {{"error", "denied_by_rule"}, {"message", "Policy denied"}, {"details", {{"rule_id", "no-writes"}}}});
  auto p = expect_throw<PolicyViolationError>(vault);
  EXPECT_EQ(p.policy_error(), "denied_by_rule");
  EXPECT_EQ(p.message(), "Policy denied");
  EXPECT_EQ(p.details()["rule_id"], "no-writes");

  answer(403, {{"error", "approval_required"}, {"message", "ask"}, {"approval_id", "ap_1"}, {"approval_url", "http://v/approvals/ap_1"}});
  auto a = expect_throw<ApprovalRequiredError>(vault);
  EXPECT_EQ(a.approval_id(), "ap_1");
  EXPECT_EQ(a.approval_url(), "http://v/approvals/ap_1");

  answer(404, {{"error", "connection_not_found"}, {"message", "connect first"}});
  expect_throw<ConnectionNotFoundError>(vault);

  answer(400, {{"error", "token_expired"}, {"message", "reauth"}, {"connection_id", "conn-9"}});
  EXPECT_EQ(expect_throw<TokenExpiredError>(vault).connection_id(), "conn-9");
  answer(502, {{"error", "token_expired"}, {"message", "provider down"}, {"connection_id", "conn-9"}});
  EXPECT_EQ(expect_throw<TokenExpiredError>(vault).status(), 502);

  answer(401, {{"error", "invalid_api_key"}, {"message", "bad key"}});
  EXPECT_EQ(expect_throw<TokenRetrievalError>(vault).error_code(), "invalid_api_key");
  answer(409, {{"error", "ambiguous_connection"}, {"message", "2"}});
  EXPECT_EQ(expect_throw<TokenRetrievalError>(vault).error_code(), "ambiguous_connection");
  answer(400, {{"error", "invalid_request"}, {"message", "bad"}});
  EXPECT_EQ(expect_throw<TokenRetrievalError>(vault).status(), 400);
  answer(503, {{"error", "unavailable"}, {"message", "cannot audit"}});
  EXPECT_EQ(expect_throw<TokenRetrievalError>(vault).status(), 503);
  EXPECT_EQ(provider_tx->count(), 0u);  // no refused call reached a provider
}

TEST_F(Fixture, TransportFailuresMapToNetworkAndTimeout) {
  auto vault = make();
  vault_tx->set_script([](const HttpRequest&) { return FakeTransport::fail(TransportErrorKind::kConnect, "refused"); });
  expect_throw<NetworkError>(vault);
  vault_tx->set_script([](const HttpRequest&) { return FakeTransport::fail(TransportErrorKind::kTimeout); });
  expect_throw<TimeoutError>(vault);
  vault_tx->set_script([](const HttpRequest&) { return FakeTransport::reply(200, grant_body()); });
  provider_tx->set_script([](const HttpRequest&) { return FakeTransport::fail(TransportErrorKind::kTimeout); });
  expect_throw<TimeoutError>(vault);
  provider_tx->set_script([](const HttpRequest&) { return FakeTransport::fail(TransportErrorKind::kConnect); });
  auto n = expect_throw<NetworkError>(vault);
  EXPECT_EQ(std::string(n.what()).find(kToken), std::string::npos);
}

TEST_F(Fixture, ProviderErrorIsProviderAPIErrorAndStillAudited) {
  provider_tx->set_script([](const HttpRequest&) { return FakeTransport::reply(404, R"({"error":"not found"})"); });
  auto vault = make();
  auto e = expect_throw<ProviderAPIError>(vault);
  EXPECT_EQ(e.status_code(), 404);
  EXPECT_EQ(e.response_body(), R"({"error":"not found"})");
  EXPECT_EQ(std::string(e.what()).find(kToken), std::string::npos);
  EXPECT_EQ(e.details().dump().find(kToken), std::string::npos);
  vault.flush(1s);
  auto ev = nlohmann::json::parse(vault_calls_to("/oauth/audit/batch").at(0).body)["events"][0];
  EXPECT_EQ(ev["response_status"], 404);
}

TEST_F(Fixture, ResponseHoldsNoToken) {
  auto vault = make();
  auto r = vault.request("github", HttpMethod::Get, "https://api.github.com/user");
  EXPECT_EQ(r.text(), R"({"items":[1,2]})");
  EXPECT_EQ(r.json()["items"][1], 2);
  EXPECT_EQ(r.request_id(), "req-1");
  EXPECT_EQ(r.url(), "https://api.github.com/user");
  EXPECT_EQ(r.header("content-type").value_or(""), "application/json");
  for (const auto& [n, v] : r.headers()) EXPECT_EQ(v.find(kToken), std::string::npos);
  EXPECT_EQ(r.text().find(kToken), std::string::npos);
}

TEST_F(Fixture, NonJsonBodyMakesJsonThrow) {
  provider_tx->set_script([](const HttpRequest&) { return FakeTransport::reply(200, "<html/>"); });
  auto vault = make();
  auto r = vault.request("github", HttpMethod::Get, "https://api.github.com/user");
  EXPECT_THROW(r.json(), AlterSDKError);
}

TEST_F(Fixture, CloseIsIdempotentFlushesAndRefusesLaterRequests) {
  auto vault = make();
  vault.request("github", HttpMethod::Get, "https://api.github.com/user");
  EXPECT_FALSE(vault.closed());
  vault.close();
  EXPECT_TRUE(vault.closed());
  EXPECT_EQ(vault_calls_to("/oauth/audit/batch").size(), 1u);  // flushed on close
  EXPECT_NO_THROW(vault.close());
  const auto before = vault_tx->count();
  EXPECT_THROW(vault.request("github", HttpMethod::Get, "https://api.github.com/user"), AlterSDKError);
  EXPECT_THROW(vault.request_async("github", HttpMethod::Get, "https://api.github.com/user"), AlterSDKError);
  EXPECT_EQ(vault_tx->count(), before);
}

TEST_F(Fixture, RequestAsyncDeliversResultsAndExceptions) {
  auto vault = make();
  auto ok = vault.request_async(Provider::Google, HttpMethod::Get, "https://www.googleapis.com/x", {.user = {{"user_id", "alice"}}});
  EXPECT_EQ(ok.get().status_code(), 200);
  auto bad = vault.request_async(Provider::Google, HttpMethod::Get, "http://www.googleapis.com/x");
  EXPECT_THROW(bad.get(), AlterSDKError);
}

// The callback form (what event loops use): one call of `done`, with the response or the error.
struct Outcome {
  std::promise<void> reported;
  std::optional<Response> response;
  std::exception_ptr error;
  int calls = 0;
  ResponseCallback callback() {
    return [this](std::optional<Response> r, std::exception_ptr e) {
      response = std::move(r);
      error = std::move(e);
      if (++calls == 1) reported.set_value();
    };
  }
  void wait() { reported.get_future().wait(); }
};

TEST_F(Fixture, RequestAsyncWithACallbackReportsOnceWithTheResponseOrTheError) {
  auto vault = make();
  Outcome ok, bad, proxied;
  vault.request_async(Provider::Google, HttpMethod::Get, "https://www.googleapis.com/x", {.user = {{"user_id", "alice"}}},
                      ok.callback());
  vault.request_async(Provider::Google, HttpMethod::Get, "http://www.googleapis.com/x", {}, bad.callback());
  ok.wait();
  bad.wait();
  ASSERT_TRUE(ok.response);
  EXPECT_EQ(ok.response->status_code(), 200);
  EXPECT_FALSE(ok.error);
  EXPECT_FALSE(bad.response);
  EXPECT_THROW(std::rethrow_exception(bad.error), AlterSDKError);
  vault.close();
  EXPECT_EQ(ok.calls, 1);
  EXPECT_EQ(bad.calls, 1);
  // After close(): thrown at once, and the callback is not called.
  EXPECT_THROW(vault.proxy_request_async("github", HttpMethod::Get, "https://api.github.com/user", {}, proxied.callback()),
               AlterSDKError);
  EXPECT_EQ(proxied.calls, 0);
}

// A Vault with one SDK thread, held inside its first provider call until release(): what is
// submitted meanwhile waits in the queue.
struct HeldFirstCall {
  std::promise<void> gate;
  std::shared_future<void> opened = gate.get_future().share();
  std::atomic<int> provider_calls{0};
  void release() { gate.set_value(); }

  Vault make_vault(Fixture& f) {
    f.provider_tx->set_script([this](const HttpRequest&) {
      if (++provider_calls == 1) opened.wait();
      return FakeTransport::reply(200, R"({"items":[]})");
    });
    auto o = f.options();
    o.async_threads = 1;
    return f.make(o);
  }
};

TEST_F(Fixture, ACancelledRequestThatHasNotStartedIsNeverSent) {
  HeldFirstCall held;
  auto vault = held.make_vault(*this);
  Outcome first, second;
  vault.request_async("github", HttpMethod::Get, "https://api.github.com/a", {}, first.callback());
  AsyncRequest queued = vault.request_async("github", HttpMethod::Post, "https://api.github.com/b", {}, second.callback());
  queued.cancel();
  queued.cancel();  // idempotent
  held.release();
  first.wait();
  second.wait();
  vault.close();
  EXPECT_TRUE(first.response);
  EXPECT_FALSE(second.response);
  EXPECT_THROW(std::rethrow_exception(second.error), AlterSDKError);
  EXPECT_EQ(held.provider_calls.load(), 1);
  EXPECT_EQ(second.calls, 1);
}

TEST_F(Fixture, CloseWaitsForRequestsAcceptedBeforeIt) {
  // Requests queued behind a busy SDK thread were made before close(): they run, not fail.
  HeldFirstCall held;
  auto vault = held.make_vault(*this);
  Outcome first, second;
  vault.request_async("github", HttpMethod::Get, "https://api.github.com/a", {}, first.callback());
  vault.request_async("github", HttpMethod::Get, "https://api.github.com/b", {}, second.callback());
  auto queued_future = vault.request_async("github", HttpMethod::Get, "https://api.github.com/c");
  std::thread closer([&] { vault.close(); });
  while (!vault.closed()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_THROW(vault.request_async("github", HttpMethod::Get, "https://api.github.com/d"), AlterSDKError);
  held.release();
  closer.join();
  EXPECT_TRUE(first.response);
  EXPECT_TRUE(second.response);
  EXPECT_EQ(queued_future.get().status_code(), 200);
  EXPECT_EQ(held.provider_calls.load(), 3);
}

TEST_F(Fixture, TheLastReferenceToAVaultMayGoInsideItsOwnCallback) {
  // An event loop's callback may drop the Vault (Python's GC runs there): the Vault then closes on
  // the SDK's own thread, and its executor must not wait on itself.
  std::promise<void> reported;
  {
    auto vault = std::make_shared<Vault>(make());
    vault->request_async("github", HttpMethod::Get, "https://api.github.com/user", {},
                         [keep = vault, &reported](std::optional<Response>, std::exception_ptr) mutable {
                           keep.reset();
                           reported.set_value();
                         });
  }
  reported.get_future().wait();
  // Everything the Vault held is released once its destruction ends (a deadlock keeps it).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (vault_tx.use_count() > 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(vault_tx.use_count(), 1);
}

TEST_F(Fixture, ProviderIdFromEnumAndString) {
  EXPECT_EQ(ProviderId(Provider::Google).str(), "google");
  EXPECT_EQ(ProviderId("notion").str(), "notion");
  EXPECT_EQ(ProviderId(std::string("x")).str(), "x");
  EXPECT_EQ(to_string(Provider::Microsoft), "microsoft");
  EXPECT_EQ(to_string(Provider::Salesforce), "salesforce");
  EXPECT_EQ(to_string(Provider::Sentry), "sentry");
  EXPECT_EQ(to_string(Provider::Slack), "slack");
  EXPECT_EQ(to_string(Provider::Github), "github");
  EXPECT_EQ(to_string(HttpMethod::Patch), "PATCH");
  EXPECT_EQ(to_string(HttpMethod::Options), "OPTIONS");
}

TEST_F(Fixture, AllMethodsAreSentAsNamed) {
  auto vault = make();
  for (auto m : {HttpMethod::Get, HttpMethod::Post, HttpMethod::Put, HttpMethod::Patch, HttpMethod::Delete,
                 HttpMethod::Head, HttpMethod::Options}) {
    vault.request("github", m, "https://api.github.com/x");
  }
  auto sent = provider_tx->sent();
  ASSERT_EQ(sent.size(), 7u);
  EXPECT_EQ(sent[0].method, "GET");
  EXPECT_EQ(sent[3].method, "PATCH");
  EXPECT_EQ(sent[6].method, "OPTIONS");
}

}  // namespace
}  // namespace alter::internal

namespace alter::internal {
namespace {

using namespace std::chrono_literals;

// Approvals: the SDK waits (with an injected sleep that moves the fake clock) and proceeds.
struct ApprovalFixture : Fixture {
  std::vector<std::chrono::milliseconds> sleeps;
  std::vector<std::string> statuses;  // answered in turn to GET /oauth/approvals/{id}

  Vault make_waiting() {
    VaultDeps deps;
    deps.vault_transport = vault_tx;
    deps.provider_transport = provider_tx;
    deps.clock = &clock;
    deps.threaded_audit = false;
    deps.sleep = [this](std::chrono::milliseconds d) {
      sleeps.push_back(d);
      clock.advance(d);
    };
    vault_tx->set_script([this](const HttpRequest& r) {
      if (r.url.find("/oauth/approvals/ap_1") != std::string::npos) {
        const std::string s = statuses.empty() ? "pending" : statuses.front();
        if (!statuses.empty()) statuses.erase(statuses.begin());
        return FakeTransport::reply(200, nlohmann::json{{"id", "ap_1"}, {"status", s}}.dump());
      }
      if (r.url.find("/oauth/token") != std::string::npos) {
        if (nlohmann::json::parse(r.body).value("approval_id", "") == "ap_1") return FakeTransport::reply(200, grant_body());
        return FakeTransport::reply(403, R"({"error":"approval_required","message":"ask","approval_id":"ap_1","approval_url":"http://v/approvals/ap_1"})");
      }
      return FakeTransport::reply(202, "{}");
    });
    return VaultAccess::make(options(), deps);
  }
};

TEST_F(ApprovalFixture, WithoutWaitingRaisesAtOnce) {
  auto vault = make_waiting();
  try {
    vault.request("github", HttpMethod::Post, "https://api.github.com/x");
    FAIL();
  } catch (const ApprovalRequiredError& e) {
    EXPECT_EQ(e.approval_id(), "ap_1");
    EXPECT_EQ(e.approval_url(), "http://v/approvals/ap_1");
  }
  EXPECT_TRUE(sleeps.empty());
}

TEST_F(ApprovalFixture, WaitsWithBackoffThenProceedsWithTheApproval) {
  statuses = {"pending", "pending", "pending", "approved"};
  auto vault = make_waiting();
  auto r = vault.request("github", HttpMethod::Post, "https://api.github.com/x", {.wait_for_approval = 60s});
  EXPECT_EQ(r.status_code(), 200);
  ASSERT_EQ(sleeps.size(), 4u);
  EXPECT_EQ(sleeps[0], 250ms);
  EXPECT_LT(sleeps[0], sleeps[1]);
  EXPECT_LT(sleeps[1], sleeps[2]);
  auto tokens = vault_calls_to("/oauth/token");
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(tokens[1].body)["approval_id"], "ap_1");
  EXPECT_EQ(provider_tx->count(), 1u);
}

TEST_F(ApprovalFixture, DeniedOrExpiredIsAPolicyViolation) {
  for (const char* outcome : {"denied", "expired"}) {
    statuses = {"pending", outcome};
    auto vault = make_waiting();
    try {
      vault.request("github", HttpMethod::Post, "https://api.github.com/x", {.wait_for_approval = 60s});
      FAIL() << outcome;
    } catch (const PolicyViolationError& e) {
      EXPECT_EQ(e.policy_error(), std::string("approval_") + outcome);
    }
    EXPECT_EQ(provider_tx->count(), 0u);
  }
}

TEST_F(ApprovalFixture, StillPendingAtTheDeadlineRaisesApprovalRequired) {
  auto vault = make_waiting();
  EXPECT_THROW(vault.request("github", HttpMethod::Post, "https://api.github.com/x", {.wait_for_approval = 2s}),
               ApprovalRequiredError);
  std::chrono::milliseconds waited{0};
  for (auto d : sleeps) waited += d;
  EXPECT_EQ(waited, 2s);  // never longer than asked
}

TEST_F(Fixture, TokenHeaderFromTheVaultReplacesAuthorization) {
  vault_tx->set_script([](const HttpRequest& r) {
    if (r.url.find("/oauth/token") != std::string::npos) {
      auto g = nlohmann::json::parse(grant_body());
      g["token_header"] = "X-Shopify-Access-Token";
      return FakeTransport::reply(200, g.dump());
    }
    return FakeTransport::reply(202, "{}");
  });
  auto vault = make();
  vault.request("shopify", HttpMethod::Get, "https://acme.myshopify.com/admin/api/2024-01/shop.json",
                {.extra_headers = {{"x-shopify-access-token", "user-supplied"}}});
  auto p = provider_tx->sent().at(0);
  EXPECT_EQ(header_of(p, "X-Shopify-Access-Token"), kToken);
  EXPECT_FALSE(has_header(p, "Authorization"));
  int count = 0;
  for (const auto& [n, v] : p.headers) count += common::iequals(n, "x-shopify-access-token") ? 1 : 0;
  EXPECT_EQ(count, 1);
}

}  // namespace
}  // namespace alter::internal
