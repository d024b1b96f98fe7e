// The dev sandbox's API for the SDK's examples, from outside: the real binary in dev mode, a token
// from the sandbox's own OAuth flow, and answers that tell what reached the sandbox (the raw
// target, the decoded path parameters, the headers) without ever carrying the access token.
#include <alter/testing/encoding.hpp>
#include <alter/testing/server_process.hpp>
#include <alter/testing/temp_dir.hpp>
#include <gtest/gtest.h>
#include <strings.h>

#include <boost/url/parse.hpp>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace alter::testing {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

class SandboxApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    server_ = new ServerProcess(ALTER_VAULT_BINARY, dir_->path() / "data", {{"ALTER_VAULT_DEV_MODE", "true"}});
    server_->init();
    server_->start();
    http_ = new HttpClient(server_->url());
    std::ifstream in(dir_->path() / "data" / "sandbox.json");
    const std::string secret = nlohmann::json::parse(in).at("client_secret");

    // The consent form's answer, as the page would post it after "Allow".
    const std::string verifier = "sandbox-test-verifier-0123456789abcdefghijklmnop";
    const std::string redirect = "http://127.0.0.1:9/cb";
    auto consent = http_->send("POST", "/sandbox/oauth/authorize",
                               "client_id=sandbox-client&response_type=code&redirect_uri=" + redirect +
                                   "&scope=calendar.read&state=s&code_challenge_method=S256&code_challenge=" +
                                   pkce_s256(verifier) + "&decision=allow&login=alice",
                               {{"Content-Type", "application/x-www-form-urlencoded"}});
    ASSERT_EQ(consent.status, 302) << consent.body;
    auto location = boost::urls::parse_uri(consent.header("location"));
    ASSERT_TRUE(location) << consent.header("location");
    const std::string code = (*location->params().find("code")).value;

    auto grant = http_->send("POST", "/sandbox/oauth/token",
                             "grant_type=authorization_code&code=" + code + "&redirect_uri=" + redirect +
                                 "&code_verifier=" + verifier,
                             {{"Content-Type", "application/x-www-form-urlencoded"},
                              {"Authorization", "Basic " + base64("sandbox-client:" + secret)}});
    ASSERT_EQ(grant.status, 200) << grant.body;
    token_ = grant.json.at("access_token");
    refresh_token_ = grant.json.at("refresh_token");
  }

  static void TearDownTestSuite() {
    delete http_;
    if (server_ != nullptr && server_->running()) {
      EXPECT_EQ(server_->stop(), 0) << server_->stderr_text();
    }
    delete server_;
    delete dir_;
  }

  void SetUp() override { ASSERT_FALSE(token_.empty()) << "no sandbox token: see SetUpTestSuite"; }

  /// A call with the access token; whatever it answers, the token is not in it.
  static HttpAnswer call(const std::string& method, const std::string& path, const std::string& body = "",
                         Headers headers = {}) {
    headers.emplace_back("Authorization", "Bearer " + token_);
    if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
    auto a = http_->send(method, path, body, headers);
    EXPECT_EQ(a.body.find(token_), std::string::npos) << method << " " << path << ": " << a.body;
    for (const auto& [k, v] : a.headers) EXPECT_EQ(v.find(token_), std::string::npos) << k;
    return a;
  }

  static inline TempDir* dir_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline HttpClient* http_ = nullptr;
  static inline std::string token_;
  static inline std::string refresh_token_;
};

TEST_F(SandboxApi, CreatesAnItemFromAJsonObject) {
  const std::string body = R"({"name":"New Item","price":99.99})";
  auto a = call("POST", "/sandbox/api/v1/items", body);
  ASSERT_EQ(a.status, 201) << a.body;
  EXPECT_EQ(a.json["id"].get<std::string>().rfind("item-", 0), 0u) << a.body;
  EXPECT_GT(a.json["id"].get<std::string>().size(), 5u);
  EXPECT_EQ(a.json["name"], "New Item");
  EXPECT_EQ(a.json["price"], 99.99);
  const auto& r = a.json["received"];
  EXPECT_EQ(r["method"], "POST");
  EXPECT_EQ(r["target"], "/sandbox/api/v1/items");
  EXPECT_EQ(r["path_params"], nlohmann::json::object());
  EXPECT_EQ(r["query"], nlohmann::json::object());
  EXPECT_EQ(r["body"], body);
  EXPECT_EQ(r["subject"], "alice");
  EXPECT_EQ(r["headers"]["content-type"], "application/json");
  EXPECT_EQ(r["headers"]["authorization"], "Bearer [redacted]");
  // Two creates, two ids.
  EXPECT_NE(call("POST", "/sandbox/api/v1/items", body).json["id"], a.json["id"]);
}

