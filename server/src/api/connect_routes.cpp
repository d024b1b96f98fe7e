// The browser's side of connecting: the one-time link and the provider's redirect back. Both are
// public (the link and the state carry their own secrets) and answer with pages.
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include "api/api.hpp"
#include "api/errors.hpp"
#include "api/pages.hpp"

namespace alter::server::api {
namespace {

using http::Auth;
using http::PathParams;
using http::Principal;
using http::Request;
using http::Response;

Response outcome_page(const vault::ConnectOutcome& o) {
  if (!o.return_url.empty()) {
    auto u = boost::urls::parse_uri(o.return_url);
    if (u) {
      boost::urls::url back(*u);
      back.params().append({"status", o.ok ? "connected" : "error"});
      back.params().append({"provider_id", o.provider_id});
      if (o.ok) back.params().append({"connection_id", o.connection_id});
      if (!o.ok) back.params().append({"error", o.error_code});
      return Response::redirect(std::string(back.buffer()));
    }
  }
  std::string body = para(o.message);
  if (o.ok) body += "<p id=\"connection\" data-connection-id=\"" + http::html_escape(o.connection_id) + "\">You can close this window.</p>";
  const std::string title = !o.title.empty() ? o.title : (o.ok ? "Connected to " + o.provider_name : "Not connected");
  // A vault that cannot store the outcome says so (503, try again); anything else is the answer's fault.
  const int status = o.ok ? 200 : o.error_code == "unavailable" ? 503 : 400;
  return page(status, title, body);
}

Response open_link(Api& api, const std::string& token) {
  auto url = api.connections.open_link(token);
  if (url) return Response::redirect(*url);
  const Error& e = url.error();
  if (e.code == "link_invalid") return page(404, "Link not valid", para(e.message));
  if (e.code == "link_used") return page(410, "Link already used", para(e.message));
  if (e.code == "link_expired") return page(410, "Link expired", para(e.message));
  if (e.errc == Errc::kUnavailable) return page(503, "Try again", para(e.message));
  return page(500, e.code == "provider_not_configured" ? "Provider not configured" : "Provider unavailable", para(e.message));
}

}  // namespace

void add_connect_routes(http::Router& router, Api& api) {
  router.add("GET", "/connect/{token}", Auth::kPublic,
             [&api](const Request&, const PathParams& p, const Principal&) { return open_link(api, p.at("token")); });
  router.add("GET", "/oauth/callback", Auth::kPublic,
             [&api](const Request& r, const PathParams&, const Principal&) { return outcome_page(api.connections.callback(r.query)); });
}

}  // namespace alter::server::api
