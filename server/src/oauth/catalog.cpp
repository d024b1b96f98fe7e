#include "oauth/catalog.hpp"

#include <alter/common/strings.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace alter::server::oauth {
namespace {

Error field_error(const std::string& id, const std::string& field, const std::string& why) {
  return make_error(Errc::kInvalidArgument, "invalid_provider", "provider '" + id + "': field '" + field + "' " + why);
}

bool valid_id(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  if (!((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= '0' && id[0] <= '9'))) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

std::string refresh_name(RefreshMode m) {
  switch (m) {
    case RefreshMode::kRefreshes: return "refreshes";
    case RefreshMode::kRotates: return "rotates";
    case RefreshMode::kNeverExpires: return "never_expires";
    case RefreshMode::kNone: return "none";
  }
  return "none";
}

}  // namespace

const char* credential_kind_name(CredentialKind kind) {
  switch (kind) {
    case CredentialKind::kOAuth2: return "oauth2";
    case CredentialKind::kApiKey: return "api_key";
    case CredentialKind::kBasic: return "basic";
    case CredentialKind::kAwsSigV4: return "aws_sigv4";
    case CredentialKind::kClientCredentials: return "oauth2_client_credentials";
  }
  return "oauth2";
}

namespace {

nlohmann::json credential_json(const CredentialSpec& c) {
  nlohmann::json j = {{"kind", credential_kind_name(c.kind)}};
  if (!c.header.empty()) j["header"] = c.header;
  if (!c.prefix.empty()) j["prefix"] = c.prefix;
  if (!c.query_param.empty()) j["query_param"] = c.query_param;
  if (!c.more_headers.empty()) j["more_headers"] = c.more_headers;
  if (c.password_optional) j["password_optional"] = true;
  if (!c.aws_service.empty()) j["service"] = c.aws_service;
  if (!c.aws_region.empty()) j["region"] = c.aws_region;
  if (c.aws_s3) j["s3"] = true;
  return j;
}

bool header_name_ok(const std::string& h) {
  // The credential's own header: not one the HTTP exchange or the proxy owns.
  static const std::set<std::string> refused = {"host", "content-length", "content-type", "transfer-encoding", "connection",
                                                "cookie", "te", "upgrade", "proxy-authorization", "expect"};
  return common::is_token(h) && !refused.count(common::to_lower(h));
}

bool query_param_ok(const std::string& p) {
  return !p.empty() && p.size() <= 64 && std::all_of(p.begin(), p.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

Result<CredentialSpec> parse_credential(const std::string& id, const nlohmann::json& c) {
  if (!c.is_object()) return common::unexpected(field_error(id, "credential", "must be an object"));
  CredentialSpec spec;
  const std::string kind = c.contains("kind") && c["kind"].is_string() ? c["kind"].get<std::string>() : "";
  std::set<std::string> allowed = {"kind"};
  if (kind == "oauth2") {
    spec.kind = CredentialKind::kOAuth2;
  } else if (kind == "api_key") {
    spec.kind = CredentialKind::kApiKey;
    allowed.insert({"header", "prefix", "query_param", "more_headers"});
  } else if (kind == "basic") {
    spec.kind = CredentialKind::kBasic;
    allowed.insert("password_optional");
  } else if (kind == "aws_sigv4") {
    spec.kind = CredentialKind::kAwsSigV4;
    allowed.insert({"service", "region", "s3"});
  } else if (kind == "oauth2_client_credentials") {
    spec.kind = CredentialKind::kClientCredentials;
  } else {
    return common::unexpected(field_error(id, "credential.kind", "must be oauth2, oauth2_client_credentials, api_key, basic or aws_sigv4"));
  }
  for (auto it = c.begin(); it != c.end(); ++it) {
    if (!allowed.count(it.key())) {
      return common::unexpected(field_error(id, "credential." + it.key(), "is not a field of a " + kind + " credential"));
    }
    if (it.key() == "password_optional" || it.key() == "s3") {
      if (!it->is_boolean()) return common::unexpected(field_error(id, "credential." + it.key(), "must be true or false"));
    } else if (it.key() == "more_headers") {
      if (!it->is_object() || it->empty()) {
        return common::unexpected(field_error(id, "credential.more_headers", "must be an object of header name to field name"));
      }
    } else if (!it->is_string()) {
      return common::unexpected(field_error(id, "credential." + it.key(), "must be a string"));
    }
  }
  spec.header = c.value("header", "");
  spec.prefix = c.value("prefix", "");
  spec.query_param = c.value("query_param", "");
  spec.password_optional = c.value("password_optional", false);
  spec.aws_service = c.value("service", "");
  spec.aws_region = c.value("region", "");
  spec.aws_s3 = c.value("s3", false);
  if (auto more = c.find("more_headers"); more != c.end()) {
    for (auto h = more->begin(); h != more->end(); ++h) {
      const std::string where = "credential.more_headers." + h.key();
      const std::string name = h->is_string() ? h->get<std::string>() : std::string();
      const bool field_ok = !name.empty() && name.size() <= 32 && name != "api_key" && std::all_of(name.begin(), name.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
      });
      if (!field_ok) {
        return common::unexpected(field_error(id, where, "must name a field: 1 to 32 of a-z, 0-9 and '_', not api_key"));
      }
      if (!header_name_ok(h.key()) || common::iequals(h.key(), c.value("header", ""))) {
        return common::unexpected(field_error(id, where, "must be a header name the vault may set, other than credential.header"));
      }
      for (const auto& [other_header, other_field] : spec.more_headers) {
        if (common::iequals(other_header, h.key()) || other_field == name) {
          return common::unexpected(field_error(id, where, "repeats a header or a field"));
        }
      }
      spec.more_headers[h.key()] = name;
    }
  }
  if (spec.kind == CredentialKind::kApiKey) {
    if (spec.header.empty() == spec.query_param.empty()) {
      return common::unexpected(field_error(id, "credential", "of kind api_key names either a header or a query_param"));
    }
    if (!spec.header.empty() && !header_name_ok(spec.header)) {
      return common::unexpected(field_error(id, "credential.header", "must be a header name the vault may set"));
    }
    if (!spec.more_headers.empty() && spec.header.empty()) {
      return common::unexpected(field_error(id, "credential.more_headers", "goes with a header, not a query_param"));
    }
    if (!spec.query_param.empty() && !query_param_ok(spec.query_param)) {
      return common::unexpected(field_error(id, "credential.query_param", "must be 1 to 64 letters, digits, '_', '-' or '.'"));
    }
    if (!spec.prefix.empty() && (spec.header.empty() || spec.prefix.size() > 32 ||
                                 !std::all_of(spec.prefix.begin(), spec.prefix.end(), [](char ch) { return ch >= 0x20 && ch < 0x7f; }))) {
      return common::unexpected(field_error(id, "credential.prefix", "goes with a header: up to 32 printable characters, such as \"Bearer \""));
    }
  }
  if (spec.kind == CredentialKind::kAwsSigV4) {
    auto scope_ok = [](const std::string& v, bool variables) {
      return !v.empty() && v.size() <= 64 && std::all_of(v.begin(), v.end(), [&](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || (variables && (ch == '{' || ch == '}' || ch == '_'));
      });
    };
    if (!scope_ok(spec.aws_service, false)) {
      return common::unexpected(field_error(id, "credential.service", "must be an AWS service's signing name (s3, sts, execute-api, ...)"));
    }
    if (!scope_ok(spec.aws_region, true)) {
      return common::unexpected(field_error(id, "credential.region", "must be an AWS region (us-east-1) or a variable ({region})"));
    }
  }
  return spec;
}

// Every "{name}" in `text` names a declared variable.
bool declares_all(const std::map<std::string, Variable>& variables, const std::string& text) {
  for (std::size_t open = text.find('{'); open != std::string::npos; open = text.find('{', open + 1)) {
    const auto close = text.find('}', open);
    const std::string name = close == std::string::npos ? "" : text.substr(open + 1, close - open - 1);
    if (name.empty() || !variables.count(name)) return false;
  }
  return true;
}

nlohmann::json variables_json(const std::map<std::string, Variable>& variables) {
  nlohmann::json vars = nlohmann::json::object();
  for (const auto& [name, v] : variables) {
    nlohmann::json one = {{"scope", v.scope}};
    if (!v.pattern.empty()) one["pattern"] = v.pattern;
    if (!v.default_value.empty()) one["default"] = v.default_value;
    if (!v.description.empty()) one["description"] = v.description;
    vars[name] = one;
  }
  return vars;
}

}  // namespace

nlohmann::json ProviderDef::to_json() const {
  // The fields each kind has (parse_provider refuses the others): the browser flow's for an
  // authorization code, the token request's for it and for client credentials.
  const bool code = !credential.is_supplied();
  const bool token_endpoint = !credential.is_static();
  nlohmann::json j = {{"id", id}, {"display_name", display_name}, {"docs_url", docs_url}, {"api_hosts", api_hosts}};
  if (credential.is_supplied()) j["credential"] = credential_json(credential);
  if (code) {
    j["authorization_url"] = authorization_url;
    j["pkce"] = pkce;
    j["refresh"] = refresh_name(refresh);
    if (!refresh_url.empty()) j["refresh_url"] = refresh_url;
    if (!issuer.empty()) j["issuer"] = issuer;
    if (!keep_callback_params.empty()) j["keep_callback_params"] = keep_callback_params;
    if (!userinfo_url.empty()) j["userinfo_url"] = userinfo_url;
    if (!authorization_params.empty()) j["authorization_params"] = authorization_params;
    if (!keep_fields.empty()) j["keep_fields"] = keep_fields;
    if (!api_hosts_from_fields.empty()) j["api_hosts_from_fields"] = api_hosts_from_fields;
  }
  if (token_endpoint) {
    j["token_url"] = token_url;
    j["default_scopes"] = default_scopes;
    j["scope_separator"] = scope_separator;
    j["client_auth"] = client_auth;
    j["token_request_format"] = token_request_format;
    if (scope_param != "scope") j["scope_param"] = scope_param;
    if (!token_header.empty()) j["token_header"] = token_header;
    if (!revocation_url.empty()) j["revocation_url"] = revocation_url;
    if (!revocation_auth.empty()) j["revocation_auth"] = revocation_auth;
    if (!token_response_paths.empty()) j["token_response_paths"] = token_response_paths;
    if (!token_params.empty()) j["token_params"] = token_params;
  }
  if (proxy.retries != ProxySettings{}.retries || proxy.max_retry_after != ProxySettings{}.max_retry_after) {
    j["proxy"] = {{"retries", proxy.retries}, {"max_retry_after_seconds", proxy.max_retry_after.count()}};
  }
  if (!variables.empty()) j["variables"] = variables_json(variables);
  if (!notes.empty()) j["notes"] = notes;
  if (!setup.empty()) j["setup"] = setup;
  return j;
}

Result<ProviderDef> parse_provider(const nlohmann::json& j) {
  if (!j.is_object()) return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_provider", "a provider must be a JSON object"));
  ProviderDef d;
  d.id = j.contains("id") && j["id"].is_string() ? j["id"].get<std::string>() : std::string();
  if (!valid_id(d.id)) {
    return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_provider", "field 'id' must match [a-z0-9][a-z0-9_-]{0,63}"));
  }
  static const std::set<std::string> known = {
      "id", "display_name", "docs_url", "authorization_url", "token_url", "refresh_url", "revocation_url",
      "revocation_auth", "scope_param", "token_header", "keep_callback_params", "issuer",
      "userinfo_url", "default_scopes", "scope_separator", "pkce", "client_auth", "token_request_format",
      "authorization_params", "api_hosts", "refresh", "keep_fields", "api_hosts_from_fields",
      "token_response_paths", "token_params", "variables", "notes", "setup", "proxy", "credential"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!known.count(it.key())) return common::unexpected(field_error(d.id, it.key(), "is not a known field"));
  }
  if (auto c = j.find("credential"); c != j.end()) {
    auto spec = parse_credential(d.id, *c);
    if (!spec) return common::unexpected(spec.error());
    d.credential = *spec;
  }
  // The authorization-code fields: the browser flow, PKCE, refresh tokens.
  const bool oauth = !d.credential.is_supplied();
  // The token request's fields: an authorization-code provider's, a client-credentials one's.
  const bool token_endpoint = !d.credential.is_static();
  if (d.credential.is_supplied()) {
    // An API key, a password or an AWS key: none of the OAuth fields applies. Client credentials:
    // the token request's fields too (the vault asks the token endpoint itself: no browser, no
    // refresh token).
    static const std::set<std::string> supplied = {"id", "display_name", "docs_url", "api_hosts", "variables", "notes", "setup", "proxy", "credential"};
    static const std::set<std::string> token_request = {"token_url", "default_scopes", "scope_separator", "scope_param", "client_auth",
                                                        "token_request_format", "token_params", "token_header", "revocation_url",
                                                        "revocation_auth", "token_response_paths"};
    const bool client_credentials = d.credential.is_client_credentials();
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (supplied.count(it.key()) || (client_credentials && token_request.count(it.key()))) continue;
      return common::unexpected(field_error(
          d.id, it.key(),
          client_credentials ? std::string("is for authorization-code providers, and this one's credential is oauth2_client_credentials")
                             : std::string("is for OAuth providers, and this one's credential is ") + credential_kind_name(d.credential.kind)));
    }
    d.pkce = false;
    if (!client_credentials) d.scope_separator = " ";
  } else if (j.contains("token_params")) {
    return common::unexpected(field_error(d.id, "token_params", "is for oauth2_client_credentials providers"));
  }
  auto req_string = [&](const char* key, std::string& out, bool required) -> std::optional<Error> {
    auto it = j.find(key);
    if (it == j.end()) {
      if (required) return field_error(d.id, key, "is required");
      return std::nullopt;
    }
    if (!it->is_string()) return field_error(d.id, key, "must be a string");
    out = it->get<std::string>();
    if (required && out.empty()) return field_error(d.id, key, "must not be empty");
    return std::nullopt;
  };
  auto string_list = [&](const char* key, std::vector<std::string>& out, bool required) -> std::optional<Error> {
    auto it = j.find(key);
    if (it == j.end()) {
      if (required) return field_error(d.id, key, "is required");
      return std::nullopt;
    }
    if (!it->is_array()) return field_error(d.id, key, "must be an array of strings");
    for (const auto& v : *it) {
      if (!v.is_string()) return field_error(d.id, key, "must be an array of strings");
      out.push_back(v.get<std::string>());
    }
    return std::nullopt;
  };
  auto string_map = [&](const char* key, std::map<std::string, std::string>& out) -> std::optional<Error> {
    auto it = j.find(key);
    if (it == j.end()) return std::nullopt;
    if (!it->is_object()) return field_error(d.id, key, "must be an object of strings");
    for (auto e = it->begin(); e != it->end(); ++e) {
      if (!e->is_string()) return field_error(d.id, std::string(key) + "." + e.key(), "must be a string");
      out[e.key()] = e->get<std::string>();
    }
    return std::nullopt;
  };
  std::string refresh;
  for (auto err : {req_string("display_name", d.display_name, true), req_string("docs_url", d.docs_url, true),
                   req_string("authorization_url", d.authorization_url, oauth), req_string("token_url", d.token_url, token_endpoint),
                   req_string("revocation_url", d.revocation_url, false),
                   req_string("refresh_url", d.refresh_url, false),
                   req_string("issuer", d.issuer, false),
                   req_string("scope_param", d.scope_param, false),
                   req_string("token_header", d.token_header, false),
                   string_list("keep_callback_params", d.keep_callback_params, false),
                   req_string("revocation_auth", d.revocation_auth, false),
                   req_string("userinfo_url", d.userinfo_url, false),
                   req_string("scope_separator", d.scope_separator, oauth),
                   req_string("client_auth", d.client_auth, token_endpoint),
                   req_string("token_request_format", d.token_request_format, token_endpoint),
                   req_string("refresh", refresh, oauth), req_string("notes", d.notes, false), req_string("setup", d.setup, false),
                   string_list("default_scopes", d.default_scopes, oauth), string_list("api_hosts", d.api_hosts, true),
                   string_list("keep_fields", d.keep_fields, false),
                   string_list("api_hosts_from_fields", d.api_hosts_from_fields, false),
                   string_map("authorization_params", d.authorization_params),
                   string_map("token_params", d.token_params),
                   string_map("token_response_paths", d.token_response_paths)}) {
    if (err) return common::unexpected(*err);
  }
  if (auto px = j.find("proxy"); px != j.end()) {
    if (!px->is_object()) return common::unexpected(field_error(d.id, "proxy", "must be an object"));
    for (auto it = px->begin(); it != px->end(); ++it) {
      const bool known_key = it.key() == "retries" || it.key() == "max_retry_after_seconds";
      if (!known_key) return common::unexpected(field_error(d.id, "proxy." + it.key(), "is not a known field"));
      if (!it->is_number_integer() || it->get<std::int64_t>() < 0 || it->get<std::int64_t>() > (it.key() == "retries" ? 5 : 300)) {
        return common::unexpected(field_error(d.id, "proxy." + it.key(), it.key() == "retries" ? "must be an integer from 0 to 5"
                                                                                              : "must be an integer from 0 to 300"));
      }
    }
    d.proxy.retries = static_cast<int>(px->value("retries", std::int64_t{d.proxy.retries}));
    d.proxy.max_retry_after = std::chrono::seconds(px->value("max_retry_after_seconds", std::int64_t{d.proxy.max_retry_after.count()}));
  }
  if (oauth) {
    auto pkce = j.find("pkce");
    if (pkce == j.end() || !pkce->is_boolean()) return common::unexpected(field_error(d.id, "pkce", "must be true or false"));
    d.pkce = pkce->get<bool>();
  }
  if (d.client_auth != "basic" && d.client_auth != "body") {
    return common::unexpected(field_error(d.id, "client_auth", "must be \"basic\" or \"body\""));
  }
  if (d.token_request_format != "form" && d.token_request_format != "json") {
    return common::unexpected(field_error(d.id, "token_request_format", "must be \"form\" or \"json\""));
  }
  if (!d.revocation_auth.empty() && d.revocation_auth != "basic" && d.revocation_auth != "body" &&
      d.revocation_auth != "none") {
    return common::unexpected(field_error(d.id, "revocation_auth", "must be \"basic\", \"body\" or \"none\""));
  }
  if (d.credential.is_static()) refresh = "never_expires";
  if (d.credential.is_client_credentials()) refresh = "refreshes";
  if (refresh == "refreshes") d.refresh = RefreshMode::kRefreshes;
  else if (refresh == "rotates") d.refresh = RefreshMode::kRotates;
  else if (refresh == "never_expires") d.refresh = RefreshMode::kNeverExpires;
  else if (refresh == "none") d.refresh = RefreshMode::kNone;
  else return common::unexpected(field_error(d.id, "refresh", "must be refreshes, rotates, never_expires or none"));
  if (d.scope_param.empty() || !common::is_token(d.scope_param)) {
    return common::unexpected(field_error(d.id, "scope_param", "must be a parameter name"));
  }
  if (!d.token_header.empty() && (!common::is_token(d.token_header) || common::iequals(d.token_header, "cookie"))) {
    return common::unexpected(field_error(d.id, "token_header", "must be a header name"));
  }
  if (d.api_hosts.empty()) return common::unexpected(field_error(d.id, "api_hosts", "must name at least one host"));
  for (const auto& h : d.api_hosts) {
    if (h == "*" || h.empty() || h.find('/') != std::string::npos || h.find(':') != std::string::npos) {
      return common::unexpected(field_error(d.id, "api_hosts", "holds an invalid host pattern '" + h + "'"));
    }
  }
  for (const auto& f : d.api_hosts_from_fields) {
    if (std::find(d.keep_fields.begin(), d.keep_fields.end(), f) == d.keep_fields.end()) {
      return common::unexpected(field_error(d.id, "api_hosts_from_fields", "names '" + f + "', which is not in keep_fields"));
    }
  }
  if (auto vars = j.find("variables"); vars != j.end()) {
    if (!vars->is_object()) return common::unexpected(field_error(d.id, "variables", "must be an object"));
    for (auto v = vars->begin(); v != vars->end(); ++v) {
      if (!v->is_object()) return common::unexpected(field_error(d.id, "variables." + v.key(), "must be an object"));
      Variable var;
      var.scope = v->value("scope", "");
      var.pattern = v->value("pattern", "");
      var.default_value = v->value("default", "");
      var.description = v->value("description", "");
      if (var.scope != "connection" && var.scope != "credential") {
        return common::unexpected(field_error(d.id, "variables." + v.key() + ".scope", "must be connection or credential"));
      }
      if (var.scope == "credential" && d.credential.is_supplied()) {
        // Credential variables are the app's OAuth client settings, which these kinds have not.
        return common::unexpected(field_error(d.id, "variables." + v.key() + ".scope",
                                              "must be connection: a " + std::string(credential_kind_name(d.credential.kind)) +
                                                  " connection holds its own values"));
      }
      if (!var.pattern.empty()) {
        try {
          std::regex re(var.pattern);
        } catch (const std::regex_error&) {
          return common::unexpected(field_error(d.id, "variables." + v.key() + ".pattern", "is not a valid regex"));
        }
      }
      d.variables[v.key()] = var;
    }
  }
  for (const auto& [k, v] : d.token_params) {
    if (!common::is_token(k) || k == "grant_type" || k == "client_id" || k == "client_secret" || k == d.scope_param) {
      return common::unexpected(field_error(d.id, "token_params." + k, "must be a parameter name other than grant_type, client_id, client_secret and the scope"));
    }
    if (!declares_all(d.variables, v)) {
      return common::unexpected(field_error(d.id, "token_params." + k, "uses a variable that 'variables' does not declare"));
    }
  }
  if (d.credential.kind == CredentialKind::kAwsSigV4 && !declares_all(d.variables, d.credential.aws_region)) {
    // "{region}": a connection variable, declared.
    return common::unexpected(field_error(d.id, "credential.region", "uses a variable that 'variables' does not declare"));
  }
  return d;
}

