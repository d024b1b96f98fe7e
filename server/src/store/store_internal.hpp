#pragma once
// Helpers shared by the Store implementations; not for the store's users.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.hpp"

namespace alter::server::store_internal {

/// A random (version 4) UUID for a row the caller did not name, e.g. a new connection.
/// nullopt when the system has no randomness to give.
std::optional<std::string> new_row_id();

// ---- JSON columns (the same text in every backend) ----

/// Compact JSON; kInvalid naming `field` when a string in it is not valid UTF-8.
StoreResult<std::string> to_json_text(const nlohmann::json& value, std::string_view field);
/// The canonical form that makes (app, provider, attributes) unique: keys sorted, compact.
StoreResult<std::string> canonical_attributes(const Attributes& attributes);
StoreResult<std::string> string_list_json(const std::vector<std::string>& list, std::string_view field);
std::optional<nlohmann::json> parse_json(const std::string& text);
/// false when `text` is not a JSON array of strings.
bool parse_string_list(const std::string& text, std::vector<std::string>& out);
/// false when `text` is not a JSON object of strings.
bool parse_attributes(const std::string& text, Attributes& out);

}  // namespace alter::server::store_internal
