#include "vault/admin.hpp"

#include <regex>

#include "core/time.hpp"
#include "crypto/crypto.hpp"
#include "vault/authenticator.hpp"
#include "guard/url_guard.hpp"

namespace alter::server::vault {
namespace {

Error bad(std::string m) { return make_error(Errc::kInvalidArgument, "invalid_request", std::move(m)); }

audit::AuditEvent admin_event(const std::string& app_id, const std::string& action, const AdminCaller& by, nlohmann::json details) {
  return {{{"kind", "admin"}, {"app_id", app_id}, {"decision", action}, {"actor", {{"type", "admin"}, {"id", by.id}}},
           {"details", std::move(details)}}};
}

Result<void> store_step(const StoreResult<void>& r) {
  if (!r) return common::unexpected(store_error(r.error()));
  return {};
}

}  // namespace

Result<void> check_provider_endpoints(const oauth::ProviderDef& p, bool dev_mode) {
  for (const auto& [name, url] : {std::pair<const char*, const std::string*>{"authorization_url", &p.authorization_url},
                                  {"token_url", &p.token_url}, {"refresh_url", &p.refresh_url},
                                  {"revocation_url", &p.revocation_url}, {"userinfo_url", &p.userinfo_url}}) {
    if (url->empty() || url->front() == '{') continue;  // all of it templated: checked when filled in
    // A template's fixed parts are checked now, with each placeholder as a plain label; the
    // filled-in URL is checked again where it is used (OAuthClient).
    std::string probe;
    for (std::size_t i = 0; i < url->size(); ++i) {
      if ((*url)[i] == '{') {
        const auto end = url->find('}', i);
        if (end == std::string::npos) break;
        probe += "x";
        i = end;
      } else {
        probe += (*url)[i];
      }
    }
    if (auto ok = guard::check_endpoint_url(probe, dev_mode, "provider '" + p.id + "': " + name); !ok) {
      return common::unexpected(ok.error());
    }
  }
  return {};
}

AdminService::AdminService(Options options, std::shared_ptr<oauth::Catalog> catalog, Store& store, sealed::SealedStore& sealed,
                           audit::AuditLog& audit, VaultCache& cache, const common::Clock& clock)
    : options_(options), catalog_(std::move(catalog)), store_(store), sealed_(sealed), audit_(audit), cache_(cache), clock_(clock) {}

Result<App> AdminService::existing_app(const std::string& id) const {
  auto app = store_.get_app(id);
  if (!app) {
    if (app.error().code == StoreErrc::kNotFound) return common::unexpected(make_error(Errc::kNotFound, "not_found", "no app '" + id + "'"));
    return common::unexpected(store_error(app.error()));
  }
  return app.value();
}

Result<App> AdminService::get_app(const std::string& id) const { return existing_app(id); }

Result<AdminService::Stats> AdminService::stats() const {
  auto counts = store_.table_counts();
  if (!counts) return common::unexpected(store_error(counts.error()));
  auto head = store_.audit_head();
  if (!head) return common::unexpected(store_error(head.error()));
  auto by_status = store_.connection_status_counts();
  if (!by_status) return common::unexpected(store_error(by_status.error()));
  return Stats{std::move(counts.value()), head->seq, head->hash, std::move(by_status.value())};
}

Result<void> AdminService::ready() const {
  if (auto writable = store_.check_writable(); !writable) {
    return common::unexpected(make_error(Errc::kUnavailable, "store", writable.error().message));
  }
  if (audit_.failing(std::chrono::seconds(30))) {
    return common::unexpected(make_error(Errc::kUnavailable, "audit", "the audit trail could not be written lately"));
  }
  return {};
}

Result<std::vector<App>> AdminService::list_apps() const {
  auto apps = store_.list_apps();
  if (!apps) return common::unexpected(store_error(apps.error()));
  return std::move(apps.value());
}

Result<App> AdminService::create_app(App app, const AdminCaller& by) {
  app.created_at = clock_.wall();
  auto committed = audit_.commit(
      [&]() -> Result<void> {
        auto r = store_.create_app(app);
        if (!r && r.error().code == StoreErrc::kConflict) {
          return common::unexpected(make_error(Errc::kConflict, "conflict", "app '" + app.id + "' exists"));
        }
        return store_step(r);
      },
      admin_event(app.id, "app_created", by, {{"app", app.id}, {"settings", app.settings.to_json()}}), false);
  if (!committed) return common::unexpected(committed.error());
  return app;
}

Result<App> AdminService::update_app(const std::string& id, const std::function<Result<void>(App&)>& change, const AdminCaller& by) {
  auto app = existing_app(id);
  if (!app) return app;
  if (auto r = change(*app); !r) return common::unexpected(r.error());
  auto committed = audit_.commit([&] { return store_step(store_.update_app(*app)); },
                                 admin_event(id, "app_updated", by, {{"app", id}, {"settings", app->settings.to_json()}}),
                                 true);
  if (!committed) return common::unexpected(committed.error());
  cache_.apps_changed();
  return app;
}

Result<NewKey> AdminService::create_key(const std::string& app_id, const std::string& name, const AdminCaller& by) {
  if (auto app = existing_app(app_id); !app) return common::unexpected(app.error());
  auto secret = Authenticator::new_api_key();
  NewKey out;
  out.record = ApiKeyRecord{crypto::new_uuid(), app_id, name, secret.hint, secret.hash, clock_.wall(), std::nullopt};
  out.key = std::move(secret.value);
  auto committed = audit_.commit([&] { return store_step(store_.create_api_key(out.record)); },
                                 admin_event(app_id, "api_key_created", by, {{"key_id", out.record.id}, {"hint", out.record.hint}}),
                                 false);
  if (!committed) {
    common::secure_wipe(out.key);
    return common::unexpected(committed.error());
  }
  return out;
}

Result<std::vector<ApiKeyRecord>> AdminService::list_keys(const std::string& app_id) const {
  if (auto app = existing_app(app_id); !app) return common::unexpected(app.error());
  auto keys = store_.list_api_keys(app_id);
  if (!keys) return common::unexpected(store_error(keys.error()));
  return std::move(keys.value());
}

Result<ApiKeyRecord> AdminService::revoke_key(const std::string& key_id, const AdminCaller& by) {
  const TimePoint now = clock_.wall();
  std::optional<ApiKeyRecord> revoked;
  std::vector<audit::AuditEvent> events;
  auto committed = audit_.commit(
      [&]() -> Result<void> {
        if (auto r = store_.revoke_api_key(key_id, now); !r) {
          if (r.error().code == StoreErrc::kNotFound) return common::unexpected(make_error(Errc::kNotFound, "not_found", "no such API key"));
          return common::unexpected(store_error(r.error()));
        }
        events.push_back(admin_event("", "api_key_revoked", by, {{"key_id", key_id}}));
        ApiKeyRecord r;
        r.id = key_id;
        r.revoked_at = now;
        revoked = r;
        return {};
      },
      events, true);  // other instances drop their cached keys at once
  if (!committed) return common::unexpected(committed.error());
  cache_.api_keys_changed();
  return *revoked;
}

Result<NewAdminCredential> AdminService::create_admin(const std::string& name, const AdminCaller& by) {
  auto secret = Authenticator::new_admin_credential();
  NewAdminCredential out;
  out.record = AdminCredential{crypto::new_uuid(), name, secret.hint, secret.hash, clock_.wall(), std::nullopt};
  out.token = std::move(secret.value);
  auto committed = audit_.commit([&] { return store_step(store_.create_admin_credential(out.record)); },
                                 admin_event("", "admin_credential_created", by, {{"credential_id", out.record.id}}), false);
  if (!committed) {
    common::secure_wipe(out.token);
    return common::unexpected(committed.error());
  }
  return out;
}

Result<std::vector<AdminCredential>> AdminService::list_admins() const {
  auto rows = store_.list_admin_credentials();
  if (!rows) return common::unexpected(store_error(rows.error()));
  return std::move(rows.value());
}

Result<void> AdminService::revoke_admin(const std::string& id, const AdminCaller& by) {
  if (id == by.id) return common::unexpected(make_error(Errc::kConflict, "conflict", "a credential cannot revoke itself"));
  return audit_.commit(
      [&]() -> Result<void> {
        if (auto r = store_.revoke_admin_credential(id, clock_.wall()); !r) {
          return common::unexpected(r.error().code == StoreErrc::kNotFound ? make_error(Errc::kNotFound, "not_found", "no such credential")
                                                                           : store_error(r.error()));
        }
        return {};
      },
      admin_event("", "admin_credential_revoked", by, {{"credential_id", id}}), true);
}

Result<ProviderCredential> AdminService::put_credential(const std::string& app_id, const std::string& provider_id,
                                                        CredentialSpec spec, const AdminCaller& by) {
  if (auto app = existing_app(app_id); !app) return common::unexpected(app.error());
  auto provider = catalog_->get(provider_id);
  if (!provider) return common::unexpected(make_error(Errc::kNotFound, "not_found", "unknown provider '" + provider_id + "'"));
  if (provider->credential.is_supplied()) {
    return common::unexpected(bad("provider '" + provider_id + "' has no app-wide OAuth client: its " +
                                  oauth::credential_kind_name(provider->credential.kind) +
                                  " credential is imported per connection (alter-vault connections import)"));
  }
  for (const auto& [k, v] : spec.settings) {
    auto var = provider->variables.find(k);
    if (var == provider->variables.end() || var->second.scope != "credential") {
      return common::unexpected(bad("setting '" + k + "' is not a credential variable of " + provider_id));
    }
    if (!var->second.pattern.empty() && !std::regex_match(v, std::regex(var->second.pattern))) {
      return common::unexpected(bad("setting '" + k + "' does not match " + var->second.pattern));
    }
  }
  ProviderCredential c;
  c.app_id = app_id;
  c.provider_id = provider_id;
  c.client_id = spec.client_id;
  if (spec.client_secret && !spec.client_secret->empty()) {
    c.client_secret = sealed_.seal_client_secret(app_id, provider_id, spec.client_secret->reveal());
  }
  c.settings = spec.settings;
  c.updated_at = clock_.wall();
  auto committed = audit_.commit([&] { return store_step(store_.put_provider_credential(c)); },
                                 admin_event(app_id, "provider_credential_set", by, {{"provider_id", provider_id}, {"client_id", c.client_id}}),
                                 false);
  if (!committed) return common::unexpected(committed.error());
  return c;
}

Result<std::vector<ProviderCredential>> AdminService::list_credentials(const std::string& app_id) const {
  if (auto app = existing_app(app_id); !app) return common::unexpected(app.error());
  auto creds = store_.list_provider_credentials(app_id);
  if (!creds) return common::unexpected(store_error(creds.error()));
  return std::move(creds.value());
}

Result<void> AdminService::delete_credential(const std::string& app_id, const std::string& provider_id, const AdminCaller& by) {
  return audit_.commit([&] { return store_step(store_.delete_provider_credential(app_id, provider_id)); },
                       admin_event(app_id, "provider_credential_deleted", by, {{"provider_id", provider_id}}), false);
}

Result<oauth::ProviderDef> AdminService::add_provider(const nlohmann::json& definition, const AdminCaller& by) {
  auto def = oauth::parse_provider(definition);
  if (!def) return common::unexpected(def.error());
  if (auto existing = catalog_->get(def->id); existing && !existing->custom) {
    return common::unexpected(make_error(Errc::kConflict, "conflict", "'" + def->id + "' is a built-in provider"));
  }
  if (auto ok = check_provider_endpoints(*def, options_.dev_mode); !ok) return common::unexpected(ok.error());
  def->custom = true;
  CustomProvider cp{def->id, def->to_json().dump(), clock_.wall()};
  auto committed = audit_.commit([&] { return store_step(store_.put_custom_provider(cp)); },
                                 admin_event("", "provider_added", by, {{"provider_id", def->id}}), true);
  if (!committed) return common::unexpected(committed.error());
  catalog_->put(*def);
  return *def;
}

Result<void> AdminService::remove_provider(const std::string& id, const AdminCaller& by) {
  auto d = catalog_->get(id);
  if (!d) return common::unexpected(make_error(Errc::kNotFound, "not_found", "unknown provider"));
  if (!d->custom) return common::unexpected(make_error(Errc::kConflict, "conflict", "built-in providers cannot be removed"));
  auto committed = audit_.commit([&] { return store_step(store_.delete_custom_provider(id)); },
                                 admin_event("", "provider_removed", by, {{"provider_id", id}}), true);
  if (!committed) return committed;
  catalog_->remove_custom(id);
  return {};
}

Result<std::uint32_t> AdminService::rotate_key(const AdminCaller& by) {
  auto entries = store_.keyring();
  if (!entries) return common::unexpected(store_error(entries.error()));
  std::uint32_t next = 1;
  for (const auto& e : *entries) next = std::max(next, e.version + 1);
  const KeyringEntry entry = sealed_.new_key(next, clock_.wall());
  auto committed = audit_.commit([&] { return store_step(store_.add_key(entry)); },
                                 admin_event("", "key_rotated", by, {{"active_version", next}}), true);
  if (!committed) return common::unexpected(committed.error());
  if (auto r = sealed_.install(entry); !r) return common::unexpected(r.error());
  return next;
}

}  // namespace alter::server::vault
