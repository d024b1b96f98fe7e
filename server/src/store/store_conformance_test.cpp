// One behavioural suite for every Store implementation (see store_test_support.hpp).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include "store/store.hpp"
#include "store/store_test_support.hpp"

namespace alter::server {
namespace store_testing {
// Test names and failure messages show the store's name, not the factory's bytes.
void PrintTo(const StoreFactory& factory, std::ostream* os) { *os << factory.name; }
}  // namespace store_testing

namespace {

using store_testing::StoreFactory;
using store_testing::TestStore;
using store_testing::at_ms;
using store_testing::kZeros;
using store_testing::tag;
using store_testing::test_hash;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// Binary with NUL and high bytes: must round-trip exactly.
const std::string kBinary("\x00\x01sealed\x00\xff\xfe\x80", 12);

const char* errc_name(StoreErrc code) {
  switch (code) {
    case StoreErrc::kNotFound: return "kNotFound";
    case StoreErrc::kConflict: return "kConflict";
    case StoreErrc::kUnavailable: return "kUnavailable";
    case StoreErrc::kInvalid: return "kInvalid";
    case StoreErrc::kInternal: return "kInternal";
  }
  return "?";
}

template <class R>
::testing::AssertionResult Ok(const R& result) {
  if (result.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << errc_name(result.error().code) << ": " << result.error().message;
}

template <class R>
::testing::AssertionResult Fails(const R& result, StoreErrc expected) {
  if (result.ok()) return ::testing::AssertionFailure() << "succeeded, expected " << errc_name(expected);
  if (result.error().code != expected) {
    return ::testing::AssertionFailure() << errc_name(result.error().code) << " (" << result.error().message
                                         << "), expected " << errc_name(expected);
  }
  return ::testing::AssertionSuccess();
}

Connection make_connection(std::string id, std::string app, std::string provider, Attributes attributes,
                           std::int64_t created_ms = 1000) {
  Connection c;
  c.id = std::move(id);
  c.app_id = std::move(app);
  c.provider_id = std::move(provider);
  c.attributes = std::move(attributes);
  c.tokens = SealedBlob{1, kBinary};
  c.token_type = "Bearer";
  c.scopes = {"email", "profile"};
  c.expires_at = at_ms(created_ms + 3600000);
  c.metadata = {{"instance_url", "https://example.test"}};
  c.created_at = at_ms(created_ms);
  c.updated_at = at_ms(created_ms);
  return c;
}

AuditRecord make_audit(std::string id, std::int64_t ts_ms) {
  AuditRecord r;
  r.id = std::move(id);
  r.ts = at_ms(ts_ms);
  r.kind = "token";
  r.app_id = "app";
  r.actor_id = "agent";
  r.user_id = "alice";
  r.provider_id = "google";
  r.connection_id = "conn";
  r.decision = "issued";
  r.request_id = "req";
  r.content = R"({"id":")" + r.id + R"("})";
  return r;
}

std::vector<std::string> ids(const std::vector<Connection>& rows) {
  std::vector<std::string> out;
  for (const auto& row : rows) out.push_back(row.id);
  return out;
}

std::vector<std::int64_t> seqs(const std::vector<AuditRecord>& rows) {
  std::vector<std::int64_t> out;
  for (const auto& row : rows) out.push_back(row.seq);
  return out;
}

class StoreConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    handle_ = GetParam().make();
    store_ = handle_.store.get();
    ASSERT_NE(store_, nullptr);
    auto version = store_->migrate();
    ASSERT_TRUE(Ok(version));
    ASSERT_GE(*version, 1);
  }

  std::vector<Connection> find(const std::string& app, std::optional<std::string> provider, Attributes attributes,
                               std::optional<ConnectionStatus> status = std::nullopt, std::size_t limit = 1000) {
    ConnectionFilter filter;
    filter.app_id = app;
    filter.provider_id = std::move(provider);
    filter.attributes = std::move(attributes);
    filter.status = status;
    filter.limit = limit;
    auto rows = store_->find_connections(filter);
    EXPECT_TRUE(Ok(rows));
    return rows.ok() ? *rows : std::vector<Connection>{};
  }

  std::vector<AuditRecord> audit(AuditFilter filter) {
    auto rows = store_->query_audit(filter);
    EXPECT_TRUE(Ok(rows));
    return rows.ok() ? *rows : std::vector<AuditRecord>{};
  }

  TestStore handle_;
  Store* store_ = nullptr;
};

// ---- schema ----

TEST_P(StoreConformance, MigrateIsIdempotent) {
  auto first = store_->migrate();
  ASSERT_TRUE(Ok(first));
  App app{"default", "Default", {}, at_ms(1)};
  ASSERT_TRUE(Ok(store_->create_app(app)));
  auto second = store_->migrate();
  ASSERT_TRUE(Ok(second));
  EXPECT_EQ(*first, *second);
  EXPECT_TRUE(Ok(store_->get_app("default")));
  EXPECT_TRUE(Ok(store_->ping()));
}

TEST_P(StoreConformance, TableCountsCoverEveryTable) {
  auto empty = store_->table_counts();
  ASSERT_TRUE(Ok(empty));
  std::vector<std::string> names;
  for (const auto& [name, count] : *empty) {
    names.push_back(name);
    EXPECT_EQ(count, 0) << name;
  }
  EXPECT_THAT(names, UnorderedElementsAre("apps", "api_keys", "admin_credentials", "provider_credentials",
                                          "custom_providers", "connections", "audit_events", "policies", "approvals",
                                          "connect_sessions", "keyring"));

  ASSERT_TRUE(Ok(store_->create_app(App{"a", "A", {}, at_ms(1)})));
  ASSERT_TRUE(Ok(store_->create_app(App{"b", "B", {}, at_ms(1)})));
  ASSERT_TRUE(Ok(store_->create_api_key(ApiKeyRecord{"k", "a", "n", "h", "hash", at_ms(1), {}})));
  ASSERT_TRUE(Ok(store_->upsert_connection(make_connection("c1", "a", "google", {{"user_id", "x"}}))));
  std::vector<AuditRecord> rows{make_audit("e1", 1), make_audit("e2", 2), make_audit("e3", 3)};
  ASSERT_TRUE(Ok(store_->append_audit(rows, test_hash)));
  ASSERT_TRUE(Ok(store_->add_key(KeyringEntry{1, kBinary, at_ms(1), true})));

  auto counts = store_->table_counts();
  ASSERT_TRUE(Ok(counts));
  EXPECT_EQ(counts->at("apps"), 2);
  EXPECT_EQ(counts->at("api_keys"), 1);
  EXPECT_EQ(counts->at("connections"), 1);
  EXPECT_EQ(counts->at("audit_events"), 3);
  EXPECT_EQ(counts->at("keyring"), 1);
  EXPECT_EQ(counts->at("policies"), 0);
}

// ---- keyring ----

TEST_P(StoreConformance, AddKeyMakesItTheOnlyActiveOne) {
  auto empty = store_->keyring();
  ASSERT_TRUE(Ok(empty));
  EXPECT_THAT(*empty, IsEmpty());

  ASSERT_TRUE(Ok(store_->add_key(KeyringEntry{1, kBinary, at_ms(10), false})));
  ASSERT_TRUE(Ok(store_->add_key(KeyringEntry{2, "second", at_ms(20), true})));
  auto keys = store_->keyring();
  ASSERT_TRUE(Ok(keys));
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].version, 1u);
  EXPECT_EQ((*keys)[0].wrapped_key, kBinary);
  EXPECT_EQ((*keys)[0].created_at, at_ms(10));
  EXPECT_FALSE((*keys)[0].active);
  EXPECT_EQ((*keys)[1].version, 2u);
  EXPECT_TRUE((*keys)[1].active);

  // A duplicate version fails and, being atomic, leaves version 2 active.
  EXPECT_TRUE(Fails(store_->add_key(KeyringEntry{2, "again", at_ms(30), true}), StoreErrc::kConflict));
  keys = store_->keyring();
  ASSERT_TRUE(Ok(keys));
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_FALSE((*keys)[0].active);
  EXPECT_TRUE((*keys)[1].active);
  EXPECT_EQ((*keys)[1].wrapped_key, "second");
}

// ---- apps ----

