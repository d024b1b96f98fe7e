#include "vault/token_manager.hpp"


#include <thread>

#include "core/time.hpp"
#include "crypto/crypto.hpp"
#include "guard/url_guard.hpp"

namespace alter::server::vault {

using oauth::OAuthFailure;
using oauth::OAuthResult;
using oauth::RefreshMode;
using oauth::TokenSet;
namespace {

// The connection id travels in the answer's fields, added by the token endpoint.
Error expired_error(Errc errc, const Connection&, std::string message) {
  return make_error(errc, "token_expired", std::move(message));
}

}  // namespace

std::map<std::string, std::string> provider_variables(const ProviderDef& p, const nlohmann::json& credential_settings,
                                                      const nlohmann::json& connection_metadata) {
  std::map<std::string, std::string> out;
  for (const auto& [name, var] : p.variables) {
    const nlohmann::json& source = var.scope == "credential" ? credential_settings : connection_metadata;
    if (source.is_object() && source.contains(name) && source[name].is_string()) {
      out[name] = source[name].get<std::string>();
    } else if (!var.default_value.empty()) {
      out[name] = var.default_value;
    }
  }
  return out;
}

std::vector<std::string> connection_api_hosts(const ProviderDef& p, const Connection& c,
                                              const std::map<std::string, std::string>& variables) {
  std::vector<std::string> hosts;
  for (const auto& h : p.api_hosts) {
    if (h.find('{') == std::string::npos) {
      hosts.push_back(h);
    } else if (auto filled = oauth::substitute(h, variables)) {
      hosts.push_back(*filled);
    }
  }
  for (const auto& field : p.api_hosts_from_fields) {
    if (!c.metadata.contains(field) || !c.metadata[field].is_string()) continue;
    // Read by the guard's own parser: only an https URL with a DNS name adds a host.
    auto u = guard::normalize_url(c.metadata[field].get<std::string>());
    if (u && u->scheme == "https" && u->host_kind == guard::HostKind::kName) hosts.push_back(u->host);
  }
  return hosts;
}

TokenManager::TokenManager(Store& store, sealed::SealedStore& sealed, const OAuthClient& client, audit::AuditLog& audit,
                           Metrics& metrics, Logger& log, const common::Clock& clock, TokenManagerOptions options)
    : store_(store),
      sealed_(sealed),
      client_(client),
      audit_(audit),
      metrics_(metrics),
      log_(log),
      clock_(clock),
      options_(options) {}

bool TokenManager::needs_refresh(const Connection& c, const ProviderDef& p) const {
  if (!c.expires_at) return false;
  if (p.refresh != RefreshMode::kRefreshes && p.refresh != RefreshMode::kRotates) return false;
  return *c.expires_at - options_.skew <= clock_.wall();
}

Result<ClientCredentials> TokenManager::client_for(const std::string& app_id, const ProviderDef& p,
                                                   const nlohmann::json& connection_metadata) {
  auto cred = store_.get_provider_credential(app_id, p.id);
  if (!cred) {
    if (cred.error().code == StoreErrc::kNotFound) {
      return common::unexpected(make_error(Errc::kFailedPrecondition, "provider_not_configured",
                                           "no client credentials are set for provider '" + p.id +
                                               "' (alter-vault providers set " + p.id + ")"));
    }
    return common::unexpected(make_error(Errc::kUnavailable, "unavailable", "the store cannot be read: " + cred.error().message));
  }
  ClientCredentials c;
  c.client_id = cred->client_id;
  if (!cred->client_secret.bytes.empty()) {
    auto secret = sealed_.open_client_secret(*cred);
    if (!secret) return common::unexpected(secret.error());
    c.client_secret = std::move(secret.value());
  }
  c.variables = provider_variables(p, cred->settings, connection_metadata);
  return c;
}

std::optional<Result<IssuedToken>> TokenManager::token_without_refresh(const Connection& connection,
                                                                       const ProviderDef& provider) const {
  if (connection.status == ConnectionStatus::kReauthRequired) {
    return common::unexpected(expired_error(Errc::kFailedPrecondition, connection, "the connection needs re-authorization: reconnect the user"));
  }
  if (needs_refresh(connection, provider)) return std::nullopt;
  return open_fresh(connection, false);
}

Result<IssuedToken> TokenManager::open_fresh(Connection current, bool refreshed) const {
  if (current.expires_at && *current.expires_at <= clock_.wall()) {
    return common::unexpected(expired_error(Errc::kFailedPrecondition, current,
                                            "the token expired and this provider cannot refresh it: reconnect the user"));
  }
  auto tokens = sealed_.open_tokens(current);
  if (!tokens) return common::unexpected(tokens.error());
  IssuedToken out;
  out.access_token = std::move(tokens->access_token);
  out.connection = std::move(current);
  out.refreshed = refreshed;
  return out;
}

Result<IssuedToken> TokenManager::token_for(const Connection& connection, const ProviderDef& provider) {
  if (auto ready = token_without_refresh(connection, provider)) return std::move(*ready);
  // A refresh is due.
  const bool expired = connection.expires_at && *connection.expires_at <= clock_.wall();
  if (auto wait = backing_off(connection.id)) {
    // After failed refreshes: a token still valid is used as it is; an expired one waits.
    if (expired) {
      return common::unexpected(expired_error(Errc::kBadGateway, connection,
                                              "the provider could not refresh the token lately; the next attempt is in " +
                                                  std::to_string(wait->count() / 1000 + 1) + " s"));
    }
    auto tokens = sealed_.open_tokens(connection);
    if (!tokens) return common::unexpected(tokens.error());
    return IssuedToken{std::move(tokens->access_token), connection, false};
  }
  auto r = refresh(connection, provider, false);
  if (!r) return common::unexpected(r.error());
  const bool refreshed = r->version != connection.version;
  return open_fresh(std::move(r.value()), refreshed);
}

Result<Connection> TokenManager::refresh(const Connection& connection, const ProviderDef& provider, bool force) {
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    std::unique_lock lock(mu_);
    auto it = flights_.find(connection.id);
    if (it == flights_.end()) {
      flight = std::make_shared<Flight>();
      flights_[connection.id] = flight;
      leader = true;
    } else {
      flight = it->second;
    }
    if (!leader) {
      metrics_.inc("alter_refresh_waiters_total");
      cv_.wait(lock, [&] { return flight->done; });
      return *flight->result;
    }
  }
  // One refresh per connection across instances too: the store's lock (PostgreSQL: an advisory
  // lock), inside which do_refresh re-reads the row and skips the call if another instance did it.
  Result<Connection> result = common::unexpected(make_error(Errc::kUnavailable, "unavailable", "the refresh lock was not taken"));
  auto locked = store_.with_connection_lock(connection.id, std::chrono::seconds(30),
                                            [&] { result = do_refresh(connection, provider, force); });
  if (!locked) {
    result = common::unexpected(make_error(Errc::kUnavailable, "unavailable", "cannot lock the connection for refresh: " + locked.error().message));
  }
  {
    std::lock_guard lock(mu_);
    flight->result = result;
    flight->done = true;
    flights_.erase(connection.id);
  }
  cv_.notify_all();
  return result;
}

