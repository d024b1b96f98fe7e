// The domain layer without the HTTP server: the services wired by hand over a temporary SQLite
// store, with a scripted transport standing in for the provider. What a handler would call, these
// tests call; what the trail must then hold, they read back from the store.
#include <gtest/gtest.h>

#include <alter/testing/temp_dir.hpp>

#include <map>

#include "fake_transport.hpp"
#include "policy/engine.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "vault/admin.hpp"
#include "vault/approvals.hpp"
#include "vault/audit_trail.hpp"
#include "vault/authenticator.hpp"
#include "vault/cache.hpp"
#include "vault/connections.hpp"
#include "vault/issued.hpp"
#include "vault/policies.hpp"
#include "vault/token_broker.hpp"
#include "vault/token_manager.hpp"

namespace alter::server::vault {
namespace {

using alter::internal::FakeTransport;
using alter::internal::HttpRequest;
using namespace std::chrono_literals;

// A provider on https (not dev mode) whose endpoints the scripted transport answers.
nlohmann::json acme_definition() {
  return {{"id", "acme"},
          {"display_name", "Acme"},
          {"docs_url", "https://docs.acme.test/"},
          {"authorization_url", "https://auth.acme.test/authorize"},
          {"token_url", "https://auth.acme.test/token"},
          {"revocation_url", "https://auth.acme.test/revoke"},
          {"default_scopes", {"read"}},
          {"scope_separator", " "},
          {"pkce", true},
          {"client_auth", "basic"},
          {"token_request_format", "form"},
          {"api_hosts", {"api.acme.test"}},
          {"refresh", "rotates"}};
}

std::map<std::string, std::string> form(const std::string& body) {
  std::map<std::string, std::string> out;
  std::size_t pos = 0;
  while (pos <= body.size()) {
    const auto amp = body.find('&', pos);
    const std::string part = body.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    const auto eq = part.find('=');
    if (eq != std::string::npos) out[part.substr(0, eq)] = part.substr(eq + 1);
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return out;
}

constexpr const char* kPolicy = R"(
version = 1
[[rules]]
id = "reads"
effect = "allow"
providers = ["acme"]
methods = ["GET"]
paths = ["/v1/**"]

[[rules]]
id = "any-method-on-public"
effect = "allow"
providers = ["acme"]
paths = ["/public/**"]

[[rules]]
id = "writes"
effect = "require_approval"
providers = ["acme"]
methods = ["POST"]
paths = ["/v1/**"]
)";

class Domain : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = open_sqlite_store(dir_.path() / "vault.db").value();
    ASSERT_TRUE(store_->migrate().ok());
    master_ = std::make_unique<crypto::MasterKey>(crypto::MasterKey::random());
    std::vector<KeyringEntry> entries{crypto::Keyring::make_entry(1, *master_, clock_.wall())};
    ASSERT_TRUE(store_->add_key(entries[0]).ok());
    sealed_ = std::make_unique<sealed::SealedStore>(crypto::Keyring::open(entries, *master_).value(), *master_);
    catalog_ = oauth::Catalog::builtin().value();
    catalog_->put(oauth::parse_provider(acme_definition()).value());
    writer_ = std::make_unique<audit::AuditWriter>(*store_, metrics_, 64);
    audit_ = std::make_unique<audit::AuditLog>(*store_, *writer_, clock_, metrics_, log_);
    transport_ = std::make_shared<FakeTransport>([this](const HttpRequest& r) { return provider(r); });
    oauth_ = std::make_unique<oauth::OAuthClient>(transport_, clock_, 5s, /*dev_mode=*/false);
    limiter_ = policy::make_memory_rate_limiter();
    engine_ = std::make_unique<policy::PolicyEngine>(
        [this](const std::string& app) -> Result<std::optional<PolicyVersion>> {
          auto v = store_->get_policy(app, 0);
          if (v) return std::optional<PolicyVersion>(std::move(v.value()));
          return std::optional<PolicyVersion>();
        },
        *limiter_);
    cache_ = std::make_unique<VaultCache>(CacheOptions{.ttl = 30s, .now = [this] { return steady_now_; }});
    authenticator_ = std::make_unique<Authenticator>(*store_, *cache_);
    tokens_ = std::make_unique<TokenManager>(*store_, *sealed_, *oauth_, *audit_, metrics_, log_, clock_,
                                             TokenManagerOptions{60s, 1, 0ms, 5s, 600s});
    tokens_->set_on_update([this](const Connection& c) { cache_->connection_updated(c); });
    auto public_url = [] { return std::string("https://vault.test"); };
    approvals_ = std::make_unique<ApprovalService>(*store_, *audit_, clock_, public_url);
    broker_ = std::make_unique<TokenBroker>(TokenBroker::Options{false}, catalog_, *store_, *cache_, *engine_, *approvals_, *tokens_,
                                            *audit_, issued_, metrics_, log_, clock_);
    connections_ = std::make_unique<ConnectionService>(ConnectionService::Options{}, catalog_, *store_, *sealed_, *oauth_, *tokens_,
                                                       *audit_, *cache_, log_, clock_, public_url);
    admin_ = std::make_unique<AdminService>(AdminService::Options{false}, catalog_, *store_, *sealed_, *audit_, *cache_, clock_);
    policies_ = std::make_unique<PolicyService>(*store_, *engine_, *audit_, clock_);
    trail_ = std::make_unique<AuditTrail>(catalog_, *store_, *audit_, issued_, *cache_, clock_);

