#include "api/policy_endpoints.hpp"

#include <alter/common/strings.hpp>

#include "api/input.hpp"
#include "vault/url_guard.hpp"
#include "core/time.hpp"
#include "policy/engine.hpp"

namespace alter::server::api {
namespace {

using http::PathParams;
using http::Request;
using http::Response;

Error bad(std::string m) { return make_error(Errc::kInvalidArgument, "invalid_request", std::move(m)); }

// Admin only, and the app must exist.
template <class F>
http::Handler admin(Services& s, F f) {
  return admin_only(s, [&s, f](const Request& req, const PathParams& params, const std::string& who) -> Response {
    if (!s.store.get_app(params.at("app"))) return error_response(make_error(Errc::kNotFound, "not_found", "no app '" + params.at("app") + "'"));
    return f(req, params, who);
  });
}

Result<std::shared_ptr<const policy::CompiledPolicy>> compile(const PolicyVersion& v) {
  return policy::CompiledPolicy::compile(v.document, v.format);
}

const char* effect_name(policy::Effect e) {
  switch (e) {
    case policy::Effect::kAllow: return "allow";
    case policy::Effect::kDeny: return "deny";
    case policy::Effect::kRequireApproval: return "require_approval";
  }
  return "deny";
}

Response apply(Services& s, const Request& req, const std::string& app_id, const std::string& by) {
  auto body = json_object_body(req);
  if (!body) return error_response(body.error());
  if (auto r = no_unknown_fields(*body, {"document", "format"}); !r) return error_response(r.error());
  auto document = string_field(*body, "document", {.required = true, .max_size = 1024 * 1024, .allow_empty = false, .single_line = false});
  if (!document) return error_response(document.error());
  auto format = string_field(*body, "format", {.max_size = 8});
  if (!format) return error_response(format.error());
  std::string fmt = format->value_or("auto");
  if (fmt != "toml" && fmt != "json" && fmt != "auto") return error_response(bad("format must be toml, json or auto"));
  if (fmt == "auto") {
    const auto first = (*document)->find_first_not_of(" \t\r\n");
    fmt = (first != std::string::npos && (**document)[first] == '{') ? "json" : "toml";
  }
  auto compiled = policy::CompiledPolicy::compile(**document, fmt);
  if (!compiled) {
    Error e = compiled.error();
    e.errc = Errc::kInvalidArgument;
    e.code = "invalid_policy";
    return error_response(e);
  }
  PolicyVersion v;
  v.app_id = app_id;
  v.document = **document;
  v.format = fmt;
  v.author = by;
  v.created_at = s.clock.wall();
  auto stored = s.store.put_policy(v);
  if (!stored) return error_response(store_error(stored.error()));
  s.policy_changed(app_id);
  (void)s.audit.write(audit::make_record({{"kind", "admin"}, {"app_id", app_id}, {"decision", "policy_applied"},
                                          {"actor", {{"type", "admin"}, {"id", by}}},
                                          {"details", {{"version", stored->version}, {"rules", (*compiled)->rule_count()}}}},
                                         s.clock.wall()));
  return Response::json(201, {{"app_id", app_id}, {"version", stored->version}, {"format", fmt},
                              {"rules", (*compiled)->rule_count()}, {"created_at", iso8601(stored->created_at)}});
}

Response list(Services& s, const std::string& app_id) {
  auto rows = s.store.list_policies(app_id);
  if (!rows) return error_response(store_error(rows.error()));
  nlohmann::json out = nlohmann::json::array();
  for (const auto& v : *rows) {
    auto c = compile(v);
    out.push_back({{"version", v.version}, {"format", v.format}, {"author", v.author},
                   {"created_at", iso8601(v.created_at)}, {"rules", c ? static_cast<std::int64_t>((*c)->rule_count()) : -1}});
  }
  return Response::json(200, {{"app_id", app_id}, {"versions", out}});
}

Result<PolicyVersion> version_of(Services& s, const std::string& app_id, const std::string& text) {
  std::int64_t n = 0;
  try {
    n = text.empty() || text == "latest" ? 0 : std::stoll(text);
  } catch (...) {
    return common::unexpected(bad("a policy version is a number"));
  }
  auto v = s.store.get_policy(app_id, n);
  if (!v) {
    return common::unexpected(v.error().code == StoreErrc::kNotFound ? make_error(Errc::kNotFound, "not_found", "no such policy version")
                                                                     : store_error(v.error()));
  }
  return v.value();
}

Response show(Services& s, const std::string& app_id, const std::string& version) {
  auto v = version_of(s, app_id, version);
  if (!v) return error_response(v.error());
  auto c = compile(*v);
  nlohmann::json out = {{"app_id", app_id}, {"version", v->version}, {"format", v->format}, {"author", v->author},
                        {"created_at", iso8601(v->created_at)}, {"document", v->document}};
  if (c) out["rules"] = (*c)->to_json();
  return Response::json(200, out);
}

Response diff(Services& s, const Request& req, const std::string& app_id) {
  auto from = version_of(s, app_id, req.query_param("from"));
  if (!from) return error_response(from.error());
  auto to = version_of(s, app_id, req.query_param("to", "latest"));
  if (!to) return error_response(to.error());
  auto a = compile(*from);
  auto b = compile(*to);
  if (!a || !b) return error_response(make_error(Errc::kInternal, "invalid_policy", "a stored version no longer compiles"));
  return Response::json(200, {{"from", from->version}, {"to", to->version}, {"diff", policy::diff(**a, **b)}});
}

Response test(Services& s, const Request& req, const std::string& app_id) {
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
  auto u = vault::normalize_url(p.url);
  if (!u) return error_response(bad("url is not usable: " + u.error().message));
  p.url = u->url;
  p.host = u->host;
  p.path = u->policy_path;
  p.now = s.clock.wall();
  if (auto at = string_field(*body, "at", {.max_size = 64}); at && *at) {
    auto t = parse_iso8601(**at);
    if (!t) return error_response(bad("at must be an ISO 8601 time"));
    p.now = *t;
  }
  auto d = s.explain(p);
  if (!d) return error_response(d.error());
  return Response::json(200, {{"effect", effect_name(d->effect)}, {"rule_id", d->rule_id},
                              {"policy_error", d->policy_error}, {"message", d->message},
                              {"policy_version", d->policy_version}, {"trace", d->trace}});
}

}  // namespace

void add_policy_routes(http::Router& router, Services& s) {
  router.add("PUT", "/v1/admin/apps/{app}/policy", admin(s, [&s](const Request& r, const PathParams& p, const std::string& by) {
               return apply(s, r, p.at("app"), by);
             }));
  router.add("GET", "/v1/admin/apps/{app}/policies", admin(s, [&s](const Request&, const PathParams& p, const std::string&) {
               return list(s, p.at("app"));
             }));
  router.add("GET", "/v1/admin/apps/{app}/policies/diff", admin(s, [&s](const Request& r, const PathParams& p, const std::string&) {
               return diff(s, r, p.at("app"));
             }));
  router.add("GET", "/v1/admin/apps/{app}/policies/{version}",
             admin(s, [&s](const Request&, const PathParams& p, const std::string&) { return show(s, p.at("app"), p.at("version")); }));
  router.add("POST", "/v1/admin/apps/{app}/policy/test", admin(s, [&s](const Request& r, const PathParams& p, const std::string&) {
               return test(s, r, p.at("app"));
             }));
}

}  // namespace alter::server::api
