#include <alter/common/strings.hpp>

#include "api/cache.hpp"
#include "api/services.hpp"
#include "crypto/crypto.hpp"

namespace alter::server::api {
namespace {

Error unauthorized(std::string code, std::string message) { return make_error(Errc::kUnauthenticated, std::move(code), std::move(message)); }

bool well_formed(std::string_view secret, std::string_view prefix) {
  if (secret.size() <= prefix.size() || secret.size() > 200 || secret.substr(0, prefix.size()) != prefix) return false;
  for (char c : secret.substr(prefix.size())) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return false;
  }
  return true;
}

NewSecret make_secret(std::string_view prefix) {
  NewSecret s;
  s.value = std::string(prefix) + crypto::random_token(32);
  s.hash = crypto::sha256_hex(s.value);
  s.hint = s.value.substr(0, prefix.size() + 6) + "...";
  return s;
}

}  // namespace

NewSecret new_api_key() { return make_secret("alter_key_"); }
NewSecret new_admin_token() { return make_secret("alter_admin_"); }

Error store_error(const StoreError& e) {
  switch (e.code) {
    case StoreErrc::kNotFound: return make_error(Errc::kNotFound, "not_found", "not found");
    case StoreErrc::kConflict: return make_error(Errc::kConflict, "conflict", "conflict: " + e.message);
    case StoreErrc::kInvalid: return make_error(Errc::kInvalidArgument, "invalid_request", e.message);
    case StoreErrc::kUnavailable:
    case StoreErrc::kInternal: break;
  }
  return make_error(Errc::kUnavailable, "unavailable", "the vault's store is unavailable: " + e.message);
}

int http_status(Errc errc) {
  switch (errc) {
    case Errc::kInvalidArgument: return 400;
    case Errc::kFailedPrecondition: return 400;
    case Errc::kUnauthenticated: return 401;
    case Errc::kPermissionDenied: return 403;
    case Errc::kNotFound: return 404;
    case Errc::kConflict: return 409;
    case Errc::kTooLarge: return 413;
    case Errc::kResourceExhausted: return 429;
    case Errc::kUnimplemented: return 501;
    case Errc::kBadGateway: return 502;
    case Errc::kGatewayTimeout: return 504;
    case Errc::kUnavailable: return 503;
    case Errc::kInternal: return 500;
  }
  return 500;
}

http::Response error_response(const Error& e, const nlohmann::json& details, const nlohmann::json& extra) {
  return http::Response::error(http_status(e.errc), e.code, e.message, details, extra);
}

// Looks a presented secret up by its SHA-256 (a unique index), then compares the hashes again in
// constant time so no branch depends on a partial match. kNotFound or a revoked record is a 401.
template <class Record, class Find>
Result<Record> lookup_secret(const std::string& secret, Find find, const char* code, const char* what) {
  const std::string hash = crypto::sha256_hex(secret);
  auto record = find(hash);
  if (!record) {
    if (record.error().code == StoreErrc::kNotFound) return common::unexpected(unauthorized(code, std::string("the ") + what + " is not valid"));
    return common::unexpected(store_error(record.error()));
  }
  if (!crypto::constant_time_equal(record->hash, hash)) {
    return common::unexpected(unauthorized(code, std::string("the ") + what + " is not valid"));
  }
  if (record->revoked_at) return common::unexpected(unauthorized(code, std::string("the ") + what + " was revoked"));
  return std::move(record.value());
}

Result<std::shared_ptr<const App>> find_app(Services& s, const std::string& id) {
  if (s.cache != nullptr) {
    if (auto hit = s.cache->app(id)) return hit;
  }
  auto app = s.store.get_app(id);
  if (!app) {
    if (app.error().code == StoreErrc::kNotFound) return common::unexpected(make_error(Errc::kNotFound, "not_found", "no app '" + id + "'"));
    return common::unexpected(store_error(app.error()));
  }
  if (s.cache != nullptr) s.cache->put_app(*app);
  return std::make_shared<const App>(std::move(app.value()));
}

Result<AppCaller> authenticate_app(Services& s, const http::Request& req) {
  const std::string key = req.header("x-api-key");
  if (key.empty()) return common::unexpected(unauthorized("invalid_api_key", "the x-api-key header is missing"));
  if (!well_formed(key, "alter_key_")) return common::unexpected(unauthorized("invalid_api_key", "the API key is not valid"));
  auto record = lookup_secret<ApiKeyRecord>(
      key,
      [&](const std::string& h) -> StoreResult<ApiKeyRecord> {
        if (s.cache != nullptr) {
          if (auto hit = s.cache->api_key(h)) return *hit;
        }
        auto found = s.store.find_api_key(h);
        if (found && s.cache != nullptr) s.cache->put_api_key(*found);
        return found;
      },
      "invalid_api_key", "API key");
  if (!record) return common::unexpected(record.error());
  return AppCaller{record->app_id, record->id};
}

Result<std::string> authenticate_admin(Services& s, const http::Request& req) {
  std::string auth = req.header("authorization");
  std::string token;
  if (auth.size() > 7 && common::iequals(std::string_view(auth).substr(0, 7), "bearer ")) token = auth.substr(7);
  if (token.empty()) {
    return common::unexpected(unauthorized("invalid_admin_token", "an admin credential is required (Authorization: Bearer alter_admin_...)"));
  }
  if (!well_formed(token, "alter_admin_")) {
    return common::unexpected(unauthorized("invalid_admin_token", "the admin credential is not valid"));
  }
  auto record = lookup_secret<AdminCredential>(token, [&](const std::string& h) { return s.store.find_admin_credential(h); },
                                              "invalid_admin_token", "admin credential");
  if (!record) return common::unexpected(record.error());
  return record->id;
}

}  // namespace alter::server::api