TEST_P(StoreConformance, Apps) {
  App app{"acme", "Acme", {"https://acme.test/cb", "https://acme.test/other"}, at_ms(1234)};
  ASSERT_TRUE(Ok(store_->create_app(app)));
  EXPECT_TRUE(Fails(store_->create_app(App{"acme", "Again", {}, at_ms(1)}), StoreErrc::kConflict));
  ASSERT_TRUE(Ok(store_->create_app(App{"beta", "Beta", {}, at_ms(5)})));

  auto got = store_->get_app("acme");
  ASSERT_TRUE(Ok(got));
  EXPECT_EQ(got->id, "acme");
  EXPECT_EQ(got->name, "Acme");
  EXPECT_THAT(got->return_url_allowlist, ElementsAre("https://acme.test/cb", "https://acme.test/other"));
  EXPECT_EQ(got->created_at, at_ms(1234));
  EXPECT_TRUE(Fails(store_->get_app("nope"), StoreErrc::kNotFound));

  auto all = store_->list_apps();
  ASSERT_TRUE(Ok(all));
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, "acme");
  EXPECT_EQ((*all)[1].id, "beta");

  ASSERT_TRUE(Ok(store_->update_app(App{"acme", "Acme Inc", {"https://new.test/"}, at_ms(999999)})));
  got = store_->get_app("acme");
  ASSERT_TRUE(Ok(got));
  EXPECT_EQ(got->name, "Acme Inc");
  EXPECT_THAT(got->return_url_allowlist, ElementsAre("https://new.test/"));
  EXPECT_EQ(got->created_at, at_ms(1234));  // creation time is not rewritten
  EXPECT_TRUE(Fails(store_->update_app(App{"nope", "x", {}, at_ms(1)}), StoreErrc::kNotFound));
}

// ---- API keys and admin credentials ----

TEST_P(StoreConformance, ApiKeys) {
  ApiKeyRecord key{"k1", "acme", "ci", "alter_key_ab12", "hash-1", at_ms(100), std::nullopt};
  ASSERT_TRUE(Ok(store_->create_api_key(key)));
  ASSERT_TRUE(Ok(store_->create_api_key(ApiKeyRecord{"k2", "acme", "dev", "alter_key_cd34", "hash-2", at_ms(200), {}})));
  ASSERT_TRUE(Ok(store_->create_api_key(ApiKeyRecord{"k3", "other", "x", "alter_key_ef", "hash-3", at_ms(50), {}})));
  EXPECT_TRUE(Fails(store_->create_api_key(ApiKeyRecord{"k4", "acme", "dup", "h", "hash-1", at_ms(1), {}}),
                    StoreErrc::kConflict));
  EXPECT_TRUE(Fails(store_->create_api_key(ApiKeyRecord{"k1", "acme", "dup", "h", "hash-9", at_ms(1), {}}),
                    StoreErrc::kConflict));

  auto found = store_->find_api_key("hash-1");
  ASSERT_TRUE(Ok(found));
  EXPECT_EQ(found->id, "k1");
  EXPECT_EQ(found->app_id, "acme");
  EXPECT_EQ(found->name, "ci");
  EXPECT_EQ(found->hint, "alter_key_ab12");
  EXPECT_EQ(found->created_at, at_ms(100));
  EXPECT_FALSE(found->revoked_at.has_value());
  EXPECT_TRUE(Fails(store_->find_api_key("hash-404"), StoreErrc::kNotFound));

  auto listed = store_->list_api_keys("acme");
  ASSERT_TRUE(Ok(listed));
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].id, "k1");
  EXPECT_EQ((*listed)[1].id, "k2");

  ASSERT_TRUE(Ok(store_->revoke_api_key("k1", at_ms(500))));
  found = store_->find_api_key("hash-1");  // revoked keys are still found, with revoked_at
  ASSERT_TRUE(Ok(found));
  ASSERT_TRUE(found->revoked_at.has_value());
  EXPECT_EQ(*found->revoked_at, at_ms(500));
  EXPECT_TRUE(Fails(store_->revoke_api_key("k404", at_ms(1)), StoreErrc::kNotFound));
}

TEST_P(StoreConformance, AdminCredentials) {
  ASSERT_TRUE(Ok(store_->create_admin_credential(AdminCredential{"a1", "root", "adm_1", "ahash-1", at_ms(10), {}})));
  ASSERT_TRUE(Ok(store_->create_admin_credential(AdminCredential{"a2", "ops", "adm_2", "ahash-2", at_ms(20), {}})));
  EXPECT_TRUE(Fails(store_->create_admin_credential(AdminCredential{"a3", "dup", "x", "ahash-1", at_ms(30), {}}),
                    StoreErrc::kConflict));

  auto found = store_->find_admin_credential("ahash-2");
  ASSERT_TRUE(Ok(found));
  EXPECT_EQ(found->id, "a2");
  EXPECT_EQ(found->name, "ops");
  EXPECT_EQ(found->hint, "adm_2");
  EXPECT_EQ(found->created_at, at_ms(20));
  EXPECT_FALSE(found->revoked_at.has_value());
  EXPECT_TRUE(Fails(store_->find_admin_credential("nope"), StoreErrc::kNotFound));

  auto listed = store_->list_admin_credentials();
  ASSERT_TRUE(Ok(listed));
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].id, "a1");

  ASSERT_TRUE(Ok(store_->revoke_admin_credential("a2", at_ms(99))));
  found = store_->find_admin_credential("ahash-2");
  ASSERT_TRUE(Ok(found));
  ASSERT_TRUE(found->revoked_at.has_value());
  EXPECT_EQ(*found->revoked_at, at_ms(99));
  EXPECT_TRUE(Fails(store_->revoke_admin_credential("a404", at_ms(1)), StoreErrc::kNotFound));
}

// ---- provider credentials and custom providers ----

TEST_P(StoreConformance, ProviderCredentials) {
  ProviderCredential cred{"acme", "google", "client-1", SealedBlob{3, kBinary},
                          {{"subdomain", "acme"}, {"redirect_uri", "https://v.test/cb"}}, at_ms(10)};
  ASSERT_TRUE(Ok(store_->put_provider_credential(cred)));
  ASSERT_TRUE(Ok(store_->put_provider_credential(ProviderCredential{"acme", "slack", "c2", {}, {}, at_ms(11)})));
  ASSERT_TRUE(Ok(store_->put_provider_credential(ProviderCredential{"other", "google", "c3", {}, {}, at_ms(12)})));

  auto got = store_->get_provider_credential("acme", "google");
  ASSERT_TRUE(Ok(got));
  EXPECT_EQ(got->client_id, "client-1");
  EXPECT_EQ(got->client_secret.key_version, 3u);
  EXPECT_EQ(got->client_secret.bytes, kBinary);
  EXPECT_EQ(got->settings, cred.settings);
  EXPECT_EQ(got->updated_at, at_ms(10));
  EXPECT_TRUE(Fails(store_->get_provider_credential("acme", "github"), StoreErrc::kNotFound));

  // Upsert replaces in place.
  cred.client_id = "client-2";
  cred.client_secret = SealedBlob{4, "new"};
  cred.updated_at = at_ms(20);
  ASSERT_TRUE(Ok(store_->put_provider_credential(cred)));
  got = store_->get_provider_credential("acme", "google");
  ASSERT_TRUE(Ok(got));
  EXPECT_EQ(got->client_id, "client-2");
  EXPECT_EQ(got->client_secret.key_version, 4u);
  EXPECT_EQ(got->client_secret.bytes, "new");
  EXPECT_EQ(got->updated_at, at_ms(20));

  auto listed = store_->list_provider_credentials("acme");
  ASSERT_TRUE(Ok(listed));
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].provider_id, "google");
  EXPECT_EQ((*listed)[1].provider_id, "slack");
  EXPECT_TRUE((*listed)[1].client_secret.bytes.empty());

  ASSERT_TRUE(Ok(store_->delete_provider_credential("acme", "google")));
  EXPECT_TRUE(Fails(store_->get_provider_credential("acme", "google"), StoreErrc::kNotFound));
  EXPECT_TRUE(Fails(store_->delete_provider_credential("acme", "google"), StoreErrc::kNotFound));
  EXPECT_TRUE(Ok(store_->get_provider_credential("other", "google")));
}

