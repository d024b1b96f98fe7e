// The compiled policy's trace and diff, and the per-app engine: caching, invalidation, errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "policy/engine.hpp"
#include "policy/test_support.hpp"

namespace alter::server::policy {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

std::shared_ptr<const CompiledPolicy> compile(const std::string& text, std::string_view format = "toml") {
  auto compiled = CompiledPolicy::compile(text, format);
  EXPECT_TRUE(compiled.ok()) << (compiled.ok() ? "" : compiled.error().message);
  return compiled.ok() ? compiled.value() : nullptr;
}

constexpr const char* kPolicy = R"(
[[rules]]
id = "slack-all"
effect = "allow"
providers = ["slack"]

[[rules]]
id = "calendar-read"
description = "Agents may read calendars"
effect = "allow"
providers = ["google"]
methods = ["GET"]
paths = ["/calendar/v3/**"]
[rules.conditions]
reason_required = true
time_window = { days = ["mon","tue","wed","thu","fri"], hours = "09:00-17:00", time_zone = "Europe/Paris" }

[[rules]]
id = "no-gmail-send"
description = "Never send mail"
effect = "deny"
paths = ["/gmail/v1/users/*/messages/send"]

[[rules]]
id = "writes"
effect = "require_approval"
methods = ["POST", "PUT", "PATCH", "DELETE"]
approval = { ttl = "10m", window = "1h" }
)";

TEST(Explain, TracesEveryRule) {
  auto policy = compile(kPolicy);
  ASSERT_TRUE(policy);
  auto limiter = make_memory_rate_limiter();
  const Decision d = policy->explain(testing::calendar_read(), *limiter);
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_EQ(d.policy_error, "reason_required");
  EXPECT_EQ(d.rule_id, "calendar-read");
  EXPECT_THAT(d.message, HasSubstr("requires a reason"));
  ASSERT_EQ(d.trace.size(), 4u);

  const json& slack = d.trace[0];
  EXPECT_EQ(slack["matched"], false);
  EXPECT_EQ(slack["outcome"], "not_matched");
  EXPECT_THAT(slack["mismatches"][0].get<std::string>(), HasSubstr("provider \"google\" is not slack"));

  const json& read = d.trace[1];
  EXPECT_EQ(read["matched"], true);
  EXPECT_EQ(read["outcome"], "selected");
  EXPECT_EQ(read["policy_error"], "reason_required");
  ASSERT_EQ(read["conditions"].size(), 2u);
  EXPECT_EQ(read["conditions"][0]["condition"], "time_window");
  EXPECT_EQ(read["conditions"][0]["ok"], true);
  EXPECT_THAT(read["conditions"][0]["detail"].get<std::string>(), HasSubstr("Tue 11:00 Europe/Paris is inside"));
  EXPECT_EQ(read["conditions"][1]["condition"], "reason");
  EXPECT_EQ(read["conditions"][1]["ok"], false);

  const json& deny = d.trace[2];
  EXPECT_EQ(deny["outcome"], "not_matched");
  EXPECT_THAT(deny["mismatches"][0].get<std::string>(), HasSubstr("path \"/calendar/v3/calendars/primary/events\""));

  const json& writes = d.trace[3];
  EXPECT_THAT(writes["mismatches"][0].get<std::string>(), HasSubstr("method \"GET\" is not POST, PUT, PATCH, DELETE"));
}

TEST(Explain, ListsEveryFailingCriterion) {
  auto policy = compile(R"(
[[rules]]
id = "r"
effect = "allow"
providers = ["slack"]
methods = ["POST"]
hosts = ["slack.com"]
user = { user_id = "bob", org = "acme" }
actor = { type = "mcp_server", id = "x-*" }
)");
  auto limiter = make_memory_rate_limiter();
  const Decision d = policy->explain(testing::calendar_read(), *limiter);
  EXPECT_EQ(d.policy_error, "no_matching_rule");
  EXPECT_EQ(d.rule_id, "");
  EXPECT_EQ(d.trace[0]["mismatches"].size(), 7u) << d.trace.dump(2);
  EXPECT_THAT(d.trace.dump(), HasSubstr("user attribute org is missing"));
  EXPECT_THAT(d.trace.dump(), HasSubstr("user attribute user_id=\\\"alice\\\" does not match \\\"bob\\\""));
}