TEST_F(SandboxApi, ItemFieldsCannotPassForTheSandboxs) {
  auto a = call("POST", "/sandbox/api/v1/items", R"({"id":"mine","received":"forged"})");
  ASSERT_EQ(a.status, 201) << a.body;
  EXPECT_NE(a.json["id"], "mine");
  EXPECT_TRUE(a.json["received"].is_object());
}

TEST_F(SandboxApi, CreateRefusesABodyThatIsNotAJsonObject) {
  for (const std::string body : {"", "[1,2]", "\"text\"", "not json", "{\"a\":"}) {
    auto a = call("POST", "/sandbox/api/v1/items", body);
    EXPECT_EQ(a.status, 400) << body << ": " << a.body;
    EXPECT_EQ(a.json["error"], "invalid_request") << body;
  }
  // The same limits as the calendar's events: nested deeper than 8 is refused.
  EXPECT_EQ(call("POST", "/sandbox/api/v1/items", R"({"a":[[[[[[[[[1]]]]]]]]]})").status, 400);
}

TEST_F(SandboxApi, AnswersEveryMethodOnAnItem) {
  for (const std::string method : {"GET", "PUT", "PATCH", "DELETE"}) {
    const bool update = method == "PUT" || method == "PATCH";
    auto a = call(method, "/sandbox/api/v1/items/123", update ? R"({"price":89.99})" : "");
    ASSERT_EQ(a.status, 200) << method << ": " << a.body;
    EXPECT_EQ(a.json["id"], "123") << method;
    if (update) {
      EXPECT_EQ(a.json["price"], 89.99) << method;
    } else {
      EXPECT_FALSE(a.json.contains("price")) << method;
    }
    EXPECT_EQ(a.json["received"]["method"], method);
    EXPECT_EQ(a.json["received"]["path_params"], nlohmann::json({{"item_id", "123"}}));
    EXPECT_EQ(a.json["received"]["target"], "/sandbox/api/v1/items/123");
    if (!update) {
      EXPECT_TRUE(a.json["received"]["body"].is_null()) << method;
    }
  }
  // An update may come without a body; what comes is a JSON object.
  EXPECT_EQ(call("PATCH", "/sandbox/api/v1/items/123").status, 200);
  EXPECT_EQ(call("PUT", "/sandbox/api/v1/items/123", "[1]").status, 400);
  // The path's id wins over the body's.
  EXPECT_EQ(call("PUT", "/sandbox/api/v1/items/123", R"({"id":"other"})").json["id"], "123");
}

TEST_F(SandboxApi, TargetIsRawWhilePathParamsAreDecoded) {
  auto a = call("GET", "/sandbox/api/v1/items/a%20b%3Fc%25%26d%2E%2E?q=x%2Fy&sp=a+b&e");
  ASSERT_EQ(a.status, 200) << a.body;
  const auto& r = a.json["received"];
  EXPECT_EQ(r["target"], "/sandbox/api/v1/items/a%20b%3Fc%25%26d%2E%2E?q=x%2Fy&sp=a+b&e");
  EXPECT_EQ(r["path_params"]["item_id"], "a b?c%&d..");
  EXPECT_EQ(a.json["id"], "a b?c%&d..");
  EXPECT_EQ(r["query"]["q"], "x/y");
  EXPECT_EQ(r["query"]["e"], "");
  EXPECT_TRUE(r["query"].contains("sp")) << r["query"];
}

