#include "vault/token_manager.hpp"


#include <thread>
#include <tuple>

#include "core/time.hpp"
#include "credentials/static_credential.hpp"
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

Result<ClientCredentials> TokenManager::client_of(const Connection& c, const ProviderDef& p, std::string_view packed) {
  if (!p.credential.is_client_credentials()) return client_for(c.app_id, p, c.metadata);
  auto fields = credentials::unpack(packed);
  if (!fields) return common::unexpected(fields.error());
  ClientCredentials client;
  if (auto it = fields->find("client_id"); it != fields->end()) client.client_id = std::string(it->second.reveal());
  if (auto it = fields->find("client_secret"); it != fields->end()) client.client_secret = std::move(it->second);
  client.variables = provider_variables(p, nlohmann::json::object(), c.metadata);
  return client;
}

oauth::OAuthResult<TokenSet> TokenManager::renew(const Prepared& prepared, const ProviderDef& provider) const {
  if (prepared.client_credentials) return client_.client_token(provider, prepared.client, prepared.current.scopes);
  return client_.refresh(provider, prepared.client, prepared.refresh_token.reveal());
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

std::optional<Result<IssuedToken>> TokenManager::token_without_blocking(const Connection& connection,
                                                                        const ProviderDef& provider) const {
  if (auto ready = token_without_refresh(connection, provider)) return ready;
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
  return std::nullopt;
}

Result<IssuedToken> TokenManager::token_after_refresh(const Connection& before, const Result<Connection>& refreshed) const {
  if (!refreshed) return common::unexpected(refreshed.error());
  return open_fresh(*refreshed, refreshed->version != before.version);
}

Result<IssuedToken> TokenManager::token_for(const Connection& connection, const ProviderDef& provider) {
  if (auto ready = token_without_blocking(connection, provider)) return std::move(*ready);
  return token_after_refresh(connection, refresh(connection, provider, false));
}

std::pair<std::shared_ptr<TokenManager::Flight>, bool> TokenManager::join_flight(const std::string& connection_id) {
  // Called with mu_ held.
  auto it = flights_.find(connection_id);
  if (it != flights_.end()) return {it->second, false};
  auto flight = std::make_shared<Flight>();
  flights_[connection_id] = flight;
  return {flight, true};
}

void TokenManager::land(const std::string& connection_id, const std::shared_ptr<Flight>& flight, Result<Connection> result) {
  std::vector<std::function<void(const Result<Connection>&)>> waiters;
  {
    std::lock_guard lock(mu_);
    flight->result = std::move(result);
    flight->done = true;
    if (auto it = flights_.find(connection_id); it != flights_.end() && it->second == flight) flights_.erase(it);
    waiters.swap(flight->waiters);
  }
  cv_.notify_all();
  for (auto& waiter : waiters) waiter(*flight->result);
}

Result<Connection> TokenManager::refresh(const Connection& connection, const ProviderDef& provider, bool force) {
  std::shared_ptr<Flight> flight;
  {
    std::unique_lock lock(mu_);
    bool leader = false;
    std::tie(flight, leader) = join_flight(connection.id);
    if (!leader) {
      metrics_.inc("alter_refresh_waiters_total");
      cv_.wait(lock, [&] { return flight->done; });
      return *flight->result;
    }
  }
  auto result = locked_refresh(connection, provider, force);
  land(connection.id, flight, result);
  return result;
}

Result<Connection> TokenManager::locked_refresh(const Connection& connection, const ProviderDef& provider, bool force) {
  // One refresh per connection across instances too: the store's lock (PostgreSQL: an advisory
  // lock), inside which do_refresh re-reads the row and skips the call if another instance did it.
  Result<Connection> result = common::unexpected(make_error(Errc::kUnavailable, "unavailable", "the refresh lock was not taken"));
  auto locked = store_.with_connection_lock(connection.id, std::chrono::seconds(30),
                                            [&] { result = do_refresh(connection, provider, force); });
  if (!locked) {
    result = common::unexpected(make_error(Errc::kUnavailable, "unavailable", "cannot lock the connection for refresh: " + locked.error().message));
  }
  return result;
}

void TokenManager::refresh_async(const Connection& connection, std::shared_ptr<const ProviderDef> provider,
                                 std::function<void(const Result<Connection>&)> done, bool on_blocking_thread,
                                 bool force) {
  std::shared_ptr<Flight> flight;
  {
    std::lock_guard lock(mu_);
    bool leader = false;
    std::tie(flight, leader) = join_flight(connection.id);
    flight->waiters.push_back(std::move(done));
    if (!leader) {
      metrics_.inc("alter_refresh_waiters_total");
      return;
    }
  }
  if (!blocking_) {
    land(connection.id, flight, locked_refresh(connection, *provider, force));
    return;
  }
  auto first_step = [this, connection, provider = std::move(provider), flight, force]() mutable {
    if (!store_.connection_lock_is_local()) {
      // The lock spans instances and is held across the provider call: this thread waits for it.
      land(connection.id, flight, locked_refresh(connection, *provider, force));
      return;
    }
    auto prepared = prepare_refresh(connection, *provider, force);
    if (auto* outcome = std::get_if<Result<Connection>>(&prepared)) {
      land(connection.id, flight, std::move(*outcome));
      return;
    }
    auto held = std::make_shared<Prepared>(std::move(std::get<Prepared>(prepared)));
    call_async(std::move(held), std::move(provider), std::move(flight), 1, options_.retry_backoff);
  };
  if (on_blocking_thread) {
    first_step();
    return;
  }
  blocking_(std::move(first_step));
}

void TokenManager::call_async(std::shared_ptr<Prepared> prepared, std::shared_ptr<const ProviderDef> provider,
                              std::shared_ptr<Flight> flight, int attempt, std::chrono::milliseconds backoff) {
  ++refresh_calls_;
  const auto started = std::chrono::steady_clock::now();
  const std::string refresh_token(prepared->refresh_token.reveal());
  auto self_provider = provider;
  auto on_answer = [this, prepared, provider, flight, attempt, backoff, started](oauth::OAuthResult<TokenSet> answer) {
                          metrics_.observe("alter_refresh_seconds", "provider=\"" + label_value(provider->id) + "\"",
                                           std::chrono::steady_clock::now() - started);
                          if (!answer && answer.error().kind == OAuthFailure::Kind::kTransient &&
                              attempt < std::max(options_.refresh_attempts, 1)) {
                            client_.after(backoff, [this, prepared, provider, flight, attempt, backoff] {
                              call_async(prepared, provider, flight, attempt + 1, backoff * 2);
                            });
                            return;
                          }
                          if (answer) {
                            // Saved with the others that arrived meanwhile, in one transaction.
                            land_later(Landing{prepared, provider, flight, std::move(answer.value())});
                            return;
                          }
                          // A refusal: its own row (and for invalid_grant the status), as before.
                          auto held = std::make_shared<oauth::OAuthResult<TokenSet>>(std::move(answer));
                          blocking_([this, prepared, provider, flight, held] {
                            land(prepared->current.id, flight, apply_refresh(*prepared, *provider, std::move(*held)));
                          });
  };
  if (prepared->client_credentials) {
    client_.client_token_async(std::move(self_provider), prepared->client, prepared->current.scopes, std::move(on_answer));
  } else {
    client_.refresh_async(std::move(self_provider), prepared->client, refresh_token, std::move(on_answer));
  }
}

TokenManager::Preparation TokenManager::prepare_refresh(const Connection& snapshot, const ProviderDef& provider, bool force) {
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
  auto client = client_of(current, provider, tokens->refresh_token.reveal());
  if (!client) {
    return common::unexpected(expired_error(Errc::kBadGateway, current, "cannot refresh: " + client.error().message));
  }
  Prepared prepared;
  prepared.client_credentials = provider.credential.is_client_credentials();
  prepared.current = std::move(current);
  prepared.refresh_token = std::move(tokens->refresh_token);
  prepared.id_token = std::move(tokens->id_token);
  prepared.client = std::move(client.value());
  return prepared;
}

Result<Connection> TokenManager::do_refresh(const Connection& snapshot, const ProviderDef& provider, bool force) {
  auto preparation = prepare_refresh(snapshot, provider, force);
  if (auto* outcome = std::get_if<Result<Connection>>(&preparation)) return std::move(*outcome);
  const Prepared& prepared = std::get<Prepared>(preparation);

  OAuthResult<TokenSet> answer = common::unexpected(OAuthFailure{});
  auto backoff = options_.retry_backoff;
  for (int attempt = 1; attempt <= std::max(options_.refresh_attempts, 1); ++attempt) {
    ++refresh_calls_;
    const auto started = std::chrono::steady_clock::now();
    answer = renew(prepared, provider);
    metrics_.observe("alter_refresh_seconds", "provider=\"" + label_value(provider.id) + "\"",
                     std::chrono::steady_clock::now() - started);
    if (answer || answer.error().kind != OAuthFailure::Kind::kTransient) break;
    if (attempt < options_.refresh_attempts) {
      std::this_thread::sleep_for(backoff);
      backoff *= 2;
    }
  }
  return apply_refresh(prepared, provider, std::move(answer));
}

Result<Connection> TokenManager::apply_refresh(const Prepared& prepared, const ProviderDef& provider,
                                               OAuthResult<TokenSet> answer) {
  const Connection& current = prepared.current;
  if (!answer) {
    const auto& f = answer.error();
    // The grant is dead: a refused refresh token, or refused client credentials (the connection's
    // own id and secret; for a grant, invalid_client is the app's registration, fixed by an admin).
    const bool grant_dead = f.kind == OAuthFailure::Kind::kInvalidGrant ||
                      (prepared.client_credentials && f.kind == OAuthFailure::Kind::kInvalidClient);
    nlohmann::json event = {{"kind", "refresh"}, {"app_id", current.app_id}, {"provider_id", provider.id},
                            {"connection_id", current.id}, {"user", current.attributes},
                            {"decision", grant_dead ? "reauth_required" : "refresh_failed"},
                            {"details", {{"provider_error", f.code}, {"status", f.status}, {"message", f.message}}}};
    if (prepared.client_credentials) event["details"]["grant"] = "client_credentials";
    note_failure(current.id);
    if (grant_dead) {
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
                                              prepared.client_credentials
                                                  ? "the provider refused the connection's client credentials (" + f.code +
                                                        "): import new ones"
                                                  : "the provider refused the refresh token (invalid_grant): reconnect the user"));
    }
    metrics_.inc("alter_refreshes_total", "result=\"failed\"");
    (void)audit_.record(audit::AuditEvent{event});
    log_.warn("refresh failed", {{"connection_id", current.id}, {"provider", provider.id}, {"error", f.message}});
    return common::unexpected(expired_error(Errc::kBadGateway, current, "the provider could not refresh the token now: " + f.message));
  }

  const ToSave one{&prepared, &provider, &answer.value()};
  return std::move(save_refreshed(std::span<const ToSave>(&one, 1)).front());
}

