#pragma once
// One URL truth for the exfiltration guard. A URL is read once, with libcurl's URL API (the parser
// of the client that sends it) and, beside it, a strict reading of its authority (RFC 3986 with the
// WHATWG host rules); whatever the two disagree on is refused. What passes is normalized (lower-case
// host without a trailing dot, no default port, percent-encodings of unreserved characters decoded,
// dot segments resolved, no fragment, no user info) and serialized: that string is the URL the
// vault checks, decides on, records and answers with, and the URL the SDK and the proxy call.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.hpp"

namespace alter::server::guard {

enum class HostKind { kName, kIpv4, kIpv6 };

struct NormalizedUrl {
  std::string scheme;  // "https" or "http"
  std::string host;    // lower-case; IPv6 without brackets, in canonical form
  HostKind host_kind = HostKind::kName;
  int port = 443;                // the port connected to (the scheme's default when none is given)
  bool default_port = true;      // the serialized URL names no port
  std::string path;              // as sent: percent-encoded, starts with '/'
  std::string query;             // as sent, without '?'; empty when none
  std::string url;               // the whole URL as sent
  /// The path policies match on: fully decoded, runs of '/' merged, no trailing '/' (except "/").
  std::string policy_path;
};

/// Reads and normalizes an absolute http(s) URL. 403 url_not_allowed naming what is wrong (never
/// echoing the URL, which may hold a secret in its query).
Result<NormalizedUrl> normalize_url(std::string_view raw);

/// True when `host` (normalized) is allowed by `pattern`: an exact DNS name, `*.example.com` for
/// any name at least one whole label below example.com, or an IP literal that matches only itself.
/// Patterns are compared lower-case, without a trailing dot.
bool api_host_matches(std::string_view pattern, const NormalizedUrl& url);

/// Dev mode's loopback exception: the whole host is `localhost`, an IPv4 loopback literal or ::1.
bool is_loopback_host(const NormalizedUrl& url);

/// The guard: https (http only to a loopback host in dev mode), the scheme's default port (any port
/// to a loopback host in dev mode), and a host among `allowed`.
Result<NormalizedUrl> check_api_url(std::string_view raw, const std::vector<std::string>& allowed, bool dev_mode);

/// Provider endpoints (authorization, token, revocation, userinfo): https, or http to a loopback
/// host in dev mode. `what` names the endpoint in the error.
Result<NormalizedUrl> check_endpoint_url(std::string_view raw, bool dev_mode, std::string_view what);

}  // namespace alter::server::guard
