// Rate limits, driven by an injected clock: nothing here sleeps.
#include <alter/common/clock.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "policy/engine.hpp"
#include "policy/test_support.hpp"

namespace alter::server::policy {
namespace {

using namespace std::chrono_literals;

// Appending rather than "literal" + std::string: g++ 12 at -O3 warns falsely (-Wrestrict) on that.
std::string key(std::string prefix, long long n, std::string_view suffix = {}) {
  prefix.append(std::to_string(n));
  prefix.append(suffix);
  return prefix;
}

TEST(MemoryRateLimiter, FixedWindows) {
  common::FakeClock clock;  // 2026-01-01 00:00:00 UTC: a minute boundary
  auto limiter = make_memory_rate_limiter();
  EXPECT_TRUE(limiter->hit("k", 3, 60s, clock.wall()));
  clock.advance(10s);
  EXPECT_TRUE(limiter->hit("k", 3, 60s, clock.wall()));
  EXPECT_TRUE(limiter->hit("k", 3, 60s, clock.wall()));
  EXPECT_FALSE(limiter->hit("k", 3, 60s, clock.wall()));
  EXPECT_EQ(limiter->peek("k", 60s, clock.wall()), 3);
  EXPECT_TRUE(limiter->hit("other", 3, 60s, clock.wall()));
  clock.advance(49s);  // 00:00:59, same window
  EXPECT_FALSE(limiter->hit("k", 3, 60s, clock.wall()));
  clock.advance(1s);   // 00:01:00, a new window
  EXPECT_EQ(limiter->peek("k", 60s, clock.wall()), 0);
  EXPECT_TRUE(limiter->hit("k", 3, 60s, clock.wall()));
}

TEST(MemoryRateLimiter, WindowsOfEachLength) {
  common::FakeClock clock;
  auto limiter = make_memory_rate_limiter();
  for (const auto window : {1s, 60s, 3600s, 86400s}) {
    const std::string k = key("k", window.count());
    EXPECT_TRUE(limiter->hit(k, 1, window, clock.wall()));
    EXPECT_FALSE(limiter->hit(k, 1, window, clock.wall() + window - 1s));
    EXPECT_TRUE(limiter->hit(k, 1, window, clock.wall() + window));
  }
}

TEST(MemoryRateLimiter, AStragglerFromThePreviousWindowDoesNotReset) {
  common::FakeClock clock;
  auto limiter = make_memory_rate_limiter();
  const auto now = clock.wall() + 60s;
  EXPECT_TRUE(limiter->hit("k", 1, 60s, now));
  EXPECT_FALSE(limiter->hit("k", 1, 60s, now - 1s));  // stamped in the window before
  EXPECT_FALSE(limiter->hit("k", 1, 60s, now));
}

TEST(MemoryRateLimiter, ZeroLimitRefuses) {
  auto limiter = make_memory_rate_limiter();
  EXPECT_FALSE(limiter->hit("k", 0, 60s, common::FakeClock().wall()));
}

TEST(MemoryRateLimiter, OldWindowsArePruned) {
  common::FakeClock clock;
  // 16 shards of 64 keys: a window's worth of keys fits, several do not without pruning.
  auto limiter = make_memory_rate_limiter(MemoryRateLimiterOptions{.max_keys = 16 * 64});
  for (int minute = 0; minute < 50; ++minute) {
    for (int k = 0; k < 500; ++k) {
      ASSERT_TRUE(limiter->hit(key(key("m", minute, "-"), k), 1, 60s, clock.wall()))
          << "minute " << minute << " key " << k;
    }
    clock.advance(60s);
  }
}

TEST(MemoryRateLimiter, FullOfLiveKeysFailsClosed) {
  common::FakeClock clock;
  auto limiter = make_memory_rate_limiter(MemoryRateLimiterOptions{.max_keys = 16});
  int refused = 0;
  for (int k = 0; k < 200; ++k) refused += limiter->hit(key("k", k), 5, 3600s, clock.wall()) ? 0 : 1;
  EXPECT_GT(refused, 0);
  clock.advance(3600s);  // those windows ended: room again
  EXPECT_TRUE(limiter->hit("new", 5, 3600s, clock.wall()));
}

TEST(MemoryRateLimiter, ConcurrentHitsAreCountedExactly) {
  common::FakeClock clock;
  auto limiter = make_memory_rate_limiter();
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) granted += limiter->hit("shared", 2500, 3600s, clock.wall()) ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(granted.load(), 2500);
}

TEST(PolicyRateLimit, CountsPerRuleActorAndUserWithAnInjectedClock) {
  auto policy = CompiledPolicy::compile(R"(
[[rules]]
id = "calendar-read"
effect = "allow"
providers = ["google"]
conditions.rate_limit = { count = 3, per_period = "minute" }
)",
                                        "toml");
  ASSERT_TRUE(policy.ok()) << policy.error().message;
  common::FakeClock clock;
  clock.set_wall(testing::utc(2026, 1, 6, 10, 0, 0));
  auto limiter = make_memory_rate_limiter();
  auto request = [&](const std::string& user) {
    PolicyRequest r = testing::calendar_read();
    r.user["user_id"] = user;
    r.now = clock.wall();
    return r;
  };
  for (int i = 0; i < 3; ++i) EXPECT_EQ(policy.value()->evaluate(request("alice"), *limiter).effect, Effect::kAllow);
  Decision limited = policy.value()->evaluate(request("alice"), *limiter);
  EXPECT_EQ(limited.policy_error, "rate_limited");
  EXPECT_EQ(limited.rule_id, "calendar-read");
  EXPECT_NE(limited.message.find("3 requests per minute"), std::string::npos) << limited.message;
  // Another user has their own counter.
  EXPECT_EQ(policy.value()->evaluate(request("bob"), *limiter).effect, Effect::kAllow);
  // A dry run reports the limit without consuming anything.
  clock.advance(30s);
  Decision dry = policy.value()->explain(request("alice"), *limiter);
  EXPECT_EQ(dry.policy_error, "rate_limited");
  EXPECT_EQ(policy.value()->explain(request("bob"), *limiter).effect, Effect::kAllow);
  EXPECT_EQ(policy.value()->explain(request("bob"), *limiter).effect, Effect::kAllow);
  // The next minute starts afresh.
  clock.advance(30s);
  EXPECT_EQ(policy.value()->evaluate(request("alice"), *limiter).effect, Effect::kAllow);
}

