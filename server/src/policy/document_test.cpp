// Documents: both formats, errors that name the field and line, normalization, limits.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "policy/document.hpp"
#include "policy/engine.hpp"

namespace alter::server::policy {
namespace {

using ::testing::HasSubstr;

constexpr const char* kFull = R"(version = 1
description = "Assistants"

[[rules]]
id = "calendar-read"
description = "Agents may read calendars"
effect = "allow"
providers = ["google"]
methods = ["GET"]
hosts = ["www.googleapis.com"]
paths = ["/calendar/v3/**"]
actor = { type = "ai_agent", id = "*-assistant-*" }
user = { user_id = { one_of = ["alice", "bob"] } }
[rules.conditions]
time_window = { days = ["mon","tue","wed","thu","fri"], hours = "08:00-18:00", time_zone = "Europe/Paris" }
reason_required = true
rate_limit = { count = 100, per_period = "minute", per = ["actor", "user"] }
source_ips = ["10.0.0.0/8", "::1/128"]
max_token_lifetime = "1h"

[[rules]]
id = "gmail-send"
effect = "require_approval"
providers = "google"
methods = ["post"]
paths = ["/gmail/v1/users/*/messages/send"]
user = { team = { glob = "eng-*" }, org = "acme" }
[rules.approval]
ttl = "15m"
window = "1h"
)";

DocumentError toml_error(const std::string& text) {
  auto doc = parse_document(text, "toml");
  EXPECT_FALSE(doc.ok()) << text;
  return doc.ok() ? DocumentError{} : doc.error();
}

DocumentError json_error(const std::string& text) {
  auto doc = parse_document(text, "json");
  EXPECT_FALSE(doc.ok()) << text;
  return doc.ok() ? DocumentError{} : doc.error();
}

TEST(Document, ParsesTheFullExample) {
  auto doc = parse_document(kFull, "toml");
  ASSERT_TRUE(doc.ok()) << doc.error().to_string();
  ASSERT_EQ(doc->rules.size(), 2u);
  const RuleSpec& read = doc->rules[0];
  EXPECT_EQ(read.id, "calendar-read");
  EXPECT_EQ(read.effect, Effect::kAllow);
  EXPECT_EQ(read.line, 4u);
  EXPECT_EQ(read.actor_types, std::vector<std::string>{"ai_agent"});
  EXPECT_EQ(read.user.at("user_id").kind, ValueMatcher::Kind::kOneOf);
  ASSERT_TRUE(read.conditions.time_window);
  EXPECT_EQ(read.conditions.time_window->days, 0b0011111);
  EXPECT_EQ(read.conditions.time_window->start_minute, 8 * 60);
  EXPECT_EQ(read.conditions.rate_limit->count, 100);
  EXPECT_TRUE(read.conditions.rate_limit->per_actor);
  EXPECT_TRUE(read.conditions.rate_limit->per_user);
  EXPECT_FALSE(read.conditions.rate_limit->per_rule);
  EXPECT_EQ(read.conditions.max_token_lifetime, std::chrono::hours(1));
  const RuleSpec& send = doc->rules[1];
  EXPECT_EQ(send.methods, std::vector<std::string>{"POST"});
  EXPECT_EQ(send.approval.ttl, std::chrono::minutes(15));
  EXPECT_EQ(send.approval.window, std::chrono::hours(1));
}

TEST(Document, JsonIsTheSameStructure) {
  auto toml = parse_document(kFull, "toml");
  ASSERT_TRUE(toml.ok());
  const std::string json_text = to_json(toml.value()).dump(2);
  auto json = parse_document(json_text, "auto");
  ASSERT_TRUE(json.ok()) << json.error().to_string() << "\n" << json_text;
  EXPECT_EQ(to_json(json.value()), to_json(toml.value()));
}

TEST(Document, NormalizedForm) {
  auto doc = parse_document(kFull, "toml");
  ASSERT_TRUE(doc.ok());
  const auto j = to_json(doc.value());
  EXPECT_EQ(j["rules"][0]["conditions"]["time_window"]["hours"], "08:00-18:00");
  EXPECT_EQ(j["rules"][0]["conditions"]["max_token_lifetime"], "1h");
  EXPECT_EQ(j["rules"][0]["conditions"]["rate_limit"]["per"], nlohmann::json({"actor", "user"}));
  EXPECT_EQ(j["rules"][1]["providers"], nlohmann::json({"google"}));
  EXPECT_EQ(j["rules"][1]["methods"], nlohmann::json({"POST"}));
  EXPECT_EQ(j["rules"][1]["user"]["org"], "acme");
  EXPECT_EQ(j["rules"][1]["user"]["team"]["glob"], "eng-*");
  EXPECT_EQ(j["rules"][1]["approval"], nlohmann::json({{"ttl", "15m"}, {"window", "1h"}}));
}

TEST(Document, DefaultsAreSpelledOut) {
  auto doc = parse_document("[[rules]]\nid = \"a\"\neffect = \"require_approval\"\n"
                            "conditions.rate_limit = { count = 5, per_period = \"hour\" }\n",
                            "toml");
  ASSERT_TRUE(doc.ok()) << doc.error().to_string();
  const auto j = to_json(doc.value());
  EXPECT_EQ(j["rules"][0]["approval"]["ttl"], "15m");
  EXPECT_FALSE(j["rules"][0]["approval"].contains("window"));
  EXPECT_EQ(j["rules"][0]["conditions"]["rate_limit"]["per"], nlohmann::json({"actor", "user", "rule"}));
}

TEST(DocumentErrors, NameFieldAndLine) {
  auto e = toml_error("version = 1\n[[rules]]\nid = \"a\"\neffect = \"permit\"\n");
  EXPECT_EQ(e.field, "rules[0].effect");
  EXPECT_EQ(e.line, 4u);
  EXPECT_THAT(e.to_string(), HasSubstr("line 4: rules[0].effect: \"permit\" is not an effect"));

  e = toml_error("[[rules]]\nid = \"a\"\neffect = \"allow\"\n\n[[rules]]\nid = \"b\"\neffect = \"allow\"\n"
                 "[rules.conditions]\nrate_limit = { count = 0, per_period = \"minute\" }\n");
  EXPECT_EQ(e.field, "rules[1].conditions.rate_limit.count");
  EXPECT_EQ(e.line, 9u);
}

TEST(DocumentErrors, UnknownKeys) {
  auto e = toml_error("[[rules]]\nid = \"a\"\neffect = \"allow\"\nprovider = \"google\"\n");
  EXPECT_EQ(e.field, "rules[0].provider");
  EXPECT_EQ(e.line, 4u);
  EXPECT_THAT(e.message, HasSubstr("unknown key \"provider\""));
  EXPECT_THAT(e.message, HasSubstr("providers"));

  e = toml_error("[[rules]]\nid = \"a\"\neffect = \"allow\"\n[rules.conditions]\nbusiness_hours = true\n");
  EXPECT_EQ(e.field, "rules[0].conditions.business_hours");
  EXPECT_EQ(e.line, 5u);

  e = toml_error("colour = \"blue\"\n");
  EXPECT_EQ(e.field, "colour");
}

TEST(DocumentErrors, MissingFieldsPointAtTheRule) {
  auto e = toml_error("version = 1\n\n[[rules]]\neffect = \"allow\"\n");
  EXPECT_EQ(e.field, "rules[0].id");
  EXPECT_EQ(e.line, 3u);
  EXPECT_THAT(e.message, HasSubstr("required"));
  e = toml_error("[[rules]]\nid = \"a\"\n");
  EXPECT_EQ(e.field, "rules[0].effect");
}

TEST(DocumentErrors, RuleIds) {
  auto e = toml_error("[[rules]]\nid = \"a\"\neffect = \"allow\"\n[[rules]]\nid = \"a\"\neffect = \"deny\"\n");
  EXPECT_EQ(e.field, "rules[1].id");
  EXPECT_EQ(e.line, 5u);
  EXPECT_THAT(e.message, HasSubstr("duplicate rule id"));
  for (const char* bad : {"Upper", "-lead", "with space", "", "emoji\xF0\x9F\x98\x80"}) {
    e = toml_error(std::string("[[rules]]\nid = \"") + bad + "\"\neffect = \"allow\"\n");
    EXPECT_EQ(e.field, "rules[0].id") << bad;
  }
}

TEST(DocumentErrors, ValuesOfEachKind) {
  struct Bad {
    std::string body;
    std::string field;
    std::string message;
  };
  const Bad bads[] = {
      {"providers = []", "rules[0].providers", "must not be an empty array"},
      {"providers = [1]", "rules[0].providers[0]", "must be a string"},
      {"methods = [\"GET\", \"G ET\"]", "rules[0].methods[1]", "not an HTTP method"},
      {"hosts = [\"https://www.googleapis.com\"]", "rules[0].hosts[0]", "not a host name"},
      {"hosts = [\"api.example.com:443\"]", "rules[0].hosts[0]", "without a port"},
      {"hosts = [\"a**.example.com\"]", "rules[0].hosts[0]", "whole segment"},
      {"paths = [\"calendar/**\"]", "rules[0].paths[0]", "must start with '/'"},
      {"paths = [\"/a?b=c\"]", "rules[0].paths[0]", "without query"},
      {"actor = { type = \"robot\" }", "rules[0].actor.type", "not an actor type"},
      {"actor = { name = \"x\" }", "rules[0].actor.name", "unknown key"},
      {"user = { team = { regex = \"x\" } }", "rules[0].user.team.regex", "unknown key"},
      {"user = { team = { glob = \"a\", one_of = [\"b\"] } }", "rules[0].user.team", "exactly one"},
      {"user = { team = 3 }", "rules[0].user.team", "must be a string"},
      {"user = { team = { one_of = \"x\" } }", "rules[0].user.team.one_of", "must be an array"},
      {"conditions.time_window = { days = [\"funday\"] }", "rules[0].conditions.time_window.days[0]", "not a day"},
      {"conditions.time_window = { hours = \"9-5\" }", "rules[0].conditions.time_window.hours", "not a range of hours"},
      {"conditions.time_window = { hours = \"09:00-09:00\" }", "rules[0].conditions.time_window.hours", "empty range"},
      {"conditions.time_window = { hours = \"24:00-09:00\" }", "rules[0].conditions.time_window.hours", "not a range"},
      {"conditions.time_window = { time_zone = \"UTC\" }", "rules[0].conditions.time_window", "needs days, hours"},
      {"conditions.time_window = { days = [\"mon\"], time_zone = \"Europe/Pariss\" }",
       "rules[0].conditions.time_window.time_zone", "unknown time zone"},
      {"conditions.reason_required = \"yes\"", "rules[0].conditions.reason_required", "true or false"},
      {"conditions.reason_matches = \"(\"", "rules[0].conditions.reason_matches", "not a valid regular expression"},
      {"conditions.reason_matches = \"a\"\nconditions.reason_required = false", "rules[0].conditions.reason_required",
       "cannot be false"},
      {"conditions.rate_limit = { count = 10 }", "rules[0].conditions.rate_limit.per_period", "required"},
      {"conditions.rate_limit = { count = 10, per_period = \"week\" }", "rules[0].conditions.rate_limit.per_period",
       "not a period"},
      {"conditions.rate_limit = { count = 1.5, per_period = \"day\" }", "rules[0].conditions.rate_limit.count", "integer"},
      {"conditions.rate_limit = { count = 1, per_period = \"day\", per = [\"ip\"] }",
       "rules[0].conditions.rate_limit.per[0]", "not a rate-limit key"},
      {"conditions.source_ips = [\"10.0.0.0/33\"]", "rules[0].conditions.source_ips[0]", "prefix length"},
      {"conditions.source_ips = [\"localhost\"]", "rules[0].conditions.source_ips[0]", "not an IPv4 or IPv6"},
      {"conditions.max_token_lifetime = \"1 hour\"", "rules[0].conditions.max_token_lifetime", "not a duration"},
      {"conditions.max_token_lifetime = \"0s\"", "rules[0].conditions.max_token_lifetime", "longer than 0s"},
      {"approval = { ttl = \"15m\" }", "rules[0].approval", "only for require_approval"},
  };
  for (const auto& bad : bads) {
    const auto e = toml_error("[[rules]]\nid = \"r\"\neffect = \"allow\"\n" + bad.body + "\n");
    EXPECT_EQ(e.field, bad.field) << bad.body << " -> " << e.to_string();
    EXPECT_THAT(e.message, HasSubstr(bad.message)) << bad.body;
    EXPECT_GE(e.line, 4u) << bad.body;
  }
}

TEST(DocumentErrors, DenyRulesTakeOnlyScopingConditions) {
  for (const char* condition : {"reason_required = true", "rate_limit = { count = 1, per_period = \"day\" }",
                                "max_token_lifetime = \"1h\"", "reason_matches = \"x\""}) {
    const auto e = toml_error(std::string("[[rules]]\nid = \"d\"\neffect = \"deny\"\n[rules.conditions]\n") + condition + "\n");
    EXPECT_THAT(e.message, HasSubstr("not a condition of deny rules")) << condition;
  }
  auto ok = parse_document("[[rules]]\nid = \"d\"\neffect = \"deny\"\n[rules.conditions]\nsource_ips = [\"0.0.0.0/0\"]\n"
                           "time_window = { days = [\"sat\", \"sun\"] }\n",
                           "toml");
  EXPECT_TRUE(ok.ok());
}

TEST(DocumentErrors, ApprovalDurations) {
  auto e = toml_error("[[rules]]\nid = \"a\"\neffect = \"require_approval\"\napproval = { ttl = \"90d\" }\n");
  EXPECT_EQ(e.field, "rules[0].approval.ttl");
  EXPECT_THAT(e.message, HasSubstr("at most 30d"));
  e = toml_error("[[rules]]\nid = \"a\"\neffect = \"require_approval\"\napproval = { once = true }\n");
  EXPECT_EQ(e.field, "rules[0].approval.once");
}

TEST(DocumentErrors, TomlSyntax) {
  auto e = toml_error("version = 1\n[[rules]\nid = \"a\"\n");
  EXPECT_EQ(e.line, 2u);
  EXPECT_THAT(e.message, HasSubstr("TOML syntax error"));
  EXPECT_THAT(e.to_string(), HasSubstr("line 2, column"));
  e = toml_error("[[rules]]\nid = \"a\"\nid = \"b\"\n");
  EXPECT_EQ(e.line, 3u);
  e = toml_error("[[rules]]\nid = \"a\"\neffect = \"allow\"\ndescription = 1979-05-27\n");
  EXPECT_EQ(e.line, 4u);
  EXPECT_THAT(e.message, HasSubstr("dates and times"));
}

TEST(DocumentErrors, JsonNamesThePointer) {
  auto e = json_error(R"({"version": 1, "rules": [{"id": "a", "effect": "allow"}, {"id": "b", "effect": "allow",
    "conditions": {"rate_limit": {"count": -1, "per_period": "minute"}}}]})");
  EXPECT_EQ(e.field, "rules[1].conditions.rate_limit.count");
  EXPECT_EQ(e.pointer, "/rules/1/conditions/rate_limit/count");
  EXPECT_EQ(e.line, 0u);
  EXPECT_THAT(e.to_string(), HasSubstr("(/rules/1/conditions/rate_limit/count)"));

  e = json_error(R"({"rules": [{"id": "a", "effect": "allow", "user": {"a/b": {"glob": 1}}}]})");
  EXPECT_EQ(e.pointer, "/rules/0/user/a~1b/glob");
}

