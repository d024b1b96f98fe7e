// The vault core's rules, from outside: every kind of change commits with its audit row or not at
// all (the audit write is made to fail by a trigger in the database while the binary runs), the
// token request without a method, the call events that must name their decision, and provider
// endpoints that must be https outside dev mode.
#include <signal.h>
#include <sqlite3.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <regex>
#include <set>

#include "vault_test_fixture.hpp"

namespace alter::testing {
namespace {

// Reads and writes the running vault's SQLite database from the side, as an operator could.
class Database {
 public:
  explicit Database(const std::filesystem::path& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("cannot open " + path.string());
    sqlite3_busy_timeout(db_, 10000);
  }
  ~Database() { sqlite3_close(db_); }
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string message = err ? err : "?";
      sqlite3_free(err);
      throw std::runtime_error(sql + ": " + message);
    }
  }

  std::vector<std::vector<std::string>> rows(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) throw std::runtime_error(sqlite3_errmsg(db_));
    std::vector<std::vector<std::string>> out;
    while (sqlite3_step(st) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        const auto* text = sqlite3_column_text(st, i);
        const int n = sqlite3_column_bytes(st, i);
        row.push_back(sqlite3_column_type(st, i) == SQLITE_NULL ? "<null>" : std::string(reinterpret_cast<const char*>(text), n));
      }
      out.push_back(std::move(row));
    }
    sqlite3_finalize(st);
    return out;
  }

  /// Every row of every table, as text, sorted: two snapshots are equal iff nothing was written.
  std::map<std::string, std::vector<std::string>> snapshot() {
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& t : rows("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")) {
      auto& lines = out[t[0]];
      for (const auto& r : rows("SELECT * FROM \"" + t[0] + "\"")) {
        std::string line;
        for (const auto& v : r) line += v + "\x1f";
        lines.push_back(std::move(line));
      }
      std::sort(lines.begin(), lines.end());
    }
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

long metric(HttpClient& http, const std::string& name) {
  auto m = http.send("GET", "/metrics");
  std::smatch match;
  if (std::regex_search(m.body, match, std::regex("\n" + name + " ([0-9]+)"))) return std::stol(match[1]);
  return 0;
}

constexpr const char* kCorePolicy = R"(
version = 1
[[rules]]
id = "fake-read"
effect = "allow"
providers = ["fake"]
methods = ["GET"]
paths = ["/api/**"]

[[rules]]
id = "writes-need-approval"
effect = "require_approval"
providers = ["fake"]
methods = ["POST"]
paths = ["/api/items/**"]

[[rules]]
id = "no-admin"
effect = "deny"
providers = ["fake"]
paths = ["/api/admin/**"]
)";

class FailClosed : public VaultFixture {
 protected:
  void SetUp() override {
    VaultFixture::SetUp();
    apply_policy("default", kCorePolicy);
    db_ = std::make_unique<Database>(server_->data_dir() / "vault.db");
  }

  void fail_audit(bool on) {
    if (on) {
      db_->exec("CREATE TRIGGER audit_fails BEFORE INSERT ON audit_events BEGIN SELECT RAISE(FAIL, 'injected audit failure'); END");
    } else {
      db_->exec("DROP TRIGGER IF EXISTS audit_fails");
    }
  }

  // Starts a connect flow and follows it to the vault's callback URL (not yet opened).
  std::string callback_url(const std::string& user) {
    auto link = admin("POST", "/v1/admin/apps/default/connect-sessions", {{"provider_id", "fake"}, {"attributes", {{"user_id", user}}}});
    EXPECT_EQ(link.status, 201) << link.body;
    const std::string url = link.json.value("connect_url", "");
    const std::string path = url.substr(url.find("/connect/"));
    auto to_provider = http_->send("GET", path);
    EXPECT_EQ(to_provider.status, 302) << to_provider.body;
    const std::string authorize = to_provider.header("location");
    HttpClient provider(fake_.base_url());
    auto back = provider.send("GET", authorize.substr(fake_.base_url().size()));
    EXPECT_EQ(back.status, 302) << back.body;
    const std::string callback = back.header("location");
    return callback.substr(server_->url().size());
  }

  std::unique_ptr<Database> db_;
};