TEST_P(StoreConformance, CustomProviders) {
  ASSERT_TRUE(Ok(store_->put_custom_provider(CustomProvider{"zeta", R"({"id":"zeta"})", at_ms(1)})));
  ASSERT_TRUE(Ok(store_->put_custom_provider(CustomProvider{"alpha", R"({"id":"alpha"})", at_ms(2)})));
  ASSERT_TRUE(Ok(store_->put_custom_provider(CustomProvider{"zeta", R"({"id":"zeta","v":2})", at_ms(3)})));
  auto listed = store_->list_custom_providers();
  ASSERT_TRUE(Ok(listed));
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].id, "alpha");
  EXPECT_EQ((*listed)[1].id, "zeta");
  EXPECT_EQ((*listed)[1].definition, R"({"id":"zeta","v":2})");
  EXPECT_EQ((*listed)[1].updated_at, at_ms(3));

  ASSERT_TRUE(Ok(store_->delete_custom_provider("zeta")));
  EXPECT_TRUE(Fails(store_->delete_custom_provider("zeta"), StoreErrc::kNotFound));
  listed = store_->list_custom_providers();
  ASSERT_TRUE(Ok(listed));
  EXPECT_EQ(listed->size(), 1u);
}

// ---- connections ----

TEST_P(StoreConformance, UpsertInsertsThenReplacesKeepingIdAndCreatedAt) {
  const Attributes attributes{{"user_id", "Zoë 🦊 日本語"}, {"tenant", "t\"1\\"}};
  Connection c = make_connection("c1", "acme", "google", attributes, 1000);
  c.expires_at.reset();
  auto inserted = store_->upsert_connection(c);
  ASSERT_TRUE(Ok(inserted));
  EXPECT_EQ(inserted->id, "c1");
  EXPECT_EQ(inserted->version, 1);
  EXPECT_EQ(inserted->attributes, attributes);
  EXPECT_EQ(inserted->tokens.bytes, kBinary);
  EXPECT_EQ(inserted->tokens.bytes.size(), 12u);
  EXPECT_EQ(inserted->tokens.key_version, 1u);
  EXPECT_THAT(inserted->scopes, ElementsAre("email", "profile"));
  EXPECT_FALSE(inserted->expires_at.has_value());
  EXPECT_EQ(inserted->metadata, c.metadata);
  EXPECT_EQ(inserted->status, ConnectionStatus::kActive);
  EXPECT_EQ(inserted->created_at, at_ms(1000));

  auto got = store_->get_connection("c1");
  ASSERT_TRUE(Ok(got));
  EXPECT_EQ(got->attributes, attributes);
  EXPECT_EQ(got->tokens.bytes, kBinary);

  // Same (app, provider, attributes) under another id: the existing row is replaced.
  Connection again = make_connection("c-other", "acme", "google", attributes, 5000);
  again.tokens = SealedBlob{2, std::string("\0new", 4)};
  again.token_type = "MAC";
  again.scopes = {"calendar"};
  again.status = ConnectionStatus::kReauthRequired;
  again.metadata = {{"k", 1}};
  auto replaced = store_->upsert_connection(again);
  ASSERT_TRUE(Ok(replaced));
  EXPECT_EQ(replaced->id, "c1");
  EXPECT_EQ(replaced->created_at, at_ms(1000));
  EXPECT_EQ(replaced->updated_at, at_ms(5000));
  EXPECT_EQ(replaced->version, 2);
  EXPECT_EQ(replaced->tokens.bytes, std::string("\0new", 4));
  EXPECT_EQ(replaced->tokens.key_version, 2u);
  EXPECT_EQ(replaced->token_type, "MAC");
  EXPECT_THAT(replaced->scopes, ElementsAre("calendar"));
  ASSERT_TRUE(replaced->expires_at.has_value());
  EXPECT_EQ(*replaced->expires_at, at_ms(5000 + 3600000));
  EXPECT_EQ(replaced->status, ConnectionStatus::kReauthRequired);
  EXPECT_EQ(replaced->metadata, again.metadata);
  EXPECT_TRUE(Fails(store_->get_connection("c-other"), StoreErrc::kNotFound));

  // Other attributes, provider or app: new rows.
  ASSERT_TRUE(Ok(store_->upsert_connection(make_connection("c2", "acme", "google", {{"user_id", "bob"}}))));
  ASSERT_TRUE(Ok(store_->upsert_connection(make_connection("c3", "acme", "slack", attributes))));
  ASSERT_TRUE(Ok(store_->upsert_connection(make_connection("c4", "beta", "google", attributes))));
  auto counts = store_->table_counts();
  ASSERT_TRUE(Ok(counts));
  EXPECT_EQ(counts->at("connections"), 4);
  // c1 was replaced by a reauth_required row; the other three are active.
  auto by_status = store_->connection_status_counts();
  ASSERT_TRUE(Ok(by_status));
  EXPECT_EQ(*by_status, (std::map<std::string, std::int64_t>{{"active", 3}, {"reauth_required", 1}}));

  // A different attribute set reusing an existing id collides on the id.
  EXPECT_TRUE(Fails(store_->upsert_connection(make_connection("c2", "acme", "google", {{"user_id", "carol"}})),
                    StoreErrc::kConflict));
  EXPECT_TRUE(Fails(store_->get_connection("missing"), StoreErrc::kNotFound));
}

TEST_P(StoreConformance, UpsertAssignsAnIdWhenNoneIsGiven) {
  auto first = store_->upsert_connection(make_connection("", "acme", "google", {{"user_id", "alice"}}));
  ASSERT_TRUE(Ok(first));
  ASSERT_EQ(first->id.size(), 36u);  // a uuid
  EXPECT_EQ(first->id[14], '4');
  auto second = store_->upsert_connection(make_connection("", "acme", "google", {{"user_id", "bob"}}));
  ASSERT_TRUE(Ok(second));
  EXPECT_NE(second->id, first->id);
  auto again = store_->upsert_connection(make_connection("", "acme", "google", {{"user_id", "alice"}}));
  ASSERT_TRUE(Ok(again));
  EXPECT_EQ(again->id, first->id);
  EXPECT_EQ(again->version, 2);
  EXPECT_TRUE(Ok(store_->get_connection(first->id)));
  EXPECT_THAT(ids(find("acme", "google", {{"user_id", "alice"}})), ElementsAre(first->id));
}

TEST_P(StoreConformance, UnicodeAttributesMatchAndRoundTrip) {
  const std::string value = "Ünïcødé ✓ 𝄞 مرحبا";
  ASSERT_TRUE(Ok(store_->upsert_connection(make_connection("u1", "acme", "google", {{"user_id", value}}))));
  auto rows = find("acme", "google", {{"user_id", value}});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].attributes.at("user_id"), value);
  EXPECT_THAT(find("acme", "google", {{"user_id", "Ünïcødé"}}), IsEmpty());
}

TEST_P(StoreConformance, InvalidUtf8AttributesAreRejected) {
  EXPECT_TRUE(Fails(store_->upsert_connection(make_connection("x", "acme", "google", {{"user_id", "\xff\xfe"}})),
                    StoreErrc::kInvalid));
}

class StoreFindConnections : public StoreConformance {
 protected:
  void SetUp() override {
    StoreConformance::SetUp();
    if (HasFatalFailure()) return;
    const std::tuple<const char*, const char*, const char*, Attributes> rows[] = {
        {"g1", "acme", "google", {{"user_id", "alice"}}},
        {"g2", "acme", "google", {{"user_id", "alice"}, {"team", "red"}}},
        {"g3", "acme", "google", {{"user_id", "bob"}, {"team", "red"}}},
        {"g4", "acme", "google", {}},
        {"g5", "acme", "google", {{"alice", "user_id"}}},  // names and values must not cross
        {"s1", "acme", "slack", {{"user_id", "alice"}}},
        {"o1", "other", "google", {{"user_id", "alice"}}},
    };
    std::int64_t created = 1000;
    for (const auto& [id, app, provider, attributes] : rows) {
      ASSERT_TRUE(Ok(store_->upsert_connection(make_connection(id, app, provider, attributes, created++))));
    }
  }
};

