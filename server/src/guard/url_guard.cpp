#include "guard/url_guard.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace alter::server::guard {
namespace {

constexpr std::size_t kMaxUrl = 8192;

Error refuse(std::string why) { return make_error(Errc::kPermissionDenied, "url_not_allowed", std::move(why)); }

struct CurlUrlDeleter {
  void operator()(CURLU* u) const noexcept { curl_url_cleanup(u); }
};
struct CurlStrDeleter {
  void operator()(char* p) const noexcept { curl_free(p); }
};
using CurlStr = std::unique_ptr<char, CurlStrDeleter>;

std::optional<std::string> curl_part(CURLU* u, CURLUPart part) {
  char* out = nullptr;
  if (curl_url_get(u, part, &out, 0) != CURLUE_OK || out == nullptr) return std::nullopt;
  CurlStr owned(out);
  return std::string(out);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// RFC 3986 pchar / "/" / "?" without the characters WHATWG and curl treat differently.
bool path_or_query_char(char c) {
  if (is_alpha(c) || is_digit(c)) return true;
  switch (c) {
    case '-': case '.': case '_': case '~':                                  // unreserved
    case '!': case '$': case '&': case '\'': case '(': case ')': case '*':
    case '+': case ',': case ';': case '=':                                  // sub-delims
    case ':': case '@': case '/': case '?': case '%':
      return true;
    default:
      return false;
  }
}

// Query strings in the wild carry a few characters RFC 3986 wants encoded ('|', '[', ']', '{',
// '}', '^', '"', '`', '<', '>'); they do not move the host, so a query may hold them.
bool query_char(char c) {
  if (path_or_query_char(c)) return true;
  switch (c) {
    case '|': case '[': case ']': case '{': case '}': case '^': case '"': case '`': case '<': case '>':
      return true;
    default:
      return false;
  }
}

bool valid_percent_encoding(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') continue;
    if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
    i += 2;
  }
  return true;
}

// Dotted decimal only: four parts, 0-255, no leading zeros (WHATWG reads 0177 as octal, 0x7f as
// hex, 127.1 as 127.0.0.1; curl does too; a guard comparing strings would not).
bool canonical_ipv4(std::string_view s) {
  int parts = 0;
  std::size_t i = 0;
  while (i <= s.size()) {
    std::size_t j = i;
    while (j < s.size() && is_digit(s[j])) ++j;
    const std::size_t n = j - i;
    if (n == 0 || n > 3 || (n > 1 && s[i] == '0')) return false;
    int v = 0;
    for (std::size_t k = i; k < j; ++k) v = v * 10 + (s[k] - '0');
    if (v > 255) return false;
    ++parts;
    if (j == s.size()) break;
    if (s[j] != '.') return false;
    i = j + 1;
  }
  return parts == 4;
}

// A label WHATWG would read as (part of) a number: digits, or 0x followed by hex digits.
bool numeric_label(std::string_view l) {
  if (l.empty()) return false;
  if (l.size() >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X')) {
    for (std::size_t i = 2; i < l.size(); ++i) {
      if (!is_hex(l[i])) return false;
    }
    return true;
  }
  for (char c : l) {
    if (!is_digit(c)) return false;
  }
  return true;
}

// A host name of letters, digits and hyphens (LDH): labels of 1-63, no leading or trailing
// hyphen, at most 253 in all, the last label not a number.
Result<std::string> dns_name(std::string_view raw) {
  std::string host;
  host.reserve(raw.size());
  for (char c : raw) host.push_back(lower(c));
  if (!host.empty() && host.back() == '.') host.pop_back();
  if (host.empty()) return common::unexpected(refuse("the URL has no host"));
  if (host.size() > 253) return common::unexpected(refuse("the URL host is longer than 253 characters"));
  std::size_t start = 0;
  std::string_view last;
  for (;;) {
    const std::size_t dot = host.find('.', start);
    const std::string_view label = std::string_view(host).substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (label.empty()) return common::unexpected(refuse("the URL host has an empty label"));
    if (label.size() > 63) return common::unexpected(refuse("a label of the URL host is longer than 63 characters"));
    if (label.front() == '-' || label.back() == '-') {
      return common::unexpected(refuse("a label of the URL host starts or ends with '-'"));
    }
    for (char c : label) {
      if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '-')) {
        return common::unexpected(refuse("the URL host is not a DNS name (letters, digits, '-' and '.') or an IP address"));
      }
    }
    last = label;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (numeric_label(last)) {
    return common::unexpected(refuse("the URL host ends in a number but is not a dotted-decimal IPv4 address"));
  }
  return host;
}