Result<Connection> TokenManager::do_refresh(const Connection& snapshot, const ProviderDef& provider, bool force) {
  // Re-read: a refresh that finished a moment ago (here or on another instance) makes this one moot.
  auto fresh = store_.get_connection(snapshot.id);
  if (!fresh) {
    if (fresh.error().code == StoreErrc::kNotFound) {
      return common::unexpected(make_error(Errc::kNotFound, "connection_not_found", "the connection was deleted"));
    }
    return common::unexpected(make_error(Errc::kUnavailable, "unavailable", "the store cannot be read: " + fresh.error().message));
  }
  Connection current = std::move(fresh.value());
  if (current.status == ConnectionStatus::kReauthRequired) {
    return common::unexpected(expired_error(Errc::kFailedPrecondition, current, "the connection needs re-authorization: reconnect the user"));
  }
  if (!force && !needs_refresh(current, provider)) {
    if (on_update_ && current.version != snapshot.version) on_update_(current);
    return current;
  }
  if (force && current.version != snapshot.version) return current;

  auto tokens = sealed_.open_tokens(current);
  if (!tokens) return common::unexpected(tokens.error());
  if (tokens->refresh_token.empty()) {
    if (current.expires_at && *current.expires_at <= clock_.wall()) {
      return common::unexpected(expired_error(Errc::kFailedPrecondition, current, "the token expired and no refresh token was granted: reconnect the user"));
    }
    return current;  // still valid for a moment; nothing to refresh with
  }
  auto client = client_for(current.app_id, provider, current.metadata);
  if (!client) {
    return common::unexpected(expired_error(Errc::kBadGateway, current, "cannot refresh: " + client.error().message));
  }

  OAuthResult<TokenSet> answer = common::unexpected(OAuthFailure{});
  auto backoff = options_.retry_backoff;
  for (int attempt = 1; attempt <= std::max(options_.refresh_attempts, 1); ++attempt) {
    ++refresh_calls_;
    const auto started = std::chrono::steady_clock::now();
    answer = client_.refresh(provider, *client, tokens->refresh_token.reveal());
    metrics_.observe("alter_refresh_seconds", "provider=\"" + label_value(provider.id) + "\"",
                     std::chrono::steady_clock::now() - started);
    if (answer || answer.error().kind != OAuthFailure::Kind::kTransient) break;
    if (attempt < options_.refresh_attempts) {
      std::this_thread::sleep_for(backoff);
      backoff *= 2;
    }
  }

  if (!answer) {
    const auto& f = answer.error();
    nlohmann::json event = {{"kind", "refresh"}, {"app_id", current.app_id}, {"provider_id", provider.id},
                            {"connection_id", current.id}, {"user", current.attributes},
                            {"decision", f.kind == OAuthFailure::Kind::kInvalidGrant ? "reauth_required" : "refresh_failed"},
                            {"details", {{"provider_error", f.code}, {"status", f.status}, {"message", f.message}}}};
    note_failure(current.id);
    if (f.kind == OAuthFailure::Kind::kInvalidGrant) {
      metrics_.inc("alter_refreshes_total", "result=\"invalid_grant\"");
      Connection dead = current;
      dead.status = ConnectionStatus::kReauthRequired;
      dead.updated_at = clock_.wall();
      std::optional<Connection> saved;
      // The status and its audit row together; if they cannot be written, the grant is still
      // reported dead to this caller (the next refresh finds the same answer).
      auto committed = audit_.commit(
          [&]() -> Result<void> {
            auto r = store_.update_connection(dead, current.version);
            if (!r) return common::unexpected(make_error(Errc::kUnavailable, "unavailable", r.error().message));
            saved = std::move(r.value());
            return {};
          },
          audit::AuditEvent{event}, false);
      if (committed && saved && on_update_) on_update_(*saved);
      log_.warn("refresh refused: the connection needs re-authorization",
                {{"connection_id", current.id}, {"provider", provider.id}});
      return common::unexpected(expired_error(Errc::kFailedPrecondition, current,
                                              "the provider refused the refresh token (invalid_grant): reconnect the user"));
    }
    metrics_.inc("alter_refreshes_total", "result=\"failed\"");
    (void)audit_.record(audit::AuditEvent{event});
    log_.warn("refresh failed", {{"connection_id", current.id}, {"provider", provider.id}, {"error", f.message}});
    return common::unexpected(expired_error(Errc::kBadGateway, current, "the provider could not refresh the token now: " + f.message));
  }

  TokenSet& t = answer.value();
  Connection updated = current;
  const std::string_view refresh_token = t.refresh_token.empty() ? tokens->refresh_token.reveal() : t.refresh_token.reveal();
  const std::string_view id_token = t.id_token.empty() ? tokens->id_token.reveal() : t.id_token.reveal();
  updated.tokens = sealed_.seal_tokens(current, t.access_token.reveal(), refresh_token, id_token);
  updated.token_type = t.token_type;
  if (!t.scopes.empty()) updated.scopes = t.scopes;
  updated.expires_at = t.expires_at;
  for (auto it = t.kept.begin(); it != t.kept.end(); ++it) updated.metadata[it.key()] = it.value();
  updated.updated_at = clock_.wall();
  const bool rotated = !t.refresh_token.empty() && t.refresh_token.reveal() != tokens->refresh_token.reveal();
  audit::AuditEvent event{{{"kind", "refresh"}, {"app_id", current.app_id}, {"provider_id", provider.id},
                           {"connection_id", current.id}, {"user", current.attributes}, {"decision", "refreshed"},
                           {"details", {{"rotated", rotated}, {"expires_at", t.expires_at ? iso8601(*t.expires_at) : std::string()}}}}};
  // Saved (compare-and-set) with its audit row before the new token is used: a rotated refresh
  // token is never lost, and never stored unaudited.
  std::optional<Connection> saved;
  bool conflict = false;
  auto committed = audit_.commit(
      [&]() -> Result<void> {
        auto r = store_.update_connection(updated, current.version);
        if (!r) {
          conflict = r.error().code == StoreErrc::kConflict;
          return common::unexpected(make_error(conflict ? Errc::kConflict : Errc::kUnavailable, conflict ? "conflict" : "unavailable",
                                               "the refreshed token could not be saved: " + r.error().message));
        }
        saved = std::move(r.value());
        return {};
      },
      event, false);
  if (!committed) {
    if (conflict) {
      // Someone else saved a newer token set first; use theirs.
      auto again = store_.get_connection(current.id);
      if (again) return again.value();
    }
    metrics_.inc("alter_refreshes_total", "result=\"store_failed\"");
    return common::unexpected(make_error(Errc::kUnavailable, "unavailable",
                                         "the refreshed token could not be saved with its audit row: nothing was changed"));
  }
  note_success(current.id);
  metrics_.inc("alter_refreshes_total", "result=\"ok\"");
  if (on_update_) on_update_(*saved);
  return *saved;
}

void TokenManager::note_failure(const std::string& id) {
  std::lock_guard lock(mu_);
  auto& b = backoff_[id];
  ++b.failures;
  // 5 s, 10 s, 20 s, ... up to 10 min, each +/-20% so connections that failed together spread out.
  auto wait = options_.failure_backoff;
  for (int i = 1; i < b.failures && wait < options_.failure_backoff_max; ++i) wait *= 2;
  wait = std::min(wait, options_.failure_backoff_max);
  const double jitter = 0.8 + 0.4 * (static_cast<double>(crypto::random_bytes(1)[0] & 0xff) / 255.0);
  b.until = clock_.now() + std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(wait.count()) * jitter));
  if (backoff_.size() > 100000) backoff_.erase(backoff_.begin());
}

void TokenManager::note_success(const std::string& id) {
  std::lock_guard lock(mu_);
  backoff_.erase(id);
}

std::optional<std::chrono::milliseconds> TokenManager::backing_off(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = backoff_.find(id);
  if (it == backoff_.end()) return std::nullopt;
  const auto now = clock_.now();
  if (now >= it->second.until) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(it->second.until - now);
}

bool TokenManager::may_refresh_now(const std::string& id) const { return !backing_off(id).has_value(); }

}  // namespace alter::server::vault
