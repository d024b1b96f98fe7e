// The SDK over libcurl against a real HTTP server on 127.0.0.1 and a free port, playing both the
// vault and the provider. Checks the exact requests on the wire.
#include <alter/alter.hpp>
#include <alter/testing/http_test_server.hpp>
#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <set>
#include <thread>

namespace alter {
namespace {

using namespace std::chrono_literals;
using testing::CannedResponse;
using testing::HttpTestServer;
using testing::RecordedRequest;

constexpr const char* kKey = "alter_key_integration_0123456789";
constexpr const char* kToken = "gho_PROVIDER-TOKEN-abcdefghijklmnopqrstuvwxyz0123";

class Integration : public ::testing::Test {
 protected:
  Integration()
      : server_([this](const RecordedRequest& r) { return handle(r); }) {}

  virtual CannedResponse handle(const RecordedRequest& r) {
    if (r.target == "/oauth/token") {
      const auto n = ++tokens_;
      return CannedResponse::json(200, nlohmann::json{{"access_token", kToken},
                                                       {"token_type", "Bearer"},
                                                       {"expires_in", 3600},
                                                       {"connection_id", "conn-1"},
                                                       {"request_id", "req-" + std::to_string(n)}}
                                           .dump());
    }
    if (r.target == "/oauth/audit/batch") return CannedResponse::json(202, R"({"accepted":true})");
    if (r.target.rfind("/api/hold", 0) == 0) {
      CannedResponse c = CannedResponse::json(200, "{}");
      c.hold = true;
      return c;
    }
    if (r.target.rfind("/api/", 0) == 0) {
      return CannedResponse::json(200, nlohmann::json{{"path", r.target}, {"method", r.method}}.dump());
    }
    return CannedResponse::json(404, R"({"error":"not_found"})");
  }

  VaultOptions options() {
    VaultOptions o;
    o.api_key = kKey;
    o.base_url = server_.base_url();
    o.actor_type = "ai_agent";
    o.actor_identifier = "integration-agent";
    o.timeout = 10s;
    return o;
  }
  std::string api(const std::string& path) { return server_.base_url() + "/api" + path; }

  std::atomic<int> tokens_{0};
  HttpTestServer server_;
};

TEST_F(Integration, KeyAndTokenStayOnTheirSides) {
  Vault vault(options());
  auto r = vault.request(Provider::Github, HttpMethod::Get, api("/user/{name}"),
                         {.user = {{"user_id", "alice"}}, .path_params = {{"name", "a b/c"}}, .reason = "check"});
  EXPECT_EQ(r.status_code(), 200);
  EXPECT_EQ(r.json()["path"], "/api/user/a%20b%2Fc");
  vault.close();

  auto all = server_.requests();
  std::set<int> vault_connections, provider_connections;
  int provider_calls = 0;
  for (const auto& req : all) {
    const bool to_vault = req.target.rfind("/oauth/", 0) == 0;
    (to_vault ? vault_connections : provider_connections).insert(req.connection);
    if (to_vault) {
      EXPECT_EQ(req.header("x-api-key"), kKey);
      EXPECT_EQ(req.header("x-alter-actor-type"), "ai_agent");
      EXPECT_EQ(req.header("x-alter-actor-id"), "integration-agent");
      EXPECT_EQ(req.header("user-agent").rfind("alter-sdk-cpp/", 0), 0u);
      EXPECT_FALSE(req.has_header("authorization"));
      EXPECT_EQ(req.body.find(kToken), std::string::npos) << "the provider token reached the vault";
    } else {
      ++provider_calls;
      EXPECT_EQ(req.header("authorization"), std::string("Bearer ") + kToken);
      EXPECT_FALSE(req.has_header("x-api-key"));
      for (const auto& [n, v] : req.headers) EXPECT_EQ(v.find(kKey), std::string::npos) << n;
    }
  }
  EXPECT_EQ(provider_calls, 1);
  // The vault's connections never carried a provider call, and the other way round.
  for (int c : vault_connections) EXPECT_EQ(provider_connections.count(c), 0u);
  auto batches = server_.requests_to("/oauth/audit/batch");
  ASSERT_EQ(batches.size(), 1u);
  auto events = nlohmann::json::parse(batches[0].body)["events"];
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["request_id"], r.request_id());
  EXPECT_EQ(events[0]["reason"], "check");
}

TEST_F(Integration, ConnectionsAreKeptAlive) {
  Vault vault(options());
  for (int i = 0; i < 20; ++i) {
    vault.request("github", HttpMethod::Get, api("/x"), {.user = {{"user_id", "alice"}}});
  }
  // One connection to the vault and one to the provider, reused for all 20 calls.
  EXPECT_EQ(server_.connections_accepted(), 2);
  vault.close();
  EXPECT_LE(server_.connections_accepted(), 3);  // the audit batch reuses the vault connection or opens one
}

TEST_F(Integration, HundredRequestsFromEightThreads) {
  Vault vault(options());
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < 100; i += 8) {
        auto r = vault.request("github", HttpMethod::Post, api("/items/{id}"),
                               {.user = {{"user_id", "u" + std::to_string(i)}},
                                .path_params = {{"id", std::to_string(i)}},
                                .json = nlohmann::json{{"i", i}}});
        if (r.status_code() == 200 && r.json()["path"] == "/api/items/" + std::to_string(i)) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 100);
  EXPECT_TRUE(vault.flush(10s));
  vault.close();
  std::size_t audited = 0;
  std::set<std::string> request_ids;
  for (const auto& b : server_.requests_to("/oauth/audit/batch")) {
    const auto batch = nlohmann::json::parse(b.body);
    for (const auto& e : batch["events"]) {
      ++audited;
      request_ids.insert(e["request_id"].get<std::string>());
    }
  }
  EXPECT_EQ(audited, 100u);
  EXPECT_EQ(request_ids.size(), 100u);
  EXPECT_EQ(vault.audit_stats().sent, 100u);
  EXPECT_EQ(server_.requests_to("/oauth/token").size(), 100u);
}

