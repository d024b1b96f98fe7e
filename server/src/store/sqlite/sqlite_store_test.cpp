// What only the SQLite store promises: the file, its mode and journal, reopening, atomic audit
// appends, error mapping and messages, and index use at scale.
#include <alter/testing/temp_dir.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <fstream>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "store/sqlite/sqlite_migrations.hpp"
#include "store/sqlite/sqlite_queries.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/store_test_support.hpp"

namespace alter::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using store_testing::at_ms;
using store_testing::kZeros;
using store_testing::tag;

std::string plain_hash(const std::string& prev, std::int64_t seq, const std::string& content) {
  return prev.substr(0, 8) + ":" + std::to_string(seq) + ":" + std::to_string(content.size());
}

AuditRecord make_audit(std::string id) {
  AuditRecord r;
  r.id = std::move(id);
  r.ts = at_ms(1);
  r.kind = "admin";
  r.app_id = "default";
  r.content = "{}";
  return r;
}

/// A second, raw connection to the same file, to look behind the store's back.
class RawDb {
 public:
  explicit RawDb(const std::filesystem::path& file) {
    if (sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      sqlite3_close(db_);
      throw std::runtime_error("cannot open " + file.string());
    }
  }
  ~RawDb() { sqlite3_close(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  /// Every row's columns, as text ("NULL" for null).
  std::vector<std::vector<std::string>> query(const std::string& sql) {
    std::vector<std::vector<std::string>> rows;
    auto collect = [](void* out, int n, char** values, char**) -> int {
      auto& all = *static_cast<std::vector<std::vector<std::string>>*>(out);
      all.emplace_back();
      for (int i = 0; i < n; ++i) all.back().emplace_back(values[i] != nullptr ? values[i] : "NULL");
      return 0;
    };
    char* error = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), collect, &rows, &error) != SQLITE_OK) {
      std::string message = error != nullptr ? error : "?";
      sqlite3_free(error);
      throw std::runtime_error(sql + ": " + message);
    }
    return rows;
  }
  std::string scalar(const std::string& sql) { return query(sql).at(0).at(0); }

  using Statement = std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)>;
  Statement prepare(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) throw std::runtime_error(sql);
    return Statement(stmt, sqlite3_finalize);
  }
  /// Binds the values as text (SQLite converts for INTEGER columns) and runs the statement.
  void run(sqlite3_stmt* stmt, const std::vector<std::string>& values) {
    for (std::size_t i = 0; i < values.size(); ++i) {
      sqlite3_bind_text(stmt, static_cast<int>(i + 1), values[i].c_str(), -1, SQLITE_TRANSIENT);
    }
    const int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) throw std::runtime_error(sqlite3_errstr(rc));
  }

 private:
  sqlite3* db_ = nullptr;
};

class SqliteStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> open(SqliteStoreOptions options = {}) {
    auto store = open_sqlite_store(file_, options);
    EXPECT_TRUE(store.ok()) << store.error().message;
    if (!store.ok()) return nullptr;
    auto version = (*store)->migrate();
    EXPECT_TRUE(version.ok()) << version.error().message;
    return std::move(*store);
  }

  alter::testing::TempDir dir_;
  std::filesystem::path file_ = dir_.path() / "vault.db";
};

