// A battery of malformed, mistyped, oversized and hostile requests against the real binary. Each
// gets a JSON 4xx with a clear message and changes nothing; the server stays healthy.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "vault_test_fixture.hpp"

namespace alter::testing {
namespace {

constexpr const char* kMarker = "SECRET-MARKER-7f3a";

struct Case {
  std::string name;
  std::string method;
  std::string path;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  int expect_min = 400;
  int expect_max = 499;
};

class BadInput : public VaultFixture {
 protected:
  std::vector<Case> cases() {
    std::vector<Case> c;
    const auto key = std::pair<std::string, std::string>{"x-api-key", api_key_};
    const auto json = std::pair<std::string, std::string>{"Content-Type", "application/json"};
    const auto admin_auth = std::pair<std::string, std::string>{"Authorization", "Bearer " + server_->admin_token()};
    auto tok = [&](std::string name, std::string body) { c.push_back({std::move(name), "POST", "/oauth/token", std::move(body), {key, json}}); };

    // Malformed JSON.
    for (const std::string& b : std::vector<std::string>{"", "{", "}", "{\"provider_id\":", "[1,2", "nul", "{'a':1}", "{\"a\":1,}", "{\"a\" 1}",
                          "\"just a string\"", "42", "null", "[]", "true", "{\"provider_id\":\"fake\"}}", "\x01\x02\x03",
                          "{\"provider_id\":\"fake\",\"attributes\":{\"user_id\":\"a\"}", "{\"a\":\"\\uZZZZ\"}",
                          std::string("{\"provider_id\":\"") + kMarker + "\"", "{\"a\":1e999999}"}) {
      tok("malformed:" + b.substr(0, 12), b);
    }
    // Wrong types and missing fields.
    for (const std::string& b : std::vector<std::string>{R"({"attributes":{"user_id":"a"}})", R"({"provider_id":"fake"})",
                          R"({"provider_id":42,"attributes":{}})", R"({"provider_id":null,"attributes":{}})",
                          R"({"provider_id":["fake"],"attributes":{}})", R"({"provider_id":"fake","attributes":[]})",
                          R"({"provider_id":"fake","attributes":"user_id=a"})", R"({"provider_id":"fake","attributes":{"user_id":1}})",
                          R"({"provider_id":"fake","attributes":{"user_id":null}})", R"({"provider_id":"fake","attributes":{"user_id":{"x":1}}})",
                          R"({"provider_id":"fake","attributes":{"":"a"}})", R"({"provider_id":"fake","attributes":{},"reason":{}})",
                          R"({"provider_id":"fake","attributes":{},"url":12})", R"({"provider_id":"fake","attributes":{},"method":1})",
                          R"({"provider_id":"fake","attributes":{},"method":"GE T"})", R"({"provider_id":"fake","attributes":{},"run_id":[]})",
                          R"({"provider_id":"fake","attributes":{},"thread_id":true})", R"({"provider_id":"fake","attributes":{},"tool_call_id":1.5})",
                          R"({"provider_id":"fake","attributes":{},"approval_id":7})", R"({"provider_id":"","attributes":{}})",
                          R"({"provider_id":"fake","attributes":{"user_id":"a\nb"}})", R"({"provider_id":"fake","attributes":{},"reason":"a\u0000b"})"}) {
      tok("types:" + b.substr(0, 30), b);
    }
    // Unknown providers.
    for (const std::string& p : std::vector<std::string>{"nope", "GOOGLE", "../google", "google ", "sandbox2", std::string(kMarker)}) {
      tok("provider:" + p, nlohmann::json{{"provider_id", p}, {"attributes", {{"user_id", "a"}}}, {"url", "https://x/y"}}.dump());
    }
    // Invalid UTF-8 and oversized fields.
    tok("utf8:provider", std::string("{\"provider_id\":\"fa\xff\xfeke\",\"attributes\":{}}"));
    tok("utf8:attribute", std::string("{\"provider_id\":\"fake\",\"attributes\":{\"user_id\":\"\xc3\x28\"}}"));
    tok("utf8:reason", std::string("{\"provider_id\":\"fake\",\"attributes\":{},\"reason\":\"\xed\xa0\x80\"}"));
    tok("utf8:key", std::string("{\"\xff\":1}"));
    tok("huge:url", nlohmann::json{{"provider_id", "fake"}, {"attributes", nlohmann::json::object()}, {"url", "https://x/" + std::string(10000, 'a')}}.dump());
    tok("huge:reason", nlohmann::json{{"provider_id", "fake"}, {"attributes", nlohmann::json::object()}, {"reason", std::string(5000, 'r')}}.dump());
    {
      nlohmann::json many = nlohmann::json::object();
      for (int i = 0; i < 40; ++i) many["k" + std::to_string(i)] = "v";
      tok("huge:attributes", nlohmann::json{{"provider_id", "fake"}, {"attributes", many}}.dump());
    }
    c.push_back({"huge:body", "POST", "/oauth/token", std::string(1024 * 1024 + 10, ' '), {key, json}});
    // Credentials.
    for (const std::string& k : std::vector<std::string>{"", "alter_key_", "sk_live_123", "alter_key_bad key", "alter_key_" + std::string(300, 'a'),
                          "alter_key_doesnotexist0000000000000000000000000", std::string("alter_key_") + kMarker}) {
      c.push_back({"key:" + k.substr(0, 20), "POST", "/oauth/token", R"({"provider_id":"fake","attributes":{}})",
                   {{"x-api-key", k}, json}});
    }
    c.push_back({"actor:type", "POST", "/oauth/token", R"({"provider_id":"fake","attributes":{}})",
                 {key, json, {"x-alter-actor-type", "robot"}}});
    c.push_back({"actor:long", "POST", "/oauth/token", R"({"provider_id":"fake","attributes":{}})",
                 {key, json, {"x-alter-actor-id", std::string(300, 'a')}}});
    // Audit endpoints.
    auto aud = [&](std::string name, std::string path, std::string body) { c.push_back({std::move(name), "POST", std::move(path), std::move(body), {key, json}}); };
    aud("audit:not-array", "/oauth/audit/batch", R"({"events":{}})");
    aud("audit:missing", "/oauth/audit/batch", R"({})");
    aud("audit:event-type", "/oauth/audit/batch", R"({"events":[1]})");
    aud("audit:status-type", "/oauth/audit/batch", R"({"events":[{"response_status":"200"}]})");
    aud("audit:headers-type", "/oauth/audit/batch", R"({"events":[{"request_headers":"a"}]})");
    aud("audit:unknown-request", "/oauth/audit/batch", R"({"events":[{"request_id":"no-such-request"}]})");
    aud("audit:second-bad", "/oauth/audit/batch", R"({"events":[{"method":"GET"},{"latency_ms":"slow"}]})");
    {
      nlohmann::json many = {{"events", nlohmann::json::array()}};
      for (int i = 0; i < 1001; ++i) many["events"].push_back({{"method", "GET"}});
      aud("audit:too-many", "/oauth/audit/batch", many.dump());
    }
    aud("audit:one-malformed", "/oauth/audit/api-call", "{");
    aud("audit:one-type", "/oauth/audit/api-call", R"({"url":5})");
    // Paths and methods.
    c.push_back({"path:unknown", "GET", "/nope", "", {key}});
    c.push_back({"path:unknown-admin", "GET", "/v1/admin/nope", "", {admin_auth}});
    c.push_back({"method:token-get", "GET", "/oauth/token", "", {key}});
    c.push_back({"method:token-put", "PUT", "/oauth/token", "{}", {key, json}});
    c.push_back({"method:health-post", "POST", "/healthz", "{}", {json}});
    c.push_back({"method:delete-apps", "DELETE", "/v1/admin/apps", "", {admin_auth}});
    c.push_back({"path:bad-escape", "GET", "/oauth/%zz", "", {key}});
    // Admin API.
    auto adm = [&](std::string name, std::string method, std::string path, std::string body) {
      c.push_back({std::move(name), std::move(method), std::move(path), std::move(body), {admin_auth, json}});
    };
    c.push_back({"admin:no-token", "GET", "/v1/admin/apps", "", {}});
    c.push_back({"admin:bad-token", "GET", "/v1/admin/apps", "", {{"Authorization", "Bearer alter_admin_nope"}}});
    c.push_back({"admin:api-key-as-admin", "GET", "/v1/admin/apps", "", {{"Authorization", "Bearer " + api_key_}}});
    adm("admin:app-bad-slug", "POST", "/v1/admin/apps", R"({"id":"Bad Slug"})");
    adm("admin:app-exists", "POST", "/v1/admin/apps", R"({"id":"default"})");
    adm("admin:app-unknown-field", "POST", "/v1/admin/apps", R"({"id":"x1","owner":"me"})");
    adm("admin:app-allowlist-type", "POST", "/v1/admin/apps", R"({"id":"x2","return_url_allowlist":"http://a"})");
    adm("admin:app-allowlist-scheme", "POST", "/v1/admin/apps", R"json({"id":"x3","return_url_allowlist":["javascript:alert(1)"]})json");
    adm("admin:unknown-app-keys", "POST", "/v1/admin/apps/ghost/keys", R"({})");
    adm("admin:key-name-type", "POST", "/v1/admin/apps/default/keys", R"({"name":5})");
    adm("admin:revoke-unknown-key", "POST", "/v1/admin/keys/no-such-key/revoke", "");
    adm("admin:cred-unknown-provider", "PUT", "/v1/admin/apps/default/providers/ghost", R"({"client_id":"a"})");
    adm("admin:cred-missing-id", "PUT", "/v1/admin/apps/default/providers/fake", std::string(R"({"client_secret":")") + kMarker + "\"}");
    adm("admin:cred-bad-setting", "PUT", "/v1/admin/apps/default/providers/fake", R"({"client_id":"a","settings":{"tenant":"x"}})");
    adm("admin:cred-secret-type", "PUT", "/v1/admin/apps/default/providers/fake", R"({"client_id":"a","client_secret":5})");
    adm("admin:provider-invalid", "POST", "/v1/admin/providers", R"({"id":"p1"})");
    adm("admin:provider-builtin", "POST", "/v1/admin/providers",
        fake_.definition("google").dump());
    adm("admin:provider-remove-builtin", "DELETE", "/v1/admin/providers/google", "");
    adm("admin:import-no-token", "POST", "/v1/admin/apps/default/connections", R"({"provider_id":"fake","attributes":{"user_id":"a"}})");
    adm("admin:import-no-attrs", "POST", "/v1/admin/apps/default/connections", std::string(R"({"provider_id":"fake","attributes":{},"access_token":")") + kMarker + "\"}");
    adm("admin:import-bad-expiry", "POST", "/v1/admin/apps/default/connections", std::string(R"({"provider_id":"fake","attributes":{"user_id":"a"},"access_token":")") + kMarker + R"(","expires_at":"tomorrow"})");
    adm("admin:import-expires-in-type", "POST", "/v1/admin/apps/default/connections", std::string(R"({"provider_id":"fake","attributes":{"user_id":"a"},"access_token":")") + kMarker + R"(","expires_in":"1h"})");
    adm("admin:import-unknown-provider", "POST", "/v1/admin/apps/default/connections", std::string(R"({"provider_id":"ghost","attributes":{"user_id":"a"},"access_token":")") + kMarker + "\"}");
    adm("admin:import-bad-token-type", "POST", "/v1/admin/apps/default/connections", std::string(R"({"provider_id":"fake","attributes":{"user_id":"a"},"access_token":")") + kMarker + R"(","token_type":"Bea rer"})");
    adm("admin:import-scopes-type", "POST", "/v1/admin/apps/default/connections", std::string(R"({"provider_id":"fake","attributes":{"user_id":"a"},"access_token":")") + kMarker + R"(","scopes":"read"})");
    adm("admin:connection-unknown", "GET", "/v1/admin/connections/ghost", "");
    adm("admin:connection-delete-unknown", "DELETE", "/v1/admin/connections/ghost", "");
    adm("admin:policy-invalid", "PUT", "/v1/admin/apps/default/policy", R"({"document":"[[rules]]\nid = 5\n","format":"toml"})");
    adm("admin:policy-bad-effect", "PUT", "/v1/admin/apps/default/policy", R"({"document":"[[rules]]\nid = \"a\"\neffect = \"maybe\"\n","format":"toml"})");
    {
      // toml++ recursed once per part: 200,000 of them (400 KB) overflowed the stack.
      std::string header = "[t";
      for (int i = 0; i < 200000; ++i) header += ".t";
      adm("admin:policy-deep-toml-header", "PUT", "/v1/admin/apps/default/policy",
          nlohmann::json{{"document", header + "]\n"}, {"format", "toml"}}.dump());
    }
    adm("admin:policy-not-json", "PUT", "/v1/admin/apps/default/policy", R"({"document":"{","format":"json"})");
    adm("admin:policy-format", "PUT", "/v1/admin/apps/default/policy", R"({"document":"x","format":"yaml"})");
    adm("admin:policy-missing", "PUT", "/v1/admin/apps/default/policy", R"({})");
    adm("admin:policy-version", "GET", "/v1/admin/apps/default/policies/99", "");
    adm("admin:audit-since", "GET", "/v1/admin/audit?since=yesterday", "");
    adm("admin:audit-limit", "GET", "/v1/admin/audit?limit=many", "");
    adm("admin:approve-unknown", "POST", "/v1/admin/approvals/ghost/approve", "");
    adm("admin:connect-unknown-provider", "POST", "/v1/admin/apps/default/connect-sessions", R"({"provider_id":"ghost","attributes":{"user_id":"a"}})");
    adm("admin:connect-no-attrs", "POST", "/v1/admin/apps/default/connect-sessions", R"({"provider_id":"fake","attributes":{}})");
    adm("admin:connect-return-url", "POST", "/v1/admin/apps/default/connect-sessions", R"({"provider_id":"fake","attributes":{"user_id":"a"},"return_url":"https://evil.example/"})");
    adm("admin:connect-not-configured", "POST", "/v1/admin/apps/default/connect-sessions", R"({"provider_id":"google","attributes":{"user_id":"a"}})");
    c.push_back({"connect:sdk-bad", "POST", "/v1/connect/sessions", R"({"provider_id":5})", {key, json}});
    c.push_back({"connect:unknown-link", "GET", "/connect/not-a-real-token", "", {}});
    c.push_back({"callback:no-state", "GET", "/oauth/callback?code=abc", "", {}});
    c.push_back({"callback:unknown-state", "GET", "/oauth/callback?code=abc&state=forged", "", {}});
    c.push_back({"approvals:unknown-status", "GET", "/oauth/approvals/ghost", "", {key}});
    return c;
  }
};

// Sends bytes on a raw socket (for requests libcurl would refuse to send) and returns the answer.
std::string raw_exchange(const std::string& url, const std::string& bytes) {
  namespace asio = boost::asio;
  const auto colon = url.rfind(':');
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(std::stoi(url.substr(colon + 1)))});
  asio::write(socket, asio::buffer(bytes));
  std::string answer;
  boost::system::error_code ec;
  char buf[4096];
  for (;;) {
    const std::size_t n = socket.read_some(asio::buffer(buf), ec);
    if (ec || n == 0) break;
    answer.append(buf, n);
    if (answer.find("\r\n\r\n") != std::string::npos && answer.find("Connection: close") != std::string::npos &&
        answer.size() > answer.find("\r\n\r\n") + 4) {
      break;
    }
  }
  return answer;
}

TEST_F(BadInput, EveryBadRequestGetsAJson4xxAndChangesNothing) {
  import({{"user_id", "alice"}});
  const auto before = stats();
  const auto all = cases();
  ASSERT_GE(all.size(), 100u);
  for (const auto& c : all) {
    auto a = http_->send(c.method, c.path, c.body, c.headers);
    EXPECT_GE(a.status, c.expect_min) << c.name << ": " << a.status << " " << a.body.substr(0, 200);
    EXPECT_LE(a.status, c.expect_max) << c.name << ": " << a.body.substr(0, 200);
    EXPECT_EQ(a.body.find(kMarker), std::string::npos) << c.name << " echoed input";
    const bool html_page = c.path.rfind("/connect/", 0) == 0 || c.path.rfind("/oauth/callback", 0) == 0;
    if (html_page) {
      EXPECT_NE(a.body.find("<html"), std::string::npos) << c.name;
    } else {
      ASSERT_TRUE(a.json.is_object()) << c.name << ": " << a.body.substr(0, 200);
      EXPECT_TRUE(a.json.contains("error") && a.json["error"].is_string()) << c.name;
      EXPECT_TRUE(a.json.contains("message") && !a.json["message"].get<std::string>().empty()) << c.name;
    }
  }
  // Requests libcurl will not send: CR/LF or NUL inside headers, a bad request line.
  for (const std::string& raw : std::vector<std::string>{std::string("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\nConnection: close\r\n\r\n"),
                          std::string("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\nX-B: b\r\nConnection: close\r\n\r\n"),
                          std::string("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\nConnection: close\r\n\r\n", 62),
                          std::string("GET /healthz HTTP/1.1\r\nBad Header: x\r\nConnection: close\r\n\r\n"),
                          std::string("BREW /pot HTCPCP/1.0\r\n\r\n"),
                          std::string("POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n")}) {
    const std::string answer = raw_exchange(server_->url(), raw);
    EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer.substr(0, 100);
    EXPECT_NE(answer.find("\"error\":\"bad_request\""), std::string::npos) << answer;
  }
  // Healthy, and nothing was written.
  EXPECT_EQ(http_->send("GET", "/healthz").status, 200);
  EXPECT_EQ(http_->send("GET", "/readyz").status, 200);
  const auto after = stats();
  if (after["audit_head_seq"] != before["audit_head_seq"]) {
    ADD_FAILURE() << "audit rows written: " << admin("GET", "/v1/admin/audit?after_seq=" + before["audit_head_seq"].dump()).body;
  }
  EXPECT_EQ(after["tables"], before["tables"]);
  EXPECT_EQ(after["audit_head_seq"], before["audit_head_seq"]);
  // The good path still works.
  EXPECT_EQ(token({{"provider_id", "fake"}, {"attributes", {{"user_id", "alice"}}}, {"method", "GET"}, {"url", api("/me")}}).status, 200);
}

}  // namespace
}  // namespace alter::testing
