// The token manager against the fake OAuth provider, with the vault's clock injected: expiry is
// driven by advancing the clock, never by sleeping.
#include "vault/token_manager.hpp"

#include <alter/testing/fake_oauth_provider.hpp>
#include <alter/testing/temp_dir.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <latch>
#include <map>
#include <mutex>
#include <thread>

#include "curl_transport.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace alter::server::vault {

using oauth::parse_provider;
namespace {

using namespace std::chrono_literals;

class TokenManagerTest : public ::testing::Test {
 protected:
  void setup(testing::FakeOAuthProvider::Options fake_options, std::string refresh_mode = "") {
    fake_ = std::make_unique<testing::FakeOAuthProvider>(fake_options);
    auto s = open_sqlite_store(dir_.path() / "vault.db");
    ASSERT_TRUE(s.ok());
    store_ = std::move(s.value());
    ASSERT_TRUE(store_->migrate().ok());
    master_ = std::make_unique<crypto::MasterKey>(crypto::MasterKey::random());
    std::vector<KeyringEntry> entries{crypto::Keyring::make_entry(1, *master_, clock_.wall())};
    keyring_ = crypto::Keyring::open(entries, *master_).value();
    sealed_ = std::make_unique<sealed::SealedStore>(keyring_, *master_);
    writer_ = std::make_unique<audit::AuditWriter>(*store_, metrics_, 64);
    audit_log_ = std::make_unique<audit::AuditLog>(*store_, *writer_, clock_, metrics_, log_);
    auto def = fake_->definition("fake");
    if (!refresh_mode.empty()) def["refresh"] = refresh_mode;
    provider_ = parse_provider(def).value();
    ASSERT_TRUE(store_->create_app({"default", "Default", {}, clock_.wall()}).ok());
    ProviderCredential cred;
    cred.app_id = "default";
    cred.provider_id = "fake";
    cred.client_id = "fake-client";
    cred.client_secret = sealed_->seal_client_secret("default", "fake", "fake-secret-123");
    ASSERT_TRUE(store_->put_provider_credential(cred).ok());
    client_ = std::make_unique<OAuthClient>(alter::internal::make_curl_transport({}), clock_, 5s, /*dev_mode=*/true);
    manager_ = std::make_unique<TokenManager>(*store_, *sealed_, *client_, *audit_log_, metrics_, log_, clock_,
                                              TokenManagerOptions{60s, 3, 0ms, 5s, 600s});
  }

  Connection connect(const std::string& user, bool with_refresh = true, std::optional<std::chrono::seconds> life = 3600s) {
    auto g = fake_->grant(user);
    Connection c;
    c.app_id = "default";
    c.provider_id = "fake";
    c.attributes = {{"user_id", user}};
    c.expires_at = life ? std::optional<TimePoint>(clock_.wall() + *life) : std::nullopt;
    c.created_at = c.updated_at = clock_.wall();
    c.tokens = sealed_->seal_tokens(c, g["access_token"].get<std::string>(),
                                    with_refresh ? g["refresh_token"].get<std::string>() : "", "");
    return store_->upsert_connection(c).value();
  }

  testing::TempDir dir_;
  common::FakeClock clock_;
  Metrics metrics_;
  Logger log_{LogLevel::kError};
  std::unique_ptr<testing::FakeOAuthProvider> fake_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<crypto::MasterKey> master_;
  std::shared_ptr<crypto::Keyring> keyring_;
  ProviderDef provider_;
  std::unique_ptr<sealed::SealedStore> sealed_;
  std::unique_ptr<audit::AuditWriter> writer_;
  std::unique_ptr<audit::AuditLog> audit_log_;
  std::unique_ptr<OAuthClient> client_;
  std::unique_ptr<TokenManager> manager_;

