#include "api/connect_endpoints.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <regex>

#include "api/cache.hpp"
#include "api/input.hpp"
#include "api/pages.hpp"
#include "core/time.hpp"
#include "crypto/crypto.hpp"

namespace alter::server::api {
namespace {

using http::PathParams;
using http::Request;
using http::Response;

constexpr auto kSessionLifetime = std::chrono::minutes(10);

Error bad(std::string m) { return make_error(Errc::kInvalidArgument, "invalid_request", std::move(m)); }

// A return_url is allowed when it starts with an allow-listed prefix at a path boundary.
bool return_url_allowed(const App& app, const std::string& url) {
  auto u = boost::urls::parse_uri(url);
  if (!u || (u->scheme() != "https" && u->scheme() != "http") || u->has_userinfo()) return false;
  for (const auto& prefix : app.return_url_allowlist) {
    if (url.rfind(prefix, 0) != 0) continue;
    if (url.size() == prefix.size() || prefix.back() == '/' || url[prefix.size()] == '/' || url[prefix.size()] == '?') {
      return true;
    }
  }
  return false;
}

Response create_session(Services& s, const Request& req, const std::string& app_id) {
  auto app = s.store.get_app(app_id);
  if (!app) return error_response(make_error(Errc::kNotFound, "not_found", "no app '" + app_id + "'"));
  auto body = json_object_body(req);
  if (!body) return error_response(body.error());
  if (auto r = no_unknown_fields(*body, {"provider_id", "attributes", "return_url", "scopes", "settings"}); !r) {
    return error_response(r.error());
  }
  auto provider_id = string_field(*body, "provider_id", {.required = true, .max_size = 64, .allow_empty = false});
  if (!provider_id) return error_response(provider_id.error());
  auto provider = s.catalog->get(**provider_id);
  if (!provider || (provider->dev_only && !s.config.dev_mode)) {
    return error_response(bad("unknown provider '" + **provider_id + "'"));
  }
  auto attrs = string_map_field(*body, "attributes", true);
  if (!attrs) return error_response(attrs.error());
  if (attrs->empty()) return error_response(bad("field 'attributes' must name the user, e.g. {\"user_id\": \"alice\"}"));
  auto return_url = string_field(*body, "return_url", {.max_size = 2048});
  if (!return_url) return error_response(return_url.error());
  if (*return_url && !return_url_allowed(*app, **return_url)) {
    return error_response(bad("return_url is not on the app's allow-list (alter-vault apps update " + app_id +
                              " --return-url PREFIX)"));
  }
  auto settings = string_map_field(*body, "settings", false);
  if (!settings) return error_response(settings.error());
  for (const auto& [name, var] : provider->variables) {
    if (var.scope != "connection") continue;
    auto it = settings->find(name);
    if (it == settings->end()) {
      if (var.default_value.empty()) {
        return error_response(bad("setting '" + name + "' is required for " + provider->id +
                                  (var.description.empty() ? "" : " (" + var.description + ")")));
      }
      continue;
    }
    if (!var.pattern.empty() && !std::regex_match(it->second, std::regex(var.pattern))) {
      return error_response(bad("setting '" + name + "' does not match " + var.pattern));
    }
  }
  for (const auto& [k, v] : *settings) {
    auto var = provider->variables.find(k);
    if (var == provider->variables.end() || var->second.scope != "connection") {
      return error_response(bad("setting '" + k + "' is not a connection variable of " + provider->id));
    }
  }
  std::vector<std::string> scopes;
  if (auto it = body->find("scopes"); it != body->end() && !it->is_null()) {
    if (!it->is_array()) return error_response(bad("field 'scopes' must be an array of strings"));
    for (const auto& v : *it) {
      if (!v.is_string() || v.get_ref<const std::string&>().empty()) return error_response(bad("field 'scopes' must be an array of strings"));
      scopes.push_back(v.get<std::string>());
    }
  }
  // The provider must be configured for this app before a user can connect.
  auto cred = s.store.get_provider_credential(app_id, provider->id);
  if (!cred) {
    if (cred.error().code == StoreErrc::kNotFound) {
      return error_response(make_error(Errc::kFailedPrecondition, "provider_not_configured", "no client credentials are set for '" + provider->id +
                                                                           "' (alter-vault providers set " + provider->id + ")"));
    }
    return error_response(store_error(cred.error()));
  }
  const std::string token = crypto::random_token(32);
  ConnectSession cs;
  cs.id = crypto::new_uuid();
  cs.app_id = app_id;
  cs.provider_id = provider->id;
  cs.attributes = *attrs;
  cs.return_url = return_url->value_or("");
  cs.token_hash = crypto::sha256_hex(token);
  cs.settings = *settings;
  if (!scopes.empty()) cs.settings["__scopes"] = scopes;
  cs.created_at = s.clock.wall();
  cs.expires_at = cs.created_at + kSessionLifetime;
  if (auto r = s.store.create_connect_session(cs); !r) return error_response(store_error(r.error()));
  return Response::json(201, {{"id", cs.id},
                              {"connect_url", s.public_url + "/connect/" + token},
                              {"expires_at", iso8601(cs.expires_at)},
                              {"provider_id", cs.provider_id},
                              {"attributes", cs.attributes}});
}

std::string redirect_uri(const Services& s) { return s.public_url + "/oauth/callback"; }

Response open_connect(Services& s, const std::string& token) {
  auto cs = s.store.find_connect_session_by_token(crypto::sha256_hex(token));
  if (!cs) return page(404, "Link not valid", para("This connect link is not valid. Ask the application for a new one."));
  if (cs->used_at) return page(410, "Link already used", para("This connect link was already used. Ask the application for a new one."));
  if (cs->expires_at <= s.clock.wall()) {
    return page(410, "Link expired", para("This connect link expired. Ask the application for a new one."));
  }
  auto provider = s.catalog->get(cs->provider_id);
  if (!provider) return page(500, "Provider unavailable", para("The provider of this link is no longer configured."));
  auto client = s.tokens.client_for(cs->app_id, *provider, cs->settings);
  if (!client) return page(500, "Provider not configured", para(client.error().message));
  const std::string state = crypto::random_token(32);
  const std::string verifier = crypto::random_token(48);  // 64 chars: within RFC 7636's 43..128
  const SealedBlob sealed = s.keyring->seal(verifier, crypto::aad_for("connect_sessions", cs->id, "pkce_verifier"));
  if (auto r = s.store.start_connect_session(cs->id, crypto::sha256_hex(state), sealed); !r) {
    return page(503, "Try again", para("The vault cannot store the session right now."));
  }
  std::vector<std::string> scopes = provider->default_scopes;
  if (cs->settings.contains("__scopes")) scopes = cs->settings["__scopes"].get<std::vector<std::string>>();
  auto url = authorization_url(*provider, *client, redirect_uri(s), scopes, state, oauth::pkce_challenge(verifier));
  if (!url) return page(500, "Provider misconfigured", para(url.error().message));
  return Response::redirect(*url);
}

Response finish(Services& s, const ConnectSession& cs, bool ok, const std::string& title, const std::string& message,
                const std::string& connection_id, const std::string& error_code) {
  if (!cs.return_url.empty()) {
    auto u = boost::urls::parse_uri(cs.return_url);
    if (u) {
      boost::urls::url back(*u);
      back.params().append({"status", ok ? "connected" : "error"});
      back.params().append({"provider_id", cs.provider_id});
      if (ok) back.params().append({"connection_id", connection_id});
      if (!ok) back.params().append({"error", error_code});
      return Response::redirect(std::string(back.buffer()));
    }
  }
  auto provider = s.catalog->get(cs.provider_id);
  const std::string name = provider ? provider->display_name : cs.provider_id;
  std::string body = para(message);
  if (ok) body += "<p id=\"connection\" data-connection-id=\"" + http::html_escape(connection_id) + "\">You can close this window.</p>";
  return page(ok ? 200 : 400, title.empty() ? (ok ? "Connected to " + name : "Not connected") : title, body);
}

Response callback(Services& s, const Request& req) {
  const std::string state = req.query_param("state");
  if (state.empty()) return page(400, "Not connected", para("The provider's answer has no state: this page was not opened by a connect flow."));
  auto found = s.store.find_connect_session_by_state(crypto::sha256_hex(state));
  if (!found) return page(400, "Not connected", para("This sign-in answer does not belong to a connect session (or it expired)."));
  ConnectSession cs = std::move(found.value());
  const TimePoint now = s.clock.wall();
  auto audit = [&](const std::string& decision, nlohmann::json details, const std::string& connection_id) {
    (void)s.audit.write(audit::make_record({{"kind", "connect"}, {"app_id", cs.app_id}, {"provider_id", cs.provider_id},
                                            {"user", cs.attributes}, {"decision", decision},
                                            {"connection_id", connection_id}, {"details", std::move(details)}},
                                           now));
  };
  // The state is single use: the first answer wins, a replay is refused.
  if (auto used = s.store.use_connect_session(cs.id, now); !used) {
    return page(400, "Not connected", para("This sign-in answer was already used."));
  }
  if (cs.expires_at <= now) {
    audit("failed", {{"error", "session_expired"}}, "");
    return finish(s, cs, false, "", "The connect session expired before the sign-in finished. Ask for a new link.", "", "session_expired");
  }
  auto provider = s.catalog->get(cs.provider_id);
  if (!provider) return page(500, "Not connected", para("The provider is no longer configured."));
  if (!provider->issuer.empty() && req.query_param("iss") != provider->issuer) {
    audit("failed", {{"error", "issuer_mismatch"}}, "");
    return finish(s, cs, false, "", "The answer did not come from " + provider->display_name + "'s authorization server (issuer mismatch).", "", "issuer_mismatch");
  }
  if (const std::string err = req.query_param("error"); !err.empty()) {
    std::string desc = req.query_param("error_description");
    if (desc.size() > 300) desc.resize(300);
    audit("failed", {{"error", err.substr(0, 64)}}, "");
    const std::string what = err == "access_denied" ? "Access was not granted (" + err + ")." : "The provider reported an error: " + err.substr(0, 64) + ".";
    return finish(s, cs, false, "", what + (desc.empty() ? "" : " " + desc) + " Nothing was stored.", "", err.substr(0, 64));
  }
  const std::string code = req.query_param("code");
  if (code.empty()) {
    audit("failed", {{"error", "no_code"}}, "");
    return finish(s, cs, false, "", "The provider's answer has no authorization code. Nothing was stored.", "", "invalid_request");
  }
  auto verifier = s.keyring->open(cs.pkce_verifier, crypto::aad_for("connect_sessions", cs.id, "pkce_verifier"));
  auto client = s.tokens.client_for(cs.app_id, *provider, cs.settings);
  if (!verifier || !client) return page(500, "Not connected", para("The vault cannot complete this connection."));
  auto tokens = s.oauth.exchange_code(*provider, *client, code, redirect_uri(s), std::string(verifier->reveal()));
  if (!tokens) {
    audit("failed", {{"error", tokens.error().code}, {"message", tokens.error().message}}, "");
    return finish(s, cs, false, "", "The code could not be exchanged for a token: " + tokens.error().message + ". Nothing was stored.", "",
                  tokens.error().code.empty() ? "exchange_failed" : tokens.error().code);
  }
  Connection c;
  c.app_id = cs.app_id;
  c.provider_id = cs.provider_id;
  c.attributes = cs.attributes;
  c.token_type = tokens->token_type;
  c.scopes = tokens->scopes;
  c.expires_at = tokens->expires_at;
  c.status = ConnectionStatus::kActive;
  c.metadata = nlohmann::json::object();
  for (auto it = cs.settings.begin(); it != cs.settings.end(); ++it) {
    if (it.key() != "__scopes") c.metadata[it.key()] = it.value();
  }
  for (auto it = tokens->kept.begin(); it != tokens->kept.end(); ++it) c.metadata[it.key()] = it.value();
  for (const auto& param : provider->keep_callback_params) {
    if (auto v = req.query_param(param); !v.empty()) c.metadata[param] = v;
  }
  c.created_at = c.updated_at = now;
  c.tokens = oauth::seal_tokens(*s.keyring, c, tokens->access_token.reveal(), tokens->refresh_token.reveal(),
                                tokens->id_token.reveal());
  auto stored = s.store.upsert_connection(c);
  if (!stored) {
    audit("failed", {{"error", "store"}}, "");
    return finish(s, cs, false, "", "The vault could not store the connection. Please try again.", "", "unavailable");
  }
  if (s.cache != nullptr) s.cache->connections_changed();
  (void)s.store.bump_change_version();
  audit("connected", {{"scopes", stored->scopes}, {"refresh_token", !tokens->refresh_token.empty()}}, stored->id);
  s.log.info("connection created", {{"connection_id", stored->id}, {"provider", stored->provider_id}, {"app_id", stored->app_id}});
  return finish(s, cs, true, "", "Your " + provider->display_name + " account is now connected.", stored->id, "");
}

}  // namespace

void add_connect_routes(http::Router& router, Services& s) {
  router.add("POST", "/v1/connect/sessions", [&s](const Request& r, const PathParams&) {
    auto caller = authenticate_app(s, r);
    if (!caller) return error_response(caller.error());
    return create_session(s, r, caller->app_id);
  });
  router.add("POST", "/v1/admin/apps/{app}/connect-sessions", [&s](const Request& r, const PathParams& p) {
    auto who = authenticate_admin(s, r);
    if (!who) return error_response(who.error());
    return create_session(s, r, p.at("app"));
  });
  router.add("GET", "/connect/{token}", [&s](const Request&, const PathParams& p) { return open_connect(s, p.at("token")); });
  router.add("GET", "/oauth/callback", [&s](const Request& r, const PathParams&) { return callback(s, r); });
}

}  // namespace alter::server::api