TEST_F(SqliteStoreTest, OpeningCreatesAPrivateFileAndRunsNothing) {
  auto store = open_sqlite_store(file_);
  ASSERT_TRUE(store.ok()) << store.error().message;
  struct stat st {};
  ASSERT_EQ(::stat(file_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  RawDb raw(file_);
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM sqlite_master"), "0");  // no migration yet

  ASSERT_TRUE((*store)->migrate().ok());
  ASSERT_TRUE((*store)->create_app(App{"default", "Default", {}, at_ms(1)}).ok());
  ASSERT_EQ(::stat(file_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  // The WAL file holds the same secrets, and SQLite gives it the database file's mode.
  const auto wal = file_.string() + "-wal";
  ASSERT_EQ(::stat(wal.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(SqliteStoreTest, JournalModeIsWal) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  RawDb raw(file_);
  EXPECT_EQ(raw.scalar("PRAGMA journal_mode"), "wal");
}

TEST_F(SqliteStoreTest, ReopeningKeepsDataAndMigrateIsANoOp) {
  int version = 0;
  std::string head_hash;
  {
    auto store = open();
    ASSERT_NE(store, nullptr);
    auto again = store->migrate();
    ASSERT_TRUE(again.ok());
    version = *again;
    ASSERT_TRUE(store->create_app(App{"default", "Default", {"https://a.test/"}, at_ms(5)}).ok());
    std::vector<AuditRecord> rows{make_audit("e1"), make_audit("e2")};
    ASSERT_TRUE(store->append_audit(rows, plain_hash).ok());
    head_hash = rows[1].hash;
  }
  EXPECT_EQ(version, sqlite::migrations().back().version);
  auto store = open_sqlite_store(file_);
  ASSERT_TRUE(store.ok());
  auto reapplied = (*store)->migrate();
  ASSERT_TRUE(reapplied.ok());
  EXPECT_EQ(*reapplied, version);
  RawDb raw(file_);
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM schema_migrations"), std::to_string(sqlite::migrations().size()));

  auto app = (*store)->get_app("default");
  ASSERT_TRUE(app.ok());
  EXPECT_EQ(app->created_at, at_ms(5));
  auto head = (*store)->audit_head();
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->seq, 2);
  EXPECT_EQ(head->hash, head_hash);
}

TEST_F(SqliteStoreTest, MigrationsAreOrderedWithoutGaps) {
  int expected = 1;
  for (const auto& migration : sqlite::migrations()) {
    EXPECT_EQ(migration.version, expected++);
    EXPECT_FALSE(migration.sql.empty());
  }
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefused) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  RawDb(file_).query("INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)");
  auto version = store->migrate();
  ASSERT_FALSE(version.ok());
  EXPECT_EQ(version.error().code, StoreErrc::kInvalid);
}

TEST_F(SqliteStoreTest, FailedAppendWritesNothing) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  std::vector<AuditRecord> first{make_audit("e1")};
  ASSERT_TRUE(store->append_audit(first, plain_hash).ok());

  // The hasher throws on the second row of the batch.
  std::vector<AuditRecord> batch{make_audit("e2"), make_audit("e3")};
  int calls = 0;
  auto throwing = [&](const std::string& prev, std::int64_t seq, const std::string& content) {
    if (++calls == 2) throw std::runtime_error("hasher down");
    return plain_hash(prev, seq, content);
  };
  auto failed = store->append_audit(batch, throwing);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, StoreErrc::kInternal);
  for (const auto& row : batch) {
    EXPECT_EQ(row.seq, 0);
    EXPECT_TRUE(row.prev_hash.empty());
    EXPECT_TRUE(row.hash.empty());
  }

  // A duplicate id inside the batch: a constraint failure after rows were inserted.
  std::vector<AuditRecord> duplicate{make_audit("e4"), make_audit("e1")};
  auto conflict = store->append_audit(duplicate, plain_hash);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, StoreErrc::kConflict);
  EXPECT_EQ(duplicate[0].seq, 0);
  EXPECT_TRUE(duplicate[0].hash.empty());

  auto head = store->audit_head();
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->seq, 1);
  EXPECT_EQ(head->hash, first[0].hash);
  RawDb raw(file_);
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM audit_events"), "1");
  EXPECT_EQ(raw.scalar("SELECT seq || ' ' || hash FROM audit_head"), "1 " + first[0].hash);

  // The chain continues from the intact head.
  std::vector<AuditRecord> next{make_audit("e5")};
  ASSERT_TRUE(store->append_audit(next, plain_hash).ok());
  EXPECT_EQ(next[0].seq, 2);
  EXPECT_EQ(next[0].prev_hash, first[0].hash);
}

TEST_F(SqliteStoreTest, UnwritablePathIsUnavailable) {
  // A path below a regular file cannot be created, not even by root.
  std::ofstream(dir_.path() / "plain-file") << "x";
  auto below_file = open_sqlite_store(dir_.path() / "plain-file" / "vault.db");
  ASSERT_FALSE(below_file.ok());
  EXPECT_EQ(below_file.error().code, StoreErrc::kUnavailable);

  auto missing_dir = open_sqlite_store(dir_.path() / "missing" / "vault.db");
  ASSERT_FALSE(missing_dir.ok());
  EXPECT_EQ(missing_dir.error().code, StoreErrc::kUnavailable);
}