  std::vector<std::string> decisions(const std::string& kind) {
    AuditFilter f;
    f.kind = kind;
    std::vector<std::string> out;
    const auto rows = store_->query_audit(f);
    for (const auto& r : rows.value()) out.push_back(r.decision);
    return out;
  }
};

TEST_F(TokenManagerTest, FreshTokenIsHandedOutWithoutRefresh) {
  setup({});
  auto c = connect("alice");
  auto t = manager_->token_for(c, provider_);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_TRUE(fake_->access_token_valid(std::string(t->access_token.reveal())));
  EXPECT_FALSE(t->refreshed);
  EXPECT_EQ(fake_->refresh_calls(), 0);
}

TEST_F(TokenManagerTest, RefreshesWithinTheSkewBeforeExpiry) {
  setup({});
  auto c = connect("alice");
  clock_.advance(3600s - 59s);  // inside the 60 s skew
  auto t = manager_->token_for(c, provider_);
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->refreshed);
  EXPECT_EQ(fake_->refresh_calls(), 1);
  EXPECT_EQ(*t->connection.expires_at, clock_.wall() + 3600s);
}

TEST_F(TokenManagerTest, TwoHundredConcurrentRequestsCauseExactlyOneRefresh) {
  setup({});
  auto stale = connect("alice");
  clock_.advance(2h);  // expired
  fake_->hold_token_calls(true);
  constexpr int kRequests = 200;
  std::latch start(kRequests);
  std::vector<std::thread> threads;
  std::vector<std::string> tokens(kRequests);
  std::atomic<int> ok{0};
  for (int i = 0; i < kRequests; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      auto t = manager_->token_for(stale, provider_);  // every caller holds the expired snapshot
      if (t) {
        ++ok;
        tokens[i] = std::string(t->access_token.reveal());
      }
    });
  }
  ASSERT_TRUE(fake_->wait_for_token_calls(1, 10s));
  fake_->release();
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kRequests);
  EXPECT_EQ(fake_->refresh_calls(), 1);
  for (const auto& t : tokens) EXPECT_EQ(t, tokens[0]);
  EXPECT_TRUE(fake_->access_token_valid(tokens[0]));
}

TEST_F(TokenManagerTest, RotatedRefreshTokenIsSavedAndUsedNext) {
  setup({.rotate_refresh_tokens = true});
  auto c = connect("alice");
  for (int round = 1; round <= 3; ++round) {
    clock_.advance(2h);
    auto current = store_->get_connection(c.id).value();
    auto t = manager_->token_for(current, provider_);
    ASSERT_TRUE(t.ok()) << "round " << round << ": " << t.error().message;
    EXPECT_EQ(fake_->refresh_calls(), round);
    auto stored = sealed_->open_tokens(store_->get_connection(c.id).value()).value();
    EXPECT_NE(stored.refresh_token.reveal().find("fake-rt-"), std::string::npos);
  }
  // Each round used the newest refresh token: reusing an old one would have killed the grant.
  EXPECT_EQ(store_->get_connection(c.id)->status, ConnectionStatus::kActive);
}

TEST_F(TokenManagerTest, InvalidGrantMarksReauthRequired) {
  setup({});
  auto c = connect("alice");
  fake_->set_invalid_grant(true);
  clock_.advance(2h);
  auto t = manager_->token_for(c, provider_);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().errc, Errc::kFailedPrecondition);
  EXPECT_EQ(t.error().code, "token_expired");
  auto stored = store_->get_connection(c.id).value();
  EXPECT_EQ(stored.status, ConnectionStatus::kReauthRequired);
  const int calls = fake_->refresh_calls();
  auto again = manager_->token_for(stored, provider_);
  EXPECT_EQ(again.error().errc, Errc::kFailedPrecondition);
  EXPECT_EQ(fake_->refresh_calls(), calls);  // a dead grant is not retried
  EXPECT_EQ(decisions("refresh"), std::vector<std::string>{"reauth_required"});
}