    ASSERT_TRUE(admin_->create_app({"default", "Default", {}, clock_.wall(), {}}, by_).ok());
    CredentialSpec spec;
    spec.client_id = "acme-client";
    spec.client_secret = common::SecretString("acme-secret-value");
    ASSERT_TRUE(admin_->put_credential("default", "acme", std::move(spec), by_).ok());
    ASSERT_TRUE(policies_->apply("default", kPolicy, "toml", by_).ok());
    auto key = admin_->create_key("default", "test", by_);
    ASSERT_TRUE(key.ok());
    key_ = key->key;
    caller_ = authenticator_->app(key_).value();
  }

  // The provider: refresh grants rotate; revocation answers 200.
  alter::internal::TransportResult provider(const HttpRequest& r) {
    if (r.url == "https://auth.acme.test/token") {
      auto f = form(r.body);
      if (f["grant_type"] != "refresh_token" || !refresh_tokens_.count(f["refresh_token"])) {
        return FakeTransport::reply(400, R"({"error":"invalid_grant"})", {{"content-type", "application/json"}});
      }
      refresh_tokens_.erase(f["refresh_token"]);
      const std::string n = std::to_string(++issued_count_);
      refresh_tokens_.insert("rt-" + n);
      if (on_token_call_) on_token_call_();
      return FakeTransport::reply(200, R"({"access_token":"at-)" + n + R"(","refresh_token":"rt-)" + n +
                                            R"(","token_type":"Bearer","expires_in":3600})",
                                  {{"content-type", "application/json"}});
    }
    if (r.url == "https://auth.acme.test/revoke") return FakeTransport::reply(200, "");
    return FakeTransport::reply(404, "");
  }

  Connection import(const std::string& user, std::chrono::seconds life = 3600s) {
    ImportSpec spec;
    spec.provider_id = "acme";
    spec.attributes = {{"user_id", user}};
    spec.access_token = common::SecretString("at-import-" + user);
    spec.refresh_token = common::SecretString("rt-import-" + user);
    refresh_tokens_.insert("rt-import-" + user);
    spec.expires_at = clock_.wall() + life;
    auto c = connections_->import("default", std::move(spec), by_);
    EXPECT_TRUE(c.ok()) << (c ? "" : c.error().message);
    return c.value();
  }

  TokenAsk ask(const std::string& user, const std::string& method, const std::string& url) {
    TokenAsk a;
    a.caller = caller_;
    a.actor = {"ai_agent", "agent-1", "Agent"};
    a.actor_record = {{"type", "ai_agent"}, {"id", "agent-1"}};
    a.provider_id = "acme";
    a.attributes = {{"user_id", user}};
    a.method = method;
    a.url = url;
    a.source_ip = "127.0.0.1";
    return a;
  }

  std::vector<AuditRecord> rows(const std::string& kind) {
    AuditFilter f;
    f.kind = kind;
    return store_->query_audit(f).value();
  }

  testing::TempDir dir_;
  common::FakeClock clock_;
  std::chrono::steady_clock::time_point steady_now_ = std::chrono::steady_clock::now();
  Metrics metrics_;
  Logger log_{LogLevel::kError};
  std::unique_ptr<Store> store_;
  std::unique_ptr<crypto::MasterKey> master_;
  std::unique_ptr<sealed::SealedStore> sealed_;
  std::shared_ptr<oauth::Catalog> catalog_;
  std::unique_ptr<audit::AuditWriter> writer_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::shared_ptr<FakeTransport> transport_;
  std::unique_ptr<oauth::OAuthClient> oauth_;
  std::unique_ptr<policy::RateLimiter> limiter_;
  std::unique_ptr<policy::PolicyEngine> engine_;
  std::unique_ptr<VaultCache> cache_;
  IssuedDecisions issued_;
  std::unique_ptr<Authenticator> authenticator_;
  std::unique_ptr<TokenManager> tokens_;
  std::unique_ptr<ApprovalService> approvals_;
  std::unique_ptr<TokenBroker> broker_;
  std::unique_ptr<ConnectionService> connections_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<PolicyService> policies_;
  std::unique_ptr<AuditTrail> trail_;
  AdminCaller by_{"admin-1"};
  std::string key_;
  AppCaller caller_;
  std::set<std::string> refresh_tokens_;
  int issued_count_ = 0;
  std::function<void()> on_token_call_;
};

