// Micro-benchmarks of the pieces on the token path (issue: benchmarks, point 2). Policy evaluation
// has its own benchmark beside the engine (server/src/policy/policy_benchmark.cpp).
#include <benchmark/benchmark.h>

#include "api/input.hpp"
#include "audit/audit.hpp"
#include "crypto/aead.hpp"
#include "crypto/crypto.hpp"
#include "crypto/keyring.hpp"
#include "sealed/sealed_store.hpp"
#include "url_builder.hpp"

namespace {

using namespace alter::server;

void BM_OpenTokenSet(benchmark::State& state) {
  auto master = crypto::MasterKey::random();
  std::vector<KeyringEntry> entries{crypto::Keyring::make_entry(1, master, {})};
  auto ring = crypto::Keyring::open(entries, master).value();
  sealed::SealedStore sealed(ring, master);
  Connection c;
  c.app_id = "default";
  c.provider_id = "google";
  c.attributes = {{"user_id", "alice"}};
  c.tokens = sealed.seal_tokens(c, std::string(180, 'a'), std::string(100, 'r'), "");
  for (auto _ : state) {
    auto t = sealed.open_tokens(c);
    benchmark::DoNotOptimize(t);
  }
}
BENCHMARK(BM_OpenTokenSet);

void BM_AesGcmOpen(benchmark::State& state) {
  const std::string key = crypto::random_bytes(crypto::kKeySize);
  const std::string blob = crypto::seal(key, 1, std::string(static_cast<std::size_t>(state.range(0)), 't'), "aad");
  for (auto _ : state) benchmark::DoNotOptimize(crypto::open(key, blob, "aad"));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_AesGcmOpen)->Arg(256)->Arg(4096);

void BM_UrlTemplating(benchmark::State& state) {
  const std::map<std::string, std::string> path = {{"calendar_id", "primary/../x y"}};
  const std::map<std::string, std::string> query = {{"maxResults", "10"}, {"q", "a b&c"}};
  for (auto _ : state) {
    auto u = alter::internal::build_url("https://www.googleapis.com/calendar/v3/calendars/{calendar_id}/events", path, query);
    benchmark::DoNotOptimize(u);
  }
}
BENCHMARK(BM_UrlTemplating);

void BM_TokenRequestParse(benchmark::State& state) {
  http::Request req;
  req.body = R"({"provider_id":"google","attributes":{"user_id":"alice"},"reason":"Listing events","method":"GET",)"
             R"("url":"https://www.googleapis.com/calendar/v3/calendars/primary/events?maxResults=10",)"
             R"("run_id":"550e8400-e29b-41d4-a716-446655440000","thread_id":"thread-xyz","tool_call_id":"call_abc_123"})";
  for (auto _ : state) {
    auto j = api::json_object_body(req);
    auto p = api::string_field(*j, "provider_id", {.required = true});
    auto a = api::string_map_field(*j, "attributes", true);
    benchmark::DoNotOptimize(p);
    benchmark::DoNotOptimize(a);
  }
}
BENCHMARK(BM_TokenRequestParse);

void BM_AuditRowHash(benchmark::State& state) {
  auto record = audit::make_record({{"kind", "token"}, {"app_id", "default"}, {"decision", "issued"},
                                    {"actor", {{"type", "ai_agent"}, {"id", "email-assistant-v2"}}},
                                    {"user", {{"user_id", "alice"}}}, {"provider_id", "google"},
                                    {"url", "https://www.googleapis.com/calendar/v3/calendars/primary/events"},
                                    {"request_id", "8e0f1a52-0000-4000-8000-000000000000"}},
                                   std::chrono::system_clock::now());
  std::int64_t seq = 1;
  for (auto _ : state) benchmark::DoNotOptimize(audit::chain_hash(audit::kGenesisHash, seq++, record.content));
}
BENCHMARK(BM_AuditRowHash);

void BM_AuditRecordBuild(benchmark::State& state) {
  const nlohmann::json event = {{"kind", "token"}, {"app_id", "default"}, {"decision", "issued"},
                                {"actor", {{"type", "ai_agent"}, {"id", "email-assistant-v2"}}},
                                {"user", {{"user_id", "alice"}}}, {"provider_id", "google"},
                                {"url", "https://www.googleapis.com/calendar/v3/calendars/primary/events"}};
  const auto now = std::chrono::system_clock::now();
  for (auto _ : state) benchmark::DoNotOptimize(audit::make_record(event, now));
}
BENCHMARK(BM_AuditRecordBuild);

}  // namespace

BENCHMARK_MAIN();
