#pragma once
// Encodings the tests need to act as an OAuth client or provider (HTTP Basic credentials, PKCE),
// written once over OpenSSL, independent of the server's own code that they check.
#include <string>

namespace alter::testing {

/// Standard base64 with padding (RFC 4648 section 4), e.g. for `Authorization: Basic`.
std::string base64(const std::string& bytes);
/// base64url without padding (RFC 4648 section 5).
std::string base64url(const std::string& bytes);
/// The PKCE S256 code challenge of `verifier`: base64url(SHA-256(verifier)) (RFC 7636).
std::string pkce_s256(const std::string& verifier);

}  // namespace alter::testing
