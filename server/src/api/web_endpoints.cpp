#include "api/web_endpoints.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/parse_query.hpp>

#include "api/approvals.hpp"
#include "api/pages.hpp"
#include "core/time.hpp"
#include "crypto/crypto.hpp"

namespace alter::server::api {
namespace {

using http::PathParams;
using http::Request;
using http::Response;

std::string row(const std::string& name, const std::string& value) {
  return "<tr><th>" + http::html_escape(name) + "</th><td>" + http::html_escape(value) + "</td></tr>";
}

Response approval_page(Services& s, const std::string& id, const std::string& notice) {
  auto a = s.store.get_approval(id);
  if (!a) return page(404, "No such approval", para("This approval does not exist."));
  Approval v = *a;
  if (v.status == ApprovalStatus::kPending && v.expires_at <= s.clock.wall()) v.status = ApprovalStatus::kExpired;
  const auto& r = v.request;
  auto text = [&](const char* key) { return r.contains(key) && r[key].is_string() ? r[key].get<std::string>() : std::string(); };
  std::string actor = r.contains("actor") ? r["actor"].value("id", "") : "";
  if (r.contains("actor") && !r["actor"].value("name", "").empty()) actor += " (" + r["actor"].value("name", "") + ")";
  std::string body = notice.empty() ? "" : "<p id=\"notice\"><strong>" + http::html_escape(notice) + "</strong></p>";
  body += "<table>" + row("Status", std::string(to_string(v.status))) + row("Agent", actor) +
          row("User", r.contains("user") ? r["user"].dump() : "{}") + row("Provider", text("provider_id")) +
          row("Request", text("method") + " " + text("url")) + row("Reason", text("reason")) +
          row("Rule", v.rule_id) + row("Expires", iso8601(v.expires_at)) + "</table>";
  if (v.status == ApprovalStatus::kPending) {
    body += "<form method=\"post\" action=\"/approvals/" + http::html_escape(v.id) + "\">"
            "<p><label>Admin credential <input type=\"password\" name=\"token\" autocomplete=\"off\" required></label></p>"
            "<p><button name=\"decision\" value=\"approve\" id=\"approve\">Approve</button>"
            "<button name=\"decision\" value=\"deny\" id=\"deny\">Deny</button></p></form>";
  }
  return page(200, "Approval " + v.id, body);
}

Response approval_decision(Services& s, const Request& req, const std::string& id) {
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
  if (decision != "approve" && decision != "deny") return approval_page(s, id, "Choose approve or deny.");
  Request as_admin = req;
  as_admin.headers.emplace("Authorization", "Bearer " + token);
  auto who = authenticate_admin(s, as_admin);
  common::secure_wipe(token);
  if (!who) return approval_page(s, id, "That admin credential is not valid.");
  auto r = s.approvals->decide("", id, decision == "approve", "admin:" + *who);
  if (!r) return approval_page(s, id, r.error().message);
  return approval_page(s, id, decision == "approve" ? "Approved." : "Denied.");
}

}  // namespace

void add_web_routes(http::Router& router, Services& s, std::function<bool()> draining) {
  router.add("GET", "/healthz", [](const Request&, const PathParams&) { return Response::json(200, {{"status", "ok"}}); });
  router.add("GET", "/readyz", [&s, draining](const Request&, const PathParams&) {
    if (draining && draining()) return Response::json(503, {{"status", "draining"}});
    if (auto writable = s.store.check_writable(); !writable) {
      return Response::json(503, {{"status", "unavailable"}, {"store", writable.error().message}});
    }
    // The vault fails closed: while audit rows cannot be committed, every audited answer is a 503.
    if (s.audit.failing(std::chrono::seconds(30))) {
      return Response::json(503, {{"status", "unavailable"}, {"audit", "the audit trail could not be written lately"}});
    }
    return Response::json(200, {{"status", "ready"}});
  });
  router.add("GET", "/metrics", [&s](const Request&, const PathParams&) {
    return Response::text(200, s.metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  router.add("GET", "/approvals/{id}", [&s](const Request&, const PathParams& p) { return approval_page(s, p.at("id"), ""); });
  router.add("POST", "/approvals/{id}", [&s](const Request& r, const PathParams& p) { return approval_decision(s, r, p.at("id")); });
}

}  // namespace alter::server::api
