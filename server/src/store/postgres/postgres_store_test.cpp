// What only the PostgreSQL store promises: several instances (Store objects) on one database,
// failing fast and recovering when the server goes away and returns, schema and migrations,
// error messages without values, binary round trips, and index use at scale.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "store/postgres/pg_db.hpp"
#include "store/postgres/pg_migrations.hpp"
#include "store/postgres/pg_queries.hpp"
#include "store/postgres/postgres_store.hpp"
#include "store/postgres/postgres_test_support.hpp"
#include "store/store_test_support.hpp"

namespace alter::server {
namespace {

using namespace std::chrono_literals;
using store_testing::postgres_server;
using store_testing::ScratchDatabase;
using store_testing::at_ms;
using store_testing::kZeros;
using store_testing::tag;
using store_testing::test_hash;
using ::testing::HasSubstr;
using ::testing::Not;

using SteadyClock = std::chrono::steady_clock;

AuditRecord make_audit(std::string id) {
  AuditRecord r;
  r.id = std::move(id);
  r.ts = at_ms(1);
  r.kind = "admin";
  r.app_id = "default";
  r.content = R"({"id":")" + r.id + R"("})";
  return r;
}

template <class R>
::testing::AssertionResult Ok(const R& result) {
  if (result.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << result.error().message;
}

template <class R>
::testing::AssertionResult FailsWith(const R& result, StoreErrc expected) {
  if (result.ok()) return ::testing::AssertionFailure() << "succeeded";
  if (result.error().code != expected) {
    return ::testing::AssertionFailure() << "code " << static_cast<int>(result.error().code) << ": "
                                         << result.error().message;
  }
  return ::testing::AssertionSuccess();
}

std::int64_t millis_since(SteadyClock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start).count();
}

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { database_ = std::make_unique<ScratchDatabase>(); }

  std::unique_ptr<Store> open(PostgresStoreOptions options = {}, bool migrate = true) {
    auto store = open_postgres_store(database_->url(), options);
    EXPECT_TRUE(store.ok()) << store.error().message;
    if (!store.ok()) return nullptr;
    if (migrate) {
      auto version = (*store)->migrate();
      EXPECT_TRUE(version.ok()) << version.error().message;
    }
    return std::move(*store);
  }

  /// SQL behind the store's back, as the superuser; the rows' columns as text.
  std::vector<std::vector<std::string>> raw(const std::string& sql) {
    return postgres_server().query(database_->name(), sql);
  }
  std::string scalar(const std::string& sql) { return raw(sql).at(0).at(0); }

  std::unique_ptr<ScratchDatabase> database_;
};

TEST(PostgresErrors, SqlstatesMapToStoreErrors) {
  EXPECT_EQ(pg::errc_for_sqlstate("23505"), StoreErrc::kConflict);    // unique_violation
  EXPECT_EQ(pg::errc_for_sqlstate("23502"), StoreErrc::kInvalid);     // not_null_violation
  EXPECT_EQ(pg::errc_for_sqlstate("23503"), StoreErrc::kInvalid);     // foreign_key_violation
  EXPECT_EQ(pg::errc_for_sqlstate("23514"), StoreErrc::kInvalid);     // check_violation
  EXPECT_EQ(pg::errc_for_sqlstate("22021"), StoreErrc::kInvalid);     // bad UTF-8
  EXPECT_EQ(pg::errc_for_sqlstate("54000"), StoreErrc::kInvalid);     // program_limit_exceeded
  EXPECT_EQ(pg::errc_for_sqlstate("08006"), StoreErrc::kUnavailable); // connection_failure
  EXPECT_EQ(pg::errc_for_sqlstate("57P01"), StoreErrc::kUnavailable); // admin_shutdown
  EXPECT_EQ(pg::errc_for_sqlstate("57P02"), StoreErrc::kUnavailable); // crash_shutdown
  EXPECT_EQ(pg::errc_for_sqlstate("57P03"), StoreErrc::kUnavailable); // cannot_connect_now
  EXPECT_EQ(pg::errc_for_sqlstate("57014"), StoreErrc::kUnavailable); // query_canceled (statement_timeout)
  EXPECT_EQ(pg::errc_for_sqlstate("53300"), StoreErrc::kUnavailable); // too_many_connections
  EXPECT_EQ(pg::errc_for_sqlstate("55P03"), StoreErrc::kUnavailable); // lock_not_available (lock_timeout)
  EXPECT_EQ(pg::errc_for_sqlstate("40P01"), StoreErrc::kUnavailable); // deadlock_detected
  EXPECT_EQ(pg::errc_for_sqlstate("42P01"), StoreErrc::kInternal);    // undefined_table
  EXPECT_EQ(pg::errc_for_sqlstate("XX000"), StoreErrc::kInternal);
}

// ---- schema and migrations ----

TEST_F(PostgresStoreTest, OpeningRunsNothingAndMigrateIsIdempotent) {
  auto store = open({}, /*migrate=*/false);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "0");

