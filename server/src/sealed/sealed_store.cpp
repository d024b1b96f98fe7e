#include "sealed/sealed_store.hpp"

#include <nlohmann/json.hpp>

namespace alter::server::sealed {
namespace {

// The one AAD builder: "alter:v1|table|row|field". A ciphertext copied to another row or field
// fails to authenticate (ADR 0006).
std::string aad(std::string_view table, std::string_view row_id, std::string_view field) {
  std::string out = "alter:v1|";
  out.append(table).append("|").append(row_id).append("|").append(field);
  return out;
}

std::string tokens_aad(const Connection& c) {
  return aad("connections", c.app_id + "/" + c.provider_id + "/" + nlohmann::json(c.attributes).dump(), "tokens");
}

std::string client_secret_aad(const std::string& app_id, const std::string& provider_id) {
  return aad("provider_credentials", app_id + "/" + provider_id, "client_secret");
}

std::string pkce_aad(const std::string& session_id) { return aad("connect_sessions", session_id, "pkce_verifier"); }

}  // namespace

SealedStore::SealedStore(std::shared_ptr<crypto::Keyring> keyring, const crypto::MasterKey& master)
    : keyring_(std::move(keyring)), master_(master) {}

SealedBlob SealedStore::seal_tokens(const Connection& identity, std::string_view access_token,
                                    std::string_view refresh_token, std::string_view id_token) const {
  nlohmann::json j = {{"access_token", access_token}};
  if (!refresh_token.empty()) j["refresh_token"] = refresh_token;
  if (!id_token.empty()) j["id_token"] = id_token;
  std::string plain = j.dump();
  auto blob = keyring_->seal(plain, tokens_aad(identity));
  common::secure_wipe(plain);
  for (const char* k : {"access_token", "refresh_token", "id_token"}) {
    if (j.contains(k)) common::secure_wipe(j[k].get_ref<std::string&>());
  }
  return blob;
}

Result<TokenSecrets> SealedStore::open_tokens(const Connection& c) const {
  auto plain = keyring_->open(c.tokens, tokens_aad(c));
  if (!plain) return common::unexpected(plain.error());
  auto j = nlohmann::json::parse(plain->reveal(), nullptr, false);
  if (!j.is_object()) return common::unexpected(make_error(Errc::kInternal, "sealed_blob", "stored tokens are malformed"));
  TokenSecrets t;
  auto take = [&](const char* key) {
    if (!j.contains(key) || !j[key].is_string()) return common::SecretString();
    return common::SecretString(std::move(j[key].get_ref<std::string&>()));
  };
  t.access_token = take("access_token");
  t.refresh_token = take("refresh_token");
  t.id_token = take("id_token");
  return t;
}

SealedBlob SealedStore::seal_client_secret(const std::string& app_id, const std::string& provider_id,
                                           std::string_view secret) const {
  return keyring_->seal(secret, client_secret_aad(app_id, provider_id));
}

Result<common::SecretString> SealedStore::open_client_secret(const ProviderCredential& c) const {
  return keyring_->open(c.client_secret, client_secret_aad(c.app_id, c.provider_id));
}

SealedBlob SealedStore::seal_pkce_verifier(const std::string& session_id, std::string_view verifier) const {
  return keyring_->seal(verifier, pkce_aad(session_id));
}

Result<common::SecretString> SealedStore::open_pkce_verifier(const ConnectSession& session) const {
  return keyring_->open(session.pkce_verifier, pkce_aad(session.id));
}

Result<SealedBlob> SealedStore::reseal_tokens(const Connection& c) const {
  auto t = open_tokens(c);
  if (!t) return common::unexpected(t.error());
  return seal_tokens(c, t->access_token.reveal(), t->refresh_token.reveal(), t->id_token.reveal());
}

Result<SealedBlob> SealedStore::reseal_client_secret(const ProviderCredential& c) const {
  auto secret = open_client_secret(c);
  if (!secret) return common::unexpected(secret.error());
  return seal_client_secret(c.app_id, c.provider_id, secret->reveal());
}

std::uint32_t SealedStore::active_version() const { return keyring_->active_version(); }
std::vector<std::uint32_t> SealedStore::versions() const { return keyring_->versions(); }

KeyringEntry SealedStore::new_key(std::uint32_t version, TimePoint now) const {
  return crypto::Keyring::make_entry(version, master_, now);
}

Result<void> SealedStore::install(const KeyringEntry& entry) { return keyring_->install(entry, master_); }

}  // namespace alter::server::sealed
