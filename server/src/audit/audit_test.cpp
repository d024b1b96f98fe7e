#include "audit/audit.hpp"

#include <alter/testing/temp_dir.hpp>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <thread>

#include "core/time.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace alter::server::audit {
namespace {

class AuditChain : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = open_sqlite_store(dir_.path() / "vault.db");
    ASSERT_TRUE(s.ok());
    store_ = std::move(s.value());
    ASSERT_TRUE(store_->migrate().ok());
    writer_ = std::make_unique<AuditWriter>(*store_, metrics_, 64);
  }
  void TearDown() override { writer_.reset(); }

  void write_rows(int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(writer_->write(make_record({{"kind", "token"}, {"app_id", "default"}, {"decision", "issued"},
                                              {"actor", {{"id", "agent-" + std::to_string(i)}}},
                                              {"user", {{"user_id", "alice"}}}, {"request_id", "r" + std::to_string(i)}},
                                             TimePoint(std::chrono::seconds(1700000000 + i))))
                      .ok());
    }
  }

  // Tampering goes around the store, as an attacker with the file would.
  void sql(const std::string& statement) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_.path() / "vault.db").c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_close(db);
  }

  VerifyReport verify_now() {
    auto r = verify(*store_);
    EXPECT_TRUE(r.ok());
    return r.ok() ? r.value() : VerifyReport{};
  }

  testing::TempDir dir_;
  Metrics metrics_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<AuditWriter> writer_;
};

TEST(AuditRecord, ContentIsCanonicalAndColumnsComeFromIt) {
  auto r = make_record({{"kind", "token"}, {"app_id", "a"}, {"reason", ""}, {"details", nlohmann::json::object()},
                        {"actor", {{"id", "bot"}, {"type", "ai_agent"}}}, {"user", {{"user_id", "alice"}, {"team", ""}}},
                        {"provider_id", "google"}, {"decision", "issued"}, {"request_id", "r1"}, {"connection_id", "c1"}},
                       TimePoint(std::chrono::milliseconds(1700000000123)));
  auto c = nlohmann::json::parse(r.content);
  EXPECT_FALSE(c.contains("reason"));   // empty top-level fields are dropped
  EXPECT_FALSE(c.contains("details"));
  EXPECT_EQ(c["user"]["team"], "");      // nested values are kept exactly
  EXPECT_EQ(c["ts"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(r.actor_id, "bot");
  EXPECT_EQ(r.user_id, "alice");
  EXPECT_EQ(r.provider_id, "google");
  EXPECT_EQ(r.connection_id, "c1");
  EXPECT_EQ(r.request_id, "r1");
  EXPECT_EQ(r.id.size(), 36u);
  EXPECT_LT(r.content.find("\"actor\""), r.content.find("\"app_id\""));  // sorted keys
}

TEST(AuditRecord, HashCoversPrevSeqAndContent) {
  const auto h = chain_hash(kGenesisHash, 1, "{}");
  EXPECT_EQ(h.size(), 64u);
  EXPECT_NE(h, chain_hash(kGenesisHash, 2, "{}"));
  EXPECT_NE(h, chain_hash(std::string(64, '1'), 1, "{}"));
  EXPECT_NE(h, chain_hash(kGenesisHash, 1, "{ }"));
}

TEST_F(AuditChain, ConcurrentWritersKeepAValidChain) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        EXPECT_TRUE(writer_->write(make_record({{"kind", "token"}, {"app_id", "default"}, {"decision", "issued"},
                                                {"request_id", std::to_string(t) + "-" + std::to_string(i)}},
                                               TimePoint(std::chrono::seconds(1700000000))))
                        .ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  auto report = verify_now();
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.rows_checked, 200);
  EXPECT_EQ(report.head_seq, 200);
  EXPECT_GE(metrics_.counter_value("alter_audit_rows_total"), 200u);
}

TEST_F(AuditChain, EmptyTrailVerifies) {
  auto report = verify_now();
  EXPECT_TRUE(report.ok);
  EXPECT_EQ(report.rows_checked, 0);
}

TEST_F(AuditChain, ChangedContentIsFound) {
  write_rows(10);
  sql("UPDATE audit_events SET content = replace(content, 'issued', 'denied') WHERE seq = 5");
  auto report = verify_now();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 5);
  EXPECT_NE(report.problem.find("changed"), std::string::npos);
}

TEST_F(AuditChain, ChangedQueryColumnIsFound) {
  write_rows(10);
  sql("UPDATE audit_events SET actor_id = 'someone-else' WHERE seq = 3");
  auto report = verify_now();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 3);
}

TEST_F(AuditChain, RemovedRowIsFound) {
  write_rows(10);
  sql("DELETE FROM audit_events WHERE seq = 4");
  auto report = verify_now();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 4);
  EXPECT_NE(report.problem.find("missing"), std::string::npos);
}

TEST_F(AuditChain, RemovedRowWithRenumberingIsFound) {
  write_rows(10);
  sql("DELETE FROM audit_events WHERE seq = 4; UPDATE audit_events SET seq = seq - 1 WHERE seq > 4");
  auto report = verify_now();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 4);
}

TEST_F(AuditChain, ReorderedRowsAreFound) {
  write_rows(10);
  sql("UPDATE audit_events SET seq = -1 WHERE seq = 6; UPDATE audit_events SET seq = 6 WHERE seq = 7;"
      "UPDATE audit_events SET seq = 7 WHERE seq = -1");
  auto report = verify_now();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 6);
}

TEST_F(AuditChain, RowsCutFromTheEndAreFound) {
  write_rows(10);
  sql("DELETE FROM audit_events WHERE seq >= 9");
  auto report = verify_now();
  EXPECT_FALSE(report.ok);
  EXPECT_NE(report.problem.find("removed from the end"), std::string::npos);
}

}  // namespace
}  // namespace alter::server::audit