TEST_F(Domain, TheBrokerIssuesForTheMatchedConnectionAndRecordsTheDecision) {
  const Connection alice = import("alice");
  auto grant = broker_->decide(ask("alice", "GET", "https://API.acme.test:443/v1/me"));
  ASSERT_TRUE(grant.ok()) << grant.error().error.message;
  EXPECT_EQ(grant->access_token.reveal(), "at-import-alice");
  EXPECT_EQ(grant->connection_id, alice.id);
  EXPECT_EQ(grant->url, "https://api.acme.test/v1/me");
  EXPECT_EQ(transport_->count(), 0u) << "a fresh token needs no call to the provider";
  const auto decided = rows("token");
  ASSERT_EQ(decided.size(), 1u);
  EXPECT_EQ(decided[0].decision, "issued");
  EXPECT_EQ(decided[0].connection_id, alice.id);
  EXPECT_EQ(decided[0].content.find("at-import"), std::string::npos);
  // The decision is known to the trail: a call event naming it is taken.
  CallEvent e;
  e.text = {{"request_id", grant->request_id}, {"method", "GET"}, {"url", grant->url}};
  EXPECT_EQ(*trail_->record_calls(caller_, nlohmann::json::object(), {e}), 1u);
}

TEST_F(Domain, RefusalsCarryTheirCodeAndAreRecorded) {
  import("alice");
  struct Case {
    std::string name;
    TokenAsk ask;
    std::string code;
    Errc errc;
  };
  std::vector<Case> cases = {
      {"another host", ask("alice", "GET", "https://evil.test/v1/me"), "url_not_allowed", Errc::kPermissionDenied},
      {"no rule", ask("alice", "DELETE", "https://api.acme.test/v1/me"), "no_matching_rule", Errc::kPermissionDenied},
      {"no method, rule with methods", ask("alice", "", "https://api.acme.test/v1/me"), "no_matching_rule", Errc::kPermissionDenied},
      {"needs approval", ask("alice", "POST", "https://api.acme.test/v1/items"), "approval_required", Errc::kPermissionDenied},
      {"no such user", ask("bob", "GET", "https://api.acme.test/v1/me"), "connection_not_found", Errc::kNotFound},
      {"url-less, setting off", ask("alice", "", ""), "url_not_allowed", Errc::kPermissionDenied},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = broker_->decide(c.ask);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().error.code, c.code) << r.error().error.message;
    EXPECT_EQ(r.error().error.errc, c.errc);
    EXPECT_TRUE(r.error().extra.contains("request_id")) << r.error().extra.dump();
  }
  // Every refusal has its row; none issued.
  for (const auto& row : rows("token")) EXPECT_NE(row.decision, "issued") << row.content;
  // Any method passes a rule that names no methods.
  EXPECT_TRUE(broker_->decide(ask("alice", "", "https://api.acme.test/public/x")).ok());
}

