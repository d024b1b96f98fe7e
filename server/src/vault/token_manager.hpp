#pragma once
// Hands out a connection's access token, refreshing it first when it is about to expire, with
// exactly one refresh in flight per connection: concurrent requests wait for it and share its
// result. A rotated refresh token is saved (compare-and-set) before the new access token is used,
// in the same transaction as its audit row.
#include <alter/common/clock.hpp>
#include <alter/common/secret.hpp>

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <utility>
#include <variant>
#include <vector>

#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/types.hpp"
#include "oauth/catalog.hpp"
#include "oauth/oauth_client.hpp"
#include "store/store.hpp"
#include "audit/audit_log.hpp"
#include "sealed/sealed_store.hpp"

namespace alter::server::vault {

using oauth::ClientCredentials;
using oauth::OAuthClient;
using oauth::ProviderDef;

struct TokenManagerOptions {
  std::chrono::milliseconds skew{60000};      // refresh when this close to expiry
  int refresh_attempts = 3;                    // for timeouts, 5xx and 429
  std::chrono::milliseconds retry_backoff{200};  // doubles each attempt
  /// After a refresh failed (all attempts), the connection is not refreshed again for this long,
  /// doubling with each further failure up to `failure_backoff_max`, with +/-20% jitter: a
  /// provider that is down is not stormed by the background refresher or by token requests.
  std::chrono::milliseconds failure_backoff{5000};
  std::chrono::milliseconds failure_backoff_max{600000};
};

/// Values for `{variable}`s: credential settings, then connection metadata, then defaults.
std::map<std::string, std::string> provider_variables(const ProviderDef& p, const nlohmann::json& credential_settings,
                                                      const nlohmann::json& connection_metadata);

/// Hosts this connection's token may be used for: the provider's, with variables filled, plus
/// hosts taken from kept fields (Salesforce instance_url).
std::vector<std::string> connection_api_hosts(const ProviderDef& p, const Connection& c,
                                              const std::map<std::string, std::string>& variables);

struct IssuedToken {
  common::SecretString access_token;
  Connection connection;  // as stored after any refresh
  bool refreshed = false;
};

class TokenManager {
 public:
  TokenManager(Store& store, sealed::SealedStore& sealed, const OAuthClient& client, audit::AuditLog& audit,
               Metrics& metrics, Logger& log, const common::Clock& clock, TokenManagerOptions options);

  /// The connection's access token, refreshed first when due. Errors: token_expired as
  /// kFailedPrecondition (grant dead: reauth_required) or kBadGateway (the provider could not
  /// refresh now, or the connection is backing off after failures), unavailable.
  Result<IssuedToken> token_for(const Connection& connection, const ProviderDef& provider);
  /// The same when it needs no refresh (and so neither the store nor the provider): the answer
  /// token_for would give; std::nullopt when a refresh is due.
  std::optional<Result<IssuedToken>> token_without_refresh(const Connection& connection, const ProviderDef& provider) const;

  /// What token_for answers without calling the provider: token_without_refresh, and a connection
  /// backing off after failed refreshes (its token while still valid, else the refusal).
  /// std::nullopt: a refresh call is due.
  std::optional<Result<IssuedToken>> token_without_blocking(const Connection& connection, const ProviderDef& provider) const;
  /// What token_for answers once the refresh it needed ended with `refreshed`.
  Result<IssuedToken> token_after_refresh(const Connection& before, const Result<Connection>& refreshed) const;

  /// Where the asynchronous refresh runs the steps that read or write the store: the bounded pool
  /// of threads allowed to block. Without it refresh_async runs refresh() inline. (The retry
  /// back-off waits on the HTTP client's timers.)
  using BlockingExecutor = std::function<void(std::function<void()>)>;
  void set_blocking_executor(BlockingExecutor run) { blocking_ = std::move(run); }
  bool refreshes_asynchronously() const { return static_cast<bool>(blocking_); }
  /// refresh(connection, provider, false) without holding a thread while the provider answers: the
  /// store steps before and after the call run on `blocking`, the call itself on the asynchronous
  /// HTTP client. Single flight with refresh(): a refresh already in flight for this connection is
  /// joined. `done` runs once, on a `blocking` thread. A store whose connection lock spans
  /// instances (PostgreSQL's advisory lock, held across the call) runs refresh() on `blocking`.
  /// `on_blocking_thread`: the caller already runs on one, and the first step runs right there.
  /// `force`: refresh even when the token looks fresh (the provider refused it with a 401); a
  /// refresh already in flight, or one another caller finished since `connection` was read, counts.
  void refresh_async(const Connection& connection, std::shared_ptr<const ProviderDef> provider,
                     std::function<void(const Result<Connection>&)> done, bool on_blocking_thread = false,
                     bool force = false);

  /// Refreshes now (single flight). `force` refreshes even when the token is still fresh. Each
  /// outcome is audited with the change it makes (the new token set, the reauth_required status)
  /// in one transaction; a change that cannot be audited is not made.
  Result<Connection> refresh(const Connection& connection, const ProviderDef& provider, bool force);