TEST_F(SqliteStoreTest, LockedDatabaseIsUnavailableAfterTheBusyTimeout) {
  auto store = open(SqliteStoreOptions{.pool_size = 2, .busy_timeout = std::chrono::milliseconds(20)});
  ASSERT_NE(store, nullptr);
  RawDb other(file_);  // another process, say, holding the write lock
  other.query("BEGIN IMMEDIATE");
  auto blocked = store->create_app(App{"default", "Default", {}, at_ms(1)});
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.error().code, StoreErrc::kUnavailable);
  EXPECT_TRUE(store->ping().ok());  // WAL: readers are not blocked
  other.query("ROLLBACK");
  EXPECT_TRUE(store->create_app(App{"default", "Default", {}, at_ms(1)}).ok());
}

TEST_F(SqliteStoreTest, ErrorMessagesNeverContainBoundValues) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  const std::string secret = "SECRET-VALUE";
  ASSERT_TRUE(store->create_api_key(ApiKeyRecord{"k1", "default", "n", "h", secret + "-hash", at_ms(1), {}}).ok());
  auto duplicate = store->create_api_key(
      ApiKeyRecord{"k2-" + secret, "default-" + secret, "name-" + secret, "hint-" + secret, secret + "-hash", at_ms(2), {}});
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.error().code, StoreErrc::kConflict);
  EXPECT_FALSE(duplicate.error().message.empty());
  EXPECT_THAT(duplicate.error().message, Not(HasSubstr(secret)));

  auto missing = store->find_api_key(secret);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, StoreErrc::kNotFound);
  EXPECT_THAT(missing.error().message, Not(HasSubstr(secret)));
}

TEST_F(SqliteStoreTest, ConnectionStatusAndBlobsAreStoredAsDocumented) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  Connection c;
  c.id = "c1";
  c.app_id = "default";
  c.provider_id = "google";
  c.attributes = {{"user_id", "alice"}, {"a", "1"}};
  c.tokens = SealedBlob{7, std::string("\0x", 2)};
  c.expires_at = at_ms(1700000000123);
  ASSERT_TRUE(store->upsert_connection(c).ok());
  RawDb raw(file_);
  EXPECT_EQ(raw.scalar("SELECT typeof(tokens) || ' ' || length(tokens) || ' ' || tokens_key_version "
                       "FROM connections"),
            "blob 2 7");
  EXPECT_EQ(raw.scalar("SELECT attributes_json FROM connections"), R"({"a":"1","user_id":"alice"})");
  EXPECT_EQ(raw.scalar("SELECT expires_at FROM connections"), "1700000000123");
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM connection_attributes"), "2");
  ASSERT_TRUE(store->delete_connection("c1").ok());
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM connection_attributes"), "0");  // cascaded
}

// The plan must probe connection_attributes by index and fetch connections by id: never scan.
TEST_F(SqliteStoreTest, FindConnectionsUsesIndexesAtScale) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  constexpr int kConnections = 10000;
  {
    // Bulk rows straight into the file: 10,000 upserts through the store would only slow CI.
    RawDb raw(file_);
    raw.query("BEGIN");
    auto connection = raw.prepare(
        "INSERT INTO connections VALUES (?, 'default', 'google', ?, x'00', 1, 'Bearer', '[]', NULL, 'active', '{}', "
        "?, 0, 1)");
    auto attribute = raw.prepare("INSERT INTO connection_attributes VALUES (?, 'default', 'google', ?, ?)");
    for (int i = 0; i < kConnections; ++i) {
      const std::string id = tag("c", i);
      const std::string user = tag("u", i);
      const std::string team = tag("t", i % 10);
      const std::string attributes = R"({"team":")" + team + R"(","user_id":")" + user + R"("})";
      raw.run(connection.get(), {id, attributes, std::to_string(i)});
      raw.run(attribute.get(), {id, "user_id", user});
      raw.run(attribute.get(), {id, "team", team});
    }
    raw.query("COMMIT");
  }

  ConnectionFilter filter;
  filter.app_id = "default";
  filter.provider_id = "google";
  filter.attributes = {{"user_id", "u4242"}, {"team", "t2"}};
  auto found = store->find_connections(filter);
  ASSERT_TRUE(found.ok()) << found.error().message;
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].id, "c4242");
  filter.attributes = {{"team", "t3"}};
  filter.limit = 5000;
  found = store->find_connections(filter);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->size(), 1000u);

  RawDb raw(file_);
  for (bool with_provider : {true, false}) {
    ConnectionFilter shape;
    shape.app_id = "default";
    if (with_provider) shape.provider_id = "google";
    shape.attributes = {{"user_id", "u1"}, {"team", "t1"}};
    shape.status = ConnectionStatus::kActive;
    std::string plan;
    for (const auto& row : raw.query("EXPLAIN QUERY PLAN " + sqlite::find_connections_sql(shape))) {
      plan += row.back() + "\n";
    }
    SCOPED_TRACE(plan);
    EXPECT_THAT(plan, HasSubstr("USING COVERING INDEX connection_attributes_"));
    EXPECT_THAT(plan, HasSubstr("SEARCH c USING INDEX sqlite_autoindex_connections_1 (id=?)"));
    EXPECT_THAT(plan, Not(HasSubstr("SCAN c\n")));
    EXPECT_THAT(plan, Not(HasSubstr("SCAN connection_attributes")));
  }
}

