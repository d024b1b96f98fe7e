#include "policy/engine.hpp"

#include <algorithm>
#include <array>
#include <mutex>
#include <utility>
#include <vector>

#include "policy/cidr.hpp"
#include "policy/glob.hpp"
#include "policy/reason_regex.hpp"
#include "policy/time_window.hpp"

namespace alter::server::policy {

using nlohmann::json;

namespace {

// ---- compiled form ----

enum ActorBit : std::uint8_t { kApplication = 1, kAiAgent = 2, kMcpServer = 4, kOtherActor = 8 };

/// Methods index rules: seven well-known ones get a slot each, every other method shares slot 7.
constexpr std::size_t kMethodSlots = 8;

std::size_t method_slot(std::uint32_t bit) {
  for (std::size_t slot = 0; slot < 7; ++slot) {
    if (bit == (1u << slot)) return slot;
  }
  return 7;
}

std::uint32_t method_bit(std::string_view method) {
  static constexpr std::pair<std::string_view, std::uint32_t> kKnown[] = {
      {"GET", 1u << 0}, {"HEAD", 1u << 1}, {"POST", 1u << 2}, {"PUT", 1u << 3},
      {"PATCH", 1u << 4}, {"DELETE", 1u << 5}, {"OPTIONS", 1u << 6}};
  for (const auto& [name, bit] : kKnown) {
    if (name == method) return bit;
  }
  return 0;  // another method: compared by name
}

std::uint8_t actor_bit(std::string_view type) {
  if (type.empty() || type == "application") return kApplication;
  if (type == "ai_agent") return kAiAgent;
  if (type == "mcp_server") return kMcpServer;
  return kOtherActor;
}

struct CompiledRule {
  const RuleSpec* spec = nullptr;
  bool has_methods = false;
  std::uint32_t method_mask = 0;            // known methods
  std::vector<std::string> other_methods;   // the others, by name
  std::vector<SegmentedGlob> hosts;
  std::vector<SegmentedGlob> paths;
  std::uint8_t actor_types = 0;             // 0: any
  std::optional<TimeWindow> window;
  std::optional<ReasonRegex> reason_regex;
  std::vector<Cidr> source_ips;
};

std::string q_text(std::string_view s) {
  std::string out = "\"";
  std::size_t n = 0;
  for (const char c : s) {
    if (++n > 128) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
  }
  return out + "\"";
}

std::string join(const std::vector<std::string>& items, std::string_view sep = ", ") {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += sep;
    out += items[i];
  }
  return out;
}

bool blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

constexpr std::string_view kDayNames[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};

std::string local_text(Zone::Local local, const std::string& zone) {
  const auto two = [](int v) { return (v < 10 ? "0" : "") + std::to_string(v); };
  return std::string(kDayNames[local.weekday]) + " " + two(local.minute_of_day / 60) + ":" +
         two(local.minute_of_day % 60) + " " + zone;
}

}  // namespace

struct CompiledPolicy::Impl {
  PolicyDocument document;
  std::vector<CompiledRule> rules;
  std::vector<Zone> zones;
  /// The index evaluate() uses: per provider id and method slot, the rules that name that
  /// provider and accept that method, in document order; rules with no provider criterion are in
  /// `any_provider`. evaluate() visits the merge of two lists: rules for other providers or
  /// methods are never touched.
  using Lists = std::array<std::vector<std::uint32_t>, kMethodSlots>;
  std::unordered_map<std::string, Lists> by_provider;
  Lists any_provider;
  bool split_hosts = false;
  bool split_paths = false;
  bool rate_limited = false;  // some rule counts requests (in the limiter)

  Decision run(const PolicyRequest& request, RateLimiter& limiter, bool explain) const;
};

namespace {

/// The request as the matchers want it, prepared once per evaluation.
class Prepared {
 public:
  Prepared(const PolicyRequest& r, const CompiledPolicy::Impl& policy) : request(r), policy_(policy) {
    host = r.host;
    if (std::any_of(host.begin(), host.end(), [](char c) { return c >= 'A' && c <= 'Z'; }) ||
        (!host.empty() && host.back() == '.')) {
      host_buffer_.assign(host);
      for (char& c : host_buffer_) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
      while (!host_buffer_.empty() && host_buffer_.back() == '.') host_buffer_.pop_back();
      host = host_buffer_;
    }
    path = normalize_path(r.path, path_buffer_);
    if (policy.split_hosts) split_segments(host, '.', host_labels);
    if (policy.split_paths) split_segments(path, '/', path_segments);
    method = method_bit(r.method);
    actor = actor_bit(r.actor.type);
  }

