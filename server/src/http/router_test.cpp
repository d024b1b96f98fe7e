#include "http/router.hpp"

#include <gtest/gtest.h>

namespace alter::server::http {
namespace {

Request req(std::string method, std::string path) {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  return r;
}

TEST(Router, MatchesTemplatesAndMethods) {
  Router router;
  router.add("GET", "/v1/admin/apps/{app}", [](const Request&, const PathParams& p) { return Response::json(200, {{"app", p.at("app")}}); });
  router.add("POST", "/v1/admin/apps", [](const Request&, const PathParams&) { return Response::json(201, {}); });
  std::string route;
  auto r = router.dispatch(req("GET", "/v1/admin/apps/default"), &route);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(nlohmann::json::parse(r.body)["app"], "default");
  EXPECT_EQ(route, "/v1/admin/apps/{app}");
  EXPECT_EQ(router.dispatch(req("POST", "/v1/admin/apps")).status, 201);
  EXPECT_EQ(router.dispatch(req("HEAD", "/v1/admin/apps/x")).status, 200);
}

TEST(Router, UnknownPathIs404AndWrongMethodIs405) {
  Router router;
  router.add("GET", "/healthz", [](const Request&, const PathParams&) { return Response::json(200, {}); });
  auto missing = router.dispatch(req("GET", "/nope"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(nlohmann::json::parse(missing.body)["error"], "not_found");
  auto wrong = router.dispatch(req("DELETE", "/healthz"));
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(nlohmann::json::parse(wrong.body)["error"], "method_not_allowed");
  bool has_allow = false;
  for (const auto& [k, v] : wrong.headers) has_allow = has_allow || (k == "Allow" && v == "GET");
  EXPECT_TRUE(has_allow);
  EXPECT_EQ(router.dispatch(req("GET", "/v1/admin/apps/")).status, 404);  // empty param never matches
}

TEST(Html, Escapes) { EXPECT_EQ(html_escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"); }

}  // namespace
}  // namespace alter::server::http
