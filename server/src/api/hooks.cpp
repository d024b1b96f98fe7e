#include <alter/common/strings.hpp>

#include <typeinfo>

#include "api/api.hpp"
#include "api/console.hpp"
#include "api/errors.hpp"

namespace alter::server::api {

http::RouterHooks router_hooks(Api& api) {
  http::RouterHooks hooks;
  hooks.authenticate = [&api](http::Auth auth, const http::Request& req) -> Result<http::Principal> {
    if (auth == http::Auth::kApiKey) {
      auto caller = api.authenticator.app(req.header("x-api-key"));
      if (!caller) return common::unexpected(caller.error());
      return http::Principal{auth, caller->app_id, caller->key_id, ""};
    }
    if (auth == http::Auth::kAdmin) {
      // Authorization: Bearer (x-admin-token is not a credential header), or else the web
      // console's session cookie, with its CSRF token on every change.
      const std::string header = req.header("authorization");
      if (header.empty()) {
        if (std::string cookie = vault::cookie_value(req.header("cookie"), kConsoleCookie); !cookie.empty()) {
          auto session = api.console_sessions.get(cookie);
          if (!session) return common::unexpected(session.error());
          if (req.method != "GET" && req.method != "HEAD") {
            if (auto ok = vault::ConsoleSessions::check_csrf(*session, req.header("x-csrf-token")); !ok) {
              return common::unexpected(ok.error());
            }
          }
          return http::Principal{auth, "", "", session->admin_id};
        }
      }
      std::string token;
      if (header.size() > 7 && common::iequals(std::string_view(header).substr(0, 7), "bearer ")) token = header.substr(7);
      auto who = api.authenticator.admin(token);
      if (!who) return common::unexpected(who.error());
      return http::Principal{auth, "", "", who->id};
    }
    return http::Principal{};
  };
  hooks.authenticate_without_blocking = [&api](http::Auth auth, const http::Request& req)
      -> std::optional<Result<http::Principal>> {
    if (auth != http::Auth::kApiKey) return std::nullopt;  // admin credentials are read from the store
    auto caller = api.authenticator.app_cached(req.header("x-api-key"));
    if (!caller) return std::nullopt;
    if (!*caller) return common::unexpected(caller->error());
    return http::Principal{auth, (*caller)->app_id, (*caller)->key_id, ""};
  };
  hooks.render_error = [](const Error& e) { return error_response(e); };
  hooks.on_exception = [&api](const std::string& route, const std::exception* e) {
    // The exception's text is not logged: it may quote input, and input may hold a secret.
    api.log.error("a handler failed", {{"route", route}, {"exception", e != nullptr ? typeid(*e).name() : "unknown"}});
    api.metrics.inc("alter_handler_exceptions_total");
  };
  return hooks;
}

}  // namespace alter::server::api
