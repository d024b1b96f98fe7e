// Security findings fixed by class, each class a table of cases against the real binary:
// the subject of a decision, nesting depth, slow clients and connection caps, metric labels,
// path normalization for policies, and the low findings (actor headers, sealed sets that do not
// open, readiness on a full disk, credential headers in audit rows, undocumented credentials).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include "vault_test_fixture.hpp"

namespace alter::testing {
namespace {

constexpr const char* kSubjectPolicy = R"(
version = 1
[[rules]]
id = "fake-read"
effect = "allow"
providers = ["fake"]
methods = ["GET"]
paths = ["/api/me", "/api/items/**"]

[[rules]]
id = "limited"
effect = "allow"
providers = ["fake"]
methods = ["GET"]
paths = ["/api/limited/**"]
[rules.conditions]
rate_limit = { count = 2, per_period = "hour", per = ["user"] }

[[rules]]
id = "no-carol"
effect = "deny"
providers = ["fake"]
user = { user_id = "carol" }

[[rules]]
id = "no-item-delete"
effect = "deny"
providers = ["fake"]
paths = ["/api/items/delete", "/api/items/*/purge/"]

[[rules]]
id = "writes-need-approval"
effect = "require_approval"
providers = ["fake"]
methods = ["POST"]
paths = ["/api/items/**"]
)";

class Security : public VaultFixture {
 protected:
  void SetUp() override {
    VaultFixture::SetUp();
    apply_policy("default", kSubjectPolicy);
  }

  nlohmann::json body(const nlohmann::json& attributes, const std::string& path, const std::string& method = "GET") {
    return {{"provider_id", "fake"}, {"attributes", attributes}, {"method", method}, {"url", api(path)}};
  }

