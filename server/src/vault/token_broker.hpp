#pragma once
// The token broker decides a token request: the connection it names (the subject of the
// decision), the URL guard, the policy, approvals, the token's freshness, and the decision's
// audit row, written before the answer (if it cannot be, the answer is 503 and no token leaves).
#include <alter/common/clock.hpp>
#include <alter/common/secret.hpp>

#include <functional>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit_log.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "oauth/catalog.hpp"
#include "policy/engine.hpp"
#include "store/store.hpp"
#include "vault/approvals.hpp"
#include "vault/cache.hpp"
#include "vault/issued.hpp"
#include "vault/token_manager.hpp"
#include "vault/types.hpp"

namespace alter::server::vault {

/// A token request, parsed and authenticated.
struct TokenAsk {
  AppCaller caller;
  policy::Actor actor;
  nlohmann::json actor_record = nlohmann::json::object();  // the actor fields as the audit row keeps them
  std::string provider_id;
  Attributes attributes;
  std::string reason;
  std::string method;  // upper-case, or empty when the request named none
  std::string url;
  std::string run_id;
  std::string thread_id;
  std::string tool_call_id;
  std::optional<std::string> approval_id;
  std::string source_ip;
  /// The vault makes the call (the proxy): the token is injected, never answered. Then
  /// `content_digest` binds an approval to the body and forwarded headers, and `shown` is what
  /// an approver sees of them.
  bool proxied = false;
  std::string content_digest;
  nlohmann::json shown = nlohmann::json::object();
};

struct TokenGrant {
  common::SecretString access_token;
  std::string token_type;
  std::string token_header;  // set when the provider reads the bare token from its own header
  std::string url;           // the normalized URL decided on (empty: a url-less request)
  std::string connection_id;
  std::string request_id;
  std::vector<std::string> scopes;
  std::optional<TimePoint> expires_at;
  std::optional<std::int64_t> expires_in;  // seconds from now, by the vault's clock
  AuditCapture audit_capture = AuditCapture::kHeaders;
  /// Proxied decisions: the connection and provider the call is made for (a 401 refreshes it).
  std::shared_ptr<const Connection> connection;
  std::shared_ptr<const ProviderDef> provider;
};

class TokenBroker {
 public:
  struct Options {
    bool dev_mode = false;
  };
  TokenBroker(Options options, std::shared_ptr<oauth::Catalog> catalog, Store& store, VaultCache& cache,
              policy::PolicyEngine& policies, ApprovalService& approvals, TokenManager& tokens, audit::AuditLog& audit,
              IssuedDecisions& issued, Metrics& metrics, Logger& log, const common::Clock& clock);

  /// Refusals carry request_id (and rule_id, policy_version, approval_id, ... as the protocol says).
  /// Blocks the calling thread on the store, a refresh and the audit commit as needed.
  Decided<TokenGrant> decide(const TokenAsk& ask);
  /// The same decision without blocking, when everything it needs is in memory (the app, the
  /// connection lookup, the policy, no approval) or the one thing missing is a token refresh: this
  /// returns true, and once the decision's row is durable `done` is called (on the group commit's
  /// thread: it must only hand over) with `decided`, which makes the answer where the caller runs
  /// it. A refresh runs asynchronously (TokenManager::refresh_async), holding no thread while the
  /// provider answers; the decision is then made again with its outcome. Otherwise this returns
  /// false at once, having done and recorded nothing: the caller runs decide() where blocking is
  /// allowed.
  using Decision = std::function<Decided<TokenGrant>()>;
  bool decide_without_blocking(const TokenAsk& ask, std::function<void(Decision decided)> done);
  /// The pool of threads allowed to block (the store's calls). With it and an asynchronous
  /// TokenManager, decide_without_blocking takes every decision: the steps that read the store
  /// run there, and a refresh holds no thread.
  void set_blocking_executor(std::function<void(std::function<void()>)> run) { blocking_ = std::move(run); }

 private:
  enum class Blocking { kMay, kNever };
  struct Draft;
  /// A refresh this decision waited for: the connection as it was, and the refresh's outcome.
  struct Refreshed {
    Connection before;
    Result<Connection> result;
    std::chrono::steady_clock::time_point started;  // when the decision began
  };
  /// The decision and the row to record before answering; std::nullopt (with kNever only) when
  /// a step would block. `refreshed`: the outcome of the refresh the token step needs. When the
  /// one step that would block is a refresh, `refresh_due` (if given) receives the connection.
  std::optional<Draft> draft(const TokenAsk& ask, Blocking blocking, const Refreshed* refreshed = nullptr,
                             std::optional<Connection>* refresh_due = nullptr);
  /// Refreshes `due` asynchronously, then drafts the decision again with the outcome and commits it.
  void await_refresh(const TokenAsk& ask, Connection due, std::chrono::steady_clock::time_point started,
                     std::function<void(Decision decided)> done, bool on_blocking_thread);
  /// Records the draft's row with the group commit and calls `done` once it is durable.
  void commit(Draft&& draft, std::function<void(Decision decided)> done);
  /// The answer once the row was (or failed to be) recorded.
  Decided<TokenGrant> finish(Draft&& draft, Result<void> written);
  Result<std::shared_ptr<const App>> app(const std::string& id);

  Options options_;
  std::shared_ptr<oauth::Catalog> catalog_;
  Store& store_;
  VaultCache& cache_;
  policy::PolicyEngine& policies_;
  ApprovalService& approvals_;
  TokenManager& tokens_;
  audit::AuditLog& audit_;
  IssuedDecisions& issued_;
  Metrics& metrics_;
  Logger& log_;
  LogThrottle failure_log_;  // the line for decisions the audit trail could not take
  const common::Clock& clock_;
  std::function<void(std::function<void()>)> blocking_;
};

/// An app, through the cache.
Result<std::shared_ptr<const App>> find_app(Store& store, VaultCache& cache, const std::string& id);

}  // namespace alter::server::vault