// Each kind of change, made while the audit trail cannot be written: 503 with a JSON error, and
// not one row of any table differs (the change, its audit row and the change version alike).
// Afterwards the same trail verifies and takes rows again.
TEST_F(FailClosed, EveryKindOfChangeIsRefusedWhenItsAuditRowCannotBeWritten) {
  // What the cases act on, made while the trail works.
  const std::string key_id = admin("POST", "/v1/admin/apps/default/keys", {{"name", "to-revoke"}}).json.value("id", "");
  const std::string conn = import({{"user_id", "alice"}});
  const std::string doomed = import({{"user_id", "dora"}});
  const std::string stale = import({{"user_id", "sam"}}, 5);
  auto custom = fake_.definition("custom");
  ASSERT_EQ(admin("POST", "/v1/admin/providers", custom).status, 201);
  auto approval = token({{"provider_id", "fake"}, {"attributes", {{"user_id", "alice"}}}, {"method", "POST"}, {"url", api("/items/1")}});
  ASSERT_EQ(approval.status, 403) << approval.body;
  const std::string approval_id = approval.json.value("approval_id", "");
  ASSERT_FALSE(approval_id.empty()) << approval.body;
  auto second = token({{"provider_id", "fake"}, {"attributes", {{"user_id", "alice"}}}, {"method", "POST"}, {"url", api("/items/2")}});
  const std::string approval_page_id = second.json.value("approval_id", "");
  auto admin_cred = admin("POST", "/v1/admin/credentials", {{"name", "ops"}});
  ASSERT_EQ(admin_cred.status, 201) << admin_cred.body;
  const std::string admin_id = admin_cred.json.value("id", "");
  auto issued = token({{"provider_id", "fake"}, {"attributes", {{"user_id", "alice"}}}, {"method", "GET"}, {"url", api("/me")}});
  ASSERT_EQ(issued.status, 200) << issued.body;
  const std::string request_id = issued.json.value("request_id", "");
  const std::string callback = callback_url("carl");
  // A sign-in the user refused at the provider: the failure is an outcome with its own audit row.
  const std::string refused_callback = callback_url("dora") + "&error=access_denied";
  auto sdk_json = std::vector<std::pair<std::string, std::string>>{{"x-api-key", api_key_}, {"Content-Type", "application/json"}};

  struct Case {
    std::string kind;
    std::function<HttpAnswer()> act;
  };
  const auto grant = fake_.grant("ivan");
  const std::vector<Case> cases = {
      {"admin: create an app", [&] { return admin("POST", "/v1/admin/apps", {{"id", "other"}, {"name", "Other"}}); }},
      {"admin: change app settings", [&] { return admin("PATCH", "/v1/admin/apps/default", {{"settings", {{"audit_capture", "bodies"}}}}); }},
      {"admin: create an API key", [&] { return admin("POST", "/v1/admin/apps/default/keys", {{"name", "k"}}); }},
      {"admin: revoke an API key", [&] { return admin("POST", "/v1/admin/keys/" + key_id + "/revoke"); }},
      {"admin: create an admin credential", [&] { return admin("POST", "/v1/admin/credentials", {{"name", "x"}}); }},
      {"admin: revoke an admin credential", [&] { return admin("POST", "/v1/admin/credentials/" + admin_id + "/revoke"); }},
      {"admin: configure a provider", [&] {
         return admin("PUT", "/v1/admin/apps/default/providers/custom", {{"client_id", "c"}, {"client_secret", "s3cret-value"}});
       }},
      {"admin: remove a provider's configuration", [&] { return admin("DELETE", "/v1/admin/apps/default/providers/fake"); }},
      {"admin: add a custom provider", [&] { return admin("POST", "/v1/admin/providers", fake_.definition("another")); }},
      {"admin: delete a custom provider", [&] { return admin("DELETE", "/v1/admin/providers/custom"); }},
      {"admin: purge audit payloads", [&] { return admin("POST", "/v1/admin/audit/purge", {{"all", true}}); }},
      {"policy: apply a document", [&] {
         return admin("PUT", "/v1/admin/apps/default/policy", {{"document", "version = 1\n"}, {"format", "toml"}});
       }},
      {"connect: import a connection", [&] {
         return admin("POST", "/v1/admin/apps/default/connections",
                      {{"provider_id", "fake"}, {"attributes", {{"user_id", "ivan"}}}, {"access_token", grant["access_token"]},
                       {"refresh_token", grant["refresh_token"]}, {"expires_in", 3600}});
       }},
      {"connect: create a link (admin)", [&] {
         return admin("POST", "/v1/admin/apps/default/connect-sessions", {{"provider_id", "fake"}, {"attributes", {{"user_id", "l"}}}});
       }},
      {"connect: create a link (SDK)", [&] {
         return http_->send("POST", "/v1/connect/sessions", nlohmann::json{{"provider_id", "fake"}, {"attributes", {{"user_id", "l"}}}}.dump(),
                            sdk_json);
       }},
      {"connect: the provider's callback", [&] { return http_->send("GET", callback); }},
      {"connect: a refused sign-in's callback", [&] { return http_->send("GET", refused_callback); }},
      {"revocation: delete a connection", [&] { return admin("DELETE", "/v1/admin/connections/" + doomed); }},
      {"refresh: forced by an admin", [&] { return admin("POST", "/v1/admin/connections/" + conn + "/refresh"); }},
      {"refresh: on a token request", [&] {
         return token({{"provider_id", "fake"}, {"attributes", {{"user_id", "sam"}}}, {"method", "GET"}, {"url", api("/me")}});
       }},
      {"token: a decision that issues", [&] {
         return token({{"provider_id", "fake"}, {"attributes", {{"user_id", "alice"}}}, {"method", "GET"}, {"url", api("/me")}});
       }},
      {"token: a denial", [&] {
         return token({{"provider_id", "fake"}, {"attributes", {{"user_id", "alice"}}}, {"method", "GET"}, {"url", api("/admin/x")}});
       }},
      {"token: an approval request", [&] {
         return token({{"provider_id", "fake"}, {"attributes", {{"user_id", "alice"}}}, {"method", "POST"}, {"url", api("/items/9")}});
       }},
      {"call: an audited API call", [&] {
         return http_->send("POST", "/oauth/audit/api-call",
                            nlohmann::json{{"request_id", request_id}, {"method", "GET"}, {"url", api("/me")}, {"response_status", 200}}.dump(),
                            sdk_json);
       }},
      {"approval: approve (admin)", [&] { return admin("POST", "/v1/admin/approvals/" + approval_id + "/approve"); }},
      {"approval: deny (admin)", [&] { return admin("POST", "/v1/admin/approvals/" + approval_id + "/deny"); }},
      {"approval: approve (page)", [&] {
         return http_->send("POST", "/approvals/" + approval_page_id, "decision=approve&token=" + server_->admin_token(),
                            {{"Content-Type", "application/x-www-form-urlencoded"}});
       }},
      {"key rotation: rotate the master key", [&] { return admin("POST", "/v1/admin/keyring/rotate"); }},
  };

  ASSERT_EQ(http_->send("GET", "/readyz").status, 200);
  long failures = metric(*http_, "alter_audit_failures_total");
  for (const auto& c : cases) {
    SCOPED_TRACE(c.kind);
    const auto before = db_->snapshot();
    fail_audit(true);
    const HttpAnswer a = c.act();
    EXPECT_EQ(http_->send("GET", "/readyz").status, 503) << "readiness does not say the trail is failing";
    fail_audit(false);
    EXPECT_EQ(a.status, 503) << a.body;
    if (c.kind.find("(page)") == std::string::npos && c.kind.find("callback") == std::string::npos) {
      EXPECT_EQ(a.json.value("error", ""), "unavailable") << a.body;
    }
    EXPECT_EQ(a.body.find("s3cret-value"), std::string::npos);
    const auto after = db_->snapshot();
    for (const auto& [table, lines] : before) EXPECT_EQ(after.at(table), lines) << "table " << table << " changed";
    const long now = metric(*http_, "alter_audit_failures_total");
    EXPECT_GT(now, failures) << "the failure is not counted";
    failures = now;
  }
  // The trail is whole, and the same changes go through once it can be written.
  auto verify = admin("GET", "/v1/admin/audit/verify");
  EXPECT_TRUE(verify.json.value("ok", false)) << verify.body;
  EXPECT_EQ(admin("POST", "/v1/admin/apps/default/keys", {{"name", "k"}}).status, 201);
  EXPECT_EQ(admin("POST", "/v1/admin/keys/" + key_id + "/revoke").status, 200);
  EXPECT_EQ(admin("DELETE", "/v1/admin/connections/" + doomed).status, 200);
  EXPECT_EQ(admin("POST", "/v1/admin/approvals/" + approval_id + "/approve").status, 200);
  EXPECT_EQ(admin("POST", "/v1/admin/credentials/" + admin_id + "/revoke").status, 200);
  verify = admin("GET", "/v1/admin/audit/verify");
  EXPECT_TRUE(verify.json.value("ok", false)) << verify.body;
  EXPECT_EQ(http_->send("GET", "/readyz").status, 200);
  // Operators see it in the log: changes and decisions alike, never with a secret.
  const std::string log = server_->stderr_text();
  EXPECT_NE(log.find("a change was refused: it and its audit row could not be committed"), std::string::npos);
  EXPECT_NE(log.find("audit rows could not be committed"), std::string::npos);
  for (const std::string& secret : std::vector<std::string>{"s3cret-value", "fake-secret-123", api_key_, server_->admin_token()}) {
    EXPECT_EQ(log.find(secret), std::string::npos);
  }
  (void)stale;
}

