// Policy documents of an app: apply, list, show, diff, and the dry run (admin credential).
#include <alter/common/strings.hpp>

#include "api/api.hpp"
#include "api/errors.hpp"
#include "api/input.hpp"
#include "core/time.hpp"
#include "guard/url_guard.hpp"

namespace alter::server::api {
namespace {

using http::Auth;
using http::PathParams;
using http::Principal;
using http::Request;
using http::Response;

Error bad(std::string m) { return make_error(Errc::kInvalidArgument, "invalid_request", std::move(m)); }

const char* effect_name(policy::Effect e) {
  switch (e) {
    case policy::Effect::kAllow: return "allow";
    case policy::Effect::kDeny: return "deny";
    case policy::Effect::kRequireApproval: return "require_approval";
  }
  return "deny";
}

Result<std::int64_t> version_number(const std::string& text) {
  try {
    return text.empty() || text == "latest" ? 0 : std::stoll(text);
  } catch (...) {
    return common::unexpected(bad("a policy version is a number"));
  }
}

std::int64_t rule_count(const PolicyVersion& v) {
  auto c = policy::CompiledPolicy::compile(v.document, v.format);
  return c ? static_cast<std::int64_t>((*c)->rule_count()) : -1;
}

Response apply(Api& api, const Request& req, const std::string& app_id, const Principal& who) {
  auto body = json_object_body(req);
  if (!body) return error_response(body.error());
  if (auto r = no_unknown_fields(*body, {"document", "format"}); !r) return error_response(r.error());
  auto document = string_field(*body, "document", {.required = true, .max_size = 1024 * 1024, .allow_empty = false, .single_line = false});
  if (!document) return error_response(document.error());
  auto format = string_field(*body, "format", {.max_size = 8});
  if (!format) return error_response(format.error());
  auto applied = api.policies.apply(app_id, **document, format->value_or("auto"), {who.admin_id});
  if (!applied) return error_response(applied.error());
  const auto& v = applied->version;
  return Response::json(201, {{"app_id", app_id}, {"version", v.version}, {"format", v.format}, {"rules", applied->rules},
                              {"created_at", iso8601(v.created_at)}});
}

Response test(Api& api, const Request& req, const std::string& app_id) {
  auto body = json_object_body(req);
  if (!body) return error_response(body.error());
  if (auto r = no_unknown_fields(*body, {"actor_type", "actor_id", "actor_name", "provider_id", "method", "url", "user",
                                         "reason", "source_ip", "at"});
      !r) {
    return error_response(r.error());
  }
  policy::PolicyRequest p;
  p.app_id = app_id;
  struct F {
    const char* name;
    std::string* out;
  };
  for (const F& f : {F{"actor_type", &p.actor.type}, F{"actor_id", &p.actor.id}, F{"actor_name", &p.actor.name},
                     F{"provider_id", &p.provider_id}, F{"method", &p.method}, F{"url", &p.url}, F{"reason", &p.reason},
                     F{"source_ip", &p.source_ip}}) {
    auto v = string_field(*body, f.name, {.max_size = 8192});
    if (!v) return error_response(v.error());
    if (*v) *f.out = **v;
  }
  auto user = string_map_field(*body, "user", false);
  if (!user) return error_response(user.error());
  p.user = *user;
  if (p.provider_id.empty() || p.url.empty()) return error_response(bad("provider_id and url are required"));
  if (p.actor.type == "application") p.actor.type.clear();  // a plain application: no actor type
  if (!p.actor.type.empty() && p.actor.type != "ai_agent" && p.actor.type != "mcp_server") {
    return error_response(bad("actor_type must be ai_agent, mcp_server or application"));
  }
  for (char& c : p.method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (p.method.empty()) p.method = "GET";
  // Read as a token request's URL is: normalized by the guard's parser.
  auto u = guard::normalize_url(p.url);
  if (!u) return error_response(bad("url is not usable: " + u.error().message));
  p.url = u->url;
  p.host = u->host;
  p.path = u->policy_path;
  p.now = std::chrono::system_clock::now();
  if (auto at = string_field(*body, "at", {.max_size = 64}); at && *at) {
    auto t = parse_iso8601(**at);
    if (!t) return error_response(bad("at must be an ISO 8601 time"));
    p.now = *t;
  }
  auto d = api.policies.test(p);
  if (!d) return error_response(d.error());
  return Response::json(200, {{"effect", effect_name(d->effect)}, {"rule_id", d->rule_id}, {"policy_error", d->policy_error},
                              {"message", d->message}, {"policy_version", d->policy_version}, {"trace", d->trace}});
}

}  // namespace

void add_policy_routes(http::Router& router, Api& api) {
  router.add("PUT", "/v1/admin/apps/{app}/policy", Auth::kAdmin,
             [&api](const Request& r, const PathParams& p, const Principal& who) { return apply(api, r, p.at("app"), who); });
  router.add("GET", "/v1/admin/apps/{app}/policies", Auth::kAdmin, [&api](const Request&, const PathParams& p, const Principal&) {
    auto rows = api.policies.list(p.at("app"));
    if (!rows) return error_response(rows.error());
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : *rows) {
      out.push_back({{"version", v.version}, {"format", v.format}, {"author", v.author},
                     {"created_at", iso8601(v.created_at)}, {"rules", rule_count(v)}});
    }
    return Response::json(200, {{"app_id", p.at("app")}, {"versions", out}});
  });
  router.add("GET", "/v1/admin/apps/{app}/policies/diff", Auth::kAdmin, [&api](const Request& r, const PathParams& p, const Principal&) {
    auto from = version_number(r.query_param("from"));
    auto to = version_number(r.query_param("to", "latest"));
    if (!from) return error_response(from.error());
    if (!to) return error_response(to.error());
    auto d = api.policies.diff(p.at("app"), *from, *to);
    return d ? Response::json(200, *d) : error_response(d.error());
  });
  router.add("GET", "/v1/admin/apps/{app}/policies/{version}", Auth::kAdmin, [&api](const Request&, const PathParams& p, const Principal&) {
    auto n = version_number(p.at("version"));
    if (!n) return error_response(n.error());
    auto v = api.policies.get(p.at("app"), *n);
    if (!v) return error_response(v.error());
    nlohmann::json out = {{"app_id", p.at("app")}, {"version", v->version}, {"format", v->format}, {"author", v->author},
                          {"created_at", iso8601(v->created_at)}, {"document", v->document}};
    if (auto c = policy::CompiledPolicy::compile(v->document, v->format)) out["rules"] = (*c)->to_json();
    return Response::json(200, out);
  });
  router.add("POST", "/v1/admin/apps/{app}/policy/test", Auth::kAdmin,
             [&api](const Request& r, const PathParams& p, const Principal&) { return test(api, r, p.at("app")); });
}

}  // namespace alter::server::api
