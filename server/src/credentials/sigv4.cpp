#include "credentials/sigv4.hpp"

#include <algorithm>
#include <ctime>
#include <map>

#include <alter/common/secret.hpp>

#include "crypto/crypto.hpp"

namespace alter::server::sigv4 {
namespace {

Error invalid(std::string message) { return make_error(Errc::kInvalidArgument, "invalid_request", std::move(message)); }

bool all_of(std::string_view s, bool (*ok)(char)) { return std::all_of(s.begin(), s.end(), ok); }
bool is_alnum(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_scope_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }
bool is_token_char(char c) {  // RFC 9110 tchar
  return is_alnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}
bool is_visible(char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; }
bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const int hi = i + 1 < s.size() ? hex_value(s[i + 1]) : -1;
    const int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) return common::unexpected(invalid("the URL has a '%' that is not followed by two hex digits"));
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// RFC 3986 section 5.2.4 on the path as sent, and repeated slashes collapsed ("//a//" -> "/a/").
std::string normalize(std::string_view path) {
  std::vector<std::string_view> kept;
  std::string_view segment;
  std::string_view rest = path.substr(1);
  for (;;) {
    const auto slash = rest.find('/');
    segment = rest.substr(0, slash);
    if (segment == "..") {
      if (!kept.empty()) kept.pop_back();
    } else if (segment != "." && !segment.empty()) {
      kept.push_back(segment);
    }
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  // "/a/", "/a/." and "/a/b/.." all name a directory: the slash stays.
  const bool trailing_slash = segment.empty() || segment == "." || segment == "..";
  std::string out;
  for (const auto& s : kept) out.append("/").append(s);
  if (out.empty() || trailing_slash) out += '/';
  return out;
}

std::string trim_and_collapse(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string amz_date(std::chrono::system_clock::time_point at) {
  const std::time_t t = std::chrono::system_clock::to_time_t(at);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[17];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace

std::string uri_encode(std::string_view bytes, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() * 3);
  for (char c : bytes) {
    if (is_alnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += c;
    } else {
      const auto b = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 0xf];
    }
  }
  return out;
}

Result<Signed> sign(const Request& request, const Credentials& credentials, const Scope& scope,
                    std::chrono::system_clock::time_point at, const Options& options) {
  // ---- what AWS would refuse, or what cannot be put in a header ----
  if (credentials.access_key_id.empty() || credentials.access_key_id.size() > 128 || !all_of(credentials.access_key_id, is_alnum)) {
    return common::unexpected(invalid("the AWS access key id must be 1 to 128 letters and digits"));
  }
  if (credentials.secret_access_key.empty() || has_control(credentials.secret_access_key)) {
    return common::unexpected(invalid("the AWS secret access key is empty or holds a line break"));
  }
  if (!credentials.session_token.empty() && !all_of(credentials.session_token, is_visible)) {
    return common::unexpected(invalid("the AWS session token holds a space or a control character"));
  }
  if (scope.region.empty() || scope.region.size() > 64 || !all_of(scope.region, is_scope_char)) {
    return common::unexpected(invalid("the AWS region must be lower-case letters, digits and '-' (us-east-1)"));
  }
  if (scope.service.empty() || scope.service.size() > 64 || !all_of(scope.service, is_scope_char)) {
    return common::unexpected(invalid("the AWS service must be lower-case letters, digits and '-' (s3, sts)"));
  }
  if (request.method.empty() || !all_of(request.method, is_token_char)) {
    return common::unexpected(invalid("the HTTP method is not a token"));
  }
  if (request.host.empty() || !all_of(request.host, is_visible)) {
    return common::unexpected(invalid("the Host is empty or holds a space or a control character"));
  }
  if (request.path.empty() || request.path.front() != '/' || has_control(request.path)) {
    return common::unexpected(invalid("the path must start with '/' and hold no line break"));
  }
  if (has_control(request.query)) return common::unexpected(invalid("the query holds a line break"));

  const std::string date_time = amz_date(at);
  const std::string date = date_time.substr(0, 8);
  const std::string payload_hash = crypto::sha256_hex(request.body);

  // ---- canonical headers: lower-case names, sorted; values trimmed, repeats joined by ',' ----
  std::map<std::string, std::string> canonical;
  for (const auto& [name, value] : request.headers) {
    if (name.empty() || !all_of(name, is_token_char)) return common::unexpected(invalid("a header name is not a token"));
    if (has_control(value)) return common::unexpected(invalid("the value of header '" + name + "' holds a line break"));
    std::string key = lower(name);
    if (key == "host" || key == "authorization" || key == "x-amz-date" || key == "x-amz-security-token" ||
        key == "x-amz-content-sha256") {
      return common::unexpected(invalid("header '" + name + "' is set by the signer"));
    }
    auto [it, fresh] = canonical.try_emplace(std::move(key), trim_and_collapse(value));
    if (!fresh) it->second.append(",").append(trim_and_collapse(value));
  }
  canonical["host"] = std::string(request.host);
  canonical["x-amz-date"] = date_time;
  if (!credentials.session_token.empty() && options.sign_session_token) {
    canonical["x-amz-security-token"] = std::string(credentials.session_token);
  }
  if (options.content_sha256_header) canonical["x-amz-content-sha256"] = payload_hash;

  std::string header_block, signed_headers;
  for (const auto& [name, value] : canonical) {
    header_block.append(name).append(":").append(value).append("\n");
    if (!signed_headers.empty()) signed_headers += ';';
    signed_headers += name;
  }

  // ---- canonical URI and query ----
  std::string path(request.path);
  if (options.normalize_path) path = normalize(path);
  std::string canonical_uri;
  if (options.double_encode_path) {
    canonical_uri = uri_encode(path, true);
  } else {
    auto decoded = percent_decode(path);
    if (!decoded) return common::unexpected(decoded.error());
    canonical_uri = uri_encode(*decoded, true);
  }

  std::vector<std::pair<std::string, std::string>> params;
  std::string_view rest = request.query;
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq));
    if (!key) return common::unexpected(key.error());
    auto value = percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!value) return common::unexpected(value.error());
    params.emplace_back(uri_encode(*key, false), uri_encode(*value, false));
  }
  std::sort(params.begin(), params.end());
  std::string canonical_query;
  for (const auto& [k, v] : params) {
    if (!canonical_query.empty()) canonical_query += '&';
    canonical_query.append(k).append("=").append(v);
  }

  Signed out;
  out.canonical_request = std::string(request.method) + "\n" + canonical_uri + "\n" + canonical_query + "\n" + header_block + "\n" +
                          signed_headers + "\n" + payload_hash;
  const std::string credential_scope = date + "/" + std::string(scope.region) + "/" + std::string(scope.service) + "/aws4_request";
  out.string_to_sign = "AWS4-HMAC-SHA256\n" + date_time + "\n" + credential_scope + "\n" + crypto::sha256_hex(out.canonical_request);

  // ---- the signing key: HMAC chain from "AWS4" + secret; wiped once used ----
  std::string key = "AWS4";
  key.append(credentials.secret_access_key);
  std::string k_date = crypto::hmac_sha256(key, date);
  common::secure_wipe(key);
  std::string k_region = crypto::hmac_sha256(k_date, scope.region);
  common::secure_wipe(k_date);
  std::string k_service = crypto::hmac_sha256(k_region, scope.service);
  common::secure_wipe(k_region);
  std::string k_signing = crypto::hmac_sha256(k_service, "aws4_request");
  common::secure_wipe(k_service);
  out.signature = crypto::to_hex(crypto::hmac_sha256(k_signing, out.string_to_sign));
  common::secure_wipe(k_signing);

  out.headers.emplace_back("X-Amz-Date", date_time);
  if (!credentials.session_token.empty()) out.headers.emplace_back("X-Amz-Security-Token", std::string(credentials.session_token));
  if (options.content_sha256_header) out.headers.emplace_back("X-Amz-Content-Sha256", payload_hash);
  out.headers.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=" + std::string(credentials.access_key_id) + "/" +
                                                credential_scope + ", SignedHeaders=" + signed_headers + ", Signature=" + out.signature);
  return out;
}

}  // namespace alter::server::sigv4
