// The real alter-vault binary on port 0 with a temporary data dir, driven with the SDK and with
// plain HTTP.
#include <signal.h>
#include <sqlite3.h>

#include <fstream>
#include <latch>
#include <set>
#include <sstream>
#include <thread>

#include "vault_test_fixture.hpp"

namespace alter::testing {
namespace {

using namespace std::chrono_literals;

class VaultBinary : public VaultFixture {};

nlohmann::json audit_events(VaultFixture& f, const std::string& query) {
  auto a = f.admin("GET", "/v1/admin/audit?" + query);
  EXPECT_EQ(a.status, 200) << a.body;
  return a.json["events"];
}

TEST_F(VaultBinary, IssuesThroughTheSdkAndAuditsBothHalves) {
  import({{"user_id", "alice"}});
  ASSERT_EQ(admin("PATCH", "/v1/admin/apps/default", {{"settings", {{"audit_capture", "bodies"}}}}).status, 200);
  Vault vault(sdk_options());
  auto r = vault.request("fake", HttpMethod::Get, api("/me"), {.user = {{"user_id", "alice"}}, .reason = "who am I"});
  EXPECT_EQ(r.status_code(), 200);
  EXPECT_EQ(r.json()["sub"], "alice");
  vault.close();
  auto decision = audit_events(*this, "request_id=" + r.request_id() + "&kind=token");
  ASSERT_EQ(decision.size(), 1u);
  EXPECT_EQ(decision[0]["decision"], "issued");
  EXPECT_EQ(decision[0]["rule_id"], "fake-read");
  EXPECT_EQ(decision[0]["actor"]["id"], "integration-agent");
  EXPECT_EQ(decision[0]["user"]["user_id"], "alice");
  EXPECT_EQ(decision[0]["reason"], "who am I");
  auto call = audit_events(*this, "request_id=" + r.request_id() + "&kind=api_call");
  ASSERT_EQ(call.size(), 1u);
  EXPECT_EQ(call[0]["response_status"], 200);
  EXPECT_NE(call[0]["payload"]["response_body"].get<std::string>().find("alice"), std::string::npos);
  EXPECT_FALSE(call[0]["payload"]["request_headers"].contains("authorization"));
  EXPECT_EQ(call[0]["payload_sha256"].get<std::string>().size(), 64u);
  // No token in any audit row.
  auto all = admin("GET", "/v1/admin/audit/export");
  EXPECT_EQ(all.body.find("fake-at-"), std::string::npos);
  EXPECT_EQ(all.body.find("fake-rt-"), std::string::npos);
}

TEST_F(VaultBinary, DeniesByPolicyAndNamesTheRule) {
  import({{"user_id", "alice"}});
  Vault vault(sdk_options());
  try {
    vault.request("fake", HttpMethod::Post, api("/items"), {.user = {{"user_id", "alice"}}});
    FAIL();
  } catch (const PolicyViolationError& e) {
    EXPECT_EQ(e.policy_error(), "no_matching_rule");
  }
  try {
    vault.request("fake", HttpMethod::Get, api("/admin/users"), {.user = {{"user_id", "alice"}}});
    FAIL();
  } catch (const PolicyViolationError& e) {
    EXPECT_EQ(e.policy_error(), "denied_by_rule");
    EXPECT_EQ(e.details()["rule_id"], "fake-no-admin");
  }
  EXPECT_EQ(fake_.api_calls(), 0);
  auto denied = audit_events(*this, "decision=denied");
  ASSERT_EQ(denied.size(), 2u);
  EXPECT_EQ(denied[1]["policy_error"], "denied_by_rule");
  EXPECT_EQ(denied[1]["rule_id"], "fake-no-admin");
}

TEST_F(VaultBinary, UrlOutsideTheProvidersHostsIsRefused) {
  import({{"user_id", "alice"}});
  auto r = token({{"provider_id", "fake"}, {"attributes", {{"user_id", "alice"}}}, {"method", "GET"},
                  {"url", "https://attacker.example/steal"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.json["error"], "url_not_allowed");
  EXPECT_FALSE(r.json.contains("access_token"));
  auto none = token({{"provider_id", "fake"}, {"attributes", {{"user_id", "alice"}}}});
  EXPECT_EQ(none.status, 403);
  EXPECT_EQ(none.json["error"], "url_not_allowed");
}

TEST_F(VaultBinary, NotFoundAmbiguousAndExpired) {
  Vault vault(sdk_options());
  EXPECT_THROW(vault.request("fake", HttpMethod::Get, api("/me"), {.user = {{"user_id", "nobody"}}}), ConnectionNotFoundError);

  import({{"user_id", "carol"}, {"team", "a"}});
  import({{"user_id", "carol"}, {"team", "b"}});
  try {
    vault.request("fake", HttpMethod::Get, api("/me"), {.user = {{"user_id", "carol"}}});
    FAIL();
  } catch (const TokenRetrievalError& e) {
    EXPECT_EQ(e.status(), 409);
    EXPECT_EQ(e.error_code(), "ambiguous_connection");
  }
  EXPECT_EQ(vault.request("fake", HttpMethod::Get, api("/me"), {.user = {{"user_id", "carol"}, {"team", "b"}}}).status_code(), 200);

  const std::string id = import({{"user_id", "dave"}}, /*expires_in=*/-10, /*with_refresh=*/false);
  try {
    vault.request("fake", HttpMethod::Get, api("/me"), {.user = {{"user_id", "dave"}}});
    FAIL();
  } catch (const TokenExpiredError& e) {
    EXPECT_EQ(e.connection_id(), id);
    EXPECT_EQ(e.status(), 400);
  }
  EXPECT_EQ(audit_events(*this, "decision=not_found").size(), 1u);
  EXPECT_EQ(audit_events(*this, "decision=ambiguous").size(), 1u);
  EXPECT_EQ(audit_events(*this, "decision=expired").size(), 1u);
}

TEST_F(VaultBinary, ExpiredTokenIsRefreshedTransparently) {
  import({{"user_id", "erin"}}, /*expires_in=*/5);  // inside the 60 s refresh skew
  Vault vault(sdk_options());
  auto r = vault.request("fake", HttpMethod::Get, api("/me"), {.user = {{"user_id", "erin"}}});
  EXPECT_EQ(r.json()["sub"], "erin");
  EXPECT_EQ(fake_.refresh_calls(), 1);
}

TEST_F(VaultBinary, RevokedKeyStopsWorkingOnTheNextRequest) {
  import({{"user_id", "alice"}});
  const std::string key = new_key("default");
  Vault vault(sdk_options(key));
  EXPECT_EQ(vault.request("fake", HttpMethod::Get, api("/me"), {.user = {{"user_id", "alice"}}}).status_code(), 200);
  auto keys = admin("GET", "/v1/admin/apps/default/keys").json["keys"];
  std::string key_id;
  for (const auto& k : keys) {
    if (key.rfind(k["hint"].get<std::string>().substr(0, 16), 0) == 0) key_id = k["id"];
  }
  ASSERT_FALSE(key_id.empty());
  auto revoke = server_->cli({"keys", "revoke", key_id});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.err;
  try {
    vault.request("fake", HttpMethod::Get, api("/me"), {.user = {{"user_id", "alice"}}});
    FAIL();
  } catch (const TokenRetrievalError& e) {
    EXPECT_EQ(e.status(), 401);
    EXPECT_EQ(e.error_code(), "invalid_api_key");
  }
}

TEST_F(VaultBinary, AKeyOfOneAppNeverGetsAnotherAppsConnection) {
  ASSERT_EQ(admin("POST", "/v1/admin/apps", {{"id", "other"}, {"name", "Other"}}).status, 201);
  ASSERT_EQ(admin("PUT", "/v1/admin/apps/other/providers/fake", {{"client_id", "fake-client"}, {"client_secret", "x"}}).status, 200);
  apply_policy("other", kPolicy);
  const std::string other_key = new_key("other");
  import({{"user_id", "zed"}}, 3600, true, "other");
  Vault mine(sdk_options());
  EXPECT_THROW(mine.request("fake", HttpMethod::Get, api("/me"), {.user = {{"user_id", "zed"}}}), ConnectionNotFoundError);
  Vault theirs(sdk_options(other_key));
  EXPECT_EQ(theirs.request("fake", HttpMethod::Get, api("/me"), {.user = {{"user_id", "zed"}}}).json()["sub"], "zed");
  // The other app's connection is not visible in this app's listing either.
  EXPECT_TRUE(admin("GET", "/v1/admin/apps/default/connections").json["connections"].empty());
}

TEST_F(VaultBinary, NoPlaintextSecretInTheDatabaseFiles) {
  auto g = fake_.grant("secretive");
  const std::string access = g["access_token"], refresh = g["refresh_token"];
  ASSERT_EQ(admin("POST", "/v1/admin/apps/default/connections",
                  {{"provider_id", "fake"}, {"attributes", {{"user_id", "secretive"}}}, {"access_token", access},
                   {"refresh_token", refresh}, {"expires_in", 3600}})
                .status,
            201);
  ASSERT_EQ(admin("PUT", "/v1/admin/apps/default/providers/fake",
                  {{"client_id", "fake-client"}, {"client_secret", "CLIENT-SECRET-must-not-leak"}})
                .status,
            200);
  ASSERT_EQ(token({{"provider_id", "fake"}, {"attributes", {{"user_id", "secretive"}}}, {"method", "GET"}, {"url", api("/me")}}).status, 200);
  const std::string admin_token = server_->admin_token();
  ASSERT_EQ(server_->stop(), 0);  // checkpoint: everything is in the files now
  std::string bytes;
  for (const char* name : {"vault.db", "vault.db-wal", "vault.db-shm"}) {
    std::ifstream in(server_->data_dir() / name, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    bytes += ss.str();
  }
  ASSERT_GT(bytes.size(), 10000u);
  for (const std::string& secret : {access, refresh, std::string("CLIENT-SECRET-must-not-leak"), api_key_, admin_token}) {
    EXPECT_EQ(bytes.find(secret), std::string::npos) << "found a secret in the database files";
  }
  EXPECT_NE(bytes.find("secretive"), std::string::npos);  // the scan does see plaintext where it is expected
  const std::string logs = server_->stderr_text();
  for (const std::string& secret : {access, refresh, std::string("CLIENT-SECRET-must-not-leak"), api_key_, admin_token}) {
    EXPECT_EQ(logs.find(secret), std::string::npos) << "found a secret in the logs";
  }
}

TEST_F(VaultBinary, AuditVerifyFindsTamperingInTheFile) {
  import({{"user_id", "alice"}});
  for (int i = 0; i < 5; ++i) {
    token({{"provider_id", "fake"}, {"attributes", {{"user_id", "alice"}}}, {"method", "GET"}, {"url", api("/me")}});
  }
  auto ok = server_->cli({"audit", "verify"});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("OK:"), std::string::npos);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((server_->data_dir() / "vault.db").c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE audit_events SET content = replace(content, '\"issued\"', '\"denied\"') "
                             "WHERE seq = (SELECT max(seq) - 2 FROM audit_events)",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto bad = server_->cli({"audit", "verify"});
  EXPECT_EQ(bad.exit_code, 3);
  EXPECT_NE(bad.out.find("TAMPERED"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("changed"), std::string::npos) << bad.out;
}

TEST_F(VaultBinary, RestartKeepsEverything) {
  const std::string id = import({{"user_id", "alice"}});
  Vault before(sdk_options());
  EXPECT_EQ(before.request("fake", HttpMethod::Get, api("/me"), {.user = {{"user_id", "alice"}}}).status_code(), 200);
  before.close();
  const auto counts = stats();
  ASSERT_EQ(server_->stop(), 0);
  server_->start();
  http_ = std::make_unique<HttpClient>(server_->url());
  EXPECT_EQ(stats()["tables"], counts["tables"]);
  Vault after(sdk_options());
  EXPECT_EQ(after.request("fake", HttpMethod::Get, api("/me"), {.user = {{"user_id", "alice"}}}).json()["sub"], "alice");
  EXPECT_THROW(after.request("fake", HttpMethod::Post, api("/x"), {.user = {{"user_id", "alice"}}}), PolicyViolationError);
  auto verify = admin("GET", "/v1/admin/audit/verify");
  EXPECT_TRUE(verify.json["ok"].get<bool>()) << verify.body;
  EXPECT_EQ(admin("GET", "/v1/admin/connections/" + id).status, 200);
}

TEST_F(VaultBinary, RotateKeyUnderLoadLosesNothing) {
  std::vector<std::string> users;
  for (int i = 0; i < 40; ++i) {
    users.push_back("u" + std::to_string(i));
    import({{"user_id", users.back()}});
  }
  ASSERT_EQ(admin("GET", "/v1/admin/keyring").json["active_version"], 1);
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::latch running(4);
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&, t] {
      Vault vault(sdk_options());
      bool first = true;
      for (int i = t; !stop; i = (i + 4) % 40) {
        try {
          auto r = vault.request("fake", HttpMethod::Get, api("/me"), {.user = {{"user_id", users[static_cast<std::size_t>(i)]}}});
          (r.json()["sub"] == users[static_cast<std::size_t>(i)] ? ok : failed)++;
        } catch (const std::exception&) {
          ++failed;
        }
        if (first) running.count_down();
        first = false;
      }
    });
  }
  running.wait();  // load is flowing before the rotation starts
  auto rotate = server_->cli({"rotate-key"});
  ASSERT_EQ(rotate.exit_code, 0) << rotate.err;
  // Wait for the background re-encryption, reading its status (each answer is an event).
  nlohmann::json status;
  for (int i = 0; i < 2000; ++i) {
    status = admin("GET", "/v1/admin/keyring").json;
    if (!status["rekey_running"].get<bool>() && status["connections_pending"] == 0) break;
  }
  stop = true;
  for (auto& t : load) t.join();
  EXPECT_EQ(status["active_version"], 2);
  EXPECT_EQ(status["connections_pending"], 0);
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(failed.load(), 0);
  const auto listed = admin("GET", "/v1/admin/apps/default/connections");
  ASSERT_EQ(listed.json["connections"].size(), 40u);
  for (const auto& c : listed.json["connections"]) {
    EXPECT_EQ(c["key_version"], 2) << c.dump();
  }
  // Every connection still opens, also after a restart (keys are reloaded from the store).
  ASSERT_EQ(server_->stop(), 0);
  server_->start();
  http_ = std::make_unique<HttpClient>(server_->url());
  for (const auto& u : users) {
    EXPECT_EQ(token({{"provider_id", "fake"}, {"attributes", {{"user_id", u}}}, {"method", "GET"}, {"url", api("/me")}}).status, 200) << u;
  }
}

TEST_F(VaultBinary, SigtermFinishesTheRequestInFlight) {
  import({{"user_id", "slow"}}, /*expires_in=*/5);  // needs a refresh: the provider will hold it
  fake_.hold_token_calls(true);
  HttpAnswer answer;
  std::thread in_flight([&] {
    answer = token({{"provider_id", "fake"}, {"attributes", {{"user_id", "slow"}}}, {"method", "GET"}, {"url", api("/me")}});
  });
  ASSERT_TRUE(fake_.wait_for_token_calls(1, 10s));
  ::kill(server_->pid(), SIGTERM);
  fake_.release();
  in_flight.join();
  EXPECT_EQ(answer.status, 200) << answer.body;
  EXPECT_TRUE(answer.json.contains("access_token"));
  EXPECT_EQ(server_->stop(), 0);
}

TEST_F(VaultBinary, BodyOverTheLimitIs413) {
  const std::string big(2 * 1024 * 1024, 'x');
  auto a = http_->send("POST", "/oauth/token", big, {{"x-api-key", api_key_}});
  EXPECT_EQ(a.status, 413);
  EXPECT_EQ(a.json["error"], "payload_too_large");
}

TEST_F(VaultBinary, HealthReadinessAndMetrics) {
  EXPECT_EQ(http_->send("GET", "/healthz").status, 200);
  EXPECT_EQ(http_->send("GET", "/readyz").json["status"], "ready");
  import({{"user_id", "alice"}});
  token({{"provider_id", "fake"}, {"attributes", {{"user_id", "alice"}}}, {"method", "GET"}, {"url", api("/me")}});
  token({{"provider_id", "fake"}, {"attributes", {{"user_id", "nobody"}}}, {"method", "GET"}, {"url", api("/me")}});
  auto m = http_->send("GET", "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("alter_token_decisions_total{decision=\"issued\"} 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("alter_token_decisions_total{decision=\"not_found\"} 1"), std::string::npos);
  EXPECT_NE(m.body.find("alter_http_request_seconds_bucket{route=\"/oauth/token\""), std::string::npos);
  EXPECT_EQ(m.body.find(api_key_), std::string::npos);
}

TEST_F(VaultBinary, ProviderIdsListsTheCatalog) {
  auto a = http_->send("GET", "/oauth/providers/ids", "", {{"x-api-key", api_key_}});
  ASSERT_EQ(a.status, 200);
  std::set<std::string> ids(a.json["provider_ids"].begin(), a.json["provider_ids"].end());
  EXPECT_TRUE(ids.count("google"));
  EXPECT_TRUE(ids.count("fake"));
  EXPECT_EQ(http_->send("GET", "/oauth/providers/ids").status, 401);
}

TEST_F(VaultBinary, DeletingAConnectionRevokesItAtTheProvider) {
  const std::string id = import({{"user_id", "alice"}});
  auto del = server_->cli({"connections", "delete", id});
  ASSERT_EQ(del.exit_code, 0) << del.err;
  EXPECT_NE(del.out.find("revocation at the provider: done"), std::string::npos) << del.out;
  EXPECT_EQ(fake_.revocations(), 2);  // refresh token and access token
  EXPECT_EQ(token({{"provider_id", "fake"}, {"attributes", {{"user_id", "alice"}}}, {"method", "GET"}, {"url", api("/me")}}).status, 404);
  auto rows = audit_events(*this, "kind=revocation");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_TRUE(rows[0]["details"]["revocation"]["ok"].get<bool>());
}

}  // namespace
}  // namespace alter::testing
