#pragma once
// AES-256-GCM with a random 96-bit nonce per message. A sealed blob carries its key version:
//   [0x01 format][key version, 4 bytes big-endian][nonce, 12][ciphertext][tag, 16]
// The header bytes are authenticated too (they are part of the additional data).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace alter::server::crypto {

constexpr std::size_t kKeySize = 32;
constexpr std::size_t kNonceSize = 12;
constexpr std::size_t kTagSize = 16;
constexpr std::size_t kHeaderSize = 5;

/// Seals `plaintext` under `key` (32 bytes). `aad` binds the blob to where it is stored.
std::string seal(std::string_view key, std::uint32_t key_version, std::string_view plaintext, std::string_view aad);
/// Opens a blob sealed by `seal`; nullopt when the key, the AAD or any byte is wrong.
std::optional<std::string> open(std::string_view key, std::string_view blob, std::string_view aad);
/// The key version in a blob's header (nullopt when the blob is too short or of another format).
std::optional<std::uint32_t> blob_key_version(std::string_view blob);

}  // namespace alter::server::crypto