// A revoked key stays refused on this instance whatever happens to the cache; and a failed
// revocation leaves the key working (nothing half-done).
TEST_F(FailClosed, ARevocationThatCannotBeAuditedLeavesTheKeyAsItWas) {
  auto made = admin("POST", "/v1/admin/apps/default/keys", {{"name", "k2"}});
  const std::string key = made.json.value("key", "");
  const std::string id = made.json.value("id", "");
  import({{"user_id", "alice"}});
  const nlohmann::json body = {{"provider_id", "fake"}, {"attributes", {{"user_id", "alice"}}}, {"method", "GET"}, {"url", api("/me")}};
  ASSERT_EQ(token(body, key).status, 200);
  fail_audit(true);
  EXPECT_EQ(admin("POST", "/v1/admin/keys/" + id + "/revoke").status, 503);
  fail_audit(false);
  EXPECT_EQ(token(body, key).status, 200);
  EXPECT_EQ(admin("POST", "/v1/admin/keys/" + id + "/revoke").status, 200);
  EXPECT_EQ(token(body, key).status, 401);
}

// ---- a refresh lost to kill -9, with a provider that rotates refresh tokens strictly ----

FakeOAuthProvider::Options rotating() {
  FakeOAuthProvider::Options o;
  o.rotate_refresh_tokens = true;
  return o;
}

