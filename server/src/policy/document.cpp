#include "policy/document.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <initializer_list>
#include <set>
#include <unordered_map>
#include <utility>

#include "policy/cidr.hpp"
#include "policy/glob.hpp"
#include "policy/reason_regex.hpp"
#include "policy/time_window.hpp"
#include "policy/toml_reader.hpp"

namespace alter::server::policy {

using nlohmann::json;

std::string_view to_string(Period period) {
  switch (period) {
    case Period::kSecond: return "second";
    case Period::kMinute: return "minute";
    case Period::kHour: return "hour";
    case Period::kDay: return "day";
  }
  return "minute";
}

std::chrono::seconds period_length(Period period) {
  switch (period) {
    case Period::kSecond: return std::chrono::seconds(1);
    case Period::kMinute: return std::chrono::seconds(60);
    case Period::kHour: return std::chrono::seconds(3600);
    case Period::kDay: return std::chrono::seconds(86400);
  }
  return std::chrono::seconds(60);
}

std::string DocumentError::to_string() const {
  std::string out;
  if (line > 0) {
    out = "line " + std::to_string(line);
    if (column > 0 && field.empty()) out += ", column " + std::to_string(column);
    out += ": ";
  }
  if (!field.empty()) {
    out += field;
    // JSON documents have no lines for fields: the pointer says where.
    if (line == 0 && !pointer.empty()) out += " (" + pointer + ")";
    out += ": ";
  }
  out += message;
  return out;
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
  if (text.empty() || text.size() > 32) return std::nullopt;
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data() + i, text.data() + text.size(), value);
    if (ec != std::errc() || value < 0 || ptr == text.data() + text.size()) return std::nullopt;
    i = static_cast<std::size_t>(ptr - text.data());
    std::int64_t unit = 0;
    switch (text[i]) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      default: return std::nullopt;
    }
    ++i;
    if (value > (std::int64_t{1} << 40) / unit) return std::nullopt;
    total += value * unit;
    if (total > (std::int64_t{1} << 40)) return std::nullopt;
  }
  return std::chrono::seconds(total);
}

std::string format_duration(std::chrono::seconds duration) {
  std::int64_t s = duration.count();
  if (s <= 0) return "0s";
  std::string out;
  const std::pair<std::int64_t, char> units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
  for (const auto& [length, suffix] : units) {
    if (s >= length) {
      out += std::to_string(s / length);
      out.push_back(suffix);
      s %= length;
    }
  }
  return out;
}

namespace {

constexpr std::array<std::string_view, 7> kDayNames = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
constexpr std::array<std::string_view, 7> kLongDayNames = {"monday", "tuesday", "wednesday", "thursday",
                                                           "friday", "saturday", "sunday"};

std::string two_digits(int v) {
  std::string s = std::to_string(v);
  return s.size() < 2 ? "0" + s : s;
}

std::string format_minute(int minute) { return two_digits(minute / 60) + ":" + two_digits(minute % 60); }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string q_text(std::string_view s) {
  // Short and printable: error messages must stay readable whatever the document holds.
  std::string out = "\"";
  std::size_t n = 0;
  for (const char c : s) {
    if (++n > 64) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      out += "?";
    } else {
      out.push_back(c);
    }
  }
  return out + "\"";
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += sep;
    out += items[i];
  }
  return out;
}

// ---- validation ----

struct Path {
  std::string pointer;
  std::string field;

  Path key(std::string_view k) const {
    Path p = *this;
    detail::append_pointer_token(p.pointer, k);
    if (!p.field.empty()) p.field.push_back('.');
    p.field += k;
    return p;
  }
  Path index(std::size_t i) const {
    Path p = *this;
    detail::append_pointer_token(p.pointer, std::to_string(i));
    p.field += "[" + std::to_string(i) + "]";
    return p;
  }
};

// Validation unwinds with this on the first error; parse_document turns it into a Result. It
// never leaves this file.
struct Invalid {
  DocumentError error;
};

class Validator {
 public:
  explicit Validator(const detail::SourceTree* source) : source_(source) {}

