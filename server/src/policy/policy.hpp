#pragma once
// The policy hook every token request passes through. Default deny; rules match on actor,
// provider, user attributes, method and URL, with conditions; deny wins over require_approval,
// which wins over allow. Every decision names the rule that made it.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/types.hpp"

namespace alter::server::policy {

enum class Effect { kAllow, kDeny, kRequireApproval };

struct Actor {
  std::string type;  // "ai_agent" | "mcp_server" | "" (plain application)
  std::string id;
  std::string name;
};

/// What is asked: one token request, already authenticated and with its URL parsed.
struct PolicyRequest {
  std::string app_id;
  Actor actor;
  std::string provider_id;
  Attributes user;
  /// Upper-case. Empty when the request named none: then only rules without a `methods`
  /// criterion match (a write cannot pass as a read).
  std::string method;
  std::string url;     // the normalized URL (the guard's)
  /// The request names no URL (alter-sdk 0.1 clients, allowed per app): only rules without
  /// hosts and paths match, and the guard did not run.
  bool url_less = false;
  std::string host;    // lower-case, no port
  std::string path;    // decoded path, starts with '/'
  std::string reason;
  std::string source_ip;
  TimePoint now{};
  /// When the token that would be handed out expires (none: it never does). For max_token_lifetime.
  std::optional<TimePoint> token_expires_at;
  /// The vault makes the call (the proxy) rather than handing the token out. For proxy_required.
  bool proxied = false;
  /// Proxied calls: hex SHA-256 of the body and the forwarded headers, so that an approval binds
  /// to the exact request. Empty for a token handout.
  std::string content_digest;
};

struct ApprovalSettings {
  std::chrono::seconds ttl{900};                 // how long a pending approval waits for a decision
  std::optional<std::chrono::seconds> window;    // approved: reusable for this long; none: single use
};

struct Decision {
  Effect effect = Effect::kDeny;
  /// The rule that decided; empty only for no_matching_rule.
  std::string rule_id;
  /// For a denial: no_matching_rule, denied_by_rule, rate_limited, outside_time_window,
  /// reason_required, source_ip_not_allowed, token_lifetime_exceeded (url_not_allowed comes from
  /// the host guard before the engine). Empty otherwise.
  std::string policy_error;
  std::string message;  // a sentence for people; never a secret
  std::int64_t policy_version = 0;
  ApprovalSettings approval;  // for kRequireApproval
  /// Per-rule explanation: which rules matched, which criteria or conditions failed (for
  /// `alter-vault policies test`).
  nlohmann::json trace = nlohmann::json::array();
};

/// Counts hits in fixed windows. In memory for one instance; a store-backed one counts across
/// instances. Thread-safe.
class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  /// Records one hit on `key` in the window containing `now` and returns true when the count,
  /// including this hit, is within `limit`.
  virtual bool hit(const std::string& key, std::int64_t limit, std::chrono::seconds window, TimePoint now) = 0;
  /// The hits recorded on `key` in the window containing `now`, without recording one, when the
  /// limiter can tell (dry runs such as `alter-vault policies test` use it). Default: unknown.
  virtual std::optional<std::int64_t> peek(const std::string& /*key*/, std::chrono::seconds /*window*/,
                                           TimePoint /*now*/) const {
    return std::nullopt;
  }
};

std::unique_ptr<RateLimiter> make_memory_rate_limiter();

struct MemoryRateLimiterOptions {
  /// Counters kept at most. Windows that ended are pruned as hits arrive; when the live ones
  /// alone reach this, a hit on a new key is refused (fail closed) rather than growing further.
  std::size_t max_keys = 1'000'000;
};
std::unique_ptr<RateLimiter> make_memory_rate_limiter(MemoryRateLimiterOptions options);

std::string_view to_string(Effect effect);

}  // namespace alter::server::policy
