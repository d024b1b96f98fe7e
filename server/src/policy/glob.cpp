#include "policy/glob.hpp"

namespace alter::server::policy {
namespace {

char fold(char c, bool ignore_case) {
  return (ignore_case && c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equal_text(std::string_view a, std::string_view b, bool ignore_case) {
  if (a.size() != b.size()) return false;
  if (!ignore_case) return a == b;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (fold(a[i], true) != fold(b[i], true)) return false;
  }
  return true;
}

}  // namespace

bool wildcard_match(std::string_view pattern, std::string_view text, bool ignore_case) {
  // The classic two-pointer algorithm: linear in the common case, O(n*m) at worst, never
  // exponential however many stars the pattern has.
  std::size_t p = 0, t = 0;
  std::size_t star = std::string_view::npos, star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_t = t;
    } else if (p < pattern.size() && fold(pattern[p], ignore_case) == fold(text[t], ignore_case)) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++star_t;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

void split_segments(std::string_view text, char sep, std::vector<std::string_view>& out) {
  std::size_t start = 0;
  while (true) {
    const std::size_t end = text.find(sep, start);
    if (end == std::string_view::npos) {
      out.push_back(text.substr(start));
      return;
    }
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

std::string_view normalize_path(std::string_view path, std::string& buffer) {
  const auto needs_work = [&] {
    if (path.empty() || path.front() != '/') return true;
    if (path.size() > 1 && path.back() == '/') return true;
    if (path.find("//") != std::string_view::npos) return true;
    // A "." or ".." segment anywhere.
    std::size_t start = 1;
    while (start <= path.size()) {
      std::size_t end = path.find('/', start);
      if (end == std::string_view::npos) end = path.size();
      const std::string_view seg = path.substr(start, end - start);
      if (seg == "." || seg == "..") return true;
      start = end + 1;
    }
    return false;
  };
  if (!needs_work()) return path;

  // Empty and "." segments go, ".." drops the segment before it; a trailing slash is not kept, so
  // "/a/b/" and "/a/b/." are the path "/a/b" (a deny rule on "/a/b" covers them).
  std::vector<std::string_view> stack;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view seg = path.substr(start, end - start);
    if (seg == "..") {
      if (!stack.empty()) stack.pop_back();
    } else if (!seg.empty() && seg != ".") {
      stack.push_back(seg);
    }
    start = end + 1;
  }
  buffer.clear();
  for (const auto seg : stack) {
    buffer.push_back('/');
    buffer.append(seg);
  }
  if (buffer.empty()) buffer.push_back('/');
  return buffer;
}

std::optional<SegmentedGlob> SegmentedGlob::compile(std::string_view pattern, char sep, bool ignore_case,
                                                    std::string* error) {
  SegmentedGlob glob;
  glob.ignore_case_ = ignore_case;
  glob.pattern_.reserve(pattern.size());
  for (const char c : pattern) glob.pattern_.push_back(fold(c, ignore_case));

  std::vector<std::string_view> parts;
  split_segments(glob.pattern_, sep, parts);
  for (const auto part : parts) {
    Segment seg;
    if (part == "**") {
      seg.kind = Kind::kAnySegments;
    } else if (part.find("**") != std::string_view::npos) {
      if (error) *error = "\"**\" must be a whole segment (as in \"/a/**\" or \"**.example.com\")";
      return std::nullopt;
    } else if (part == "*") {
      seg.kind = Kind::kAnySegment;
    } else if (part.find('*') != std::string_view::npos) {
      seg.kind = Kind::kWildcard;
      seg.text = std::string(part);
    } else {
      seg.text = std::string(part);
    }
    if (seg.kind != Kind::kLiteral) glob.literal_ = false;
    // Consecutive "**" are one "**" (and keep matching linear).
    if (seg.kind == Kind::kAnySegments && !glob.segments_.empty() &&
        glob.segments_.back().kind == Kind::kAnySegments) {
      continue;
    }
    glob.segments_.push_back(std::move(seg));
  }
  return glob;
}

bool SegmentedGlob::match_segment(const Segment& segment, std::string_view text) const {
  switch (segment.kind) {
    case Kind::kLiteral: return equal_text(segment.text, text, ignore_case_);
    case Kind::kWildcard: return wildcard_match(segment.text, text, ignore_case_);
    case Kind::kAnySegment: return true;
    case Kind::kAnySegments: return true;
  }
  return false;
}

bool SegmentedGlob::match(std::string_view text, std::span<const std::string_view> segments) const {
  if (literal_) return equal_text(pattern_, text, ignore_case_);
  // The same two-pointer algorithm, one level up: "**" is the star, each other pattern segment
  // matches exactly one text segment.
  const std::size_t n = segments.size();
  const std::size_t m = segments_.size();
  std::size_t p = 0, t = 0;
  std::size_t star = static_cast<std::size_t>(-1), star_t = 0;
  while (t < n) {
    if (p < m && segments_[p].kind == Kind::kAnySegments) {
      star = p++;
      star_t = t;
    } else if (p < m && match_segment(segments_[p], segments[t])) {
      ++p;
      ++t;
    } else if (star != static_cast<std::size_t>(-1)) {
      p = star + 1;
      t = ++star_t;
    } else {
      return false;
    }
  }
  while (p < m && segments_[p].kind == Kind::kAnySegments) ++p;
  return p == m;
}

}  // namespace alter::server::policy