struct Authority {
  std::string host;
  HostKind kind = HostKind::kName;
  std::optional<int> port;
};

Result<Authority> read_authority(std::string_view a) {
  if (a.find('@') != std::string_view::npos) return common::unexpected(refuse("the URL must not carry user info"));
  if (a.find('%') != std::string_view::npos) return common::unexpected(refuse("the URL host must not be percent-encoded"));
  Authority out;
  std::string_view port_text;
  bool has_port = false;
  if (!a.empty() && a.front() == '[') {
    const std::size_t close = a.find(']');
    if (close == std::string_view::npos) return common::unexpected(refuse("the URL has an unterminated IPv6 address"));
    const std::string literal(a.substr(1, close - 1));
    in6_addr addr{};
    if (inet_pton(AF_INET6, literal.c_str(), &addr) != 1) {
      return common::unexpected(refuse("the URL's IPv6 address is not valid"));
    }
    char buf[INET6_ADDRSTRLEN] = {0};
    inet_ntop(AF_INET6, &addr, buf, sizeof buf);
    out.host = buf;
    out.kind = HostKind::kIpv6;
    const std::string_view rest = a.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return common::unexpected(refuse("the URL has characters after its IPv6 address"));
      has_port = true;
      port_text = rest.substr(1);
    }
  } else {
    const std::size_t colon = a.find(':');
    const std::string_view host = a.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = a.substr(colon + 1);
    }
    if (canonical_ipv4(host)) {
      out.host = std::string(host);
      out.kind = HostKind::kIpv4;
    } else {
      auto name = dns_name(host);
      if (!name) return common::unexpected(name.error());
      out.host = std::move(name.value());
    }
  }
  if (has_port) {
    if (port_text.empty() || port_text.size() > 5 || port_text.front() == '0') {
      return common::unexpected(refuse("the URL's port is not a number from 1 to 65535"));
    }
    int port = 0;
    for (char c : port_text) {
      if (!is_digit(c)) return common::unexpected(refuse("the URL's port is not a number from 1 to 65535"));
      port = port * 10 + (c - '0');
    }
    if (port < 1 || port > 65535) return common::unexpected(refuse("the URL's port is not a number from 1 to 65535"));
    out.port = port;
  }
  return out;
}

std::string serialize(const NormalizedUrl& u) {
  std::string s = u.scheme;
  s += "://";
  if (u.host_kind == HostKind::kIpv6) {
    s += '[';
    s += u.host;
    s += ']';
  } else {
    s += u.host;
  }
  if (!u.default_port) {
    s += ':';
    s += std::to_string(u.port);
  }
  s += u.path;
  if (!u.query.empty()) {
    s += '?';
    s += u.query;
  }
  return s;
}

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  return lower(c) - 'a' + 10;
}

bool unreserved(char c) { return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~'; }

// Decodes %XX of unreserved characters and writes the other triplets upper-case. False on %00.
bool normalize_percent_encoding(std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    const char c = static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
    if (c == '\0') return false;
    if (unreserved(c)) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(s[i + 1]))));
      out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(s[i + 2]))));
    }
    i += 2;
  }
  s = std::move(out);
  return true;
}

std::string percent_decode(const std::string& s) {
  int n = 0;
  char* p = curl_easy_unescape(nullptr, s.c_str(), static_cast<int>(s.size()), &n);
  if (p == nullptr) return s;
  CurlStr owned(p);
  return std::string(p, static_cast<std::size_t>(n));
}

std::string policy_view(const std::string& decoded) {
  std::string out;
  out.reserve(decoded.size());
  for (char c : decoded) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out.push_back(c);
  }
  if (out.empty() || out.front() != '/') out.insert(out.begin(), '/');
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

}  // namespace

