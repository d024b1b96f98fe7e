#pragma once
// Glob matchers for policy criteria, compiled once per policy version. No regex, no allocation
// when matching.
//
//  - wildcard: `*` matches any run of characters (actor ids, user attributes).
//  - segmented globs (hosts split on '.', paths on '/'): `*` matches any run of characters
//    inside one segment; a segment that is exactly `**` matches any number of whole segments
//    (zero included). Hosts compare case-insensitively, paths case-sensitively.
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace alter::server::policy {

/// `*` matches any run of characters (empty included); everything else is literal.
bool wildcard_match(std::string_view pattern, std::string_view text, bool ignore_case = false);

/// Appends the segments of `text` split on `sep` to `out` (an empty text gives one empty segment).
void split_segments(std::string_view text, char sep, std::vector<std::string_view>& out);

/// Resolves "." and ".." segments, collapses repeated slashes and drops a trailing slash, so that
/// a glob sees the path the upstream server will serve ("/a/b/" is "/a/b"). Returns `path` itself when it is already normal, else a view
/// of `buffer`. A path that does not start with '/' is taken as relative to '/'.
std::string_view normalize_path(std::string_view path, std::string& buffer);

class SegmentedGlob {
 public:
  /// `sep` is '.' for hosts and '/' for paths. Errors are sentences about the pattern.
  static std::optional<SegmentedGlob> compile(std::string_view pattern, char sep, bool ignore_case,
                                              std::string* error);

  /// Matches the whole text (whose segments the caller split once per request).
  bool match(std::string_view text, std::span<const std::string_view> segments) const;
  const std::string& pattern() const { return pattern_; }
  bool literal() const { return literal_; }

 private:
  enum class Kind { kLiteral, kWildcard, kAnySegment, kAnySegments };
  struct Segment {
    Kind kind = Kind::kLiteral;
    std::string text;
  };
  bool match_segment(const Segment& segment, std::string_view text) const;

  std::string pattern_;
  std::vector<Segment> segments_;
  bool literal_ = true;
  bool ignore_case_ = false;
};

}  // namespace alter::server::policy