TEST_P(StoreFindConnections, SubsetMatch) {
  EXPECT_THAT(ids(find("acme", "google", {{"user_id", "alice"}})), ElementsAre("g1", "g2"));
  EXPECT_THAT(ids(find("acme", "google", {{"user_id", "alice"}, {"team", "red"}})), ElementsAre("g2"));
  EXPECT_THAT(ids(find("acme", "google", {{"team", "red"}})), ElementsAre("g2", "g3"));
  EXPECT_THAT(ids(find("acme", "google", {{"user_id", "carol"}})), IsEmpty());
  EXPECT_THAT(ids(find("acme", "google", {{"user_id", "alice"}, {"team", "blue"}})), IsEmpty());
  EXPECT_THAT(ids(find("acme", "google", {{"user_id", "ALICE"}})), IsEmpty());
  EXPECT_THAT(ids(find("acme", "google", {{"alice", "user_id"}})), ElementsAre("g5"));
}

TEST_P(StoreFindConnections, ZeroAttributesMeansAll) {
  EXPECT_THAT(ids(find("acme", "google", {})), ElementsAre("g1", "g2", "g3", "g4", "g5"));
  EXPECT_THAT(ids(find("acme", std::nullopt, {})), ElementsAre("g1", "g2", "g3", "g4", "g5", "s1"));
  EXPECT_THAT(ids(find("nobody", std::nullopt, {})), IsEmpty());
}

TEST_P(StoreFindConnections, OtherAppsAndProvidersNeverMatch) {
  EXPECT_THAT(ids(find("other", "google", {{"user_id", "alice"}})), ElementsAre("o1"));
  EXPECT_THAT(ids(find("acme", "slack", {{"user_id", "alice"}})), ElementsAre("s1"));
  EXPECT_THAT(ids(find("acme", std::nullopt, {{"user_id", "alice"}})), ElementsAre("g1", "g2", "s1"));
  EXPECT_THAT(ids(find("acme", "github", {{"user_id", "alice"}})), IsEmpty());
}

TEST_P(StoreFindConnections, StatusAndLimit) {
  auto g2 = store_->get_connection("g2");
  ASSERT_TRUE(Ok(g2));
  g2->status = ConnectionStatus::kReauthRequired;
  ASSERT_TRUE(Ok(store_->update_connection(*g2, g2->version)));

  EXPECT_THAT(ids(find("acme", "google", {{"user_id", "alice"}}, ConnectionStatus::kActive)), ElementsAre("g1"));
  EXPECT_THAT(ids(find("acme", "google", {{"user_id", "alice"}}, ConnectionStatus::kReauthRequired)),
              ElementsAre("g2"));
  EXPECT_THAT(ids(find("acme", "google", {}, ConnectionStatus::kReauthRequired)), ElementsAre("g2"));
  EXPECT_THAT(ids(find("acme", "google", {{"user_id", "alice"}}, std::nullopt, 1)), ElementsAre("g1"));
  EXPECT_THAT(ids(find("acme", std::nullopt, {}, std::nullopt, 2)), ElementsAre("g1", "g2"));
}

TEST_P(StoreFindConnections, DeleteRemovesFromLookups) {
  ASSERT_TRUE(Ok(store_->delete_connection("g1")));
  EXPECT_TRUE(Fails(store_->get_connection("g1"), StoreErrc::kNotFound));
  EXPECT_TRUE(Fails(store_->delete_connection("g1"), StoreErrc::kNotFound));
  EXPECT_THAT(ids(find("acme", "google", {{"user_id", "alice"}})), ElementsAre("g2"));
  // The same attributes can be connected again, as a new row.
  ASSERT_TRUE(Ok(store_->upsert_connection(make_connection("g1b", "acme", "google", {{"user_id", "alice"}}, 9000))));
  EXPECT_THAT(ids(find("acme", "google", {{"user_id", "alice"}})), ElementsAre("g2", "g1b"));
}

TEST_P(StoreConformance, UpdateConnectionIsCompareAndSet) {
  auto stored = store_->upsert_connection(make_connection("c1", "acme", "google", {{"user_id", "alice"}}));
  ASSERT_TRUE(Ok(stored));
  ASSERT_EQ(stored->version, 1);

  Connection changed = *stored;
  changed.tokens = SealedBlob{7, std::string("\0\0refreshed", 11)};
  changed.token_type = "bearer";
  changed.scopes = {"a", "b", "c"};
  changed.expires_at = at_ms(42);
  changed.status = ConnectionStatus::kReauthRequired;
  changed.metadata = {{"n", {1, 2}}};
  changed.updated_at = at_ms(2000);
  auto updated = store_->update_connection(changed, 1);
  ASSERT_TRUE(Ok(updated));
  EXPECT_EQ(updated->version, 2);
  EXPECT_EQ(updated->id, "c1");
  EXPECT_EQ(updated->tokens.bytes, changed.tokens.bytes);
  EXPECT_EQ(updated->tokens.key_version, 7u);
  EXPECT_EQ(updated->token_type, "bearer");
  EXPECT_THAT(updated->scopes, ElementsAre("a", "b", "c"));
  EXPECT_EQ(updated->expires_at, at_ms(42));
  EXPECT_EQ(updated->status, ConnectionStatus::kReauthRequired);
  EXPECT_EQ(updated->metadata, changed.metadata);
  EXPECT_EQ(updated->created_at, stored->created_at);
  EXPECT_EQ(updated->updated_at, at_ms(2000));

  // A writer holding version 1 lost the race.
  changed.token_type = "stale";
  EXPECT_TRUE(Fails(store_->update_connection(changed, 1), StoreErrc::kConflict));
  auto current = store_->get_connection("c1");
  ASSERT_TRUE(Ok(current));
  EXPECT_EQ(current->token_type, "bearer");
  EXPECT_EQ(current->version, 2);

  changed.id = "missing";
  EXPECT_TRUE(Fails(store_->update_connection(changed, 1), StoreErrc::kNotFound));
}

TEST_P(StoreConformance, RekeyQueries) {
  Connection a = make_connection("a", "acme", "google", {{"user_id", "1"}});
  a.tokens.key_version = 1;
  Connection b = make_connection("b", "acme", "google", {{"user_id", "2"}});
  b.tokens.key_version = 2;
  Connection c = make_connection("c", "acme", "google", {{"user_id", "3"}});
  c.tokens.key_version = 3;
  for (const auto& conn : {a, b, c}) ASSERT_TRUE(Ok(store_->upsert_connection(conn)));

  auto need = store_->connections_needing_rekey(2, 100);
  ASSERT_TRUE(Ok(need));
  EXPECT_THAT(ids(*need), UnorderedElementsAre("a", "c"));
  need = store_->connections_needing_rekey(4, 100);
  ASSERT_TRUE(Ok(need));
  EXPECT_EQ(need->size(), 3u);
  need = store_->connections_needing_rekey(4, 2);
  ASSERT_TRUE(Ok(need));
  EXPECT_EQ(need->size(), 2u);

  ASSERT_TRUE(Ok(store_->put_provider_credential(ProviderCredential{"acme", "google", "c", SealedBlob{1, "s"}, {}, at_ms(1)})));
  ASSERT_TRUE(Ok(store_->put_provider_credential(ProviderCredential{"acme", "slack", "c", SealedBlob{2, "s"}, {}, at_ms(1)})));
  ASSERT_TRUE(Ok(store_->put_provider_credential(ProviderCredential{"acme", "public", "c", SealedBlob{0, ""}, {}, at_ms(1)})));
  auto creds = store_->provider_credentials_needing_rekey(2, 100);
  ASSERT_TRUE(Ok(creds));
  ASSERT_EQ(creds->size(), 1u);
  EXPECT_EQ((*creds)[0].provider_id, "google");
  creds = store_->provider_credentials_needing_rekey(3, 100);
  ASSERT_TRUE(Ok(creds));
  EXPECT_EQ(creds->size(), 2u);  // never the empty secret
  creds = store_->provider_credentials_needing_rekey(3, 1);
  ASSERT_TRUE(Ok(creds));
  EXPECT_EQ(creds->size(), 1u);
}