Result<ProviderDef> parse_provider_text(std::string_view text, std::string_view source) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_provider", std::string(source) + ": not valid JSON"));
  }
  auto d = parse_provider(j);
  if (!d) {
    Error e = d.error();
    e.message = std::string(source) + ": " + e.message;
    return common::unexpected(e);
  }
  return d;
}

Result<std::string> substitute(std::string_view text, const std::map<std::string, std::string>& values) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '{') {
      out += text[i];
      continue;
    }
    const auto close = text.find('}', i);
    if (close == std::string_view::npos) return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_request", "unbalanced '{'"));
    const std::string name(text.substr(i + 1, close - i - 1));
    auto it = values.find(name);
    if (it == values.end() || it->second.empty()) {
      return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_request", "a value for '" + name + "' is required"));
    }
    out += it->second;
    i = close;
  }
  return out;
}

bool host_matches(std::string_view pattern, std::string_view host) {
  if (pattern.size() > 2 && pattern.substr(0, 2) == "*.") {
    const std::string_view suffix = pattern.substr(1);  // ".example.com"
    return host.size() > suffix.size() && common::iequals(host.substr(host.size() - suffix.size()), suffix);
  }
  return common::iequals(pattern, host);
}

Result<std::shared_ptr<Catalog>> Catalog::builtin() {
  auto c = std::make_shared<Catalog>();
  for (const auto& [name, text] : embedded_provider_files()) {
    auto d = parse_provider_text(text, name);
    if (!d) return common::unexpected(d.error());
    c->put(std::move(d.value()));
  }
  return c;
}