TEST_F(Integration, ProviderTimeoutIsTimeoutError) {
  Vault vault(options());
  EXPECT_THROW(vault.request("github", HttpMethod::Get, api("/hold"), {.timeout = 300ms}), TimeoutError);
  server_.release_held();
}

TEST_F(Integration, VaultTimeoutIsTimeoutError) {
  server_.set_handler([](const RecordedRequest&) {
    CannedResponse c = CannedResponse::json(200, "{}");
    c.hold = true;
    return c;
  });
  auto o = options();
  o.timeout = 300ms;
  o.audit.close_timeout = 300ms;
  Vault vault(o);
  EXPECT_THROW(vault.request("github", HttpMethod::Get, api("/x")), TimeoutError);
  server_.release_held();
}

std::uint16_t closed_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();  // closed when `a` goes away: nothing listens there
}

TEST_F(Integration, UnreachableVaultIsNetworkError) {
  auto o = options();
  o.base_url = "http://127.0.0.1:" + std::to_string(closed_port());
  Vault vault(o);
  try {
    vault.request("github", HttpMethod::Get, api("/x"));
    FAIL();
  } catch (const TimeoutError&) {
    FAIL() << "a refused connection is not a timeout";
  } catch (const NetworkError& e) {
    EXPECT_EQ(std::string(e.what()).find(kKey), std::string::npos);
  }
  EXPECT_EQ(server_.requests().size(), 0u);
}

TEST_F(Integration, UnreachableProviderIsNetworkErrorAndAudited) {
  Vault vault(options());
  const std::string url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/x";
  EXPECT_THROW(vault.request("github", HttpMethod::Get, url), NetworkError);
  vault.close();
  auto batches = server_.requests_to("/oauth/audit/batch");
  ASSERT_EQ(batches.size(), 1u);
  auto e = nlohmann::json::parse(batches[0].body)["events"][0];
  EXPECT_EQ(e["response_status"], 0);
  EXPECT_TRUE(e.contains("error"));
}

TEST_F(Integration, ProviderErrorStatusIsProviderAPIError) {
  Vault vault(options());
  try {
    vault.request("github", HttpMethod::Get, server_.base_url() + "/missing");
    FAIL();
  } catch (const ProviderAPIError& e) {
    EXPECT_EQ(e.status_code(), 404);
    EXPECT_EQ(e.response_body(), R"({"error":"not_found"})");
  }
}