TEST_P(StoreConformance, ConnectionsExpiringBefore) {
  auto with_expiry = [&](const char* id, std::optional<std::int64_t> expires, ConnectionStatus status) {
    Connection conn = make_connection(id, "acme", "google", {{"user_id", id}});
    conn.expires_at = expires ? std::optional<TimePoint>(at_ms(*expires)) : std::nullopt;
    conn.status = status;
    return store_->upsert_connection(conn);
  };
  ASSERT_TRUE(Ok(with_expiry("late", 300, ConnectionStatus::kActive)));
  ASSERT_TRUE(Ok(with_expiry("soon", 100, ConnectionStatus::kActive)));
  ASSERT_TRUE(Ok(with_expiry("mid", 200, ConnectionStatus::kActive)));
  ASSERT_TRUE(Ok(with_expiry("never", std::nullopt, ConnectionStatus::kActive)));
  ASSERT_TRUE(Ok(with_expiry("broken", 50, ConnectionStatus::kReauthRequired)));

  auto rows = store_->connections_expiring_before(at_ms(250), 100);
  ASSERT_TRUE(Ok(rows));
  EXPECT_THAT(ids(*rows), ElementsAre("soon", "mid"));
  rows = store_->connections_expiring_before(at_ms(200), 100);  // strictly before
  ASSERT_TRUE(Ok(rows));
  EXPECT_THAT(ids(*rows), ElementsAre("soon"));
  rows = store_->connections_expiring_before(at_ms(1000), 2);
  ASSERT_TRUE(Ok(rows));
  EXPECT_THAT(ids(*rows), ElementsAre("soon", "mid"));
}

// ---- audit ----

TEST_P(StoreConformance, AuditChainLinksRowsAndMovesHead) {
  auto head = store_->audit_head();
  ASSERT_TRUE(Ok(head));
  EXPECT_EQ(head->seq, 0);
  EXPECT_EQ(head->hash, kZeros);

  std::vector<std::tuple<std::string, std::int64_t, std::string>> calls;
  AuditHasher recording = [&](const std::string& prev, std::int64_t seq, const std::string& content) {
    calls.emplace_back(prev, seq, content);
    return test_hash(prev, seq, content);
  };

  std::vector<AuditRecord> batch{make_audit("e1", 10), make_audit("e2", 20), make_audit("e3", 30)};
  ASSERT_TRUE(Ok(store_->append_audit(batch, recording)));
  EXPECT_THAT(seqs(batch), ElementsAre(1, 2, 3));
  EXPECT_EQ(batch[0].prev_hash, kZeros);
  EXPECT_EQ(batch[1].prev_hash, batch[0].hash);
  EXPECT_EQ(batch[2].prev_hash, batch[1].hash);
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0], std::make_tuple(kZeros, std::int64_t{1}, batch[0].content));
  EXPECT_EQ(calls[1], std::make_tuple(batch[0].hash, std::int64_t{2}, batch[1].content));
  EXPECT_EQ(calls[2], std::make_tuple(batch[1].hash, std::int64_t{3}, batch[2].content));

  head = store_->audit_head();
  ASSERT_TRUE(Ok(head));
  EXPECT_EQ(head->seq, 3);
  EXPECT_EQ(head->hash, batch[2].hash);

  std::vector<AuditRecord> more{make_audit("e4", 40), make_audit("e5", 50)};
  ASSERT_TRUE(Ok(store_->append_audit(more, test_hash)));
  EXPECT_THAT(seqs(more), ElementsAre(4, 5));
  EXPECT_EQ(more[0].prev_hash, batch[2].hash);

  std::vector<AuditRecord> none;
  ASSERT_TRUE(Ok(store_->append_audit(none, test_hash)));

  auto rows = audit({});
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_THAT(seqs(rows), ElementsAre(1, 2, 3, 4, 5));
  std::string prev = kZeros;
  for (const auto& row : rows) {
    EXPECT_EQ(row.prev_hash, prev);
    EXPECT_EQ(row.hash, test_hash(row.prev_hash, row.seq, row.content));
    prev = row.hash;
  }
  const AuditRecord& first = rows[0];
  EXPECT_EQ(first.id, "e1");
  EXPECT_EQ(first.ts, at_ms(10));
  EXPECT_EQ(first.kind, "token");
  EXPECT_EQ(first.app_id, "app");
  EXPECT_EQ(first.actor_id, "agent");
  EXPECT_EQ(first.user_id, "alice");
  EXPECT_EQ(first.provider_id, "google");
  EXPECT_EQ(first.connection_id, "conn");
  EXPECT_EQ(first.decision, "issued");
  EXPECT_EQ(first.request_id, "req");
  EXPECT_EQ(first.content, batch[0].content);
  head = store_->audit_head();
  ASSERT_TRUE(Ok(head));
  EXPECT_EQ(head->seq, 5);
  EXPECT_EQ(head->hash, rows[4].hash);
}

TEST_P(StoreConformance, ChangesCommitWithTheirAuditRowsOrNotAtAll) {
  auto version_before = store_->change_version();
  ASSERT_TRUE(Ok(version_before));
  std::vector<AuditRecord> rows{make_audit("c1", 1), make_audit("c2", 2)};
  auto done = store_->commit_with_audit(
      [&]() -> StoreResult<void> {
        if (auto r = store_->create_app(App{"tx-app", "Tx", {}, at_ms(1)}); !r) return r;
        // A read inside the transaction sees its own write.
        auto app = store_->get_app("tx-app");
        if (!app) return common::unexpected(app.error());
        return store_->create_api_key(ApiKeyRecord{"k-tx", "tx-app", "n", "hint", "hash-tx", at_ms(1), std::nullopt});
      },
      rows, test_hash, true);
  ASSERT_TRUE(Ok(done));
  EXPECT_TRUE(Ok(store_->get_app("tx-app")));
  EXPECT_TRUE(Ok(store_->find_api_key("hash-tx")));
  EXPECT_EQ(rows[0].seq, 1);
  EXPECT_EQ(rows[1].seq, 2);
  EXPECT_EQ(rows[1].prev_hash, rows[0].hash);
  EXPECT_EQ(audit(AuditFilter{}).size(), 2u);
  auto head = store_->audit_head();
  ASSERT_TRUE(Ok(head));
  EXPECT_EQ(head->seq, 2);
  auto version_after = store_->change_version();
  ASSERT_TRUE(Ok(version_after));
  EXPECT_EQ(*version_after, *version_before + 1);

  // The change fails: nothing of it, and no audit row.
  std::vector<AuditRecord> more{make_audit("c3", 3)};
  auto failed = store_->commit_with_audit(
      [&]() -> StoreResult<void> {
        if (auto r = store_->create_app(App{"tx-app-2", "Tx2", {}, at_ms(1)}); !r) return r;
        return store_->create_app(App{"tx-app", "dup", {}, at_ms(1)});  // conflict
      },
      more, test_hash, true);
  EXPECT_FALSE(Ok(failed));
  EXPECT_FALSE(Ok(store_->get_app("tx-app-2")));
  EXPECT_EQ(audit(AuditFilter{}).size(), 2u);

  // The audit append fails: the change is rolled back with it.
  auto throwing = [](const std::string&, std::int64_t, const std::string&) -> std::string { throw std::runtime_error("x"); };
  std::vector<AuditRecord> last{make_audit("c4", 4)};
  failed = store_->commit_with_audit(
      [&]() { return store_->create_app(App{"tx-app-3", "Tx3", {}, at_ms(1)}); }, last, throwing, true);
  EXPECT_FALSE(Ok(failed));
  EXPECT_FALSE(Ok(store_->get_app("tx-app-3")));
  EXPECT_EQ(audit(AuditFilter{}).size(), 2u);
  head = store_->audit_head();
  ASSERT_TRUE(Ok(head));
  EXPECT_EQ(head->seq, 2);
  version_after = store_->change_version();
  ASSERT_TRUE(Ok(version_after));
  EXPECT_EQ(*version_after, *version_before + 1);
  // And the store is usable afterwards.
  std::vector<AuditRecord> fine{make_audit("c5", 5)};
  EXPECT_TRUE(Ok(store_->append_audit(fine, test_hash)));
  EXPECT_EQ(fine[0].seq, 3);
}

