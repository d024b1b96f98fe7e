// Several vault instances on one PostgreSQL database act as one vault (issue: PostgreSQL store).
// Two real alter-vault processes, a real PostgreSQL from Debian's packages on a free port, the
// fake OAuth provider.
#include <alter/alter.hpp>
#include <alter/testing/fake_oauth_provider.hpp>
#include <alter/testing/postgres_server.hpp>
#include <alter/testing/server_process.hpp>
#include <alter/testing/temp_dir.hpp>
#include <gtest/gtest.h>
#include <openssl/rand.h>
#include <signal.h>

#include <atomic>
#include <latch>
#include <mutex>
#include <set>
#include <thread>

namespace alter::testing {
namespace {

using namespace std::chrono_literals;

std::string random_master_key() {
  unsigned char key[32];
  RAND_bytes(key, sizeof key);
  std::string out(45, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), key, sizeof key);
  out.resize(static_cast<std::size_t>(n));
  return out;
}

const char* kPolicy = R"(
version = 1
[[rules]]
id = "fake-read"
effect = "allow"
providers = ["fake"]
methods = ["GET"]
)";

class MultiInstance : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_.start();
    const std::string db_url = pg_.create_database("vault");
    const std::map<std::string, std::string> env = {{"ALTER_VAULT_DATABASE", db_url},
                                                    {"ALTER_VAULT_MASTER_KEY", random_master_key()},
                                                    {"ALTER_VAULT_DEV_MODE", "true"}};
    a_ = std::make_unique<ServerProcess>(ALTER_VAULT_BINARY, dir_.path() / "a", env);
    b_ = std::make_unique<ServerProcess>(ALTER_VAULT_BINARY, dir_.path() / "b", env);
    a_->init();  // one init for the shared database
    b_->set_admin_token(a_->admin_token());
    a_->start();
    b_->start();
    ha_ = std::make_unique<HttpClient>(a_->url());
    hb_ = std::make_unique<HttpClient>(b_->url());
    ASSERT_EQ(admin(*ha_, "POST", "/v1/admin/providers", fake_.definition("fake")).status, 201);
    // These tests drive the token handout (POST /oauth/token), off for a new app since the proxy.
    ASSERT_EQ(admin(*ha_, "PATCH", "/v1/admin/apps/default", {{"settings", {{"token_handout", true}}}}).status, 200);
    ASSERT_EQ(admin(*ha_, "PUT", "/v1/admin/apps/default/providers/fake",
                    {{"client_id", "fake-client"}, {"client_secret", "fake-secret-123"}}).status, 200);
    auto key = admin(*ha_, "POST", "/v1/admin/apps/default/keys", {{"name", "t"}});
    ASSERT_EQ(key.status, 201);
    key_ = key.json["key"];
    apply(kPolicy);
  }

  void TearDown() override {
    for (auto* s : {a_.get(), b_.get()}) {
      if (s && s->running()) {
        EXPECT_EQ(s->stop(), 0) << s->stderr_text();
      }
    }
  }

  HttpAnswer admin(const HttpClient& h, const std::string& method, const std::string& path, const nlohmann::json& body = nullptr) {
    return h.admin(method, path, a_->admin_token(), body);
  }
  void apply(const std::string& doc) {
    ASSERT_EQ(admin(*ha_, "PUT", "/v1/admin/apps/default/policy", {{"document", doc}, {"format", "toml"}}).status, 201);
  }
  std::string import(const std::string& user, long expires_in = 3600) {
    auto g = fake_.grant(user);
    auto a = admin(*ha_, "POST", "/v1/admin/apps/default/connections",
                   {{"provider_id", "fake"}, {"attributes", {{"user_id", user}}}, {"access_token", g["access_token"]},
                    {"refresh_token", g["refresh_token"]}, {"expires_in", expires_in}});
    EXPECT_EQ(a.status, 201) << a.body;
    return a.json.value("id", "");
  }
  HttpAnswer token(const HttpClient& h, const std::string& user, const std::string& method = "GET",
                   const std::string& key = "") {
    return h.send("POST", "/oauth/token",
                  nlohmann::json{{"provider_id", "fake"}, {"attributes", {{"user_id", user}}}, {"method", method},
                                 {"url", fake_.base_url() + "/api/me"}}.dump(),
                  {{"x-api-key", key.empty() ? key_ : key}, {"Content-Type", "application/json"},
                   {"x-alter-actor-type", "ai_agent"}, {"x-alter-actor-id", "agent"}});
  }

  PostgresServer pg_;
  TempDir dir_;
  FakeOAuthProvider fake_;
  std::unique_ptr<ServerProcess> a_, b_;
  std::unique_ptr<HttpClient> ha_, hb_;
  std::string key_;
};