TEST_F(Domain, UrlLessRequestsOnlyBehindTheAppSettingAndOnlyForUnconstrainedRules) {
  import("alice");
  ASSERT_TRUE(admin_->update_app("default", [](App& a) -> Result<void> {
                      a.settings.allow_url_less_token_requests = true;
                      return {};
                    }, by_).ok());
  // kPolicy's rules all name paths: nothing matches a url-less request.
  auto r = broker_->decide(ask("alice", "", ""));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().error.code, "no_matching_rule");
  // A rule that names methods does not match either, whatever method the request claims: the
  // token would be bound to no call, so a GET-only rule would hand out a token good for writes.
  ASSERT_TRUE(policies_->apply("default", "version = 1\n[[rules]]\nid = \"acme-reads\"\neffect = \"allow\"\nproviders = [\"acme\"]\nmethods = [\"GET\"]\n",
                               "toml", by_)
                  .ok());
  auto claimed = broker_->decide(ask("alice", "GET", ""));
  ASSERT_FALSE(claimed.ok());
  EXPECT_EQ(claimed.error().error.code, "no_matching_rule");
  ASSERT_TRUE(policies_->apply("default", "version = 1\n[[rules]]\nid = \"all-acme\"\neffect = \"allow\"\nproviders = [\"acme\"]\n", "toml", by_)
                  .ok());
  auto ok = broker_->decide(ask("alice", "", ""));
  ASSERT_TRUE(ok.ok()) << ok.error().error.message;
  EXPECT_TRUE(ok->url.empty());
  const auto decided = rows("token");
  ASSERT_FALSE(decided.empty());
  auto content = nlohmann::json::parse(decided.back().content);
  EXPECT_TRUE(content.value("url_less", false)) << content.dump();
  // A 0.1 call event names no request_id: it is matched to the connection's latest decision.
  CallEvent e;
  e.text = {{"connection_id", ok->connection_id}, {"method", "GET"}, {"url", "https://api.acme.test/v1/me"}};
  EXPECT_EQ(*trail_->record_calls(caller_, nlohmann::json::object(), {e}), 1u);
  auto calls = rows("api_call");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(calls[0].content).value("matched_by", ""), "connection");
  // Another instance (its own memory of recent decisions, empty) finds the decision in the trail.
  IssuedDecisions elsewhere;
  AuditTrail other(catalog_, *store_, *audit_, elsewhere, *cache_, clock_);
  EXPECT_EQ(*other.record_calls(caller_, nlohmann::json::object(), {e}), 1u);
  calls = rows("api_call");
  ASSERT_EQ(calls.size(), 2u);
  auto second = nlohmann::json::parse(calls[1].content);
  EXPECT_EQ(second.value("request_id", ""), content.value("request_id", "")) << second.dump();
  EXPECT_EQ(second.value("connection_id", ""), ok->connection_id);
}

