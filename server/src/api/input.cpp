#include "api/input.hpp"

#include <alter/common/json.hpp>

#include <set>

namespace alter::server::api {
namespace {
// Bodies of the API: every document the vault accepts fits these (the largest, a policy in JSON or
// an audit batch, stays well under them).
constexpr common::JsonLimits kBodyLimits{.max_depth = 32, .max_string = 1024 * 1024, .max_key = 256, .max_elements = 200000};

Error bad(std::string message) { return make_error(Errc::kInvalidArgument, "invalid_request", std::move(message)); }

bool has_control(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}
}  // namespace

Result<nlohmann::json> json_object_body(const http::Request& req) {
  if (req.body.empty()) return common::unexpected(bad("the request body must be a JSON object"));
  // Depth, sizes and counts are bounded while parsing: nothing deep reaches a serializer later.
  auto parsed = common::parse_json(req.body, kBodyLimits);
  if (!parsed) return common::unexpected(bad("the body is " + parsed.error().message));
  if (!parsed->is_object()) return common::unexpected(bad("the request body must be a JSON object"));
  return std::move(parsed.value());
}

Result<std::optional<std::string>> string_field(const nlohmann::json& obj, const std::string& name, StringRule rule) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) {
    if (rule.required) return common::unexpected(bad("field '" + name + "' is required"));
    return std::optional<std::string>();
  }
  if (!it->is_string()) return common::unexpected(bad("field '" + name + "' must be a string"));
  const auto& v = it->get_ref<const std::string&>();
  if (v.size() > rule.max_size) {
    return common::unexpected(bad("field '" + name + "' is longer than " + std::to_string(rule.max_size) + " bytes"));
  }
  if (!rule.allow_empty && v.empty()) return common::unexpected(bad("field '" + name + "' must not be empty"));
  if (rule.single_line && has_control(v)) {
    return common::unexpected(bad("field '" + name + "' must not contain control characters"));
  }
  return std::optional<std::string>(v);
}

Result<Attributes> string_map_field(const nlohmann::json& obj, const std::string& name, bool required,
                                    std::size_t max_entries) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) {
    if (required) return common::unexpected(bad("field '" + name + "' is required"));
    return Attributes{};
  }
  if (!it->is_object()) return common::unexpected(bad("field '" + name + "' must be an object of strings"));
  if (it->size() > max_entries) {
    return common::unexpected(bad("field '" + name + "' has more than " + std::to_string(max_entries) + " entries"));
  }
  Attributes out;
  for (auto e = it->begin(); e != it->end(); ++e) {
    if (e.key().empty() || e.key().size() > 64 || has_control(e.key())) {
      return common::unexpected(bad("field '" + name + "' has an invalid key"));
    }
    if (!e->is_string()) return common::unexpected(bad("field '" + name + "." + e.key() + "' must be a string"));
    const auto& v = e->get_ref<const std::string&>();
    if (v.size() > 512 || has_control(v)) {
      return common::unexpected(bad("field '" + name + "." + e.key() + "' is too long or has control characters"));
    }
    out[e.key()] = v;
  }
  return out;
}

Result<void> no_unknown_fields(const nlohmann::json& obj, std::initializer_list<const char*> known) {
  std::set<std::string_view> names(known.begin(), known.end());
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!names.count(it.key())) return common::unexpected(bad("unknown field '" + it.key().substr(0, 64) + "'"));
  }
  return {};
}

bool valid_slug(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9'))) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

}  // namespace alter::server::api