TEST(Explain, DeniesAndOverrides) {
  auto policy = compile(kPolicy);
  auto limiter = make_memory_rate_limiter();
  PolicyRequest send = testing::calendar_read();
  send.method = "POST";
  send.path = "/gmail/v1/users/me/messages/send";
  const Decision d = policy->explain(send, *limiter);
  EXPECT_EQ(d.policy_error, "denied_by_rule");
  EXPECT_EQ(d.rule_id, "no-gmail-send");
  EXPECT_EQ(d.message, "Denied by rule \"no-gmail-send\": Never send mail.");
  EXPECT_EQ(d.trace[2]["outcome"], "selected");
  EXPECT_EQ(d.trace[3]["outcome"], "overridden");  // the approval rule matched too

  PolicyRequest create = testing::calendar_read();
  create.method = "POST";
  const Decision a = policy->evaluate(create, *limiter);
  EXPECT_EQ(a.effect, Effect::kRequireApproval);
  EXPECT_EQ(a.rule_id, "writes");
  EXPECT_EQ(a.approval.ttl, std::chrono::minutes(10));
  EXPECT_EQ(a.approval.window, std::chrono::hours(1));
  EXPECT_EQ(a.policy_error, "");
}

TEST(Explain, DenyOutsideItsWindowSaysSo) {
  auto policy = compile(R"(
[[rules]]
id = "all"
effect = "allow"
[[rules]]
id = "weekend-freeze"
effect = "deny"
conditions.time_window = { days = ["sat", "sun"] }
)");
  auto limiter = make_memory_rate_limiter();
  const Decision d = policy->explain(testing::calendar_read(), *limiter);
  EXPECT_EQ(d.effect, Effect::kAllow);
  EXPECT_EQ(d.trace[1]["outcome"], "deny_not_applicable");
  EXPECT_THAT(d.trace[1]["conditions"][0]["detail"].get<std::string>(), HasSubstr("is outside sat,sun"));
}

TEST(Evaluate, ProviderIndexKeepsDocumentOrder) {
  // Rules for the request's provider and rules for any provider interleave; the first failure
  // in document order is the one reported.
  auto policy = compile(R"(
[[rules]]
id = "any-1"
effect = "allow"
conditions.source_ips = ["192.168.0.0/16"]
[[rules]]
id = "google-1"
effect = "allow"
providers = ["google", "google"]
conditions.reason_required = true
[[rules]]
id = "slack-1"
effect = "deny"
providers = ["slack"]
)");
  auto limiter = make_memory_rate_limiter();
  const Decision d = policy->evaluate(testing::calendar_read(), *limiter);
  EXPECT_EQ(d.rule_id, "any-1");
  EXPECT_EQ(d.policy_error, "source_ip_not_allowed");
  PolicyRequest unknown = testing::calendar_read();
  unknown.provider_id = "unknown";
  EXPECT_EQ(policy->evaluate(unknown, *limiter).rule_id, "any-1");
}

TEST(Evaluate, MessagesNameTheRule) {
  auto limiter = make_memory_rate_limiter();
  struct Expect {
    std::string condition;
    std::string message;
  };
  for (const auto& e : std::vector<Expect>{
           {"source_ips = [\"192.168.0.0/16\"]", "source IP is not one rule \"r\" allows (192.168.0.0/16)"},
           {"time_window = { days = [\"sun\"] }", "outside rule \"r\"'s time window (sun UTC)"},
           {"reason_matches = \"^T-[0-9]+$\"", "Rule \"r\" requires a reason."},
           {"max_token_lifetime = \"5m\"", "Rule \"r\" only grants tokens that expire within 5m."},
       }) {
    auto policy = compile("[[rules]]\nid = \"r\"\neffect = \"allow\"\n[rules.conditions]\n" + e.condition + "\n");
    ASSERT_TRUE(policy);
    EXPECT_THAT(policy->evaluate(testing::calendar_read(), *limiter).message, HasSubstr(e.message));
  }
}

