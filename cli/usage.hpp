#pragma once
// Usage errors as a user expects them: the unknown word named, the closest known one suggested,
// and exit status 2 for every usage error (CLI11's own codes, 106, 109, ..., are not used).
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace alter::cli {

/// The closest of `candidates` to `word` (edit distance at most 2, or a prefix), or "".
std::string closest(const std::string& word, const std::vector<std::string>& candidates);

/// Reports a parse error of `app` on stderr. Returns the exit status: 0 for --help and
/// --version, 2 for everything else.
int report_usage_error(CLI::App& app, const CLI::ParseError& error);

}  // namespace alter::cli
