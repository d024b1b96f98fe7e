// The browser's side of connecting: the one-time link and the provider's redirect back. Both are
// public (the link and the state carry their own secrets) and answer with pages.
#include <boost/url/parse.hpp>
#include <boost/url/parse_query.hpp>
#include <boost/url/url.hpp>

#include <algorithm>

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

Response link_error(const Error& e) {
  if (e.code == "link_invalid") return page(404, "Link not valid", para(e.message));
  if (e.code == "link_used") return page(410, "Link already used", para(e.message));
  if (e.code == "link_expired") return page(410, "Link expired", para(e.message));
  if (e.errc == Errc::kUnavailable) return page(503, "Try again", para(e.message));
  return page(500, e.code == "provider_not_configured" ? "Provider not configured" : "Provider unavailable", para(e.message));
}

// A provider whose credential is a key, a password or an AWS key: the user types it here, once.
// The link's own token in the form's address is what lets the form in (it is the link).
Response credential_form(const std::string& token, const vault::CredentialForm& form, const std::string& notice, int status) {
  std::string body = para("Enter your " + form.provider_name + " credential. It is stored sealed in the vault: the application " +
                          "that sent you this link calls " + form.provider_name + " through the vault and never sees it.");
  if (!form.setup.empty()) body += "<p id=\"setup\">" + http::html_escape(form.setup) + "</p>";
  body += "<p><a href=\"" + http::html_escape(form.docs_url) + "\" rel=\"noreferrer\">" + http::html_escape(form.provider_name) +
          "'s documentation</a></p>";
  if (!notice.empty()) body += "<p id=\"notice\" role=\"alert\"><strong>" + http::html_escape(notice) + "</strong></p>";
  body += "<form method=\"post\" action=\"/connect/" + http::html_escape(token) + "\" autocomplete=\"off\">";
  for (const auto& f : form.fields) {
    body += "<p><label for=\"" + f.name + "\">" + http::html_escape(f.label) + "</label><br><input id=\"" + f.name + "\" name=\"" + f.name +
            "\" type=\"" + (f.secret ? "password" : "text") + "\" autocomplete=\"off\" spellcheck=\"false\" size=\"48\"" +
            (f.required ? " required" : "") + "></p>";
  }
  body += "<p><button id=\"save\" type=\"submit\">Save</button></p></form>";
  return page(status, "Connect " + form.provider_name, body);
}

Response open_link(Api& api, const std::string& token) {
  auto form = api.connections.link_form(token);
  if (!form) return link_error(form.error());
  if (*form) return credential_form(token, **form, "", 200);
  auto url = api.connections.open_link(token);
  if (url) return Response::redirect(*url);
  return link_error(url.error());
}

Response submit_form(Api& api, const Request& req, const std::string& token) {
  auto form = api.connections.link_form(token);
  if (!form) return link_error(form.error());
  if (!*form) return page(405, "Not a form", para("This connect link signs in with the provider: open it in the browser."));
  credentials::Fields fields;
  auto params = boost::urls::parse_query(req.body);
  if (!params) return credential_form(token, **form, "The form could not be read. Please try again.", 400);
  boost::urls::encoding_opts as_form;
  as_form.space_as_plus = true;
  for (const auto& p : *params) {
    const bool known = std::any_of((*form)->fields.begin(), (*form)->fields.end(), [&](const auto& f) { return f.name == p.key; });
    if (!known) continue;  // a stray field is dropped, never stored
    fields.insert_or_assign(std::string(p.key), common::SecretString(p.value.decode(as_form)));
  }
  auto outcome = api.connections.submit_credential(token, std::move(fields));
  // Nothing was stored and the link still works: the form again, with what went wrong.
  if (outcome.error_code == "invalid_credential") return credential_form(token, **form, outcome.message, 400);
  if (outcome.error_code == "provider_unavailable") return credential_form(token, **form, outcome.message, 502);
  return outcome_page(outcome);
}

}  // namespace

void add_connect_routes(http::Router& router, Api& api) {
  router.add("GET", "/connect/{token}", Auth::kPublic,
             [&api](const Request&, const PathParams& p, const Principal&) { return open_link(api, p.at("token")); });
  router.add("POST", "/connect/{token}", Auth::kPublic,
             [&api](const Request& r, const PathParams& p, const Principal&) { return submit_form(api, r, p.at("token")); });
  router.add("GET", "/oauth/callback", Auth::kPublic,
             [&api](const Request& r, const PathParams&, const Principal&) { return outcome_page(api.connections.callback(r.query)); });
}

}  // namespace alter::server::api