TEST_F(SandboxApi, AnEncodedSlashInAPathParamIsNotRouted) {
  // The server decodes the whole path before the router splits it into segments, so %2F becomes
  // a separator: "1%2F..%2F2%203" is three segments ("1", "..", "2 3") and matches no route.
  auto a = call("GET", "/sandbox/api/v1/items/1%2F..%2F2%203");
  EXPECT_EQ(a.status, 404) << a.body;
  EXPECT_EQ(a.json["error"], "not_found");
  // The same value as one segment the router can match: only the slash is the problem.
  auto b = call("GET", "/sandbox/api/v1/items/1..2%203");
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(b.json["received"]["path_params"]["item_id"], "1..2 3");
  EXPECT_EQ(b.json["received"]["target"], "/sandbox/api/v1/items/1..2%203");
}

TEST_F(SandboxApi, QueriesADatabase) {
  auto a = call("POST", "/sandbox/api/v1/databases/abc123/query?existing=1", R"({"page_size":10})",
                {{"Notion-Version", "2022-06-28"}});
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.json["object"], "list");
  EXPECT_EQ(a.json["database_id"], "abc123");
  EXPECT_EQ(a.json["results"], nlohmann::json::array());
  EXPECT_EQ(a.json["page_size"], 10);
  const auto& r = a.json["received"];
  EXPECT_EQ(r["target"], "/sandbox/api/v1/databases/abc123/query?existing=1");
  EXPECT_EQ(r["path_params"], nlohmann::json({{"db_id", "abc123"}}));
  EXPECT_EQ(r["query"], nlohmann::json({{"existing", "1"}}));
  EXPECT_EQ(r["headers"]["notion-version"], "2022-06-28");

  auto bare = call("POST", "/sandbox/api/v1/databases/abc123/query");
  ASSERT_EQ(bare.status, 200) << bare.body;
  EXPECT_FALSE(bare.json.contains("page_size")) << bare.body;
  EXPECT_EQ(call("POST", "/sandbox/api/v1/databases/abc123/query", "nope").status, 400);
  EXPECT_EQ(call("GET", "/sandbox/api/v1/databases/abc123/query").status, 405);
}

TEST_F(SandboxApi, ListsGmailMessages) {
  auto a = call("GET", "/sandbox/api/gmail/v1/users/me/messages?maxResults=5");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.json["messages"], nlohmann::json::parse(R"([{"id":"msg-1","threadId":"thread-1"},
                                                          {"id":"msg-2","threadId":"thread-2"}])"));
  EXPECT_EQ(a.json["resultSizeEstimate"], 2);
  EXPECT_EQ(a.json["received"]["method"], "GET");
  EXPECT_EQ(a.json["received"]["query"], nlohmann::json({{"maxResults", "5"}}));
}

TEST_F(SandboxApi, EchoesEveryMethod) {
  for (const std::string method : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
    const std::string body = method == "GET" || method == "DELETE" ? "" : "plain, not JSON";
    auto a = call(method, "/sandbox/api/echo/thing?x=1", body);
    ASSERT_EQ(a.status, 200) << method << ": " << a.body;
    ASSERT_EQ(a.json.size(), 1u) << a.body;
    const auto& r = a.json["received"];
    EXPECT_EQ(r["method"], method);
    EXPECT_EQ(r["target"], "/sandbox/api/echo/thing?x=1");
    EXPECT_EQ(r["path_params"], nlohmann::json({{"name", "thing"}}));
    EXPECT_EQ(r["query"], nlohmann::json({{"x", "1"}}));
    EXPECT_EQ(r["subject"], "alice");
    if (body.empty()) {
      EXPECT_TRUE(r["body"].is_null()) << method;
    } else {
      EXPECT_EQ(r["body"], body) << method;
    }
  }
}

TEST_F(SandboxApi, CredentialHeadersKeepTheirNameNotTheirValue) {
  auto a = call("POST", "/sandbox/api/echo/h", R"({"x":1})",
                {{"X-Api-Key", "alter_key_must_not_echo"},
                 {"Cookie", "session=must_not_echo"},
                 {"X-Auth-Token", "must_not_echo_either"},
                 {"Proxy-Authorization", "Basic bXVzdDpub3Q="},
                 {"X-Custom", "Kept-As-Sent"}});
  ASSERT_EQ(a.status, 200) << a.body;
  const auto& h = a.json["received"]["headers"];
  EXPECT_EQ(h["authorization"], "Bearer [redacted]");
  EXPECT_EQ(h["x-api-key"], "[redacted]");
  EXPECT_EQ(h["cookie"], "[redacted]");
  EXPECT_EQ(h["x-auth-token"], "[redacted]");
  EXPECT_EQ(h["proxy-authorization"], "[redacted]");
  EXPECT_EQ(h["x-custom"], "Kept-As-Sent");
  for (const char* secret : {"must_not_echo", "bXVzdDpub3Q="}) EXPECT_EQ(a.body.find(secret), std::string::npos) << secret;
}