  /// Client id, secret and variables for the app's registration at this provider.
  Result<ClientCredentials> client_for(const std::string& app_id, const ProviderDef& provider,
                                       const nlohmann::json& connection_metadata);
  /// The client a connection's token requests authenticate as: for client credentials its own id
  /// and secret (`packed`: the fields sealed in the connection), else the app's registration.
  Result<ClientCredentials> client_of(const Connection& connection, const ProviderDef& provider, std::string_view packed);

  bool needs_refresh(const Connection& c, const ProviderDef& p) const;
  /// False while the connection backs off after failed refreshes (the background refresher skips it).
  bool may_refresh_now(const std::string& connection_id) const;
  /// Called after this manager stored a new version of a connection (refresh, re-authorization).
  void set_on_update(std::function<void(const Connection&)> hook) { on_update_ = std::move(hook); }
  std::uint64_t refresh_calls() const { return refresh_calls_; }
  /// Refreshed token sets answered by the provider and waiting to be saved (batched, one
  /// transaction per pass of the worker that drains them).
  std::size_t landings_waiting() const {
    std::lock_guard lock(landing_mu_);
    return landings_.size();
  }

 private:
  struct Flight {
    bool done = false;
    std::optional<Result<Connection>> result;
    std::vector<std::function<void(const Result<Connection>&)>> waiters;  // refresh_async's
  };
  /// What the provider call needs, read from the store (before the call).
  struct Prepared {
    Connection current;
    common::SecretString refresh_token;  // client credentials: the client's sealed fields, kept as they are
    common::SecretString id_token;
    ClientCredentials client;
    bool client_credentials = false;  // asks for a new token (grant_type=client_credentials), not a refresh
  };
  /// The provider call a refresh makes: the refresh grant, or a client-credentials token request.
  oauth::OAuthResult<oauth::TokenSet> renew(const Prepared& prepared, const ProviderDef& provider) const;
  using Preparation = std::variant<Result<Connection>, Prepared>;
  /// Re-reads the connection: the refresh's outcome when no call is needed (or possible), else
  /// what the call needs.
  Preparation prepare_refresh(const Connection& snapshot, const ProviderDef& provider, bool force);
  /// Records the provider's answer (the new token set or the failure) with its audit row.
  Result<Connection> apply_refresh(const Prepared& prepared, const ProviderDef& provider,
                                   oauth::OAuthResult<oauth::TokenSet> answer);
  /// Joins the flight for this connection, or starts one (true: the caller leads it).
  // A refreshed token set, sealed and with its audit row, ready to be saved.
  struct Staged {
    Connection updated;
    audit::AuditEvent event;
  };
  Staged stage_refresh(const Prepared& prepared, const ProviderDef& provider, oauth::TokenSet& tokens);
  // A provider's successful answer to one refresh, to be saved.
  struct ToSave {
    const Prepared* prepared;
    const ProviderDef* provider;
    oauth::TokenSet* tokens;
  };
  // Saves them in one transaction, each with its audit row; a result for each, in order.
  std::vector<Result<Connection>> save_refreshed(std::span<const ToSave> items);
  // An asynchronous refresh's successful answer, waiting to be saved (land_queued).
  struct Landing {
    std::shared_ptr<Prepared> prepared;
    std::shared_ptr<const ProviderDef> provider;
    std::shared_ptr<Flight> flight;
    oauth::TokenSet tokens;
  };
  static constexpr std::size_t kMaxLandingBatch = 256;
  void land_later(Landing landing);
  void land_queued();
  void land_batch(std::vector<Landing>& batch);
  std::pair<std::shared_ptr<Flight>, bool> join_flight(const std::string& connection_id);
  /// Ends a flight: the blocked waiters wake, the asynchronous ones are called here.
  void land(const std::string& connection_id, const std::shared_ptr<Flight>& flight, Result<Connection> result);
  Result<Connection> locked_refresh(const Connection& connection, const ProviderDef& provider, bool force);
  void call_async(std::shared_ptr<Prepared> prepared, std::shared_ptr<const ProviderDef> provider,
                  std::shared_ptr<Flight> flight, int attempt, std::chrono::milliseconds backoff);
  struct Backoff {
    int failures = 0;
    std::chrono::steady_clock::time_point until{};
  };
  /// The token of a connection that needs no refresh now (refused when it expired all the same).
  Result<IssuedToken> open_fresh(Connection current, bool refreshed) const;
  Result<Connection> do_refresh(const Connection& snapshot, const ProviderDef& provider, bool force);
  void note_failure(const std::string& connection_id);
  void note_success(const std::string& connection_id);
  std::optional<std::chrono::milliseconds> backing_off(const std::string& connection_id) const;

  Store& store_;
  sealed::SealedStore& sealed_;
  const OAuthClient& client_;
  audit::AuditLog& audit_;
  Metrics& metrics_;
  Logger& log_;
  const common::Clock& clock_;
  const TokenManagerOptions options_;
  std::function<void(const Connection&)> on_update_;
  BlockingExecutor blocking_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<Flight>> flights_;
  std::map<std::string, Backoff> backoff_;
  std::atomic<std::uint64_t> refresh_calls_{0};
  mutable std::mutex landing_mu_;
  std::vector<Landing> landings_;
  bool landing_scheduled_ = false;  // a worker is draining landings_
};

}  // namespace alter::server::vault