TEST(DocumentErrors, JsonSyntaxHasALine) {
  auto e = json_error("{\n  \"version\": 1,\n  \"rules\": [\n    {\"id\": \"a\",}\n  ]\n}\n");
  EXPECT_EQ(e.line, 4u);
  EXPECT_THAT(e.message, HasSubstr("JSON syntax error"));
}

TEST(DocumentErrors, JsonDuplicateKeysAreRefused) {
  auto e = json_error(R"({"rules": [{"id": "a", "effect": "deny", "effect": "allow"}]})");
  EXPECT_THAT(e.message, HasSubstr("duplicate key \"effect\""));
}

TEST(DocumentErrors, JsonNestingIsBounded) {
  auto e = json_error(std::string(100000, '[') + std::string(100000, ']'));
  EXPECT_THAT(e.message, HasSubstr("nested too deeply"));
}

// toml++ recurses per dotted-key part and per nesting level: every way of going deep is refused
// with a line before it parses, and what real documents do still parses.
TEST(DocumentErrors, TomlShapesThatWouldRecurseTooDeepAreRefusedWithALine) {
  auto join = [](const std::string& part, const std::string& sep, int n) {
    std::string out = part;
    for (int i = 1; i < n; ++i) out += sep + part;
    return out;
  };
  const struct {
    const char* name;
    std::string text;
    std::size_t line;
    const char* says;
  } refused[] = {
      {"a table header of 30,000 parts", "[" + join("t", ".", 30000) + "]\n", 1, "dotted key parts"},
      {"an array-of-tables header", "version = 1\n[[" + join("rules", ".", 5000) + "]]\n", 2, "dotted key parts"},
      {"a dotted key", "\n\n" + join("a", ".", 200) + " = 1\n", 3, "dotted key parts"},
      {"a dotted key with spaces", join("a", " . ", 200) + " = 1\n", 1, "dotted key parts"},
      {"quoted parts", join("\"a\"", ".", 200) + " = 1\n", 1, "dotted key parts"},
      {"numeric parts", "[" + join("1", ".", 200) + "]\n", 1, "dotted key parts"},
      {"in an inline table", "x = { " + join("a", ".", 200) + " = 1 }\n", 1, "dotted key parts"},
      {"nested arrays", "x = " + std::string(100000, '[') + std::string(100000, ']') + "\n", 1, "nested more than 32"},
      {"nested inline tables", "x = " + join("{a = ", "", 1000) + "1" + std::string(1000, '}') + "\n", 1, "nested more than 32"},
      {"after a multi-line string ending in a quote", "x = [ \"\"\"a\"\"\"\", { " + join("a", ".", 200) + " = 1 } ]\n", 1, "dotted key parts"},
      {"after a literal one ending in two", "x = [ '''a''''', { " + join("a", ".", 200) + " = 1 } ]\n", 1, "dotted key parts"},
      {"nested over several lines", "x = [\n" + join("[", "\n", 40) + "\n", 33, "nested more than 32"},
  };
  for (const auto& c : refused) {
    SCOPED_TRACE(c.name);
    auto e = toml_error(c.text);
    EXPECT_EQ(e.line, c.line);
    EXPECT_THAT(e.message, HasSubstr(c.says));
  }
  // Dots and brackets inside strings and comments are not structure.
  const std::string in_strings = "version = 1\n# " + std::string(1000, '.') + std::string(100, '[') + "\n[[rules]]\nid = \"a\"\n"
                                 "effect = \"allow\"\nproviders = [\"google\"]\ndescription = \"" + std::string(1000, '.') + "\"\n"
                                 "paths = ['/api/**']\n[[rules]]\nid = 'b'\neffect = 'deny'\nproviders = ['google']\ndescription = '" +
                                 std::string(200, '.') + "[[[{{{'\n";
  auto ok = parse_document(in_strings, "toml");
  EXPECT_TRUE(ok.ok()) << ok.error().message;
  const std::string multi = "version = 1\n[[rules]]\nid = \"a\"\neffect = \"allow\"\nproviders = [\"google\"]\ndescription = \"\"\"\n" +
                            std::string(500, '.') + "\n" + std::string(100, '[') + "\n\"\"\"\n";
  auto ok2 = parse_document(multi, "toml");
  EXPECT_TRUE(ok2.ok()) << ok2.error().message;
}

