#pragma once
// TOML to JSON, keeping where each value was written. The only place that includes toml++
// (heavy to compile), so that the validator works on one tree for both formats.
#include <alter/common/result.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

namespace alter::server::policy::detail {

struct SourcePosition {
  std::size_t line = 0;
  std::size_t column = 0;
};

struct SourceTree {
  nlohmann::json root;
  /// JSON pointer ("/rules/0/effect") to where the key (or array element) was written.
  std::unordered_map<std::string, SourcePosition> positions;
};

struct ReadError {
  SourcePosition position;
  std::string pointer;  // when the error is about a value (unsupported type, nesting)
  std::string message;
};

/// Deepest nesting accepted; policy documents need five levels.
inline constexpr int kMaxNesting = 32;

/// Appends "/" + the escaped token to a JSON pointer.
void append_pointer_token(std::string& pointer, std::string_view token);

/// `all_positions`: record every key's position. Without it only the top-level keys' and each
/// rule's (depth <= 2) are kept, which is all a valid document needs; the validator reads the
/// document again with all positions when it has an error to place.
common::Result<SourceTree, ReadError> read_toml(std::string_view text, bool all_positions);

/// The line of `pointer`, else of its closest ancestor with a known position; 0 if none.
std::size_t line_of(const SourceTree& tree, std::string pointer);

}  // namespace alter::server::policy::detail