  auto version = store->migrate();
  ASSERT_TRUE(Ok(version));
  EXPECT_EQ(*version, pg::migrations().back().version);
  auto again = store->migrate();
  ASSERT_TRUE(Ok(again));
  EXPECT_EQ(*again, *version);
  EXPECT_EQ(scalar("SELECT count(*) FROM schema_migrations"), std::to_string(pg::migrations().size()));
  EXPECT_EQ(scalar("SELECT seq || ' ' || hash FROM audit_head"), "0 " + kZeros);
  EXPECT_EQ(scalar("SELECT version FROM change_version"), "0");
}

TEST_F(PostgresStoreTest, MigrationsAreOrderedWithoutGaps) {
  int expected = 1;
  for (const auto& migration : pg::migrations()) {
    EXPECT_EQ(migration.version, expected++);
    EXPECT_FALSE(migration.sql.empty());
  }
}

TEST_F(PostgresStoreTest, NewerSchemaIsRefused) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  raw("INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)");
  auto version = store->migrate();
  EXPECT_TRUE(FailsWith(version, StoreErrc::kInvalid));
}

TEST_F(PostgresStoreTest, TwoInstancesMigratingAtOnceAreSafe) {
  // Several rounds: the race (both see no schema_migrations table) needs the timing to line up.
  for (int round = 0; round < 3; ++round) {
    if (round > 0) database_ = std::make_unique<ScratchDatabase>();
    auto a = open({}, /*migrate=*/false);
    auto b = open({}, /*migrate=*/false);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    std::promise<void> go;
    std::shared_future<void> start = go.get_future().share();
    auto migrate = [&](Store& store) {
      start.wait();
      return store.migrate();
    };
    auto first = std::async(std::launch::async, migrate, std::ref(*a));
    auto second = std::async(std::launch::async, migrate, std::ref(*b));
    go.set_value();
    auto va = first.get();
    auto vb = second.get();
    ASSERT_TRUE(Ok(va));
    ASSERT_TRUE(Ok(vb));
    EXPECT_EQ(*va, *vb);
    EXPECT_EQ(scalar("SELECT count(*) FROM schema_migrations"), std::to_string(pg::migrations().size()));
    EXPECT_EQ(scalar("SELECT count(*) FROM audit_head"), "1");
    EXPECT_TRUE(Ok(a->ping()));
  }
}

TEST_F(PostgresStoreTest, RowsAreStoredAsDocumented) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  Connection c;
  c.id = "c1";
  c.app_id = "default";
  c.provider_id = "google";
  c.attributes = {{"user_id", "alice"}, {"a", "1"}};
  c.tokens = SealedBlob{7, std::string("\0x", 2)};
  c.expires_at = at_ms(1700000000123);
  ASSERT_TRUE(Ok(store->upsert_connection(c)));
  EXPECT_EQ(scalar("SELECT octet_length(tokens) || ' ' || tokens_key_version || ' ' || encode(tokens, 'hex') "
                   "FROM connections"),
            "2 7 0078");
  EXPECT_EQ(scalar("SELECT attributes_json FROM connections"), R"({"a":"1","user_id":"alice"})");
  EXPECT_EQ(scalar("SELECT expires_at FROM connections"), "1700000000123");
  EXPECT_EQ(scalar("SELECT pg_typeof(expires_at)::text FROM connections"), "bigint");
  EXPECT_EQ(scalar("SELECT count(*) FROM connection_attributes"), "2");
  ASSERT_TRUE(Ok(store->delete_connection("c1")));
  EXPECT_EQ(scalar("SELECT count(*) FROM connection_attributes"), "0");  // cascaded
}

// ---- binary and text round trips ----

TEST_F(PostgresStoreTest, BinaryAndUnicodeRoundTrip) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte.push_back(static_cast<char>(b));
  const std::string nuls(5, '\0');
  const std::string unicode = "Zoë 🦊 日本語 𝄞 مرحبا";

  ASSERT_TRUE(Ok(store->add_key(KeyringEntry{1, nuls, at_ms(1), true})));
  auto keys = store->keyring();
  ASSERT_TRUE(Ok(keys));
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].wrapped_key, nuls);

  Connection c;
  c.app_id = unicode;
  c.provider_id = "google";
  c.attributes = {{"user_id", unicode}, {unicode, "x"}};
  c.tokens = SealedBlob{3, every_byte};
  c.scopes = {unicode};
  c.metadata = {{"name", unicode}};
  auto stored = store->upsert_connection(c);
  ASSERT_TRUE(Ok(stored));
  auto got = store->get_connection(stored->id);
  ASSERT_TRUE(Ok(got));
  EXPECT_EQ(got->tokens.bytes, every_byte);
  EXPECT_EQ(got->app_id, unicode);
  EXPECT_EQ(got->attributes, c.attributes);
  EXPECT_EQ(got->scopes, c.scopes);
  EXPECT_EQ(got->metadata, c.metadata);
  EXPECT_EQ(scalar("SELECT octet_length(tokens) FROM connections"), "256");
  ConnectionFilter filter;
  filter.app_id = unicode;
  filter.attributes = {{unicode, "x"}};
  auto found = store->find_connections(filter);
  ASSERT_TRUE(Ok(found));
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].tokens.bytes, every_byte);

  ASSERT_TRUE(Ok(store->put_provider_credential(
      ProviderCredential{"acme", "google", unicode, SealedBlob{2, every_byte}, {{"k", unicode}}, at_ms(1)})));
  auto credential = store->get_provider_credential("acme", "google");
  ASSERT_TRUE(Ok(credential));
  EXPECT_EQ(credential->client_secret.bytes, every_byte);
  EXPECT_EQ(credential->client_id, unicode);

  auto policy = store->put_policy(PolicyVersion{"acme", 0, unicode, "toml", unicode, at_ms(1)});
  ASSERT_TRUE(Ok(policy));
  auto latest = store->get_policy("acme", 0);
  ASSERT_TRUE(Ok(latest));
  EXPECT_EQ(latest->document, unicode);

  // Text cannot hold NUL in PostgreSQL: refused, not cut short.
  EXPECT_TRUE(FailsWith(store->create_app(App{std::string("a\0b", 3), "x", {}, at_ms(1)}), StoreErrc::kInvalid));
  // Invalid UTF-8 outside JSON is refused by the server.
  EXPECT_TRUE(FailsWith(store->create_app(App{"bad\xff", "x", {}, at_ms(1)}), StoreErrc::kInvalid));
  EXPECT_TRUE(Ok(store->ping()));
}