TEST_F(Domain, AnExpiringTokenIsRefreshedOnceAndCountedFromWhenTheRefreshWasSent) {
  const Connection sam = import("sam", 30s);
  on_token_call_ = [this] { clock_.advance(4s); };  // the provider takes 4 s to answer
  const TimePoint sent = clock_.wall();
  auto grant = broker_->decide(ask("sam", "GET", "https://api.acme.test/v1/me"));
  ASSERT_TRUE(grant.ok()) << grant.error().error.message;
  EXPECT_EQ(grant->access_token.reveal(), "at-1");
  ASSERT_TRUE(grant->expires_at.has_value());
  EXPECT_EQ(*grant->expires_at, sent + 3600s);
  EXPECT_EQ(transport_->count(), 1u);
  // The rotated refresh token is what the store holds now, and the next request needs no call.
  EXPECT_TRUE(refresh_tokens_.count("rt-1"));
  EXPECT_EQ(broker_->decide(ask("sam", "GET", "https://api.acme.test/v1/me"))->access_token.reveal(), "at-1");
  EXPECT_EQ(transport_->count(), 1u);
  const auto refreshed = rows("refresh");
  ASSERT_FALSE(refreshed.empty());
  EXPECT_EQ(refreshed.back().connection_id, sam.id);
}

TEST_F(Domain, AdminChangesAreAuditedAndARevokedKeyStopsAtOnce) {
  const auto before = rows("admin").size();
  auto key = admin_->create_key("default", "second", by_);
  ASSERT_TRUE(key.ok());
  ASSERT_TRUE(authenticator_->app(key->key).ok());
  ASSERT_TRUE(admin_->revoke_key(key->record.id, by_).ok());
  auto refused = authenticator_->app(key->key);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "invalid_api_key");
  auto cred = admin_->create_admin("ops", by_);
  ASSERT_TRUE(cred.ok());
  ASSERT_TRUE(admin_->revoke_admin(cred->record.id, by_).ok());
  EXPECT_FALSE(authenticator_->admin(cred->token).ok());
  const auto after = rows("admin");
  ASSERT_EQ(after.size(), before + 4);
  for (std::size_t i = before; i < after.size(); ++i) {
    EXPECT_EQ(after[i].content.find(key->key), std::string::npos);
    EXPECT_EQ(after[i].content.find(cred->token), std::string::npos);
  }
  // Refused inputs change nothing.
  EXPECT_EQ(admin_->revoke_key("no-such-key", by_).error().errc, Errc::kNotFound);
  EXPECT_EQ(admin_->create_key("ghost-app", "k", by_).error().errc, Errc::kNotFound);
  EXPECT_EQ(rows("admin").size(), after.size());
}

TEST_F(Domain, ProviderEndpointsOutsideDevModeMustBeHttps) {
  struct Case {
    std::string field;
    std::string url;
    bool ok;
  };
  const std::vector<Case> cases = {
      {"token_url", "http://auth.acme.test/token", false},
      {"token_url", "http://127.0.0.1:8080/token", false},
      {"revocation_url", "http://auth.acme.test/revoke", false},
      {"userinfo_url", "http://auth.acme.test/userinfo", false},
      {"authorization_url", "http://{tenant}.acme.test/authorize", false},
      {"token_url", "https://{tenant}.acme.test/token", true},
      {"token_url", "https://auth.acme.test/token", true},
  };
  int n = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.field + " " + c.url);
    auto def = acme_definition();
    def["id"] = "custom-" + std::to_string(++n);
    def[c.field] = c.url;
    auto r = admin_->add_provider(def, by_);
    EXPECT_EQ(r.ok(), c.ok) << (r ? "" : r.error().message);
    if (!r) {
      EXPECT_NE(r.error().message.find(c.field), std::string::npos) << r.error().message;
    }
    EXPECT_EQ(catalog_->get(def["id"]) != nullptr, c.ok);
  }
  // A template filled in with plain http is refused where it is used, before anything is sent.
  auto templated = acme_definition();
  templated["id"] = "whole-template";
  templated["token_url"] = "{base}/token";
  auto def = oauth::parse_provider(templated);
  ASSERT_TRUE(def.ok());
  ASSERT_TRUE(check_provider_endpoints(*def, false).ok());
  def->token_url = "http://auth.acme.test/token";
  oauth::ClientCredentials creds{"acme-client", common::SecretString("acme-secret-value")};
  transport_->clear();
  auto refreshed = oauth_->refresh(*def, creds, "rt-import-x");
  EXPECT_FALSE(refreshed.ok());
  EXPECT_EQ(transport_->count(), 0u);
}

