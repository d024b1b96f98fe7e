#include "vault/connections.hpp"

#include <boost/url/parse.hpp>

#include <regex>

#include "core/time.hpp"
#include "crypto/crypto.hpp"
#include "vault/authenticator.hpp"
#include "vault/token_broker.hpp"

namespace alter::server::vault {
namespace {

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

std::string value_of(const std::map<std::string, std::string>& q, const char* key) {
  auto it = q.find(key);
  return it == q.end() ? std::string() : it->second;
}

// A connection's variables: each one the provider declares given (or defaulted) and matching its
// pattern, nothing else. A value lands in an endpoint or an API host, so it is checked before use.
Result<void> check_settings(const oauth::ProviderDef& provider, const Attributes& settings) {
  for (const auto& [name, var] : provider.variables) {
    if (var.scope != "connection") continue;
    auto it = settings.find(name);
    if (it == settings.end()) {
      if (var.default_value.empty()) {
        return common::unexpected(bad("setting '" + name + "' is required for " + provider.id +
                                      (var.description.empty() ? "" : " (" + var.description + ")")));
      }
      continue;
    }
    if (!var.pattern.empty() && !std::regex_match(it->second, std::regex(var.pattern))) {
      return common::unexpected(bad("setting '" + name + "' does not match " + var.pattern));
    }
  }
  for (const auto& [k, v] : settings) {
    auto var = provider.variables.find(k);
    if (var == provider.variables.end() || var->second.scope != "connection") {
      return common::unexpected(bad("setting '" + k + "' is not a connection variable of " + provider.id));
    }
  }
  return {};
}

}  // namespace

ConnectionService::ConnectionService(Options options, std::shared_ptr<oauth::Catalog> catalog, Store& store,
                                     sealed::SealedStore& sealed, const oauth::OAuthClient& oauth, TokenManager& tokens,
                                     audit::AuditLog& audit, VaultCache& cache, Logger& log, const common::Clock& clock,
                                     std::function<std::string()> public_url)
    : options_(options),
      catalog_(std::move(catalog)),
      store_(store),
      sealed_(sealed),
      oauth_(oauth),
      tokens_(tokens),
      audit_(audit),
      cache_(cache),
      log_(log),
      clock_(clock),
      public_url_(std::move(public_url)) {}

Result<void> ConnectionService::seal_supplied(const oauth::ProviderDef& provider, Connection& c, const common::SecretString& packed) {
  if (!provider.credential.is_client_credentials()) {
    // The credential's fields, sealed where a token set would be; the kind names the row's type.
    c.token_type = oauth::credential_kind_name(provider.credential.kind);
    c.tokens = sealed_.seal_tokens(c, packed.reveal(), "", "");
    return {};
  }
  // Client credentials: the first token asked for now, so that a wrong id or secret is refused
  // while the person who typed it is there, and nothing is stored; later tokens come through the
  // refresh machinery (single flight).
  if (c.scopes.empty()) c.scopes = provider.default_scopes;
  auto client = tokens_.client_of(c, provider, packed.reveal());
  if (!client) return common::unexpected(client.error());
  auto answer = oauth_.client_token(provider, *client, c.scopes);
  if (!answer) {
    const auto& f = answer.error();
    if (f.kind == oauth::OAuthFailure::Kind::kTransient) {
      return common::unexpected(make_error(Errc::kBadGateway, "provider_unavailable",
                                           provider.display_name + "'s token endpoint could not be asked for a token (" + f.message +
                                               "): nothing was stored, try again"));
    }
    return common::unexpected(bad(provider.display_name + " refused these client credentials: " + f.message + " (nothing was stored)"));
  }
  c.token_type = answer->token_type;
  c.expires_at = answer->expires_at;
  if (!answer->scopes.empty()) c.scopes = answer->scopes;
  // The access token where a token set's is; the client's fields in the refresh token's slot.
  c.tokens = sealed_.seal_tokens(c, answer->access_token.reveal(), packed.reveal(), "");
  return {};
}

Result<Connection> ConnectionService::import(const std::string& app_id, ImportSpec spec, const AdminCaller& by) {
  if (auto app = store_.get_app(app_id); !app) {
    return common::unexpected(app.error().code == StoreErrc::kNotFound ? make_error(Errc::kNotFound, "not_found", "no app '" + app_id + "'")
                                                                       : store_error(app.error()));
  }
  auto provider = catalog_->get(spec.provider_id);
  if (!provider) return common::unexpected(bad("unknown provider '" + spec.provider_id + "'"));
  if (spec.attributes.empty()) return common::unexpected(bad("field 'attributes' must name the user, e.g. {\"user_id\": \"alice\"}"));
  const std::string kind = oauth::credential_kind_name(provider->credential.kind);
  const bool client_credentials = provider->credential.is_client_credentials();
  std::optional<common::SecretString> packed;
  if (provider->credential.is_supplied()) {
    // The variables (an AWS region, an Auth0 domain) are what the connect link's settings are.
    Attributes settings;
    if (!spec.metadata.is_object()) return common::unexpected(bad("field 'metadata' must be an object"));
    for (auto it = spec.metadata.begin(); it != spec.metadata.end(); ++it) {
      if (!it->is_string()) return common::unexpected(bad("metadata '" + it.key() + "' must be a string"));
      settings[it.key()] = it->get<std::string>();
    }
    if (auto ok = check_settings(*provider, settings); !ok) return common::unexpected(ok.error());
    if (!spec.access_token.empty() || !spec.refresh_token.empty() || !spec.id_token.empty() || spec.expires_at ||
        (!spec.scopes.empty() && !client_credentials)) {
      return common::unexpected(bad("provider '" + spec.provider_id + "' takes a " + kind +
                                    " credential, not OAuth tokens: send {\"credential\": {...}} (docs/credentials.md)"));
    }
    auto checked = credentials::pack(provider->credential, spec.credential);
    if (!checked) return common::unexpected(checked.error());
    packed = std::move(checked.value());
  } else {
    if (!spec.credential.empty()) {
      return common::unexpected(bad("provider '" + spec.provider_id + "' takes OAuth tokens (access_token, refresh_token, ...), not a credential"));
    }
    if (spec.access_token.empty()) return common::unexpected(bad("field 'access_token' is required"));
  }
  Connection c;
  c.app_id = app_id;
  c.provider_id = spec.provider_id;
  c.attributes = spec.attributes;
  c.token_type = spec.token_type;
  c.expires_at = spec.expires_at;
  c.scopes = spec.scopes;
  c.metadata = spec.metadata;
  c.status = ConnectionStatus::kActive;
  c.created_at = c.updated_at = clock_.wall();
  if (packed) {
    if (auto sealed = seal_supplied(*provider, c, *packed); !sealed) return common::unexpected(sealed.error());
  } else {
    c.tokens = sealed_.seal_tokens(c, spec.access_token.reveal(), spec.refresh_token.reveal(), spec.id_token.reveal());
  }
  std::optional<Connection> stored;
  std::vector<audit::AuditEvent> events;
  auto committed = audit_.commit(
      [&]() -> Result<void> {
        auto r = store_.upsert_connection(c);
        if (!r) return common::unexpected(store_error(r.error()));
        stored = std::move(r.value());
        events.push_back({{{"kind", "admin"}, {"app_id", app_id}, {"decision", "connection_imported"},
                           {"provider_id", c.provider_id}, {"connection_id", stored->id}, {"user", c.attributes},
                           {"actor", {{"type", "admin"}, {"id", by.id}}},
                           {"details", {{"connection_id", stored->id}, {"provider_id", c.provider_id}}}}});
        return {};
      },
      events, true);
  if (!committed) return common::unexpected(committed.error());
  cache_.connections_changed();
  return *stored;
}

Result<std::vector<Connection>> ConnectionService::list(const ConnectionFilter& filter) const {
  auto rows = store_.find_connections(filter);
  if (!rows) return common::unexpected(store_error(rows.error()));
  return std::move(rows.value());
}

Result<Connection> ConnectionService::get(const std::string& id) const {
  auto c = store_.get_connection(id);
  if (!c) {
    return common::unexpected(c.error().code == StoreErrc::kNotFound ? make_error(Errc::kNotFound, "not_found", "no such connection")
                                                                     : store_error(c.error()));
  }
  return std::move(c.value());
}

Result<Revocation> ConnectionService::remove(const std::string& id, const AdminCaller& by) {
  auto found = get(id);
  if (!found) return common::unexpected(found.error());
  const Connection& c = *found;
  Revocation revocation;
  auto provider = catalog_->get(c.provider_id);
  if (provider && !provider->revocation_url.empty()) {
    revocation.attempted = true;
    auto secrets = sealed_.open_tokens(c);
    auto client = secrets ? tokens_.client_of(c, *provider, secrets->refresh_token.reveal())
                          : Result<oauth::ClientCredentials>(common::unexpected(secrets.error()));
    if (!secrets || !client) {
      revocation.error = !secrets ? secrets.error().message : client.error().message;
    } else {
      // Revoking the refresh token ends the grant at most providers; the access token too, for the
      // others. Client credentials hold no refresh token (that slot is the client's own fields).
      revocation.ok = true;
      const bool client_credentials = provider->credential.is_client_credentials();
      for (auto [token, hint] : {std::pair{client_credentials ? std::string_view() : secrets->refresh_token.reveal(), "refresh_token"},
                                 std::pair{secrets->access_token.reveal(), "access_token"}}) {
        if (token.empty()) continue;
        auto r = oauth_.revoke(*provider, *client, token, hint);
        if (!r) {
          revocation.ok = false;
          revocation.error = r.error().message;
        }
      }
    }
  }
  nlohmann::json rev = {{"attempted", revocation.attempted}};
  if (revocation.attempted) rev["ok"] = revocation.ok;
  if (!revocation.error.empty()) rev["error"] = revocation.error;
  // Deleted whatever the revocation did: the connection is unusable from now on.
  auto committed = audit_.commit(
      [&]() -> Result<void> {
        if (auto r = store_.delete_connection(c.id); !r) return common::unexpected(store_error(r.error()));
        return {};
      },
      audit::AuditEvent{{{"kind", "revocation"}, {"app_id", c.app_id}, {"provider_id", c.provider_id},
                         {"connection_id", c.id}, {"user", c.attributes}, {"decision", "deleted"},
                         {"actor", {{"type", "admin"}, {"id", by.id}}}, {"details", {{"revocation", rev}}}}},
      true);
  if (!committed) {
    // The revocation at the provider comes first (the tokens are needed for it); if the deletion's
    // row then cannot be written, the connection stays, and the log says the grant may be gone.
    if (revocation.attempted) {
      log_.error("a connection was not deleted (its audit row could not be written) after its revocation at the provider",
                 {{"connection_id", c.id}, {"provider_id", c.provider_id}, {"revoked", revocation.ok}});
    }
    return common::unexpected(committed.error());
  }
  cache_.connections_changed();
  return revocation;
}

Result<Connection> ConnectionService::refresh(const std::string& id) {
  auto c = get(id);
  if (!c) return common::unexpected(c.error());
  auto provider = catalog_->get(c->provider_id);
  if (!provider) return common::unexpected(make_error(Errc::kConflict, "conflict", "the connection's provider is unknown"));
  if (provider->credential.is_static()) {
    return common::unexpected(bad("this connection holds a " + std::string(oauth::credential_kind_name(provider->credential.kind)) +
                                  " credential, which does not expire: there is nothing to refresh (import a new one to replace it)"));
  }
  return tokens_.refresh(*c, *provider, true);
}

Result<ConnectLink> ConnectionService::create_link(const std::string& app_id, ConnectSpec spec, const nlohmann::json& actor) {
  auto app = store_.get_app(app_id);
  if (!app) return common::unexpected(make_error(Errc::kNotFound, "not_found", "no app '" + app_id + "'"));
  auto provider = catalog_->get(spec.provider_id);
  if (!provider || (provider->dev_only && !options_.dev_mode)) {
    return common::unexpected(bad("unknown provider '" + spec.provider_id + "'"));
  }
  if (spec.attributes.empty()) return common::unexpected(bad("field 'attributes' must name the user, e.g. {\"user_id\": \"alice\"}"));
  if (provider->credential.is_static() && !spec.scopes.empty()) {
    return common::unexpected(bad("provider '" + spec.provider_id + "' takes a " + oauth::credential_kind_name(provider->credential.kind) +
                                  " credential: it has no scopes"));
  }
  if (!spec.return_url.empty() && !return_url_allowed(*app, spec.return_url)) {
    return common::unexpected(bad("return_url is not on the app's allow-list (alter-vault apps update " + app_id +
                                  " --return-url PREFIX)"));
  }
  if (auto ok = check_settings(*provider, spec.settings); !ok) return common::unexpected(ok.error());
  // The provider must be configured for this app before a user can connect (an OAuth client; a
  // key, password or AWS key is what the user enters on the link's form).
  auto cred = provider->credential.is_supplied() ? StoreResult<ProviderCredential>(ProviderCredential{})
                                               : store_.get_provider_credential(app_id, provider->id);
  if (!cred) {
    if (cred.error().code == StoreErrc::kNotFound) {
      return common::unexpected(make_error(Errc::kFailedPrecondition, "provider_not_configured",
                                           "no client credentials are set for '" + provider->id + "' (alter-vault providers set " +
                                               provider->id + ")"));
    }
    return common::unexpected(store_error(cred.error()));
  }
  const std::string token = crypto::random_token(32);
  ConnectSession cs;
  cs.id = crypto::new_uuid();
  cs.app_id = app_id;
  cs.provider_id = provider->id;
  cs.attributes = spec.attributes;
  cs.return_url = spec.return_url;
  cs.token_hash = crypto::sha256_hex(token);
  cs.settings = spec.settings;
  if (!spec.scopes.empty()) cs.settings["__scopes"] = spec.scopes;
  cs.created_at = clock_.wall();
  cs.expires_at = cs.created_at + options_.link_lifetime;
  auto committed = audit_.commit(
      [&]() -> Result<void> {
        if (auto r = store_.create_connect_session(cs); !r) return common::unexpected(store_error(r.error()));
        return {};
      },
      audit::AuditEvent{{{"kind", "connect"}, {"app_id", app_id}, {"provider_id", cs.provider_id}, {"user", cs.attributes},
                         {"decision", "link_created"}, {"actor", actor},
                         {"details", {{"session_id", cs.id}, {"expires_at", iso8601(cs.expires_at)}}}}},
      false);
  if (!committed) return common::unexpected(committed.error());
  return ConnectLink{cs, public_url_() + "/connect/" + token};
}

Result<ConnectSession> ConnectionService::live_link(const std::string& link_token) const {
  auto cs = store_.find_connect_session_by_token(crypto::sha256_hex(link_token));
  if (!cs) return common::unexpected(make_error(Errc::kNotFound, "link_invalid", "This connect link is not valid. Ask the application for a new one."));
  if (cs->used_at) {
    return common::unexpected(make_error(Errc::kFailedPrecondition, "link_used", "This connect link was already used. Ask the application for a new one."));
  }
  if (cs->expires_at <= clock_.wall()) {
    return common::unexpected(make_error(Errc::kFailedPrecondition, "link_expired", "This connect link expired. Ask the application for a new one."));
  }
  return std::move(cs.value());
}

Result<std::optional<CredentialForm>> ConnectionService::link_form(const std::string& link_token) {
  auto cs = live_link(link_token);
  if (!cs) return common::unexpected(cs.error());
  auto provider = catalog_->get(cs->provider_id);
  if (!provider) return common::unexpected(make_error(Errc::kInternal, "provider_unavailable", "The provider of this link is no longer configured."));
  if (!provider->credential.is_supplied()) return std::optional<CredentialForm>();
  CredentialForm form;
  form.provider_id = provider->id;
  form.provider_name = provider->display_name;
  form.kind = oauth::credential_kind_name(provider->credential.kind);
  form.docs_url = provider->docs_url;
  form.setup = provider->setup;
  switch (provider->credential.kind) {
    case oauth::CredentialKind::kApiKey:
      form.fields = {{"api_key", provider->credential.more_headers.empty() ? "API key" : provider->credential.header, true, true}};
      for (const auto& [header, name] : provider->credential.more_headers) form.fields.push_back({name, header, true, true});
      break;
    case oauth::CredentialKind::kBasic:
      form.fields = {{"username", "User name", false, true}, {"password", "Password", true, !provider->credential.password_optional}};
      break;
    case oauth::CredentialKind::kAwsSigV4:
      form.fields = {{"access_key_id", "Access key ID", false, true},
                     {"secret_access_key", "Secret access key", true, true},
                     {"session_token", "Session token (temporary credentials only)", true, false}};
      break;
    case oauth::CredentialKind::kClientCredentials:
      form.fields = {{"client_id", "Client ID", false, true}, {"client_secret", "Client secret", true, true}};
      break;
    case oauth::CredentialKind::kOAuth2:
      break;
  }
  return std::optional<CredentialForm>(std::move(form));
}

ConnectOutcome ConnectionService::submit_credential(const std::string& link_token, credentials::Fields fields) {
  ConnectOutcome out;
  auto cs = live_link(link_token);
  if (!cs) {
    out.error_code = cs.error().code;
    out.message = cs.error().message;
    return out;
  }
  auto provider = catalog_->get(cs->provider_id);
  out.provider_id = cs->provider_id;
  out.provider_name = provider ? provider->display_name : cs->provider_id;
  if (!provider || !provider->credential.is_supplied()) {
    out.error_code = "not_a_form";
    out.message = "This connect link signs in with " + out.provider_name + ": open it instead.";
    return out;
  }
  // A field left empty on the form (an optional session token) is a field not given.
  std::erase_if(fields, [](const auto& f) { return f.second.empty(); });
  auto packed = credentials::pack(provider->credential, fields);
  if (!packed) {
    out.error_code = "invalid_credential";
    out.message = packed.error().message;
    return out;  // nothing stored, and the link still works
  }
  const TimePoint now = clock_.wall();
  Connection c;
  c.app_id = cs->app_id;
  c.provider_id = cs->provider_id;
  c.attributes = cs->attributes;
  c.status = ConnectionStatus::kActive;
  c.metadata = nlohmann::json::object();
  for (auto it = cs->settings.begin(); it != cs->settings.end(); ++it) {
    if (it.key() != "__scopes") c.metadata[it.key()] = it.value();
  }
  c.created_at = c.updated_at = now;
  if (cs->settings.contains("__scopes")) c.scopes = cs->settings["__scopes"].get<std::vector<std::string>>();
  if (auto sealed = seal_supplied(*provider, c, *packed); !sealed) {
    out.error_code = sealed.error().errc == Errc::kBadGateway ? "provider_unavailable" : "invalid_credential";
    out.message = sealed.error().message;
    return out;  // nothing stored, and the link still works
  }
  if (!store_connected(*cs, c, now, {{"credential", oauth::credential_kind_name(provider->credential.kind)}, {"via", "form"}},
                       "This connect link was already used. Ask the application for a new one.", out)) {
    return out;
  }
  out.return_url = cs->return_url;
  out.message = "Your " + out.provider_name + " credential is stored in the vault; the application never sees it.";
  return out;
}

bool ConnectionService::store_connected(const ConnectSession& cs, const Connection& c, TimePoint now, nlohmann::json details,
                                        const std::string& used_message, ConnectOutcome& out) {
  std::optional<Connection> stored;
  std::vector<audit::AuditEvent> events;
  auto committed = audit_.commit(
      [&]() -> Result<void> {
        // Single use (compare-and-set), in the same transaction as the connection and its row.
        if (auto used = store_.use_connect_session(cs.id, now); !used) {
          return common::unexpected(make_error(Errc::kConflict, "session_used", used_message));
        }
        auto r = store_.upsert_connection(c);
        if (!r) return common::unexpected(store_error(r.error()));
        stored = std::move(r.value());
        events.push_back(audit::AuditEvent{{{"kind", "connect"}, {"app_id", cs.app_id}, {"provider_id", cs.provider_id},
                                            {"user", cs.attributes}, {"decision", "connected"}, {"connection_id", stored->id},
                                            {"details", std::move(details)}}});
        return {};
      },
      events, true);
  if (!committed) {
    out.error_code = committed.error().code;
    out.message = committed.error().code == "session_used" ? committed.error().message
                                                           : "The vault could not store the connection. Please try again.";
    if (committed.error().code == "session_used") out.return_url.clear();
    return false;
  }
  cache_.connections_changed();
  log_.info("connection created", {{"connection_id", stored->id}, {"provider", stored->provider_id}, {"app_id", stored->app_id}});
  out.ok = true;
  out.connection_id = stored->id;
  return true;
}

Result<std::string> ConnectionService::open_link(const std::string& link_token) {
  auto cs = live_link(link_token);
  if (!cs) return common::unexpected(cs.error());
  auto provider = catalog_->get(cs->provider_id);
  if (!provider) return common::unexpected(make_error(Errc::kInternal, "provider_unavailable", "The provider of this link is no longer configured."));
  auto client = tokens_.client_for(cs->app_id, *provider, cs->settings);
  if (!client) return common::unexpected(make_error(Errc::kInternal, "provider_not_configured", client.error().message));
  const std::string state = crypto::random_token(32);
  const std::string verifier = crypto::random_token(48);  // 64 chars: within RFC 7636's 43..128
  // Flow bookkeeping (the state and the verifier to check the provider's answer against); the
  // flow's outcome, connected or failed, is what the audit trail records.
  if (auto r = store_.start_connect_session(cs->id, crypto::sha256_hex(state), sealed_.seal_pkce_verifier(cs->id, verifier)); !r) {
    return common::unexpected(make_error(Errc::kUnavailable, "unavailable", "The vault cannot store the session right now."));
  }
  std::vector<std::string> scopes = provider->default_scopes;
  if (cs->settings.contains("__scopes")) scopes = cs->settings["__scopes"].get<std::vector<std::string>>();
  auto url = oauth::authorization_url(*provider, *client, redirect_uri(), scopes, state, oauth::pkce_challenge(verifier),
                                      options_.dev_mode);
  if (!url) return common::unexpected(make_error(Errc::kInternal, "provider_misconfigured", url.error().message));
  return *url;
}

ConnectOutcome ConnectionService::callback(const std::map<std::string, std::string>& query) {
  ConnectOutcome out;
  const std::string state = value_of(query, "state");
  if (state.empty()) {
    out.message = "The provider's answer has no state: this page was not opened by a connect flow.";
    return out;
  }
  auto found = store_.find_connect_session_by_state(crypto::sha256_hex(state));
  if (!found) {
    out.message = "This sign-in answer does not belong to a connect session (or it expired).";
    return out;
  }
  ConnectSession cs = std::move(found.value());
  const TimePoint now = clock_.wall();
  auto provider = catalog_->get(cs.provider_id);
  out.provider_id = cs.provider_id;
  out.provider_name = provider ? provider->display_name : cs.provider_id;
  out.return_url = cs.return_url;
  if (cs.used_at) {
    out.return_url.clear();
    out.message = "This sign-in answer was already used.";
    return out;
  }
  auto event = [&](const std::string& decision, nlohmann::json details, const std::string& connection_id) {
    return audit::AuditEvent{{{"kind", "connect"}, {"app_id", cs.app_id}, {"provider_id", cs.provider_id},
                              {"user", cs.attributes}, {"decision", decision}, {"connection_id", connection_id},
                              {"details", std::move(details)}}};
  };
  // Every outcome uses the session up (single use, compare-and-set) with its audit row.
  auto use_session = [&]() -> Result<void> {
    if (auto used = store_.use_connect_session(cs.id, now); !used) {
      return common::unexpected(make_error(Errc::kConflict, "session_used", "This sign-in answer was already used."));
    }
    return {};
  };
  auto failed = [&](const std::string& code, std::string message, nlohmann::json details) {
    details["error"] = code;
    auto committed = audit_.commit(use_session, event("failed", std::move(details), ""), false);
    out.ok = false;
    out.error_code = code;
    out.message = committed || committed.error().code != "session_used" ? std::move(message) : committed.error().message;
    if (!committed && committed.error().code == "session_used") out.return_url.clear();
    if (!committed && committed.error().code == "unavailable") {
      // Not even the failure could be recorded: the session stays unused, and the page says 503.
      out.error_code = "unavailable";
      out.message = "The vault cannot record this sign-in right now. Nothing was changed; try the link again shortly.";
    }
    return out;
  };
  if (cs.expires_at <= now) {
    return failed("session_expired", "The connect session expired before the sign-in finished. Ask for a new link.", nlohmann::json::object());
  }
  if (!provider) return failed("provider_unavailable", "The provider is no longer configured.", nlohmann::json::object());
  if (!provider->issuer.empty() && value_of(query, "iss") != provider->issuer) {
    return failed("issuer_mismatch", "The answer did not come from " + provider->display_name + "'s authorization server (issuer mismatch).",
                  nlohmann::json::object());
  }
  if (const std::string err = value_of(query, "error"); !err.empty()) {
    std::string desc = value_of(query, "error_description");
    if (desc.size() > 300) desc.resize(300);
    const std::string what = err == "access_denied" ? "Access was not granted (" + err + ")."
                                                    : "The provider reported an error: " + err.substr(0, 64) + ".";
    return failed(err.substr(0, 64), what + (desc.empty() ? "" : " " + desc) + " Nothing was stored.", nlohmann::json::object());
  }
  const std::string code = value_of(query, "code");
  if (code.empty()) return failed("no_code", "The provider's answer has no authorization code. Nothing was stored.", nlohmann::json::object());
  auto verifier = sealed_.open_pkce_verifier(cs);
  auto client = tokens_.client_for(cs.app_id, *provider, cs.settings);
  if (!verifier || !client) return failed("internal", "The vault cannot complete this connection.", nlohmann::json::object());
  auto tokens = oauth_.exchange_code(*provider, *client, code, redirect_uri(), std::string(verifier->reveal()));
  if (!tokens) {
    return failed(tokens.error().code.empty() ? "exchange_failed" : tokens.error().code,
                  "The code could not be exchanged for a token: " + tokens.error().message + ". Nothing was stored.",
                  {{"message", tokens.error().message}});
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
    if (auto v = value_of(query, param.c_str()); !v.empty()) c.metadata[param] = v;
  }
  c.created_at = c.updated_at = now;
  c.tokens = sealed_.seal_tokens(c, tokens->access_token.reveal(), tokens->refresh_token.reveal(), tokens->id_token.reveal());
  if (!store_connected(cs, c, now, {{"scopes", c.scopes}, {"refresh_token", !tokens->refresh_token.empty()}},
                       "This sign-in answer was already used.", out)) {
    return out;
  }
  out.message = "Your " + out.provider_name + " account is now connected.";
  return out;
}

}  // namespace alter::server::vault