TEST_P(StoreConformance, AuditContentFiltersAndPayloadPurges) {
  std::vector<AuditRecord> rows;
  for (int i = 1; i <= 4; ++i) rows.push_back(make_audit(tag("p", i), i * 100));
  rows[0].content = R"({"actor":{"type":"ai_agent"},"user":{"team":"eng","user_id":"alice"}})";
  rows[1].content = R"({"actor":{"type":"mcp_server"},"user":{"team":"ops","user_id":"bob"}})";
  rows[2].content = R"({"user":{"team":"eng","user_id":"carol"}})";
  rows[3].content = R"({"actor":{"type":"ai_agent"},"user":{"user_id":"dave"}})";
  rows[0].payload = R"({"request_body":"a"})";
  rows[1].payload = R"({"request_body":"b"})";
  rows[2].payload = R"({"request_body":"c"})";
  ASSERT_TRUE(Ok(store_->append_audit(rows, test_hash)));
  auto content = [](std::vector<std::string> path, std::optional<std::string> value) {
    AuditFilter f;
    f.content.push_back({std::move(path), std::move(value)});
    return f;
  };
  EXPECT_THAT(seqs(audit(content({"user", "team"}, "eng"))), ElementsAre(1, 3));
  EXPECT_THAT(seqs(audit(content({"user", "team"}, std::nullopt))), ElementsAre(4));
  EXPECT_THAT(seqs(audit(content({"actor", "type"}, "ai_agent"))), ElementsAre(1, 4));
  EXPECT_THAT(seqs(audit(content({"actor", "type"}, std::nullopt))), ElementsAre(3));
  EXPECT_THAT(seqs(audit(content({"user", "team"}, "nobody"))), IsEmpty());
  // Payloads come back as written, and go when purged; the rows stay.
  auto all = audit(AuditFilter{});
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].payload, std::optional<std::string>(R"({"request_body":"a"})"));
  EXPECT_FALSE(all[3].payload.has_value());
  auto purged = store_->purge_audit_payloads(content({"user", "team"}, "eng"));
  ASSERT_TRUE(Ok(purged));
  EXPECT_EQ(*purged, 2);
  all = audit(AuditFilter{});
  ASSERT_EQ(all.size(), 4u);
  EXPECT_FALSE(all[0].payload.has_value());
  EXPECT_TRUE(all[1].payload.has_value());
  EXPECT_FALSE(all[2].payload.has_value());
  EXPECT_EQ(all[0].content, rows[0].content);
  EXPECT_EQ(all[0].hash, rows[0].hash);
  AuditFilter until;
  until.until = at_ms(250);
  purged = store_->purge_audit_payloads(until);
  ASSERT_TRUE(Ok(purged));
  EXPECT_EQ(*purged, 1);  // row 2; row 1's was purged already
}

TEST_P(StoreConformance, AuditFiltersEachWork) {
  std::vector<AuditRecord> rows;
  for (int i = 1; i <= 6; ++i) rows.push_back(make_audit(tag("e", i), i * 100));
  rows[0].app_id = "other";
  rows[1].actor_id = "admin";
  rows[2].user_id = "bob";
  rows[3].provider_id = "slack";
  rows[4].decision = "denied";
  rows[5].kind = "admin";
  rows[0].request_id = "req-9";
  rows[1].connection_id = "conn-9";
  ASSERT_TRUE(Ok(store_->append_audit(rows, test_hash)));

  auto with = [](auto field, std::string value) {
    AuditFilter filter;
    filter.*field = std::move(value);
    return filter;
  };
  EXPECT_THAT(seqs(audit(with(&AuditFilter::app_id, "other"))), ElementsAre(1));
  EXPECT_THAT(seqs(audit(with(&AuditFilter::app_id, "app"))), ElementsAre(2, 3, 4, 5, 6));
  EXPECT_THAT(seqs(audit(with(&AuditFilter::actor_id, "admin"))), ElementsAre(2));
  EXPECT_THAT(seqs(audit(with(&AuditFilter::user_id, "bob"))), ElementsAre(3));
  EXPECT_THAT(seqs(audit(with(&AuditFilter::provider_id, "slack"))), ElementsAre(4));
  EXPECT_THAT(seqs(audit(with(&AuditFilter::decision, "denied"))), ElementsAre(5));
  EXPECT_THAT(seqs(audit(with(&AuditFilter::kind, "admin"))), ElementsAre(6));
  EXPECT_THAT(seqs(audit(with(&AuditFilter::request_id, "req-9"))), ElementsAre(1));
  EXPECT_THAT(seqs(audit(with(&AuditFilter::connection_id, "conn-9"))), ElementsAre(2));
  EXPECT_THAT(seqs(audit(with(&AuditFilter::user_id, "nobody"))), IsEmpty());

  AuditFilter window;
  window.since = at_ms(200);
  window.until = at_ms(400);  // [since, until)
  EXPECT_THAT(seqs(audit(window)), ElementsAre(2, 3));

  AuditFilter combined;
  combined.app_id = "app";
  combined.kind = "token";
  combined.since = at_ms(300);
  EXPECT_THAT(seqs(audit(combined)), ElementsAre(3, 4, 5));

  // Paging with after_seq and limit.
  std::vector<std::int64_t> paged;
  AuditFilter page;
  page.limit = 4;
  for (;;) {
    auto got = audit(page);
    if (got.empty()) break;
    EXPECT_LE(got.size(), 4u);
    for (const auto& row : got) paged.push_back(row.seq);
    page.after_seq = got.back().seq;
  }
  EXPECT_THAT(paged, ElementsAre(1, 2, 3, 4, 5, 6));
  AuditFilter tail;
  tail.after_seq = 4;
  EXPECT_THAT(seqs(audit(tail)), ElementsAre(5, 6));
}

TEST_P(StoreConformance, AuditSinceToleratesOutOfOrderTimestamps) {
  // Callers stamp ts, so a later seq may carry an earlier time.
  std::vector<AuditRecord> rows{make_audit("e1", 500), make_audit("e2", 100), make_audit("e3", 600),
                                make_audit("e4", 150)};
  ASSERT_TRUE(Ok(store_->append_audit(rows, test_hash)));
  AuditFilter since;
  since.since = at_ms(200);
  EXPECT_THAT(seqs(audit(since)), ElementsAre(1, 3));
  since.after_seq = 1;
  EXPECT_THAT(seqs(audit(since)), ElementsAre(3));
  since.after_seq = 0;
  since.until = at_ms(550);
  EXPECT_THAT(seqs(audit(since)), ElementsAre(1));
  AuditFilter later;
  later.since = at_ms(601);
  EXPECT_THAT(seqs(audit(later)), IsEmpty());
  AuditFilter until;
  until.until = at_ms(150);
  EXPECT_THAT(seqs(audit(until)), ElementsAre(2));
}

TEST_P(StoreConformance, ConcurrentAppendsKeepOneContiguousChain) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::vector<AuditRecord> one{make_audit(tag("t", t) + tag("-", i), i)};
        if (!store_->append_audit(one, test_hash).ok() || one[0].seq <= 0) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);

  AuditFilter all;
  all.limit = 10000;
  auto rows = audit(all);
  ASSERT_EQ(rows.size(), static_cast<std::size_t>(kThreads * kPerThread));
  std::string prev = kZeros;
  std::set<std::string> unique_ids;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].seq, static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(rows[i].prev_hash, prev);
    EXPECT_EQ(rows[i].hash, test_hash(rows[i].prev_hash, rows[i].seq, rows[i].content));
    prev = rows[i].hash;
    unique_ids.insert(rows[i].id);
  }
  EXPECT_EQ(unique_ids.size(), rows.size());
  auto head = store_->audit_head();
  ASSERT_TRUE(Ok(head));
  EXPECT_EQ(head->seq, kThreads * kPerThread);
  EXPECT_EQ(head->hash, prev);
}

TEST_P(StoreConformance, ConcurrentUpsertsAndReads) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 20;
  constexpr int kUsers = 5;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        for (int user = 0; user < kUsers; ++user) {
          const std::string user_id = tag("user-", user);
          auto conn = make_connection(user_id + tag("-t", t) + tag("-", round), "acme",
                                      "google", {{"user_id", user_id}});
          if (!store_->upsert_connection(conn).ok()) ++failures;
          ConnectionFilter filter;
          filter.app_id = "acme";
          filter.provider_id = "google";
          filter.attributes = {{"user_id", user_id}};
          auto found = store_->find_connections(filter);
          if (!found.ok() || found->size() != 1) ++failures;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);

  auto rows = find("acme", "google", {});
  ASSERT_EQ(rows.size(), static_cast<std::size_t>(kUsers));
  for (const auto& row : rows) EXPECT_EQ(row.version, kThreads * kRounds) << row.id;
}