TEST_F(Domain, DeletingAConnectionRevokesItAtTheProviderAndRecordsIt) {
  const Connection alice = import("alice");
  transport_->clear();
  auto r = connections_->remove(alice.id, by_);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->attempted);
  EXPECT_TRUE(r->ok);
  const auto sent = transport_->sent();
  ASSERT_FALSE(sent.empty());
  EXPECT_EQ(sent[0].url, "https://auth.acme.test/revoke");
  EXPECT_EQ(store_->get_connection(alice.id).error().code, StoreErrc::kNotFound);
  auto deleted = rows("revocation");
  ASSERT_FALSE(deleted.empty());
  EXPECT_EQ(deleted.back().connection_id, alice.id);
  // The broker no longer finds it (the cached lookup was dropped with the change).
  auto gone = broker_->decide(ask("alice", "GET", "https://api.acme.test/v1/me"));
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().error.code, "connection_not_found");
}

TEST_F(Domain, AnApprovalIsDecidedOnceAndBindsTheExactRequest) {
  import("alice");
  auto first = broker_->decide(ask("alice", "POST", "https://api.acme.test/v1/items"));
  ASSERT_FALSE(first.ok());
  const std::string id = first.error().extra.value("approval_id", "");
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(approvals_->decide("default", id, true, "admin-1").ok());
  auto again = approvals_->decide("default", id, false, "admin-1");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().errc, Errc::kConflict);
  // Another URL with the same approval is a mismatch; the exact one is issued, once.
  auto other = ask("alice", "POST", "https://api.acme.test/v1/other");
  other.approval_id = id;
  EXPECT_EQ(broker_->decide(other).error().error.code, "approval_mismatch");
  auto same = ask("alice", "POST", "https://api.acme.test/v1/items");
  same.approval_id = id;
  EXPECT_TRUE(broker_->decide(same).ok());
  EXPECT_EQ(broker_->decide(same).error().error.code, "approval_used");
  std::vector<std::string> decisions;
  for (const auto& r : rows("approval")) decisions.push_back(r.decision);
  EXPECT_NE(std::find(decisions.begin(), decisions.end(), "requested"), decisions.end());
  EXPECT_NE(std::find(decisions.begin(), decisions.end(), "approved"), decisions.end());
}

TEST_F(Domain, ACommitWhoseChangeFailsWritesNeitherTheChangeNorItsRow) {
  const auto before = store_->table_counts().value();
  std::vector<audit::AuditEvent> events{{{{"kind", "admin"}, {"decision", "test"}}}};
  auto r = audit_->commit(
      [&]() -> Result<void> {
        EXPECT_TRUE(store_->create_app({"half", "Half", {}, clock_.wall(), {}}).ok());
        return common::unexpected(make_error(Errc::kConflict, "nope", "refused half way"));
      },
      events, true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "nope");
  EXPECT_EQ(store_->table_counts().value(), before);
  EXPECT_EQ(store_->get_app("half").error().code, StoreErrc::kNotFound);
}

// ---- the cache's bounded lifetime ----

TEST(VaultCacheTtl, EntriesExpireAfterTheTtlWhateverHappensToInvalidation) {
  auto now = std::chrono::steady_clock::now();
  VaultCache cache(CacheOptions{.max_entries = 100, .ttl = 30s, .now = [&now] { return now; }});
  ApiKeyRecord key;
  key.id = "k1";
  key.app_id = "default";
  key.hash = "h1";
  cache.put_api_key(key);
  App app{"default", "Default", {}, {}, {}};
  cache.put_app(app);
  Connection c;
  c.id = "c1";
  c.app_id = "default";
  ConnectionFilter f;
  f.app_id = "default";
  const std::string lookup = VaultCache::lookup_key(f);
  cache.put_lookup(lookup, {c});
  now += 29s;
  EXPECT_NE(cache.api_key("h1"), nullptr);
  EXPECT_NE(cache.app("default"), nullptr);
  EXPECT_NE(cache.lookup(lookup), nullptr);
  now += 2s;
  EXPECT_EQ(cache.api_key("h1"), nullptr) << "a key is re-read after the TTL even if no change version arrived";
  EXPECT_EQ(cache.app("default"), nullptr);
  EXPECT_EQ(cache.lookup(lookup), nullptr);
  // Invalidation is immediate, TTL or not.
  cache.put_api_key(key);
  cache.api_keys_changed();
  EXPECT_EQ(cache.api_key("h1"), nullptr);
}