// ---- errors ----

TEST_F(PostgresStoreTest, ErrorMessagesNeverContainBoundValues) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  const std::string secret = "SECRET-VALUE";
  ASSERT_TRUE(Ok(store->create_api_key(ApiKeyRecord{"k1", "default", "n", "h", secret + "-hash", at_ms(1), {}})));
  auto duplicate = store->create_api_key(
      ApiKeyRecord{"k2-" + secret, "default-" + secret, "name-" + secret, "hint-" + secret, secret + "-hash", at_ms(2), {}});
  ASSERT_TRUE(FailsWith(duplicate, StoreErrc::kConflict));
  EXPECT_THAT(duplicate.error().message, HasSubstr("23505"));
  EXPECT_THAT(duplicate.error().message, Not(HasSubstr(secret)));

  auto missing = store->find_api_key(secret);
  ASSERT_TRUE(FailsWith(missing, StoreErrc::kNotFound));
  EXPECT_THAT(missing.error().message, Not(HasSubstr(secret)));

  // A value the server rejects (bad UTF-8) is quoted by its message: ours does not quote it.
  auto bad = store->create_app(App{secret + "\xff", secret, {}, at_ms(1)});
  ASSERT_TRUE(FailsWith(bad, StoreErrc::kInvalid));
  EXPECT_THAT(bad.error().message, Not(HasSubstr(secret)));

  // An approval with a duplicate id, a session with a duplicate token hash.
  Approval approval;
  approval.id = secret;
  approval.app_id = "default";
  ASSERT_TRUE(Ok(store->create_approval(approval)));
  auto again = store->create_approval(approval);
  ASSERT_TRUE(FailsWith(again, StoreErrc::kConflict));
  EXPECT_THAT(again.error().message, Not(HasSubstr(secret)));
}

TEST_F(PostgresStoreTest, MalformedUrlIsInvalidAndNeverQuoted) {
  auto store = open_postgres_store("postgres://user:SECRET-PW%zz@127.0.0.1/db");
  ASSERT_TRUE(FailsWith(store, StoreErrc::kInvalid));
  EXPECT_THAT(store.error().message, Not(HasSubstr("SECRET-PW")));
}

// ---- several instances on one database ----