// ---- policies ----

TEST_P(StoreConformance, PoliciesAreVersionedPerApp) {
  EXPECT_TRUE(Fails(store_->get_policy("acme", 0), StoreErrc::kNotFound));
  auto v1 = store_->put_policy(PolicyVersion{"acme", 0, "doc-1", "toml", "alice", at_ms(1)});
  ASSERT_TRUE(Ok(v1));
  EXPECT_EQ(v1->version, 1);
  auto other = store_->put_policy(PolicyVersion{"beta", 0, "{}", "json", "bob", at_ms(2)});
  ASSERT_TRUE(Ok(other));
  EXPECT_EQ(other->version, 1);
  auto v2 = store_->put_policy(PolicyVersion{"acme", 99, "doc-2", "json", "carol", at_ms(3)});
  ASSERT_TRUE(Ok(v2));
  EXPECT_EQ(v2->version, 2);  // the store assigns it, whatever the caller passed

  auto latest = store_->get_policy("acme", 0);
  ASSERT_TRUE(Ok(latest));
  EXPECT_EQ(latest->version, 2);
  EXPECT_EQ(latest->document, "doc-2");
  EXPECT_EQ(latest->format, "json");
  EXPECT_EQ(latest->author, "carol");
  EXPECT_EQ(latest->created_at, at_ms(3));
  auto first = store_->get_policy("acme", 1);
  ASSERT_TRUE(Ok(first));
  EXPECT_EQ(first->document, "doc-1");
  EXPECT_TRUE(Fails(store_->get_policy("acme", 3), StoreErrc::kNotFound));

  auto listed = store_->list_policies("acme");
  ASSERT_TRUE(Ok(listed));
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].version, 1);
  EXPECT_EQ((*listed)[1].version, 2);
}

// ---- approvals ----

Approval make_approval(std::string id, std::int64_t created_ms) {
  Approval a;
  a.id = std::move(id);
  a.app_id = "acme";
  a.binding_hash = "bind";
  a.request = {{"method", "GET"}, {"url", "https://api.test/x"}};
  a.rule_id = "rule-1";
  a.created_at = at_ms(created_ms);
  a.expires_at = at_ms(created_ms + 60000);
  return a;
}

TEST_P(StoreConformance, ApprovalsCompareAndSetOnStatus) {
  ASSERT_TRUE(Ok(store_->create_approval(make_approval("p1", 10))));
  ASSERT_TRUE(Ok(store_->create_approval(make_approval("p2", 20))));
  ASSERT_TRUE(Ok(store_->create_approval(make_approval("p3", 30))));
  EXPECT_TRUE(Fails(store_->create_approval(make_approval("p1", 40)), StoreErrc::kConflict));

  auto got = store_->get_approval("p1");
  ASSERT_TRUE(Ok(got));
  EXPECT_EQ(got->status, ApprovalStatus::kPending);
  EXPECT_EQ(got->request, make_approval("p1", 10).request);
  EXPECT_EQ(got->binding_hash, "bind");
  EXPECT_EQ(got->rule_id, "rule-1");
  EXPECT_EQ(got->expires_at, at_ms(60010));
  EXPECT_FALSE(got->decided_at.has_value());
  EXPECT_TRUE(Fails(store_->get_approval("nope"), StoreErrc::kNotFound));

  Approval decided = *got;
  decided.status = ApprovalStatus::kApproved;
  decided.decided_at = at_ms(50);
  decided.decided_by = "admin";
  decided.valid_until = at_ms(5000);
  decided.uses = 1;
  auto updated = store_->update_approval(decided, ApprovalStatus::kPending);
  ASSERT_TRUE(Ok(updated));
  EXPECT_EQ(updated->status, ApprovalStatus::kApproved);
  EXPECT_EQ(updated->decided_at, at_ms(50));
  EXPECT_EQ(updated->decided_by, "admin");
  EXPECT_EQ(updated->valid_until, at_ms(5000));
  EXPECT_EQ(updated->uses, 1);

  // A second decider expecting "pending" loses.
  decided.status = ApprovalStatus::kDenied;
  EXPECT_TRUE(Fails(store_->update_approval(decided, ApprovalStatus::kPending), StoreErrc::kConflict));
  got = store_->get_approval("p1");
  ASSERT_TRUE(Ok(got));
  EXPECT_EQ(got->status, ApprovalStatus::kApproved);
  decided.id = "nope";
  EXPECT_TRUE(Fails(store_->update_approval(decided, ApprovalStatus::kPending), StoreErrc::kNotFound));

  auto pending = store_->list_approvals("acme", ApprovalStatus::kPending, 100);
  ASSERT_TRUE(Ok(pending));
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].id, "p2");
  EXPECT_EQ((*pending)[1].id, "p3");
  auto any = store_->list_approvals("acme", std::nullopt, 2);
  ASSERT_TRUE(Ok(any));
  ASSERT_EQ(any->size(), 2u);
  EXPECT_EQ((*any)[0].id, "p1");
  auto elsewhere = store_->list_approvals("beta", std::nullopt, 100);
  ASSERT_TRUE(Ok(elsewhere));
  EXPECT_THAT(*elsewhere, IsEmpty());
}

// ---- connect sessions ----

TEST_P(StoreConformance, ConnectSessionsAreUsedOnce) {
  ConnectSession s;
  s.id = "s1";
  s.app_id = "acme";
  s.provider_id = "google";
  s.attributes = {{"user_id", "alice"}};
  s.return_url = "https://acme.test/done";
  s.token_hash = "token-hash";
  s.settings = {{"shop", "acme"}};
  s.created_at = at_ms(1);
  s.expires_at = at_ms(600001);
  ASSERT_TRUE(Ok(store_->create_connect_session(s)));
  ConnectSession dup = s;
  dup.id = "s2";
  EXPECT_TRUE(Fails(store_->create_connect_session(dup), StoreErrc::kConflict));  // same token hash

  auto by_token = store_->find_connect_session_by_token("token-hash");
  ASSERT_TRUE(Ok(by_token));
  EXPECT_EQ(by_token->id, "s1");
  EXPECT_EQ(by_token->attributes, s.attributes);
  EXPECT_EQ(by_token->return_url, s.return_url);
  EXPECT_EQ(by_token->settings, s.settings);
  EXPECT_EQ(by_token->expires_at, at_ms(600001));
  EXPECT_FALSE(by_token->used_at.has_value());
  EXPECT_TRUE(by_token->state_hash.empty());
  EXPECT_TRUE(Fails(store_->find_connect_session_by_token("nope"), StoreErrc::kNotFound));
  EXPECT_TRUE(Fails(store_->find_connect_session_by_state(""), StoreErrc::kNotFound));

  ASSERT_TRUE(Ok(store_->start_connect_session("s1", "state-hash", SealedBlob{5, kBinary})));
  EXPECT_TRUE(Fails(store_->start_connect_session("nope", "x", SealedBlob{}), StoreErrc::kNotFound));
  auto by_state = store_->find_connect_session_by_state("state-hash");
  ASSERT_TRUE(Ok(by_state));
  EXPECT_EQ(by_state->id, "s1");
  EXPECT_EQ(by_state->pkce_verifier.key_version, 5u);
  EXPECT_EQ(by_state->pkce_verifier.bytes, kBinary);
  EXPECT_TRUE(Fails(store_->find_connect_session_by_state("other"), StoreErrc::kNotFound));

  ASSERT_TRUE(Ok(store_->use_connect_session("s1", at_ms(77))));
  EXPECT_TRUE(Fails(store_->use_connect_session("s1", at_ms(78)), StoreErrc::kConflict));
  EXPECT_TRUE(Fails(store_->use_connect_session("nope", at_ms(78)), StoreErrc::kNotFound));
  by_token = store_->find_connect_session_by_token("token-hash");
  ASSERT_TRUE(Ok(by_token));
  EXPECT_EQ(by_token->used_at, at_ms(77));
}

// ---- several instances: connection locks, rate limits, the change version ----
// (PostgreSQL's tests check that these hold across two stores on one database as well.)

using std::chrono_literals::operator""ms;
using std::chrono_literals::operator""s;

