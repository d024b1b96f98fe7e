#pragma once
// A shape check run before a TOML document (a policy, a configuration file) reaches toml++, whose
// parser recurses once per dotted-key part and per nested array or inline table: a table header of
// 30,000 parts (`[t.t.t....]`, 64 KB) overflowed the stack. The check reads the text once, skipping
// strings and comments, and refuses a line with too many key parts or values nested too deeply.
// It is conservative (dots in floats and dates count too; no real policy or configuration comes
// near the limits) and, like common/json.hpp, never quotes the input.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace alter::common {

struct TomlLimits {
  std::size_t max_depth = 32;           // arrays and inline tables nested at most this deep
  std::size_t max_dots_per_line = 128;  // '.' outside strings and comments on one line
};

struct TomlShapeError {
  std::size_t line = 0;  // 1-based
  std::string message;   // a clause: "nested more than 32 levels deep", ...
};

inline std::optional<TomlShapeError> check_toml_shape(std::string_view text, const TomlLimits& limits = {}) {
  enum class State { kNormal, kComment, kBasic, kLiteral, kMultiBasic, kMultiLiteral };
  State state = State::kNormal;
  std::size_t line = 1, dots = 0, depth = 0;
  auto starts = [&](std::size_t i, std::string_view what) { return text.substr(i, what.size()) == what; };
  // A multi-line string may end with one or two quotes of its own right before its closing three
  // (`""""` and `"""""`): toml++ reads them as content, and so must this scan, or it would take
  // the fourth quote for the start of a string and skip the rest of the line unchecked.
  auto closing_quotes = [&](std::size_t after, char q) {
    std::size_t n = 0;
    while (n < 2 && after + n < text.size() && text[after + n] == q) ++n;
    return n;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      dots = 0;
      // Single-line strings and comments end at the line's end (an unterminated string is toml++'s to report).
      if (state == State::kComment || state == State::kBasic || state == State::kLiteral) state = State::kNormal;
      continue;
    }
    switch (state) {
      case State::kComment:
        break;
      case State::kBasic:
        if (c == '\\') ++i;
        else if (c == '"') state = State::kNormal;
        break;
      case State::kLiteral:
        if (c == '\'') state = State::kNormal;
        break;
      case State::kMultiBasic:
        if (c == '\\') {
          if (i + 1 < text.size() && text[i + 1] != '\n') ++i;
        } else if (starts(i, "\"\"\"")) {
          i += 2 + closing_quotes(i + 3, '"');
          state = State::kNormal;
        }
        break;
      case State::kMultiLiteral:
        if (starts(i, "'''")) {
          i += 2 + closing_quotes(i + 3, '\'');
          state = State::kNormal;
        }
        break;
      case State::kNormal:
        if (c == '#') {
          state = State::kComment;
        } else if (c == '"') {
          if (starts(i, "\"\"\"")) {
            i += 2;
            state = State::kMultiBasic;
          } else {
            state = State::kBasic;
          }
        } else if (c == '\'') {
          if (starts(i, "'''")) {
            i += 2;
            state = State::kMultiLiteral;
          } else {
            state = State::kLiteral;
          }
        } else if (c == '[' || c == '{') {
          if (++depth > limits.max_depth) {
            return TomlShapeError{line, "nested more than " + std::to_string(limits.max_depth) + " levels deep"};
          }
        } else if (c == ']' || c == '}') {
          if (depth > 0) --depth;
        } else if (c == '.') {
          if (++dots > limits.max_dots_per_line) {
            return TomlShapeError{line, "more than " + std::to_string(limits.max_dots_per_line) +
                                            " dotted key parts (or dots) on one line"};
          }
        }
        break;
    }
  }
  return std::nullopt;
}

}  // namespace alter::common
