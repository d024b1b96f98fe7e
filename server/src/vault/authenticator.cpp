#include "vault/authenticator.hpp"

#include "crypto/crypto.hpp"

namespace alter::server::vault {
namespace {

Error unauthorized(std::string code, std::string message) {
  return make_error(Errc::kUnauthenticated, std::move(code), std::move(message));
}

bool well_formed(std::string_view secret, std::string_view prefix) {
  if (secret.size() <= prefix.size() || secret.size() > 200 || secret.substr(0, prefix.size()) != prefix) return false;
  for (char c : secret.substr(prefix.size())) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return false;
  }
  return true;
}

Authenticator::NewSecret make_secret(std::string_view prefix) {
  Authenticator::NewSecret s;
  s.value = std::string(prefix) + crypto::random_token(32);
  s.hash = crypto::sha256_hex(s.value);
  s.hint = s.value.substr(0, prefix.size() + 6) + "...";
  return s;
}

// Looks a presented secret up by its SHA-256 (a unique index), then compares the hashes again in
// constant time so no branch depends on a partial match. kNotFound or a revoked record is a 401.
// `find` answers std::nullopt when it cannot tell without blocking: so does this.
template <class Record, class Find>
std::optional<Result<Record>> lookup_secret(std::string_view secret, Find find, const char* code, const char* what) {
  const std::string hash = crypto::sha256_hex(secret);
  std::optional<StoreResult<Record>> record = find(hash);
  if (!record) return std::nullopt;
  if (!*record) {
    if (record->error().code == StoreErrc::kNotFound) return common::unexpected(unauthorized(code, std::string("the ") + what + " is not valid"));
    return common::unexpected(store_error(record->error()));
  }
  if (!crypto::constant_time_equal((*record)->hash, hash)) {
    return common::unexpected(unauthorized(code, std::string("the ") + what + " is not valid"));
  }
  if ((*record)->revoked_at) return common::unexpected(unauthorized(code, std::string("the ") + what + " was revoked"));
  return std::move(record->value());
}

}  // namespace

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

Authenticator::NewSecret Authenticator::new_api_key() { return make_secret("alter_key_"); }
Authenticator::NewSecret Authenticator::new_admin_credential() { return make_secret("alter_admin_"); }

std::optional<Result<AppCaller>> Authenticator::app_lookup(std::string_view key, bool may_block) const {
  if (key.empty()) return common::unexpected(unauthorized("invalid_api_key", "the x-api-key header is missing"));
  if (!well_formed(key, "alter_key_")) return common::unexpected(unauthorized("invalid_api_key", "the API key is not valid"));
  auto record = lookup_secret<ApiKeyRecord>(
      key,
      [&](const std::string& h) -> std::optional<StoreResult<ApiKeyRecord>> {
        const auto generation = cache_.keys_generation();  // before the read: see VaultCache
        if (auto hit = cache_.api_key(h)) return StoreResult<ApiKeyRecord>(*hit);
        if (!may_block) return std::nullopt;
        auto found = store_.find_api_key(h);
        if (found) cache_.put_api_key(*found, generation);
        return found;
      },
      "invalid_api_key", "API key");
  if (!record) return std::nullopt;
  if (!*record) return common::unexpected(record->error());
  return AppCaller{(*record)->app_id, (*record)->id};
}

Result<AppCaller> Authenticator::app(std::string_view key) const { return *app_lookup(key, true); }

std::optional<Result<AppCaller>> Authenticator::app_cached(std::string_view key) const { return app_lookup(key, false); }

Result<AdminCaller> Authenticator::admin(std::string_view credential) const {
  auto record = admin_record(credential);
  if (!record) return common::unexpected(record.error());
  return AdminCaller{record->id};
}

Result<AdminCredential> Authenticator::admin_by_hash(const std::string& hash) const {
  auto record = store_.find_admin_credential(hash);
  if (!record) {
    if (record.error().code == StoreErrc::kNotFound) return common::unexpected(unauthorized("invalid_admin_token", "the admin credential is not valid"));
    return common::unexpected(store_error(record.error()));
  }
  if (!crypto::constant_time_equal(record->hash, hash)) {
    return common::unexpected(unauthorized("invalid_admin_token", "the admin credential is not valid"));
  }
  if (record->revoked_at) return common::unexpected(unauthorized("invalid_admin_token", "the admin credential was revoked"));
  return std::move(record.value());
}

Result<AdminCredential> Authenticator::admin_record(std::string_view credential) const {
  if (credential.empty()) {
    return common::unexpected(unauthorized("invalid_admin_token", "an admin credential is required (Authorization: Bearer alter_admin_...)"));
  }
  if (!well_formed(credential, "alter_admin_")) {
    return common::unexpected(unauthorized("invalid_admin_token", "the admin credential is not valid"));
  }
  auto record = lookup_secret<AdminCredential>(
      credential, [&](const std::string& h) { return std::optional(store_.find_admin_credential(h)); }, "invalid_admin_token",
      "admin credential");
  if (!*record) return common::unexpected(record->error());
  return std::move(record->value());
}

}  // namespace alter::server::vault
