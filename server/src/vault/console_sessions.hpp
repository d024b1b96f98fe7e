#pragma once
// Web console sign-ins: an admin credential exchanged for a session cookie. The cookie value and
// the session's CSRF token are random 256-bit strings; only the cookie's SHA-256 is kept, in this
// instance's memory (a vault restart or another instance means signing in again). Every use
// re-reads the admin credential, so revoking it ends its sessions at once.
#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include <alter/common/clock.hpp>

#include "vault/authenticator.hpp"

namespace alter::server::vault {

struct ConsoleSession {
  std::string admin_id;
  std::string admin_name;
  std::string csrf_token;
  TimePoint expires_at{};  // wall clock, for display
};

class ConsoleSessions {
 public:
  /// Sessions last `ttl` from sign-in; past `max_sessions` the oldest is dropped.
  ConsoleSessions(const Authenticator& authenticator, const common::Clock& clock, std::chrono::milliseconds ttl, std::size_t max_sessions = 4096);

  struct Started {
    std::string cookie_value;  // a secret: for the Set-Cookie header only
    ConsoleSession session;
  };
  /// 401 invalid_admin_token for a missing, unknown or revoked credential.
  Result<Started> sign_in(std::string_view credential);
  /// 401 not_signed_in (no such session), session_expired, or invalid_admin_token (the credential
  /// was revoked since).
  Result<ConsoleSession> get(std::string_view cookie_value);
  /// 403 csrf_token_invalid unless `presented` is the session's CSRF token (constant time).
  static Result<void> check_csrf(const ConsoleSession& session, std::string_view presented);
  void sign_out(std::string_view cookie_value);
  std::size_t size() const;

 private:
  struct Entry {
    ConsoleSession session;
    std::string credential_hash;
    std::chrono::steady_clock::time_point expires{};
    std::chrono::steady_clock::time_point created{};
  };
  void prune_locked(std::chrono::steady_clock::time_point now);

  const Authenticator& authenticator_;
  const common::Clock& clock_;
  const std::chrono::milliseconds ttl_;
  const std::size_t max_sessions_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> by_hash_;  // SHA-256 of the cookie value -> session
};

/// The value of cookie `name` in a Cookie request header ("a=1; b=2"), or "" when absent.
std::string cookie_value(std::string_view cookie_header, std::string_view name);

}  // namespace alter::server::vault