  const std::optional<IpAddress>& ip() {
    if (!ip_parsed_) {
      ip_ = IpAddress::parse(request.source_ip);
      ip_parsed_ = true;
    }
    return ip_;
  }

  Zone::Local local(int zone_index) {
    if (locals_.empty()) locals_.resize(policy_.zones.size());
    auto& slot = locals_[static_cast<std::size_t>(zone_index)];
    if (!slot) slot = policy_.zones[static_cast<std::size_t>(zone_index)].to_local(request.now);
    return *slot;
  }

  const PolicyRequest& request;
  std::string_view host;
  std::string_view path;
  std::vector<std::string_view> host_labels;
  std::vector<std::string_view> path_segments;
  std::uint32_t method = 0;
  std::uint8_t actor = 0;

 private:
  const CompiledPolicy::Impl& policy_;
  std::string host_buffer_;
  std::string path_buffer_;
  bool ip_parsed_ = false;
  std::optional<IpAddress> ip_;
  std::vector<std::optional<Zone::Local>> locals_;
};

bool value_matches(const ValueMatcher& m, std::string_view value) {
  switch (m.kind) {
    case ValueMatcher::Kind::kEquals: return value == m.values.front();
    case ValueMatcher::Kind::kGlob: return wildcard_match(m.values.front(), value);
    case ValueMatcher::Kind::kOneOf:
      return std::find(m.values.begin(), m.values.end(), value) != m.values.end();
  }
  return false;
}

std::string describe(const ValueMatcher& m) {
  switch (m.kind) {
    case ValueMatcher::Kind::kEquals: return q_text(m.values.front());
    case ValueMatcher::Kind::kGlob: return "glob " + q_text(m.values.front());
    case ValueMatcher::Kind::kOneOf: return "one of " + join(m.values);
  }
  return {};
}

/// True when every criterion holds. With `why`, checks them all and says which failed.
/// `indexed`: the rule came from the provider/method index, so its provider and any well-known
/// method already match.
bool matches(const CompiledRule& rule, Prepared& q, std::vector<std::string>* why, bool indexed) {
  const RuleSpec& spec = *rule.spec;
  bool ok = true;
  const auto miss = [&](auto&& make) {
    ok = false;
    if (why != nullptr) why->push_back(make());
    return why == nullptr;  // stop early when nobody asks why
  };

  // The rule's own fields first (they are at hand), then what lives in the spec.
  if (rule.has_methods && !(indexed && q.method != 0)) {
    const bool hit = (q.method & rule.method_mask) != 0 ||
                     (q.method == 0 && std::find(rule.other_methods.begin(), rule.other_methods.end(),
                                                 q.request.method) != rule.other_methods.end());
    if (!hit && miss([&] { return "method " + q_text(q.request.method) + " is not " + join(spec.methods); })) return false;
  }
  if (!indexed && !spec.providers.empty() &&
      std::find(spec.providers.begin(), spec.providers.end(), q.request.provider_id) == spec.providers.end()) {
    if (miss([&] { return "provider " + q_text(q.request.provider_id) + " is not " + join(spec.providers); })) return false;
  }
  if (rule.actor_types != 0 && (rule.actor_types & q.actor) == 0) {
    if (miss([&] {
          const std::string type = q.request.actor.type.empty() ? "application" : q.request.actor.type;
          return "actor type " + q_text(type) + " is not " + join(spec.actor_types);
        })) {
      return false;
    }
  }
  if (!spec.actor_ids.empty() &&
      std::none_of(spec.actor_ids.begin(), spec.actor_ids.end(),
                   [&](const std::string& g) { return wildcard_match(g, q.request.actor.id); })) {
    if (miss([&] { return "actor id " + q_text(q.request.actor.id) + " does not match " + join(spec.actor_ids); })) return false;
  }
  // A request without a URL (an alter-sdk 0.1 client, where the app allows it) is matched only by
  // rules that constrain neither host nor path: no glob can vouch for a URL nobody named.
  if (q.request.url_less && (!rule.hosts.empty() || !rule.paths.empty())) {
    if (miss([&] { return std::string("the request names no URL, and this rule constrains hosts or paths"); })) return false;
  }
  if (!q.request.url_less && !rule.hosts.empty() && std::none_of(rule.hosts.begin(), rule.hosts.end(), [&](const SegmentedGlob& g) {
        return g.match(q.host, q.host_labels);
      })) {
    if (miss([&] { return "host " + q_text(q.host) + " does not match " + join(spec.hosts); })) return false;
  }
  if (!q.request.url_less && !rule.paths.empty() && std::none_of(rule.paths.begin(), rule.paths.end(), [&](const SegmentedGlob& g) {
        return g.match(q.path, q.path_segments);
      })) {
    if (miss([&] { return "path " + q_text(q.path) + " does not match " + join(spec.paths); })) return false;
  }
  for (const auto& attribute : spec.user) {
    const std::string& name = attribute.first;
    const ValueMatcher& matcher = attribute.second;
    const auto it = q.request.user.find(name);
    if (it == q.request.user.end()) {
      if (miss([&] { return "user attribute " + name + " is missing (wanted " + describe(matcher) + ")"; })) return false;
    } else if (!value_matches(matcher, it->second)) {
      if (miss([&] {
            return "user attribute " + name + "=" + q_text(it->second) + " does not match " + describe(matcher);
          })) {
        return false;
      }
    }
  }
  return ok;
}

struct ConditionOutcome {
  std::string_view condition;  // "source_ips", ...
  std::string_view code;       // the policy_error when it fails
  bool ok = true;
};

/// Evaluates the conditions (rate limit aside) in a fixed order: source_ips, time_window,
/// reason, max_token_lifetime. Returns the first failure's code, or empty. With `trace`,
/// evaluates all and describes each.
std::string_view check_conditions(const CompiledRule& rule, Prepared& q, const CompiledPolicy::Impl& policy,
                                  json* trace) {
  const ConditionsSpec& c = rule.spec->conditions;
  std::string_view first_failure;
  const auto record = [&](std::string_view name, std::string_view code, bool ok, auto&& detail) {
    if (!ok && first_failure.empty()) first_failure = code;
    if (trace != nullptr) trace->push_back({{"condition", name}, {"ok", ok}, {"detail", detail()}});
    return !ok && trace == nullptr;  // stop at the first failure unless tracing
  };

  if (!rule.source_ips.empty()) {
    const auto& ip = q.ip();
    const bool ok = ip && std::any_of(rule.source_ips.begin(), rule.source_ips.end(),
                                      [&](const Cidr& cidr) { return cidr.contains(*ip); });
    if (record("source_ips", "source_ip_not_allowed", ok, [&] {
          if (!ip) return "the source IP " + q_text(q.request.source_ip) + " is not an IP address";
          return "source IP " + ip->to_string() + (ok ? " is in one of " : " is in none of ") + join(c.source_ips);
        })) {
      return first_failure;
    }
  }
  if (rule.window) {
    const Zone::Local local = q.local(rule.window->zone_index);
    const bool ok = rule.window->contains(local);
    if (record("time_window", "outside_time_window", ok, [&] {
          const auto& zone = policy.zones[static_cast<std::size_t>(rule.window->zone_index)].name();
          return local_text(local, zone) + (ok ? " is inside " : " is outside ") + describe(*c.time_window);
        })) {
      return first_failure;
    }
  }
  if (c.proxy_required) {
    const bool ok = q.request.proxied;
    if (record("proxy_required", "proxy_required", ok, [&]() -> std::string {
          return ok ? "the vault makes the call (proxy)" : "a token handout, and the rule grants only proxied calls";
        })) {
      return first_failure;
    }
  }
  if (c.reason_required) {
    const std::string& reason = q.request.reason;
    const bool given = !blank(reason);
    const bool ok = given && (!rule.reason_regex || rule.reason_regex->search(reason));
    if (record("reason", "reason_required", ok, [&]() -> std::string {
          if (!given) return "no reason given";
          if (!rule.reason_regex) return "a reason is given";
          if (reason.size() > kMaxMatchedReasonLength) {
            return "the reason is longer than " + std::to_string(kMaxMatchedReasonLength) + " characters";
          }
          return std::string(ok ? "the reason matches " : "the reason does not match ") + "/" + *c.reason_matches + "/";
        })) {
      return first_failure;
    }
  }
  if (c.max_token_lifetime) {
    const auto& expires = q.request.token_expires_at;
    const bool ok = expires && *expires <= q.request.now + *c.max_token_lifetime;
    if (record("max_token_lifetime", "token_lifetime_exceeded", ok, [&]() -> std::string {
          const std::string limit = format_duration(*c.max_token_lifetime);
          if (!expires) return "the token never expires (at most " + limit + " allowed)";
          const auto left = std::chrono::ceil<std::chrono::seconds>(*expires - q.request.now);
          return "the token expires in " + format_duration(left) + (ok ? ", within " : ", more than ") + limit;
        })) {
      return first_failure;
    }
  }
  return first_failure;
}

std::string rule_name(const RuleSpec& rule) { return "rule " + q_text(rule.id); }
/// At the start of a sentence.
std::string Rule_name(const RuleSpec& rule) { return "Rule " + q_text(rule.id); }

std::string failure_message(const RuleSpec& rule, std::string_view code, const Prepared& q) {
  const ConditionsSpec& c = rule.conditions;
  if (code == "source_ip_not_allowed") {
    return "The request's source IP is not one " + rule_name(rule) + " allows (" + join(c.source_ips) + ").";
  }
  if (code == "outside_time_window") {
    return "The request is outside " + rule_name(rule) + "'s time window (" + describe(*c.time_window) + ").";
  }
  if (code == "reason_required") {
    if (c.reason_matches && !blank(q.request.reason)) {
      return Rule_name(rule) + " requires a reason matching /" + *c.reason_matches + "/.";
    }
    return Rule_name(rule) + " requires a reason.";
  }
  if (code == "proxy_required") {
    return Rule_name(rule) + " grants only calls the vault makes itself: send this request through the proxy (/v1/proxy).";
  }
  if (code == "token_lifetime_exceeded") {
    return Rule_name(rule) + " only grants tokens that expire within " + format_duration(*c.max_token_lifetime) + ".";
  }
  return Rule_name(rule) + " does not grant this request.";
}

std::string rate_limit_message(const RuleSpec& rule) {
  const auto& r = *rule.conditions.rate_limit;
  return Rule_name(rule) + " allows " + std::to_string(r.count) + " requests per " +
         std::string(to_string(r.period)) + "; the limit is reached.";
}

}  // namespace