TEST_F(TokenManagerTest, OutageGetsBoundedRetriesThenRecovers) {
  setup({});
  auto c = connect("alice");
  clock_.advance(2h);
  fake_->fail_token_calls(500, 3);
  auto down = manager_->token_for(c, provider_);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().errc, Errc::kBadGateway);
  EXPECT_EQ(down.error().code, "token_expired");
  EXPECT_EQ(fake_->refresh_calls(), 3);  // three attempts, then give up
  EXPECT_EQ(store_->get_connection(c.id)->status, ConnectionStatus::kActive);
  // Backing off: no call to the provider until the backoff (5 s, +/-20%) is over.
  auto waiting = manager_->token_for(store_->get_connection(c.id).value(), provider_);
  ASSERT_FALSE(waiting.ok());
  EXPECT_EQ(waiting.error().errc, Errc::kBadGateway);
  EXPECT_FALSE(manager_->may_refresh_now(c.id));
  EXPECT_EQ(fake_->refresh_calls(), 3);
  clock_.advance(7s);
  EXPECT_TRUE(manager_->may_refresh_now(c.id));
  auto up = manager_->token_for(store_->get_connection(c.id).value(), provider_);
  ASSERT_TRUE(up.ok()) << up.error().message;
  EXPECT_EQ(fake_->refresh_calls(), 4);
  EXPECT_EQ(decisions("refresh"), (std::vector<std::string>{"refresh_failed", "refreshed"}));
}

TEST_F(TokenManagerTest, BackoffGrowsWithEachFailureUpToItsCapAndEndsOnSuccess) {
  setup({});
  auto c = connect("alice");
  clock_.advance(2h);
  // Each round fails all three attempts; the wait before the next one doubles: 5, 10, 20, 40 s.
  std::chrono::seconds expected{5};
  for (int round = 0; round < 4; ++round) {
    fake_->fail_token_calls(500, 3);
    ASSERT_FALSE(manager_->refresh(store_->get_connection(c.id).value(), provider_, false).ok());
    clock_.advance(std::chrono::duration_cast<std::chrono::nanoseconds>(expected) * 7 / 10);  // under 80%: still waiting
    EXPECT_FALSE(manager_->may_refresh_now(c.id)) << "round " << round;
    clock_.advance(std::chrono::duration_cast<std::chrono::nanoseconds>(expected) * 6 / 10);  // over 120%: done
    EXPECT_TRUE(manager_->may_refresh_now(c.id)) << "round " << round;
    expected *= 2;
  }
  ASSERT_TRUE(manager_->token_for(store_->get_connection(c.id).value(), provider_).ok());
  fake_->fail_token_calls(500, 3);
  clock_.advance(2h);
  ASSERT_FALSE(manager_->refresh(store_->get_connection(c.id).value(), provider_, false).ok());
  clock_.advance(6500ms);  // back to the first step after a success
  EXPECT_TRUE(manager_->may_refresh_now(c.id));
}

TEST_F(TokenManagerTest, ExpiryCountsFromWhenTheRefreshWasSent) {
  // The fake answers expires_in 3600 after the clock moved on while the request was in flight:
  // the token is taken to expire 3600 s after the request went out, not after the answer.
  setup({});
  auto c = connect("alice");
  clock_.advance(2h);
  const TimePoint sent = clock_.wall();
  fake_->on_token_call([this] { clock_.advance(30s); });
  auto r = manager_->refresh(store_->get_connection(c.id).value(), provider_, false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->expires_at.has_value());
  EXPECT_EQ(*r->expires_at, sent + 3600s);
}

TEST_F(TokenManagerTest, TransientFailureThenSuccessWithinTheRetries) {
  setup({});
  auto c = connect("alice");
  clock_.advance(2h);
  fake_->fail_token_calls(503, 2);
  auto t = manager_->token_for(c, provider_);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(fake_->refresh_calls(), 3);
}

TEST_F(TokenManagerTest, ProviderWithoutRefreshIsNeverRefreshed) {
  setup({}, "never_expires");
  auto c = connect("alice", true, std::nullopt);
  clock_.advance(24h * 365);
  auto t = manager_->token_for(c, provider_);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(fake_->refresh_calls(), 0);
}

TEST_F(TokenManagerTest, ExpiredWithoutRefreshTokenNeedsReconnect) {
  setup({});
  auto c = connect("alice", /*with_refresh=*/false);
  clock_.advance(2h);
  auto t = manager_->token_for(c, provider_);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().errc, Errc::kFailedPrecondition);
  EXPECT_EQ(fake_->refresh_calls(), 0);
}

TEST_F(TokenManagerTest, SealedTokensAreBoundToTheirConnection) {
  setup({});
  auto a = connect("alice");
  auto b = connect("bob");
  Connection swapped = b;
  swapped.tokens = a.tokens;  // alice's ciphertext pasted into bob's row
  EXPECT_FALSE(sealed_->open_tokens(swapped).ok());
}