Result<NormalizedUrl> normalize_url(std::string_view raw) {
  if (raw.empty()) return common::unexpected(refuse("the request names no URL"));
  if (raw.size() > kMaxUrl) return common::unexpected(refuse("the URL is longer than 8192 bytes"));
  for (char c : raw) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return common::unexpected(refuse("the URL holds a space, a control character or a non-ASCII byte (send IDNs as punycode)"));
    }
    if (c == '\\') return common::unexpected(refuse("the URL holds a backslash"));
    if (c == '#') return common::unexpected(refuse("the URL must not carry a fragment"));
  }
  // scheme "://" authority [path] ["?" query]
  std::size_t i = 0;
  while (i < raw.size() && (is_alpha(raw[i]) || (i > 0 && (is_digit(raw[i]) || raw[i] == '+' || raw[i] == '-' || raw[i] == '.')))) ++i;
  if (i == 0 || raw.substr(i, 3) != "://") return common::unexpected(refuse("the URL is not an absolute http(s) URL"));
  NormalizedUrl out;
  for (char c : raw.substr(0, i)) out.scheme.push_back(lower(c));
  if (out.scheme != "https" && out.scheme != "http") return common::unexpected(refuse("the URL must be https"));
  const std::size_t auth_start = i + 3;
  std::size_t auth_end = raw.find_first_of("/?", auth_start);
  if (auth_end == std::string_view::npos) auth_end = raw.size();
  auto authority = read_authority(raw.substr(auth_start, auth_end - auth_start));
  if (!authority) return common::unexpected(authority.error());

  std::string_view path = raw.substr(auth_end);
  std::string_view query;
  bool has_query = false;
  if (const auto q = path.find('?'); q != std::string_view::npos) {
    query = path.substr(q + 1);
    path = path.substr(0, q);
    has_query = true;
  }
  for (char c : path) {
    if (!path_or_query_char(c) || c == '?') return common::unexpected(refuse("the URL path holds a character that must be percent-encoded"));
  }
  for (char c : query) {
    if (!query_char(c)) return common::unexpected(refuse("the URL query holds a character that must be percent-encoded"));
  }
  if (!valid_percent_encoding(path) || !valid_percent_encoding(query)) {
    return common::unexpected(refuse("the URL holds a '%' that is not followed by two hex digits"));
  }

  // libcurl's reading of the same text: it must name the same host and port.
  std::unique_ptr<CURLU, CurlUrlDeleter> cu(curl_url());
  if (!cu) return common::unexpected(make_error(Errc::kUnavailable, "unavailable", "out of memory"));
  const std::string text(raw);
  if (curl_url_set(cu.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) {
    return common::unexpected(refuse("the URL is not valid"));
  }
  for (auto part : {CURLUPART_USER, CURLUPART_PASSWORD, CURLUPART_OPTIONS, CURLUPART_ZONEID, CURLUPART_FRAGMENT}) {
    if (curl_part(cu.get(), part)) return common::unexpected(refuse("the URL must not carry user info, options, a zone or a fragment"));
  }
  auto curl_host = curl_part(cu.get(), CURLUPART_HOST);
  if (!curl_host) return common::unexpected(refuse("the URL has no host"));
  std::string seen;
  for (char c : *curl_host) seen.push_back(lower(c));
  if (!seen.empty() && seen.back() == '.') seen.pop_back();
  if (authority->kind == HostKind::kIpv6) {
    if (seen.size() < 2 || seen.front() != '[' || seen.back() != ']') return common::unexpected(refuse("the URL host is ambiguous"));
    in6_addr a{};
    in6_addr b{};
    const std::string inner = seen.substr(1, seen.size() - 2);
    if (inet_pton(AF_INET6, inner.c_str(), &a) != 1 || inet_pton(AF_INET6, authority->host.c_str(), &b) != 1 ||
        std::memcmp(&a, &b, sizeof a) != 0) {
      return common::unexpected(refuse("the URL host is ambiguous"));
    }
  } else if (seen != authority->host) {
    return common::unexpected(refuse("the URL host is ambiguous: it reads differently to different parsers"));
  }
  const int default_port = out.scheme == "https" ? 443 : 80;
  auto curl_port = curl_part(cu.get(), CURLUPART_PORT);
  const int curl_effective = curl_port ? std::atoi(curl_port->c_str()) : default_port;
  if (curl_effective != authority->port.value_or(default_port)) {
    return common::unexpected(refuse("the URL port is ambiguous"));
  }

  out.host = authority->host;
  out.host_kind = authority->kind;
  out.port = authority->port.value_or(default_port);
  out.default_port = out.port == default_port;

  // The path: percent-encodings of unreserved characters decoded, the others upper-case (RFC 3986
  // 6.2.2.2); then libcurl itself resolves the dot segments, as it would when sending.
  std::string path_text = path.empty() ? std::string("/") : std::string(path);
  if (!normalize_percent_encoding(path_text)) {
    return common::unexpected(refuse("the URL path holds an encoded NUL byte"));
  }
  out.query = has_query ? std::string(query) : std::string();
  out.path = path_text;
  {
    const std::string staged = serialize(out);
    std::unique_ptr<CURLU, CurlUrlDeleter> resolved(curl_url());
    if (!resolved || curl_url_set(resolved.get(), CURLUPART_URL, staged.c_str(), 0) != CURLUE_OK) {
      return common::unexpected(refuse("the URL is not valid"));
    }
    auto p = curl_part(resolved.get(), CURLUPART_PATH);
    if (!p || p->empty() || p->front() != '/') return common::unexpected(refuse("the URL path is not valid"));
    out.path = std::move(*p);
  }
  out.policy_path = policy_view(percent_decode(out.path));
  out.url = serialize(out);

  // A fixed point: libcurl reads the normalized URL back exactly as written.
  std::unique_ptr<CURLU, CurlUrlDeleter> again(curl_url());
  if (!again || curl_url_set(again.get(), CURLUPART_URL, out.url.c_str(), 0) != CURLUE_OK) {
    return common::unexpected(refuse("the URL is not valid"));
  }
  auto back = curl_part(again.get(), CURLUPART_URL);
  if (!back || *back != out.url) return common::unexpected(refuse("the URL is ambiguous: it does not survive a round trip"));
  // The limit holds for what is checked and sent too (normalizing may add a '/'), so that every
  // URL accepted here is accepted again as written.
  if (out.url.size() > kMaxUrl) return common::unexpected(refuse("the URL is longer than 8192 bytes"));
  return out;
}