std::string rate_limit_key(const RuleSpec& rule, const PolicyRequest& request) {
  const RateLimitSpec& r = *rule.conditions.rate_limit;
  std::string key;
  key.reserve(64 + request.app_id.size() + rule.id.size() + request.actor.id.size());
  // Every part length-prefixed, so that no two requests' parts run together into one key.
  const auto part = [&key](std::string_view tag, std::string_view value) {
    key += tag;
    key += std::to_string(value.size());
    key.push_back(':');
    key += value;
    key.push_back('|');
  };
  key += "policy|";
  part("app=", request.app_id);
  part("period=", std::to_string(period_length(r.period).count()));
  if (r.per_rule) part("rule=", rule.id);
  if (r.per_actor) {
    part("actor_type=", request.actor.type);
    part("actor=", request.actor.id);
  }
  if (r.per_user) {
    key += "user=" + std::to_string(request.user.size()) + "|";
    for (const auto& [name, value] : request.user) {
      part("k=", name);
      part("v=", value);
    }
  }
  if (r.per_provider) part("provider=", request.provider_id);
  return key;
}

Decision CompiledPolicy::Impl::run(const PolicyRequest& request, RateLimiter& limiter, bool explain) const {
  Prepared q(request, *this);
  Decision decision;
  decision.effect = Effect::kDeny;

  std::vector<json> entries;
  if (explain) entries.resize(rules.size());

  std::optional<std::uint32_t> first_deny;
  std::vector<std::uint32_t> approvals, allows;
  std::optional<std::uint32_t> failed_rule;
  std::string_view failed_code;

  const auto visit = [&](std::uint32_t index) {
    const CompiledRule& rule = rules[index];
    const RuleSpec& spec = *rule.spec;
    json* entry = explain ? &entries[index] : nullptr;
    std::vector<std::string> why;
    if (entry != nullptr) *entry = {{"rule", spec.id}, {"index", index}, {"effect", std::string(to_string(spec.effect))}};
    if (!matches(rule, q, entry != nullptr ? &why : nullptr, !explain)) {
      if (entry != nullptr) {
        (*entry)["matched"] = false;
        (*entry)["outcome"] = "not_matched";
        (*entry)["mismatches"] = std::move(why);
      }
      return false;
    }
    json conditions;  // null (no allocation) unless tracing
    const std::string_view failure = check_conditions(rule, q, *this, entry != nullptr ? &conditions : nullptr);
    if (entry != nullptr) {
      (*entry)["matched"] = true;
      if (!conditions.empty()) (*entry)["conditions"] = std::move(conditions);
    }
    if (spec.effect == Effect::kDeny) {
      if (!failure.empty()) {
        if (entry != nullptr) (*entry)["outcome"] = "deny_not_applicable";
        return false;
      }
      if (entry != nullptr) (*entry)["outcome"] = "applicable";
      if (!first_deny) first_deny = index;
      return true;  // evaluate() can stop: a deny decides
    }
    if (!failure.empty()) {
      if (entry != nullptr) {
        (*entry)["outcome"] = "conditions_not_met";
        (*entry)["policy_error"] = std::string(failure);
      }
      if (!failed_rule) {
        failed_rule = index;
        failed_code = failure;
      }
      return false;
    }
    if (entry != nullptr) (*entry)["outcome"] = "grants";
    (spec.effect == Effect::kRequireApproval ? approvals : allows).push_back(index);
    return false;
  };

  if (explain) {
    for (std::uint32_t i = 0; i < rules.size(); ++i) visit(i);
  } else {
    // Only the rules that can match the provider, in document order.
    static const std::vector<std::uint32_t> kNone;
    const std::size_t slot = method_slot(q.method);
    const auto found = by_provider.find(request.provider_id);
    const auto& named = found == by_provider.end() ? kNone : found->second[slot];
    const auto& any = any_provider[slot];
    std::size_t a = 0, b = 0;
    while (a < named.size() || b < any.size()) {
      std::uint32_t next;
      if (b >= any.size() || (a < named.size() && named[a] < any[b])) {
        next = named[a++];
      } else {
        next = any[b++];
      }
      if (visit(next)) break;
    }
  }

  const auto set_outcome = [&](std::uint32_t index, std::string_view outcome) {
    if (explain) entries[index]["outcome"] = outcome;
  };

  if (first_deny) {
    const RuleSpec& spec = *rules[*first_deny].spec;
    decision.rule_id = spec.id;
    decision.policy_error = "denied_by_rule";
    decision.message = "Denied by " + rule_name(spec) + (spec.description.empty() ? "" : ": " + spec.description) + ".";
    set_outcome(*first_deny, "selected");
  } else if (!approvals.empty() || !allows.empty()) {
    const auto& candidates = approvals.empty() ? allows : approvals;
    std::optional<std::uint32_t> selected, limited;
    for (const std::uint32_t index : candidates) {
      const RuleSpec& spec = *rules[index].spec;
      if (selected) break;
      if (!spec.conditions.rate_limit) {
        selected = index;
        break;
      }
      const auto& r = *spec.conditions.rate_limit;
      const std::string key = rate_limit_key(spec, request);
      const auto window = period_length(r.period);
      bool within = true;
      std::optional<std::int64_t> used;
      if (explain) {
        used = limiter.peek(key, window, request.now);
        within = !used || *used < r.count;
      } else {
        within = limiter.hit(key, r.count, window, request.now);
      }
      if (explain) {
        entries[index]["conditions"].push_back(
            {{"condition", "rate_limit"},
             {"ok", within},
             {"detail", (used ? std::to_string(*used) : std::string("unknown")) + " of " + std::to_string(r.count) +
                            " per " + std::string(to_string(r.period)) + " used" +
                            (used ? "" : " (this limiter cannot tell; not consumed by a dry run)")}});
      }
      if (within) {
        selected = index;
      } else {
        set_outcome(index, "rate_limited");
        if (!limited) limited = index;
      }
    }
    if (selected) {
      const RuleSpec& spec = *rules[*selected].spec;
      decision.rule_id = spec.id;
      decision.effect = spec.effect;
      if (spec.effect == Effect::kRequireApproval) {
        decision.approval = spec.approval;
        decision.message = Rule_name(spec) + " requires a person's approval.";
      } else {
        decision.message = "Allowed by " + rule_name(spec) + ".";
      }
      set_outcome(*selected, "selected");
    } else {
      const RuleSpec& spec = *rules[*limited].spec;
      decision.rule_id = spec.id;
      decision.policy_error = "rate_limited";
      decision.message = rate_limit_message(spec);
    }
  } else if (failed_rule) {
    const RuleSpec& spec = *rules[*failed_rule].spec;
    decision.rule_id = spec.id;
    decision.policy_error = std::string(failed_code);
    decision.message = failure_message(spec, failed_code, q);
    set_outcome(*failed_rule, "selected");
  } else {
    decision.policy_error = "no_matching_rule";
    decision.message = rules.empty() ? "The policy has no rules; every request is denied."
                                     : "No rule matches this request; it is denied by default.";
  }

  if (explain) {
    // Candidates that did not decide were overridden: by a deny, by precedence or by an earlier rule.
    for (auto& entry : entries) {
      const auto outcome = entry.find("outcome");
      if (outcome != entry.end() && (*outcome == "grants" || *outcome == "applicable")) *outcome = "overridden";
    }
    decision.trace = json::array();
    for (auto& entry : entries) decision.trace.push_back(std::move(entry));
  }
  return decision;
}