TEST(Evaluate, IsThreadSafe) {
  auto policy = compile(kPolicy);
  auto limiter = make_memory_rate_limiter();
  std::atomic<int> denied{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        PolicyRequest r = testing::calendar_read();
        r.reason = "weekly summary";
        if (policy->evaluate(r, *limiter).effect != Effect::kAllow) ++denied;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(denied.load(), 0);
}

TEST(Diff, AddedRemovedChanged) {
  auto from = compile(kPolicy);
  auto to = compile(R"(
[[rules]]
id = "calendar-read"
description = "Agents may read calendars"
effect = "allow"
providers = ["google"]
methods = ["GET", "HEAD"]
paths = ["/calendar/v3/**"]
[rules.conditions]
time_window = { days = ["mon","tue","wed","thu","fri"], hours = "08:00-18:00", time_zone = "Europe/Paris" }

[[rules]]
id = "slack-all"
effect = "allow"
providers = ["slack"]

[[rules]]
id = "writes"
effect = "require_approval"
methods = ["POST", "PUT", "PATCH", "DELETE"]
approval = { ttl = "10m", window = "1h" }

[[rules]]
id = "drive-read"
effect = "allow"
providers = ["google"]
paths = ["/drive/v3/**"]
)");
  const json d = diff(*from, *to);
  ASSERT_EQ(d["added"].size(), 1u);
  EXPECT_EQ(d["added"][0]["id"], "drive-read");
  ASSERT_EQ(d["removed"].size(), 1u);
  EXPECT_EQ(d["removed"][0]["id"], "no-gmail-send");
  ASSERT_EQ(d["changed"].size(), 1u);
  EXPECT_EQ(d["changed"][0]["id"], "calendar-read");
  const json& changes = d["changed"][0]["changes"];
  ASSERT_EQ(changes.size(), 3u) << changes.dump(2);
  EXPECT_EQ(changes[0]["field"], "conditions.reason_required");
  EXPECT_EQ(changes[0]["from"], true);
  EXPECT_FALSE(changes[0].contains("to"));
  EXPECT_EQ(changes[1]["field"], "conditions.time_window");
  EXPECT_EQ(changes[1]["to"]["hours"], "08:00-18:00");
  EXPECT_EQ(changes[2]["field"], "methods");
  EXPECT_EQ(changes[2]["to"], json({"GET", "HEAD"}));
  EXPECT_EQ(d["reordered"], true);
  EXPECT_EQ(d["unchanged"], 2);
  EXPECT_EQ(d["summary"], "1 added, 1 removed, 1 changed, 2 unchanged, reordered");

  const json same = diff(*from, *from);
  EXPECT_EQ(same["summary"], "0 added, 0 removed, 0 changed, 4 unchanged");
}

TEST(Diff, JsonAndTomlOfTheSamePolicyDoNotDiffer) {
  auto toml = compile(kPolicy);
  auto json_policy = compile(toml->to_json().dump(), "json");
  ASSERT_TRUE(json_policy);
  EXPECT_EQ(diff(*toml, *json_policy)["summary"], "0 added, 0 removed, 0 changed, 4 unchanged");
}

// ---- PolicyEngine ----

class FakeVersions {
 public:
  void put(const std::string& app, std::string document, std::string format = "toml") {
    std::lock_guard lock(mu_);
    auto& v = versions_[app];
    v.app_id = app;
    v.version += 1;
    v.document = std::move(document);
    v.format = std::move(format);
  }
  PolicyEngine::Loader loader() {
    return [this](const std::string& app) -> Result<std::optional<PolicyVersion>> {
      std::lock_guard lock(mu_);
      ++loads;
      if (fail) return common::unexpected(make_error(Errc::kUnavailable, "unavailable", "database down"));
      const auto it = versions_.find(app);
      if (it == versions_.end()) return std::optional<PolicyVersion>();
      return std::optional<PolicyVersion>(it->second);
    };
  }
  int loads = 0;
  bool fail = false;

 private:
  std::mutex mu_;
  std::map<std::string, PolicyVersion> versions_;
};

TEST(PolicyEngine, NoPolicyDeniesWithVersionZero) {
  FakeVersions versions;
  auto limiter = make_memory_rate_limiter();
  PolicyEngine engine(versions.loader(), *limiter);
  auto d = engine.decide(testing::calendar_read());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->effect, Effect::kDeny);
  EXPECT_EQ(d->policy_error, "no_matching_rule");
  EXPECT_EQ(d->policy_version, 0);
  EXPECT_EQ(d->rule_id, "");
}

