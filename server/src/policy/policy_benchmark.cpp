// Decision time for 1, 100 and 10,000 rules (figures in docs/performance.md), the cost of
// compiling a version, and the cost of a time-zone conversion (docs/adr/0003-...).
//
//   cmake --build build/policy-bench --target alter_policy_benchmark
//   build/policy-bench/server/src/policy/alter_policy_benchmark
#include <benchmark/benchmark.h>
#include <date/tz.h>

#include <cstdlib>
#include <ctime>
#include <cstdio>
#include <string>
#include <vector>

#include "policy/engine.hpp"
#include "policy/test_support.hpp"
#include "policy/time_window.hpp"

namespace alter::server::policy {
namespace {

constexpr const char* kProviders[] = {"google", "microsoft", "slack", "github", "gitlab", "notion", "linear",
                                      "atlassian", "dropbox", "box", "salesforce", "hubspot", "zendesk",
                                      "intercom", "asana", "airtable", "figma", "stripe", "shopify", "spotify",
                                      "discord", "sentry", "bitbucket", "quickbooks", "linkedin"};
constexpr int kProviderCount = sizeof(kProviders) / sizeof(kProviders[0]);

/// `count` realistic rules: providers spread over the catalog (or all on google), methods, host
/// and path globs, actor and user criteria, a quarter with a time window, some with source IPs
/// or reasons, one in twenty a deny. None of them matches the benchmark request except the last,
/// which allows it: every rule has to be considered.
///
/// These rules average ~400 bytes of TOML, so 10,000 of them (4 MB) exceed the 1 MiB cap on one
/// document: they are parsed as documents of 1,000 rules and compiled as one PolicyDocument.
/// (A 10,000-rule document of compact rules within 1 MiB is in document_test.cpp.)
std::string rule_text(int i, bool one_provider) {
  const std::string n = std::to_string(i);
  const char* provider = one_provider ? "google" : kProviders[i % kProviderCount];
  const bool deny = i % 20 == 0;
  std::string text = "[[rules]]\nid = \"rule-" + n + "\"\neffect = \"" +
                     (deny ? "deny" : (i % 7 == 0 ? "require_approval" : "allow")) + "\"\n";
  text += "providers = [\"" + std::string(provider) + "\"]\n";
  text += i % 3 == 0 ? "methods = [\"GET\", \"HEAD\"]\n" : "methods = [\"POST\", \"PUT\", \"PATCH\"]\n";
  text += "hosts = [\"*.api" + std::to_string(i % 11) + ".example.com\"]\n";
  text += "paths = [\"/v" + std::to_string(i % 3) + "/resources/" + n + "/**\", \"/v1/items/*/children/" + n + "\"]\n";
  text += "actor = { type = \"ai_agent\", id = \"agent-" + std::to_string(i % 13) + "-*\" }\n";
  text += "user = { team = { glob = \"team-" + std::to_string(i % 5) + "*\" } }\n";
  if (i % 4 == 0) {
    text += "conditions.time_window = { days = [\"mon\",\"tue\",\"wed\",\"thu\",\"fri\"], hours = \"08:00-19:00\", "
            "time_zone = \"" + std::string(i % 8 == 0 ? "Europe/Paris" : "America/New_York") + "\" }\n";
  }
  if (!deny && i % 10 == 1) text += "conditions.source_ips = [\"10.0.0.0/8\", \"2001:db8::/32\"]\n";
  if (!deny && i % 6 == 2) text += "conditions.reason_required = true\n";
  return text;
}

constexpr const char* kLastRule = R"([[rules]]
id = "calendar-read"
effect = "allow"
providers = ["google"]
methods = ["GET"]
hosts = ["www.googleapis.com"]
paths = ["/calendar/v3/**"]
actor = { type = "ai_agent", id = "*-assistant-*" }
user = { user_id = { one_of = ["alice", "bob"] } }
conditions.time_window = { days = ["mon","tue","wed","thu","fri"], hours = "08:00-18:00", time_zone = "Europe/Paris" }
conditions.source_ips = ["10.0.0.0/8"]
)";

std::vector<std::string> generate(int count, bool one_provider) {
  std::vector<std::string> chunks(1, "version = 1\n");
  for (int i = 0; i < count - 1; ++i) {
    if (i > 0 && i % 1000 == 0) chunks.emplace_back("version = 1\n");
    chunks.back() += rule_text(i, one_provider);
  }
  chunks.back() += kLastRule;
  return chunks;
}

std::shared_ptr<const CompiledPolicy> build(const std::vector<std::string>& chunks) {
  PolicyDocument merged;
  for (const auto& chunk : chunks) {
    auto doc = parse_document(chunk, "toml");
    if (!doc) {
      std::fprintf(stderr, "%s\n", doc.error().to_string().c_str());
      std::abort();
    }
    for (auto& rule : doc.value().rules) merged.rules.push_back(std::move(rule));
  }
  auto compiled = CompiledPolicy::compile(std::move(merged));
  if (!compiled) {
    std::fprintf(stderr, "%s\n", compiled.error().message.c_str());
    std::abort();
  }
  return compiled.value();
}

std::shared_ptr<const CompiledPolicy> compile_or_die(const std::string& text) { return build({text}); }

void run_evaluate(benchmark::State& state, bool one_provider, bool explain) {
  const int rules = static_cast<int>(state.range(0));
  const auto policy = build(generate(rules, one_provider));
  auto limiter = make_memory_rate_limiter();
  PolicyRequest request = testing::calendar_read();
  for (auto _ : state) {
    Decision d = explain ? policy->explain(request, *limiter) : policy->evaluate(request, *limiter);
    if (d.effect != Effect::kAllow) state.SkipWithError(("unexpected decision: " + d.message).c_str());
    benchmark::DoNotOptimize(d);
  }
  state.counters["rules"] = rules;
}

void BM_Evaluate(benchmark::State& state) { run_evaluate(state, false, false); }
void BM_EvaluateOneProvider(benchmark::State& state) { run_evaluate(state, true, false); }
void BM_Explain(benchmark::State& state) { run_evaluate(state, false, true); }

void BM_EvaluateRateLimited(benchmark::State& state) {
  // A granting rule with a rate limit: the key is built and the limiter hit on every decision.
  const auto policy = compile_or_die(
      "[[rules]]\nid = \"r\"\neffect = \"allow\"\nconditions.rate_limit = { count = 1000000000, per_period = \"day\" }\n");
  auto limiter = make_memory_rate_limiter();
  PolicyRequest request = testing::calendar_read();
  for (auto _ : state) benchmark::DoNotOptimize(policy->evaluate(request, *limiter));
}

void BM_Compile(benchmark::State& state) {
  // Parse + validate + compile.
  const auto chunks = generate(static_cast<int>(state.range(0)), false);
  std::size_t bytes = 0;
  for (const auto& chunk : chunks) bytes += chunk.size();
  for (auto _ : state) benchmark::DoNotOptimize(build(chunks));
  state.counters["bytes"] = static_cast<double>(bytes);
}

// ---- time zones (docs/adr/0003-date-tz-for-time-zones.md) ----

void BM_ZoneToLocal(benchmark::State& state) {
  Zone zone;
  if (!Zone::lookup("Europe/Paris", zone, nullptr)) state.SkipWithError("no tz database");
  TimePoint t = testing::utc(2026, 1, 6, 10, 0);
  for (auto _ : state) {
    benchmark::DoNotOptimize(zone.to_local(t));
    t += std::chrono::seconds(37);
  }
}

void BM_ZoneToLocalUtc(benchmark::State& state) {
  Zone zone;
  (void)Zone::lookup("UTC", zone, nullptr);
  TimePoint t = testing::utc(2026, 1, 6, 10, 0);
  for (auto _ : state) {
    benchmark::DoNotOptimize(zone.to_local(t));
    t += std::chrono::seconds(37);
  }
}

void BM_DateLocateZone(benchmark::State& state) {
  (void)date::locate_zone("Europe/Paris");  // the database list is loaded once per process
  for (auto _ : state) benchmark::DoNotOptimize(date::locate_zone("America/New_York"));
}

void BM_PosixLocaltimeR(benchmark::State& state) {
  // The alternative: TZ + tzset + localtime_r. Process-global (one zone at a time for the whole
  // process, racy with other threads' getenv/setenv), so it is measured for comparison only.
  setenv("TZ", "Europe/Paris", 1);
  tzset();
  std::time_t t = 1767693600;  // 2026-01-06 10:00 UTC
  std::tm out{};
  for (auto _ : state) {
    benchmark::DoNotOptimize(localtime_r(&t, &out));
    t += 37;
  }
  unsetenv("TZ");
  tzset();
}

BENCHMARK(BM_Evaluate)->Arg(1)->Arg(100)->Arg(10000);
BENCHMARK(BM_EvaluateOneProvider)->Arg(1)->Arg(100)->Arg(10000);
BENCHMARK(BM_Explain)->Arg(1)->Arg(100)->Arg(10000);
BENCHMARK(BM_EvaluateRateLimited);
BENCHMARK(BM_Compile)->Arg(1)->Arg(100)->Arg(10000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ZoneToLocal);
BENCHMARK(BM_ZoneToLocalUtc);
BENCHMARK(BM_DateLocateZone);
BENCHMARK(BM_PosixLocaltimeR);

}  // namespace
}  // namespace alter::server::policy

BENCHMARK_MAIN();