// ---- CompiledPolicy ----

CompiledPolicy::CompiledPolicy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CompiledPolicy::~CompiledPolicy() = default;

Result<std::shared_ptr<const CompiledPolicy>> CompiledPolicy::compile(std::string_view text, std::string_view format) {
  auto document = parse_policy_document(text, format);
  if (!document) return common::unexpected(std::move(document).error());
  return compile(std::move(document).value());
}

Result<std::shared_ptr<const CompiledPolicy>> CompiledPolicy::compile(PolicyDocument document) {
  auto impl = std::make_unique<Impl>();
  impl->document = std::move(document);
  const auto invalid = [](const RuleSpec& rule, std::string message) {
    return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_policy", "invalid policy: rule " + q_text(rule.id) + ": " + message));
  };
  std::unordered_map<std::string, int> zone_index;
  impl->rules.reserve(impl->document.rules.size());
  for (std::uint32_t i = 0; i < impl->document.rules.size(); ++i) {
    const RuleSpec& spec = impl->document.rules[i];
    CompiledRule rule;
    rule.spec = &spec;
    rule.has_methods = !spec.methods.empty();
    impl->rate_limited |= spec.conditions.rate_limit.has_value();
    for (const auto& m : spec.methods) {
      const std::uint32_t bit = method_bit(m);
      if (bit != 0) {
        rule.method_mask |= bit;
      } else {
        rule.other_methods.push_back(m);
      }
    }
    std::string error;
    for (const auto& h : spec.hosts) {
      auto glob = SegmentedGlob::compile(h, '.', true, &error);
      if (!glob) return invalid(spec, error);
      impl->split_hosts |= !glob->literal();
      rule.hosts.push_back(std::move(*glob));
    }
    for (const auto& p : spec.paths) {
      // Paths are matched without a trailing slash; so are the patterns ("/a/b/" is "/a/b").
      std::string_view pattern = p;
      while (pattern.size() > 1 && pattern.back() == '/') pattern.remove_suffix(1);
      auto glob = SegmentedGlob::compile(pattern, '/', false, &error);
      if (!glob) return invalid(spec, error);
      impl->split_paths |= !glob->literal();
      rule.paths.push_back(std::move(*glob));
    }
    for (const auto& t : spec.actor_types) rule.actor_types |= actor_bit(t);
    const ConditionsSpec& c = spec.conditions;
    if (c.time_window) {
      auto [it, inserted] = zone_index.emplace(c.time_window->time_zone, static_cast<int>(impl->zones.size()));
      if (inserted) {
        Zone zone;
        if (!Zone::lookup(c.time_window->time_zone, zone, &error)) return invalid(spec, error);
        impl->zones.push_back(std::move(zone));
      }
      rule.window = TimeWindow{c.time_window->days, c.time_window->start_minute, c.time_window->end_minute, it->second};
    }
    if (c.reason_matches) {
      rule.reason_regex = ReasonRegex::compile(*c.reason_matches, &error);
      if (!rule.reason_regex) return invalid(spec, "reason_matches " + error);
    }
    for (const auto& block : c.source_ips) {
      auto cidr = Cidr::parse(block, &error);
      if (!cidr) return invalid(spec, error);
      rule.source_ips.push_back(*cidr);
    }
    const auto add = [&](Impl::Lists& lists) {
      for (std::size_t slot = 0; slot < kMethodSlots; ++slot) {
        const bool accepts = !rule.has_methods || (slot < 7 ? (rule.method_mask >> slot) & 1 : !rule.other_methods.empty());
        if (accepts && (lists[slot].empty() || lists[slot].back() != i)) lists[slot].push_back(i);
      }
    };
    if (spec.providers.empty()) {
      add(impl->any_provider);
    } else {
      for (const auto& p : spec.providers) add(impl->by_provider[p]);
    }
    impl->rules.push_back(std::move(rule));
  }
  return std::shared_ptr<const CompiledPolicy>(new CompiledPolicy(std::move(impl)));
}