TEST_F(PostgresStoreTest, TwoInstancesKeepOneAuditChain) {
  auto a = open();
  auto b = open();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  constexpr int kThreadsPerStore = 4;
  constexpr int kPerThread = 50;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (Store* store : {a.get(), b.get()}) {
    for (int t = 0; t < kThreadsPerStore; ++t) {
      threads.emplace_back([&, store, t] {
        for (int i = 0; i < kPerThread; ++i) {
          std::vector<AuditRecord> one{make_audit(tag(store == a.get() ? "a" : "b", t) + tag("-", i))};
          if (!store->append_audit(one, test_hash).ok() || one[0].seq <= 0) ++failures;
        }
      });
    }
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);

  constexpr int kTotal = 2 * kThreadsPerStore * kPerThread;
  AuditFilter all;
  all.limit = 10000;
  auto rows = a->query_audit(all);
  ASSERT_TRUE(Ok(rows));
  ASSERT_EQ(rows->size(), static_cast<std::size_t>(kTotal));
  std::string prev = kZeros;
  for (std::size_t i = 0; i < rows->size(); ++i) {
    const AuditRecord& row = (*rows)[i];
    EXPECT_EQ(row.seq, static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(row.prev_hash, prev);
    EXPECT_EQ(row.hash, test_hash(row.prev_hash, row.seq, row.content));
    prev = row.hash;
  }
  for (Store* store : {a.get(), b.get()}) {
    auto head = store->audit_head();
    ASSERT_TRUE(Ok(head));
    EXPECT_EQ(head->seq, kTotal);
    EXPECT_EQ(head->hash, prev);
  }
}

TEST_F(PostgresStoreTest, BatchesLargerThanOneInsertKeepTheChain) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  std::vector<AuditRecord> batch;
  for (int i = 0; i < 37; ++i) batch.push_back(make_audit(tag("e", i)));
  ASSERT_TRUE(Ok(store->append_audit(batch, test_hash)));
  EXPECT_EQ(batch.back().seq, 37);
  EXPECT_EQ(scalar("SELECT count(*) FROM audit_events"), "37");
  EXPECT_EQ(scalar("SELECT seq FROM audit_head"), "37");

  // A duplicate id in the last insert of a batch: nothing of it stays.
  std::vector<AuditRecord> failing;
  for (int i = 100; i < 133; ++i) failing.push_back(make_audit(tag("e", i)));
  failing.push_back(make_audit("e0"));
  ASSERT_TRUE(FailsWith(store->append_audit(failing, test_hash), StoreErrc::kConflict));
  EXPECT_EQ(failing[0].seq, 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM audit_events"), "37");
  EXPECT_EQ(scalar("SELECT seq || ' ' || hash FROM audit_head"), "37 " + batch.back().hash);
}

TEST_F(PostgresStoreTest, ConnectionLockExcludesAcrossInstances) {
  auto a = open();
  auto b = open();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  std::promise<void> entered;
  std::promise<void> release;
  std::atomic<bool> a_done{false};
  std::thread holder([&] {
    EXPECT_TRUE(Ok(a->with_connection_lock("conn-1", 10s, [&] {
      entered.set_value();
      release.get_future().wait();
      a_done = true;
    })));
  });
  entered.get_future().wait();
  EXPECT_TRUE(FailsWith(b->with_connection_lock("conn-1", 200ms, [] { ADD_FAILURE() << "ran without the lock"; }),
                        StoreErrc::kUnavailable));
  EXPECT_TRUE(Ok(b->with_connection_lock("conn-2", 1s, [] {})));

  std::atomic<bool> saw_a_done{false};
  std::thread waiter([&] {
    EXPECT_TRUE(Ok(b->with_connection_lock("conn-1", 30s, [&] { saw_a_done = a_done.load(); })));
  });
  // The waiter is really waiting in the server (an advisory lock not granted) before the release.
  const auto deadline = SteadyClock::now() + 20s;
  while (scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") != "1" &&
         SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"), "1");
  release.set_value();
  holder.join();
  waiter.join();
  EXPECT_TRUE(saw_a_done);
  EXPECT_EQ(scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"), "0");  // all released

  // Threads of both instances on one connection: never two inside.
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::vector<std::thread> threads;
  for (Store* store : {a.get(), b.get()}) {
    for (int t = 0; t < 3; ++t) {
      threads.emplace_back([&, store] {
        for (int i = 0; i < 10; ++i) {
          EXPECT_TRUE(Ok(store->with_connection_lock("conn-1", 30s, [&] {
            if (inside.fetch_add(1) != 0) ++overlaps;
            std::this_thread::yield();
            inside.fetch_sub(1);
          })));
        }
      });
    }
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(overlaps.load(), 0);
}

TEST_F(PostgresStoreTest, LockHoldersNeverStarveThePool) {
  // One pooled connection, and every caller inside a lock uses the store: the locks live on
  // their own connections, so this cannot deadlock.
  auto store = open(PostgresStoreOptions{.pool_size = 1});
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(Ok(store->create_app(App{"default", "Default", {}, at_ms(1)})));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        auto locked = store->with_connection_lock(tag("conn-", t), 20s, [&] {
          if (!store->get_app("default").ok()) ++failures;
          std::vector<AuditRecord> rows{make_audit(tag("t", t) + tag("-", i))};
          if (!store->append_audit(rows, test_hash).ok()) ++failures;
        });
        if (!locked.ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM audit_events"), "20");
}

TEST_F(PostgresStoreTest, RateLimitsCountAcrossInstances) {
  auto a = open();
  auto b = open();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const TimePoint window = at_ms(1700000000000);
  constexpr int kThreadsPerStore = 4;
  constexpr int kHits = 25;
  std::mutex mutex;
  std::vector<std::int64_t> counts;
  std::vector<std::thread> threads;
  for (Store* store : {a.get(), b.get()}) {
    for (int t = 0; t < kThreadsPerStore; ++t) {
      threads.emplace_back([&, store] {
        for (int i = 0; i < kHits; ++i) {
          auto count = store->rate_limit_hit("rule|alice", window, 60s);
          EXPECT_TRUE(Ok(count));
          if (!count.ok()) continue;
          std::lock_guard lock(mutex);
          counts.push_back(*count);
        }
      });
    }
  }
  for (auto& thread : threads) thread.join();
  std::sort(counts.begin(), counts.end());
  constexpr int kTotal = 2 * kThreadsPerStore * kHits;
  ASSERT_EQ(counts.size(), static_cast<std::size_t>(kTotal));
  for (std::size_t i = 0; i < counts.size(); ++i) EXPECT_EQ(counts[i], static_cast<std::int64_t>(i + 1));
  for (Store* store : {a.get(), b.get()}) {
    auto peek = store->rate_limit_peek("rule|alice", window);
    ASSERT_TRUE(Ok(peek));
    EXPECT_EQ(*peek, kTotal);
  }
}

TEST_F(PostgresStoreTest, EndedRateLimitWindowsArePruned) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  const TimePoint old_window = at_ms(1700000000000);
  ASSERT_TRUE(Ok(store->rate_limit_hit("old", old_window, 1s)));
  // Pruning runs once in a few hundred hits; these are all in a window beginning more than an
  // hour (the grace for clock skew between instances) after the old one ended.
  const TimePoint later = old_window + 2h;
  ASSERT_TRUE(Ok(store->rate_limit_hit("recent", later - 30min, 60s)));  // ended within the grace
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(Ok(store->rate_limit_hit("new", later, 60s)));
  EXPECT_EQ(scalar("SELECT count(*) FROM rate_limits WHERE key = 'old'"), "0");
  EXPECT_EQ(scalar("SELECT count(*) FROM rate_limits WHERE key = 'recent'"), "1");
  auto peek = store->rate_limit_peek("new", later);
  ASSERT_TRUE(Ok(peek));
  EXPECT_EQ(*peek, 300);
}

TEST_F(PostgresStoreTest, ChangeVersionIsSharedAndNotified) {
  auto a = open();
  auto b = open();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);

  // A listener, as another instance would have one.
  std::unique_ptr<PGconn, void (*)(PGconn*)> listener(PQconnectdb(database_->url().c_str()), PQfinish);
  ASSERT_EQ(PQstatus(listener.get()), CONNECTION_OK);
  PQclear(PQexec(listener.get(), "LISTEN alter_changes"));

  auto bumped = a->bump_change_version();
  ASSERT_TRUE(Ok(bumped));
  auto seen = b->change_version();
  ASSERT_TRUE(Ok(seen));
  EXPECT_EQ(*seen, *bumped);

  std::string payload;
  const auto deadline = SteadyClock::now() + 10s;
  while (payload.empty() && SteadyClock::now() < deadline) {
    pollfd p{PQsocket(listener.get()), POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    ASSERT_EQ(PQconsumeInput(listener.get()), 1);
    while (PGnotify* notify = PQnotifies(listener.get())) {
      if (std::string_view(notify->relname) == "alter_changes") payload = notify->extra;
      PQfreemem(notify);
    }
  }
  EXPECT_EQ(payload, std::to_string(*bumped));

  auto from_b = b->bump_change_version();
  ASSERT_TRUE(Ok(from_b));
  EXPECT_EQ(*from_b, *bumped + 1);
  auto on_a = a->change_version();
  ASSERT_TRUE(Ok(on_a));
  EXPECT_EQ(*on_a, *from_b);
}

TEST_F(PostgresStoreTest, ConcurrentPoliciesGetDistinctVersions) {
  auto a = open();
  auto b = open();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  std::mutex mutex;
  std::set<std::int64_t> versions;
  std::vector<std::thread> threads;
  for (Store* store : {a.get(), b.get()}) {
    for (int t = 0; t < 3; ++t) {
      threads.emplace_back([&, store] {
        for (int i = 0; i < 5; ++i) {
          auto stored = store->put_policy(PolicyVersion{"acme", 0, "doc", "toml", "me", at_ms(1)});
          EXPECT_TRUE(Ok(stored));
          if (!stored.ok()) continue;
          std::lock_guard lock(mutex);
          versions.insert(stored->version);
        }
      });
    }
  }
  for (auto& thread : threads) thread.join();
  ASSERT_EQ(versions.size(), 30u);
  EXPECT_EQ(*versions.begin(), 1);
  EXPECT_EQ(*versions.rbegin(), 30);
}

// ---- outages ----

/// A TCP port that accepts connections (the kernel does, into the backlog) and never answers:
/// a server that hangs.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("SilentListener: cannot listen");
    }
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST_F(PostgresStoreTest, OpeningAnUnreachableServerFailsAfterTheConnectTimeout) {
  // Refused at once: nothing listens on port 1. A hung server: connected, then silence until
  // our own connect deadline (libpq's connect_timeout alone would round it up to 2 s).
  SilentListener silent;
  struct Case {
    std::string url;
    std::int64_t at_least_ms;
  };
  const Case cases[] = {{"postgres://postgres:SECRET-PW@127.0.0.1:1/db", 0},
                        {"postgres://postgres:SECRET-PW@127.0.0.1:" + std::to_string(silent.port()) + "/db", 450}};
  for (const auto& [url, at_least_ms] : cases) {
    const auto start = SteadyClock::now();
    auto store = open_postgres_store(url, PostgresStoreOptions{.connect_timeout = 500ms});
    const auto elapsed = millis_since(start);
    ASSERT_TRUE(FailsWith(store, StoreErrc::kUnavailable)) << url;
    EXPECT_GE(elapsed, at_least_ms) << url;
    EXPECT_LT(elapsed, 5000) << url;
    EXPECT_THAT(store.error().message, Not(HasSubstr("SECRET-PW")));
    std::cout << "[          ] open " << url.substr(url.find('@') + 1) << " failed in " << elapsed << " ms: "
              << store.error().message << "\n";
  }
}

TEST_F(PostgresStoreTest, AServerThatStopsAnsweringFailsCallsWithinTheDeadline) {
  auto store = open(PostgresStoreOptions{.pool_size = 1, .statement_timeout = 500ms});
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(Ok(store->create_app(App{"default", "Default", {}, at_ms(1)})));
  // Freeze the store's server process: it neither answers nor closes the connection, so the
  // server-side statement_timeout cannot help; the client's deadline must.
  std::vector<int> frozen;
  for (const auto& row : raw("SELECT pid FROM pg_stat_activity WHERE application_name = 'alter-vault' AND datname = '" +
                             database_->name() + "'")) {
    frozen.push_back(std::stoi(row.at(0)));
  }
  ASSERT_EQ(frozen.size(), 1u);
  for (int pid : frozen) ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  const auto start = SteadyClock::now();
  auto stuck = store->get_app("default");
  const auto elapsed = millis_since(start);
  for (int pid : frozen) ::kill(pid, SIGCONT);
  EXPECT_TRUE(FailsWith(stuck, StoreErrc::kUnavailable));
  EXPECT_GE(elapsed, 500);
  EXPECT_LT(elapsed, 10000);
  std::cout << "[          ] a frozen server failed the call in " << elapsed << " ms\n";
  // The connection was given up; the next call opens a new one.
  EXPECT_TRUE(Ok(store->get_app("default")));
}

TEST_F(PostgresStoreTest, CallsFailFastWhileTheServerIsDownAndTheStoreRecovers) {
  // A server of its own: this test stops it.
  alter::testing::PostgresServer server;
  const std::string url = server.create_database("outage");
  const PostgresStoreOptions options{.pool_size = 4, .connect_timeout = 2000ms, .statement_timeout = 2000ms};
  auto opened = open_postgres_store(url, options);
  ASSERT_TRUE(Ok(opened));
  std::unique_ptr<Store> store = std::move(*opened);
  auto other_opened = open_postgres_store(url, options);
  ASSERT_TRUE(Ok(other_opened));
  std::unique_ptr<Store> other = std::move(*other_opened);
  ASSERT_TRUE(Ok(store->migrate()));
  ASSERT_TRUE(Ok(store->create_app(App{"default", "Default", {}, at_ms(1)})));
  // Fill the pool: several connections are idle when the server goes.
  {
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) threads.emplace_back([&] { EXPECT_TRUE(Ok(store->get_app("default"))); });
    for (auto& thread : threads) thread.join();
  }

  // A call in flight when the server dies: waiting for a lock that the other instance holds.
  std::promise<void> entered;
  std::promise<void> release;
  std::thread holder([&] {
    auto locked = other->with_connection_lock("conn-1", 5s, [&] {
      entered.set_value();
      release.get_future().wait();
    });
    (void)locked;  // its session is gone: released by the server, whatever the unlock says
  });
  entered.get_future().wait();
  auto waiting = std::async(std::launch::async, [&] {
    const auto start = SteadyClock::now();
    auto locked = store->with_connection_lock("conn-1", 60s, [] { ADD_FAILURE() << "ran without the lock"; });
    return std::make_pair(std::move(locked), millis_since(start));
  });
  const auto deadline = SteadyClock::now() + 20s;
  while (server.query("outage", "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                 .at(0)
                 .at(0) != "1" &&
         SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }

  const auto killed_at = SteadyClock::now();
  server.kill_immediately();
  auto [in_flight, in_flight_ms] = waiting.get();
  EXPECT_TRUE(FailsWith(in_flight, StoreErrc::kUnavailable));
  EXPECT_LT(millis_since(killed_at), 10000);
  release.set_value();
  holder.join();

  // Every kind of call fails fast with kUnavailable: no hang.
  std::int64_t slowest = 0;
  auto check = [&](const char* what, auto&& call) {
    const auto start = SteadyClock::now();
    auto result = call();
    const auto elapsed = millis_since(start);
    slowest = std::max(slowest, elapsed);
    EXPECT_TRUE(FailsWith(result, StoreErrc::kUnavailable)) << what;
    EXPECT_LT(elapsed, 10000) << what;
  };
  for (int round = 0; round < 2; ++round) {
    check("get_app", [&] { return store->get_app("default"); });
    check("ping", [&] { return store->ping(); });
    check("append_audit", [&] {
      std::vector<AuditRecord> rows{make_audit(tag("down-", round))};
      return store->append_audit(rows, test_hash);
    });
    check("upsert_connection", [&] {
      Connection c;
      c.app_id = "default";
      c.provider_id = "google";
      return store->upsert_connection(c);
    });
    check("with_connection_lock", [&] { return store->with_connection_lock("conn-2", 1s, [] {}); });
    check("rate_limit_hit", [&] { return store->rate_limit_hit("k", at_ms(0), 60s); });
    check("bump_change_version", [&] { return store->bump_change_version(); });
    check("migrate", [&] { return store->migrate(); });
  }
  check("open_postgres_store", [&] { return open_postgres_store(url, options); });
  std::cout << "[          ] with the server down: the in-flight call failed after " << in_flight_ms
            << " ms, the slowest later call in " << slowest << " ms\n";

  // Back: the same Store objects work again, without reopening.
  server.start();
  const auto back_at = SteadyClock::now();
  auto app = store->get_app("default");
  ASSERT_TRUE(Ok(app));
  std::cout << "[          ] after the restart the first call succeeded in " << millis_since(back_at) << " ms\n";
  std::vector<AuditRecord> rows{make_audit("after")};
  EXPECT_TRUE(Ok(store->append_audit(rows, test_hash)));
  EXPECT_EQ(rows[0].seq, 1);
  EXPECT_TRUE(Ok(store->with_connection_lock("conn-1", 1s, [] {})));
  EXPECT_TRUE(Ok(other->ping()));
  EXPECT_TRUE(Ok(other->with_connection_lock("conn-1", 1s, [] {})));
  auto counts = store->table_counts();
  ASSERT_TRUE(Ok(counts));
  EXPECT_EQ(counts->at("apps"), 1);
  EXPECT_EQ(counts->at("audit_events"), 1);

  // A clean restart too (the server ends idle sessions with an error message first).
  server.stop();
  EXPECT_TRUE(FailsWith(store->ping(), StoreErrc::kUnavailable));
  server.start();
  EXPECT_TRUE(Ok(store->ping()));
  EXPECT_TRUE(Ok(store->get_app("default")));
}

TEST_F(PostgresStoreTest, StatementTimeoutIsUnavailableAndKeepsTheConnection) {
  auto store = open(PostgresStoreOptions{.pool_size = 1, .statement_timeout = 300ms});
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(Ok(store->create_app(App{"default", "Default", {}, at_ms(1)})));
  // Another session holds the audit head: append_audit waits for it until the statement timeout.
  std::unique_ptr<PGconn, void (*)(PGconn*)> other(PQconnectdb(database_->url().c_str()), PQfinish);
  ASSERT_EQ(PQstatus(other.get()), CONNECTION_OK);
  PQclear(PQexec(other.get(), "BEGIN"));
  PQclear(PQexec(other.get(), "SELECT * FROM audit_head FOR UPDATE"));
  std::vector<AuditRecord> rows{make_audit("e1")};
  const auto start = SteadyClock::now();
  auto blocked = store->append_audit(rows, test_hash);
  EXPECT_TRUE(FailsWith(blocked, StoreErrc::kUnavailable));
  EXPECT_THAT(blocked.error().message, HasSubstr("57014"));
  EXPECT_LT(millis_since(start), 5000);
  PQclear(PQexec(other.get(), "ROLLBACK"));
  EXPECT_TRUE(Ok(store->append_audit(rows, test_hash)));
  EXPECT_TRUE(Ok(store->get_app("default")));
}

// ---- index use at scale ----

// The plan must probe connection_attributes by index and fetch connections by primary key:
// never a sequential scan, at 10,000 connections of one provider.
TEST_F(PostgresStoreTest, FindConnectionsUsesIndexesAtScale) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  // Bulk rows straight into the tables: 10,000 upserts through the store would only slow CI.
  raw("INSERT INTO connections (id, app_id, provider_id, attributes_json, tokens, tokens_key_version, token_type, "
      "scopes_json, expires_at, status, metadata_json, created_at, updated_at, version) "
      "SELECT 'c' || i, 'default', 'google', '{\"team\":\"t' || (i % 10) || '\",\"user_id\":\"u' || i || '\"}', "
      "'\\x00'::bytea, 1, 'Bearer', '[]', NULL, 'active', '{}', i, 0, 1 FROM generate_series(0, 9999) AS i");
  raw("INSERT INTO connection_attributes (connection_id, app_id, provider_id, name, value) "
      "SELECT 'c' || i, 'default', 'google', 'user_id', 'u' || i FROM generate_series(0, 9999) AS i "
      "UNION ALL SELECT 'c' || i, 'default', 'google', 'team', 't' || (i % 10) FROM generate_series(0, 9999) AS i");
  raw("ANALYZE connections");
  raw("ANALYZE connection_attributes");

  ConnectionFilter filter;
  filter.app_id = "default";
  filter.provider_id = "google";
  filter.attributes = {{"user_id", "u4242"}, {"team", "t2"}};
  auto found = store->find_connections(filter);
  ASSERT_TRUE(Ok(found));
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].id, "c4242");
  filter.attributes = {{"team", "t3"}};
  filter.limit = 5000;
  found = store->find_connections(filter);
  ASSERT_TRUE(Ok(found));
  EXPECT_EQ(found->size(), 1000u);

  for (bool with_provider : {true, false}) {
    ConnectionFilter shape;
    shape.app_id = "default";
    if (with_provider) shape.provider_id = "google";
    shape.attributes = {{"user_id", "u1"}, {"team", "t1"}};
    shape.status = ConnectionStatus::kActive;
    // The store's own SQL, with its parameters written in (EXECUTE of a prepared statement).
    std::string values;
    auto value = [&](const std::string& v) { values += (values.empty() ? "'" : ", '") + v + "'"; };
    for (const auto& [name, attribute] : shape.attributes) {
      value("default");
      if (with_provider) value("google");
      value(name);
      value(attribute);
    }
    value("default");
    if (with_provider) value("google");
    value("active");
    value("1000");
    const std::string name = with_provider ? "by_provider" : "by_app";
    std::string plan;
    for (const auto& row : raw("PREPARE " + name + " AS " + pg::find_connections_sql(shape) + "; EXPLAIN EXECUTE " +
                               name + "(" + values + ")")) {
      plan += row.at(0) + "\n";
    }
    SCOPED_TRACE(plan);
    EXPECT_THAT(plan, ::testing::ContainsRegex("Index (Only )?Scan using connection_attributes_(lookup|by_app)"));
    EXPECT_THAT(plan, HasSubstr("Index Scan using connections_pkey"));
    EXPECT_THAT(plan, Not(HasSubstr("Seq Scan")));
  }
}

