#pragma once
// Policy documents: the source form (TOML or JSON) parsed and validated into plain data. Every
// error names the field (and, for TOML, its line). Compiling for evaluation is engine.hpp's job.
//
// Format (TOML; JSON has the same structure), see docs/policies.md:
//
//   version = 1
//   [[rules]]
//   id = "calendar-read"
//   effect = "allow"                      # allow | deny | require_approval
//   providers = ["google"]                # match criteria; absent ones match anything
//   methods = ["GET"]
//   hosts = ["www.googleapis.com"]
//   paths = ["/calendar/v3/**"]
//   actor = { type = "ai_agent", id = "*-assistant-*" }
//   user = { user_id = { one_of = ["alice", "bob"] } }
//   [rules.conditions]
//   time_window = { days = ["mon","fri"], hours = "08:00-18:00", time_zone = "Europe/Paris" }
//   reason_required = true
//   rate_limit = { count = 100, per_period = "minute", per = ["actor", "user"] }
//   source_ips = ["10.0.0.0/8"]
//   max_token_lifetime = "1h"
//   [rules.approval]                      # require_approval only
//   ttl = "15m"
//   window = "1h"
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.hpp"
#include "policy/policy.hpp"

namespace alter::server::policy {

/// Documents larger than this are refused.
inline constexpr std::size_t kMaxDocumentBytes = 1024 * 1024;
/// The only format version so far.
inline constexpr std::int64_t kDocumentFormatVersion = 1;

enum class Period { kSecond, kMinute, kHour, kDay };
std::string_view to_string(Period period);
std::chrono::seconds period_length(Period period);

/// How one user attribute must look.
struct ValueMatcher {
  enum class Kind { kEquals, kGlob, kOneOf };
  Kind kind = Kind::kEquals;
  std::vector<std::string> values;  // one for kEquals and kGlob
};

struct TimeWindowSpec {
  std::uint8_t days = 0x7f;  // bit 0 = Monday ... bit 6 = Sunday
  int start_minute = 0;
  int end_minute = 24 * 60;  // may be < start_minute: wraps past midnight
  std::string time_zone = "UTC";
};

struct RateLimitSpec {
  std::int64_t count = 0;
  Period period = Period::kMinute;
  // What the counter is kept per. The app is always part of the key.
  bool per_actor = true;
  bool per_user = true;
  bool per_rule = true;
  bool per_provider = false;
};

struct ConditionsSpec {
  std::optional<TimeWindowSpec> time_window;
  bool reason_required = false;
  std::optional<std::string> reason_matches;  // ECMAScript regex, searched in the reason
  std::optional<RateLimitSpec> rate_limit;
  std::vector<std::string> source_ips;        // canonical CIDR blocks
  std::optional<std::chrono::seconds> max_token_lifetime;
  /// The rule grants only calls the vault makes itself (the proxy), never a token handout.
  bool proxy_required = false;

  bool empty() const {
    return !time_window && !reason_required && !reason_matches && !rate_limit && source_ips.empty() &&
           !max_token_lifetime && !proxy_required;
  }
};

struct RuleSpec {
  std::string id;
  std::string description;
  Effect effect = Effect::kDeny;
  // Match criteria; an empty list matches anything.
  std::vector<std::string> providers;
  std::vector<std::string> methods;      // upper-case
  std::vector<std::string> hosts;        // lower-case globs
  std::vector<std::string> paths;        // globs starting with '/'
  std::vector<std::string> actor_types;  // "ai_agent", "mcp_server", "application"
  std::vector<std::string> actor_ids;    // globs
  std::map<std::string, ValueMatcher> user;
  ConditionsSpec conditions;
  ApprovalSettings approval;             // meaningful for kRequireApproval only
  std::size_t line = 0;                  // where the rule starts in a TOML document (0: unknown)
};

struct PolicyDocument {
  std::int64_t format_version = kDocumentFormatVersion;
  std::string description;
  std::vector<RuleSpec> rules;
};

/// Where and why a document was refused.
struct DocumentError {
  std::string field;    // "rules[2].conditions.rate_limit.count"; empty for syntax errors
  std::string pointer;  // the same as a JSON pointer: "/rules/2/conditions/rate_limit/count"
  std::size_t line = 0;    // 1-based; 0 when unknown (fields of a JSON document)
  std::size_t column = 0;  // 1-based; 0 when unknown
  std::string message;

  /// "line 12: rules[2].conditions.rate_limit.count: must be a positive integer"
  std::string to_string() const;
};

/// Parses and validates a document. `format` is "toml", "json" or "auto" (JSON when the first
/// non-blank character is '{'). Refuses documents over kMaxDocumentBytes.
common::Result<PolicyDocument, DocumentError> parse_document(std::string_view text, std::string_view format);

/// The same, as the server's Error (400, "invalid_policy", DocumentError::to_string()).
Result<PolicyDocument> parse_policy_document(std::string_view text, std::string_view format);

/// The normalized document: lists always lists, methods upper-case, hosts lower-case, durations
/// canonical ("1h30m"), defaults spelled out. It is itself a valid JSON policy document.
nlohmann::json to_json(const PolicyDocument& document);
nlohmann::json to_json(const RuleSpec& rule);

/// "45s", "15m", "1h30m", "2d": a sequence of <integer><unit> with units s, m, h, d.
std::optional<std::chrono::seconds> parse_duration(std::string_view text);
/// The canonical form of a duration ("1h30m"; "0s" for zero).
std::string format_duration(std::chrono::seconds duration);
/// "mon-fri 09:00-17:00 Europe/Paris"
std::string describe(const TimeWindowSpec& window);

}  // namespace alter::server::policy