  PolicyDocument document(const json& root) {
    const Path at;
    expect_object(root, at, "the document");
    check_keys(root, at, {"version", "description", "rules"});
    PolicyDocument doc;
    if (const auto it = root.find("version"); it != root.end()) {
      if (!it->is_number_integer() || it->get<std::int64_t>() != kDocumentFormatVersion) {
        fail(at.key("version"), "must be " + std::to_string(kDocumentFormatVersion) +
                                    " (the only format version so far)");
      }
    }
    if (const auto it = root.find("description"); it != root.end()) {
      doc.description = string_value(*it, at.key("description"), 4096);
    }
    const auto rules = root.find("rules");
    if (rules == root.end()) return doc;  // no rules: everything is denied
    const Path rules_at = at.key("rules");
    if (!rules->is_array()) fail(rules_at, "must be an array of rules ([[rules]] tables in TOML), not " + type_name(*rules));
    doc.rules.reserve(rules->size());
    std::unordered_map<std::string, std::size_t> ids;
    for (std::size_t i = 0; i < rules->size(); ++i) {
      const Path rule_at = rules_at.index(i);
      RuleSpec rule = this->rule((*rules)[i], rule_at);
      const auto [it, inserted] = ids.emplace(rule.id, i);
      if (!inserted) {
        fail(rule_at.key("id"), "duplicate rule id " + q_text(rule.id) + " (also rules[" + std::to_string(it->second) + "])");
      }
      doc.rules.push_back(std::move(rule));
    }
    return doc;
  }

 private:
  [[noreturn]] void fail(const Path& at, std::string message) const {
    DocumentError error;
    error.field = at.field.empty() ? "(document)" : at.field;
    error.pointer = at.pointer;
    error.message = std::move(message);
    // The line is found by parse_document, which reads a TOML document again with every
    // position only when it has an error to place.
    throw Invalid{std::move(error)};
  }

  std::size_t line_of(const Path& at) const {
    if (source_ == nullptr) return 0;
    const auto it = source_->positions.find(at.pointer);
    return it == source_->positions.end() ? 0 : it->second.line;
  }

  std::string type_name(const json& j) const {
    switch (j.type()) {
      case json::value_t::object: return source_ != nullptr ? "a table" : "an object";
      case json::value_t::array: return "an array";
      case json::value_t::string: return "a string";
      case json::value_t::boolean: return "a boolean";
      case json::value_t::number_integer:
      case json::value_t::number_unsigned: return "an integer";
      case json::value_t::number_float: return "a number";
      case json::value_t::null: return "null";
      default: return "a value of another type";
    }
  }

  void expect_object(const json& j, const Path& at, std::string_view what) const {
    if (!j.is_object()) {
      fail(at, std::string(what) + " must be " + (source_ != nullptr ? "a table" : "an object") + ", not " + type_name(j));
    }
  }