TEST_F(Integration, SlowAuditNeverSlowsRequests) {
  // The audit endpoint holds every batch until released; request() must not wait for it.
  server_.set_handler([this](const RecordedRequest& r) {
    if (r.target == "/oauth/audit/batch") {
      CannedResponse c = CannedResponse::json(202, "{}");
      c.hold = true;
      return c;
    }
    return handle(r);
  });
  auto o = options();
  o.audit.max_batch_events = 1;  // send each event at once, so a batch is held while we go on
  o.audit.close_timeout = 500ms;
  Vault vault(o);
  vault.request("github", HttpMethod::Get, api("/a"));
  ASSERT_TRUE(server_.wait_for_requests(3, 10s));  // token, provider, audit batch (held)
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(vault.request("github", HttpMethod::Get, api("/b")).status_code(), 200);
  }
  EXPECT_EQ(server_.requests_to("/api/b").size(), 10u);
  vault.close();  // bounded by close_timeout; what is left is counted
  auto st = vault.audit_stats();
  EXPECT_EQ(st.sent, 0u);
  EXPECT_EQ(st.dropped_on_close + st.dropped_queue_full, 11u);
  server_.release_held();
}

TEST_F(Integration, CloseFlushesAndLaterRequestsThrow) {
  auto o = options();
  o.audit.max_batch_delay = std::chrono::hours(1);
  Vault vault(o);
  vault.request("github", HttpMethod::Get, api("/a"));
  vault.request("github", HttpMethod::Get, api("/b"));
  EXPECT_TRUE(server_.requests_to("/oauth/audit/batch").empty());
  vault.close();
  auto batches = server_.requests_to("/oauth/audit/batch");
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(batches[0].body)["events"].size(), 2u);
  vault.close();
  EXPECT_THROW(vault.request("github", HttpMethod::Get, api("/c")), AlterSDKError);
  EXPECT_TRUE(server_.requests_to("/api/c").empty());
}

TEST_F(Integration, DestructorCloses) {
  {
    auto o = options();
    o.audit.max_batch_delay = std::chrono::hours(1);
    Vault vault(o);
    vault.request("github", HttpMethod::Get, api("/a"));
  }
  EXPECT_EQ(server_.requests_to("/oauth/audit/batch").size(), 1u);
}

TEST_F(Integration, DeadVaultForAuditBoundsClose) {
  auto o = options();
  o.audit.close_timeout = 300ms;
  o.audit.max_batch_delay = std::chrono::hours(1);
  Vault vault(o);
  vault.request("github", HttpMethod::Get, api("/a"));
  server_.set_handler([](const RecordedRequest&) { return CannedResponse::json(503, R"({"error":"unavailable"})"); });
  vault.close();
  auto st = vault.audit_stats();
  EXPECT_EQ(st.sent, 0u);
  EXPECT_EQ(st.dropped_on_close, 1u);
  EXPECT_GE(st.retries, 1u);
}

TEST_F(Integration, RequestAsyncRunsConcurrently) {
  Vault vault(options());
  std::vector<std::future<Response>> futures;
  for (int i = 0; i < 16; ++i) {
    futures.push_back(vault.request_async(Provider::Slack, HttpMethod::Get, api("/async/{i}"),
                                          {.path_params = {{"i", std::to_string(i)}}}));
  }
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(futures[i].get().json()["path"], "/api/async/" + std::to_string(i));
  }
  auto failing = vault.request_async("slack", HttpMethod::Get, server_.base_url() + "/missing");
  EXPECT_THROW(failing.get(), ProviderAPIError);
}

TEST_F(Integration, QueryAndHeadersOnTheWire) {
  Vault vault(options());
  vault.request("notion", HttpMethod::Post, api("/databases/{db_id}/query?existing=1"),
                {.user = {{"user_id", "alice"}},
                 .path_params = {{"db_id", "abc123"}},
                 .query_params = {{"q", "a b&c"}},
                 .extra_headers = {{"Notion-Version", "2022-06-28"}},
                 .json = nlohmann::json{{"page_size", 10}}});
  auto calls = server_.requests_to("/api/databases");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].target, "/api/databases/abc123/query?existing=1&q=a%20b%26c");
  EXPECT_EQ(calls[0].header("notion-version"), "2022-06-28");
  EXPECT_EQ(calls[0].header("content-type"), "application/json");
  EXPECT_EQ(nlohmann::json::parse(calls[0].body)["page_size"], 10);
  EXPECT_FALSE(calls[0].has_header("expect"));
}

}  // namespace
}  // namespace alter