Decision CompiledPolicy::evaluate(const PolicyRequest& request, RateLimiter& limiter) const {
  return impl_->run(request, limiter, false);
}

Decision CompiledPolicy::explain(const PolicyRequest& request, RateLimiter& limiter) const {
  return impl_->run(request, limiter, true);
}

std::size_t CompiledPolicy::rule_count() const { return impl_->rules.size(); }
bool CompiledPolicy::counts_requests() const { return impl_->rate_limited; }
const PolicyDocument& CompiledPolicy::document() const { return impl_->document; }
json CompiledPolicy::to_json() const { return policy::to_json(impl_->document); }

// ---- diff ----

namespace {

void field_changes(const json& from, const json& to, const std::string& prefix, int depth, json& out) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : from.items()) keys.push_back(k);
  for (const auto& [k, v] : to.items()) {
    if (!from.contains(k)) keys.push_back(k);
  }
  std::sort(keys.begin(), keys.end());
  for (const auto& key : keys) {
    const auto a = from.find(key);
    const auto b = to.find(key);
    if (a != from.end() && b != to.end() && *a == *b) continue;
    const std::string field = prefix.empty() ? key : prefix + "." + key;
    // Into the tables of a rule (actor, user, conditions, approval), one level.
    if (depth == 0 && a != from.end() && b != to.end() && a->is_object() && b->is_object()) {
      field_changes(*a, *b, field, depth + 1, out);
      continue;
    }
    json change = {{"field", field}};
    if (a != from.end()) change["from"] = *a;
    if (b != to.end()) change["to"] = *b;
    out.push_back(std::move(change));
  }
}

}  // namespace