  std::vector<nlohmann::json> audit(const std::string& query) {
    auto a = admin("GET", "/v1/admin/audit?" + query);
    EXPECT_EQ(a.status, 200) << a.body;
    return a.json.is_object() ? a.json["events"].get<std::vector<nlohmann::json>>() : std::vector<nlohmann::json>{};
  }
};

// ---- class: the subject of a decision is the matched connection ----

TEST_F(Security, NoSubsetOrSupersetOfAttributesChangesTheDecision) {
  import({{"user_id", "carol"}, {"team", "eng"}, {"region", "eu"}});
  import({{"user_id", "dave"}, {"team", "ops"}});
  struct Case {
    const char* name;
    nlohmann::json attributes;
    int status;
    const char* error;  // "" for 200
  };
  const std::vector<Case> cases = {
      {"all of carol's", {{"user_id", "carol"}, {"team", "eng"}, {"region", "eu"}}, 403, "denied_by_rule"},
      {"user_id only", {{"user_id", "carol"}}, 403, "denied_by_rule"},
      {"team only", {{"team", "eng"}}, 403, "denied_by_rule"},
      {"region only", {{"region", "eu"}}, 403, "denied_by_rule"},
      {"team and region", {{"team", "eng"}, {"region", "eu"}}, 403, "denied_by_rule"},
      {"no attributes", nlohmann::json::object(), 400, "invalid_request"},
      {"superset", {{"user_id", "carol"}, {"team", "eng"}, {"role", "admin"}}, 404, "connection_not_found"},
      {"other value", {{"user_id", "carol"}, {"team", "ops"}}, 404, "connection_not_found"},
      {"case differs", {{"user_id", "Carol"}}, 404, "connection_not_found"},
      {"dave by team", {{"team", "ops"}}, 200, ""},
      {"dave by user_id", {{"user_id", "dave"}}, 200, ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto a = token(body(c.attributes, "/me"));
    EXPECT_EQ(a.status, c.status) << a.body;
    if (*c.error) {
      EXPECT_EQ(a.json.value("error", ""), c.error) << a.body;
    }
    if (c.status == 403) {
      EXPECT_EQ(a.json["details"].value("rule_id", ""), "no-carol");
    }
  }
  // Every decision about carol's connection is recorded under carol, whatever was sent.
  const auto rows = audit("user=carol&kind=token&decision=denied");
  EXPECT_EQ(rows.size(), 5u);
  for (const auto& r : rows) {
    EXPECT_EQ(r["user"]["user_id"], "carol");
    EXPECT_EQ(r["user"]["team"], "eng");
    EXPECT_EQ(r["decision"], "denied");
  }
  EXPECT_EQ(audit("user=dave&kind=token&decision=issued").size(), 2u);
}

TEST_F(Security, RateLimitsPerUserCountTheConnectionNotTheAttributesSent) {
  import({{"user_id", "dave"}, {"team", "ops"}});
  const std::vector<nlohmann::json> spellings = {
      {{"user_id", "dave"}}, {{"team", "ops"}}, {{"user_id", "dave"}, {"team", "ops"}}, {{"team", "ops"}},
      {{"user_id", "dave"}}, {{"team", "ops"}, {"user_id", "dave"}}, {{"team", "ops"}}, {{"user_id", "dave"}}};
  int issued = 0;
  int limited = 0;
  for (const auto& attributes : spellings) {
    auto a = token(body(attributes, "/limited/x"));
    if (a.status == 200) ++issued;
    if (a.status == 403 && a.json.value("error", "") == "rate_limited") ++limited;
  }
  EXPECT_EQ(issued, 2);
  EXPECT_EQ(limited, 6);
}

// ---- class: nesting depth and sizes of every JSON the server parses ----

std::string nested(char open, char close, std::size_t depth, const std::string& inner = "1") {
  std::string s;
  s.reserve(depth * 2 + inner.size());
  for (std::size_t i = 0; i < depth; ++i) s.push_back(open);
  s += inner;
  for (std::size_t i = 0; i < depth; ++i) s.push_back(close);
  return s;
}

std::string nested_objects(std::size_t depth) {
  std::string s;
  for (std::size_t i = 0; i < depth; ++i) s += "{\"a\":";
  s += "1";
  s += std::string(depth, '}');
  return s;
}

TEST_F(Security, DeeplyNestedJsonIsRefusedEverywhereBeforeAnyWork) {
  import({{"user_id", "erin"}});
  auto decided = token(body({{"user_id", "erin"}}, "/me"));  // a request_id for the call events
  ASSERT_EQ(decided.status, 200) << decided.body;
  const std::string rid = decided.json["request_id"];
  const auto before = stats();
  const std::string deep_array = nested('[', ']', 100000);
  const std::string deep_object = nested_objects(50000);
  const std::string just_over = nested('[', ']', 40);
  const std::string long_key = "{\"" + std::string(300, 'k') + "\":1}";
  struct Case {
    std::string name, method, path, payload;
    bool admin = false;
  };
  std::vector<Case> cases;
  for (const auto& [label, value] : std::vector<std::pair<std::string, std::string>>{
           {"array-100k", deep_array}, {"object-50k", deep_object}, {"array-40", just_over}, {"long-key", long_key}}) {
    cases.push_back({"api-call request_body " + label, "POST", "/oauth/audit/api-call",
                     "{\"request_id\":\"" + rid + "\",\"request_body\":" + value + "}"});
    cases.push_back({"api-call response_body " + label, "POST", "/oauth/audit/api-call",
                     "{\"request_id\":\"" + rid + "\",\"response_body\":" + value + "}"});
    cases.push_back({"batch " + label, "POST", "/oauth/audit/batch", "{\"events\":[{\"request_id\":\"" + rid + "\",\"request_body\":" + value + "}]}"});
    cases.push_back({"token attributes " + label, "POST", "/oauth/token", "{\"provider_id\":\"fake\",\"attributes\":" + value + "}"});
    cases.push_back({"token reason " + label, "POST", "/oauth/token", "{\"provider_id\":\"fake\",\"reason\":" + value + "}"});
    cases.push_back({"provider definition " + label, "POST", "/v1/admin/providers", "{\"id\":\"deep\",\"notes\":" + value + "}", true});
    cases.push_back({"import metadata " + label, "POST", "/v1/admin/apps/default/connections",
                     "{\"provider_id\":\"fake\",\"attributes\":{\"user_id\":\"x\"},\"access_token\":\"t\",\"metadata\":" + value + "}", true});
    cases.push_back({"policy json " + label, "PUT", "/v1/admin/apps/default/policy",
                     "{\"format\":\"json\",\"document\":" + value + "}", true});
    cases.push_back({"policy test " + label, "POST", "/v1/admin/apps/default/policy/test", "{\"user\":" + value + "}", true});
  }
  ASSERT_GE(cases.size(), 36u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<std::pair<std::string, std::string>> h = {{"Content-Type", "application/json"}};
    h.emplace_back(c.admin ? std::pair<std::string, std::string>{"Authorization", "Bearer " + server_->admin_token()}
                           : std::pair<std::string, std::string>{"x-api-key", api_key_});
    auto a = http_->send(c.method, c.path, c.payload, h);
    EXPECT_EQ(a.status, 400) << a.body.substr(0, 300);
    EXPECT_EQ(a.json.value("error", ""), "invalid_request");
  }
  EXPECT_EQ(http_->send("GET", "/healthz").status, 200);
  const auto after = stats();
  EXPECT_EQ(after["tables"], before["tables"]);
  EXPECT_EQ(after["audit_head_seq"], before["audit_head_seq"]);
}

// ---- class: paths cannot side-step a deny rule ----

TEST_F(Security, TrailingSlashesDotSegmentsAndEncodingsCannotEscapeADenyRule) {
  import({{"user_id", "frank"}});
  for (const char* path : {"/items/delete", "/items/delete/", "/items/delete/.", "/items/delete/./", "/items/x/../delete",
                           "/items/%64elete", "/items//delete", "//items/delete//", "/items/./delete", "/items/%2e/delete",
                           "/items/delete%2F", "/items/a/../delete/", "/items/7/purge", "/items/7/purge/", "/items/7/purge/.",
                           "/items/7/%70urge"}) {
    SCOPED_TRACE(path);
    auto a = token(body({{"user_id", "frank"}}, path));
    EXPECT_EQ(a.status, 403) << a.body;
    EXPECT_EQ(a.json.value("error", ""), "denied_by_rule") << a.body;
  }
  for (const char* path : {"/items/list", "/items/deleted", "/items/delete-me", "/items/7/purged"}) {
    SCOPED_TRACE(path);
    EXPECT_EQ(token(body({{"user_id", "frank"}}, path)).status, 200);
  }
  // The answer carries the normalized URL: what the SDK calls is what was decided.
  auto a = token(body({{"user_id", "frank"}}, "/items/x/../list/"));
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.json.value("url", ""), api("/items/list/"));
}

// ---- class: metric labels come from closed sets ----

std::string raw_request(const std::string& url, const std::string& bytes) {
  const auto colon = url.rfind(':');
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<unsigned short>(std::stoi(url.substr(colon + 1))));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "";
  }
  (void)!::write(fd, bytes.data(), bytes.size());
  std::string answer;
  char buf[4096];
  pollfd p{fd, POLLIN, 0};
  while (::poll(&p, 1, 5000) > 0) {
    const auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    answer.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return answer;
}

