// What the audit trail keeps of calls (an app's setting, per provider), purging it within the
// chain's rules, and the audit filters' closed sets, against the real binary.
#include <sqlite3.h>

#include "vault_test_fixture.hpp"

namespace alter::testing {
namespace {

class AuditTrail : public VaultFixture {
 protected:
  nlohmann::json events(const std::string& query) {
    auto a = admin("GET", "/v1/admin/audit?" + query);
    EXPECT_EQ(a.status, 200) << a.body;
    return a.json.is_object() ? a.json["events"] : nlohmann::json::array();
  }
  // One call through the SDK for `user`; returns its request id.
  std::string call(const std::string& user) {
    Vault vault(sdk_options());
    auto r = vault.request("fake", HttpMethod::Get, api("/me"), {.user = {{"user_id", user}}, .extra_headers = {{"X-Label", "kept"}}});
    vault.close();
    return r.request_id();
  }
};

TEST_F(AuditTrail, EachCaptureLevelKeepsWhatItSaysPerAppAndPerProvider) {
  import({{"user_id", "alice"}});
  struct Case {
    nlohmann::json settings;
    bool headers, bodies;
  };
  const std::vector<Case> cases = {
      {nlohmann::json::object(), true, false},  // the default: headers, no bodies
      {{{"audit_capture", "none"}}, false, false},
      {{{"audit_capture", "headers"}}, true, false},
      {{{"audit_capture", "bodies"}}, true, true},
      {{{"audit_capture", "bodies"}, {"audit_capture_by_provider", {{"fake", "none"}}}}, false, false},
      {{{"audit_capture", "none"}, {"audit_capture_by_provider", {{"fake", "bodies"}}}}, true, true},
      {{{"audit_capture", "none"}, {"audit_capture_by_provider", {{"google", "bodies"}}}}, false, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.settings.dump());
    // Reset, then apply (settings merge key by key).
    ASSERT_EQ(admin("PATCH", "/v1/admin/apps/default",
                    {{"settings", {{"audit_capture", "headers"}, {"audit_capture_by_provider", nlohmann::json::object()}}}})
                  .status,
              200);
    if (!c.settings.empty()) {
      ASSERT_EQ(admin("PATCH", "/v1/admin/apps/default", {{"settings", c.settings}}).status, 200);
    }
    const std::string rid = call("alice");
    auto rows = events("request_id=" + rid + "&kind=api_call");
    ASSERT_EQ(rows.size(), 1u);
    const auto& row = rows[0];
    EXPECT_EQ(row["response_status"], 200);
    EXPECT_GT(row.value("response_bytes", 0), 0);
    EXPECT_FALSE(row.contains("details") && row["details"].contains("response_body")) << "bodies inside the hashed row";
    EXPECT_EQ(row.contains("payload") && row["payload"].contains("request_headers"), c.headers) << row.dump();
    EXPECT_EQ(row.contains("payload") && row["payload"].contains("response_body"), c.bodies) << row.dump();
    if (c.headers) {
      EXPECT_EQ(row["payload"]["request_headers"]["x-label"], "kept");
    }
  }
  auto bad = admin("PATCH", "/v1/admin/apps/default", {{"settings", {{"audit_capture", "everything"}}}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.json.value("message", "").find("none, headers or bodies"), std::string::npos);
  EXPECT_EQ(admin("PATCH", "/v1/admin/apps/default", {{"settings", {{"keep", "all"}}}}).status, 400);
}

TEST_F(AuditTrail, PurgingPayloadsKeepsTheChainAndTamperingWithOneIsFound) {
  ASSERT_EQ(admin("PATCH", "/v1/admin/apps/default", {{"settings", {{"audit_capture", "bodies"}}}}).status, 200);
  import({{"user_id", "alice"}});
  import({{"user_id", "bob"}});
  const std::string alice1 = call("alice");
  const std::string bob1 = call("bob");
  const std::string alice2 = call("alice");
  auto verify = admin("GET", "/v1/admin/audit/verify");
  ASSERT_TRUE(verify.json["ok"].get<bool>()) << verify.body;
  EXPECT_EQ(verify.json["payloads_checked"], 3);

  // Refusals: nothing to select by, an unknown field.
  EXPECT_EQ(admin("POST", "/v1/admin/audit/purge", nlohmann::json::object()).status, 400);
  EXPECT_EQ(admin("POST", "/v1/admin/audit/purge", {{"user", {{"user_id", "alice"}}}, {"everything", true}}).status, 400);

  auto purged = admin("POST", "/v1/admin/audit/purge", {{"user", {{"user_id", "alice"}}}});
  ASSERT_EQ(purged.status, 200) << purged.body;
  EXPECT_EQ(purged.json["purged"], 2);
  for (const auto& rid : {alice1, alice2}) {
    auto row = events("request_id=" + rid + "&kind=api_call").at(0);
    EXPECT_FALSE(row.contains("payload"));
    EXPECT_TRUE(row.value("payload_purged", false));
    EXPECT_EQ(row["response_status"], 200);  // the call itself stays on record
  }
  EXPECT_TRUE(events("request_id=" + bob1 + "&kind=api_call").at(0).contains("payload"));
  verify = admin("GET", "/v1/admin/audit/verify");
  EXPECT_TRUE(verify.json["ok"].get<bool>()) << verify.body;
  EXPECT_EQ(verify.json["payloads_purged"], 2);
  EXPECT_EQ(verify.json["payloads_checked"], 1);
  // The purge itself is on record.
  auto logged = events("kind=admin&decision=audit_payloads_purged");
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0]["details"]["rows"], 2);