bool api_host_matches(std::string_view pattern, const NormalizedUrl& url) {
  std::string p;
  p.reserve(pattern.size());
  for (char c : pattern) p.push_back(lower(c));
  if (!p.empty() && p.back() == '.') p.pop_back();
  if (p.size() > 2 && p.front() == '[' && p.back() == ']') p = p.substr(1, p.size() - 2);
  if (url.host_kind != HostKind::kName) {
    if (url.host_kind == HostKind::kIpv4) return p == url.host;
    in6_addr a{};
    in6_addr b{};
    return inet_pton(AF_INET6, p.c_str(), &a) == 1 && inet_pton(AF_INET6, url.host.c_str(), &b) == 1 &&
           std::memcmp(&a, &b, sizeof a) == 0;
  }
  if (p.rfind("*.", 0) == 0) {
    const std::string_view base = std::string_view(p).substr(1);  // ".example.com"
    return url.host.size() > base.size() && std::string_view(url.host).substr(url.host.size() - base.size()) == base;
  }
  return p == url.host;
}

bool is_loopback_host(const NormalizedUrl& url) {
  switch (url.host_kind) {
    case HostKind::kName: return url.host == "localhost";
    case HostKind::kIpv4: return url.host.rfind("127.", 0) == 0;
    case HostKind::kIpv6: return url.host == "::1";
  }
  return false;
}

Result<NormalizedUrl> check_api_url(std::string_view raw, const std::vector<std::string>& allowed, bool dev_mode) {
  auto u = normalize_url(raw);
  if (!u) return u;
  const bool loopback = dev_mode && is_loopback_host(*u);
  if (u->scheme != "https" && !loopback) return common::unexpected(refuse("the URL must be https"));
  if (!u->default_port && !loopback) return common::unexpected(refuse("the URL must use the provider's standard port"));
  if (loopback) return u;
  for (const auto& pattern : allowed) {
    if (api_host_matches(pattern, *u)) return u;
  }
  return common::unexpected(refuse("host '" + u->host + "' is not an API host of this provider"));
}

Result<NormalizedUrl> check_endpoint_url(std::string_view raw, bool dev_mode, std::string_view what) {
  auto u = normalize_url(raw);
  if (!u) {
    return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_provider", std::string(what) + " is not a valid URL: " + u.error().message));
  }
  if (u->scheme != "https" && !(dev_mode && is_loopback_host(*u))) {
    return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_provider",
                                         std::string(what) + " must be https (http only to a loopback host in dev mode)"));
  }
  return u;
}

}  // namespace alter::server::guard