TEST_F(MultiInstance, ChangesThroughOneAreSeenByTheNextRequestOnTheOther) {
  import("alice");
  EXPECT_EQ(token(*hb_, "alice").status, 200);
  EXPECT_EQ(token(*hb_, "alice", "POST").status, 403);
  // A policy applied through A governs B's next request.
  apply(std::string(kPolicy) + "\n[[rules]]\nid = \"writes\"\neffect = \"allow\"\nproviders = [\"fake\"]\nmethods = [\"POST\"]\n");
  EXPECT_EQ(token(*hb_, "alice", "POST").status, 200);
  // A connection deleted through A is gone for B (which had it cached).
  const std::string id = admin(*ha_, "GET", "/v1/admin/apps/default/connections").json["connections"][0]["id"];
  ASSERT_EQ(admin(*ha_, "DELETE", "/v1/admin/connections/" + id).status, 200);
  EXPECT_EQ(token(*hb_, "alice").status, 404);
  // A connection created through A is there for B.
  import("bob");
  EXPECT_EQ(token(*hb_, "bob").status, 200);
  // A key revoked through A stops working on B at once.
  const std::string other = admin(*ha_, "POST", "/v1/admin/apps/default/keys", {{"name", "other"}}).json["key"];
  EXPECT_EQ(token(*hb_, "bob", "GET", other).status, 200);
  std::string other_id;
  const auto keys = admin(*ha_, "GET", "/v1/admin/apps/default/keys");
  for (const auto& k : keys.json["keys"]) {
    if (k["name"] == "other") other_id = k["id"];
  }
  ASSERT_FALSE(other_id.empty()) << admin(*ha_, "GET", "/v1/admin/apps/default/keys").body;
  ASSERT_EQ(admin(*ha_, "POST", "/v1/admin/keys/" + other_id + "/revoke").status, 200);
  EXPECT_EQ(token(*hb_, "bob", "GET", other).status, 401);
  // A custom provider added through A exists on B.
  auto extra = fake_.definition("fake2");
  ASSERT_EQ(admin(*ha_, "POST", "/v1/admin/providers", extra).status, 201);
  auto ids = hb_->send("GET", "/oauth/providers/ids", "", {{"x-api-key", key_}}).json["provider_ids"];
  EXPECT_NE(std::find(ids.begin(), ids.end(), "fake2"), ids.end());
}

TEST_F(MultiInstance, ExactlyOneRefreshAcrossInstances) {
  import("stampede", /*expires_in=*/-10);
  fake_.hold_token_calls(true);
  constexpr int kRequests = 200;
  std::latch start(kRequests);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kRequests; ++i) {
    threads.emplace_back([&, i] {
      const HttpClient& h = i % 2 == 0 ? *ha_ : *hb_;  // split between the two instances
      start.arrive_and_wait();
      if (token(h, "stampede").status == 200) ++ok;
    });
  }
  ASSERT_TRUE(fake_.wait_for_token_calls(1, 30s));
  fake_.release();
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kRequests);
  EXPECT_EQ(fake_.refresh_calls(), 1);
}

TEST_F(MultiInstance, RateLimitsCountAcrossInstances) {
  apply(R"(
version = 1
[[rules]]
id = "limited"
effect = "allow"
providers = ["fake"]
methods = ["GET"]
[rules.conditions]
rate_limit = { count = 10, per_period = "hour" }
)");
  import("alice");
  int allowed = 0, limited = 0;
  for (int i = 0; i < 12; ++i) {
    auto r = token(i % 2 == 0 ? *ha_ : *hb_, "alice");
    if (r.status == 200) ++allowed;
    if (r.status == 403 && r.json["error"] == "rate_limited") ++limited;
  }
  EXPECT_EQ(allowed, 10);
  EXPECT_EQ(limited, 2);
}

