#include "store/store.hpp"

#include <sys/random.h>

#include <array>
#include <cerrno>

#include "store/store_internal.hpp"

namespace alter::server {

namespace store_internal {

std::optional<std::string> new_row_id() {
  std::array<unsigned char, 16> bytes{};
  std::size_t filled = 0;
  while (filled < bytes.size()) {
    const ssize_t n = ::getrandom(bytes.data() + filled, bytes.size() - filled, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    filled += static_cast<std::size_t>(n);
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0F) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3F) | 0x80);  // RFC 4122 variant
  constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 0x0F];
  }
  return out;
}

// dump() throws on invalid UTF-8; that is the caller's bad input, not a store failure.
StoreResult<std::string> to_json_text(const nlohmann::json& value, std::string_view field) {
  try {
    return value.dump();
  } catch (const nlohmann::json::exception&) {
    return common::unexpected(StoreError{StoreErrc::kInvalid, std::string(field) + " is not valid UTF-8"});
  }
}

StoreResult<std::string> canonical_attributes(const Attributes& attributes) {
  return to_json_text(nlohmann::json(attributes), "attributes");
}

StoreResult<std::string> string_list_json(const std::vector<std::string>& list, std::string_view field) {
  return to_json_text(nlohmann::json(list), field);
}

std::optional<nlohmann::json> parse_json(const std::string& text) {
  auto value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return std::nullopt;
  return value;
}

bool parse_string_list(const std::string& text, std::vector<std::string>& out) {
  auto value = parse_json(text);
  if (!value || !value->is_array()) return false;
  out.clear();
  for (const auto& item : *value) {
    if (!item.is_string()) return false;
    out.push_back(item.get<std::string>());
  }
  return true;
}

bool parse_attributes(const std::string& text, Attributes& out) {
  auto value = parse_json(text);
  if (!value || !value->is_object()) return false;
  out.clear();
  for (const auto& [name, item] : value->items()) {
    if (!item.is_string()) return false;
    out.emplace(name, item.get<std::string>());
  }
  return true;
}

}  // namespace store_internal
}  // namespace alter::server
