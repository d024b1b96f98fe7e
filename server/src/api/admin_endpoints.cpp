#include "api/admin_endpoints.hpp"

#include <alter/common/strings.hpp>

#include <algorithm>
#include <limits>
#include <regex>

#include "api/approvals.hpp"
#include "api/cache.hpp"
#include "api/input.hpp"
#include "core/time.hpp"
#include "crypto/crypto.hpp"

namespace alter::server::api {
namespace {

using http::PathParams;
using http::Request;
using http::Response;

Error bad(std::string m) { return make_error(Errc::kInvalidArgument, "invalid_request", std::move(m)); }

// A write that changes which connections or keys exist: drop cached lookups here, and tell the
// other instances (they clear theirs at their next request).
void connections_changed(Services& s) {
  if (s.cache != nullptr) s.cache->connections_changed();
  (void)s.store.bump_change_version();
}
void api_keys_changed(Services& s) {
  if (s.cache != nullptr) s.cache->api_keys_changed();
  (void)s.store.bump_change_version();
}

nlohmann::json app_json(const App& a) {
  return {{"id", a.id}, {"name", a.name}, {"return_url_allowlist", a.return_url_allowlist},
          {"created_at", iso8601(a.created_at)}, {"settings", a.settings.to_json()}};
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

nlohmann::json key_json(const ApiKeyRecord& k) {
  nlohmann::json j = {{"id", k.id}, {"app_id", k.app_id}, {"name", k.name}, {"hint", k.hint},
                      {"created_at", iso8601(k.created_at)}, {"revoked", k.revoked_at.has_value()}};
  if (k.revoked_at) j["revoked_at"] = iso8601(*k.revoked_at);
  return j;
}

nlohmann::json credential_json(const ProviderCredential& c) {
  return {{"app_id", c.app_id}, {"provider_id", c.provider_id}, {"client_id", c.client_id},
          {"has_client_secret", !c.client_secret.bytes.empty()}, {"settings", c.settings},
          {"updated_at", iso8601(c.updated_at)}};
}

void admin_audit(Services& s, const std::string& app_id, const std::string& action, const std::string& by,
                 nlohmann::json details) {
  (void)s.audit.write(audit::make_record(
      {{"kind", "admin"}, {"app_id", app_id}, {"decision", action}, {"actor", {{"type", "admin"}, {"id", by}}},
       {"details", std::move(details)}},
      s.clock.wall()));
}

Result<App> existing_app(Services& s, const std::string& id) {
  auto app = s.store.get_app(id);
  if (!app) {
    if (app.error().code == StoreErrc::kNotFound) return common::unexpected(make_error(Errc::kNotFound, "not_found", "no app '" + id + "'"));
    return common::unexpected(store_error(app.error()));
  }
  return app.value();
}

template <class F>
http::Handler admin(Services& s, F f) {
  return admin_only(s, f);
}

// ---- apps ----

Response create_app(Services& s, const Request& req, const std::string& by) {
  auto body = json_object_body(req);
  if (!body) return error_response(body.error());
  if (auto r = no_unknown_fields(*body, {"id", "name", "return_url_allowlist", "settings"}); !r) return error_response(r.error());
  auto id = string_field(*body, "id", {.required = true, .max_size = 64, .allow_empty = false});
  if (!id) return error_response(id.error());
  if (!valid_slug(**id)) return error_response(bad("field 'id' must match [a-z0-9][a-z0-9_-]{0,63}"));
  auto name = string_field(*body, "name", {.max_size = 200});
  if (!name) return error_response(name.error());
  App app;
  app.id = **id;
  app.name = name->value_or(app.id);
  if (auto it = body->find("return_url_allowlist"); it != body->end()) {
    if (!it->is_array()) return error_response(bad("field 'return_url_allowlist' must be an array of URL prefixes"));
    for (const auto& v : *it) {
      if (!v.is_string() || v.get_ref<const std::string&>().rfind("http", 0) != 0) {
        return error_response(bad("field 'return_url_allowlist' must hold http(s) URL prefixes"));
      }
      app.return_url_allowlist.push_back(v.get<std::string>());
    }
  }
  auto settings = settings_field(*body, AppSettings{});
  if (!settings) return error_response(settings.error());
  app.settings = *settings;
  app.created_at = s.clock.wall();
  if (auto r = s.store.create_app(app); !r) {
    if (r.error().code == StoreErrc::kConflict) return error_response(make_error(Errc::kConflict, "conflict", "app '" + app.id + "' exists"));
    return error_response(store_error(r.error()));
  }
  admin_audit(s, app.id, "app_created", by, {{"app", app.id}});
  return Response::json(201, app_json(app));
}

Response update_app(Services& s, const Request& req, const std::string& id, const std::string& by) {
  auto app = existing_app(s, id);
  if (!app) return error_response(app.error());
  auto body = json_object_body(req);
  if (!body) return error_response(body.error());
  if (auto r = no_unknown_fields(*body, {"name", "return_url_allowlist", "settings"}); !r) return error_response(r.error());
  auto name = string_field(*body, "name", {.max_size = 200});
  if (!name) return error_response(name.error());
  if (*name) app->name = **name;
  if (auto it = body->find("return_url_allowlist"); it != body->end()) {
    if (!it->is_array()) return error_response(bad("field 'return_url_allowlist' must be an array"));
    app->return_url_allowlist.clear();
    for (const auto& v : *it) {
      if (!v.is_string() || v.get_ref<const std::string&>().rfind("http", 0) != 0) {
        return error_response(bad("field 'return_url_allowlist' must hold http(s) URL prefixes"));
      }
      app->return_url_allowlist.push_back(v.get<std::string>());
    }
  }
  auto settings = settings_field(*body, app->settings);
  if (!settings) return error_response(settings.error());
  app->settings = *settings;
  if (auto r = s.store.update_app(*app); !r) return error_response(store_error(r.error()));
  if (s.cache != nullptr) s.cache->apps_changed();
  (void)s.store.bump_change_version();
  admin_audit(s, id, "app_updated", by, {{"app", id}, {"settings", app->settings.to_json()}});
  return Response::json(200, app_json(*app));
}

// ---- API keys ----

Response create_key(Services& s, const Request& req, const std::string& app_id, const std::string& by) {
  auto app = existing_app(s, app_id);
  if (!app) return error_response(app.error());
  nlohmann::json body = nlohmann::json::object();
  if (!req.body.empty()) {
    auto parsed = json_object_body(req);
    if (!parsed) return error_response(parsed.error());
    body = std::move(*parsed);
  }
  if (auto r = no_unknown_fields(body, {"name"}); !r) return error_response(r.error());
  auto name = string_field(body, "name", {.max_size = 200});
  if (!name) return error_response(name.error());
  NewSecret key = new_api_key();
  ApiKeyRecord rec;
  rec.id = crypto::new_uuid();
  rec.app_id = app_id;
  rec.name = name->value_or("");
  rec.hint = key.hint;
  rec.hash = key.hash;
  rec.created_at = s.clock.wall();
  if (auto r = s.store.create_api_key(rec); !r) return error_response(store_error(r.error()));
  admin_audit(s, app_id, "api_key_created", by, {{"key_id", rec.id}, {"hint", rec.hint}});
  nlohmann::json out = key_json(rec);
  out["key"] = key.value;  // shown once; only its hash is stored
  Response r = Response::json(201, out);
  common::secure_wipe(key.value);
  common::secure_wipe(out["key"].get_ref<std::string&>());
  return r;
}

Response revoke_key(Services& s, const std::string& id, const std::string& by) {
  const TimePoint now = s.clock.wall();
  if (auto r = s.store.revoke_api_key(id, now); !r) {
    if (r.error().code == StoreErrc::kNotFound) return error_response(make_error(Errc::kNotFound, "not_found", "no such API key"));
    return error_response(store_error(r.error()));
  }
  api_keys_changed(s);
  admin_audit(s, "", "api_key_revoked", by, {{"key_id", id}});
  return Response::json(200, {{"id", id}, {"revoked", true}, {"revoked_at", iso8601(now)}});
}

// ---- provider credentials and the catalog ----

Response put_credential(Services& s, const Request& req, const std::string& app_id, const std::string& provider_id,
                        const std::string& by) {
  auto app = existing_app(s, app_id);
  if (!app) return error_response(app.error());
  auto provider = s.catalog->get(provider_id);
  if (!provider) return error_response(make_error(Errc::kNotFound, "not_found", "unknown provider '" + provider_id + "'"));
  auto body = json_object_body(req);
  if (!body) return error_response(body.error());
  if (auto r = no_unknown_fields(*body, {"client_id", "client_secret", "settings"}); !r) return error_response(r.error());
  auto client_id = string_field(*body, "client_id", {.required = true, .max_size = 512, .allow_empty = false});
  if (!client_id) return error_response(client_id.error());
  auto secret = string_field(*body, "client_secret", {.max_size = 4096});
  if (!secret) return error_response(secret.error());
  auto settings = string_map_field(*body, "settings", false);
  if (!settings) return error_response(settings.error());
  for (const auto& [k, v] : *settings) {
    auto var = provider->variables.find(k);
    if (var == provider->variables.end() || var->second.scope != "credential") {
      return error_response(bad("setting '" + k + "' is not a credential variable of " + provider_id));
    }
    if (!var->second.pattern.empty() && !std::regex_match(v, std::regex(var->second.pattern))) {
      return error_response(bad("setting '" + k + "' does not match " + var->second.pattern));
    }
  }
  ProviderCredential c;
  c.app_id = app_id;
  c.provider_id = provider_id;
  c.client_id = **client_id;
  if (*secret && !(*secret)->empty()) {
    c.client_secret = s.keyring->seal(**secret, oauth::provider_secret_aad(app_id, provider_id));
    common::secure_wipe(**secret);
  }
  c.settings = *settings;
  c.updated_at = s.clock.wall();
  if (auto r = s.store.put_provider_credential(c); !r) return error_response(store_error(r.error()));
  admin_audit(s, app_id, "provider_credential_set", by, {{"provider_id", provider_id}, {"client_id", c.client_id}});
  return Response::json(200, credential_json(c));
}

Response add_custom_provider(Services& s, const Request& req, const std::string& by) {
  auto body = json_object_body(req);
  if (!body) return error_response(body.error());
  auto def = oauth::parse_provider(*body);
  if (!def) return error_response(def.error());
  if (auto existing = s.catalog->get(def->id); existing && !existing->custom) {
    return error_response(make_error(Errc::kConflict, "conflict", "'" + def->id + "' is a built-in provider"));
  }
  def->custom = true;
  CustomProvider cp{def->id, def->to_json().dump(), s.clock.wall()};
  if (auto r = s.store.put_custom_provider(cp); !r) return error_response(store_error(r.error()));
  s.catalog->put(*def);
  (void)s.store.bump_change_version();
  admin_audit(s, "", "provider_added", by, {{"provider_id", def->id}});
  auto out = def->to_json();
  out["custom"] = true;
  return Response::json(201, out);
}

// ---- connections ----

Response import_connection(Services& s, const Request& req, const std::string& app_id, const std::string& by) {
  auto app = existing_app(s, app_id);
  if (!app) return error_response(app.error());
  auto body = json_object_body(req);
  if (!body) return error_response(body.error());
  if (auto r = no_unknown_fields(*body, {"provider_id", "attributes", "access_token", "refresh_token", "id_token",
                                         "token_type", "expires_at", "expires_in", "scopes", "metadata"});
      !r) {
    return error_response(r.error());
  }
  auto provider_id = string_field(*body, "provider_id", {.required = true, .max_size = 64, .allow_empty = false});
  if (!provider_id) return error_response(provider_id.error());
  auto provider = s.catalog->get(**provider_id);
  if (!provider) return error_response(bad("unknown provider '" + **provider_id + "'"));
  auto attrs = string_map_field(*body, "attributes", true);
  if (!attrs) return error_response(attrs.error());
  if (attrs->empty()) return error_response(bad("field 'attributes' must name the user, e.g. {\"user_id\": \"alice\"}"));
  auto access = string_field(*body, "access_token", {.required = true, .max_size = 16384, .allow_empty = false});
  if (!access) return error_response(access.error());
  auto refresh = string_field(*body, "refresh_token", {.max_size = 16384});
  if (!refresh) return error_response(refresh.error());
  auto id_token = string_field(*body, "id_token", {.max_size = 16384});
  if (!id_token) return error_response(id_token.error());
  auto token_type = string_field(*body, "token_type", {.max_size = 32});
  if (!token_type) return error_response(token_type.error());
  if (*token_type && !common::is_token(**token_type)) return error_response(bad("field 'token_type' is not a valid scheme"));
  auto expires_at_text = string_field(*body, "expires_at", {.max_size = 64});
  if (!expires_at_text) return error_response(expires_at_text.error());
  Connection c;
  c.app_id = app_id;
  c.provider_id = **provider_id;
  c.attributes = *attrs;
  c.token_type = token_type->value_or("Bearer");
  if (common::iequals(c.token_type, "bearer")) c.token_type = "Bearer";
  if (*expires_at_text) {
    auto t = parse_iso8601(**expires_at_text);
    if (!t) return error_response(bad("field 'expires_at' must be an ISO 8601 time such as 2026-01-01T00:00:00Z"));
    c.expires_at = *t;
  } else if (auto it = body->find("expires_in"); it != body->end() && !it->is_null()) {
    if (!it->is_number_integer()) return error_response(bad("field 'expires_in' must be an integer (seconds)"));
    c.expires_at = s.clock.wall() + std::chrono::seconds(it->get<std::int64_t>());
  }
  if (auto it = body->find("scopes"); it != body->end() && !it->is_null()) {
    if (!it->is_array()) return error_response(bad("field 'scopes' must be an array of strings"));
    for (const auto& v : *it) {
      if (!v.is_string()) return error_response(bad("field 'scopes' must be an array of strings"));
      c.scopes.push_back(v.get<std::string>());
    }
  }
  if (auto it = body->find("metadata"); it != body->end() && !it->is_null()) {
    if (!it->is_object()) return error_response(bad("field 'metadata' must be an object"));
    c.metadata = *it;
  }
  c.status = ConnectionStatus::kActive;
  c.created_at = c.updated_at = s.clock.wall();
  c.tokens = oauth::seal_tokens(*s.keyring, c, **access, refresh->value_or(""), id_token->value_or(""));
  common::secure_wipe(**access);
  if (*refresh) common::secure_wipe(**refresh);
  auto stored = s.store.upsert_connection(c);
  if (!stored) return error_response(store_error(stored.error()));
  connections_changed(s);
  admin_audit(s, app_id, "connection_imported", by,
              {{"connection_id", stored->id}, {"provider_id", c.provider_id}, {"user", c.attributes}});
  return Response::json(201, connection_json(*stored));
}

Response list_connections(Services& s, const Request& req, const std::string& app_id) {
  auto app = existing_app(s, app_id);
  if (!app) return error_response(app.error());
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
  auto rows = s.store.find_connections(f);
  if (!rows) return error_response(store_error(rows.error()));
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : *rows) out.push_back(connection_json(c));
  return Response::json(200, {{"connections", out}});
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
Result<AuditFilter> audit_filter(Services& s, const Request& req) {
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
  if (f.decision && std::find(audit::audit_decisions().begin(), audit::audit_decisions().end(), *f.decision) ==
                        audit::audit_decisions().end()) {
    return common::unexpected(bad("decision must be one of: " + one_of(audit::audit_decisions())));
  }
  if (f.kind && std::find(audit::audit_kinds().begin(), audit::audit_kinds().end(), *f.kind) == audit::audit_kinds().end()) {
    return common::unexpected(bad("kind must be one of: " + one_of(audit::audit_kinds())));
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
      *target = s.clock.wall() - *d;
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

nlohmann::json audit_row_json(const AuditRecord& r) {
  auto content = nlohmann::json::parse(r.content, nullptr, false);
  if (!content.is_object()) content = nlohmann::json::object();
  content["seq"] = r.seq;
  content["hash"] = r.hash;
  if (r.payload) {
    auto payload = nlohmann::json::parse(*r.payload, nullptr, false);
    if (payload.is_object()) content["payload"] = std::move(payload);
  } else if (content.contains("payload_sha256")) {
    content["payload_purged"] = true;
  }
  return content;
}

// Drops the payloads (headers, bodies) of matching call rows; the rows and the chain stay.
Response audit_purge(Services& s, const Request& req, const std::string& by) {
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
  if (as_query.query.empty() && !all) {
    return error_response(bad("give until, user or provider (or all: true to purge every payload)"));
  }
  auto f = audit_filter(s, as_query);
  if (!f) return error_response(f.error());
  auto purged = s.store.purge_audit_payloads(*f);
  if (!purged) return error_response(store_error(purged.error()));
  nlohmann::json details = {{"rows", *purged}};
  for (const auto& [k, v] : as_query.query) details[k] = v;
  admin_audit(s, f->app_id.value_or(""), "audit_payloads_purged", by, details);
  return Response::json(200, {{"purged", *purged}});
}

Response audit_list(Services& s, const Request& req) {
  auto f = audit_filter(s, req);
  if (!f) return error_response(f.error());
  auto rows = s.store.query_audit(*f);
  if (!rows) return error_response(store_error(rows.error()));
  nlohmann::json events = nlohmann::json::array();
  for (const auto& r : *rows) events.push_back(audit_row_json(r));
  nlohmann::json out = {{"events", events}};
  if (!rows->empty() && rows->size() == f->limit) out["next_after_seq"] = rows->back().seq;
  return Response::json(200, out);
}

Response audit_export(Services& s, const Request& req) {
  auto f = audit_filter(s, req);
  if (!f) return error_response(f.error());
  std::string out;
  const std::size_t limit = req.query.count("limit") ? f->limit : std::numeric_limits<std::size_t>::max();
  std::size_t emitted = 0;
  f->limit = std::min<std::size_t>(limit, 2000);
  for (;;) {
    auto rows = s.store.query_audit(*f);
    if (!rows) return error_response(store_error(rows.error()));
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

}  // namespace

nlohmann::json connection_json(const Connection& c) {
  nlohmann::json j = {{"id", c.id}, {"app_id", c.app_id}, {"provider_id", c.provider_id},
                      {"attributes", c.attributes}, {"token_type", c.token_type}, {"scopes", c.scopes},
                      {"status", to_string(c.status)}, {"metadata", c.metadata},
                      {"created_at", iso8601(c.created_at)}, {"updated_at", iso8601(c.updated_at)},
                      {"key_version", c.tokens.key_version}};
  j["expires_at"] = c.expires_at ? nlohmann::json(iso8601(*c.expires_at)) : nlohmann::json(nullptr);
  return j;
}

Result<nlohmann::json> delete_connection(Services& s, const Connection& c, const std::string& by) {
  nlohmann::json revocation = {{"attempted", false}};
  auto provider = s.catalog->get(c.provider_id);
  if (provider && !provider->revocation_url.empty()) {
    revocation["attempted"] = true;
    auto tokens = oauth::open_tokens(*s.keyring, c);
    auto client = s.tokens.client_for(c.app_id, *provider, c.metadata);
    if (!tokens || !client) {
      revocation["ok"] = false;
      revocation["error"] = !tokens ? tokens.error().message : client.error().message;
    } else {
      // Revoking the refresh token ends the grant at most providers; the access token too, for the others.
      bool ok = true;
      std::string error;
      for (auto [token, hint] : {std::pair{tokens->refresh_token.reveal(), "refresh_token"},
                                 std::pair{tokens->access_token.reveal(), "access_token"}}) {
        if (token.empty()) continue;
        auto r = s.oauth.revoke(*provider, *client, token, hint);
        if (!r) {
          ok = false;
          error = r.error().message;
        }
      }
      revocation["ok"] = ok;
      if (!ok) revocation["error"] = error;
    }
  }
  // Deleted whatever the revocation did: the connection is unusable from now on.
  if (auto r = s.store.delete_connection(c.id); !r) return common::unexpected(store_error(r.error()));
  connections_changed(s);
  auto w = s.audit.write(audit::make_record({{"kind", "revocation"}, {"app_id", c.app_id},
                                             {"provider_id", c.provider_id}, {"connection_id", c.id},
                                             {"user", c.attributes}, {"decision", "deleted"},
                                             {"actor", {{"type", "admin"}, {"id", by}}},
                                             {"details", {{"revocation", revocation}}}},
                                            s.clock.wall()));
  if (!w) return common::unexpected(w.error());
  return nlohmann::json{{"id", c.id}, {"deleted", true}, {"revocation", revocation}};
}

void add_admin_routes(http::Router& router, Services& s) {
  router.add("GET", "/v1/admin/apps", admin(s, [&s](const Request&, const PathParams&, const std::string&) {
               auto apps = s.store.list_apps();
               if (!apps) return error_response(store_error(apps.error()));
               nlohmann::json out = nlohmann::json::array();
               for (const auto& a : *apps) out.push_back(app_json(a));
               return Response::json(200, {{"apps", out}});
             }));
  router.add("POST", "/v1/admin/apps", admin(s, [&s](const Request& r, const PathParams&, const std::string& by) {
               return create_app(s, r, by);
             }));
  router.add("GET", "/v1/admin/apps/{app}", admin(s, [&s](const Request&, const PathParams& p, const std::string&) {
               auto app = existing_app(s, p.at("app"));
               return app ? Response::json(200, app_json(*app)) : error_response(app.error());
             }));
  router.add("PATCH", "/v1/admin/apps/{app}", admin(s, [&s](const Request& r, const PathParams& p, const std::string& by) {
               return update_app(s, r, p.at("app"), by);
             }));

  router.add("POST", "/v1/admin/apps/{app}/keys", admin(s, [&s](const Request& r, const PathParams& p, const std::string& by) {
               return create_key(s, r, p.at("app"), by);
             }));
  router.add("GET", "/v1/admin/apps/{app}/keys", admin(s, [&s](const Request&, const PathParams& p, const std::string&) {
               auto app = existing_app(s, p.at("app"));
               if (!app) return error_response(app.error());
               auto keys = s.store.list_api_keys(p.at("app"));
               if (!keys) return error_response(store_error(keys.error()));
               nlohmann::json out = nlohmann::json::array();
               for (const auto& k : *keys) out.push_back(key_json(k));
               return Response::json(200, {{"keys", out}});
             }));
  router.add("POST", "/v1/admin/keys/{id}/revoke", admin(s, [&s](const Request&, const PathParams& p, const std::string& by) {
               return revoke_key(s, p.at("id"), by);
             }));
  router.add("DELETE", "/v1/admin/keys/{id}", admin(s, [&s](const Request&, const PathParams& p, const std::string& by) {
               return revoke_key(s, p.at("id"), by);
             }));

  router.add("GET", "/v1/admin/apps/{app}/providers", admin(s, [&s](const Request&, const PathParams& p, const std::string&) {
               auto app = existing_app(s, p.at("app"));
               if (!app) return error_response(app.error());
               auto creds = s.store.list_provider_credentials(p.at("app"));
               if (!creds) return error_response(store_error(creds.error()));
               nlohmann::json out = nlohmann::json::array();
               for (const auto& c : *creds) out.push_back(credential_json(c));
               return Response::json(200, {{"providers", out}});
             }));
  router.add("PUT", "/v1/admin/apps/{app}/providers/{provider}",
             admin(s, [&s](const Request& r, const PathParams& p, const std::string& by) {
               return put_credential(s, r, p.at("app"), p.at("provider"), by);
             }));
  router.add("DELETE", "/v1/admin/apps/{app}/providers/{provider}",
             admin(s, [&s](const Request&, const PathParams& p, const std::string& by) {
               if (auto r = s.store.delete_provider_credential(p.at("app"), p.at("provider")); !r) {
                 return error_response(store_error(r.error()));
               }
               admin_audit(s, p.at("app"), "provider_credential_deleted", by, {{"provider_id", p.at("provider")}});
               return Response::json(200, {{"deleted", true}});
             }));
  router.add("GET", "/v1/admin/providers", admin(s, [&s](const Request&, const PathParams&, const std::string&) {
               nlohmann::json out = nlohmann::json::array();
               for (const auto& d : s.catalog->all()) {
                 if (d->dev_only && !s.config.dev_mode) continue;
                 auto j = d->to_json();
                 j["custom"] = d->custom;
                 out.push_back(j);
               }
               return Response::json(200, {{"providers", out}});
             }));
  router.add("GET", "/v1/admin/providers/{id}", admin(s, [&s](const Request&, const PathParams& p, const std::string&) {
               auto d = s.catalog->get(p.at("id"));
               if (!d || (d->dev_only && !s.config.dev_mode)) return error_response(make_error(Errc::kNotFound, "not_found", "unknown provider"));
               auto j = d->to_json();
               j["custom"] = d->custom;
               return Response::json(200, j);
             }));
  router.add("POST", "/v1/admin/providers", admin(s, [&s](const Request& r, const PathParams&, const std::string& by) {
               return add_custom_provider(s, r, by);
             }));
  router.add("DELETE", "/v1/admin/providers/{id}", admin(s, [&s](const Request&, const PathParams& p, const std::string& by) {
               auto d = s.catalog->get(p.at("id"));
               if (!d) return error_response(make_error(Errc::kNotFound, "not_found", "unknown provider"));
               if (!d->custom) return error_response(make_error(Errc::kConflict, "conflict", "built-in providers cannot be removed"));
               if (auto r = s.store.delete_custom_provider(p.at("id")); !r) return error_response(store_error(r.error()));
               s.catalog->remove_custom(p.at("id"));
               (void)s.store.bump_change_version();
               admin_audit(s, "", "provider_removed", by, {{"provider_id", p.at("id")}});
               return Response::json(200, {{"deleted", true}});
             }));

  router.add("GET", "/v1/admin/apps/{app}/connections", admin(s, [&s](const Request& r, const PathParams& p, const std::string&) {
               return list_connections(s, r, p.at("app"));
             }));
  router.add("POST", "/v1/admin/apps/{app}/connections",
             admin(s, [&s](const Request& r, const PathParams& p, const std::string& by) {
               return import_connection(s, r, p.at("app"), by);
             }));
  router.add("GET", "/v1/admin/connections/{id}", admin(s, [&s](const Request&, const PathParams& p, const std::string&) {
               auto c = s.store.get_connection(p.at("id"));
               if (!c) {
                 return c.error().code == StoreErrc::kNotFound ? error_response(make_error(Errc::kNotFound, "not_found", "no such connection"))
                                                               : error_response(store_error(c.error()));
               }
               return Response::json(200, connection_json(*c));
             }));
  router.add("DELETE", "/v1/admin/connections/{id}", admin(s, [&s](const Request&, const PathParams& p, const std::string& by) {
               auto c = s.store.get_connection(p.at("id"));
               if (!c) {
                 return c.error().code == StoreErrc::kNotFound ? error_response(make_error(Errc::kNotFound, "not_found", "no such connection"))
                                                               : error_response(store_error(c.error()));
               }
               auto r = delete_connection(s, *c, by);
               return r ? Response::json(200, *r) : error_response(r.error());
             }));
  router.add("POST", "/v1/admin/connections/{id}/refresh",
             admin(s, [&s](const Request&, const PathParams& p, const std::string&) {
               auto c = s.store.get_connection(p.at("id"));
               if (!c) return error_response(make_error(Errc::kNotFound, "not_found", "no such connection"));
               auto provider = s.catalog->get(c->provider_id);
               if (!provider) return error_response(make_error(Errc::kConflict, "conflict", "the connection's provider is unknown"));
               auto r = s.tokens.refresh(*c, *provider, true);
               if (!r) return error_response(r.error(), {{"connection_id", c->id}});
               return Response::json(200, connection_json(*r));
             }));

  router.add("GET", "/v1/admin/audit", admin(s, [&s](const Request& r, const PathParams&, const std::string&) {
               return audit_list(s, r);
             }));
  router.add("GET", "/v1/admin/audit/export", admin(s, [&s](const Request& r, const PathParams&, const std::string&) {
               return audit_export(s, r);
             }));
  router.add("POST", "/v1/admin/audit/purge", admin(s, [&s](const Request& r, const PathParams&, const std::string& by) {
               return audit_purge(s, r, by);
             }));
  router.add("GET", "/v1/admin/audit/verify", admin(s, [&s](const Request&, const PathParams&, const std::string&) {
               auto report = audit::verify(s.store);
               if (!report) return error_response(report.error());
               nlohmann::json out = {{"ok", report->ok}, {"rows_checked", report->rows_checked},
                                     {"head_seq", report->head_seq}, {"head_hash", report->head_hash},
                                     {"payloads_checked", report->payloads_checked},
                                     {"payloads_purged", report->payloads_purged}};
               if (!report->ok) {
                 out["first_bad_seq"] = report->first_bad_seq;
                 out["problem"] = report->problem;
               }
               return Response::json(200, out);
             }));

  router.add("GET", "/v1/admin/stats", admin(s, [&s](const Request&, const PathParams&, const std::string&) {
               auto counts = s.store.table_counts();
               if (!counts) return error_response(store_error(counts.error()));
               auto head = s.store.audit_head();
               if (!head) return error_response(store_error(head.error()));
               return Response::json(200, {{"tables", *counts}, {"audit_head_seq", head->seq}});
             }));
  router.add("POST", "/v1/admin/keyring/rotate", admin(s, [&s](const Request&, const PathParams&, const std::string& by) {
               auto r = s.start_rekey();
               if (!r) return error_response(r.error());
               admin_audit(s, "", "key_rotated", by, *r);
               return Response::json(202, *r);
             }));
  router.add("GET", "/v1/admin/keyring", admin(s, [&s](const Request&, const PathParams&, const std::string&) {
               return Response::json(200, s.rekey_status());
             }));

  router.add("GET", "/v1/admin/apps/{app}/approvals", admin(s, [&s](const Request& r, const PathParams& p, const std::string&) {
               std::optional<ApprovalStatus> status;
               if (auto st = r.query_param("status"); !st.empty()) {
                 status = approval_status_from(st);
                 if (!status) return error_response(bad("status must be pending, approved, denied, expired or used"));
               }
               // Expiry is computed on read: filter on the effective status, not the stored one.
               auto rows = s.store.list_approvals(p.at("app"), std::nullopt, 500);
               if (!rows) return error_response(store_error(rows.error()));
               nlohmann::json out = nlohmann::json::array();
               for (auto a : *rows) {
                 if (a.status == ApprovalStatus::kPending && a.expires_at <= s.clock.wall()) a.status = ApprovalStatus::kExpired;
                 if (status && a.status != *status) continue;
                 out.push_back(s.approvals->to_json(a));
               }
               return Response::json(200, {{"approvals", out}});
             }));
  router.add("GET", "/v1/admin/approvals/{id}", admin(s, [&s](const Request&, const PathParams& p, const std::string&) {
               auto a = s.store.get_approval(p.at("id"));
               if (!a) return error_response(make_error(Errc::kNotFound, "not_found", "no such approval"));
               return Response::json(200, s.approvals->to_json(*a));
             }));
  for (const auto& [verb, approve] : {std::pair{"approve", true}, std::pair{"deny", false}}) {
    router.add("POST", std::string("/v1/admin/approvals/{id}/") + verb,
               admin(s, [&s, approve = approve](const Request&, const PathParams& p, const std::string& by) {
                 auto a = s.approvals->decide("", p.at("id"), approve, "admin:" + by);
                 return a ? Response::json(200, s.approvals->to_json(*a)) : error_response(a.error());
               }));
  }

  router.add("POST", "/v1/admin/credentials", admin(s, [&s](const Request& r, const PathParams&, const std::string& by) {
               nlohmann::json body = nlohmann::json::object();
               if (!r.body.empty()) {
                 auto parsed = json_object_body(r);
                 if (!parsed) return error_response(parsed.error());
                 body = *parsed;
               }
               auto name = string_field(body, "name", {.max_size = 200});
               if (!name) return error_response(name.error());
               NewSecret t = new_admin_token();
               AdminCredential c{crypto::new_uuid(), name->value_or(""), t.hint, t.hash, s.clock.wall(), std::nullopt};
               if (auto w = s.store.create_admin_credential(c); !w) return error_response(store_error(w.error()));
               admin_audit(s, "", "admin_credential_created", by, {{"credential_id", c.id}});
               Response out = Response::json(201, {{"id", c.id}, {"name", c.name}, {"hint", c.hint}, {"token", t.value}});
               common::secure_wipe(t.value);
               return out;
             }));
  router.add("GET", "/v1/admin/credentials", admin(s, [&s](const Request&, const PathParams&, const std::string&) {
               auto rows = s.store.list_admin_credentials();
               if (!rows) return error_response(store_error(rows.error()));
               nlohmann::json out = nlohmann::json::array();
               for (const auto& c : *rows) {
                 out.push_back({{"id", c.id}, {"name", c.name}, {"hint", c.hint}, {"created_at", iso8601(c.created_at)},
                                {"revoked", c.revoked_at.has_value()}});
               }
               return Response::json(200, {{"credentials", out}});
             }));
  router.add("POST", "/v1/admin/credentials/{id}/revoke", admin(s, [&s](const Request&, const PathParams& p, const std::string& by) {
               if (p.at("id") == by) return error_response(make_error(Errc::kConflict, "conflict", "a credential cannot revoke itself"));
               if (auto r = s.store.revoke_admin_credential(p.at("id"), s.clock.wall()); !r) {
                 return error_response(r.error().code == StoreErrc::kNotFound ? make_error(Errc::kNotFound, "not_found", "no such credential")
                                                                              : store_error(r.error()));
               }
               admin_audit(s, "", "admin_credential_revoked", by, {{"credential_id", p.at("id")}});
               return Response::json(200, {{"id", p.at("id")}, {"revoked", true}});
             }));
}

}  // namespace alter::server::api