TEST_F(Security, InventedMethodsAndPathsDoNotGrowTheMetrics) {
  // One of each kind first (its label set appears once), then 3,000 more must add nothing but digits.
  raw_request(server_->url(), "WARM /x HTTP/1.1\r\nHost: x\r\n\r\nGET /warm/up HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  http_->send("GET", "/healthz");
  http_->send("GET", "/metrics");  // its own series appear after its first answer
  const std::string before_text = http_->send("GET", "/metrics").body;
  const std::size_t before = before_text.size();
  std::string pipelined;
  for (int i = 0; i < 3000; ++i) {
    pipelined += "M" + std::to_string(i) + "X /oauth/token HTTP/1.1\r\nHost: x\r\n\r\n";
    pipelined += "GET /no/such/path/" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  }
  pipelined += "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const std::string answers = raw_request(server_->url(), pipelined);
  std::size_t not_implemented = 0;
  for (std::size_t at = answers.find("HTTP/1.1 501"); at != std::string::npos; at = answers.find("HTTP/1.1 501", at + 1)) ++not_implemented;
  EXPECT_EQ(not_implemented, 3000u);
  EXPECT_NE(answers.find("\"error\":\"method_not_implemented\""), std::string::npos);
  const std::string metrics = http_->send("GET", "/metrics").body;
  std::string added;  // the series that appeared, for the failure message
  std::istringstream lines(metrics);
  for (std::string line; std::getline(lines, line);) {
    if (before_text.find(line.substr(0, line.rfind(' '))) == std::string::npos) added += line + "\n";
  }
  EXPECT_LT(metrics.size(), before + 256) << "metrics grew from " << before << " to " << metrics.size() << ":\n" << added;
  EXPECT_EQ(metrics.find("M17X"), std::string::npos);
  EXPECT_EQ(metrics.find("/no/such/path"), std::string::npos);
  EXPECT_NE(metrics.find("method=\"other\",status=\"5xx\""), std::string::npos);
}

// ---- class: the low findings ----

TEST_F(Security, BadActorHeadersAre400UnderEveryRuleAndWriteNothing) {
  import({{"user_id", "gina"}});
  const auto before = stats();
  for (const auto& [header, value] : std::vector<std::pair<std::string, std::string>>{
           {"x-alter-actor-id", "\xff\xfe"}, {"x-alter-actor-id", "a\xc3\x28"}, {"x-alter-actor-name", "\xed\xa0\x80"},
           {"x-alter-actor-version", "\xc0\xaf"}, {"x-alter-framework", "\xf4\x90\x80\x80"}, {"x-alter-client-type", "a\x01" "b"},
           {"x-alter-actor-id", std::string(257, 'a')}}) {
    for (const char* method : {"POST", "GET"}) {  // POST hits the require_approval rule
      SCOPED_TRACE(header + " " + method);
      auto a = token(body({{"user_id", "gina"}}, "/items/1", method), "", {{header, value}});
      EXPECT_EQ(a.status, 400) << a.body;
      // A control byte is refused by the HTTP parser itself (bad_request), the rest by the vault.
      const std::string code = a.json.value("error", "");
      EXPECT_TRUE(code == "invalid_request" || code == "bad_request") << a.body;
    }
  }
  const auto after = stats();
  EXPECT_EQ(after["audit_head_seq"], before["audit_head_seq"]);
  EXPECT_EQ(after["tables"], before["tables"]);
}

TEST_F(Security, ATokenSetThatDoesNotOpenIsRecordedAndNamesTheConnection) {
  const std::string id = import({{"user_id", "hank"}});
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((server_->data_dir() / "vault.db").c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    const std::string sql = "UPDATE connections SET tokens = x'0100000001deadbeef' WHERE id = '" + id + "'";
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_close(db);
  }
  auto a = token(body({{"user_id", "hank"}}, "/me"));
  EXPECT_GE(a.status, 500) << a.body;
  ASSERT_TRUE(a.json.is_object()) << a.body;
  const auto rows = audit("connection=" + id + "&kind=token");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["decision"], "error");
  EXPECT_EQ(rows[0]["user"]["user_id"], "hank");
  EXPECT_NE(server_->stderr_text().find(id), std::string::npos) << "the log does not name the connection";
}