  void check_keys(const json& obj, const Path& at, std::initializer_list<std::string_view> allowed) const {
    for (const auto& [key, value] : obj.items()) {
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string expected;
        for (const auto k : allowed) {
          if (!expected.empty()) expected += ", ";
          expected += k;
        }
        fail(at.key(key), "unknown key " + q_text(key) + " (expected " + expected + ")");
      }
    }
  }

  std::string string_value(const json& j, const Path& at, std::size_t max_length = 1024) const {
    if (!j.is_string()) fail(at, "must be a string, not " + type_name(j));
    const auto& s = j.get_ref<const std::string&>();
    if (s.size() > max_length) fail(at, "is longer than " + std::to_string(max_length) + " characters");
    return s;
  }

  /// A string or a non-empty array of strings.
  std::vector<std::string> string_list(const json& j, const Path& at, std::size_t max_length = 1024) const {
    std::vector<std::string> out;
    if (j.is_string()) {
      out.push_back(string_value(j, at, max_length));
      return out;
    }
    if (!j.is_array()) fail(at, "must be a string or an array of strings, not " + type_name(j));
    if (j.empty()) fail(at, "must not be an empty array (leave the key out to match anything)");
    out.reserve(j.size());
    for (std::size_t i = 0; i < j.size(); ++i) out.push_back(string_value(j[i], at.index(i), max_length));
    return out;
  }

  /// Element `i` of a list read by string_list, for errors.
  static Path element(const json& j, const Path& at, std::size_t i) { return j.is_array() ? at.index(i) : at; }

  static bool plain_token(std::string_view s, bool allow_upper) {
    if (s.empty()) return false;
    for (const char c : s) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
                      (allow_upper && c >= 'A' && c <= 'Z');
      if (!ok) return false;
    }
    return true;
  }

  std::chrono::seconds duration(const json& j, const Path& at, std::chrono::seconds max) const {
    const std::string text = string_value(j, at, 64);
    const auto d = parse_duration(text);
    if (!d) fail(at, q_text(text) + " is not a duration (write it like \"90s\", \"15m\", \"1h30m\" or \"2d\")");
    if (d->count() <= 0) fail(at, "must be longer than 0s");
    if (*d > max) fail(at, "must be at most " + format_duration(max));
    return *d;
  }

  RuleSpec rule(const json& j, const Path& at) {
    expect_object(j, at, "a rule");
    check_keys(j, at, {"id", "description", "effect", "providers", "methods", "hosts", "paths", "actor", "user",
                       "conditions", "approval"});
    RuleSpec rule;
    rule.line = line_of(at);

    const auto id = j.find("id");
    if (id == j.end()) fail(at.key("id"), "is required");
    rule.id = string_value(*id, at.key("id"), 128);
    if (!plain_token(rule.id, false) || rule.id.front() == '_' || rule.id.front() == '-' || rule.id.front() == '.') {
      fail(at.key("id"), q_text(rule.id) + " is not a rule id: lower-case letters, digits, '_', '.' and '-', "
                         "starting with a letter or digit");
    }
    if (const auto it = j.find("description"); it != j.end()) rule.description = string_value(*it, at.key("description"), 4096);

    const auto effect = j.find("effect");
    if (effect == j.end()) fail(at.key("effect"), "is required (allow, deny or require_approval)");
    const std::string effect_text = string_value(*effect, at.key("effect"), 64);
    if (effect_text == "allow") {
      rule.effect = Effect::kAllow;
    } else if (effect_text == "deny") {
      rule.effect = Effect::kDeny;
    } else if (effect_text == "require_approval") {
      rule.effect = Effect::kRequireApproval;
    } else {
      fail(at.key("effect"), q_text(effect_text) + " is not an effect (allow, deny or require_approval)");
    }

    if (const auto it = j.find("providers"); it != j.end()) {
      const Path p = at.key("providers");
      rule.providers = string_list(*it, p, 128);
      for (std::size_t i = 0; i < rule.providers.size(); ++i) {
        if (!plain_token(rule.providers[i], true)) {
          fail(element(*it, p, i), q_text(rule.providers[i]) + " is not a provider id (letters, digits, '_', '.', '-')");
        }
      }
    }
    if (const auto it = j.find("methods"); it != j.end()) {
      const Path p = at.key("methods");
      rule.methods = string_list(*it, p, 32);
      for (std::size_t i = 0; i < rule.methods.size(); ++i) {
        std::string m = upper(rule.methods[i]);
        if (m.empty() || !std::all_of(m.begin(), m.end(), [](char c) { return (c >= 'A' && c <= 'Z') || c == '-' || c == '_'; })) {
          fail(element(*it, p, i), q_text(rule.methods[i]) + " is not an HTTP method (GET, POST, ...)");
        }
        rule.methods[i] = std::move(m);
      }
    }
    if (const auto it = j.find("hosts"); it != j.end()) {
      const Path p = at.key("hosts");
      rule.hosts = string_list(*it, p, 253);
      for (std::size_t i = 0; i < rule.hosts.size(); ++i) {
        std::string h = lower(rule.hosts[i]);
        const Path e = element(*it, p, i);
        if (h.find("://") != std::string::npos || h.find('/') != std::string::npos) {
          fail(e, q_text(rule.hosts[i]) + " is not a host name: hosts take names like \"www.googleapis.com\", paths go in `paths`");
        }
        if (h.find(':') != std::string::npos) fail(e, q_text(rule.hosts[i]) + ": hosts are matched without a port");
        if (h.empty() || !std::all_of(h.begin(), h.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '*' || c == '_';
            })) {
          fail(e, q_text(rule.hosts[i]) + " is not a host glob (letters, digits, '-', '.', and '*')");
        }
        if (h.back() == '.') h.pop_back();
        std::string error;
        if (!SegmentedGlob::compile(h, '.', true, &error)) fail(e, error);
        rule.hosts[i] = std::move(h);
      }
    }
    if (const auto it = j.find("paths"); it != j.end()) {
      const Path p = at.key("paths");
      rule.paths = string_list(*it, p, 2048);
      for (std::size_t i = 0; i < rule.paths.size(); ++i) {
        const std::string& path = rule.paths[i];
        const Path e = element(*it, p, i);
        if (path.empty() || path.front() != '/') fail(e, q_text(path) + " must start with '/'");
        if (path.find_first_of("?#") != std::string::npos) fail(e, q_text(path) + ": paths are matched without query or fragment");
        std::string error;
        if (!SegmentedGlob::compile(path, '/', false, &error)) fail(e, error);
      }
    }
    if (const auto it = j.find("actor"); it != j.end()) actor(*it, at.key("actor"), rule);
    if (const auto it = j.find("user"); it != j.end()) user(*it, at.key("user"), rule);
    if (const auto it = j.find("conditions"); it != j.end()) conditions(*it, at.key("conditions"), rule);

    if (const auto it = j.find("approval"); it != j.end()) {
      const Path p = at.key("approval");
      if (rule.effect != Effect::kRequireApproval) fail(p, "approval settings are only for require_approval rules");
      expect_object(*it, p, "approval");
      check_keys(*it, p, {"ttl", "window"});
      if (const auto t = it->find("ttl"); t != it->end()) rule.approval.ttl = duration(*t, p.key("ttl"), std::chrono::hours(24 * 30));
      if (const auto w = it->find("window"); w != it->end()) {
        rule.approval.window = duration(*w, p.key("window"), std::chrono::hours(24 * 365));
      }
    }
    return rule;
  }

  void actor(const json& j, const Path& at, RuleSpec& rule) const {
    expect_object(j, at, "actor");
    check_keys(j, at, {"type", "id"});
    if (const auto it = j.find("type"); it != j.end()) {
      const Path p = at.key("type");
      rule.actor_types = string_list(*it, p, 64);
      for (std::size_t i = 0; i < rule.actor_types.size(); ++i) {
        const auto& t = rule.actor_types[i];
        if (t != "ai_agent" && t != "mcp_server" && t != "application") {
          fail(element(*it, p, i), q_text(t) + " is not an actor type (ai_agent, mcp_server or application)");
        }
      }
    }
    if (const auto it = j.find("id"); it != j.end()) {
      const Path p = at.key("id");
      rule.actor_ids = string_list(*it, p, 256);
      for (std::size_t i = 0; i < rule.actor_ids.size(); ++i) {
        if (rule.actor_ids[i].empty()) fail(element(*it, p, i), "must not be empty");
      }
    }
  }

  void user(const json& j, const Path& at, RuleSpec& rule) const {
    expect_object(j, at, "user");
    for (const auto& [name, value] : j.items()) {
      const Path p = at.key(name);
      if (name.empty() || name.size() > 128) fail(p, "attribute names are 1 to 128 characters");
      ValueMatcher matcher;
      if (value.is_string()) {
        matcher.values.push_back(string_value(value, p));
      } else if (value.is_object()) {
        check_keys(value, p, {"equals", "glob", "one_of"});
        if (value.size() != 1) fail(p, "must hold exactly one of equals, glob or one_of");
        const auto first = value.begin();
        const std::string& kind = first.key();
        const json& operand = first.value();
        if (kind == "equals") {
          matcher.values.push_back(string_value(operand, p.key(kind)));
        } else if (kind == "glob") {
          matcher.kind = ValueMatcher::Kind::kGlob;
          matcher.values.push_back(string_value(operand, p.key(kind)));
        } else {
          matcher.kind = ValueMatcher::Kind::kOneOf;
          if (!operand.is_array()) fail(p.key(kind), "must be an array of strings, not " + type_name(operand));
          matcher.values = string_list(operand, p.key(kind));
        }
      } else {
        fail(p, "must be a string (equal), {glob = \"...\"} or {one_of = [...]}, not " + type_name(value));
      }
      rule.user.emplace(name, std::move(matcher));
    }
  }

  void conditions(const json& j, const Path& at, RuleSpec& rule) const {
    expect_object(j, at, "conditions");
    check_keys(j, at, {"time_window", "reason_required", "reason_matches", "rate_limit", "source_ips", "max_token_lifetime",
                       "proxy_required"});
    ConditionsSpec& c = rule.conditions;
    if (rule.effect == Effect::kDeny) {
      // A deny rule's conditions say when it applies; these only make sense as requirements.
      for (const char* key : {"reason_required", "reason_matches", "rate_limit", "max_token_lifetime", "proxy_required"}) {
        if (j.contains(key)) {
          fail(at.key(key), "is not a condition of deny rules (a deny rule's conditions say when it applies: "
                            "use time_window or source_ips)");
        }
      }
    }
    if (const auto it = j.find("time_window"); it != j.end()) c.time_window = time_window(*it, at.key("time_window"));
    if (const auto it = j.find("reason_required"); it != j.end()) {
      if (!it->is_boolean()) fail(at.key("reason_required"), "must be true or false, not " + type_name(*it));
      c.reason_required = it->get<bool>();
    }
    if (const auto it = j.find("proxy_required"); it != j.end()) {
      if (!it->is_boolean()) fail(at.key("proxy_required"), "must be true or false, not " + type_name(*it));
      c.proxy_required = it->get<bool>();
    }
    if (const auto it = j.find("reason_matches"); it != j.end()) {
      const Path p = at.key("reason_matches");
      if (j.contains("reason_required") && !c.reason_required) {
        fail(at.key("reason_required"), "cannot be false with reason_matches (a pattern requires a reason)");
      }
      std::string pattern = string_value(*it, p, kMaxReasonPatternLength);
      std::string error;
      if (!ReasonRegex::compile(pattern, &error)) fail(p, error);
      c.reason_matches = std::move(pattern);
      c.reason_required = true;
    }
    if (const auto it = j.find("rate_limit"); it != j.end()) c.rate_limit = rate_limit(*it, at.key("rate_limit"));
    if (const auto it = j.find("source_ips"); it != j.end()) {
      const Path p = at.key("source_ips");
      const auto blocks = string_list(*it, p, 64);
      for (std::size_t i = 0; i < blocks.size(); ++i) {
        std::string error;
        const auto cidr = Cidr::parse(blocks[i], &error);
        if (!cidr) fail(element(*it, p, i), error);
        c.source_ips.push_back(cidr->to_string());
      }
    }
    if (const auto it = j.find("max_token_lifetime"); it != j.end()) {
      c.max_token_lifetime = duration(*it, at.key("max_token_lifetime"), std::chrono::hours(24 * 3650));
    }
  }

  TimeWindowSpec time_window(const json& j, const Path& at) const {
    expect_object(j, at, "time_window");
    check_keys(j, at, {"days", "hours", "time_zone"});
    if (!j.contains("days") && !j.contains("hours")) fail(at, "needs days, hours or both");
    TimeWindowSpec w;
    if (const auto it = j.find("days"); it != j.end()) {
      const Path p = at.key("days");
      const auto days = string_list(*it, p, 16);
      w.days = 0;
      for (std::size_t i = 0; i < days.size(); ++i) {
        const std::string d = lower(days[i]);
        std::size_t found = kDayNames.size();
        for (std::size_t k = 0; k < kDayNames.size(); ++k) {
          if (d == kDayNames[k] || d == kLongDayNames[k]) found = k;
        }
        if (found == kDayNames.size()) fail(element(*it, p, i), q_text(days[i]) + " is not a day (mon, tue, wed, thu, fri, sat, sun)");
        w.days = static_cast<std::uint8_t>(w.days | (1u << found));
      }
    }
    if (const auto it = j.find("hours"); it != j.end()) {
      const Path p = at.key("hours");
      const std::string text = string_value(*it, p, 32);
      const auto parse_hm = [](std::string_view s, bool end) -> int {
        if (s.size() != 5 || s[2] != ':') return -1;
        int h = 0, m = 0;
        for (const std::size_t k : {0u, 1u, 3u, 4u}) {
          if (s[k] < '0' || s[k] > '9') return -1;
        }
        h = (s[0] - '0') * 10 + (s[1] - '0');
        m = (s[3] - '0') * 10 + (s[4] - '0');
        if (m > 59) return -1;
        if (h == 24 && m == 0 && end) return 24 * 60;
        if (h > 23) return -1;
        return h * 60 + m;
      };
      const std::size_t dash = text.find('-');
      const int start = dash == std::string::npos ? -1 : parse_hm(std::string_view(text).substr(0, dash), false);
      const int end = dash == std::string::npos ? -1 : parse_hm(std::string_view(text).substr(dash + 1), true);
      if (start < 0 || end < 0) fail(p, q_text(text) + " is not a range of hours (write it like \"09:00-17:30\"; \"22:00-06:00\" wraps past midnight)");
      if (start == end) fail(p, q_text(text) + " is an empty range");
      w.start_minute = start;
      w.end_minute = end;
    }
    if (const auto it = j.find("time_zone"); it != j.end()) {
      const Path p = at.key("time_zone");
      const std::string name = string_value(*it, p, 128);
      Zone zone;
      std::string error;
      if (!Zone::lookup(name, zone, &error)) fail(p, error);
      w.time_zone = zone.name();
    }
    return w;
  }

  RateLimitSpec rate_limit(const json& j, const Path& at) const {
    expect_object(j, at, "rate_limit");
    check_keys(j, at, {"count", "per_period", "per"});
    RateLimitSpec r;
    const auto count = j.find("count");
    if (count == j.end()) fail(at.key("count"), "is required");
    if (!count->is_number_integer() || count->get<std::int64_t>() < 1 || count->get<std::int64_t>() > 1'000'000'000) {
      fail(at.key("count"), "must be an integer from 1 to 1000000000");
    }
    r.count = count->get<std::int64_t>();
    const auto period = j.find("per_period");
    if (period == j.end()) fail(at.key("per_period"), "is required (second, minute, hour or day)");
    const std::string p = string_value(*period, at.key("per_period"), 16);
    if (p == "second") {
      r.period = Period::kSecond;
    } else if (p == "minute") {
      r.period = Period::kMinute;
    } else if (p == "hour") {
      r.period = Period::kHour;
    } else if (p == "day") {
      r.period = Period::kDay;
    } else {
      fail(at.key("per_period"), q_text(p) + " is not a period (second, minute, hour or day)");
    }
    if (const auto it = j.find("per"); it != j.end()) {
      const Path pp = at.key("per");
      if (!it->is_array()) fail(pp, "must be an array of actor, user, rule, provider");
      r.per_actor = r.per_user = r.per_rule = r.per_provider = false;
      for (std::size_t i = 0; i < it->size(); ++i) {
        const std::string k = string_value((*it)[i], pp.index(i), 16);
        if (k == "actor") {
          r.per_actor = true;
        } else if (k == "user") {
          r.per_user = true;
        } else if (k == "rule") {
          r.per_rule = true;
        } else if (k == "provider") {
          r.per_provider = true;
        } else {
          fail(pp.index(i), q_text(k) + " is not a rate-limit key (actor, user, rule, provider)");
        }
      }
    }
    return r;
  }

  const detail::SourceTree* source_;
};

