#pragma once
#include <optional>
// Who is calling: an app by its API key (x-api-key), an admin by its credential (Authorization:
// Bearer). Secrets are looked up by their SHA-256 and compared in constant time; API keys are
// cached (with the cache's TTL) because every SDK call carries one.
#include <string>

#include "store/store.hpp"
#include "vault/cache.hpp"
#include "vault/types.hpp"

namespace alter::server::vault {

class Authenticator {
 public:
  Authenticator(Store& store, VaultCache& cache) : store_(store), cache_(cache) {}

  /// 401 invalid_api_key for a missing, malformed, unknown or revoked key.
  Result<AppCaller> app(std::string_view api_key) const;
  /// The same answer from memory (a malformed key, or a known one in the cache); std::nullopt when
  /// only the store can tell.
  std::optional<Result<AppCaller>> app_cached(std::string_view api_key) const;
  /// `bearer`: the credential itself. 401 invalid_admin_token otherwise.
  Result<AdminCaller> admin(std::string_view credential) const;
  /// The same check, answering the credential's record (name, hash; never the credential).
  Result<AdminCredential> admin_record(std::string_view credential) const;
  /// The admin credential whose SHA-256 is `hash` while it is not revoked (a console session
  /// re-checks its credential this way). 401 invalid_admin_token otherwise.
  Result<AdminCredential> admin_by_hash(const std::string& hash) const;

  /// A new secret of the form prefix + 43 url-safe chars (256 bits), its hash and a display hint.
  struct NewSecret {
    std::string value;
    std::string hash;
    std::string hint;
  };
  static NewSecret new_api_key();
  static NewSecret new_admin_credential();

 private:
  std::optional<Result<AppCaller>> app_lookup(std::string_view api_key, bool may_block) const;
  Store& store_;
  VaultCache& cache_;
};

/// The canonical translation of a store error for the domain (not found, conflict, invalid,
/// else 503 unavailable).
Error store_error(const StoreError& e);

}  // namespace alter::server::vault
