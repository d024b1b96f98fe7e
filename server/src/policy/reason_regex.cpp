#include "policy/reason_regex.hpp"

#include <cstdint>

namespace alter::server::policy {
namespace {

std::regex::flag_type flags() {
  auto f = std::regex::ECMAScript | std::regex::optimize;
#if defined(__GLIBCXX__)
  f |= std::regex_constants::__polynomial;
#endif
  return f;
}

/// Counted repetitions ("a{1000}") multiply the automaton; bound them before std::regex builds it.
bool repetitions_bounded(std::string_view pattern, std::string* error) {
  std::uint64_t product = 1;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\') {
      ++i;
      continue;
    }
    if (pattern[i] != '{') continue;
    std::uint64_t largest = 0, value = 0;
    bool digits = false;
    for (std::size_t j = i + 1; j < pattern.size() && pattern[j] != '}'; ++j) {
      if (pattern[j] >= '0' && pattern[j] <= '9') {
        value = value * 10 + static_cast<std::uint64_t>(pattern[j] - '0');
        digits = true;
        if (value > 100) break;
      } else if (pattern[j] == ',') {
        largest = std::max(largest, value);
        value = 0;
      } else {
        break;
      }
    }
    largest = std::max(largest, value);
    if (!digits) continue;
    if (largest > 100) {
      *error = "counted repetitions are limited to {100}";
      return false;
    }
    product *= std::max<std::uint64_t>(largest, 1);
    if (product > 1000) {
      *error = "counted repetitions multiply to more than 1000";
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<ReasonRegex> ReasonRegex::compile(std::string_view pattern, std::string* error) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  if (pattern.empty()) {
    *error = "must not be empty";
    return std::nullopt;
  }
  if (pattern.size() > kMaxReasonPatternLength) {
    *error = "is longer than " + std::to_string(kMaxReasonPatternLength) + " characters";
    return std::nullopt;
  }
  if (pattern.find('\0') != std::string_view::npos) {
    *error = "must not contain NUL characters";
    return std::nullopt;
  }
  if (!repetitions_bounded(pattern, error)) return std::nullopt;
  try {
    // The pattern alone first: wrapping it must not turn an invalid one (say "a)(b") into a
    // valid one.
    std::regex alone(pattern.begin(), pattern.end(), flags());
    (void)alone;
    ReasonRegex compiled;
    // A search as one anchored match: a single pass over the reason instead of one per start.
    const std::string wrapped = "[\\s\\S]*(?:" + std::string(pattern) + ")[\\s\\S]*";
    compiled.regex_ = std::regex(wrapped, flags());
    return compiled;
  } catch (const std::regex_error& e) {
    *error = std::string("is not a valid regular expression (") + e.what() + ")";
    return std::nullopt;
  }
}

bool ReasonRegex::search(std::string_view reason) const {
  if (reason.size() > kMaxMatchedReasonLength) return false;
  return std::regex_match(reason.begin(), reason.end(), regex_);
}

}  // namespace alter::server::policy
