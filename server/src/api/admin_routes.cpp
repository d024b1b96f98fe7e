// The admin API, /v1/admin/...: every route requires an admin credential (declared at
// registration). Each parses its input, calls one domain service and renders the result.
#include <alter/common/secret.hpp>
#include <alter/common/strings.hpp>

#include <algorithm>
#include <limits>

#include "api/api.hpp"
#include "api/errors.hpp"
#include "api/input.hpp"
#include "api/views.hpp"
#include "core/time.hpp"

namespace alter::server::api {

http::Response connect_link(Api& api, const http::Request& req, const std::string& app_id, const nlohmann::json& actor);

namespace {

using http::Auth;
using http::PathParams;
using http::Principal;
using http::Request;
using http::Response;

Error bad(std::string m) { return make_error(Errc::kInvalidArgument, "invalid_request", std::move(m)); }

vault::AdminCaller admin_of(const Principal& who) { return {who.admin_id}; }

template <class T, class F>
Response render(const Result<T>& r, int status, F view) {
  if (!r) return error_response(r.error());
  return Response::json(status, view(*r));
}

// ---- apps ----

Result<std::vector<std::string>> allowlist_field(const nlohmann::json& body) {
  std::vector<std::string> out;
  auto it = body.find("return_url_allowlist");
  if (it == body.end()) return out;
  if (!it->is_array()) return common::unexpected(bad("field 'return_url_allowlist' must be an array of URL prefixes"));
  for (const auto& v : *it) {
    if (!v.is_string() || v.get_ref<const std::string&>().rfind("http", 0) != 0) {
      return common::unexpected(bad("field 'return_url_allowlist' must hold http(s) URL prefixes"));
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

// "settings" of an app body, merged over `base`: only the keys given change.
Result<AppSettings> settings_field(const nlohmann::json& body, const AppSettings& base) {
  auto it = body.find("settings");
  if (it == body.end() || it->is_null()) return base;
  if (!it->is_object()) return common::unexpected(bad("field 'settings' must be an object"));
  nlohmann::json merged = base.to_json();
  for (auto kv = it->begin(); kv != it->end(); ++kv) merged[kv.key()] = kv.value();
  auto parsed = AppSettings::from_json(merged);
  if (!parsed) return common::unexpected(bad("field 'settings': " + parsed.error()));
  return parsed.value();
}

Response create_app(Api& api, const Request& req, const Principal& who) {
  auto body = json_object_body(req);
  if (!body) return error_response(body.error());
  if (auto r = no_unknown_fields(*body, {"id", "name", "return_url_allowlist", "settings"}); !r) return error_response(r.error());
  auto id = string_field(*body, "id", {.required = true, .max_size = 64, .allow_empty = false});
  if (!id) return error_response(id.error());
  if (!valid_slug(**id)) return error_response(bad("field 'id' must match [a-z0-9][a-z0-9_-]{0,63}"));
  auto name = string_field(*body, "name", {.max_size = 200});
  if (!name) return error_response(name.error());
  auto allowlist = allowlist_field(*body);
  if (!allowlist) return error_response(allowlist.error());
  auto settings = settings_field(*body, AppSettings::for_new_app());
  if (!settings) return error_response(settings.error());
  App app{**id, name->value_or(**id), *allowlist, {}, *settings};
  return render(api.admin.create_app(app, admin_of(who)), 201, app_json);
}

Response update_app(Api& api, const Request& req, const std::string& id, const Principal& who) {
  auto body = json_object_body(req);
  if (!body) return error_response(body.error());
  if (auto r = no_unknown_fields(*body, {"name", "return_url_allowlist", "settings"}); !r) return error_response(r.error());
  auto name = string_field(*body, "name", {.max_size = 200});
  if (!name) return error_response(name.error());
  auto allowlist = allowlist_field(*body);
  if (!allowlist) return error_response(allowlist.error());
  const bool has_allowlist = body->contains("return_url_allowlist");
  const nlohmann::json given = *body;
  return render(api.admin.update_app(
                    id,
                    [&](App& app) -> Result<void> {
                      if (*name) app.name = **name;
                      if (has_allowlist) app.return_url_allowlist = *allowlist;
                      auto settings = settings_field(given, app.settings);
                      if (!settings) return common::unexpected(settings.error());
                      app.settings = *settings;
                      return {};
                    },
                    admin_of(who)),
                200, app_json);
}

// ---- API keys and admin credentials ----

Result<nlohmann::json> optional_body(const Request& req) {
  if (req.body.empty()) return nlohmann::json::object();
  return json_object_body(req);
}

Response create_key(Api& api, const Request& req, const std::string& app_id, const Principal& who) {
  auto body = optional_body(req);
  if (!body) return error_response(body.error());
  if (auto r = no_unknown_fields(*body, {"name"}); !r) return error_response(r.error());
  auto name = string_field(*body, "name", {.max_size = 200});
  if (!name) return error_response(name.error());
  auto key = api.admin.create_key(app_id, name->value_or(""), admin_of(who));
  if (!key) return error_response(key.error());
  nlohmann::json out = key_json(key->record);
  out["key"] = key->key;  // shown once; only its hash is stored
  Response r = Response::json(201, out);
  common::secure_wipe(key->key);
  common::secure_wipe(out["key"].get_ref<std::string&>());
  return r;
}

Response create_admin(Api& api, const Request& req, const Principal& who) {
  auto body = optional_body(req);
  if (!body) return error_response(body.error());
  auto name = string_field(*body, "name", {.max_size = 200});
  if (!name) return error_response(name.error());
  auto made = api.admin.create_admin(name->value_or(""), admin_of(who));
  if (!made) return error_response(made.error());
  Response out = Response::json(201, {{"id", made->record.id}, {"name", made->record.name}, {"hint", made->record.hint},
                                      {"token", made->token}});
  common::secure_wipe(made->token);
  return out;
}

// ---- provider credentials and the catalog ----

Response put_credential(Api& api, const Request& req, const std::string& app_id, const std::string& provider_id,
                        const Principal& who) {
  auto body = json_object_body(req);
  if (!body) return error_response(body.error());
  if (auto r = no_unknown_fields(*body, {"client_id", "client_secret", "settings"}); !r) return error_response(r.error());
  auto client_id = string_field(*body, "client_id", {.required = true, .max_size = 512, .allow_empty = false});
  if (!client_id) return error_response(client_id.error());
  auto secret = string_field(*body, "client_secret", {.max_size = 4096});
  if (!secret) return error_response(secret.error());
  auto settings = string_map_field(*body, "settings", false);
  if (!settings) return error_response(settings.error());
  vault::CredentialSpec spec{**client_id, std::nullopt, *settings};
  if (*secret) {
    spec.client_secret = common::SecretString(std::move(**secret));
    if (body->contains("client_secret") && (*body)["client_secret"].is_string()) {
      common::secure_wipe((*body)["client_secret"].get_ref<std::string&>());
    }
  }
  return render(api.admin.put_credential(app_id, provider_id, std::move(spec), admin_of(who)), 200, credential_json);
}

nlohmann::json provider_json(const oauth::ProviderDef& d) {
  auto j = d.to_json();
  j["custom"] = d.custom;
  return j;
}

// ---- connections ----

Response import_connection(Api& api, const Request& req, const std::string& app_id, const Principal& who) {
  auto body = json_object_body(req);
  if (!body) return error_response(body.error());
  if (auto r = no_unknown_fields(*body, {"provider_id", "attributes", "access_token", "refresh_token", "id_token",
                                         "token_type", "expires_at", "expires_in", "scopes", "metadata", "credential"});
      !r) {
    return error_response(r.error());
  }
  vault::ImportSpec spec;
  auto provider_id = string_field(*body, "provider_id", {.required = true, .max_size = 64, .allow_empty = false});
  if (!provider_id) return error_response(provider_id.error());
  spec.provider_id = **provider_id;
  auto attrs = string_map_field(*body, "attributes", true);
  if (!attrs) return error_response(attrs.error());
  spec.attributes = *attrs;
  auto take_secret = [&](const char* key, bool required, common::SecretString& out) -> Result<void> {
    auto v = string_field(*body, key, {.required = required, .max_size = 16384, .allow_empty = !required});
    if (!v) return common::unexpected(v.error());
    if (*v) out = common::SecretString(std::move(**v));
    if (body->contains(key) && (*body)[key].is_string()) common::secure_wipe((*body)[key].get_ref<std::string&>());
    return {};
  };
  // An API key, a password or an AWS key (the provider's catalog entry says which fields).
  if (auto it = body->find("credential"); it != body->end()) {
    if (!it->is_object()) return error_response(bad("field 'credential' must be an object of strings"));
    for (auto& item : it->items()) {
      if (!item.value().is_string()) return error_response(bad("credential field '" + item.key() + "' must be a string"));
      if (item.value().get_ref<const std::string&>().size() > 16384) {
        return error_response(bad("credential field '" + item.key() + "' is longer than 16384 bytes"));
      }
      spec.credential.emplace(item.key(), common::SecretString(item.value().get<std::string>()));
      common::secure_wipe(item.value().get_ref<std::string&>());
    }
  }
  for (auto [key, required, out] : {std::tuple{"access_token", false, &spec.access_token},
                                    std::tuple{"refresh_token", false, &spec.refresh_token},
                                    std::tuple{"id_token", false, &spec.id_token}}) {
    if (auto r = take_secret(key, required, *out); !r) return error_response(r.error());
  }
  auto token_type = string_field(*body, "token_type", {.max_size = 32});
  if (!token_type) return error_response(token_type.error());
  if (*token_type && !common::is_token(**token_type)) return error_response(bad("field 'token_type' is not a valid scheme"));
  spec.token_type = token_type->value_or("Bearer");
  if (common::iequals(spec.token_type, "bearer")) spec.token_type = "Bearer";
  auto expires_at_text = string_field(*body, "expires_at", {.max_size = 64});
  if (!expires_at_text) return error_response(expires_at_text.error());
  if (*expires_at_text) {
    auto t = parse_iso8601(**expires_at_text);
    if (!t) return error_response(bad("field 'expires_at' must be an ISO 8601 time such as 2026-01-01T00:00:00Z"));
    spec.expires_at = *t;
  } else if (auto it = body->find("expires_in"); it != body->end() && !it->is_null()) {
    if (!it->is_number_integer()) return error_response(bad("field 'expires_in' must be an integer (seconds)"));
    spec.expires_at = std::chrono::system_clock::now() + std::chrono::seconds(it->get<std::int64_t>());
  }
  if (auto it = body->find("scopes"); it != body->end() && !it->is_null()) {
    if (!it->is_array()) return error_response(bad("field 'scopes' must be an array of strings"));
    for (const auto& v : *it) {
      if (!v.is_string()) return error_response(bad("field 'scopes' must be an array of strings"));
      spec.scopes.push_back(v.get<std::string>());
    }
  }
  if (auto it = body->find("metadata"); it != body->end() && !it->is_null()) {
    if (!it->is_object()) return error_response(bad("field 'metadata' must be an object"));
    spec.metadata = *it;
  }
  return render(api.connections.import(app_id, std::move(spec), admin_of(who)), 201, connection_json);
}

Response list_connections(Api& api, const Request& req, const std::string& app_id) {
  if (auto app = api.admin.get_app(app_id); !app) return error_response(app.error());
  ConnectionFilter f;
  f.app_id = app_id;
  if (auto p = req.query_param("provider"); !p.empty()) f.provider_id = p;
  if (auto st = req.query_param("status"); !st.empty()) {
    auto status = connection_status_from(st);
    if (!status) return error_response(bad("status must be active or reauth_required"));
    f.status = *status;
  }
  for (const auto& [k, v] : req.query) {
    if (k.rfind("attr.", 0) == 0) f.attributes[k.substr(5)] = v;
  }
  if (auto u = req.query_param("user_id"); !u.empty()) f.attributes["user_id"] = u;
  f.limit = 1000;
  return render(api.connections.list(f), 200, [](const std::vector<Connection>& rows) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& c : rows) out.push_back(connection_json(c));
    return nlohmann::json{{"connections", out}};
  });
}

// ---- audit ----

bool filter_name(std::string_view n) {
  return !n.empty() && n.size() <= 64 && std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

std::string one_of(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : ", ") + v;
  return out;
}

// The audit filters of the query string. Values outside a closed set are refused with the
// allowed ones (an unknown decision never quietly matches nothing).
Result<AuditFilter> audit_filter(const Request& req) {
  AuditFilter f;
  auto opt = [&](const char* name, std::optional<std::string>& out) {
    if (auto v = req.query_param(name); !v.empty()) out = v;
  };
  opt("app", f.app_id);
  opt("provider", f.provider_id);
  opt("decision", f.decision);
  opt("kind", f.kind);
  opt("request_id", f.request_id);
  opt("connection", f.connection_id);
  const auto& decisions = audit::audit_decisions();
  const auto& kinds = audit::audit_kinds();
  if (f.decision && std::find(decisions.begin(), decisions.end(), *f.decision) == decisions.end()) {
    return common::unexpected(bad("decision must be one of: " + one_of(decisions)));
  }
  if (f.kind && std::find(kinds.begin(), kinds.end(), *f.kind) == kinds.end()) {
    return common::unexpected(bad("kind must be one of: " + one_of(kinds)));
  }
  // actor=ID or actor=TYPE:ID (TYPE: ai_agent, mcp_server, application, admin).
  if (auto actor = req.query_param("actor"); !actor.empty()) {
    const auto colon = actor.find(':');
    if (colon != std::string::npos) {
      const std::string type = actor.substr(0, colon);
      static const std::vector<std::string> kTypes = {"ai_agent", "mcp_server", "application", "admin"};
      if (std::find(kTypes.begin(), kTypes.end(), type) == kTypes.end()) {
        return common::unexpected(bad("actor is ID or TYPE:ID with TYPE one of: " + one_of(kTypes)));
      }
      f.content.push_back({{"actor", "type"}, type == "application" ? std::nullopt : std::optional<std::string>(type)});
      if (colon + 1 < actor.size()) f.actor_id = actor.substr(colon + 1);
    } else {
      f.actor_id = actor;
    }
  }
  // user.NAME=VALUE (user=VALUE is user.user_id=VALUE). user_id is indexed; other attributes scan.
  for (const auto& [k, v] : req.query) {
    if (k != "user" && k.rfind("user.", 0) != 0) continue;
    const std::string name = k == "user" ? "user_id" : k.substr(5);
    if (!filter_name(name)) return common::unexpected(bad("user attribute names in filters are letters, digits, '_' and '-'"));
    if (name == "user_id") {
      f.user_id = v;
    } else {
      f.content.push_back({{"user", name}, v});
    }
  }
  for (auto [name, target] : {std::pair{"since", &f.since}, std::pair{"until", &f.until}}) {
    const std::string v = req.query_param(name);
    if (v.empty()) continue;
    if (auto t = parse_iso8601(v)) {
      *target = *t;
    } else if (auto d = parse_duration(v)) {
      *target = std::chrono::system_clock::now() - *d;
    } else {
      return common::unexpected(bad(std::string(name) + " must be an ISO 8601 time or a duration such as 1h"));
    }
  }
  if (auto v = req.query_param("after_seq"); !v.empty()) {
    try {
      f.after_seq = std::stoll(v);
    } catch (...) {
      return common::unexpected(bad("after_seq must be an integer"));
    }
  }
  if (auto v = req.query_param("limit"); !v.empty()) {
    try {
      f.limit = std::min<std::size_t>(std::stoul(v), 10000);
    } catch (...) {
      return common::unexpected(bad("limit must be an integer"));
    }
  }
  return f;
}

Response audit_list(Api& api, const Request& req) {
  auto f = audit_filter(req);
  if (!f) return error_response(f.error());
  auto rows = api.trail.query(*f);
  if (!rows) return error_response(rows.error());
  nlohmann::json events = nlohmann::json::array();
  for (const auto& r : *rows) events.push_back(audit_row_json(r));
  nlohmann::json out = {{"events", events}};
  if (!rows->empty() && rows->size() == f->limit) out["next_after_seq"] = rows->back().seq;
  return Response::json(200, out);
}

Response audit_export(Api& api, const Request& req) {
  auto f = audit_filter(req);
  if (!f) return error_response(f.error());
  std::string out;
  const std::size_t limit = req.query.count("limit") ? f->limit : std::numeric_limits<std::size_t>::max();
  std::size_t emitted = 0;
  f->limit = std::min<std::size_t>(limit, 2000);
  for (;;) {
    auto rows = api.trail.query(*f);
    if (!rows) return error_response(rows.error());
    for (const auto& r : *rows) {
      out += audit_row_json(r).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      out += '\n';
      f->after_seq = r.seq;
      if (++emitted >= limit) break;
    }
    if (rows->size() < f->limit || emitted >= limit) break;
  }
  return Response::text(200, std::move(out), "application/x-ndjson");
}

// Drops the payloads (headers, bodies) of matching call rows; the rows and the chain stay.
Response audit_purge(Api& api, const Request& req, const Principal& who) {
  auto body = json_object_body(req);
  if (!body) return error_response(body.error());
  if (auto r = no_unknown_fields(*body, {"until", "user", "provider", "app", "all"}); !r) return error_response(r.error());
  // The body's fields, read as the list filters are.
  Request as_query;
  for (const char* key : {"until", "provider", "app"}) {
    auto v = string_field(*body, key, {.max_size = 256});
    if (!v) return error_response(v.error());
    if (*v) as_query.query[key] = **v;
  }
  auto user = string_map_field(*body, "user", false);
  if (!user) return error_response(user.error());
  for (const auto& [k, v] : *user) as_query.query["user." + k] = v;
  const bool all = body->value("all", false);
  if (as_query.query.empty() && !all) return error_response(bad("give until, user or provider (or all: true to purge every payload)"));
  auto f = audit_filter(as_query);
  if (!f) return error_response(f.error());
  nlohmann::json said = nlohmann::json::object();
  for (const auto& [k, v] : as_query.query) said[k] = v;
  auto purged = api.trail.purge(*f, said, admin_of(who));
  if (!purged) return error_response(purged.error());
  return Response::json(200, {{"purged", *purged}});
}

Response audit_verify(Api& api) {
  auto report = api.trail.verify();
  if (!report) return error_response(report.error());
  nlohmann::json out = {{"ok", report->ok},
                        {"rows_checked", report->rows_checked},
                        {"head_seq", report->head_seq},
                        {"head_hash", report->head_hash},
                        {"payloads_checked", report->payloads_checked},
                        {"payloads_purged", report->payloads_purged}};
  if (!report->ok) {
    out["first_bad_seq"] = report->first_bad_seq;
    out["problem"] = report->problem;
  }
  return Response::json(200, out);
}

// What the console's overview shows: counts, the audit chain's head and its latest verification
// on this instance, and readiness.
Response overview(Api& api) {
  auto s = api.admin.stats();
  if (!s) return error_response(s.error());
  auto apps = api.admin.list_apps();
  if (!apps) return error_response(apps.error());
  std::int64_t pending = 0;
  for (const auto& app : *apps) {
    auto rows = api.approvals.list(app.id, ApprovalStatus::kPending);
    if (!rows) return error_response(rows.error());
    pending += static_cast<std::int64_t>(rows->size());
  }
  nlohmann::json connections = {{"active", 0}, {"reauth_required", 0}};
  for (const auto& [status, n] : s->connections_by_status) connections[status] = n;
  auto count = [&](const char* table) { return s->tables.count(table) ? s->tables.at(table) : 0; };
  nlohmann::json out = {{"apps", static_cast<std::int64_t>(apps->size())},
                        {"connections", connections},
                        {"approvals_pending", pending},
                        {"audit_rows", count("audit_events")},
                        {"audit_head", {{"seq", s->audit_head_seq}, {"hash", s->audit_head_hash}}},
                        {"last_verify", nullptr}};
  if (auto v = api.trail.last_verify()) {
    out["last_verify"] = {{"at", iso8601(v->at)}, {"ok", v->report.ok}, {"rows_checked", v->report.rows_checked},
                          {"head_seq", v->report.head_seq}};
    if (!v->report.ok) out["last_verify"]["problem"] = v->report.problem;
  }
  if (api.draining && api.draining()) {
    out["health"] = {{"status", "draining"}};
  } else if (auto ready = api.admin.ready(); !ready) {
    out["health"] = {{"status", "unavailable"}, {"message", ready.error().message}};
  } else {
    out["health"] = {{"status", "ready"}};
  }
  return Response::json(200, out);
}

template <class F>
http::Handler admin_route(F f) {
  return [f](const Request& r, const PathParams& p, const Principal& who) { return f(r, p, who); };
}

}  // namespace

void add_admin_routes(http::Router& router, Api& api) {
  auto add = [&router](const char* method, const char* path, auto f) { router.add(method, path, Auth::kAdmin, admin_route(f)); };

  add("GET", "/v1/admin/apps", [&api](const Request&, const PathParams&, const Principal&) {
    return render(api.admin.list_apps(), 200, [](const std::vector<App>& apps) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& a : apps) out.push_back(app_json(a));
      return nlohmann::json{{"apps", out}};
    });
  });
  add("POST", "/v1/admin/apps", [&api](const Request& r, const PathParams&, const Principal& who) { return create_app(api, r, who); });
  add("GET", "/v1/admin/apps/{app}",
      [&api](const Request&, const PathParams& p, const Principal&) { return render(api.admin.get_app(p.at("app")), 200, app_json); });
  add("PATCH", "/v1/admin/apps/{app}",
      [&api](const Request& r, const PathParams& p, const Principal& who) { return update_app(api, r, p.at("app"), who); });