TokenManager::Staged TokenManager::stage_refresh(const Prepared& prepared, const ProviderDef& provider, TokenSet& t) {
  const Connection& current = prepared.current;
  Staged staged{current, audit::AuditEvent{nlohmann::json::object()}};
  Connection& updated = staged.updated;
  // Client credentials keep the client's fields in that slot: a refresh token answered anyway
  // (RFC 6749 4.4.3 says it should not be) is dropped.
  const bool keep_slot = t.refresh_token.empty() || prepared.client_credentials;
  const std::string_view refresh_token = keep_slot ? prepared.refresh_token.reveal() : t.refresh_token.reveal();
  const std::string_view id_token = t.id_token.empty() ? prepared.id_token.reveal() : t.id_token.reveal();
  updated.tokens = sealed_.seal_tokens(current, t.access_token.reveal(), refresh_token, id_token);
  updated.token_type = t.token_type;
  if (!t.scopes.empty()) updated.scopes = t.scopes;
  updated.expires_at = t.expires_at;
  for (auto it = t.kept.begin(); it != t.kept.end(); ++it) updated.metadata[it.key()] = it.value();
  updated.updated_at = clock_.wall();
  const bool rotated = !keep_slot && t.refresh_token.reveal() != prepared.refresh_token.reveal();
  staged.event = audit::AuditEvent{{{"kind", "refresh"}, {"app_id", current.app_id}, {"provider_id", provider.id},
                                    {"connection_id", current.id}, {"user", current.attributes}, {"decision", "refreshed"},
                                    {"details", {{"rotated", rotated}, {"expires_at", t.expires_at ? iso8601(*t.expires_at) : std::string()}}}}};
  if (prepared.client_credentials) staged.event.content["details"]["grant"] = "client_credentials";
  return staged;
}