TEST_F(Security, CredentialHeadersNeverReachTheAuditTrail) {
  import({{"user_id", "ivy"}});
  auto decided = token(body({{"user_id", "ivy"}}, "/me"));
  ASSERT_EQ(decided.status, 200);
  const std::string marker = "CRED-MARKER-41";
  nlohmann::json headers = {{"accept", "application/json"}, {"content-type", "application/json"}, {"x-request-label", "keep-me"}};
  for (const char* name : {"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-Api-Key", "x-goog-api-key",
                           "X-Auth-Token", "Private-Token", "X-Figma-Token", "X-Shopify-Access-Token", "Ocp-Apim-Subscription-Key",
                           "X-Amz-Security-Token", "api_key", "X-CSRF-Token", "X-Session-Id", "DD-API-KEY", "DD-APPLICATION-KEY",
                           "X-Postmark-Server-Token", "xi-api-key", "X-Secret", "X-Signature", "Apikey", "X-JWT-Assertion"}) {
    headers[name] = marker;
  }
  nlohmann::json event = {{"request_id", decided.json["request_id"]}, {"connection_id", decided.json["connection_id"]},
                          {"provider_id", "fake"}, {"method", "GET"}, {"url", api("/me")}, {"response_status", 200},
                          {"request_headers", headers}, {"response_headers", headers}};
  auto a = http_->send("POST", "/oauth/audit/api-call", event.dump(), {{"x-api-key", api_key_}, {"Content-Type", "application/json"}});
  ASSERT_EQ(a.status, 202) << a.body;
  auto exported = admin("GET", "/v1/admin/audit/export");
  EXPECT_EQ(exported.body.find(marker), std::string::npos);
  EXPECT_NE(exported.body.find("keep-me"), std::string::npos);
}

