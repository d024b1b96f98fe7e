#pragma once
// Cryptographic primitives, all from OpenSSL 3: nothing here is hand-rolled beyond framing.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace alter::server::crypto {

/// `n` bytes from the OpenSSL CSPRNG. Aborts if the CSPRNG fails (nothing safe to do then).
std::string random_bytes(std::size_t n);
/// A URL-safe random string carrying `bytes` bytes of entropy (base64url, no padding).
std::string random_token(std::size_t bytes);
/// A time-ordered random UUID (version 7: milliseconds, then 74 random bits), lower-case with dashes.
std::string new_uuid();

std::string sha256(std::string_view data);      // 32 raw bytes
std::string sha256_hex(std::string_view data);  // 64 hex chars
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string to_hex(std::string_view bytes);

std::string base64_encode(std::string_view bytes);
/// Strict: rejects anything but canonical padded base64 (whitespace around it is trimmed).
std::optional<std::string> base64_decode(std::string_view text);
std::string base64url_encode(std::string_view bytes);  // no padding (RFC 7636, JWT)

/// Equal contents, compared in time independent of where they differ (CRYPTO_memcmp).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace alter::server::crypto