TEST(PolicyRateLimit, KeyOptions) {
  auto doc = parse_document(R"(
[[rules]]
id = "r"
effect = "allow"
conditions.rate_limit = { count = 3, per_period = "hour", per = ["provider"] }
)",
                            "toml");
  ASSERT_TRUE(doc.ok());
  const RuleSpec& rule = doc->rules[0];
  PolicyRequest a = testing::calendar_read();
  PolicyRequest b = a;
  b.user["user_id"] = "bob";
  b.actor.id = "x";
  EXPECT_EQ(rate_limit_key(rule, a), rate_limit_key(rule, b));  // only the provider (and app) count
  b.provider_id = "slack";
  EXPECT_NE(rate_limit_key(rule, a), rate_limit_key(rule, b));
  b = a;
  b.app_id = "app_2";
  EXPECT_NE(rate_limit_key(rule, a), rate_limit_key(rule, b));

  // Parts cannot run into each other.
  doc = parse_document("[[rules]]\nid = \"r\"\neffect = \"allow\"\nconditions.rate_limit = { count = 3, per_period = \"hour\" }\n",
                       "toml");
  ASSERT_TRUE(doc.ok());
  PolicyRequest c = testing::calendar_read();
  c.user = {{"a", "b|k=1:c"}};
  PolicyRequest d = testing::calendar_read();
  d.user = {{"a", "b"}, {"c", ""}};
  EXPECT_NE(rate_limit_key(doc->rules[0], c), rate_limit_key(doc->rules[0], d));
}

/// A limiter that cannot peek (as a store-backed one might not).
class BlindLimiter final : public RateLimiter {
 public:
  bool hit(const std::string&, std::int64_t, std::chrono::seconds, TimePoint) override {
    ++hits;
    return true;
  }
  int hits = 0;
};

TEST(PolicyRateLimit, ExplainNeverHits) {
  auto policy = CompiledPolicy::compile(
      "[[rules]]\nid = \"r\"\neffect = \"allow\"\nconditions.rate_limit = { count = 1, per_period = \"day\" }\n", "toml");
  ASSERT_TRUE(policy.ok());
  BlindLimiter limiter;
  const Decision d = policy.value()->explain(testing::calendar_read(), limiter);
  EXPECT_EQ(d.effect, Effect::kAllow);
  EXPECT_EQ(limiter.hits, 0);
  EXPECT_NE(d.trace.dump().find("cannot tell"), std::string::npos) << d.trace.dump();
  (void)policy.value()->evaluate(testing::calendar_read(), limiter);
  EXPECT_EQ(limiter.hits, 1);
}

}  // namespace
}  // namespace alter::server::policy