TEST(DocumentErrors, SizeAndFormat) {
  auto e = toml_error(std::string(kMaxDocumentBytes + 1, '#'));
  EXPECT_THAT(e.message, HasSubstr("larger than 1024 KiB"));
  auto f = parse_document("{}", "yaml");
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(f.error().message, HasSubstr("unknown policy format"));
  auto version = parse_document("version = 2\n", "toml");
  ASSERT_FALSE(version.ok());
  EXPECT_EQ(version.error().field, "version");
}

TEST(Document, AutoDetectsAndSkipsTheByteOrderMark) {
  EXPECT_TRUE(parse_document("  \n{\"rules\": []}", "auto").ok());
  EXPECT_TRUE(parse_document("\xEF\xBB\xBFversion = 1\n", "auto").ok());
  EXPECT_TRUE(parse_document("", "auto").ok());  // no rules: everything denied
}

TEST(Document, CompileReportsAsInvalidPolicy) {
  auto bad = CompiledPolicy::compile("[[rules]]\nid = \"a\"\neffect = \"allow\"\nmethods = 3\n", "toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().errc, Errc::kInvalidArgument);
  EXPECT_EQ(bad.error().code, "invalid_policy");
  EXPECT_THAT(bad.error().message, HasSubstr("line 4: rules[0].methods: must be a string or an array of strings"));
}

TEST(Document, TenThousandRulesCompile) {
  std::string text = "version = 1\n";
  for (int i = 0; i < 10000; ++i) {
    text += "[[rules]]\nid = \"r" + std::to_string(i) + "\"\neffect = \"allow\"\nproviders = [\"p" +
            std::to_string(i % 50) + "\"]\npaths = [\"/v1/items/" + std::to_string(i) + "/**\"]\n";
  }
  ASSERT_LT(text.size(), kMaxDocumentBytes);
  auto compiled = CompiledPolicy::compile(text, "toml");
  ASSERT_TRUE(compiled.ok()) << compiled.error().message;
  EXPECT_EQ(compiled.value()->rule_count(), 10000u);
}

}  // namespace
}  // namespace alter::server::policy