// ---- the request path: decisions from memory on the I/O threads ----

long path_count(HttpClient& http, const std::string& path) {
  auto m = http.send("GET", "/metrics");
  std::smatch match;
  const std::regex re("\nalter_token_decision_path_total\\{path=\"" + path + "\"\\} ([0-9]+)");
  if (std::regex_search(m.body, match, re)) return std::stol(match[1]);
  return 0;
}

// A decision whose parts are all in memory is answered on an I/O thread, with the same answer and
// the same audit row as on a worker; when its row cannot be written it is refused all the same.
TEST_F(FailClosed, ADecisionMadeFromMemoryIsAnsweredAndRecordedLikeAnyOther) {
  import({{"user_id", "alice"}, {"team", "red"}});
  const nlohmann::json ask = {{"provider_id", "fake"}, {"attributes", {{"user_id", "alice"}}},
                              {"method", "GET"}, {"url", api("/items/1")}, {"reason", "inline check"}};
  const long inline_before = path_count(*http_, "inline");
  const long worker_before = path_count(*http_, "worker");
  auto first = token(ask);  // reads the store: on a worker, and fills the caches
  ASSERT_EQ(first.status, 200) << first.body;
  auto second = token(ask);
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(path_count(*http_, "worker"), worker_before + 1);
  EXPECT_EQ(path_count(*http_, "inline"), inline_before + 1);
  for (const char* field : {"access_token", "token_type", "connection_id", "url", "scopes", "audit_capture", "expires_in"}) {
    EXPECT_EQ(first.json[field], second.json[field]) << field;
  }
  EXPECT_NE(first.json["request_id"], second.json["request_id"]);
  // Both rows were written before their answers, alike but for their ids.
  for (const auto& answer : {first, second}) {
    auto rows = admin("GET", "/v1/admin/audit?request_id=" + answer.json.value("request_id", "") + "&kind=token");
    ASSERT_EQ(rows.status, 200) << rows.body;
    ASSERT_EQ(rows.json["events"].size(), 1u) << rows.body;
    const auto& e = rows.json["events"][0];
    EXPECT_EQ(e.value("decision", ""), "issued");
    EXPECT_EQ(e.value("rule_id", ""), "fake-read");
    EXPECT_EQ(e["user"], nlohmann::json({{"user_id", "alice"}, {"team", "red"}})) << "the subject is the connection";
    EXPECT_EQ(e.value("reason", ""), "inline check");
  }
  // Refusals decided from memory are recorded too.
  auto denied = token({{"provider_id", "fake"}, {"attributes", {{"user_id", "alice"}}}, {"method", "GET"}, {"url", api("/admin/x")}});
  EXPECT_EQ(denied.status, 403) << denied.body;
  EXPECT_EQ(path_count(*http_, "inline"), inline_before + 2);
  auto denied_row = admin("GET", "/v1/admin/audit?request_id=" + denied.json.value("request_id", ""));
  ASSERT_EQ(denied_row.json["events"].size(), 1u) << denied_row.body;
  EXPECT_EQ(denied_row.json["events"][0].value("decision", ""), "denied");

  // Fail closed: the row cannot be written, so no token leaves, and nothing changed.
  const auto before = db_->snapshot();
  fail_audit(true);
  auto refused = token(ask);
  fail_audit(false);
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(refused.json.value("error", ""), "unavailable");
  EXPECT_FALSE(refused.json.contains("access_token"));
  EXPECT_EQ(refused.body.find(first.json.value("access_token", "-")), std::string::npos);
  EXPECT_EQ(path_count(*http_, "inline"), inline_before + 3) << "the refused decision was not the inline one";
  const auto after = db_->snapshot();
  for (const auto& [table, lines] : before) EXPECT_EQ(after.at(table), lines) << "table " << table << " changed";
  EXPECT_EQ(token(ask).status, 200);
  auto verify = admin("GET", "/v1/admin/audit/verify");
  EXPECT_TRUE(verify.json.value("ok", false)) << verify.body;
}

// One worker thread, held by a refresh the provider does not answer: decisions that need nothing
// but memory still complete (with the worker pool as the only road, they would wait behind it).
class OneWorker : public VaultFixture {
 protected:
  OneWorker() { env_["ALTER_VAULT_WORKER_THREADS"] = "1"; }
};

