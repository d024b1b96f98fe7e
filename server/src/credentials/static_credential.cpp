#include "credentials/static_credential.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>
#include <vector>

#include <alter/common/strings.hpp>

#include "credentials/sigv4.hpp"
#include "crypto/crypto.hpp"

namespace alter::server::credentials {
namespace {

using oauth::CredentialKind;

Error bad(std::string message) { return make_error(Errc::kInvalidArgument, "invalid_request", std::move(message)); }

struct FieldRule {
  std::string name;
  bool required;
  std::size_t max_size;
  bool (*ok)(std::string_view);
  const char* expected;  // said when `ok` refuses a value (never the value itself)
};

bool visible_ascii(std::string_view v) {
  return std::all_of(v.begin(), v.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}
// UTF-8 text without control characters (a password may hold spaces).
bool no_control(std::string_view v) {
  return std::none_of(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}
bool basic_user(std::string_view v) { return no_control(v) && v.find(':') == std::string_view::npos; }
bool aws_key_id(std::string_view v) {
  return v.size() >= 16 && std::all_of(v.begin(), v.end(), [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); });
}

std::vector<FieldRule> rules_for(const oauth::CredentialSpec& spec) {
  switch (spec.kind) {
    case CredentialKind::kApiKey: {
      std::vector<FieldRule> rules = {{"api_key", true, 4096, visible_ascii, "printable characters without spaces"}};
      for (const auto& [header, name] : spec.more_headers) rules.push_back({name, true, 4096, visible_ascii, "printable characters without spaces"});
      return rules;
    }
    case CredentialKind::kBasic:
      return {{"username", true, 1024, basic_user, "text without ':' or control characters"},
              {"password", !spec.password_optional, 1024, no_control, "text without control characters"}};
    case CredentialKind::kAwsSigV4:
      return {{"access_key_id", true, 128, aws_key_id, "16 to 128 upper-case letters and digits (AKIA...)"},
              {"secret_access_key", true, 256, visible_ascii, "printable characters without spaces"},
              {"session_token", false, 8192, visible_ascii, "printable characters without spaces"}};
    case CredentialKind::kClientCredentials:
      return {{"client_id", true, 1024, visible_ascii, "printable characters without spaces"},
              {"client_secret", true, 4096, visible_ascii, "printable characters without spaces"}};
    case CredentialKind::kOAuth2:
      break;
  }
  return {};
}

std::string_view field(const Fields& fields, const std::string& name) {
  auto it = fields.find(name);
  return it == fields.end() ? std::string_view() : it->second.reveal();
}

}  // namespace

Result<common::SecretString> pack(const oauth::CredentialSpec& spec, const Fields& fields) {
  const auto rules = rules_for(spec);
  if (rules.empty()) return common::unexpected(bad("this provider takes OAuth tokens, not a credential"));
  const std::string kind = oauth::credential_kind_name(spec.kind);
  std::string names;
  for (const auto& r : rules) names += std::string(names.empty() ? "" : ", ") + r.name;
  for (const auto& [name, value] : fields) {
    const bool known = std::any_of(rules.begin(), rules.end(), [&](const FieldRule& r) { return name == r.name; });
    if (!known) return common::unexpected(bad("credential field '" + name + "' is not one of a " + kind + " credential's (" + names + ")"));
  }
  nlohmann::json packed = nlohmann::json::object();
  for (const auto& r : rules) {
    auto it = fields.find(r.name);
    if (it == fields.end() || it->second.empty()) {
      if (r.required) return common::unexpected(bad("credential field '" + r.name + "' is required and must not be empty"));
      continue;
    }
    const std::string_view v = it->second.reveal();
    if (v.size() > r.max_size) {
      return common::unexpected(bad("credential field '" + r.name + "' is longer than " + std::to_string(r.max_size) + " bytes"));
    }
    if (!r.ok(v)) return common::unexpected(bad("credential field '" + r.name + "' must be " + r.expected));
    packed[r.name] = std::string(v);
  }
  std::string text = packed.dump();
  for (auto& item : packed.items()) common::secure_wipe(item.value().get_ref<std::string&>());
  return common::SecretString(std::move(text));
}

Result<Fields> unpack(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return common::unexpected(make_error(Errc::kInternal, "sealed_blob", "the stored credential is malformed"));
  Fields out;
  for (auto& item : j.items()) {
    if (!item.value().is_string()) return common::unexpected(make_error(Errc::kInternal, "sealed_blob", "the stored credential is malformed"));
    out.emplace(item.key(), common::SecretString(std::move(item.value().get_ref<std::string&>())));
  }
  return out;
}

std::optional<std::string> clash(const oauth::ProviderDef& p, const std::vector<std::pair<std::string, std::string>>& headers,
                                 const std::string& url) {
  const auto& c = p.credential;
  std::vector<std::string> owned;
  if (c.kind == CredentialKind::kApiKey && !c.header.empty()) owned.push_back(c.header);
  for (const auto& [header, name] : c.more_headers) owned.push_back(header);
  if (c.kind == CredentialKind::kBasic) owned.push_back("authorization");
  if (c.kind == CredentialKind::kAwsSigV4) owned = {"x-amz-date", "x-amz-security-token", "x-amz-content-sha256"};
  for (const auto& [k, v] : headers) {
    for (const auto& o : owned) {
      if (common::iequals(k, o)) return "header " + o + " carries " + p.display_name + "'s credential: the vault sets it";
    }
  }
  if (c.kind == CredentialKind::kApiKey && !c.query_param.empty()) {
    auto u = boost::urls::parse_uri(url);
    if (u && u->params().find(c.query_param) != u->params().end()) {
      return "query parameter '" + c.query_param + "' carries " + p.display_name + "'s key: the vault sets it";
    }
  }
  return std::nullopt;
}

Result<void> apply(const oauth::ProviderDef& provider, const Fields& fields, const std::map<std::string, std::string>& variables,
                   internal::HttpRequest& request, std::chrono::system_clock::time_point now) {
  const oauth::CredentialSpec& spec = provider.credential;
  if (auto refused = clash(provider, request.headers, request.url)) return common::unexpected(bad(*refused));
  switch (spec.kind) {
    case CredentialKind::kApiKey: {
      if (!spec.header.empty()) {
        std::string value = spec.prefix;
        value.append(field(fields, "api_key"));
        request.headers.emplace_back(spec.header, std::move(value));
        for (const auto& [header, name] : spec.more_headers) request.headers.emplace_back(header, std::string(field(fields, name)));
        return {};
      }
      auto url = boost::urls::parse_uri(request.url);
      if (!url) return common::unexpected(bad("the URL cannot be parsed"));
      boost::urls::url u(*url);
      u.params().append({spec.query_param, field(fields, "api_key")});
      request.url = std::string(u.buffer());
      return {};
    }
    case CredentialKind::kBasic: {
      std::string pair(field(fields, "username"));
      pair += ':';
      pair.append(field(fields, "password"));
      request.headers.emplace_back("Authorization", "Basic " + crypto::base64_encode(pair));
      common::secure_wipe(pair);
      return {};
    }
    case CredentialKind::kAwsSigV4: {
      auto url = boost::urls::parse_uri(request.url);
      if (!url) return common::unexpected(bad("the URL cannot be parsed"));
      std::string host(url->encoded_host());
      if (url->has_port()) {
        const bool default_port = (url->scheme() == "https" && url->port() == "443") || (url->scheme() == "http" && url->port() == "80");
        if (!default_port) host += ":" + std::string(url->port());
      }
      auto region = oauth::substitute(spec.aws_region, variables);
      if (!region) return common::unexpected(bad("this connection names no AWS region (its '" + spec.aws_region + "' variable)"));
      // Signed: Content-Type and every x-amz-* header the caller sent (AWS wants those signed).
      sigv4::Request to_sign;
      to_sign.method = request.method;
      to_sign.host = host;
      const std::string path = url->encoded_path().empty() ? "/" : std::string(url->encoded_path());
      const std::string query(url->encoded_query());
      to_sign.path = path;
      to_sign.query = query;
      for (const auto& [name, value] : request.headers) {
        const std::string lower = common::to_lower(name);
        if (lower == "content-type" || lower.rfind("x-amz-", 0) == 0) to_sign.headers.emplace_back(name, value);
      }
      to_sign.body = request.shared_body ? std::string_view(*request.shared_body) : std::string_view(request.body);
      sigv4::Options options;
      if (spec.aws_s3) {
        options.normalize_path = false;
        options.double_encode_path = false;
        options.content_sha256_header = true;
      }
      auto signed_request = sigv4::sign(to_sign, {field(fields, "access_key_id"), field(fields, "secret_access_key"), field(fields, "session_token")},
                                        {*region, spec.aws_service}, now, options);
      if (!signed_request) return common::unexpected(signed_request.error());
      for (auto& h : signed_request->headers) request.headers.push_back(std::move(h));
      return {};
    }
    case CredentialKind::kOAuth2:
    case CredentialKind::kClientCredentials:  // an OAuth access token, put on by the proxy as any other
      break;
  }
  return common::unexpected(make_error(Errc::kInternal, "internal", "not a static credential"));
}

}  // namespace alter::server::credentials