TEST_F(PostgresStoreTest, AuditQueriesUseTheirIndexes) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  raw("INSERT INTO audit_events (seq, id, ts, kind, app_id, actor_id, user_id, provider_id, connection_id, decision, "
      "request_id, content, prev_hash, hash) "
      "SELECT i, 'e' || i, i * 10, 'token', 'default', 'agent-' || (i % 100), 'u' || (i % 1000), 'google', 'c', "
      "'issued', 'r' || i, '{}', '', '' FROM generate_series(1, 20000) AS i");
  raw("VACUUM ANALYZE audit_events");
  AuditFilter filter;
  filter.since = at_ms(150000);
  filter.until = at_ms(160000);
  filter.actor_id = "agent-7";
  filter.limit = 100;
  auto rows = store->query_audit(filter);
  ASSERT_TRUE(Ok(rows));
  EXPECT_EQ(rows->size(), 10u);
  std::string plan;
  for (const auto& row : raw("PREPARE audit_window AS " + pg::query_audit_sql(filter) +
                             "; EXPLAIN EXECUTE audit_window(0, 150000, 'agent-7', 150000, 160000, 100)")) {
    plan += row.at(0) + "\n";
  }
  SCOPED_TRACE(plan);
  EXPECT_THAT(plan, HasSubstr("audit_events_by_ts"));
  EXPECT_THAT(plan, Not(HasSubstr("Seq Scan")));
}

