#include "http/router.hpp"

#include <gtest/gtest.h>

namespace alter::server::http {
namespace {

Request req(std::string method, std::string path, std::vector<std::pair<std::string, std::string>> headers = {}) {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  for (auto& [k, v] : headers) r.headers.emplace(k, v);
  return r;
}

struct Fixture {
  std::vector<std::string> thrown;
  Router router{RouterHooks{
      [](Auth auth, const Request& r) -> Result<Principal> {
        // The test's stand-in: "key-N" for apps, "admin-N" for admins.
        const std::string who = r.header("x-who");
        if (auth == Auth::kApiKey && who.rfind("key-", 0) == 0) return Principal{auth, "app-" + who.substr(4), who, ""};
        if (auth == Auth::kAdmin && who.rfind("admin-", 0) == 0) return Principal{auth, "", "", who};
        return common::unexpected(make_error(Errc::kUnauthenticated, "unauthenticated", "who are you"));
      },
      [](const Error& e) { return Response::error(e.errc == Errc::kUnauthenticated ? 401 : 500, e.code, e.message); },
      [this](const std::string& route, const std::exception*) { thrown.push_back(route); }}};
};

TEST(Router, MatchesTemplatesAndMethods) {
  Fixture f;
  f.router.add("GET", "/v1/admin/apps/{app}", Auth::kPublic,
               [](const Request&, const PathParams& p, const Principal&) { return Response::json(200, {{"app", p.at("app")}}); });
  f.router.add("POST", "/v1/admin/apps", Auth::kPublic, [](const Request&, const PathParams&, const Principal&) { return Response::json(201, {}); });
  std::string route;
  auto r = f.router.dispatch(req("GET", "/v1/admin/apps/default"), &route);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(nlohmann::json::parse(r.body)["app"], "default");
  EXPECT_EQ(route, "/v1/admin/apps/{app}");
  EXPECT_EQ(f.router.dispatch(req("POST", "/v1/admin/apps")).status, 201);
  EXPECT_EQ(f.router.dispatch(req("HEAD", "/v1/admin/apps/x")).status, 200);
}

TEST(Router, UnknownPathIs404AndWrongMethodIs405) {
  Fixture f;
  f.router.add("GET", "/healthz", Auth::kPublic, [](const Request&, const PathParams&, const Principal&) { return Response::json(200, {}); });
  auto missing = f.router.dispatch(req("GET", "/nope"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(nlohmann::json::parse(missing.body)["error"], "not_found");
  auto wrong = f.router.dispatch(req("DELETE", "/healthz"));
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(nlohmann::json::parse(wrong.body)["error"], "method_not_allowed");
  bool has_allow = false;
  for (const auto& [k, v] : wrong.headers) has_allow = has_allow || (k == "Allow" && v == "GET");
  EXPECT_TRUE(has_allow);
  EXPECT_EQ(f.router.dispatch(req("GET", "/v1/admin/apps/")).status, 404);  // empty param never matches
}

TEST(Router, RoutesAuthenticateAsTheyDeclareBeforeTheHandlerRuns) {
  Fixture f;
  int ran = 0;
  auto echo = [&ran](const Request&, const PathParams&, const Principal& p) {
    ++ran;
    return Response::json(200, {{"app", p.app_id}, {"admin", p.admin_id}});
  };
  f.router.add("GET", "/sdk", Auth::kApiKey, echo);
  f.router.add("GET", "/admin", Auth::kAdmin, echo);
  f.router.add("GET", "/open", Auth::kPublic, echo);
  struct Case {
    const char* path;
    const char* who;
    int status;
  };
  for (const Case c : {Case{"/sdk", "key-7", 200}, Case{"/sdk", "", 401}, Case{"/sdk", "admin-1", 401}, Case{"/admin", "admin-1", 200},
                       Case{"/admin", "key-7", 401}, Case{"/admin", "", 401}, Case{"/open", "", 200}}) {
    SCOPED_TRACE(std::string(c.path) + " as '" + c.who + "'");
    const int before = ran;
    auto r = f.router.dispatch(req("GET", c.path, {{"x-who", c.who}}));
    EXPECT_EQ(r.status, c.status);
    EXPECT_EQ(ran - before, c.status == 200 ? 1 : 0) << "the handler ran for a refused caller";
  }
  EXPECT_EQ(nlohmann::json::parse(f.router.dispatch(req("GET", "/sdk", {{"x-who", "key-7"}})).body)["app"], "app-7");
}

TEST(Router, ARouteWithoutAnAuthenticationDeclarationIsRefusedAtStartup) {
  Fixture f;
  f.router.add("GET", "/ok", Auth::kPublic, [](const Request&, const PathParams&, const Principal&) { return Response::json(200, {}); });
  EXPECT_TRUE(f.router.validate().ok());
  bool ran = false;
  f.router.add("GET", "/forgot", Auth::kUnset, [&ran](const Request&, const PathParams&, const Principal&) {
    ran = true;
    return Response::json(200, {});
  });
  auto v = f.router.validate();
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.error().message.find("GET /forgot declares no authentication"), std::string::npos);
  EXPECT_EQ(f.router.dispatch(req("GET", "/forgot")).status, 500);
  EXPECT_FALSE(ran);
}

TEST(Router, AHandlerThatThrowsIs500JsonAndIsReported) {
  Fixture f;
  f.router.add("GET", "/boom", Auth::kPublic,
               [](const Request&, const PathParams&, const Principal&) -> Response { throw std::runtime_error("secret-in-message"); });
  auto r = f.router.dispatch(req("GET", "/boom"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(nlohmann::json::parse(r.body)["error"], "internal");
  EXPECT_EQ(r.body.find("secret-in-message"), std::string::npos);
  EXPECT_EQ(f.thrown, std::vector<std::string>{"/boom"});
}

TEST(Html, Escapes) { EXPECT_EQ(html_escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"); }

}  // namespace
}  // namespace alter::server::http
