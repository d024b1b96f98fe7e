#pragma once
// The `reason_matches` condition's regex: ECMAScript syntax, searched anywhere in the reason,
// compiled once per policy version. Matching is kept polynomial: with libstdc++ the regex runs
// in its breadth-first (Thompson) mode, which refuses back-references, and patterns and the
// reasons they see are bounded.
#include <cstddef>
#include <optional>
#include <regex>
#include <string>
#include <string_view>

namespace alter::server::policy {

inline constexpr std::size_t kMaxReasonPatternLength = 256;
/// Longer reasons fail a `reason_matches` condition rather than reaching the regex.
inline constexpr std::size_t kMaxMatchedReasonLength = 1024;

class ReasonRegex {
 public:
  static std::optional<ReasonRegex> compile(std::string_view pattern, std::string* error);
  /// True when the pattern occurs in `reason` (anchors ^ and $ refer to the whole reason).
  bool search(std::string_view reason) const;

 private:
  std::regex regex_;
};

}  // namespace alter::server::policy
