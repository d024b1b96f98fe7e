#pragma once
// Parsing JSON that comes from outside (request bodies, providers' and the vault's answers) with
// limits on nesting depth, string sizes and element counts, checked while parsing: a document over
// a limit is refused before it is built, so no deep value ever reaches a recursive serializer or
// destructor. The error never quotes the input (it may hold a secret).
#include <alter/common/result.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace alter::common {

struct JsonLimits {
  std::size_t max_depth = 32;              // arrays and objects nested at most this deep
  std::size_t max_string = 1024 * 1024;    // bytes in one string (keys included)
  std::size_t max_key = 1024;              // bytes in one object key
  std::size_t max_elements = 100000;       // values in the whole document
};

enum class JsonErrc { kSyntax, kUtf8, kTooDeep, kStringTooLong, kTooManyElements, kNumber };

struct JsonError {
  JsonErrc code = JsonErrc::kSyntax;
  std::size_t byte = 0;  // where parsing stopped (syntax errors)
  /// A clause without any of the input, to follow "the body is ": "nested more than 32 levels
  /// deep", "not valid JSON (at byte 7)", "over the limit of 1024 bytes for an object key", ...
  std::string message;
};

namespace detail {
struct JsonLimitHit {
  JsonErrc code;
  std::string message;
};
}  // namespace detail

inline Result<nlohmann::json, JsonError> parse_json(std::string_view text, const JsonLimits& limits = {}) {
  std::size_t elements = 0;
  auto check = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (static_cast<std::size_t>(depth) > limits.max_depth) {
      throw detail::JsonLimitHit{JsonErrc::kTooDeep,
                                 "nested more than " + std::to_string(limits.max_depth) + " levels deep"};
    }
    if (event == E::key) {
      if (parsed.is_string() && parsed.get_ref<const std::string&>().size() > limits.max_key) {
        throw detail::JsonLimitHit{JsonErrc::kStringTooLong,
                                   "over the limit of " + std::to_string(limits.max_key) + " bytes for an object key"};
      }
    } else if (event == E::value || event == E::object_start || event == E::array_start) {
      if (++elements > limits.max_elements) {
        throw detail::JsonLimitHit{JsonErrc::kTooManyElements,
                                   "over the limit of " + std::to_string(limits.max_elements) + " values"};
      }
      if (event == E::value && parsed.is_string() && parsed.get_ref<const std::string&>().size() > limits.max_string) {
        throw detail::JsonLimitHit{JsonErrc::kStringTooLong,
                                   "over the limit of " + std::to_string(limits.max_string) + " bytes for a string"};
      }
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), check);
  } catch (const detail::JsonLimitHit& e) {
    return unexpected(JsonError{e.code, 0, e.message});
  } catch (const nlohmann::json::parse_error& e) {
    // nlohmann's own text quotes the input: report only what and where.
    const bool utf8 = std::string_view(e.what()).find("UTF-8") != std::string_view::npos;
    return unexpected(JsonError{utf8 ? JsonErrc::kUtf8 : JsonErrc::kSyntax, e.byte,
                                std::string(utf8 ? "not valid UTF-8" : "not valid JSON") + " (at byte " +
                                    std::to_string(e.byte) + ")"});
  } catch (const nlohmann::json::exception&) {
    return unexpected(JsonError{JsonErrc::kNumber, 0, "not valid JSON (a number is out of range)"});
  }
}

}  // namespace alter::common
