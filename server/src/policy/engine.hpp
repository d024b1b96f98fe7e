#pragma once
// The policy engine: documents compiled once per version into matchers, then evaluated against
// each token request without touching the database.
//
// Decision, as implemented (docs/policies.md says the same for people):
//  1. A rule matches when all its criteria hold (absent criteria match anything).
//  2. A matching deny rule applies when its conditions hold (they say *when* it applies). Any
//     applicable deny decides: Deny, denied_by_rule, naming the first such rule.
//  3. A matching require_approval or allow rule grants when its conditions (requirements) hold,
//     except the rate limit, checked last and only for the rule about to decide.
//  4. Granting require_approval rules win over granting allow rules; among rules of the same
//     effect the first in document order wins. If its rate limit is exhausted the next one of
//     the same effect is tried; if none is left: Deny, rate_limited.
//  5. Nothing grants: if a matching allow/require_approval rule failed a condition, Deny with
//     that condition's code, naming the first such rule; else Deny, no_matching_rule.
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/types.hpp"
#include "policy/document.hpp"
#include "policy/policy.hpp"
#include "core/model.hpp"

namespace alter::server::policy {

/// One policy version, parsed and compiled. Immutable: evaluate it from any number of threads.
class CompiledPolicy {
 public:
  /// `format`: "toml", "json" or "auto". Errors: 400 invalid_policy, naming the field and line.
  static Result<std::shared_ptr<const CompiledPolicy>> compile(std::string_view text, std::string_view format);
  static Result<std::shared_ptr<const CompiledPolicy>> compile(PolicyDocument document);

  ~CompiledPolicy();
  CompiledPolicy(const CompiledPolicy&) = delete;
  CompiledPolicy& operator=(const CompiledPolicy&) = delete;

  /// Decides, consuming rate-limit quota on the rule that grants. The trace is left empty
  /// (explain() fills it); policy_version is left 0 (PolicyEngine sets it).
  Decision evaluate(const PolicyRequest& request, RateLimiter& limiter) const;
  /// The same decision as evaluate() would make, without consuming quota (rate limits are read
  /// with RateLimiter::peek when the limiter can), with a trace entry for every rule.
  Decision explain(const PolicyRequest& request, RateLimiter& limiter) const;

  std::size_t rule_count() const;
  /// Whether some rule has a rate limit (so evaluate() counts in the limiter).
  bool counts_requests() const;
  const PolicyDocument& document() const;
  /// The normalized document (see policy::to_json(PolicyDocument)).
  nlohmann::json to_json() const;

  struct Impl;

 private:
  explicit CompiledPolicy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Rules added, removed and changed (by id, field by field) between two versions:
///   {"added": [rule...], "removed": [rule...],
///    "changed": [{"id": "x", "changes": [{"field": "methods", "from": [...], "to": [...]}]}],
///    "reordered": false, "unchanged": 3, "document": [{"field": "description", ...}],
///    "summary": "1 added, 0 removed, 1 changed, 3 unchanged"}
/// A field absent on one side has no "from" (or "to").
nlohmann::json diff(const CompiledPolicy& from, const CompiledPolicy& to);

/// The rate limiter's key for a rule that has a rate limit (exposed for tests and for the
/// server's audit): the app, the period, and the parts the rule keys on, unambiguous.
std::string rate_limit_key(const RuleSpec& rule, const PolicyRequest& request);

/// Holds each app's compiled latest policy. decide() is a shared-lock map read when the policy
/// is cached; the first request after invalidate() (or for a new app) loads and compiles it.
class PolicyEngine {
 public:
  /// The latest version for an app, or none. Errors are returned by decide() as they are.
  using Loader = std::function<Result<std::optional<PolicyVersion>>(const std::string& app_id)>;

  PolicyEngine(Loader loader, RateLimiter& limiter);
  ~PolicyEngine();
  PolicyEngine(const PolicyEngine&) = delete;
  PolicyEngine& operator=(const PolicyEngine&) = delete;

  /// No policy for the app: Deny, no_matching_rule, policy_version 0. A stored version that no
  /// longer compiles: error 500 policy_invalid (the request is refused, never allowed).
  Result<Decision> decide(const PolicyRequest& request);
  /// decide() when it can answer from memory and consumes nothing: the app's policy loaded and
  /// without rate limits (evaluating one counts the request); std::nullopt otherwise.
  std::optional<Result<Decision>> decide_cached(const PolicyRequest& request);
  /// explain() of the app's current policy (dry run with a trace).
  Result<Decision> explain(const PolicyRequest& request);
  /// The compiled current policy (nullptr when the app has none), loading it if needed.
  Result<std::shared_ptr<const CompiledPolicy>> current(const std::string& app_id, std::int64_t* version = nullptr);

  /// After a new version is stored: the next decide() for the app reloads it.
  void invalidate(const std::string& app_id);
  void invalidate_all();

 private:
  struct Entry {
    std::int64_t version = 0;
    std::shared_ptr<const CompiledPolicy> policy;  // nullptr: no policy
    std::optional<Error> error;                     // the stored version did not compile
  };
  Result<std::shared_ptr<const Entry>> entry(const std::string& app_id);

  Loader loader_;
  RateLimiter& limiter_;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const Entry>> cache_;
  /// Bumped by every invalidation, so a load that raced with one is used once but not cached.
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace alter::server::policy
