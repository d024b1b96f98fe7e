#pragma once
// The proxy: the vault makes the provider call itself, so the token never leaves it and the
// policy binds what is actually sent (method, URL, body). One proxied call is one token decision
// (the broker's, recorded before anything goes out) and one call row (recorded before the answer
// leaves), both in the hash chain. A 401 refreshes the connection once and sends again once; a
// 429 or 503 with a short Retry-After is sent again, for idempotent methods only, as the
// provider's catalog entry allows. The call runs on the asynchronous HTTP client: no thread waits
// for the provider.
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <mutex>
#include <unordered_map>
#include <string>
#include <utility>
#include <vector>

#include "audit/audit_log.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "transport.hpp"  // the SDK's outgoing HTTP interface (sdk/src)
#include "vault/token_broker.hpp"
#include "vault/token_manager.hpp"

namespace alter::server::vault {

struct ProxyOptions {
  /// The provider call's timeout when the caller names none, and the most it may name.
  std::chrono::milliseconds default_timeout{30000};
  std::chrono::milliseconds max_timeout{120000};
  /// Largest provider answer passed on; past it the caller gets 502 provider_response_too_large.
  std::size_t max_response_bytes = 32 * 1024 * 1024;
};

/// A call to make, parsed and authenticated: the decision's fields (token.proxied is set) and
/// what is sent besides.
struct ProxyAsk {
  TokenAsk token;
  /// Sent to the provider as given (the API layer drops hop-by-hop and the vault's own headers).
  std::vector<std::pair<std::string, std::string>> headers;
  std::shared_ptr<const std::string> body = std::make_shared<const std::string>();
  bool has_body = false;
  std::chrono::milliseconds timeout{0};  // 0: the default
};

/// The provider's answer, as the caller gets it.
struct ProxiedAnswer {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // hop-by-hop and Set-Cookie removed
  std::string body;
  std::string request_id;
  std::string connection_id;
  int attempts = 1;
  bool refreshed = false;  // a 401 made the vault refresh the token and send again
  /// The call row is durable. False: the call was made but the trail could not take its row
  /// (the answer says so; the decision row was recorded before the call).
  bool recorded = true;
};

using ProxyOutcome = Decided<ProxiedAnswer>;

/// The digest an approval of a proxied call binds besides method and URL: hex SHA-256 over the
/// forwarded headers (names lower-cased, sorted) and the body.
std::string proxy_content_digest(const std::vector<std::pair<std::string, std::string>>& headers, std::string_view body);
/// What an approver is shown of a proxied call: the headers (credential-like ones redacted),
/// the body's size, digest and start.
nlohmann::json proxy_shown(const std::vector<std::pair<std::string, std::string>>& headers, std::string_view body);
/// True for the headers a proxy never passes on (RFC 9110 §7.6.1 connection-specific ones).
bool is_hop_by_hop(std::string_view lower_name);
/// The header names (lower-case) a message's Connection header lists: hop-by-hop for that message.
std::set<std::string> connection_named(const Headers& headers);

class ProxyService {
 public:
  ProxyService(ProxyOptions options, std::shared_ptr<oauth::Catalog> catalog, TokenBroker& broker, TokenManager& tokens,
               std::shared_ptr<internal::Transport> transport, audit::AuditLog& audit, Metrics& metrics, Logger& log);

  /// Decides, calls the provider and records the call; `done` runs once, on whichever thread
  /// completed the last step (it must only hand the outcome over). Refusals are the broker's (a
  /// policy, an approval, the guard, the audit trail) or provider_timeout (504),
  /// provider_unreachable (502), provider_response_too_large (502), each with request_id.
  void call(ProxyAsk ask, std::function<void(ProxyOutcome)> done);
  /// The same on the calling thread, blocking it on every step (the decision, the provider call,
  /// a refresh, a Retry-After, the row), posting nothing to another pool: for a route served by a
  /// worker thread, which must not wait for work queued behind it.
  ProxyOutcome call_blocking(ProxyAsk ask);

 private:
  struct Flight;
  static constexpr std::chrono::seconds kForcedRefreshWindow{30};
  /// The flight for `ask`, or nullptr when it is refused before any decision (`done` was called).
  std::shared_ptr<Flight> start(ProxyAsk ask, std::function<void(ProxyOutcome)> done, bool blocking);
  void decided(const std::shared_ptr<Flight>& flight, Decided<TokenGrant> grant);
  bool may_force_refresh(const std::string& connection_id);
  void send(std::shared_ptr<Flight> flight);
  void on_answer(std::shared_ptr<Flight> flight, internal::TransportResult result);
  /// After a 401: a forced refresh of `snapshot`, then the request sent again with the new token;
  /// the 401 is the answer when no new token comes of it.
  void refresh_then_send(std::shared_ptr<Flight> flight, Connection snapshot, bool first);
  void finish(std::shared_ptr<Flight> flight, internal::TransportResult result);

  ProxyOptions options_;
  std::shared_ptr<oauth::Catalog> catalog_;
  TokenBroker& broker_;
  TokenManager& tokens_;
  std::shared_ptr<internal::Transport> transport_;
  audit::AuditLog& audit_;
  Metrics& metrics_;
  Logger& log_;
  LogThrottle unrecorded_log_;
  std::mutex forced_mu_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> forced_at_;  // connection -> last forced refresh
};

}  // namespace alter::server::vault
