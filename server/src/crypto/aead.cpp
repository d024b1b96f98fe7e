#include "crypto/aead.hpp"

#include <openssl/evp.h>

#include <memory>

#include "crypto/crypto.hpp"

namespace alter::server::crypto {
namespace {

struct CtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const noexcept { EVP_CIPHER_CTX_free(ctx); }
};
using CtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter>;

const unsigned char* u8(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }
unsigned char* u8(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

std::string header(std::uint32_t version) {
  std::string h(kHeaderSize, '\0');
  h[0] = 0x01;
  h[1] = static_cast<char>((version >> 24) & 0xFF);
  h[2] = static_cast<char>((version >> 16) & 0xFF);
  h[3] = static_cast<char>((version >> 8) & 0xFF);
  h[4] = static_cast<char>(version & 0xFF);
  return h;
}

}  // namespace

std::string seal(std::string_view key, std::uint32_t key_version, std::string_view plaintext, std::string_view aad) {
  const std::string head = header(key_version);
  const std::string nonce = random_bytes(kNonceSize);
  std::string out;
  out.reserve(kHeaderSize + kNonceSize + plaintext.size() + kTagSize);
  out += head;
  out += nonce;
  out.resize(kHeaderSize + kNonceSize + plaintext.size() + kTagSize);

  CtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  const std::string full_aad = head + std::string(aad);
  unsigned char* ct = u8(out) + kHeaderSize + kNonceSize;
  if (!ctx || key.size() != kKeySize ||
      EVP_EncryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), u8(key), u8(nonce), nullptr) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, u8(full_aad), static_cast<int>(full_aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), ct, &len, u8(plaintext), static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), ct + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagSize), ct + plaintext.size()) != 1) {
    return {};  // only with a wrong key size: a programming error the callers' tests catch
  }
  return out;
}

std::optional<std::string> open(std::string_view key, std::string_view blob, std::string_view aad) {
  if (key.size() != kKeySize || blob.size() < kHeaderSize + kNonceSize + kTagSize || blob[0] != 0x01) return std::nullopt;
  const std::string_view head = blob.substr(0, kHeaderSize);
  const std::string_view nonce = blob.substr(kHeaderSize, kNonceSize);
  const std::string_view ct = blob.substr(kHeaderSize + kNonceSize, blob.size() - kHeaderSize - kNonceSize - kTagSize);
  std::string tag(blob.substr(blob.size() - kTagSize));
  const std::string full_aad = std::string(head) + std::string(aad);

  std::string plain(ct.size(), '\0');
  CtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int final_len = 0;
  if (!ctx || EVP_DecryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), u8(key), u8(nonce), nullptr) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, u8(full_aad), static_cast<int>(full_aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), u8(plain), &len, u8(ct), static_cast<int>(ct.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagSize), tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), u8(plain) + len, &final_len) != 1) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return std::nullopt;
  }
  return plain;
}

std::optional<std::uint32_t> blob_key_version(std::string_view blob) {
  if (blob.size() < kHeaderSize || blob[0] != 0x01) return std::nullopt;
  auto b = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(blob[i])); };
  return (b(1) << 24) | (b(2) << 16) | (b(3) << 8) | b(4);
}

}  // namespace alter::server::crypto
