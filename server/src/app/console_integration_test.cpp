// The web console's server side against the real binary: its files and their headers, sign-in and
// the cookie's attributes, the admin API through the cookie (reads without, changes only with the
// CSRF token), sign-out, expiry, and the overview. The browser test (tests/e2e/console) drives the
// pages themselves in Chromium.
#include <gtest/gtest.h>

#include <thread>

#include "vault_test_fixture.hpp"

namespace alter::testing {
namespace {

using namespace std::chrono_literals;
using Headers = std::vector<std::pair<std::string, std::string>>;

class ConsoleTest : public VaultFixture {
 protected:
  struct Session {
    std::string cookie;  // "alter_console=..."
    std::string csrf;
  };
  Session sign_in() {
    auto a = http_->send("POST", "/console/api/session", nlohmann::json{{"credential", server_->admin_token()}}.dump(),
                         {{"Content-Type", "application/json"}});
    EXPECT_EQ(a.status, 200) << a.body;
    const std::string set = a.header("set-cookie");
    return {set.substr(0, set.find(';')), a.json.value("csrf_token", "")};
  }
  HttpAnswer as(const Session& s, const std::string& method, const std::string& path, const nlohmann::json& body = nullptr,
                bool with_csrf = true) {
    Headers h = {{"Cookie", s.cookie}};
    if (with_csrf) h.emplace_back("X-CSRF-Token", s.csrf);
    if (!body.is_null()) h.emplace_back("Content-Type", "application/json");
    return http_->send(method, path, body.is_null() ? "" : body.dump(), h);
  }
};

TEST_F(ConsoleTest, ServesItsFilesWithAStrictContentSecurityPolicy) {
  auto redirect = http_->send("GET", "/console");
  EXPECT_EQ(redirect.status, 301);
  EXPECT_EQ(redirect.header("location"), "/console/");
  for (const auto& [path, type] : {std::pair{"/console/", "text/html"}, std::pair{"/console/assets/console.js", "text/javascript"},
                                   std::pair{"/console/assets/console.css", "text/css"}}) {
    auto a = http_->send("GET", path);
    ASSERT_EQ(a.status, 200) << path;
    EXPECT_EQ(a.header("content-type").rfind(type, 0), 0u) << path;
    const std::string csp = a.header("content-security-policy");
    EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("unsafe-eval"), std::string::npos) << csp;
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
    EXPECT_EQ(a.header("x-content-type-options"), "nosniff");
    EXPECT_FALSE(a.body.empty());
    // Revalidated by ETag.
    const std::string etag = a.header("etag");
    ASSERT_FALSE(etag.empty());
    EXPECT_EQ(http_->send("GET", path, "", {{"If-None-Match", etag}}).status, 304);
  }
  auto index = http_->send("GET", "/console/");
  EXPECT_EQ(index.body.find("<script>"), std::string::npos) << "no inline script";
  EXPECT_EQ(index.body.find("style="), std::string::npos) << "no inline style";
  for (const char* missing : {"/console/assets/nothing.js", "/console/assets/index.html", "/console/assets/..%2fconsole.js"}) {
    auto a = http_->send("GET", missing);
    EXPECT_EQ(a.status, 404) << missing;
    EXPECT_TRUE(a.json.is_object()) << missing;
  }
}

TEST_F(ConsoleTest, SignInSetsAStrictHttpOnlyCookieAndAnswersNoSecret) {
  auto a = http_->send("POST", "/console/api/session", nlohmann::json{{"credential", server_->admin_token()}}.dump(),
                       {{"Content-Type", "application/json"}});
  ASSERT_EQ(a.status, 200) << a.body;
  const std::string set = a.header("set-cookie");
  EXPECT_EQ(set.rfind("alter_console=", 0), 0u) << set;
  for (const char* attr : {"; HttpOnly", "; SameSite=Strict", "; Path=/", "; Max-Age=28800"}) {
    EXPECT_NE(set.find(attr), std::string::npos) << attr << " in " << set;
  }
  EXPECT_EQ(set.find("Secure"), std::string::npos) << "plain http here: no Secure";
  EXPECT_EQ(a.body.find(server_->admin_token()), std::string::npos);
  EXPECT_EQ(a.body.find(set.substr(14, set.find(';') - 14)), std::string::npos) << "the cookie is not in the body";
  EXPECT_EQ(a.json.value("csrf_token", "").size(), 43u);
  EXPECT_FALSE(a.json.value("admin_id", "").empty());
  EXPECT_EQ(a.header("cache-control"), "no-store");
}

TEST_F(ConsoleTest, BadSignInsAreRefusedWithAJsonErrorAndNoCookie) {
  struct Case {
    std::string body;
    int status;
    std::string error;
  };
  const std::string token = server_->admin_token();
  for (const Case& c : std::vector<Case>{
           {"", 400, "invalid_request"},
           {"not json", 400, "invalid_request"},
           {"[]", 400, "invalid_request"},
           {R"({})", 400, "invalid_request"},
           {R"({"credential": 5})", 400, "invalid_request"},
           {R"({"credential": ""})", 400, "invalid_request"},
           {nlohmann::json{{"credential", token}, {"extra", 1}}.dump(), 400, "invalid_request"},
           {nlohmann::json{{"credential", token + "x"}}.dump(), 401, "invalid_admin_token"},
           {nlohmann::json{{"credential", "alter_admin_" + std::string(43, 'a')}}.dump(), 401, "invalid_admin_token"},
           {nlohmann::json{{"credential", api_key_}}.dump(), 401, "invalid_admin_token"},
           {nlohmann::json{{"credential", token + "\r\nSet-Cookie: x=1"}}.dump(), 400, "invalid_request"},
       }) {
    auto a = http_->send("POST", "/console/api/session", c.body, {{"Content-Type", "application/json"}});
    EXPECT_EQ(a.status, c.status) << c.body;
    EXPECT_EQ(a.json.value("error", ""), c.error) << c.body;
    EXPECT_EQ(a.header("set-cookie"), "") << c.body;
    EXPECT_EQ(a.body.find(token), std::string::npos);
    EXPECT_EQ(a.body.find(api_key_), std::string::npos);
  }
}

TEST_F(ConsoleTest, TheCookieReadsTheAdminApiAndChangesOnlyWithItsCsrfToken) {
  Session s = sign_in();
  ASSERT_FALSE(s.csrf.empty());
  auto apps = as(s, "GET", "/v1/admin/apps", nullptr, false);
  EXPECT_EQ(apps.status, 200) << apps.body;
  EXPECT_EQ(as(s, "GET", "/console/api/session", nullptr, false).json.value("csrf_token", ""), s.csrf);

  const auto before = stats()["tables"];
  Session other = sign_in();
  struct Case {
    const char* name;
    Headers headers;
  };
  for (const Case& c : std::vector<Case>{
           {"no token", {{"Cookie", s.cookie}}},
           {"empty token", {{"Cookie", s.cookie}, {"X-CSRF-Token", ""}}},
           {"another session's token", {{"Cookie", s.cookie}, {"X-CSRF-Token", other.csrf}}},
           {"token cut short", {{"Cookie", s.cookie}, {"X-CSRF-Token", s.csrf.substr(1)}}},
           {"the cookie as token", {{"Cookie", s.cookie}, {"X-CSRF-Token", s.cookie.substr(14)}}},
       }) {
    for (const auto& [method, path, body] :
         {std::tuple{"POST", "/v1/admin/apps", R"({"id":"csrf-app","name":"x"})"},
          std::tuple{"PATCH", "/v1/admin/apps/default", R"({"name":"renamed"})"},
          std::tuple{"PUT", "/v1/admin/apps/default/providers/fake", R"({"client_id":"other"})"},
          std::tuple{"DELETE", "/v1/admin/apps/default/providers/fake", ""},
          std::tuple{"POST", "/v1/admin/credentials", R"({"name":"csrf"})"}}) {
      Headers h = c.headers;
      h.emplace_back("Content-Type", "application/json");
      auto a = http_->send(method, path, body, h);
      EXPECT_EQ(a.status, 403) << c.name << " " << method << " " << path << " " << a.body;
      EXPECT_EQ(a.json.value("error", ""), "csrf_token_invalid") << c.name;
    }
  }
  EXPECT_EQ(stats()["tables"], before) << "nothing was written, not even an audit row";
  EXPECT_EQ(admin("GET", "/v1/admin/apps/default").json["name"], "Default app");

  auto made = as(s, "POST", "/v1/admin/apps", {{"id", "console-app"}, {"name", "From the console"}});
  EXPECT_EQ(made.status, 201) << made.body;
  // What the change was recorded as: the signed-in admin.
  auto rows = admin("GET", "/v1/admin/audit?kind=admin&decision=app_created");
  ASSERT_EQ(rows.status, 200);
  ASSERT_FALSE(rows.json["events"].empty());
  EXPECT_EQ(rows.json["events"].back()["actor"]["type"], "admin");
  EXPECT_FALSE(rows.json["events"].back()["actor"]["id"].get<std::string>().empty());
  // The cookie is for the admin API and the console only: not an app's credential.
  EXPECT_EQ(http_->send("GET", "/oauth/providers/ids", "", {{"Cookie", s.cookie}}).status, 401);
}

TEST_F(ConsoleTest, SignOutEndsTheSessionAndNeedsTheCsrfToken) {
  Session s = sign_in();
  auto refused = as(s, "DELETE", "/console/api/session", nullptr, false);
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(as(s, "GET", "/v1/admin/apps", nullptr, false).status, 200);
  auto out = as(s, "DELETE", "/console/api/session");
  EXPECT_EQ(out.status, 200) << out.body;
  EXPECT_NE(out.header("set-cookie").find("Max-Age=0"), std::string::npos);
  auto after = as(s, "GET", "/v1/admin/apps", nullptr, false);
  EXPECT_EQ(after.status, 401);
  EXPECT_EQ(after.json.value("error", ""), "not_signed_in");
  EXPECT_EQ(as(s, "GET", "/console/api/session").status, 401);
}

TEST_F(ConsoleTest, RevokingTheAdminCredentialEndsItsConsoleSessions) {
  auto made = admin("POST", "/v1/admin/credentials", {{"name", "temp"}});
  ASSERT_EQ(made.status, 201);
  auto a = http_->send("POST", "/console/api/session", nlohmann::json{{"credential", made.json["token"]}}.dump(),
                       {{"Content-Type", "application/json"}});
  ASSERT_EQ(a.status, 200);
  const std::string set = a.header("set-cookie");
  Session s{set.substr(0, set.find(';')), a.json.value("csrf_token", "")};
  EXPECT_EQ(as(s, "GET", "/v1/admin/apps").status, 200);
  ASSERT_EQ(admin("POST", "/v1/admin/credentials/" + made.json["id"].get<std::string>() + "/revoke").status, 200);
  auto after = as(s, "GET", "/v1/admin/apps");
  EXPECT_EQ(after.status, 401);
  EXPECT_EQ(after.json.value("error", ""), "invalid_admin_token");
}

TEST_F(ConsoleTest, OverviewCountsWhatIsThere) {
  import({{"user_id", "alice"}});
  import({{"user_id", "bob"}});
  auto before = admin("GET", "/v1/admin/overview");
  ASSERT_EQ(before.status, 200) << before.body;
  EXPECT_EQ(before.json["apps"], 1);
  EXPECT_EQ(before.json["connections"]["active"], 2);
  EXPECT_EQ(before.json["connections"]["reauth_required"], 0);
  EXPECT_EQ(before.json["approvals_pending"], 0);
  EXPECT_GT(before.json["audit_rows"].get<int>(), 0);
  EXPECT_EQ(before.json["audit_head"]["seq"], before.json["audit_rows"]);
  EXPECT_EQ(before.json["audit_head"]["hash"].get<std::string>().size(), 64u);
  EXPECT_TRUE(before.json["last_verify"].is_null());
  EXPECT_EQ(before.json["health"]["status"], "ready");
  ASSERT_EQ(admin("GET", "/v1/admin/audit/verify").status, 200);
  auto after = admin("GET", "/v1/admin/overview");
  ASSERT_TRUE(after.json["last_verify"].is_object()) << after.body;
  EXPECT_EQ(after.json["last_verify"]["ok"], true);
  EXPECT_GT(after.json["last_verify"]["rows_checked"].get<int>(), 0);
  EXPECT_EQ(http_->send("GET", "/v1/admin/overview").status, 401);
}

class ShortConsoleSessions : public ConsoleTest {
 public:
  ShortConsoleSessions() { env_["ALTER_VAULT_CONSOLE_SESSION_TTL"] = "1s"; }
};

TEST_F(ShortConsoleSessions, AnExpiredSessionIsRefused) {
  Session s = sign_in();
  EXPECT_EQ(as(s, "GET", "/v1/admin/apps").status, 200);
  // Waits for the expiry to be observed (bounded), not for a fixed time.
  HttpAnswer last;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    last = as(s, "GET", "/v1/admin/apps");
    if (last.status != 200) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(last.status, 401);
  EXPECT_EQ(last.json.value("error", ""), "session_expired");
  EXPECT_EQ(as(s, "GET", "/v1/admin/apps").json.value("error", ""), "not_signed_in");
}

// Reached through https (a TLS-terminating proxy in front, so public_url is https://): the
// browser sends the cookie over TLS only.
class ConsoleBehindHttps : public ConsoleTest {
 public:
  ConsoleBehindHttps() { env_["ALTER_VAULT_PUBLIC_URL"] = "https://vault.example.test"; }
};

TEST_F(ConsoleBehindHttps, TheSessionCookieIsSecure) {
  auto a = http_->send("POST", "/console/api/session", nlohmann::json{{"credential", server_->admin_token()}}.dump(),
                       {{"Content-Type", "application/json"}});
  ASSERT_EQ(a.status, 200) << a.body;
  const std::string set = a.header("set-cookie");
  for (const char* attr : {"; Secure", "; HttpOnly", "; SameSite=Strict"}) {
    EXPECT_NE(set.find(attr), std::string::npos) << attr << " in " << set;
  }
  Session s{set.substr(0, set.find(';')), a.json.value("csrf_token", "")};
  auto out = as(s, "DELETE", "/console/api/session");
  EXPECT_EQ(out.status, 200) << out.body;
  EXPECT_NE(out.header("set-cookie").find("; Secure"), std::string::npos) << "the clearing cookie matches it";
}

}  // namespace
}  // namespace alter::testing
