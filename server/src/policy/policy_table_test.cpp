// The decision table: every criterion, every condition, precedence and every error code, each
// checked through evaluate() and through explain() (which must agree, and not consume quota).
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "policy/engine.hpp"
#include "policy/test_support.hpp"

namespace alter::server::policy {
namespace {

using testing::calendar_read;
using testing::utc;
using namespace std::chrono_literals;

using Modify = std::function<void(PolicyRequest&)>;

struct Case {
  std::string name;
  std::string policy;  // TOML
  Modify modify;       // applied to calendar_read()
  Effect effect = Effect::kDeny;
  std::string error;   // expected policy_error ("" unless denied)
  std::string rule;    // expected rule_id
  int prior = 0;       // requests evaluated first with the same limiter
  Modify prior_modify; // applied to calendar_read() for those
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

const Modify kSame = [](PolicyRequest&) {};

std::string allow(const std::string& body, const std::string& id = "r1") {
  return "[[rules]]\nid = \"" + id + "\"\neffect = \"allow\"\n" + body + "\n";
}
std::string deny(const std::string& body, const std::string& id = "d1") {
  return "[[rules]]\nid = \"" + id + "\"\neffect = \"deny\"\n" + body + "\n";
}
std::string approval(const std::string& body, const std::string& id = "a1") {
  return "[[rules]]\nid = \"" + id + "\"\neffect = \"require_approval\"\n" + body + "\n";
}

Case ok(std::string name, std::string policy, Modify modify = kSame, std::string rule = "r1") {
  return Case{std::move(name), std::move(policy), std::move(modify), Effect::kAllow, "", std::move(rule)};
}
Case no_match(std::string name, std::string policy, Modify modify = kSame) {
  return Case{std::move(name), std::move(policy), std::move(modify), Effect::kDeny, "no_matching_rule", ""};
}
Case denied(std::string name, std::string policy, std::string error, std::string rule, Modify modify = kSame) {
  return Case{std::move(name), std::move(policy), std::move(modify), Effect::kDeny, std::move(error), std::move(rule)};
}

std::vector<Case> cases() {
  const std::string paris_hours =
      "conditions.time_window = { days = [\"mon\",\"tue\",\"wed\",\"thu\",\"fri\"], hours = \"09:00-17:00\", "
      "time_zone = \"Europe/Paris\" }";
  std::vector<Case> v = {
      // ---- provider ----
      ok("provider_equal", allow("providers = [\"google\"]")),
      ok("provider_as_string", allow("providers = \"google\"")),
      ok("provider_in_list", allow("providers = [\"slack\", \"google\"]")),
      no_match("provider_other", allow("providers = [\"slack\"]")),
      // ---- method ----
      ok("method_equal", allow("methods = [\"GET\"]")),
      ok("method_lower_case_in_document", allow("methods = [\"get\"]")),
      ok("method_in_list", allow("methods = [\"POST\", \"GET\"]")),
      no_match("method_other", allow("methods = [\"POST\", \"PUT\"]")),
      ok("method_custom", allow("methods = [\"PROPFIND\"]"), [](PolicyRequest& r) { r.method = "PROPFIND"; }),
      no_match("method_custom_other", allow("methods = [\"PROPFIND\"]")),
      // ---- host ----
      ok("host_exact", allow("hosts = [\"www.googleapis.com\"]")),
      ok("host_glob_one_label", allow("hosts = [\"*.googleapis.com\"]")),
      no_match("host_glob_one_label_only", allow("hosts = [\"*.googleapis.com\"]"),
               [](PolicyRequest& r) { r.host = "a.b.googleapis.com"; }),
      ok("host_glob_any_labels", allow("hosts = [\"**.googleapis.com\"]"),
         [](PolicyRequest& r) { r.host = "a.b.googleapis.com"; }),
      no_match("host_glob_not_the_apex", allow("hosts = [\"*.googleapis.com\"]"),
               [](PolicyRequest& r) { r.host = "googleapis.com"; }),
      ok("host_case_insensitive", allow("hosts = [\"WWW.GoogleAPIs.com\"]")),
      ok("host_request_upper_case", allow("hosts = [\"www.googleapis.com\"]"),
         [](PolicyRequest& r) { r.host = "WWW.GOOGLEAPIS.COM"; }),
      ok("host_glob_inside_label", allow("hosts = [\"www.google*.com\"]")),
      no_match("host_other", allow("hosts = [\"gmail.googleapis.com\"]")),
      // ---- path ----
      ok("path_any_depth", allow("paths = [\"/calendar/v3/**\"]")),
      ok("path_exact", allow("paths = [\"/calendar/v3/calendars/primary/events\"]")),
      no_match("path_star_is_one_segment", allow("paths = [\"/calendar/v3/*\"]")),
      ok("path_star_segment", allow("paths = [\"/calendar/v3/calendars/*/events\"]")),
      ok("path_star_inside_segment", allow("paths = [\"/calendar/v3/calendars/pri*/events\"]")),
      ok("path_double_star_in_middle", allow("paths = [\"/calendar/**/events\"]")),
      no_match("path_case_sensitive", allow("paths = [\"/Calendar/**\"]")),
      no_match("path_other", allow("paths = [\"/gmail/v1/**\"]")),
      denied("path_dot_segments_resolved", allow("paths = [\"/**\"]") + deny("paths = [\"/gmail/**\"]"),
             "denied_by_rule", "d1", [](PolicyRequest& r) { r.path = "/calendar/v3/../../gmail/v1/users/me/messages/send"; }),
      denied("path_double_slash_collapsed", allow("paths = [\"/**\"]") + deny("paths = [\"/gmail/**\"]"),
             "denied_by_rule", "d1", [](PolicyRequest& r) { r.path = "//gmail/v1/users/me/messages/send"; }),
      ok("hosts_and_paths_together",
         allow("hosts = [\"www.googleapis.com\"]\npaths = [\"/gmail/**\", \"/calendar/**\"]")),
      // ---- actor ----
      ok("actor_type", allow("actor = { type = \"ai_agent\" }")),
      no_match("actor_type_other", allow("actor = { type = \"mcp_server\" }")),
      ok("actor_type_application_is_empty_type", allow("actor = { type = \"application\" }"),
         [](PolicyRequest& r) { r.actor.type.clear(); }),
      ok("actor_type_list", allow("actor = { type = [\"mcp_server\", \"ai_agent\"] }")),
      ok("actor_id_glob", allow("actor = { type = \"ai_agent\", id = \"*-assistant-*\" }")),
      no_match("actor_id_glob_other", allow("actor = { id = \"calendar-*\" }")),
      ok("actor_id_exact", allow("actor = { id = \"email-assistant-v2\" }")),
      // ---- user attributes ----
      ok("user_equal", allow("user = { user_id = \"alice\" }")),
      no_match("user_equal_other", allow("user = { user_id = \"bob\" }")),
      ok("user_glob", allow("user = { team = { glob = \"eng-*\" } }")),
      no_match("user_glob_other", allow("user = { team = { glob = \"sales-*\" } }")),
      ok("user_one_of", allow("user = { user_id = { one_of = [\"bob\", \"alice\"] } }")),
      no_match("user_one_of_other", allow("user = { user_id = { one_of = [\"bob\", \"carol\"] } }")),
      no_match("user_attribute_missing", allow("user = { org = \"acme\" }")),
      no_match("user_all_attributes_must_hold", allow("user = { user_id = \"alice\", team = \"sales\" }")),
      ok("user_all_attributes_hold", allow("user = { user_id = \"alice\", team = { glob = \"eng-*\" } }")),
      // ---- absent criteria ----
      ok("no_criteria_matches_anything", allow("description = \"everything\"")),
      no_match("no_rules", "version = 1\n"),
      // ---- time window ----
      ok("time_window_inside", allow(paris_hours)),
      denied("time_window_after_hours", allow(paris_hours), "outside_time_window", "r1",
             [](PolicyRequest& r) { r.now = utc(2026, 1, 6, 16, 30); }),  // 17:30 in Paris
      denied("time_window_saturday", allow(paris_hours), "outside_time_window", "r1",
             [](PolicyRequest& r) { r.now = utc(2026, 1, 10, 10, 0); }),
      denied("time_window_zone_applies",
             allow("conditions.time_window = { hours = \"09:00-10:30\", time_zone = \"Europe/Paris\" }"),
             "outside_time_window", "r1"),  // 10:00 UTC is 11:00 in Paris
      ok("time_window_utc_default", allow("conditions.time_window = { hours = \"09:00-10:30\" }")),
      ok("time_window_summer_time",
         allow("conditions.time_window = { hours = \"09:00-17:00\", time_zone = \"America/New_York\" }"),
         [](PolicyRequest& r) { r.now = utc(2026, 7, 7, 13, 30); }),  // 09:30 EDT
      denied("time_window_winter_time",
             allow("conditions.time_window = { hours = \"09:00-17:00\", time_zone = \"America/New_York\" }"),
             "outside_time_window", "r1", [](PolicyRequest& r) { r.now = utc(2026, 1, 6, 13, 30); }),  // 08:30 EST
      ok("time_window_overnight_belongs_to_opening_day",
         allow("conditions.time_window = { days = [\"fri\"], hours = \"22:00-06:00\" }"),
         [](PolicyRequest& r) { r.now = utc(2026, 1, 10, 3, 0); }),  // Saturday 03:00
      denied("time_window_overnight_other_day",
             allow("conditions.time_window = { days = [\"fri\"], hours = \"22:00-06:00\" }"), "outside_time_window", "r1",
             [](PolicyRequest& r) { r.now = utc(2026, 1, 9, 3, 0); }),  // Friday 03:00 belongs to Thursday
      ok("time_window_days_only", allow("conditions.time_window = { days = [\"tuesday\"] }")),
      denied("deny_inside_its_window", allow("") + deny("conditions.time_window = { days = [\"tue\"] }"),
             "denied_by_rule", "d1"),
      ok("deny_outside_its_window_does_not_apply", allow("") + deny("conditions.time_window = { days = [\"sat\", \"sun\"] }")),
      // ---- reason ----
      ok("reason_required_given", allow("conditions.reason_required = true"),
         [](PolicyRequest& r) { r.reason = "Prepare the weekly summary"; }),
      denied("reason_required_missing", allow("conditions.reason_required = true"), "reason_required", "r1"),
      denied("reason_required_blank", allow("conditions.reason_required = true"), "reason_required", "r1",
             [](PolicyRequest& r) { r.reason = " \t "; }),
      ok("reason_matches", allow("conditions.reason_matches = \"TICKET-[0-9]+\""),
         [](PolicyRequest& r) { r.reason = "Working on TICKET-1234 for alice"; }),
      denied("reason_does_not_match", allow("conditions.reason_matches = \"TICKET-[0-9]+\""), "reason_required", "r1",
             [](PolicyRequest& r) { r.reason = "just because"; }),
      denied("reason_matches_implies_required", allow("conditions.reason_matches = \"^.*$\""), "reason_required", "r1"),
      denied("reason_anchored", allow("conditions.reason_matches = \"^TICKET\""), "reason_required", "r1",
             [](PolicyRequest& r) { r.reason = "see TICKET-1"; }),
      // ---- source IP ----
      ok("source_ip_v4_in_block", allow("conditions.source_ips = [\"10.0.0.0/8\"]")),
      denied("source_ip_v4_outside", allow("conditions.source_ips = [\"192.168.0.0/16\"]"), "source_ip_not_allowed", "r1"),
      ok("source_ip_v6_in_block", allow("conditions.source_ips = [\"10.0.0.0/8\", \"2001:db8::/32\"]"),
         [](PolicyRequest& r) { r.source_ip = "2001:db8:1::5"; }),
      ok("source_ip_v6_single", allow("conditions.source_ips = [\"::1\"]"), [](PolicyRequest& r) { r.source_ip = "::1"; }),
      denied("source_ip_v6_outside", allow("conditions.source_ips = [\"2001:db8::/32\"]"), "source_ip_not_allowed", "r1",
             [](PolicyRequest& r) { r.source_ip = "2001:db9::1"; }),
      ok("source_ip_v4_mapped", allow("conditions.source_ips = [\"10.0.0.0/8\"]"),
         [](PolicyRequest& r) { r.source_ip = "::ffff:10.9.8.7"; }),
      denied("source_ip_missing", allow("conditions.source_ips = [\"0.0.0.0/0\"]"), "source_ip_not_allowed", "r1",
             [](PolicyRequest& r) { r.source_ip.clear(); }),
      denied("source_ip_v4_vs_v6_block", allow("conditions.source_ips = [\"::/0\"]"), "source_ip_not_allowed", "r1"),
      denied("deny_from_a_block", allow("") + deny("conditions.source_ips = [\"10.1.0.0/16\"]"), "denied_by_rule", "d1"),
      ok("deny_from_another_block", allow("") + deny("conditions.source_ips = [\"203.0.113.0/24\"]")),
      // ---- token lifetime ----
      ok("token_lifetime_within", allow("conditions.max_token_lifetime = \"1h\"")),
      ok("token_lifetime_exactly", allow("conditions.max_token_lifetime = \"30m\"")),
      denied("token_lifetime_too_long", allow("conditions.max_token_lifetime = \"1h\""), "token_lifetime_exceeded", "r1",
             [](PolicyRequest& r) { r.token_expires_at = r.now + 2h; }),
      denied("token_never_expires", allow("conditions.max_token_lifetime = \"1h\""), "token_lifetime_exceeded", "r1",
             [](PolicyRequest& r) { r.token_expires_at.reset(); }),
      // ---- precedence ----
      denied("deny_wins_over_allow", allow("") + deny("providers = [\"google\"]"), "denied_by_rule", "d1"),
      denied("deny_wins_over_earlier_allow", allow("methods = [\"GET\"]") + deny("hosts = [\"*.googleapis.com\"]"),
             "denied_by_rule", "d1"),
      denied("deny_wins_over_approval", approval("") + deny(""), "denied_by_rule", "d1"),
      denied("first_deny_is_named", deny("", "d1") + deny("", "d2"), "denied_by_rule", "d1"),
      Case{"approval_wins_over_allow", allow("") + approval(""), kSame, Effect::kRequireApproval, "", "a1"},
      Case{"approval_first_in_order", approval("", "a1") + approval("", "a2"), kSame, Effect::kRequireApproval, "", "a1"},
      ok("failed_approval_leaves_allow", approval("conditions.reason_required = true") + allow("")),
      ok("second_allow_grants", allow("conditions.reason_required = true", "r0") + allow("", "r1")),
      denied("first_failure_in_order_is_named",
             allow("conditions.source_ips = [\"192.168.0.0/16\"]", "r1") + allow("conditions.reason_required = true", "r2"),
             "source_ip_not_allowed", "r1"),
      denied("condition_failure_beats_no_match", allow("providers = [\"slack\"]", "r0") + allow("conditions.reason_required = true"),
             "reason_required", "r1"),
      ok("other_provider_deny_is_irrelevant", deny("providers = [\"slack\"]") + allow("")),
      // ---- rate limits (prior requests share the limiter) ----
      ok("rate_limit_within", allow("conditions.rate_limit = { count = 2, per_period = \"minute\" }")),
      Case{"rate_limit_reached", allow("conditions.rate_limit = { count = 2, per_period = \"minute\" }"), kSame,
           Effect::kDeny, "rate_limited", "r1", 2, kSame},
      Case{"rate_limit_last_allowed", allow("conditions.rate_limit = { count = 2, per_period = \"minute\" }"), kSame,
           Effect::kAllow, "", "r1", 1, kSame},
      Case{"rate_limit_window_passed", allow("conditions.rate_limit = { count = 2, per_period = \"minute\" }"),
           [](PolicyRequest& r) { r.now += 60s; }, Effect::kAllow, "", "r1", 2, kSame},
      Case{"rate_limit_per_user", allow("conditions.rate_limit = { count = 1, per_period = \"hour\" }"), kSame,
           Effect::kAllow, "", "r1", 3, [](PolicyRequest& r) { r.user["user_id"] = "bob"; }},
      Case{"rate_limit_per_actor", allow("conditions.rate_limit = { count = 1, per_period = \"hour\" }"), kSame,
           Effect::kAllow, "", "r1", 3, [](PolicyRequest& r) { r.actor.id = "other-agent"; }},
      Case{"rate_limit_shared_per_app", allow("conditions.rate_limit = { count = 1, per_period = \"hour\", per = [] }"),
           kSame, Effect::kDeny, "rate_limited", "r1", 1, [](PolicyRequest& r) { r.actor.id = "other-agent"; }},
      Case{"rate_limit_per_app_separate", allow("conditions.rate_limit = { count = 1, per_period = \"hour\", per = [] }"),
           kSame, Effect::kAllow, "", "r1", 1, [](PolicyRequest& r) { r.app_id = "app_2"; }},
      Case{"rate_limit_falls_to_next_allow",
           allow("conditions.rate_limit = { count = 1, per_period = \"day\" }", "r0") + allow("", "r1"), kSame,
           Effect::kAllow, "", "r1", 1, kSame},
      Case{"rate_limited_approval_does_not_fall_to_allow",
           approval("conditions.rate_limit = { count = 1, per_period = \"day\" }") + allow(""), kSame, Effect::kDeny,
           "rate_limited", "a1", 1, kSame},
      Case{"rate_limit_not_eaten_by_other_denials",
           allow("conditions.rate_limit = { count = 1, per_period = \"day\" }\nconditions.reason_required = true"),
           [](PolicyRequest& r) { r.reason = "now with a reason"; }, Effect::kAllow, "", "r1", 3, kSame},
      Case{"rate_limit_not_eaten_when_denied_by_rule",
           allow("conditions.rate_limit = { count = 1, per_period = \"day\" }") + deny("methods = [\"DELETE\"]"), kSame,
           Effect::kAllow, "", "r1", 3, [](PolicyRequest& r) { r.method = "DELETE"; }},
  };
  return v;
}

class PolicyTable : public ::testing::TestWithParam<Case> {};

TEST_P(PolicyTable, Decides) {
  const Case& c = GetParam();
  auto compiled = CompiledPolicy::compile(c.policy, "toml");
  ASSERT_TRUE(compiled.ok()) << compiled.error().message << "\n" << c.policy;
  const auto& policy = *compiled.value();
  auto limiter = make_memory_rate_limiter();

  for (int i = 0; i < c.prior; ++i) {
    PolicyRequest prior = calendar_read();
    if (c.prior_modify) c.prior_modify(prior);
    (void)policy.evaluate(prior, *limiter);
  }
  PolicyRequest request = calendar_read();
  c.modify(request);

  const Decision explained = policy.explain(request, *limiter);
  const Decision decided = policy.evaluate(request, *limiter);
  for (const Decision* d : {&decided, &explained}) {
    SCOPED_TRACE(d == &decided ? "evaluate" : "explain");
    EXPECT_EQ(to_string(d->effect), to_string(c.effect)) << d->message << "\n" << d->trace.dump(2);
    EXPECT_EQ(d->policy_error, c.error) << d->message;
    EXPECT_EQ(d->rule_id, c.rule) << d->message;
    EXPECT_FALSE(d->message.empty());
  }
  EXPECT_TRUE(decided.trace.empty());
  ASSERT_EQ(explained.trace.size(), policy.rule_count());
  for (const auto& entry : explained.trace) {
    EXPECT_TRUE(entry.contains("rule") && entry.contains("matched") && entry.contains("outcome")) << entry.dump();
  }
  if (!c.rule.empty()) {
    // The deciding rule is the one the trace marks selected.
    int selected = 0;
    for (const auto& entry : explained.trace) {
      if (entry["outcome"] == "selected") {
        ++selected;
        EXPECT_EQ(entry["rule"], c.rule);
      }
    }
    EXPECT_EQ(selected, c.error == "rate_limited" ? 0 : 1) << explained.trace.dump(2);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, PolicyTable, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& param_info) { return param_info.param.name; });

TEST(PolicyTableCoverage, HasEveryErrorCodeAndEnoughCases) {
  const auto all = cases();
  EXPECT_GE(all.size(), 60u);
  for (const char* code : {"no_matching_rule", "denied_by_rule", "rate_limited", "outside_time_window", "reason_required",
                           "source_ip_not_allowed", "token_lifetime_exceeded"}) {
    EXPECT_TRUE(std::any_of(all.begin(), all.end(), [&](const Case& c) { return c.error == code; })) << code;
  }
}

}  // namespace
}  // namespace alter::server::policy