TEST_F(Security, OnlyTheDocumentedAdminCredentialHeaderIsAccepted) {
  EXPECT_EQ(http_->send("GET", "/v1/admin/apps", "", {{"x-admin-token", server_->admin_token()}}).status, 401);
  EXPECT_EQ(http_->send("GET", "/v1/admin/apps", "", {{"Authorization", "Bearer " + server_->admin_token()}}).status, 200);
}

// ---- class: slow clients, connection caps, descriptors ----

int connect_from(const char* source, const std::string& url) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &src.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
    ::close(fd);
    return -1;
  }
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<unsigned short>(std::stoi(url.substr(url.rfind(':') + 1))));
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// True when the peer closed the connection (or reset it) within `wait`; what it sent is in `got`.
bool closed_within(int fd, std::chrono::milliseconds wait, std::string* got = nullptr) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    const auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return true;
    if (got != nullptr) got->append(buf, static_cast<std::size_t>(n));
  }
}

class SlowClients : public VaultFixture {
 protected:
  void SetUp() override {
    // The vault restarted with a small descriptor budget and short timeouts.
    VaultFixture::SetUp();
    ASSERT_EQ(server_->stop(), 0);
    server_ = std::make_unique<ServerProcess>(ALTER_VAULT_BINARY, dir_.path() / "data",
                                              std::map<std::string, std::string>{{"ALTER_VAULT_DEV_MODE", "true"},
                                                                                 {"ALTER_VAULT_READ_TIMEOUT", "3s"},
                                                                                 {"ALTER_VAULT_IDLE_TIMEOUT", "20s"}});
    server_->set_limit(RLIMIT_NOFILE, 256);
    std::ifstream token_file(dir_.path() / "data" / "admin.token");
    std::string admin_token;
    std::getline(token_file, admin_token);
    server_->set_admin_token(admin_token);
    server_->start();
    http_ = std::make_unique<HttpClient>(server_->url());
  }
};

TEST_F(SlowClients, ThreeHundredDripClientsDoNotStopHealthz) {
  std::vector<int> drips;
  for (int i = 0; i < 300; ++i) {
    const int fd = connect_from("127.0.0.2", server_->url());
    ASSERT_GE(fd, 0);
    (void)!::write(fd, "G", 1);
    drips.push_back(fd);
  }
  const auto started = std::chrono::steady_clock::now();
  // The vault still answers, from another address, at once.
  auto health = http_->send("GET", "/healthz", "", {}, std::chrono::seconds(2));
  EXPECT_EQ(health.status, 200) << health.body;
  // Clients past the per-address cap were told so, in JSON, and closed.
  std::size_t refused = 0;
  std::vector<int> held;
  for (int fd : drips) {
    std::string got;
    if (closed_within(fd, std::chrono::milliseconds(20), &got)) {
      if (got.rfind("HTTP/1.1 429", 0) == 0 && got.find("\"error\":\"too_many_connections\"") != std::string::npos) ++refused;
    } else {
      held.push_back(fd);
    }
  }
  EXPECT_GT(refused, 100u);
  EXPECT_LT(held.size(), 200u);
  // A byte a second does not keep a connection: all are gone by the read timeout (3 s), not the
  // idle timeout (20 s).
  std::vector<std::thread> drippers;
  std::atomic<std::size_t> closed{0};
  for (int fd : held) {
    drippers.emplace_back([fd, &closed] {
      for (int i = 0; i < 8; ++i) {
        if (closed_within(fd, std::chrono::milliseconds(1000))) {
          ++closed;
          return;
        }
        if (::send(fd, "E", 1, MSG_NOSIGNAL) != 1) {
          ++closed;
          return;
        }
      }
    });
  }
  for (auto& t : drippers) t.join();
  EXPECT_EQ(closed.load(), held.size());
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(8));
  for (int fd : drips) ::close(fd);
  EXPECT_EQ(http_->send("GET", "/healthz").status, 200);
  const std::string metrics = http_->send("GET", "/metrics").body;
  EXPECT_NE(metrics.find("alter_connections_refused_total{status=\"4xx\"}"), std::string::npos);
}