json diff(const CompiledPolicy& from, const CompiledPolicy& to) {
  const auto& a = from.document();
  const auto& b = to.document();
  std::unordered_map<std::string_view, std::size_t> a_ids, b_ids;
  for (std::size_t i = 0; i < a.rules.size(); ++i) a_ids.emplace(a.rules[i].id, i);
  for (std::size_t i = 0; i < b.rules.size(); ++i) b_ids.emplace(b.rules[i].id, i);

  json out = {{"added", json::array()}, {"removed", json::array()}, {"changed", json::array()}};
  std::size_t unchanged = 0;
  std::vector<std::string_view> common_in_b;
  for (const auto& rule : b.rules) {
    const auto it = a_ids.find(rule.id);
    if (it == a_ids.end()) {
      out["added"].push_back(to_json(rule));
      continue;
    }
    common_in_b.push_back(rule.id);
    json changes = json::array();
    field_changes(to_json(a.rules[it->second]), to_json(rule), "", 0, changes);
    if (changes.empty()) {
      ++unchanged;
    } else {
      out["changed"].push_back({{"id", rule.id}, {"changes", std::move(changes)}});
    }
  }
  std::vector<std::string_view> common_in_a;
  for (const auto& rule : a.rules) {
    if (b_ids.contains(rule.id)) {
      common_in_a.push_back(rule.id);
    } else {
      out["removed"].push_back(to_json(rule));
    }
  }
  // Order decides which failure is reported and which granting rule is tried first.
  out["reordered"] = common_in_a != common_in_b;
  out["unchanged"] = unchanged;
  json document = json::array();
  if (a.description != b.description) document.push_back({{"field", "description"}, {"from", a.description}, {"to", b.description}});
  out["document"] = std::move(document);
  out["summary"] = std::to_string(out["added"].size()) + " added, " + std::to_string(out["removed"].size()) +
                   " removed, " + std::to_string(out["changed"].size()) + " changed, " + std::to_string(unchanged) +
                   " unchanged" + (out["reordered"].get<bool>() ? ", reordered" : "");
  return out;
}

