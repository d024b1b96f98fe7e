#pragma once
// The versioned keyring: data keys (AES-256) that seal secrets at rest, each stored wrapped
// (sealed) under the master key. New secrets are sealed with the active version; older versions
// stay readable until rotation has re-encrypted everything. Thread-safe.
#include <alter/common/secret.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.hpp"
#include "core/model.hpp"

namespace alter::server::crypto {

/// The key that seals the keyring: 32 bytes, from ALTER_VAULT_MASTER_KEY (base64) or a key file.
class MasterKey {
 public:
  /// Parses base64 of exactly 32 bytes. The error never repeats the input.
  static Result<MasterKey> from_base64(std::string_view text);
  /// The environment variable wins over the file; the file must not be readable by others.
  static Result<MasterKey> load(const char* env_value, const std::filesystem::path& file);
  /// Makes a new random key and writes it (base64) to `file`, created with mode 0600.
  static Result<MasterKey> create_file(const std::filesystem::path& file);
  static MasterKey random();

  std::string_view bytes() const { return key_.reveal(); }

 private:
  explicit MasterKey(std::string key) : key_(std::move(key)) {}
  common::SecretString key_;
};

class Keyring {
 public:
  /// Unwraps every entry with the master key; fails if any does not open (wrong master key).
  static Result<std::shared_ptr<Keyring>> open(const std::vector<KeyringEntry>& entries, const MasterKey& master);
  /// A fresh data key, wrapped under the master key, ready for Store::add_key.
  static KeyringEntry make_entry(std::uint32_t version, const MasterKey& master, TimePoint now);

  SealedBlob seal(std::string_view plaintext, std::string_view aad) const;
  /// The plaintext, or an error when the version is unknown or the blob does not authenticate.
  Result<common::SecretString> open(const SealedBlob& blob, std::string_view aad) const;
  std::uint32_t active_version() const;
  std::vector<std::uint32_t> versions() const;
  /// Adds an entry (from make_entry, already stored) and makes it active.
  Result<void> install(const KeyringEntry& entry, const MasterKey& master);

 private:
  Keyring() = default;
  mutable std::shared_mutex mu_;
  std::map<std::uint32_t, common::SecretString> keys_;
  std::uint32_t active_ = 0;
};

}  // namespace alter::server::crypto