TEST(PolicyEngine, CachesUntilInvalidated) {
  FakeVersions versions;
  versions.put("app_1", "[[rules]]\nid = \"all\"\neffect = \"allow\"\n");
  auto limiter = make_memory_rate_limiter();
  PolicyEngine engine(versions.loader(), *limiter);

  for (int i = 0; i < 5; ++i) {
    auto d = engine.decide(testing::calendar_read());
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->effect, Effect::kAllow);
    EXPECT_EQ(d->policy_version, 1);
  }
  EXPECT_EQ(versions.loads, 1);

  // A new version applies to the very next request once the server invalidates.
  versions.put("app_1", "[[rules]]\nid = \"none\"\neffect = \"deny\"\n", "toml");
  engine.invalidate("app_1");
  auto d = engine.decide(testing::calendar_read());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->effect, Effect::kDeny);
  EXPECT_EQ(d->rule_id, "none");
  EXPECT_EQ(d->policy_version, 2);
  EXPECT_EQ(versions.loads, 2);

  // Other apps are cached separately; "no policy" is cached too.
  PolicyRequest other = testing::calendar_read();
  other.app_id = "app_2";
  ASSERT_TRUE(engine.decide(other).ok());
  ASSERT_TRUE(engine.decide(other).ok());
  EXPECT_EQ(versions.loads, 3);
  engine.invalidate_all();
  ASSERT_TRUE(engine.decide(other).ok());
  EXPECT_EQ(versions.loads, 4);
}

TEST(PolicyEngine, ExplainUsesTheCurrentVersion) {
  FakeVersions versions;
  versions.put("app_1", R"({"version": 1, "rules": [{"id": "all", "effect": "allow"}]})", "json");
  auto limiter = make_memory_rate_limiter();
  PolicyEngine engine(versions.loader(), *limiter);
  auto d = engine.explain(testing::calendar_read());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->effect, Effect::kAllow);
  EXPECT_EQ(d->policy_version, 1);
  EXPECT_EQ(d->trace.size(), 1u);
  std::int64_t version = 0;
  auto current = engine.current("app_1", &version);
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(current.value()->rule_count(), 1u);
  EXPECT_EQ(version, 1);
}

TEST(PolicyEngine, LoaderErrorsPassThroughAndAreNotCached) {
  FakeVersions versions;
  versions.put("app_1", "[[rules]]\nid = \"all\"\neffect = \"allow\"\n");
  versions.fail = true;
  auto limiter = make_memory_rate_limiter();
  PolicyEngine engine(versions.loader(), *limiter);
  auto d = engine.decide(testing::calendar_read());
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, "unavailable");
  versions.fail = false;
  d = engine.decide(testing::calendar_read());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->effect, Effect::kAllow);
}

TEST(PolicyEngine, AStoredVersionThatDoesNotCompileRefuses) {
  FakeVersions versions;
  versions.put("app_1", "[[rules]]\nid = \"all\"\neffect = \"maybe\"\n");
  auto limiter = make_memory_rate_limiter();
  PolicyEngine engine(versions.loader(), *limiter);
  auto d = engine.decide(testing::calendar_read());
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, "policy_invalid");
  EXPECT_EQ(d.error().errc, Errc::kInternal);
  EXPECT_THAT(d.error().message, HasSubstr("policy version 1"));
  (void)engine.decide(testing::calendar_read());
  EXPECT_EQ(versions.loads, 1);  // cached: the stored text will not change
}

TEST(PolicyEngine, ConcurrentDecideAndInvalidate) {
  FakeVersions versions;
  versions.put("app_1", "[[rules]]\nid = \"v1\"\neffect = \"allow\"\n");
  auto limiter = make_memory_rate_limiter();
  PolicyEngine engine(versions.loader(), *limiter);
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!stop) {
        auto d = engine.decide(testing::calendar_read());
        if (!d.ok() || d->effect != Effect::kAllow) ++errors;
      }
    });
  }
  for (int v = 2; v <= 50; ++v) {
    versions.put("app_1", "[[rules]]\nid = \"v" + std::to_string(v) + "\"\neffect = \"allow\"\n");
    engine.invalidate("app_1");
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(errors.load(), 0);
  // After the last invalidation, the latest version decides.
  auto d = engine.decide(testing::calendar_read());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->rule_id, "v50");
  EXPECT_EQ(d->policy_version, 50);
}

}  // namespace
}  // namespace alter::server::policy