std::size_t line_at(std::string_view text, std::size_t byte) {
  byte = std::min(byte, text.size());
  return 1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(byte), '\n'));
}

// Thrown from the JSON parser's callback to refuse a document early.
struct JsonRefusal {
  std::string message;
};

}  // namespace

std::string describe(const TimeWindowSpec& window) {
  std::string out;
  if (window.days != 0x7f) {
    std::vector<std::string> names;
    for (std::size_t k = 0; k < kDayNames.size(); ++k) {
      if ((window.days >> k) & 1) names.emplace_back(kDayNames[k]);
    }
    out = join(names, ",");
  } else {
    out = "every day";
  }
  if (window.start_minute != 0 || window.end_minute != 24 * 60) {
    out += " " + format_minute(window.start_minute) + "-" + format_minute(window.end_minute);
  }
  return out + " " + window.time_zone;
}

common::Result<PolicyDocument, DocumentError> parse_document(std::string_view text, std::string_view format) {
  const auto refuse = [](std::string message, std::size_t line = 0, std::size_t column = 0) {
    DocumentError e;
    e.message = std::move(message);
    e.line = line;
    e.column = column;
    return common::unexpected(std::move(e));
  };
  if (text.size() > kMaxDocumentBytes) {
    return refuse("the document is larger than " + std::to_string(kMaxDocumentBytes / 1024) + " KiB");
  }
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a UTF-8 byte order mark
  if (format == "auto") {
    const auto first = text.find_first_not_of(" \t\r\n");
    format = (first != std::string_view::npos && text[first] == '{') ? "json" : "toml";
  }

  try {
    if (format == "toml") {
      auto tree = detail::read_toml(text, false);
      if (!tree) {
        const auto& e = tree.error();
        if (!e.pointer.empty()) {
          DocumentError d;
          d.line = e.position.line;
          d.pointer = e.pointer;
          d.message = e.message;
          return common::unexpected(std::move(d));
        }
        return refuse("TOML syntax error: " + e.message, e.position.line, e.position.column);
      }
      try {
        return Validator(&*tree).document(tree->root);
      } catch (Invalid& e) {
        // The field's own line, else its closest ancestor's (a missing key: the table's line).
        if (auto full = detail::read_toml(text, true)) e.error.line = detail::line_of(full.value(), e.error.pointer);
        return common::unexpected(std::move(e.error));
      }
    }
    if (format == "json") {
      // Refuse duplicate keys (a second "effect" must not silently replace the first) and
      // absurd nesting while parsing.
      std::vector<std::set<std::string>> keys;
      const auto callback = [&keys](int depth, json::parse_event_t event, json& parsed) {
        if (depth > detail::kMaxNesting) throw JsonRefusal{"nested too deeply (more than " + std::to_string(detail::kMaxNesting) + " levels)"};
        if (event == json::parse_event_t::object_start) {
          keys.emplace_back();
        } else if (event == json::parse_event_t::object_end) {
          if (!keys.empty()) keys.pop_back();
        } else if (event == json::parse_event_t::key && !keys.empty()) {
          const auto& key = parsed.get_ref<const std::string&>();
          if (!keys.back().insert(key).second) throw JsonRefusal{"duplicate key " + q_text(key)};
        }
        return true;
      };
      json root;
      try {
        root = json::parse(text.begin(), text.end(), callback);
      } catch (const json::parse_error& e) {
        std::string what = e.what();
        // "[json.exception.parse_error.101] parse error at line 1, column 2: syntax error ..."
        if (const auto colon = what.find(": "); colon != std::string::npos) what = what.substr(colon + 2);
        return refuse("JSON syntax error: " + what, e.byte > 0 ? line_at(text, e.byte - 1) : 0);
      } catch (const JsonRefusal& e) {
        return refuse(e.message);
      }
      return Validator(nullptr).document(root);
    }
  } catch (const Invalid& e) {
    return common::unexpected(e.error);
  } catch (const std::exception& e) {
    return refuse(std::string("the document could not be read: ") + e.what());
  }
  return refuse("unknown policy format " + q_text(format) + " (toml, json or auto)");
}