// Refreshes answered together are saved together: thirty answers that arrive while no worker is
// free land in one transaction, each with its audit row; one whose row changed meanwhile loses its
// compare-and-set alone, and its waiter gets the stored row, not an error; one deleted meanwhile
// fails alone, and writes nothing.
TEST_F(TokenManagerTest, AsynchronousRefreshesAnsweredTogetherAreSavedInOneTransaction) {
  setup({});
  // The worker pool, run by hand: tasks wait here until the test runs them.
  std::mutex mu;
  std::vector<std::function<void()>> queued;
  manager_->set_blocking_executor([&](std::function<void()> task) {
    std::lock_guard lock(mu);
    queued.push_back(std::move(task));
  });
  auto run_queued = [&] {
    std::vector<std::function<void()>> now;
    {
      std::lock_guard lock(mu);
      now.swap(queued);
    }
    for (auto& t : now) t();
    return now.size();
  };
  constexpr int kConnections = 30;
  std::vector<Connection> connections;
  for (int i = 0; i < kConnections; ++i) connections.push_back(connect("batch-" + std::to_string(i), true, 10s));
  auto provider = std::make_shared<const ProviderDef>(provider_);
  std::mutex results_mu;
  std::map<std::string, Result<Connection>> results;
  for (const auto& c : connections) {
    manager_->refresh_async(c, provider, [&, id = c.id](const Result<Connection>& r) {
      std::lock_guard lock(results_mu);
      results.emplace(id, r);
    });
  }
  EXPECT_EQ(run_queued(), static_cast<std::size_t>(kConnections)) << "one preparation per connection";
  ASSERT_TRUE(fake_->wait_for_token_calls(kConnections, 10s));
  for (int i = 0; i < 10000 && manager_->landings_waiting() < kConnections; ++i) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(manager_->landings_waiting(), static_cast<std::size_t>(kConnections));
  // Meanwhile one row changes under the refresh (another writer saved it first).
  Connection moved = store_->get_connection(connections[7].id).value();
  moved.updated_at = clock_.wall();
  const Connection theirs = store_->update_connection(moved, moved.version).value();
  // And one is deleted (the user disconnected while the provider answered).
  ASSERT_TRUE(store_->delete_connection(connections[12].id).ok());
  EXPECT_EQ(run_queued(), 1u) << "one worker drains them all";
  EXPECT_EQ(metrics_.counter_value("alter_refresh_landing_batches_total"), 1u);
  EXPECT_EQ(metrics_.counter_value("alter_refresh_landings_total"), static_cast<std::uint64_t>(kConnections));
  ASSERT_EQ(results.size(), static_cast<std::size_t>(kConnections));
  for (int i = 0; i < kConnections; ++i) {
    const auto& c = connections[static_cast<std::size_t>(i)];
    const auto& r = results.at(c.id);
    if (i == 12) {
      ASSERT_FALSE(r) << "a deleted connection was saved";
      EXPECT_EQ(r.error().code, "unavailable");
      EXPECT_FALSE(store_->get_connection(c.id).ok());
      continue;
    }
    ASSERT_TRUE(r) << r.error().message;
    if (i == 7) {
      EXPECT_EQ(r->version, theirs.version) << "the lost compare-and-set hands over the stored row";
      EXPECT_EQ(store_->get_connection(c.id).value().tokens.bytes, theirs.tokens.bytes) << "the newer row was overwritten";
      continue;
    }
    EXPECT_EQ(r->version, c.version + 1);
    EXPECT_GT(r->expires_at.value(), clock_.wall() + 600s) << "the refreshed expiry was saved";
    EXPECT_EQ(store_->get_connection(c.id).value().version, c.version + 1);
  }
  const auto refreshed = decisions("refresh");
  EXPECT_EQ(std::count(refreshed.begin(), refreshed.end(), "refreshed"), kConnections - 2) << "a row per saved refresh";
  EXPECT_EQ(fake_->refresh_calls(), kConnections);
}

}  // namespace
}  // namespace alter::server::vault
