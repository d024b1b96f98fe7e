// The one translation unit that includes toml++.
#include "policy/toml_reader.hpp"

#include <alter/common/toml_limits.hpp>

#include <toml++/toml.h>

#include <string>
#include <vector>

namespace alter::server::policy::detail {

void append_pointer_token(std::string& pointer, std::string_view token) {
  pointer.push_back('/');
  for (const char c : token) {
    if (c == '~') {
      pointer += "~0";
    } else if (c == '/') {
      pointer += "~1";
    } else {
      pointer.push_back(c);
    }
  }
}

namespace {

SourcePosition position_of(const toml::source_region& region) {
  return SourcePosition{static_cast<std::size_t>(region.begin.line), static_cast<std::size_t>(region.begin.column)};
}

class Converter {
 public:
  Converter(SourceTree& tree, bool all_positions) : tree_(tree), all_positions_(all_positions) {}

  bool convert(const toml::node& node, nlohmann::json& out, std::string& pointer, int depth) {
    if (depth > kMaxNesting) {
      return fail(node, pointer, "nested too deeply (more than " + std::to_string(kMaxNesting) + " levels)");
    }
    if (const auto* table = node.as_table()) {
      out = nlohmann::json::object();
      for (const auto& [key, value] : *table) {
        const std::size_t mark = pointer.size();
        append_pointer_token(pointer, key.str());
        if (all_positions_ || depth < 2) tree_.positions.emplace(pointer, position_of(key.source()));
        if (!convert(value, out[std::string(key.str())], pointer, depth + 1)) return false;
        pointer.resize(mark);
      }
      return true;
    }
    if (const auto* array = node.as_array()) {
      out = nlohmann::json::array();
      std::size_t index = 0;
      for (const auto& element : *array) {
        const std::size_t mark = pointer.size();
        append_pointer_token(pointer, std::to_string(index++));
        if (all_positions_ || depth < 2) tree_.positions.emplace(pointer, position_of(element.source()));
        out.push_back(nullptr);
        if (!convert(element, out.back(), pointer, depth + 1)) return false;
        pointer.resize(mark);
      }
      return true;
    }
    if (const auto* s = node.as_string()) {
      out = s->get();
      return true;
    }
    if (const auto* i = node.as_integer()) {
      out = i->get();
      return true;
    }
    if (const auto* f = node.as_floating_point()) {
      out = f->get();
      return true;
    }
    if (const auto* b = node.as_boolean()) {
      out = b->get();
      return true;
    }
    return fail(node, pointer, "dates and times are not used in policy documents (write them as strings)");
  }

  ReadError error;

 private:
  bool fail(const toml::node& node, const std::string& pointer, std::string message) {
    error = ReadError{position_of(node.source()), pointer, std::move(message)};
    return false;
  }

  SourceTree& tree_;
  bool all_positions_;
};

}  // namespace

std::size_t line_of(const SourceTree& tree, std::string pointer) {
  while (true) {
    if (const auto it = tree.positions.find(pointer); it != tree.positions.end()) return it->second.line;
    const std::size_t slash = pointer.rfind('/');
    if (slash == std::string::npos) return 0;
    pointer.resize(slash);
  }
}

common::Result<SourceTree, ReadError> read_toml(std::string_view text, bool all_positions) {
  // toml++ recurses per key part and per nesting level: refuse what would take it too deep first.
  if (auto shape = common::check_toml_shape(text, {.max_depth = static_cast<std::size_t>(kMaxNesting)})) {
    return common::unexpected(ReadError{SourcePosition{shape->line, 1}, {}, "the document is " + shape->message});
  }
  toml::table table;
  try {
    table = toml::parse(text);
  } catch (const toml::parse_error& e) {
    return common::unexpected(ReadError{position_of(e.source()), {}, std::string(e.description())});
  }
  SourceTree tree;
  tree.positions.emplace("", SourcePosition{1, 1});
  Converter converter(tree, all_positions);
  std::string pointer;
  if (!converter.convert(table, tree.root, pointer, 0)) return common::unexpected(std::move(converter.error));
  return tree;
}

}  // namespace alter::server::policy::detail