TEST_F(SandboxApi, TheTokenIsCutWhereverTheCallerPutIt) {
  // In the query, the body, a path parameter and an ordinary header: call() checks the answers.
  auto a = call("POST", "/sandbox/api/echo/" + token_ + "?access_token=" + token_, R"({"t":")" + token_ + R"("})",
                {{"X-Forwarded-Note", "token " + token_}});
  ASSERT_EQ(a.status, 200) << a.body;
  const auto& r = a.json["received"];
  EXPECT_EQ(r["query"]["access_token"], "[redacted]");
  EXPECT_EQ(r["path_params"]["name"], "[redacted]");
  EXPECT_EQ(r["target"], "/sandbox/api/echo/[redacted]?access_token=[redacted]");
  EXPECT_EQ(r["body"], R"({"t":"[redacted]"})");
  EXPECT_EQ(r["headers"]["x-forwarded-note"], "token [redacted]");
  auto item = call("POST", "/sandbox/api/v1/items", R"({"t":")" + token_ + R"("})");
  ASSERT_EQ(item.status, 201) << item.body;
  EXPECT_EQ(item.json["t"], "[redacted]");
}

TEST_F(SandboxApi, TheCalendarAndUserinfoAnswerAsBefore) {
  auto events = call("GET", "/sandbox/api/calendar/v3/calendars/primary/events");
  ASSERT_EQ(events.status, 200) << events.body;
  EXPECT_EQ(events.json["items"].size(), 3u);
  EXPECT_FALSE(events.json.contains("received"));
  // The token was granted calendar.read only.
  EXPECT_EQ(call("POST", "/sandbox/api/calendar/v3/calendars/primary/events", R"({"summary":"x"})").status, 403);
  EXPECT_EQ(call("GET", "/sandbox/api/userinfo").json["sub"], "alice");
  auto anonymous = http_->send("GET", "/sandbox/api/calendar/v3/calendars/primary/events");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(anonymous.header("www-authenticate"), "Bearer error=\"invalid_token\"");
}

TEST_F(SandboxApi, EveryRouteNeedsAValidAccessToken) {
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"POST", "/sandbox/api/v1/items"},          {"GET", "/sandbox/api/v1/items/1"},
      {"PUT", "/sandbox/api/v1/items/1"},         {"PATCH", "/sandbox/api/v1/items/1"},
      {"DELETE", "/sandbox/api/v1/items/1"},      {"POST", "/sandbox/api/v1/databases/d/query"},
      {"GET", "/sandbox/api/gmail/v1/users/me/messages"}, {"GET", "/sandbox/api/echo/x"},
      {"POST", "/sandbox/api/echo/x"},            {"PUT", "/sandbox/api/echo/x"},
      {"PATCH", "/sandbox/api/echo/x"},           {"DELETE", "/sandbox/api/echo/x"}};
  const std::vector<Headers> without = {
      {},
      {{"Authorization", "Bearer sbx_at.e30.bm90LXNpZ25lZA"}},
      {{"Authorization", "Bearer " + refresh_token_}},  // a refresh token is not an access token
      {{"Authorization", token_}},                      // no scheme
      {{"X-Api-Key", token_}}};
  for (const auto& [method, path] : routes) {
    for (const auto& headers : without) {
      auto a = http_->send(method, path, "{}", headers);
      EXPECT_EQ(a.status, 401) << method << " " << path << ": " << a.body;
      EXPECT_EQ(a.json["error"], "invalid_token") << method << " " << path;
      EXPECT_EQ(a.header("www-authenticate"), "Bearer error=\"invalid_token\"") << method << " " << path;
      EXPECT_EQ(a.body.find(token_), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace alter::testing