// ---- PolicyEngine ----

PolicyEngine::PolicyEngine(Loader loader, RateLimiter& limiter) : loader_(std::move(loader)), limiter_(limiter) {}
PolicyEngine::~PolicyEngine() = default;

Result<std::shared_ptr<const PolicyEngine::Entry>> PolicyEngine::entry(const std::string& app_id) {
  {
    std::shared_lock lock(mu_);
    if (const auto it = cache_.find(app_id); it != cache_.end()) return it->second;
  }
  const std::uint64_t generation = generation_.load(std::memory_order_acquire);
  auto loaded = loader_(app_id);
  if (!loaded) return common::unexpected(std::move(loaded).error());
  auto fresh = std::make_shared<Entry>();
  if (loaded->has_value()) {
    const PolicyVersion& version = **loaded;
    fresh->version = version.version;
    auto compiled = CompiledPolicy::compile(version.document, version.format.empty() ? "auto" : version.format);
    if (compiled) {
      fresh->policy = std::move(compiled).value();
    } else {
      fresh->error = make_error(Errc::kInternal, "policy_invalid",
                                "policy version " + std::to_string(version.version) +
                                    " does not compile any more: " + compiled.error().message);
    }
  }
  std::shared_ptr<const Entry> result = std::move(fresh);
  std::unique_lock lock(mu_);
  // Cached only if no invalidation happened since the load began; else this request uses what it
  // loaded and the next one loads again.
  if (generation_.load(std::memory_order_acquire) == generation) cache_.insert_or_assign(app_id, result);
  return result;
}