  add("POST", "/v1/admin/apps/{app}/keys",
      [&api](const Request& r, const PathParams& p, const Principal& who) { return create_key(api, r, p.at("app"), who); });
  add("GET", "/v1/admin/apps/{app}/keys", [&api](const Request&, const PathParams& p, const Principal&) {
    return render(api.admin.list_keys(p.at("app")), 200, [](const std::vector<ApiKeyRecord>& keys) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& k : keys) out.push_back(key_json(k));
      return nlohmann::json{{"keys", out}};
    });
  });
  auto revoke_key = [&api](const Request&, const PathParams& p, const Principal& who) {
    return render(api.admin.revoke_key(p.at("id"), admin_of(who)), 200, [](const ApiKeyRecord& k) {
      return nlohmann::json{{"id", k.id}, {"revoked", true}, {"revoked_at", iso8601(*k.revoked_at)}};
    });
  };
  add("POST", "/v1/admin/keys/{id}/revoke", revoke_key);
  add("DELETE", "/v1/admin/keys/{id}", revoke_key);

  add("GET", "/v1/admin/apps/{app}/providers", [&api](const Request&, const PathParams& p, const Principal&) {
    return render(api.admin.list_credentials(p.at("app")), 200, [](const std::vector<ProviderCredential>& creds) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& c : creds) out.push_back(credential_json(c));
      return nlohmann::json{{"providers", out}};
    });
  });
  add("PUT", "/v1/admin/apps/{app}/providers/{provider}", [&api](const Request& r, const PathParams& p, const Principal& who) {
    return put_credential(api, r, p.at("app"), p.at("provider"), who);
  });
  add("DELETE", "/v1/admin/apps/{app}/providers/{provider}", [&api](const Request&, const PathParams& p, const Principal& who) {
    auto r = api.admin.delete_credential(p.at("app"), p.at("provider"), admin_of(who));
    return r ? Response::json(200, {{"deleted", true}}) : error_response(r.error());
  });
  add("GET", "/v1/admin/providers", [&api](const Request&, const PathParams&, const Principal&) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& d : api.catalog->all()) {
      if (!d->dev_only || api.config.dev_mode) out.push_back(provider_json(*d));
    }
    return Response::json(200, {{"providers", out}});
  });
  add("GET", "/v1/admin/providers/{id}", [&api](const Request&, const PathParams& p, const Principal&) {
    auto d = api.catalog->get(p.at("id"));
    if (!d || (d->dev_only && !api.config.dev_mode)) return error_response(make_error(Errc::kNotFound, "not_found", "unknown provider"));
    return Response::json(200, provider_json(*d));
  });
  add("POST", "/v1/admin/providers", [&api](const Request& r, const PathParams&, const Principal& who) {
    auto body = json_object_body(r);
    if (!body) return error_response(body.error());
    return render(api.admin.add_provider(*body, admin_of(who)), 201, provider_json);
  });
  add("DELETE", "/v1/admin/providers/{id}", [&api](const Request&, const PathParams& p, const Principal& who) {
    auto r = api.admin.remove_provider(p.at("id"), admin_of(who));
    return r ? Response::json(200, {{"deleted", true}}) : error_response(r.error());
  });

  add("GET", "/v1/admin/apps/{app}/connections",
      [&api](const Request& r, const PathParams& p, const Principal&) { return list_connections(api, r, p.at("app")); });
  add("POST", "/v1/admin/apps/{app}/connections",
      [&api](const Request& r, const PathParams& p, const Principal& who) { return import_connection(api, r, p.at("app"), who); });
  add("GET", "/v1/admin/connections/{id}",
      [&api](const Request&, const PathParams& p, const Principal&) { return render(api.connections.get(p.at("id")), 200, connection_json); });
  add("DELETE", "/v1/admin/connections/{id}", [&api](const Request&, const PathParams& p, const Principal& who) {
    return render(api.connections.remove(p.at("id"), admin_of(who)), 200, [&](const vault::Revocation& rev) {
      nlohmann::json r = {{"attempted", rev.attempted}};
      if (rev.attempted) r["ok"] = rev.ok;
      if (!rev.error.empty()) r["error"] = rev.error;
      return nlohmann::json{{"id", p.at("id")}, {"deleted", true}, {"revocation", r}};
    });
  });
  add("POST", "/v1/admin/connections/{id}/refresh", [&api](const Request&, const PathParams& p, const Principal&) {
    auto r = api.connections.refresh(p.at("id"));
    if (!r) return error_response(r.error(), {{"connection_id", p.at("id")}});
    return Response::json(200, connection_json(*r));
  });
  add("POST", "/v1/admin/apps/{app}/connect-sessions", [&api](const Request& r, const PathParams& p, const Principal& who) {
    return connect_link(api, r, p.at("app"), {{"type", "admin"}, {"id", who.admin_id}});
  });

  add("GET", "/v1/admin/audit", [&api](const Request& r, const PathParams&, const Principal&) { return audit_list(api, r); });
  add("GET", "/v1/admin/audit/export", [&api](const Request& r, const PathParams&, const Principal&) { return audit_export(api, r); });
  add("POST", "/v1/admin/audit/purge", [&api](const Request& r, const PathParams&, const Principal& who) { return audit_purge(api, r, who); });
  add("GET", "/v1/admin/audit/verify", [&api](const Request&, const PathParams&, const Principal&) { return audit_verify(api); });

  add("GET", "/v1/admin/stats", [&api](const Request&, const PathParams&, const Principal&) {
    auto s = api.admin.stats();
    if (!s) return error_response(s.error());
    return Response::json(200, {{"tables", s->tables}, {"audit_head_seq", s->audit_head_seq}});
  });
  add("GET", "/v1/admin/overview", [&api](const Request&, const PathParams&, const Principal&) { return overview(api); });
  add("POST", "/v1/admin/keyring/rotate", [&api](const Request&, const PathParams&, const Principal& who) {
    auto r = api.rotation.start(admin_of(who));
    return r ? Response::json(202, *r) : error_response(r.error());
  });
  add("GET", "/v1/admin/keyring", [&api](const Request&, const PathParams&, const Principal&) {
    return Response::json(200, api.rotation.status());
  });

  add("GET", "/v1/admin/apps/{app}/approvals", [&api](const Request& r, const PathParams& p, const Principal&) {
    std::optional<ApprovalStatus> status;
    if (auto st = r.query_param("status"); !st.empty()) {
      status = approval_status_from(st);
      if (!status) return error_response(bad("status must be pending, approved, denied, expired or used"));
    }
    auto rows = api.approvals.list(p.at("app"), status);
    if (!rows) return error_response(rows.error());
    nlohmann::json out = nlohmann::json::array();
    for (const auto& a : *rows) out.push_back(approval_json(a, api.approvals.url_for(a.id)));
    return Response::json(200, {{"approvals", out}});
  });
  add("GET", "/v1/admin/approvals/{id}", [&api](const Request&, const PathParams& p, const Principal&) {
    auto a = api.approvals.get(p.at("id"));
    return a ? Response::json(200, approval_json(*a, api.approvals.url_for(a->id))) : error_response(a.error());
  });
  for (const auto& [verb, approve] : {std::pair{"approve", true}, std::pair{"deny", false}}) {
    router.add("POST", std::string("/v1/admin/approvals/{id}/") + verb, Auth::kAdmin,
               [&api, approve = approve](const Request&, const PathParams& p, const Principal& who) {
                 auto a = api.approvals.decide("", p.at("id"), approve, who.admin_id);
                 return a ? Response::json(200, approval_json(*a, api.approvals.url_for(a->id))) : error_response(a.error());
               });
  }

  add("POST", "/v1/admin/credentials", [&api](const Request& r, const PathParams&, const Principal& who) { return create_admin(api, r, who); });
  add("GET", "/v1/admin/credentials", [&api](const Request&, const PathParams&, const Principal&) {
    return render(api.admin.list_admins(), 200, [](const std::vector<AdminCredential>& rows) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& c : rows) out.push_back(admin_credential_json(c));
      return nlohmann::json{{"credentials", out}};
    });
  });
  add("POST", "/v1/admin/credentials/{id}/revoke", [&api](const Request&, const PathParams& p, const Principal& who) {
    auto r = api.admin.revoke_admin(p.at("id"), admin_of(who));
    return r ? Response::json(200, {{"id", p.at("id")}, {"revoked", true}}) : error_response(r.error());
  });
}

}  // namespace alter::server::api