TEST_F(OneWorker, DecisionsFromMemoryAreNotHeldUpByABlockedWorker) {
  import({{"user_id", "alice"}});
  import({{"user_id", "bob"}}, /*expires_in=*/10);  // inside the 60 s skew: its next token needs a refresh
  auto ask = [&](const std::string& user) {
    return nlohmann::json{{"provider_id", "fake"}, {"attributes", {{"user_id", user}}}, {"method", "GET"}, {"url", api("/items")}};
  };
  ASSERT_EQ(token(ask("alice")).status, 200);  // fills the caches
  const long inline_before = path_count(*http_, "inline");
  fake_.hold_token_calls(true);
  auto refreshing = std::async(std::launch::async, [&] {
    HttpClient own(server_->url());
    return own.send("POST", "/oauth/token", ask("bob").dump(), {{"x-api-key", api_key_}, {"Content-Type", "application/json"}});
  });
  ASSERT_TRUE(fake_.wait_for_token_calls(1, std::chrono::seconds(10))) << "the refresh did not reach the provider";
  // The provider holds the refresh: no thread waits for it, and decisions from memory go on.
  auto decided = std::async(std::launch::async, [&] {
    HttpClient own(server_->url());
    int ok = 0;
    for (int i = 0; i < 20; ++i) {
      auto a = own.send("POST", "/oauth/token", ask("alice").dump(), {{"x-api-key", api_key_}, {"Content-Type", "application/json"}});
      ok += a.status == 200 ? 1 : 0;
    }
    return ok;
  });
  const bool finished = decided.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  fake_.release();
  fake_.hold_token_calls(false);
  ASSERT_TRUE(finished) << "decisions from memory waited for the blocked worker";
  EXPECT_EQ(decided.get(), 20);
  EXPECT_GE(path_count(*http_, "inline"), inline_before + 20);
  auto refreshed = refreshing.get();
  EXPECT_EQ(refreshed.status, 200) << refreshed.body;
  EXPECT_EQ(fake_.refresh_calls(), 1);
}

// A refresh holds no thread while the provider answers: with one worker, twenty refreshes of
// twenty connections reach the provider at once (a blocking refresh would let one through), and
// each request is answered with its refreshed token once the provider lets them go.
TEST_F(OneWorker, RefreshesInFlightHoldNoThread) {
  constexpr int kUsers = 20;
  for (int i = 0; i < kUsers; ++i) import({{"user_id", "due-" + std::to_string(i)}}, /*expires_in=*/10);
  auto ask = [&](int i) {
    return nlohmann::json{{"provider_id", "fake"}, {"attributes", {{"user_id", "due-" + std::to_string(i)}}},
                          {"method", "GET"}, {"url", api("/items")}};
  };
  // The API key's first use reads the store on the worker: done before, as any running app has.
  import({{"user_id", "warm"}});
  ASSERT_EQ(token({{"provider_id", "fake"}, {"attributes", {{"user_id", "warm"}}}, {"method", "GET"}, {"url", api("/items")}}).status, 200);
  const long refresh_path_before = path_count(*http_, "refresh");
  fake_.hold_token_calls(true);
  std::vector<std::future<HttpAnswer>> answers;
  for (int i = 0; i < kUsers; ++i) {
    answers.push_back(std::async(std::launch::async, [&, i] {
      HttpClient own(server_->url());
      return own.send("POST", "/oauth/token", ask(i).dump(), {{"x-api-key", api_key_}, {"Content-Type", "application/json"}});
    }));
  }
  const bool all_in_flight = fake_.wait_for_token_calls(kUsers, std::chrono::seconds(20));
  fake_.release();
  fake_.hold_token_calls(false);
  ASSERT_TRUE(all_in_flight) << "only " << fake_.token_calls() << " refreshes reached the provider at once";
  std::set<std::string> tokens;
  for (auto& f : answers) {
    auto a = f.get();
    ASSERT_EQ(a.status, 200) << a.body;
    tokens.insert(a.json.value("access_token", ""));
    auto rows = admin("GET", "/v1/admin/audit?request_id=" + a.json.value("request_id", "") + "&kind=token");
    ASSERT_EQ(rows.json["events"].size(), 1u) << rows.body;
    EXPECT_EQ(rows.json["events"][0].value("decision", ""), "issued");
    EXPECT_EQ(rows.json["events"][0]["details"].value("refreshed", false), true) << rows.body;
  }
  EXPECT_EQ(tokens.size(), static_cast<std::size_t>(kUsers)) << "each connection got its own refreshed token";
  EXPECT_EQ(fake_.refresh_calls(), kUsers);
  EXPECT_EQ(path_count(*http_, "refresh"), refresh_path_before + kUsers);
  auto verify = admin("GET", "/v1/admin/audit/verify");
  EXPECT_TRUE(verify.json.value("ok", false)) << verify.body;
}