Result<std::shared_ptr<const CompiledPolicy>> PolicyEngine::current(const std::string& app_id, std::int64_t* version) {
  auto e = entry(app_id);
  if (!e) return common::unexpected(std::move(e).error());
  const auto& value = *e.value();
  if (value.error) return common::unexpected(*value.error);
  if (version != nullptr) *version = value.version;
  return value.policy;
}

namespace {
Decision no_policy() {
  Decision d;
  d.policy_error = "no_matching_rule";
  d.message = "The app has no policy; every request is denied.";
  return d;
}
}  // namespace

Result<Decision> PolicyEngine::decide(const PolicyRequest& request) {
  std::int64_t version = 0;
  auto policy = current(request.app_id, &version);
  if (!policy) return common::unexpected(std::move(policy).error());
  if (!policy.value()) return no_policy();
  Decision d = policy.value()->evaluate(request, limiter_);
  d.policy_version = version;
  return d;
}

std::optional<Result<Decision>> PolicyEngine::decide_cached(const PolicyRequest& request) {
  std::shared_ptr<const Entry> e;
  {
    std::shared_lock lock(mu_);
    const auto it = cache_.find(request.app_id);
    if (it == cache_.end()) return std::nullopt;
    e = it->second;
  }
  if (e->error) return common::unexpected(*e->error);
  if (!e->policy) return no_policy();
  // A rate-limited rule counts the request as it is evaluated: a caller that may still give up
  // after this (and decide() again) would count it twice. Such policies are decided by decide().
  if (e->policy->counts_requests()) return std::nullopt;
  Decision d = e->policy->evaluate(request, limiter_);
  d.policy_version = e->version;
  return d;
}

Result<Decision> PolicyEngine::explain(const PolicyRequest& request) {
  std::int64_t version = 0;
  auto policy = current(request.app_id, &version);
  if (!policy) return common::unexpected(std::move(policy).error());
  if (!policy.value()) return no_policy();
  Decision d = policy.value()->explain(request, limiter_);
  d.policy_version = version;
  return d;
}

void PolicyEngine::invalidate(const std::string& app_id) {
  std::unique_lock lock(mu_);
  cache_.erase(app_id);
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

void PolicyEngine::invalidate_all() {
  std::unique_lock lock(mu_);
  cache_.clear();
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

}  // namespace alter::server::policy