TEST_F(MultiInstance, AuditChainStaysValidWithConcurrentWriters) {
  for (int u = 0; u < 8; ++u) import("u" + std::to_string(u));
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        if (token(t % 2 == 0 ? *ha_ : *hb_, "u" + std::to_string(t)).status == 200) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 200);
  auto verify = admin(*hb_, "GET", "/v1/admin/audit/verify");
  EXPECT_TRUE(verify.json["ok"].get<bool>()) << verify.body;
  auto issued = admin(*ha_, "GET", "/v1/admin/audit?decision=issued&limit=1000").json["events"];
  EXPECT_EQ(issued.size(), 200u);
}

TEST_F(MultiInstance, KillingOneInstanceUnderLoadLosesNoAnsweredRequest) {
  std::vector<std::string> users;
  for (int u = 0; u < 8; ++u) {
    users.push_back("k" + std::to_string(u));
    import(users.back(), /*expires_in=*/u % 2 == 0 ? -10 : 3600);  // half need a refresh under load
  }
  std::mutex mu;
  std::vector<std::string> answered;  // request ids of every 200 answer
  std::atomic<bool> stop{false};
  std::atomic<int> on_a{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 6; ++t) {
    load.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        const bool to_a = (t + i) % 2 == 0;
        auto r = token(to_a ? *ha_ : *hb_, users[static_cast<std::size_t>((t + i) % 8)]);
        if (r.status == 200) {
          std::lock_guard lock(mu);
          answered.push_back(r.json["request_id"]);
          if (to_a) ++on_a;
        }
      }
    });
  }
  while (on_a.load() < 50) std::this_thread::yield();  // A is busy answering: kill it mid-flight
  a_->kill();
  for (int i = 0; i < 100; ++i) (void)token(*hb_, users[static_cast<std::size_t>(i % 8)]);
  stop = true;
  for (auto& t : load) t.join();
  ASSERT_GT(answered.size(), 50u);
  // Every answered request has its decision in the audit trail, and the chain is intact.
  std::set<std::string> audited;
  for (std::int64_t after = 0;;) {
    auto page = admin(*hb_, "GET", "/v1/admin/audit?kind=token&decision=issued&limit=5000&after_seq=" + std::to_string(after));
    for (const auto& e : page.json["events"]) audited.insert(e["request_id"].get<std::string>());
    if (!page.json.contains("next_after_seq")) break;
    after = page.json["next_after_seq"];
  }
  for (const auto& id : answered) EXPECT_TRUE(audited.count(id)) << "answered request " << id << " has no audit row";
  EXPECT_TRUE(admin(*hb_, "GET", "/v1/admin/audit/verify").json["ok"].get<bool>());
  // No connection was left half updated: every one still hands out a token the provider accepts.
  for (const auto& u : users) {
    auto r = token(*hb_, u);
    ASSERT_EQ(r.status, 200) << u << ": " << r.body;
    EXPECT_TRUE(fake_.access_token_valid(r.json["access_token"])) << u;
  }
}

TEST_F(MultiInstance, DatabaseOutageFailsFastAndRecovers) {
  import("alice");
  EXPECT_EQ(token(*ha_, "alice").status, 200);
  pg_.kill_immediately();
  const auto started = std::chrono::steady_clock::now();
  auto down = token(*ha_, "alice");
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(down.status, 503) << down.body;
  EXPECT_EQ(down.json["error"], "unavailable");
  EXPECT_LT(took, 10s);
  EXPECT_FALSE(down.json.contains("access_token"));
  EXPECT_EQ(ha_->send("GET", "/readyz").status, 503);
  pg_.start();
  // Recovers by itself: each answer is the event we wait for.
  int status = 0;
  for (int i = 0; i < 200 && status != 200; ++i) status = token(*ha_, "alice").status;
  EXPECT_EQ(status, 200);
  EXPECT_EQ(token(*hb_, "alice").status, 200);
  EXPECT_EQ(ha_->send("GET", "/readyz").status, 200);
}

}  // namespace
}  // namespace alter::testing
