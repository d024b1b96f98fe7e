#pragma once
// The vault's one encryption boundary (after OpenBao's barrier): every secret that reaches the
// store is sealed here and opened here, with the one builder of additional authenticated data
// that binds a ciphertext to its table, row and field. Nothing else in the server touches the
// keyring. Thread-safe.
#include <alter/common/secret.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.hpp"
#include "crypto/keyring.hpp"
#include "core/model.hpp"

namespace alter::server::sealed {

/// The secret parts of a connection, as sealed in Connection::tokens.
struct TokenSecrets {
  common::SecretString access_token;
  common::SecretString refresh_token;
  common::SecretString id_token;
};

class SealedStore {
 public:
  SealedStore(std::shared_ptr<crypto::Keyring> keyring, const crypto::MasterKey& master);

  /// A connection's tokens, bound to its identity (app, provider, attributes), which an upsert
  /// keeps: a blob moved to another connection does not open.
  SealedBlob seal_tokens(const Connection& identity, std::string_view access_token, std::string_view refresh_token,
                         std::string_view id_token) const;
  Result<TokenSecrets> open_tokens(const Connection& connection) const;

  /// An app's OAuth client secret for a provider.
  SealedBlob seal_client_secret(const std::string& app_id, const std::string& provider_id, std::string_view secret) const;
  Result<common::SecretString> open_client_secret(const ProviderCredential& credential) const;

  /// A connect session's PKCE verifier.
  SealedBlob seal_pkce_verifier(const std::string& session_id, std::string_view verifier) const;
  Result<common::SecretString> open_pkce_verifier(const ConnectSession& session) const;

  /// The same secrets sealed again under the active key version (key rotation).
  Result<SealedBlob> reseal_tokens(const Connection& connection) const;
  Result<SealedBlob> reseal_client_secret(const ProviderCredential& credential) const;

  std::uint32_t active_version() const;
  std::vector<std::uint32_t> versions() const;
  /// A new data key version, wrapped under the master key (not stored yet, not active yet).
  KeyringEntry new_key(std::uint32_t version, TimePoint now) const;
  /// Makes a stored entry usable and active here (this instance made it, or another did).
  Result<void> install(const KeyringEntry& entry);

 private:
  std::shared_ptr<crypto::Keyring> keyring_;
  const crypto::MasterKey& master_;
};

}  // namespace alter::server::sealed