// The asynchronous refresh retries a transient failure after its back-off (a timer, not a
// sleeping thread) and gives up after the configured attempts with the same answer as before.
TEST_F(OneWorker, AnAsynchronousRefreshRetriesTransientFailuresThenGivesUp) {
  import({{"user_id", "flaky"}}, /*expires_in=*/10);
  import({{"user_id", "down"}}, /*expires_in=*/-10);
  auto ask = [&](const std::string& user) {
    return nlohmann::json{{"provider_id", "fake"}, {"attributes", {{"user_id", user}}}, {"method", "GET"}, {"url", api("/items")}};
  };
  fake_.fail_token_calls(503, 1);
  auto recovered = token(ask("flaky"));
  EXPECT_EQ(recovered.status, 200) << recovered.body;
  EXPECT_EQ(fake_.token_calls(), 2) << "one failure, one retry";
  fake_.fail_token_calls(503, 100);
  auto failed = token(ask("down"));
  fake_.fail_token_calls(503, 0);
  EXPECT_EQ(failed.status, 502) << failed.body;
  EXPECT_EQ(failed.json.value("error", ""), "token_expired") << failed.body;
  EXPECT_EQ(fake_.token_calls(), 5) << "three attempts for the expired token";
  auto rows = admin("GET", "/v1/admin/audit?kind=refresh&decision=refresh_failed");
  ASSERT_EQ(rows.json["events"].size(), 1u) << rows.body;
}

class StrictRotation : public VaultFixture {
 public:
  StrictRotation() : VaultFixture(rotating()) {}
};

// What docs/deployment.md says: the provider rotated the refresh token, the vault died before
// saving the new one, so the stored one is spent. The next refresh is invalid_grant: the
// connection needs the user to reconnect, and says so; nothing else is lost or half written.
TEST_F(StrictRotation, AVaultKilledDuringARefreshLeavesTheConnectionToBeReconnected) {
  const std::string id = import({{"user_id", "alice"}}, 5);
  const nlohmann::json ask = {{"provider_id", "fake"}, {"attributes", {{"user_id", "alice"}}}, {"method", "GET"}, {"url", api("/me")}};
  const int pid = server_->pid();
  fake_.on_token_call([pid] { ::kill(pid, SIGKILL); });
  EXPECT_NE(token(ask).status, 200);
  fake_.on_token_call(nullptr);
  server_->kill();
  server_->start();
  http_ = std::make_unique<HttpClient>(server_->url());
  auto after = token(ask);
  EXPECT_EQ(after.status, 400) << after.body;
  EXPECT_EQ(after.json.value("error", ""), "token_expired") << after.body;
  EXPECT_EQ(after.json.value("connection_id", ""), id) << after.body;
  EXPECT_EQ(fake_.refresh_calls(), 2) << "the lost refresh and the one that found its token spent";
  auto conn = admin("GET", "/v1/admin/connections/" + id);
  EXPECT_EQ(conn.json.value("status", ""), "reauth_required") << conn.body;
  auto verify = admin("GET", "/v1/admin/audit/verify");
  EXPECT_TRUE(verify.json.value("ok", false)) << verify.body;
}

// ---- the token request without a method, and call events ----

class CoreRules : public VaultFixture {
 protected:
  nlohmann::json request(const std::string& user, const std::optional<std::string>& method, const std::string& path) {
    nlohmann::json b = {{"provider_id", "fake"}, {"attributes", {{"user_id", user}}}, {"url", api(path)}};
    if (method) b["method"] = *method;
    return b;
  }
  long audit_rows() { return stats()["tables"].value("audit_events", -1L); }
};

// A method-less request could be any method: only rules that allow every method match it.
TEST_F(CoreRules, ARequestWithoutAMethodIsMatchedOnlyByRulesForEveryMethod) {
  import({{"user_id", "alice"}});
  // kPolicy allows GET only: without a method the request is not a GET.
  auto a = token(request("alice", std::nullopt, "/me"));
  EXPECT_EQ(a.status, 403) << a.body;
  EXPECT_EQ(a.json.value("error", ""), "no_matching_rule") << a.body;
  EXPECT_EQ(token(request("alice", "GET", "/me")).status, 200);
  // Writes go to approval: a method-less request must not slip past that rule as a read.
  apply_policy("default", R"(
version = 1
[[rules]]
id = "reads"
effect = "allow"
providers = ["fake"]
methods = ["GET", "HEAD"]
[[rules]]
id = "everything-on-items"
effect = "allow"
providers = ["fake"]
paths = ["/api/items/**"]
[[rules]]
id = "writes-need-approval"
effect = "require_approval"
providers = ["fake"]
methods = ["POST", "PUT", "PATCH", "DELETE"]
)");
  a = token(request("alice", std::nullopt, "/me"));
  EXPECT_EQ(a.status, 403) << a.body;
  a = token(request("alice", std::nullopt, "/items/3"));
  EXPECT_EQ(a.status, 200) << a.body;
  auto rows = admin("GET", "/v1/admin/audit?kind=token&decision=issued").json["events"];
  ASSERT_EQ(rows.size(), 2u);
  const auto& last = rows[0]["seq"] > rows[1]["seq"] ? rows[0] : rows[1];
  EXPECT_EQ(last.value("rule_id", ""), "everything-on-items") << last.dump();
  EXPECT_FALSE(last.contains("method")) << "a request without a method is recorded without one: " << last.dump();
}

