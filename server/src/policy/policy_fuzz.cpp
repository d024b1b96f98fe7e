// libFuzzer target over the policy parser (built with the `fuzz` preset):
//   cmake --preset fuzz && cmake --build build/fuzz --target alter_policy_fuzz
//   build/fuzz/server/src/policy/alter_policy_fuzz -max_total_time=60 \
//       -dict=server/src/policy/policy_fuzz.dict server/src/policy/fuzz_corpus
//
// Each input is compiled as TOML and as JSON. A document that compiles must also: round-trip
// through its normalized JSON to the same normalized form, evaluate and explain a request to
// the same decision, and diff against itself as unchanged.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "policy/engine.hpp"

namespace {

using namespace alter::server::policy;

PolicyRequest sample_request() {
  PolicyRequest r;
  r.app_id = "app_1";
  r.actor = Actor{"ai_agent", "email-assistant-v2", "Email assistant"};
  r.provider_id = "google";
  r.user = {{"user_id", "alice"}, {"team", "eng-core"}};
  r.method = "GET";
  r.url = "https://www.googleapis.com/calendar/v3/calendars/primary/events";
  r.host = "www.googleapis.com";
  r.path = "/calendar/v3/calendars/primary/events";
  r.reason = "weekly summary TICKET-12";
  r.source_ip = "10.1.2.3";
  r.now = std::chrono::sys_days{std::chrono::year{2026} / 1 / 6} + std::chrono::hours(10);
  r.token_expires_at = r.now + std::chrono::minutes(30);
  return r;
}

void check(const CompiledPolicy& policy) {
  const nlohmann::json normalized = policy.to_json();
  const std::string text = normalized.dump();
  if (text.size() <= kMaxDocumentBytes) {
    auto again = CompiledPolicy::compile(text, "json");
    if (!again.ok() || again.value()->to_json() != normalized) __builtin_trap();
    if (diff(policy, *again.value())["summary"].get<std::string>().find("0 changed") == std::string::npos) __builtin_trap();
  }
  auto limiter = make_memory_rate_limiter();
  const PolicyRequest request = sample_request();
  const Decision explained = policy.explain(request, *limiter);  // first: it must not consume quota
  const Decision decided = policy.evaluate(request, *limiter);
  if (explained.effect != decided.effect || explained.policy_error != decided.policy_error ||
      explained.rule_id != decided.rule_id || explained.trace.size() != policy.rule_count()) {
    __builtin_trap();
  }
  (void)explained.trace.dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const char* format : {"toml", "json"}) {
    auto compiled = CompiledPolicy::compile(text, format);
    if (compiled.ok()) {
      check(*compiled.value());
    } else if (compiled.error().message.empty()) {
      __builtin_trap();  // every refusal says why
    }
  }
  return 0;
}