TEST_F(SqliteStoreTest, AuditTimeWindowsStartFromTheTsIndex) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  AuditFilter filter;
  filter.since = at_ms(1);
  filter.actor_id = "agent";
  filter.until = at_ms(2);
  RawDb raw(file_);
  std::string plan;
  for (const auto& row : raw.query("EXPLAIN QUERY PLAN " + sqlite::query_audit_sql(filter))) plan += row.back() + "\n";
  SCOPED_TRACE(plan);
  EXPECT_THAT(plan, HasSubstr("USING COVERING INDEX audit_events_by_ts"));
  EXPECT_THAT(plan, Not(HasSubstr("SCAN audit_events")));
}

// Each filter of an audit query is served by an index, or by the scan by seq only where its
// matches are dense (tokens and calls are nearly every row): a rare kind or decision goes through
// its partial index.
TEST_F(SqliteStoreTest, AuditFiltersUseTheirIndexes) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  RawDb raw(file_);
  struct Case {
    const char* name;
    std::function<void(AuditFilter&)> set;
    const char* index;  // nullptr: the scan by seq
  };
  const std::vector<Case> cases = {
      {"actor", [](AuditFilter& f) { f.actor_id = "agent"; }, "audit_events_by_actor"},
      {"user", [](AuditFilter& f) { f.user_id = "alice"; }, "audit_events_by_user"},
      {"provider", [](AuditFilter& f) { f.provider_id = "github"; }, "audit_events_by_provider"},
      {"request", [](AuditFilter& f) { f.request_id = "r-1"; }, "audit_events_by_request"},
      {"rare kind", [](AuditFilter& f) { f.kind = "refresh"; }, "audit_events_rare_kinds"},
      {"rare decision", [](AuditFilter& f) { f.decision = "denied"; }, "audit_events_rare_decisions"},
      {"rare decision of tokens", [](AuditFilter& f) { f.kind = "token"; f.decision = "error"; }, "audit_events_rare_decisions"},
      {"common kind", [](AuditFilter& f) { f.kind = "token"; }, nullptr},
      {"common decision", [](AuditFilter& f) { f.decision = "issued"; }, nullptr},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    AuditFilter filter;
    c.set(filter);
    std::string plan;
    for (const auto& row : raw.query("EXPLAIN QUERY PLAN " + sqlite::query_audit_sql(filter))) plan += row.back() + "\n";
    SCOPED_TRACE(plan);
    if (c.index != nullptr) {
      EXPECT_THAT(plan, HasSubstr(c.index));
      EXPECT_THAT(plan, Not(HasSubstr("SCAN audit_events")));
    } else {
      EXPECT_THAT(plan, HasSubstr("SEARCH audit_events USING INTEGER PRIMARY KEY (rowid>?)"));
    }
  }
  // What an insert touches: the table, its id, and the five indexes the queries need.
  std::vector<std::string> indexes;
  for (const auto& row : raw.query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events' ORDER BY name")) {
    indexes.push_back(row[0]);
  }
  EXPECT_EQ(indexes, (std::vector<std::string>{"audit_events_by_actor", "audit_events_by_provider", "audit_events_by_request",
                                               "audit_events_by_ts", "audit_events_by_user", "audit_events_rare_decisions",
                                               "audit_events_rare_kinds", "sqlite_autoindex_audit_events_1"}));
}

}  // namespace
}  // namespace alter::server
