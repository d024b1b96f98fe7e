#include "vault_protocol.hpp"

#include <alter/version.hpp>

#include <alter/common/json.hpp>
#include <alter/common/strings.hpp>

#include <algorithm>

namespace alter::internal {
namespace {

// The vault's answers are small flat objects: anything deep or huge is refused while parsing.
nlohmann::json parse_vault_json(const std::string& body) {
  auto parsed = common::parse_json(body, {.max_depth = 16, .max_string = 256 * 1024, .max_key = 256, .max_elements = 10000});
  return parsed ? std::move(parsed.value()) : nlohmann::json(nlohmann::json::value_t::discarded);
}

std::string string_field(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  return (it != j.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

}  // namespace

std::string token_request_body(const TokenRequest& r) {
  nlohmann::json body = {{"provider_id", r.provider_id}, {"attributes", r.attributes}};
  auto optional = [&](const char* key, const std::string& value) {
    if (!value.empty()) body[key] = value;
  };
  optional("reason", r.reason);
  optional("method", r.method);
  optional("url", r.url);
  optional("run_id", r.run_id);
  optional("thread_id", r.thread_id);
  optional("tool_call_id", r.tool_call_id);
  optional("approval_id", r.approval_id);
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<std::pair<std::string, std::string>> vault_headers(const VaultOptions& o) {
  std::vector<std::pair<std::string, std::string>> h;
  h.reserve(10);
  h.emplace_back("x-api-key", o.api_key);
  h.emplace_back("User-Agent", std::string("alter-sdk-cpp/") + kSdkVersion);
  h.emplace_back("Accept", "application/json");
  auto actor = [&](const char* name, const std::string& value) {
    if (!value.empty()) h.emplace_back(name, value);
  };
  actor("x-alter-actor-type", o.actor_type);
  actor("x-alter-actor-id", o.actor_identifier);
  actor("x-alter-actor-name", o.actor_name);
  actor("x-alter-actor-version", o.actor_version);
  actor("x-alter-framework", o.framework);
  actor("x-alter-client-type", o.client_type);
  return h;
}

common::Result<TokenGrant, SdkError> parse_token_response(int status, std::string& body) {
  if (status < 200 || status >= 300) {
    SdkError e = map_vault_error(status, body);
    common::secure_wipe(body);
    return common::unexpected(std::move(e));
  }
  auto j = parse_vault_json(body);
  common::secure_wipe(body);
  auto fail = [&](const std::string& why) {
    if (j.is_object() && j.contains("access_token") && j["access_token"].is_string()) {
      common::secure_wipe(j["access_token"].get_ref<std::string&>());
    }
    SdkError e;
    e.kind = ErrorKind::kTokenRetrieval;
    e.status = status;
    e.message = "the vault's token answer is malformed: " + why;
    return common::unexpected(std::move(e));
  };
  if (!j.is_object()) return fail("not a JSON object");
  auto it = j.find("access_token");
  if (it == j.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
    return fail("no access_token");
  }
  TokenGrant grant;
  // Move the token out of the JSON tree into a wiping buffer; the tree keeps no copy.
  grant.access_token = common::SecretString(std::move(it->get_ref<std::string&>()));
  grant.token_type = string_field(j, "token_type");
  if (grant.token_type.empty() || common::iequals(grant.token_type, "bearer")) grant.token_type = "Bearer";
  if (!common::is_token(grant.token_type)) return fail("token_type is not a valid scheme name");
  if (!common::is_safe_header_value(grant.access_token.reveal())) return fail("access_token holds CR, LF or NUL");
  grant.token_header = string_field(j, "token_header");
  if (!grant.token_header.empty()) {
    const std::string& h = grant.token_header;
    if (!common::is_token(h) || common::iequals(h, "host") || common::iequals(h, "cookie") ||
        common::iequals(h, "content-length") || common::iequals(h, "transfer-encoding")) {
      return fail("token_header is not an acceptable header name");
    }
  }
  grant.connection_id = string_field(j, "connection_id");
  // The URL the vault checked, normalized: the one to call (older vaults do not send it).
  grant.url = string_field(j, "url");
  grant.audit_capture = string_field(j, "audit_capture");
  grant.request_id = string_field(j, "request_id");
  grant.expires_at = string_field(j, "expires_at");
  if (auto s = j.find("scopes"); s != j.end() && s->is_array()) {
    for (const auto& v : *s) {
      if (v.is_string()) grant.scopes.push_back(v.get<std::string>());
    }
  }
  return grant;
}

SdkError map_vault_error(int status, const std::string& body) {
  SdkError e;
  e.status = status;
  auto j = parse_vault_json(body);
  if (!j.is_object()) j = nlohmann::json::object();
  e.code = string_field(j, "error");
  e.message = string_field(j, "message");
  if (auto d = j.find("details"); d != j.end() && d->is_object()) e.details = *d;
  if (auto rid = string_field(j, "request_id"); !rid.empty()) e.details["request_id"] = rid;
  if (e.message.empty()) {
    e.message = "the vault answered HTTP " + std::to_string(status) + (e.code.empty() ? "" : " (" + e.code + ")");
  }

  auto from_body_or_details = [&](const char* key) {
    std::string v = string_field(j, key);
    return v.empty() ? string_field(e.details, key) : v;
  };

  if (e.code == "approval_required") {
    e.kind = ErrorKind::kApprovalRequired;
    e.approval_id = from_body_or_details("approval_id");
    e.approval_url = from_body_or_details("approval_url");
  } else if (e.code == "token_expired") {
    e.kind = ErrorKind::kTokenExpired;
    e.connection_id = from_body_or_details("connection_id");
  } else if (status == 403) {
    e.kind = ErrorKind::kPolicy;
    if (e.code.empty()) e.code = "policy_denied";
  } else if (status == 404 && (e.code == "connection_not_found" || e.code.empty())) {
    e.kind = ErrorKind::kConnectionNotFound;
    if (e.code.empty()) e.code = "connection_not_found";
  } else {
    // 401 invalid_api_key, 400 invalid_request, 409 ambiguous_connection, 429, 5xx, ...
    e.kind = ErrorKind::kTokenRetrieval;
  }
  return e;
}

std::vector<std::pair<std::string, std::string>> proxy_headers(const VaultOptions& o, const ProxyCall& c,
                                                               bool with_user_agent) {
  auto h = vault_headers(o);
  // The vault forwards what it does not consume: our Accept is for the vault's JSON answers only,
  // and the caller's own User-Agent wins over the SDK's, as on a direct call.
  std::erase_if(h, [&](const auto& header) {
    return common::iequals(header.first, "accept") || (!with_user_agent && common::iequals(header.first, "user-agent"));
  });
  h.emplace_back("x-alter-provider", c.provider_id);
  h.emplace_back("x-alter-url", c.url);
  h.emplace_back("x-alter-user", nlohmann::json(c.attributes).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  auto optional = [&](const char* name, const std::string& value) {
    if (!value.empty()) h.emplace_back(name, value);
  };
  optional("x-alter-reason", c.reason);
  optional("x-alter-run-id", c.run_id);
  optional("x-alter-thread-id", c.thread_id);
  optional("x-alter-tool-call-id", c.tool_call_id);
  // The vault allows a provider call at most 120 s.
  h.emplace_back("x-alter-timeout-ms", std::to_string(std::clamp<std::int64_t>(c.timeout.count(), 1, 120000)));
  return h;
}

bool is_proxy_vault_error(const HttpResponse& r) {
  const auto source = r.headers.find("x-alter-source");
  if (source != r.headers.end() && common::iequals(source->second, "provider")) return false;
  return r.status < 200 || r.status >= 300;
}

SdkError map_proxy_error(int status, const std::string& body) {
  SdkError e = map_vault_error(status, body);
  if (e.code == "provider_timeout") {
    e.kind = ErrorKind::kTimeout;
  } else if (e.code == "provider_unreachable" || e.code == "provider_response_too_large") {
    e.kind = ErrorKind::kNetwork;
  } else if (e.code == "request_too_large" || e.code == "payload_too_large") {
    e.kind = ErrorKind::kValidation;
  }
  // audit_unavailable / unavailable (503) stay TokenRetrievalError, as from the token endpoint.
  return e;
}

bool has_control_char(std::string_view value) noexcept {
  return std::any_of(value.begin(), value.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

common::Result<std::string, SdkError> parse_approval_status(int status, const std::string& body) {
  if (status < 200 || status >= 300) return common::unexpected(map_vault_error(status, body));
  auto j = parse_vault_json(body);
  const std::string s = string_field(j, "status");
  if (s != "pending" && s != "approved" && s != "denied" && s != "expired" && s != "used") {
    SdkError e;
    e.kind = ErrorKind::kTokenRetrieval;
    e.status = status;
    e.message = "the vault's approval answer is malformed";
    return common::unexpected(std::move(e));
  }
  return s;
}

SdkError map_transport_error(const TransportError& error, std::string_view peer) {
  SdkError e;
  switch (error.kind) {
    case TransportErrorKind::kTimeout:
      e.kind = ErrorKind::kTimeout;
      e.message = std::string(peer) + " did not answer in time: " + error.message;
      break;
    case TransportErrorKind::kTooLarge:
      e.kind = ErrorKind::kNetwork;
      e.message = std::string(peer) + " sent a response larger than max_response_bytes";
      break;
    default:
      e.kind = ErrorKind::kNetwork;
      e.message = "cannot reach " + std::string(peer) + ": " + error.message;
      break;
  }
  return e;
}

}  // namespace alter::internal
