// The web console (/console): its embedded files, and sign-in / sign-out. Everything the console
// does afterwards is the admin API (/v1/admin/...), authenticated by the session cookie set here
// and, for every change, the session's X-CSRF-Token header (hooks.cpp). See docs/console.md.
#include <alter/common/secret.hpp>

#include "api/api.hpp"
#include "api/console.hpp"
#include "api/errors.hpp"
#include "api/input.hpp"
#include "api/pages.hpp"
#include "console/assets.hpp"
#include "core/time.hpp"

namespace alter::server::api {
namespace {

using http::Auth;
using http::PathParams;
using http::Principal;
using http::Request;
using http::Response;

// No inline script or style anywhere; the API is the only place the page talks to.
constexpr const char* kConsoleCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

void secure_headers(Response& r) {
  r.headers.emplace_back("Content-Security-Policy", kConsoleCsp);
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("Cache-Control", "no-store");
}

Response asset(const Request& req, const std::string& name) {
  const console::Asset* a = console::find_asset(name);
  if (a == nullptr) {
    if (console::find_asset("index.html") == nullptr) {
      return page(404, "Console not built in", para("This vault was built without the web console (-DALTER_BUILD_CONSOLE=OFF)."));
    }
    return Response::error(404, "not_found", "no such console file");
  }
  Response r;
  if (req.header("if-none-match") == a->etag) {
    r.status = 304;
  } else {
    r.status = 200;
    r.body = std::string(a->body);
  }
  r.content_type = std::string(a->content_type);
  secure_headers(r);
  // The files change only with the binary: revalidate each time (cheap with the ETag).
  r.headers.back() = {"Cache-Control", "no-cache"};
  r.headers.emplace_back("ETag", std::string(a->etag));
  return r;
}

nlohmann::json session_json(const vault::ConsoleSession& s) {
  return {{"admin_id", s.admin_id}, {"name", s.admin_name}, {"csrf_token", s.csrf_token},
          {"expires_at", iso8601(s.expires_at)}};
}

Response session_answer(int status, const nlohmann::json& body) {
  Response r = Response::json(status, body);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

Response sign_in(Api& api, const Request& req) {
  auto body = json_object_body(req);
  if (!body) return error_response(body.error());
  if (auto r = no_unknown_fields(*body, {"credential"}); !r) return error_response(r.error());
  auto credential = string_field(*body, "credential", {.required = true, .max_size = 256, .allow_empty = false});
  if (!credential) return error_response(credential.error());
  auto started = api.console_sessions.sign_in(**credential);
  common::secure_wipe(**credential);
  common::secure_wipe((*body)["credential"].get_ref<std::string&>());
  if (!started) {
    api.metrics.inc("alter_console_sign_ins_total", "result=\"refused\"");
    return error_response(started.error());
  }
  api.metrics.inc("alter_console_sign_ins_total", "result=\"ok\"");
  api.log.info("console sign-in", {{"admin_id", started->session.admin_id}});
  Response r = session_answer(200, session_json(started->session));
  const auto max_age = std::chrono::duration_cast<std::chrono::seconds>(api.config.console_session_ttl).count();
  r.headers.emplace_back("Set-Cookie", std::string(kConsoleCookie) + "=" + started->cookie_value + "; Path=/; Max-Age=" +
                                           std::to_string(max_age) + "; HttpOnly; SameSite=Strict" +
                                           (console_cookie_secure(api.config) ? "; Secure" : ""));
  common::secure_wipe(started->cookie_value);
  return r;
}

Response sign_out(Api& api, const Request& req) {
  const std::string cookie = vault::cookie_value(req.header("cookie"), kConsoleCookie);
  auto session = api.console_sessions.get(cookie);
  if (!session) return error_response(session.error());
  if (auto ok = vault::ConsoleSessions::check_csrf(*session, req.header("x-csrf-token")); !ok) return error_response(ok.error());
  api.console_sessions.sign_out(cookie);
  api.log.info("console sign-out", {{"admin_id", session->admin_id}});
  Response r = session_answer(200, {{"signed_out", true}});
  r.headers.emplace_back("Set-Cookie", std::string(kConsoleCookie) + "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict" +
                                           (console_cookie_secure(api.config) ? "; Secure" : ""));
  return r;
}

}  // namespace

bool console_cookie_secure(const Config& config) {
  return !config.tls_cert.empty() || config.public_url.rfind("https://", 0) == 0;
}

void add_console_routes(http::Router& router, Api& api) {
  router.add("GET", "/console", Auth::kPublic,
             [](const Request&, const PathParams&, const Principal&) { return Response::redirect("/console/", 301); });
  router.add("GET", "/console/", Auth::kPublic,
             [](const Request& r, const PathParams&, const Principal&) { return asset(r, "index.html"); });
  router.add("GET", "/console/assets/{file}", Auth::kPublic,
             [](const Request& r, const PathParams& p, const Principal&) { return asset(r, p.at("file") == "index.html" ? "" : p.at("file")); });
  router.add("GET", "/console/api/session", Auth::kPublic, [&api](const Request& r, const PathParams&, const Principal&) {
    auto session = api.console_sessions.get(vault::cookie_value(r.header("cookie"), kConsoleCookie));
    return session ? session_answer(200, session_json(*session)) : error_response(session.error());
  });
  router.add("POST", "/console/api/session", Auth::kPublic,
             [&api](const Request& r, const PathParams&, const Principal&) { return sign_in(api, r); });
  router.add("DELETE", "/console/api/session", Auth::kPublic,
             [&api](const Request& r, const PathParams&, const Principal&) { return sign_out(api, r); });
}

}  // namespace alter::server::api
