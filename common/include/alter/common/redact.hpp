#pragma once
// Which HTTP headers may carry a credential, and so never reach an audit row, a log or an error.
// A class, not a list of cases: any header whose name contains a credential word is dropped
// (an `Idempotency-Key` dropped from an audit row costs nothing; an `X-Goog-Api-Key` kept would).
#include <alter/common/strings.hpp>

#include <string_view>

namespace alter::common {

inline bool is_credential_header(std::string_view name) noexcept {
  // Authorization, Proxy-Authorization, Cookie, Set-Cookie, X-Api-Key, X-Goog-Api-Key, X-Auth-Token,
  // Private-Token, X-Amz-Security-Token, X-Shopify-Access-Token, ... all contain one of these.
  const std::string lower = to_lower(name);
  for (std::string_view word : {"token", "secret", "key", "password", "passwd", "auth", "session", "cookie",
                                "signature", "credential", "apikey", "jwt", "bearer", "private"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

}  // namespace alter::common