TEST_F(CoreRules, ACallEventMustNameATokenDecisionOfThisAppForTheSameConnection) {
  const std::string alice = import({{"user_id", "alice"}});
  const std::string bob = import({{"user_id", "bob"}});
  auto issued = token(request("alice", "GET", "/me"));
  ASSERT_EQ(issued.status, 200) << issued.body;
  const std::string rid = issued.json.value("request_id", "");
  auto denied = token(request("alice", "GET", "/admin/x"));
  ASSERT_EQ(denied.status, 403);
  const std::string denied_rid = denied.json.value("request_id", "");
  ASSERT_FALSE(denied_rid.empty()) << denied.body;
  // Another app's decision.
  ASSERT_EQ(admin("POST", "/v1/admin/apps", {{"id", "other"}, {"name", "Other"}, {"settings", {{"token_handout", true}}}}).status, 201);
  ASSERT_EQ(admin("PUT", "/v1/admin/apps/other/providers/fake", {{"client_id", "fake-client"}, {"client_secret", "fake-secret-123"}}).status,
            200);
  const std::string other_key = new_key("other");
  apply_policy("other", kPolicy);
  import({{"user_id", "alice"}}, 3600, true, "other");
  auto theirs = token(request("alice", "GET", "/me"), other_key);
  ASSERT_EQ(theirs.status, 200) << theirs.body;
  const std::string their_rid = theirs.json.value("request_id", "");

  auto send = [&](nlohmann::json event) {
    event["method"] = "GET";
    event["url"] = api("/me");
    return http_->send("POST", "/oauth/audit/api-call", event.dump(), {{"x-api-key", api_key_}, {"Content-Type", "application/json"}});
  };
  struct Case {
    std::string name;
    nlohmann::json event;
  };
  const std::vector<Case> refused = {
      {"no request_id, a real connection", {{"connection_id", alice}}},
      {"no request_id, a random connection", {{"connection_id", "0f0e0d0c-random"}}},
      {"nothing at all", nlohmann::json::object()},
      {"an unknown request_id", {{"request_id", "9a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"}}},
      {"a denied decision", {{"request_id", denied_rid}}},
      {"another app's decision", {{"request_id", their_rid}}},
      {"another connection of this app", {{"request_id", rid}, {"connection_id", bob}}},
      {"another provider", {{"request_id", rid}, {"provider_id", "google"}}},
  };
  const long before = audit_rows();
  for (const auto& c : refused) {
    SCOPED_TRACE(c.name);
    auto a = send(c.event);
    EXPECT_EQ(a.status, 400) << a.body;
    EXPECT_EQ(a.json.value("error", ""), "invalid_request") << a.body;
  }
  // A batch with one bad event writes none of it.
  auto batch = http_->send("POST", "/oauth/audit/batch",
                           nlohmann::json{{"events", {{{"request_id", rid}, {"method", "GET"}, {"url", api("/me")}},
                                                      {{"request_id", denied_rid}, {"method", "GET"}, {"url", api("/me")}}}}}
                               .dump(),
                           {{"x-api-key", api_key_}, {"Content-Type", "application/json"}});
  EXPECT_EQ(batch.status, 400) << batch.body;
  EXPECT_EQ(audit_rows(), before);
  // The call the decision was for is taken, and names the decision's connection, provider and user.
  auto ok = send({{"request_id", rid}, {"connection_id", alice}, {"response_status", 200}});
  EXPECT_EQ(ok.status, 202) << ok.body;
  EXPECT_EQ(audit_rows(), before + 1);
  auto rows = admin("GET", "/v1/admin/audit?kind=api_call").json["events"];
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["connection_id"], alice);
  EXPECT_EQ(rows[0]["provider_id"], "fake");
  EXPECT_EQ(rows[0]["request_id"], rid);
}

