#pragma once
// Reading untrusted JSON: every failure is a 400 invalid_request whose message names the field
// and never echoes the input (it may hold a secret).
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "core/types.hpp"
#include "http/types.hpp"

namespace alter::server::api {

/// The body as a JSON object.
Result<nlohmann::json> json_object_body(const http::Request& req);

struct StringRule {
  bool required = false;
  std::size_t max_size = 1024;
  bool allow_empty = true;
  bool single_line = true;  // no control characters
};

/// The string field, or nullopt when absent (and not required).
Result<std::optional<std::string>> string_field(const nlohmann::json& obj, const std::string& name, StringRule rule);
/// An object of string values (user attributes, settings).
Result<Attributes> string_map_field(const nlohmann::json& obj, const std::string& name, bool required,
                                    std::size_t max_entries = 32);
/// Fails on any field not in `known`.
Result<void> no_unknown_fields(const nlohmann::json& obj, std::initializer_list<const char*> known);
bool valid_slug(std::string_view s);

}  // namespace alter::server::api