  // A payload changed in the database no longer matches its digest.
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((server_->data_dir() / "vault.db").c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    const std::string sql = "UPDATE audit_events SET payload = replace(payload, 'bob', 'eve') WHERE payload IS NOT NULL";
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  verify = admin("GET", "/v1/admin/audit/verify");
  EXPECT_FALSE(verify.json["ok"].get<bool>());
  EXPECT_NE(verify.json.value("problem", "").find("payload"), std::string::npos) << verify.body;
}

TEST_F(AuditTrail, FiltersRefuseUnknownValuesAndReadAttributesAndActorTypes) {
  import({{"user_id", "alice"}, {"team", "eng"}});
  import({{"user_id", "bob"}, {"team", "ops"}});
  call("alice");
  call("bob");
  struct Case {
    std::string query;
    int status;
    std::size_t rows;       // when 200
    std::string message;    // a fragment, when 400
  };
  const std::vector<Case> cases = {
      {"kind=token&user=alice", 200, 1, ""},
      {"kind=token&user.user_id=alice", 200, 1, ""},
      {"kind=token&user.team=ops", 200, 1, ""},
      {"kind=api_call&user.team=eng", 200, 1, ""},
      {"kind=token&user.team=nobody", 200, 0, ""},
      {"kind=token&actor=integration-agent", 200, 2, ""},
      {"kind=token&actor=ai_agent:integration-agent", 200, 2, ""},
      {"kind=token&actor=ai_agent:", 200, 2, ""},
      {"kind=token&actor=mcp_server:integration-agent", 200, 0, ""},
      {"kind=token&actor=application:", 200, 0, ""},  // no plain application called
      {"kind=admin&actor=application:", 200, 0, ""},
      {"kind=token&actor=ai_agnet:integration-agent", 400, 0, "ai_agent, mcp_server, application, admin"},
      {"decision=banana", 400, 0, "issued, denied"},
      {"kind=tokens", 400, 0, "token, api_call"},
      {"user.bad%20name=x", 400, 0, "letters, digits"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.query);
    auto a = admin("GET", "/v1/admin/audit?" + c.query);
    EXPECT_EQ(a.status, c.status) << a.body;
    if (c.status == 200) {
      EXPECT_EQ(a.json["events"].size(), c.rows) << a.body.substr(0, 400);
    } else {
      EXPECT_NE(a.json.value("message", "").find(c.message), std::string::npos) << a.body;
    }
  }
  // Every admin row is an admin's.
  EXPECT_EQ(events("kind=admin&actor=admin:").size(), events("kind=admin").size());
  EXPECT_GT(events("kind=admin").size(), 0u);
}

}  // namespace
}  // namespace alter::testing
