#pragma once
// AWS Signature Version 4 (header signing), as AWS specifies it in "Create a signed AWS API
// request": a canonical request, a string to sign, a signing key derived from the secret access
// key, the date, the region and the service, and an Authorization header. HMAC-SHA256 and SHA-256
// come from OpenSSL (crypto.hpp). Checked against AWS's published test suite (sigv4_test.cpp).
//
// The vault signs each proxied call itself, so the secret access key never leaves it.
#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/types.hpp"

namespace alter::server::sigv4 {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Credentials, Scope and Request hold views (no copy of a secret): what they point to must outlive
// the call to sign().

struct Credentials {
  std::string_view access_key_id;      // AKIA... / ASIA...
  std::string_view secret_access_key;  // never in an answer, a log or an error
  std::string_view session_token;      // temporary credentials (STS); empty for long-term keys
};

struct Scope {
  std::string_view region;   // us-east-1
  std::string_view service;  // s3, sts, execute-api, ...
};

struct Options {
  /// Remove "." and ".." segments and collapse repeated slashes (every service but S3).
  bool normalize_path = true;
  /// URI-encode the path as sent once more (every service but S3, which signs it as sent).
  bool double_encode_path = true;
  /// Sign and send x-amz-content-sha256 (S3 requires it).
  bool content_sha256_header = false;
  /// false: X-Amz-Security-Token is sent but not signed (the few services that want it so).
  bool sign_session_token = true;
};

struct Request {
  std::string_view method;
  std::string_view host;   // the Host header: the URL's host, with its port when not the default
  std::string_view path;   // as sent, percent-encoded: "/", "/bucket/key%20name"
  std::string_view query;  // as sent, without the '?'
  Headers headers;         // the other headers to sign (not Host, Authorization or X-Amz-Date)
  std::string_view body;
};

struct Signed {
  /// The headers to add to the request: X-Amz-Date, X-Amz-Security-Token and
  /// X-Amz-Content-Sha256 when they apply, and Authorization (a secret: never log it).
  Headers headers;
  /// The intermediate results, which AWS's error messages quote back when a signature differs.
  /// They hold no secret (the session token, when signed, is in the canonical request).
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;  // 64 lower-case hex digits
};

/// 400 invalid_request for what AWS would refuse or that cannot be signed: an empty or malformed
/// access key id, region or service, an empty secret, a header with CR/LF or a NUL, a header the
/// signer sets itself, a path that does not start with '/'. Messages never hold a secret.
Result<Signed> sign(const Request& request, const Credentials& credentials, const Scope& scope,
                    std::chrono::system_clock::time_point at, const Options& options = {});

/// AWS's UriEncode: unreserved characters (A-Z a-z 0-9 - _ . ~) as they are, every other byte as
/// %XY (upper-case hex); '/' kept when `keep_slash`.
std::string uri_encode(std::string_view bytes, bool keep_slash);

}  // namespace alter::server::sigv4
