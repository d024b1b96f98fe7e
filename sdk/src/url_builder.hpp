#pragma once
#include <alter/common/result.hpp>

#include <map>
#include <string>
#include <string_view>

namespace alter::internal {

struct BuiltUrl {
  std::string url;
  std::string host;
  bool loopback = false;
};

/// Fills `{name}` placeholders from `path_params` (each value percent-encoded as exactly one path
/// segment: `/`, `?`, `#`, `..` or a space cannot change the path or the query), appends
/// `query_params` (encoded) to any query already present, and checks the result: https, or http
/// only for a loopback host. The error text names the problem, never a parameter's value.
common::Result<BuiltUrl, std::string> build_url(std::string_view url_template,
                                                const std::map<std::string, std::string>& path_params,
                                                const std::map<std::string, std::string>& query_params);

/// Parses a vault base URL: http or https, a host, no query or fragment. Returns it without a
/// trailing slash.
common::Result<std::string, std::string> normalize_base_url(std::string_view base_url);

/// Percent-encodes `value` as one path segment (only unreserved characters stay).
std::string encode_path_segment(const std::string& value);

/// True for `localhost`, 127.0.0.0/8 and ::1.
bool is_loopback_host(std::string_view host);

}  // namespace alter::internal
