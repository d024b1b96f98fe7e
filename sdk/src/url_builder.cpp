#include "url_builder.hpp"

#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/pchars.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url.hpp>

#include <set>
#include <vector>

namespace alter::internal {
namespace urls = boost::urls;

namespace {

bool is_name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

}  // namespace

// One path segment: only unreserved characters stay as they are, so the value can never add a
// segment, a query or a fragment. (build_url refuses "." and "..": even as %2E they are dot-segments
// to any normalizer, the vault's guard included, and would remove a segment.)
std::string encode_path_segment(const std::string& value) { return urls::encode(value, urls::unreserved_chars); }

namespace {
// A query name or value as the provider will read it back: '&' and '#' would end it, '=' would end a
// name, and '+' reads as a space in form decoding, so those are encoded; '/' and '?' may stay (RFC 3986).
constexpr auto kQueryValueChars = urls::pchars + '/' + '?' - '&' - '+';
constexpr auto kQueryNameChars = kQueryValueChars - '=';
}  // namespace

bool is_loopback_host(std::string_view host) {
  if (host == "localhost" || host == "[::1]" || host == "::1") return true;
  auto v4 = urls::parse_ipv4_address(host);
  return v4 && v4->is_loopback();
}

common::Result<BuiltUrl, std::string> build_url(std::string_view tmpl,
                                                const std::map<std::string, std::string>& path_params,
                                                const std::map<std::string, std::string>& query_params) {
  std::string filled;
  filled.reserve(tmpl.size() + 32);
  std::set<std::string> used;
  std::vector<std::string> missing;
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] != '{') {
      filled += tmpl[i];
      continue;
    }
    std::size_t j = i + 1;
    while (j < tmpl.size() && is_name_char(tmpl[j], j == i + 1)) ++j;
    if (j == i + 1 || j >= tmpl.size() || tmpl[j] != '}') {
      return common::unexpected(std::string("invalid URL template: '{' at offset ") + std::to_string(i) +
                                " does not start a {name} placeholder");
    }
    std::string name(tmpl.substr(i + 1, j - i - 1));
    auto it = path_params.find(name);
    if (it == path_params.end()) {
      missing.push_back(name);
    } else if (it->second.empty()) {
      return common::unexpected("path_params value for '" + name + "' is empty");
    } else if (it->second == "." || it->second == "..") {
      return common::unexpected("path_params value for '" + name + "' is a dot-segment ('.' or '..'), which would change the path");
    } else {
      filled += encode_path_segment(it->second);
      used.insert(name);
    }
    i = j;
  }
  if (!missing.empty()) {
    return common::unexpected("missing path_params for placeholder(s): " + join(missing));
  }
  std::vector<std::string> unused;
  for (const auto& [name, value] : path_params) {
    if (!used.count(name)) unused.push_back(name);
  }
  if (!unused.empty()) {
    return common::unexpected("path_params given for no placeholder in the URL: " + join(unused));
  }

  auto parsed = urls::parse_uri(filled);
  if (!parsed) return common::unexpected("invalid URL: " + parsed.error().message());
  urls::url u(*parsed);
  const std::string scheme(u.scheme());
  if (scheme != "https" && scheme != "http") {
    return common::unexpected("URL scheme must be https, got '" + scheme + "'");
  }
  if (!u.has_authority() || u.encoded_host().empty()) return common::unexpected(std::string("URL has no host"));
  if (u.has_userinfo()) return common::unexpected(std::string("URL must not carry user info"));
  // A percent-encoded host (from a placeholder value, say) could decode to a '/' or '@'.
  if (u.encoded_host().find('%') != std::string_view::npos) {
    return common::unexpected(std::string("URL host must not contain percent-encoded characters"));
  }
  BuiltUrl out;
  out.host = u.host();
  out.loopback = is_loopback_host(u.encoded_host_address());
  if (scheme == "http" && !out.loopback) {
    return common::unexpected("URL scheme must be https (http is allowed only for loopback hosts), got http://" +
                              out.host);
  }
  if (u.encoded_path().empty()) u.set_path_absolute(true);
  for (const auto& [key, value] : query_params) {
    const std::string k = urls::encode(key, kQueryNameChars), v = urls::encode(value, kQueryValueChars);
    u.encoded_params().append(urls::param_pct_view(urls::pct_string_view(k), urls::pct_string_view(v)));
  }
  u.remove_fragment();
  out.url = std::string(u.buffer());
  return out;
}

common::Result<std::string, std::string> normalize_base_url(std::string_view base_url) {
  auto parsed = urls::parse_uri(base_url);
  if (!parsed) return common::unexpected("base_url is not a valid URL: " + parsed.error().message());
  const std::string scheme(parsed->scheme());
  if (scheme != "http" && scheme != "https") {
    return common::unexpected("base_url scheme must be http or https, got '" + scheme + "'");
  }
  if (parsed->encoded_host().empty()) return common::unexpected(std::string("base_url has no host"));
  if (parsed->has_query() || parsed->has_fragment() || parsed->has_userinfo()) {
    return common::unexpected(std::string("base_url must not have user info, a query or a fragment"));
  }
  std::string out(parsed->buffer());
  while (!out.empty() && out.back() == '/') out.pop_back();
  return out;
}

}  // namespace alter::internal
