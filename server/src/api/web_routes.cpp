// Health, readiness, metrics and the approval page.
#include <boost/url/parse_query.hpp>

#include "api/api.hpp"
#include "api/errors.hpp"
#include "api/pages.hpp"
#include "core/time.hpp"

namespace alter::server::api {
namespace {

using http::Auth;
using http::PathParams;
using http::Principal;
using http::Request;
using http::Response;

std::string row(const std::string& name, const std::string& value) {
  return "<tr><th>" + http::html_escape(name) + "</th><td>" + http::html_escape(value) + "</td></tr>";
}

Response approval_page(Api& api, const std::string& id, const std::string& notice, int status = 200) {
  auto a = api.approvals.get(id);
  if (!a) return page(404, "No such approval", para("This approval does not exist."));
  const Approval& v = *a;
  const auto& r = v.request;
  auto text = [&](const char* key) { return r.contains(key) && r[key].is_string() ? r[key].get<std::string>() : std::string(); };
  std::string actor = r.contains("actor") ? r["actor"].value("id", "") : "";
  if (r.contains("actor") && !r["actor"].value("name", "").empty()) actor += " (" + r["actor"].value("name", "") + ")";
  std::string body = notice.empty() ? "" : "<p id=\"notice\"><strong>" + http::html_escape(notice) + "</strong></p>";
  body += "<table>" + row("Status", std::string(to_string(v.status))) + row("Agent", actor) +
          row("User", r.contains("user") ? r["user"].dump() : "{}") + row("Provider", text("provider_id")) +
          row("Request", text("method") + " " + text("url")) + row("Reason", text("reason")) +
          row("Rule", v.rule_id) + row("Expires", iso8601(v.expires_at));
  // A proxied call: the vault sends exactly this request once approved (headers as forwarded,
  // credential headers shown redacted, and the start of the body).
  if (r.value("proxied", false)) {
    body += row("Sent by", "the vault (proxy): exactly this request, once");
    if (r.contains("headers") && r["headers"].is_object()) {
      for (auto it = r["headers"].begin(); it != r["headers"].end(); ++it) {
        body += row("Header " + it.key(), it->is_string() ? it->get<std::string>() : it->dump());
      }
    }
    const std::string size = r.contains("body_bytes") ? std::to_string(r["body_bytes"].get<std::int64_t>()) + " bytes" : "none";
    body += row("Body", size);
    if (r.contains("body_preview") && r["body_preview"].is_string()) body += row("Body (start)", r["body_preview"].get<std::string>());
    body += row("Body SHA-256", text("body_sha256"));
  }
  body += "</table>";
  if (v.status == ApprovalStatus::kPending) {
    body += "<form method=\"post\" action=\"/approvals/" + http::html_escape(v.id) + "\">"
            "<p><label>Admin credential <input type=\"password\" name=\"token\" autocomplete=\"off\" required></label></p>"
            "<p><button name=\"decision\" value=\"approve\" id=\"approve\">Approve</button>"
            "<button name=\"decision\" value=\"deny\" id=\"deny\">Deny</button></p></form>";
  }
  return page(status, "Approval " + v.id, body);
}

Response approval_decision(Api& api, const Request& req, const std::string& id) {
  auto params = boost::urls::parse_query(req.body);
  std::string token;
  std::string decision;
  if (params) {
    boost::urls::encoding_opts form;
    form.space_as_plus = true;
    for (const auto& p : *params) {
      if (p.key == "token") token = p.value.decode(form);
      if (p.key == "decision") decision = p.value.decode(form);
    }
  }
  if (decision != "approve" && decision != "deny") return approval_page(api, id, "Choose approve or deny.", 400);
  auto who = api.authenticator.admin(token);
  common::secure_wipe(token);
  if (!who) return approval_page(api, id, "That admin credential is not valid.", 401);
  auto r = api.approvals.decide("", id, decision == "approve", who->id);
  if (!r) return approval_page(api, id, r.error().message, http_status(r.error().errc));
  return approval_page(api, id, decision == "approve" ? "Approved." : "Denied.");
}

}  // namespace

void add_web_routes(http::Router& router, Api& api) {
  router.add("GET", "/healthz", Auth::kPublic,
             [](const Request&, const PathParams&, const Principal&) { return Response::json(200, {{"status", "ok"}}); });
  router.add("GET", "/readyz", Auth::kPublic, [&api](const Request&, const PathParams&, const Principal&) {
    if (api.draining && api.draining()) return Response::json(503, {{"status", "draining"}});
    // The vault fails closed: while audit rows cannot be committed, every audited answer is a 503.
    if (auto ready = api.admin.ready(); !ready) {
      return Response::json(503, {{"status", "unavailable"}, {ready.error().code, ready.error().message}});
    }
    return Response::json(200, {{"status", "ready"}});
  });
  router.add("GET", "/metrics", Auth::kPublic, [&api](const Request&, const PathParams&, const Principal&) {
    return Response::text(200, api.metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  // The page's link is shown to approvers; deciding needs an admin credential in the form.
  router.add("GET", "/approvals/{id}", Auth::kPublic,
             [&api](const Request&, const PathParams& p, const Principal&) { return approval_page(api, p.at("id"), ""); });
  router.add("POST", "/approvals/{id}", Auth::kPublic,
             [&api](const Request& r, const PathParams& p, const Principal&) { return approval_decision(api, r, p.at("id")); });
}

}  // namespace alter::server::api