Result<std::shared_ptr<Catalog>> Catalog::from_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_config", "providers_dir is not a directory: " + dir.string()));
  }
  auto c = std::make_shared<Catalog>();
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f);
    std::stringstream ss;
    ss << in.rdbuf();
    auto d = parse_provider_text(ss.str(), f.filename().string());
    if (!d) return common::unexpected(d.error());
    if (d->id + ".json" != f.filename().string()) {
      return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_provider", f.filename().string() + ": id '" + d->id +
                                                                        "' does not match the file name"));
    }
    c->put(std::move(d.value()));
  }
  return c;
}

std::shared_ptr<const ProviderDef> Catalog::get(const std::string& id) const {
  std::shared_lock lock(mu_);
  auto it = providers_.find(id);
  return it == providers_.end() ? nullptr : it->second;
}

std::vector<std::string> Catalog::ids() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  for (const auto& [id, d] : providers_) out.push_back(id);
  return out;
}

std::vector<std::shared_ptr<const ProviderDef>> Catalog::all() const {
  std::shared_lock lock(mu_);
  std::vector<std::shared_ptr<const ProviderDef>> out;
  for (const auto& [id, d] : providers_) out.push_back(d);
  return out;
}

void Catalog::put(ProviderDef def) {
  auto p = std::make_shared<const ProviderDef>(std::move(def));
  std::unique_lock lock(mu_);
  providers_[p->id] = std::move(p);
}

bool Catalog::remove_custom(const std::string& id) {
  std::unique_lock lock(mu_);
  auto it = providers_.find(id);
  if (it == providers_.end() || !it->second->custom) return false;
  providers_.erase(it);
  return true;
}

}  // namespace alter::server::oauth