// What docs/security.md says of a grant revoked at the provider: the vault cannot know, so the
// token it holds is handed out until it is due for refresh; the provider refuses it (401). The
// refresh then finds the grant gone and the connection asks for a reconnect.
TEST_F(CoreRules, AGrantRevokedAtTheProviderIsServedUntilItsRefreshFindsItGone) {
  auto g = fake_.grant("alice");
  auto made = admin("POST", "/v1/admin/apps/default/connections",
                    {{"provider_id", "fake"}, {"attributes", {{"user_id", "alice"}}}, {"access_token", g["access_token"]},
                     {"refresh_token", g["refresh_token"]}, {"expires_in", 3600}});
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string id = made.json.value("id", "");
  HttpClient provider(fake_.base_url());
  for (const char* which : {"access_token", "refresh_token"}) {
    auto r = provider.send("POST", "/revoke",
                           "client_id=fake-client&client_secret=fake-secret-123&token=" + g[which].get<std::string>(),
                           {{"Content-Type", "application/x-www-form-urlencoded"}});
    ASSERT_EQ(r.status, 200) << r.body;
  }
  auto served = token(request("alice", "GET", "/me"));
  ASSERT_EQ(served.status, 200) << served.body;
  EXPECT_EQ(served.json.value("access_token", ""), g["access_token"].get<std::string>());
  EXPECT_FALSE(fake_.access_token_valid(g["access_token"].get<std::string>()));
  auto refreshed = admin("POST", "/v1/admin/connections/" + id + "/refresh");
  EXPECT_EQ(refreshed.status, 400) << refreshed.body;
  EXPECT_EQ(admin("GET", "/v1/admin/connections/" + id).json.value("status", ""), "reauth_required");
  auto refused = token(request("alice", "GET", "/me"));
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(refused.json.value("error", ""), "token_expired");
}

// ---- provider endpoints outside dev mode ----

class ServeMode : public ::testing::Test {
 protected:
  TempDir dir_;
  FakeOAuthProvider fake_;
};

nlohmann::json https_copy(nlohmann::json def, const std::string& id) {
  def["id"] = id;
  for (const char* k : {"authorization_url", "token_url", "revocation_url", "userinfo_url"}) {
    if (def.contains(k) && def[k].is_string()) {
      std::string u = def[k];
      def[k] = "https://login.example.com" + u.substr(u.find('/', u.find("//") + 2));
    }
  }
  def["api_hosts"] = {"api.example.com"};
  return def;
}

TEST_F(ServeMode, ProviderEndpointsMustBeHttpsWhenAddedAndWhenTheCatalogLoads) {
  ServerProcess server(ALTER_VAULT_BINARY, dir_.path() / "data");
  server.init();
  server.start();
  HttpClient http(server.url());
  struct Case {
    std::string name;
    std::string field;
    std::string url;
  };
  const std::vector<Case> refused = {
      {"plain http token endpoint", "token_url", "http://example.invalid/token"},
      {"plain http on loopback", "token_url", fake_.base_url() + "/token"},
      {"plain http authorization", "authorization_url", "http://login.example.com/authorize"},
      {"plain http revocation", "revocation_url", "http://login.example.com/revoke"},
      {"plain http userinfo", "userinfo_url", "http://login.example.com/userinfo"},
      {"upper-case scheme", "token_url", "HTTP://login.example.com/token"},
      {"another scheme", "token_url", "ftp://login.example.com/token"},
      {"templated but plain http", "token_url", "http://{subdomain}.example.com/token"},
      {"credentials in the authority", "token_url", "https://user:pw@login.example.com/token"},
  };
  for (const auto& c : refused) {
    SCOPED_TRACE(c.name);
    auto def = https_copy(fake_.definition("x"), "custom-" + std::to_string(&c - refused.data()));
    def[c.field] = c.url;
    auto a = http.admin("POST", "/v1/admin/providers", server.admin_token(), def);
    EXPECT_EQ(a.status, 400) << a.body;
    EXPECT_NE(a.body.find(c.field), std::string::npos) << a.body;
  }
  auto providers = http.admin("GET", "/v1/admin/providers", server.admin_token());
  EXPECT_EQ(providers.body.find("custom-"), std::string::npos);
  // The same definition on https is taken.
  auto ok = http.admin("POST", "/v1/admin/providers", server.admin_token(), https_copy(fake_.definition("x"), "custom-ok"));
  EXPECT_EQ(ok.status, 201) << ok.body;
  // The dev-only sandbox does not exist outside dev mode.
  EXPECT_EQ(http.admin("GET", "/v1/admin/providers/sandbox", server.admin_token()).status, 404);
  EXPECT_EQ(server.stop(), 0);

  // A catalog directory with a plain-http provider stops the vault from starting, naming it.
  const auto catalog = dir_.path() / "providers";
  std::filesystem::create_directories(catalog);
  std::ofstream(catalog / "plain.json") << fake_.definition("plain").dump();
  ServerProcess refusing(ALTER_VAULT_BINARY, dir_.path() / "data", {{"ALTER_VAULT_PROVIDERS_DIR", catalog.string()}});
  try {
    refusing.start(std::chrono::seconds(20));
    ADD_FAILURE() << "the vault started with a plain-http provider";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("plain"), std::string::npos) << what;
    EXPECT_NE(what.find("https"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace alter::testing