TEST(VaultCacheGeneration, AReadStartedBeforeAChangeIsNotPutBackAfterIt) {
  VaultCache cache;
  ApiKeyRecord key;
  key.id = "k1";
  key.app_id = "default";
  key.hash = "h1";
  App app{"default", "Default", {}, {}, {}};
  Connection c;
  c.id = "c1";
  c.app_id = "default";
  ConnectionFilter f;
  f.app_id = "default";
  const std::string lookup = VaultCache::lookup_key(f);
  // A request reads the store (key still there), the key is revoked, then the request puts its read.
  const auto keys = cache.keys_generation();
  const auto apps = cache.apps_generation();
  const auto conns = cache.connections_generation();
  cache.api_keys_changed();
  cache.apps_changed();
  cache.connections_changed();
  cache.put_api_key(key, keys);
  cache.put_app(app, apps);
  cache.put_lookup(lookup, {c}, conns);
  EXPECT_EQ(cache.api_key("h1"), nullptr) << "a revoked key read just before its revocation must not be cached";
  EXPECT_EQ(cache.app("default"), nullptr);
  EXPECT_EQ(cache.lookup(lookup), nullptr) << "a deleted connection read just before its deletion must not be cached";
  // With no change in between, the read is kept.
  cache.put_api_key(key, cache.keys_generation());
  cache.put_app(app, cache.apps_generation());
  cache.put_lookup(lookup, {c}, cache.connections_generation());
  EXPECT_NE(cache.api_key("h1"), nullptr);
  EXPECT_NE(cache.app("default"), nullptr);
  EXPECT_NE(cache.lookup(lookup), nullptr);
  // clear() (another instance's change version) counts for every kind.
  const auto before = cache.keys_generation();
  cache.clear();
  cache.put_api_key(key, before);
  EXPECT_EQ(cache.api_key("h1"), nullptr);
}

TEST(IssuedDecisionsBound, EntriesAreBoundedByCountAndByTheMemoryTheirAttributesHold) {
  IssuedDecisions by_count(3);
  for (int i = 0; i < 5; ++i) by_count.add({"app", "c" + std::to_string(i), "acme", "r" + std::to_string(i), {{"user_id", "u"}}});
  EXPECT_EQ(by_count.size(), 3u);
  EXPECT_FALSE(by_count.find("r0"));
  EXPECT_FALSE(by_count.find("r1"));
  EXPECT_TRUE(by_count.find("r4"));
  EXPECT_FALSE(by_count.latest("app", "c0")) << "an evicted decision is no connection's latest";
  ASSERT_TRUE(by_count.latest("app", "c4"));
  EXPECT_EQ(by_count.latest("app", "c4")->request_id, "r4");

  // Large attributes (a connect link may carry 32 of 512 bytes) fill the byte bound long before the count.
  IssuedDecisions by_bytes(100000, 1u << 20);
  nlohmann::json big = nlohmann::json::object();
  for (int a = 0; a < 32; ++a) big["attr" + std::to_string(a)] = std::string(512, 'x');
  for (int i = 0; i < 1000; ++i) by_bytes.add({"app", "c" + std::to_string(i), "acme", "r" + std::to_string(i), big});
  EXPECT_LE(by_bytes.bytes(), 1u << 20);
  EXPECT_LT(by_bytes.size(), 100u);
  EXPECT_GT(by_bytes.size(), 0u);
  EXPECT_TRUE(by_bytes.find("r999")) << "the newest stays";
  // A repeated request id changes nothing.
  const auto n = by_bytes.size();
  by_bytes.add({"app", "c999", "acme", "r999", big});
  EXPECT_EQ(by_bytes.size(), n);
}

}  // namespace
}  // namespace alter::server::vault