TEST_P(StoreConformance, ConnectionLockIsMutuallyExclusive) {
  std::promise<void> entered;
  std::promise<void> release;
  std::atomic<bool> first_done{false};
  std::thread holder([&] {
    EXPECT_TRUE(Ok(store_->with_connection_lock("conn-1", 10s, [&] {
      entered.set_value();
      release.get_future().wait();
      first_done = true;
    })));
  });
  entered.get_future().wait();

  // Held: another taker gives up after its timeout, and never runs its function.
  bool ran = false;
  EXPECT_TRUE(Fails(store_->with_connection_lock("conn-1", 100ms, [&] { ran = true; }), StoreErrc::kUnavailable));
  EXPECT_TRUE(Fails(store_->with_connection_lock("conn-1", 0ms, [&] { ran = true; }), StoreErrc::kUnavailable));
  EXPECT_FALSE(ran);
  // Another connection's lock is independent.
  EXPECT_TRUE(Ok(store_->with_connection_lock("conn-2", 1s, [&] { ran = true; })));
  EXPECT_TRUE(ran);

  // A patient taker runs only after the holder is done.
  std::atomic<bool> saw_first_done{false};
  std::thread waiter([&] {
    EXPECT_TRUE(Ok(store_->with_connection_lock("conn-1", 20s, [&] { saw_first_done = first_done.load(); })));
  });
  release.set_value();
  holder.join();
  waiter.join();
  EXPECT_TRUE(saw_first_done);
}

TEST_P(StoreConformance, ConnectionLockHoldersExcludeEachOther) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 10;
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  int counter = 0;  // guarded by the lock alone
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) {
        EXPECT_TRUE(Ok(store_->with_connection_lock("shared", 30s, [&] {
          if (inside.fetch_add(1) != 0) ++overlaps;
          const int seen = counter;
          std::this_thread::yield();
          counter = seen + 1;
          inside.fetch_sub(1);
        })));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(counter, kThreads * kRounds);
}

TEST_P(StoreConformance, ConnectionLockFunctionMayUseTheStore) {
  ASSERT_TRUE(Ok(store_->upsert_connection(make_connection("c1", "acme", "google", {{"user_id", "alice"}}))));
  bool done = false;
  ASSERT_TRUE(Ok(store_->with_connection_lock("c1", 5s, [&] {
    // What a refresh does under the lock: re-read, write back, audit, and lock another connection.
    auto fresh = store_->get_connection("c1");
    ASSERT_TRUE(Ok(fresh));
    fresh->token_type = "refreshed";
    ASSERT_TRUE(Ok(store_->update_connection(*fresh, fresh->version)));
    std::vector<AuditRecord> rows{make_audit("e1", 1)};
    ASSERT_TRUE(Ok(store_->append_audit(rows, test_hash)));
    ASSERT_TRUE(Ok(store_->with_connection_lock("c2", 5s, [&] { done = true; })));
  })));
  EXPECT_TRUE(done);
  auto stored = store_->get_connection("c1");
  ASSERT_TRUE(Ok(stored));
  EXPECT_EQ(stored->token_type, "refreshed");
}

TEST_P(StoreConformance, ConnectionLockIsReleasedWhenTheFunctionThrows) {
  EXPECT_THROW((void)store_->with_connection_lock("c1", 5s, [] { throw std::runtime_error("refresh failed"); }),
               std::runtime_error);
  // Free again, for this thread and for any other.
  EXPECT_TRUE(Ok(store_->with_connection_lock("c1", 1s, [] {})));
  std::thread other([&] { EXPECT_TRUE(Ok(store_->with_connection_lock("c1", 1s, [] {}))); });
  other.join();
}

TEST_P(StoreConformance, RateLimitHitsCountPerKeyAndWindow) {
  const TimePoint w0 = at_ms(1700000040000);
  const TimePoint w1 = w0 + 60s;
  for (std::int64_t expected = 1; expected <= 3; ++expected) {
    auto count = store_->rate_limit_hit("rule-1|alice", w0, 60s);
    ASSERT_TRUE(Ok(count));
    EXPECT_EQ(*count, expected);
  }
  // Peeking does not count.
  for (int i = 0; i < 2; ++i) {
    auto peek = store_->rate_limit_peek("rule-1|alice", w0);
    ASSERT_TRUE(Ok(peek));
    EXPECT_EQ(*peek, 3);
  }
  // The next window and other keys start from zero.
  auto next = store_->rate_limit_hit("rule-1|alice", w1, 60s);
  ASSERT_TRUE(Ok(next));
  EXPECT_EQ(*next, 1);
  auto other = store_->rate_limit_hit("rule-1|bob", w0, 60s);
  ASSERT_TRUE(Ok(other));
  EXPECT_EQ(*other, 1);
  auto unicode = store_->rate_limit_hit("rule-1|Zoë 🦊", w0, 60s);
  ASSERT_TRUE(Ok(unicode));
  EXPECT_EQ(*unicode, 1);

  auto peek = store_->rate_limit_peek("rule-1|alice", w0);
  ASSERT_TRUE(Ok(peek));
  EXPECT_EQ(*peek, 3);
  peek = store_->rate_limit_peek("rule-1|alice", w1);
  ASSERT_TRUE(Ok(peek));
  EXPECT_EQ(*peek, 1);
  peek = store_->rate_limit_peek("rule-1|nobody", w0);
  ASSERT_TRUE(Ok(peek));
  EXPECT_EQ(*peek, 0);
}

TEST_P(StoreConformance, ConcurrentRateLimitHitsCountEachOnce) {
  constexpr int kThreads = 8;
  constexpr int kHits = 25;
  const TimePoint window = at_ms(1700000000000);
  std::mutex mutex;
  std::vector<std::int64_t> counts;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kHits; ++i) {
        auto count = store_->rate_limit_hit("hot", window, 60s);
        EXPECT_TRUE(Ok(count));
        if (!count.ok()) continue;
        std::lock_guard lock(mutex);
        counts.push_back(*count);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::sort(counts.begin(), counts.end());
  ASSERT_EQ(counts.size(), static_cast<std::size_t>(kThreads * kHits));
  for (std::size_t i = 0; i < counts.size(); ++i) EXPECT_EQ(counts[i], static_cast<std::int64_t>(i + 1));
  auto peek = store_->rate_limit_peek("hot", window);
  ASSERT_TRUE(Ok(peek));
  EXPECT_EQ(*peek, kThreads * kHits);
}

TEST_P(StoreConformance, ChangeVersionIsMonotonicAndBumpReturnsTheNewValue) {
  auto start = store_->change_version();
  ASSERT_TRUE(Ok(start));
  auto first = store_->bump_change_version();
  ASSERT_TRUE(Ok(first));
  EXPECT_EQ(*first, *start + 1);
  auto seen = store_->change_version();
  ASSERT_TRUE(Ok(seen));
  EXPECT_EQ(*seen, *first);
  auto again = store_->change_version();  // reading does not bump
  ASSERT_TRUE(Ok(again));
  EXPECT_EQ(*again, *first);

  constexpr int kThreads = 4;
  constexpr int kBumps = 10;
  std::mutex mutex;
  std::set<std::int64_t> values;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kBumps; ++i) {
        auto bumped = store_->bump_change_version();
        EXPECT_TRUE(Ok(bumped));
        if (!bumped.ok()) continue;
        std::lock_guard lock(mutex);
        values.insert(*bumped);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(values.size(), static_cast<std::size_t>(kThreads * kBumps));  // each bump its own value
  ASSERT_FALSE(values.empty());
  EXPECT_EQ(*values.begin(), *first + 1);
  EXPECT_EQ(*values.rbegin(), *first + kThreads * kBumps);
  auto last = store_->change_version();
  ASSERT_TRUE(Ok(last));
  EXPECT_EQ(*last, *first + kThreads * kBumps);
}

std::string store_name(const ::testing::TestParamInfo<StoreFactory>& param) { return param.param.name; }

INSTANTIATE_TEST_SUITE_P(Stores, StoreConformance, ::testing::ValuesIn(store_testing::store_factories()),
                         store_name);
INSTANTIATE_TEST_SUITE_P(Stores, StoreFindConnections, ::testing::ValuesIn(store_testing::store_factories()),
                         store_name);

}  // namespace
}  // namespace alter::server