// The rare kinds and decisions are found through their partial indexes, among many tokens.
TEST_F(PostgresStoreTest, RareKindsAndDecisionsUseTheirPartialIndexes) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  raw("INSERT INTO audit_events (seq, id, ts, kind, app_id, actor_id, user_id, provider_id, connection_id, decision, "
      "request_id, content, prev_hash, hash) "
      "SELECT i, 'e' || i, i * 10, CASE WHEN i % 4000 = 0 THEN 'refresh' ELSE 'token' END, 'default', 'agent', 'u' || (i % 1000), "
      "'google', 'c', CASE WHEN i % 2000 = 0 THEN 'denied' ELSE 'issued' END, 'r' || i, '{}', '', '' "
      "FROM generate_series(1, 20000) AS i");
  raw("VACUUM ANALYZE audit_events");
  struct Case {
    std::function<void(AuditFilter&)> set;
    std::size_t rows;
    const char* index;
    std::string execute;
  };
  const std::vector<Case> cases = {
      {[](AuditFilter& f) { f.decision = "denied"; }, 10, "audit_events_rare_decisions", "(0, 'denied', 100)"},
      {[](AuditFilter& f) { f.kind = "refresh"; }, 5, "audit_events_rare_kinds", "(0, 'refresh', 100)"},
  };
  int n = 0;
  for (const auto& c : cases) {
    AuditFilter filter;
    c.set(filter);
    filter.limit = 100;
    auto rows = store->query_audit(filter);
    ASSERT_TRUE(Ok(rows));
    EXPECT_EQ(rows->size(), c.rows);
    std::string plan;
    const std::string name = "rare_" + std::to_string(++n);
    for (const auto& row : raw("PREPARE " + name + " AS " + pg::query_audit_sql(filter) + "; EXPLAIN EXECUTE " + name + c.execute)) {
      plan += row.at(0) + "\n";
    }
    SCOPED_TRACE(plan);
    EXPECT_THAT(plan, HasSubstr(c.index));
    EXPECT_THAT(plan, Not(HasSubstr("Seq Scan")));
  }
}

}  // namespace
}  // namespace alter::server