void TokenManager::land_later(Landing landing) {
  bool start = false;
  {
    std::lock_guard lock(landing_mu_);
    landings_.push_back(std::move(landing));
    start = !landing_scheduled_;
    landing_scheduled_ = true;
  }
  if (start) blocking_([this] { land_queued(); });
}

void TokenManager::land_queued() {
  // One worker drains the queue: each pass saves every refresh that arrived meanwhile in one
  // transaction (one commit for many rows instead of one each), then completes their waiters.
  for (;;) {
    std::vector<Landing> batch;
    {
      std::lock_guard lock(landing_mu_);
      if (landings_.empty()) {
        landing_scheduled_ = false;
        return;
      }
      const std::size_t n = std::min(landings_.size(), kMaxLandingBatch);
      batch.assign(std::make_move_iterator(landings_.begin()), std::make_move_iterator(landings_.begin() + static_cast<std::ptrdiff_t>(n)));
      landings_.erase(landings_.begin(), landings_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    try {
      land_batch(batch);
    } catch (const std::exception&) {
      // Nothing may leave a waiter waiting, nor the queue without its worker.
      for (auto& l : batch) {
        bool done = false;
        {
          std::lock_guard lock(mu_);
          done = l.flight->done;
        }
        if (!done) {
          land(l.prepared->current.id, l.flight,
               common::unexpected(make_error(Errc::kInternal, "internal", "the refreshed token could not be saved: nothing was changed")));
        }
      }
    }
  }
}

void TokenManager::land_batch(std::vector<Landing>& batch) {
  std::vector<ToSave> items;
  items.reserve(batch.size());
  for (auto& l : batch) items.push_back({l.prepared.get(), l.provider.get(), &l.tokens});
  auto results = save_refreshed(items);
  metrics_.inc("alter_refresh_landing_batches_total");
  metrics_.inc("alter_refresh_landings_total", "", batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) land(batch[i].prepared->current.id, batch[i].flight, std::move(results[i]));
}

std::vector<Result<Connection>> TokenManager::save_refreshed(std::span<const ToSave> items) {
  std::vector<Staged> staged;
  staged.reserve(items.size());
  for (const auto& item : items) staged.push_back(stage_refresh(*item.prepared, *item.provider, *item.tokens));
  enum : char { kSaved, kConflict, kGone };
  std::vector<std::optional<Connection>> saved(items.size());
  std::vector<char> outcome(items.size(), kSaved);
  std::vector<audit::AuditEvent> events;
  // Saved (compare-and-set) with their audit rows before a new token is used: a rotated refresh
  // token is never lost, and never stored unaudited. Each save is a compare-and-set of its own
  // row: one that lost the race (conflict), or whose connection was deleted meanwhile, writes
  // nothing and leaves the others in; any other failure refuses the whole transaction, and then
  // nothing of it was written.
  auto committed = audit_.commit(
      [&]() -> Result<void> {
        events.clear();
        for (std::size_t i = 0; i < items.size(); ++i) {
          saved[i].reset();
          outcome[i] = kSaved;
          auto r = store_.update_connection(staged[i].updated, items[i].prepared->current.version);
          if (!r) {
            if (r.error().code == StoreErrc::kConflict || r.error().code == StoreErrc::kNotFound) {
              outcome[i] = r.error().code == StoreErrc::kConflict ? kConflict : kGone;
              continue;
            }
            return common::unexpected(make_error(Errc::kUnavailable, "unavailable", "the refreshed token could not be saved: " + r.error().message));
          }
          saved[i] = std::move(r.value());
          events.push_back(staged[i].event);
        }
        return {};
      },
      events, false);
  std::vector<Result<Connection>> results;
  results.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const Connection& current = items[i].prepared->current;
    if (committed && saved[i]) {
      note_success(current.id);
      metrics_.inc("alter_refreshes_total", "result=\"ok\"");
      if (on_update_) on_update_(*saved[i]);
      results.emplace_back(std::move(*saved[i]));
      continue;
    }
    if (outcome[i] == kConflict) {
      // Someone else saved a newer token set first; use theirs.
      auto again = store_.get_connection(current.id);
      if (again) {
        results.emplace_back(std::move(again.value()));
        continue;
      }
    }
    metrics_.inc("alter_refreshes_total", "result=\"store_failed\"");
    results.emplace_back(common::unexpected(make_error(Errc::kUnavailable, "unavailable",
                                                       "the refreshed token could not be saved with its audit row: nothing was changed")));
  }
  return results;
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
