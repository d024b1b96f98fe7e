// docs/policies.md stays true: every ```toml and ```json example in it compiles, and the
// cookbook policies decide as the page says.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "policy/engine.hpp"
#include "policy/test_support.hpp"

namespace alter::server::policy {
namespace {

struct Example {
  std::string format;
  std::string text;
  std::size_t line = 0;
};

std::vector<Example> examples() {
  std::ifstream in(ALTER_POLICY_DOC);
  EXPECT_TRUE(in.good()) << ALTER_POLICY_DOC;
  std::vector<Example> out;
  std::string line;
  std::size_t number = 0;
  Example* open = nullptr;
  while (std::getline(in, line)) {
    ++number;
    if (open == nullptr && (line == "```toml" || line == "```json")) {
      out.push_back(Example{line.substr(3), {}, number});
      open = &out.back();
    } else if (open != nullptr && line == "```") {
      open = nullptr;
    } else if (open != nullptr) {
      open->text += line + "\n";
    }
  }
  return out;
}

std::shared_ptr<const CompiledPolicy> cookbook(const std::string& rule_id) {
  for (const auto& e : examples()) {
    if (e.text.find("id = \"" + rule_id + "\"") == std::string::npos) continue;
    auto compiled = CompiledPolicy::compile(e.text, e.format);
    return compiled.ok() ? compiled.value() : nullptr;
  }
  ADD_FAILURE() << "no example with rule " << rule_id;
  return nullptr;
}

TEST(Docs, EveryExampleCompiles) {
  const auto all = examples();
  EXPECT_GE(all.size(), 10u);
  for (const auto& e : all) {
    auto compiled = CompiledPolicy::compile(e.text, e.format);
    EXPECT_TRUE(compiled.ok()) << "docs/policies.md:" << e.line << ": "
                               << (compiled.ok() ? "" : compiled.error().message);
  }
}

TEST(Docs, ReadOnlyCalendarAgent) {
  auto policy = cookbook("assistant-reads-calendar");
  ASSERT_TRUE(policy);
  auto limiter = make_memory_rate_limiter();
  PolicyRequest r = testing::calendar_read();
  EXPECT_EQ(policy->evaluate(r, *limiter).effect, Effect::kAllow);
  r.method = "POST";
  EXPECT_EQ(policy->evaluate(r, *limiter).policy_error, "no_matching_rule");
}

TEST(Docs, WritesNeedApproval) {
  auto policy = cookbook("writes-need-approval");
  ASSERT_TRUE(policy);
  auto limiter = make_memory_rate_limiter();
  PolicyRequest r = testing::calendar_read();
  EXPECT_EQ(policy->evaluate(r, *limiter).effect, Effect::kAllow);
  r.method = "DELETE";
  EXPECT_EQ(policy->evaluate(r, *limiter).policy_error, "reason_required");
  r.reason = "Cancel the duplicate meeting";
  const Decision d = policy->evaluate(r, *limiter);
  EXPECT_EQ(d.effect, Effect::kRequireApproval);
  EXPECT_EQ(d.approval.ttl, std::chrono::minutes(30));
  EXPECT_EQ(d.approval.window, std::chrono::hours(1));
}

TEST(Docs, BusinessHoursOnly) {
  auto policy = cookbook("slack-business-hours");
  ASSERT_TRUE(policy);
  auto limiter = make_memory_rate_limiter();
  PolicyRequest r = testing::calendar_read();
  r.provider_id = "slack";
  r.host = "slack.com";
  r.path = "/api/chat.postMessage";
  r.method = "POST";
  r.reason = "Daily stand-up summary";
  EXPECT_EQ(policy->evaluate(r, *limiter).effect, Effect::kAllow);  // Tuesday 11:00 in Paris
  r.now = testing::utc(2026, 1, 6, 19, 0);                          // 20:00 in Paris
  EXPECT_EQ(policy->evaluate(r, *limiter).policy_error, "outside_time_window");
  r.now = testing::utc(2026, 1, 10, 11, 0);                         // Saturday
  const Decision d = policy->evaluate(r, *limiter);
  EXPECT_EQ(d.policy_error, "denied_by_rule");
  EXPECT_EQ(d.rule_id, "no-weekend-posts");
}

TEST(Docs, PerUserRateLimit) {
  auto policy = cookbook("crm-read-per-user");
  ASSERT_TRUE(policy);
  auto limiter = make_memory_rate_limiter();
  PolicyRequest r = testing::calendar_read();
  r.provider_id = "hubspot";
  r.host = "api.hubapi.com";
  r.path = "/crm/v3/objects/contacts";
  for (int i = 0; i < 60; ++i) {
    r.actor.id = "agent-" + std::to_string(i % 3);  // all agents share the user's counter
    ASSERT_EQ(policy->evaluate(r, *limiter).effect, Effect::kAllow) << i;
  }
  EXPECT_EQ(policy->evaluate(r, *limiter).policy_error, "rate_limited");
  r.user["user_id"] = "bob";
  EXPECT_EQ(policy->evaluate(r, *limiter).effect, Effect::kAllow);
}

TEST(Docs, DenyAHost) {
  auto policy = cookbook("no-gmail");
  ASSERT_TRUE(policy);
  auto limiter = make_memory_rate_limiter();
  PolicyRequest r = testing::calendar_read();
  EXPECT_EQ(policy->evaluate(r, *limiter).policy_error, "source_ip_not_allowed");
  r.source_ip = "203.0.113.9";
  EXPECT_EQ(policy->evaluate(r, *limiter).effect, Effect::kAllow);
  r.host = "gmail.googleapis.com";
  EXPECT_EQ(policy->evaluate(r, *limiter).policy_error, "denied_by_rule");
}

}  // namespace
}  // namespace alter::server::policy
