#include "vault/console_sessions.hpp"

#include <alter/common/strings.hpp>

#include "crypto/crypto.hpp"

namespace alter::server::vault {
namespace {

Error unauthorized(std::string code, std::string message) {
  return make_error(Errc::kUnauthenticated, std::move(code), std::move(message));
}

}  // namespace

ConsoleSessions::ConsoleSessions(const Authenticator& authenticator, const common::Clock& clock, std::chrono::milliseconds ttl,
                                 std::size_t max_sessions)
    : authenticator_(authenticator), clock_(clock), ttl_(ttl), max_sessions_(max_sessions == 0 ? 1 : max_sessions) {}

Result<ConsoleSessions::Started> ConsoleSessions::sign_in(std::string_view credential) {
  auto record = authenticator_.admin_record(credential);
  if (!record) return common::unexpected(record.error());
  Started out;
  out.cookie_value = crypto::random_token(32);
  out.session = ConsoleSession{record->id, record->name, crypto::random_token(32),
                               clock_.wall() + std::chrono::duration_cast<std::chrono::system_clock::duration>(ttl_)};
  const auto now = clock_.now();
  std::lock_guard lock(mu_);
  prune_locked(now);
  while (by_hash_.size() >= max_sessions_) {
    auto oldest = by_hash_.begin();
    for (auto it = by_hash_.begin(); it != by_hash_.end(); ++it) {
      if (it->second.created < oldest->second.created) oldest = it;
    }
    by_hash_.erase(oldest);
  }
  by_hash_[crypto::sha256_hex(out.cookie_value)] = Entry{out.session, record->hash, now + ttl_, now};
  return out;
}

Result<ConsoleSession> ConsoleSessions::get(std::string_view cookie_value) {
  if (cookie_value.empty() || cookie_value.size() > 128) {
    return common::unexpected(unauthorized("not_signed_in", "sign in to the console first"));
  }
  const std::string key = crypto::sha256_hex(cookie_value);
  std::string credential_hash;
  ConsoleSession session;
  {
    std::lock_guard lock(mu_);
    auto it = by_hash_.find(key);
    if (it == by_hash_.end()) return common::unexpected(unauthorized("not_signed_in", "sign in to the console first"));
    if (clock_.now() >= it->second.expires) {
      by_hash_.erase(it);
      return common::unexpected(unauthorized("session_expired", "the console session expired: sign in again"));
    }
    credential_hash = it->second.credential_hash;
    session = it->second.session;
  }
  // Outside the lock: a store read.
  auto record = authenticator_.admin_by_hash(credential_hash);
  if (!record) {
    if (record.error().errc == Errc::kUnauthenticated) sign_out(cookie_value);
    return common::unexpected(record.error());
  }
  return session;
}

Result<void> ConsoleSessions::check_csrf(const ConsoleSession& session, std::string_view presented) {
  if (presented.empty() || !crypto::constant_time_equal(presented, session.csrf_token)) {
    return common::unexpected(make_error(Errc::kPermissionDenied, "csrf_token_invalid",
                                         "this change needs the console's X-CSRF-Token header"));
  }
  return {};
}

void ConsoleSessions::sign_out(std::string_view cookie_value) {
  if (cookie_value.empty()) return;
  const std::string key = crypto::sha256_hex(cookie_value);
  std::lock_guard lock(mu_);
  by_hash_.erase(key);
}

std::size_t ConsoleSessions::size() const {
  std::lock_guard lock(mu_);
  return by_hash_.size();
}

void ConsoleSessions::prune_locked(std::chrono::steady_clock::time_point now) {
  for (auto it = by_hash_.begin(); it != by_hash_.end();) {
    it = now >= it->second.expires ? by_hash_.erase(it) : std::next(it);
  }
}

std::string cookie_value(std::string_view header, std::string_view name) {
  // RFC 6265 section 5.4: "name=value" pairs separated by "; ".
  while (!header.empty()) {
    const auto semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) pair.remove_prefix(1);
    while (!pair.empty() && (pair.back() == ' ' || pair.back() == '\t')) pair.remove_suffix(1);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
    std::string_view value = pair.substr(eq + 1);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    return std::string(value);
  }
  return {};
}

}  // namespace alter::server::vault