TEST_F(SlowClients, LingeringCloseAfterAnErrorIsBoundedInTimeAndBytes) {
  for (const std::string& head : {std::string("POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n"),
                                  std::string("GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n"),
                                  std::string("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")}) {
    SCOPED_TRACE(head.substr(0, 30));
    const int fd = connect_from("127.0.0.3", server_->url());
    ASSERT_GE(fd, 0);
    (void)!::write(fd, head.data(), head.size());
    const auto started = std::chrono::steady_clock::now();
    // Keep sending, a little at a time (5 KB/s), reading what comes back: the vault answers,
    // half-closes, reads and drops what follows for ~2 s, then closes; our sends then fail.
    std::string answer;
    bool closed = false;
    const std::string chunk(512, 'x');
    for (int i = 0; i < 100 && !closed; ++i) {
      closed = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL) < 0;
      if (!closed) {
        pollfd p{fd, POLLIN, 0};
        char buf[4096];
        if (::poll(&p, 1, 100) > 0) {
          const auto n = ::read(fd, buf, sizeof buf);
          if (n > 0) answer.append(buf, static_cast<std::size_t>(n));
          if (n < 0) closed = true;  // reset
          if (n == 0) ::usleep(100000);  // half-closed: the answer is complete
        }
      }
    }
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_TRUE(closed);
    EXPECT_EQ(answer.rfind("HTTP/1.1 ", 0), 0u) << "the answer was lost";
    EXPECT_GE(took, std::chrono::milliseconds(1500));
    EXPECT_LT(took, std::chrono::milliseconds(4500));
    ::close(fd);
  }
}

TEST_F(SlowClients, TheFirstRequestsHeadersMustArriveWithinTheReadTimeout) {
  const int fd = connect_from("127.0.0.4", server_->url());
  ASSERT_GE(fd, 0);
  const auto started = std::chrono::steady_clock::now();
  const std::string head = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  bool closed = false;
  for (std::size_t i = 0; i < 40 && !closed; ++i) {
    if (::send(fd, i < head.size() ? &head[i] : "a", 1, MSG_NOSIGNAL) != 1) closed = true;
    if (!closed) closed = closed_within(fd, std::chrono::milliseconds(250));
  }
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_TRUE(closed);
  EXPECT_GE(took, std::chrono::milliseconds(2500));
  EXPECT_LT(took, std::chrono::milliseconds(6000));
  ::close(fd);
}

class FullDisk : public VaultFixture {
 protected:
  void SetUp() override {
    VaultFixture::SetUp();
    import({{"user_id", "jack"}});
    ASSERT_EQ(server_->stop(), 0);
    std::uintmax_t used = 0;
    for (const auto& f : std::filesystem::directory_iterator(dir_.path() / "data")) {
      if (f.is_regular_file()) used = std::max(used, f.file_size());
    }
    server_ = std::make_unique<ServerProcess>(ALTER_VAULT_BINARY, dir_.path() / "data",
                                              std::map<std::string, std::string>{{"ALTER_VAULT_DEV_MODE", "true"}});
    // No file may grow past its size now plus a little: the disk is "full" after a few writes.
    server_->set_limit(RLIMIT_FSIZE, static_cast<long>(used + 256 * 1024));
    std::ifstream token_file(dir_.path() / "data" / "admin.token");
    std::string admin_token;
    std::getline(token_file, admin_token);
    server_->set_admin_token(admin_token);
    server_->start();
    http_ = std::make_unique<HttpClient>(server_->url());
  }
};

TEST_F(FullDisk, ReadyzSaysUnavailableWhileAuditedAnswersFail) {
  EXPECT_EQ(http_->send("GET", "/readyz").status, 200);
  int status = 200;
  for (int i = 0; i < 20000 && status == 200; ++i) {
    status = token({{"provider_id", "fake"}, {"attributes", {{"user_id", "jack"}}}, {"method", "GET"}, {"url", api("/me")},
                    {"reason", std::string(400, 'r')}})
                 .status;
  }
  ASSERT_EQ(status, 503) << "the writes never failed";
  auto ready = http_->send("GET", "/readyz");
  EXPECT_EQ(ready.status, 503) << ready.body;
  EXPECT_EQ(ready.json.value("status", ""), "unavailable");
  EXPECT_EQ(http_->send("GET", "/healthz").status, 200);  // alive, not ready
}

}  // namespace
}  // namespace alter::testing
