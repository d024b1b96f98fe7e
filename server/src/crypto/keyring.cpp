#include "crypto/keyring.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "crypto/aead.hpp"
#include "crypto/crypto.hpp"

namespace alter::server::crypto {
namespace {

std::string wrap_aad(std::uint32_t version) { return "alter:keyring:v" + std::to_string(version); }

}  // namespace

Result<MasterKey> MasterKey::from_base64(std::string_view text) {
  auto raw = base64_decode(text);
  if (!raw || raw->size() != kKeySize) {
    if (raw) common::secure_wipe(*raw);
    return common::unexpected(make_error(Errc::kInternal, "invalid_master_key", "the master key must be base64 of exactly 32 bytes"));
  }
  return MasterKey(std::move(*raw));
}

Result<MasterKey> MasterKey::load(const char* env_value, const std::filesystem::path& file) {
  if (env_value != nullptr && *env_value != '\0') return from_base64(env_value);
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    return common::unexpected(make_error(Errc::kInternal, "no_master_key",
                                         "no master key: set ALTER_VAULT_MASTER_KEY or create " + file.string() +
                                             " (alter-vault init does)"));
  }
  if ((st.st_mode & 0077) != 0) {
    return common::unexpected(make_error(Errc::kInternal, "master_key_permissions",
                                         "the master key file " + file.string() +
                                             " is readable by group or others: chmod 600 it"));
  }
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  auto key = from_base64(text);
  common::secure_wipe(text);
  if (!key) {
    return common::unexpected(
        make_error(Errc::kInternal, "invalid_master_key", "the master key file " + file.string() + " does not hold base64 of 32 bytes"));
  }
  return key;
}

MasterKey MasterKey::random() { return MasterKey(random_bytes(kKeySize)); }

Result<MasterKey> MasterKey::create_file(const std::filesystem::path& file) {
  MasterKey key = random();
  std::string text = base64_encode(key.bytes()) + "\n";
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    common::secure_wipe(text);
    return common::unexpected(
        make_error(Errc::kInternal, "key_file", "cannot create " + file.string() + ": " + std::strerror(errno)));
  }
  const ssize_t written = ::write(fd, text.data(), text.size());
  ::fsync(fd);
  ::close(fd);
  common::secure_wipe(text);
  if (written < 0) return common::unexpected(make_error(Errc::kInternal, "key_file", "cannot write " + file.string()));
  return key;
}

Result<std::shared_ptr<Keyring>> Keyring::open(const std::vector<KeyringEntry>& entries, const MasterKey& master) {
  auto ring = std::shared_ptr<Keyring>(new Keyring());
  for (const auto& e : entries) {
    if (auto r = ring->install(e, master); !r) return common::unexpected(r.error());
  }
  // install() made the last one active; the stored flag is the truth.
  for (const auto& e : entries) {
    if (e.active) ring->active_ = e.version;
  }
  return ring;
}

KeyringEntry Keyring::make_entry(std::uint32_t version, const MasterKey& master, TimePoint now) {
  std::string data_key = random_bytes(kKeySize);
  KeyringEntry e;
  e.version = version;
  e.wrapped_key = crypto::seal(master.bytes(), version, data_key, wrap_aad(version));
  e.created_at = now;
  e.active = true;
  common::secure_wipe(data_key);
  return e;
}

Result<void> Keyring::install(const KeyringEntry& entry, const MasterKey& master) {
  auto key = crypto::open(master.bytes(), entry.wrapped_key, wrap_aad(entry.version));
  if (!key || key->size() != kKeySize) {
    return common::unexpected(make_error(Errc::kInternal, "wrong_master_key",
                                         "the master key does not open keyring version " + std::to_string(entry.version) +
                                             " (wrong ALTER_VAULT_MASTER_KEY or key file?)"));
  }
  std::unique_lock lock(mu_);
  keys_[entry.version] = common::SecretString(std::move(*key));
  if (entry.version >= active_) active_ = entry.version;
  return {};
}

SealedBlob Keyring::seal(std::string_view plaintext, std::string_view aad) const {
  std::shared_lock lock(mu_);
  const auto& key = keys_.at(active_);
  return SealedBlob{active_, crypto::seal(key.reveal(), active_, plaintext, aad)};
}

Result<common::SecretString> Keyring::open(const SealedBlob& blob, std::string_view aad) const {
  const auto version = blob_key_version(blob.bytes);
  if (!version) return common::unexpected(make_error(Errc::kInternal, "sealed_blob", "a stored secret is malformed"));
  std::shared_lock lock(mu_);
  auto it = keys_.find(*version);
  if (it == keys_.end()) {
    return common::unexpected(
        make_error(Errc::kInternal, "sealed_blob", "a stored secret uses unknown key version " + std::to_string(*version)));
  }
  auto plain = crypto::open(it->second.reveal(), blob.bytes, aad);
  if (!plain) return common::unexpected(make_error(Errc::kInternal, "sealed_blob", "a stored secret failed to authenticate"));
  return common::SecretString(std::move(*plain));
}

std::uint32_t Keyring::active_version() const {
  std::shared_lock lock(mu_);
  return active_;
}

std::vector<std::uint32_t> Keyring::versions() const {
  std::shared_lock lock(mu_);
  std::vector<std::uint32_t> out;
  for (const auto& [v, k] : keys_) out.push_back(v);
  return out;
}

}  // namespace alter::server::crypto