Result<PolicyDocument> parse_policy_document(std::string_view text, std::string_view format) {
  auto doc = parse_document(text, format);
  if (!doc) return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_policy", "invalid policy: " + doc.error().to_string()));
  return std::move(doc).value();
}

// ---- normalized form ----

json to_json(const RuleSpec& rule) {
  json j = json::object();
  j["id"] = rule.id;
  if (!rule.description.empty()) j["description"] = rule.description;
  j["effect"] = std::string(to_string(rule.effect));
  if (!rule.providers.empty()) j["providers"] = rule.providers;
  if (!rule.methods.empty()) j["methods"] = rule.methods;
  if (!rule.hosts.empty()) j["hosts"] = rule.hosts;
  if (!rule.paths.empty()) j["paths"] = rule.paths;
  if (!rule.actor_types.empty() || !rule.actor_ids.empty()) {
    json actor = json::object();
    if (!rule.actor_types.empty()) actor["type"] = rule.actor_types;
    if (!rule.actor_ids.empty()) actor["id"] = rule.actor_ids;
    j["actor"] = std::move(actor);
  }
  if (!rule.user.empty()) {
    json user = json::object();
    for (const auto& [name, m] : rule.user) {
      switch (m.kind) {
        case ValueMatcher::Kind::kEquals: user[name] = m.values.front(); break;
        case ValueMatcher::Kind::kGlob: user[name] = {{"glob", m.values.front()}}; break;
        case ValueMatcher::Kind::kOneOf: user[name] = {{"one_of", m.values}}; break;
      }
    }
    j["user"] = std::move(user);
  }
  const ConditionsSpec& c = rule.conditions;
  if (!c.empty()) {
    json cj = json::object();
    if (c.time_window) {
      json w = json::object();
      if (c.time_window->days != 0x7f) {
        json days = json::array();
        for (std::size_t k = 0; k < kDayNames.size(); ++k) {
          if ((c.time_window->days >> k) & 1) days.push_back(kDayNames[k]);
        }
        w["days"] = std::move(days);
      }
      w["hours"] = format_minute(c.time_window->start_minute) + "-" + format_minute(c.time_window->end_minute);
      w["time_zone"] = c.time_window->time_zone;
      cj["time_window"] = std::move(w);
    }
    if (c.reason_required && !c.reason_matches) cj["reason_required"] = true;
    if (c.reason_matches) cj["reason_matches"] = *c.reason_matches;
    if (c.rate_limit) {
      json per = json::array();
      if (c.rate_limit->per_actor) per.push_back("actor");
      if (c.rate_limit->per_user) per.push_back("user");
      if (c.rate_limit->per_rule) per.push_back("rule");
      if (c.rate_limit->per_provider) per.push_back("provider");
      cj["rate_limit"] = {{"count", c.rate_limit->count},
                          {"per_period", std::string(to_string(c.rate_limit->period))},
                          {"per", std::move(per)}};
    }
    if (!c.source_ips.empty()) cj["source_ips"] = c.source_ips;
    if (c.max_token_lifetime) cj["max_token_lifetime"] = format_duration(*c.max_token_lifetime);
    j["conditions"] = std::move(cj);
  }
  if (rule.effect == Effect::kRequireApproval) {
    json a = {{"ttl", format_duration(rule.approval.ttl)}};
    if (rule.approval.window) a["window"] = format_duration(*rule.approval.window);
    j["approval"] = std::move(a);
  }
  return j;
}

json to_json(const PolicyDocument& document) {
  json j = json::object();
  j["version"] = document.format_version;
  if (!document.description.empty()) j["description"] = document.description;
  json rules = json::array();
  for (const auto& rule : document.rules) rules.push_back(to_json(rule));
  j["rules"] = std::move(rules);
  return j;
}

}  // namespace alter::server::policy
