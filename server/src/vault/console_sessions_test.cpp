// Console sessions over a real SQLite store and a fake clock: sign-in, expiry, revocation of the
// admin credential, CSRF, the session cap, and the Cookie header reader, each as a table of cases.
#include <gtest/gtest.h>

#include <alter/testing/temp_dir.hpp>

#include "store/sqlite/sqlite_store.hpp"
#include "vault/cache.hpp"
#include "vault/console_sessions.hpp"

namespace alter::server::vault {
namespace {

using namespace std::chrono_literals;

class ConsoleSessionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = open_sqlite_store(dir_.path() / "vault.db").value();
    ASSERT_TRUE(store_->migrate().ok());
    cache_ = std::make_unique<VaultCache>();
    authenticator_ = std::make_unique<Authenticator>(*store_, *cache_);
    credential_ = add_admin("ops");
  }
  std::string add_admin(const std::string& name) {
    auto secret = Authenticator::new_admin_credential();
    AdminCredential c{"adm_" + name, name, secret.hint, secret.hash, clock_.wall(), std::nullopt};
    EXPECT_TRUE(store_->create_admin_credential(c).ok());
    return secret.value;
  }
  ConsoleSessions sessions(std::chrono::milliseconds ttl = 1h, std::size_t max = 16) { return {*authenticator_, clock_, ttl, max}; }

  testing::TempDir dir_;
  common::FakeClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<VaultCache> cache_;
  std::unique_ptr<Authenticator> authenticator_;
  std::string credential_;
};

TEST_F(ConsoleSessionsTest, SignInGivesACookieAndACsrfTokenThatAreNotTheCredential) {
  auto s = sessions();
  auto started = s.sign_in(credential_);
  ASSERT_TRUE(started.ok());
  EXPECT_EQ(started->session.admin_id, "adm_ops");
  EXPECT_EQ(started->session.admin_name, "ops");
  EXPECT_EQ(started->cookie_value.size(), 43u);
  EXPECT_EQ(started->session.csrf_token.size(), 43u);
  EXPECT_NE(started->cookie_value, started->session.csrf_token);
  EXPECT_EQ(started->cookie_value.find(credential_), std::string::npos);
  EXPECT_EQ(started->session.expires_at, clock_.wall() + 1h);
  auto again = s.get(started->cookie_value);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->csrf_token, started->session.csrf_token);
  // Two sign-ins are two sessions.
  auto second = s.sign_in(credential_);
  ASSERT_TRUE(second.ok());
  EXPECT_NE(second->cookie_value, started->cookie_value);
  EXPECT_EQ(s.size(), 2u);
}

TEST_F(ConsoleSessionsTest, BadCredentialsAreRefusedAndStartNothing) {
  auto s = sessions();
  const std::string revoked = add_admin("gone");
  ASSERT_TRUE(store_->revoke_admin_credential("adm_gone", clock_.wall()).ok());
  for (const std::string& bad : {std::string(), std::string("alter_admin_"), std::string("alter_key_abc"),
                                 credential_ + "x", credential_.substr(0, credential_.size() - 1), revoked,
                                 std::string("alter_admin_") + std::string(300, 'a'), std::string("alter_admin_\r\nx")}) {
    auto r = s.sign_in(bad);
    ASSERT_FALSE(r.ok()) << bad.size();
    EXPECT_EQ(r.error().errc, Errc::kUnauthenticated);
    EXPECT_EQ(r.error().code, "invalid_admin_token");
  }
  EXPECT_EQ(s.size(), 0u);
}

TEST_F(ConsoleSessionsTest, UnknownCookiesAreNotSignedIn) {
  auto s = sessions();
  ASSERT_TRUE(s.sign_in(credential_).ok());
  for (const std::string& cookie : {std::string(), std::string("x"), std::string(43, 'A'), std::string(500, 'a'), credential_}) {
    auto r = s.get(cookie);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "not_signed_in");
  }
}

TEST_F(ConsoleSessionsTest, ASessionExpiresAtItsTtlAndIsForgotten) {
  auto s = sessions(10min);
  auto started = s.sign_in(credential_);
  ASSERT_TRUE(started.ok());
  clock_.advance(10min - 1ms);
  EXPECT_TRUE(s.get(started->cookie_value).ok());  // use does not extend it
  clock_.advance(1ms);
  auto r = s.get(started->cookie_value);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "session_expired");
  EXPECT_EQ(s.get(started->cookie_value).error().code, "not_signed_in");
  EXPECT_EQ(s.size(), 0u);
}

TEST_F(ConsoleSessionsTest, RevokingTheAdminCredentialEndsItsSessionsAtOnce) {
  auto s = sessions();
  const std::string other = add_admin("other");
  auto mine = s.sign_in(credential_);
  auto theirs = s.sign_in(other);
  ASSERT_TRUE(mine.ok() && theirs.ok());
  ASSERT_TRUE(store_->revoke_admin_credential("adm_ops", clock_.wall()).ok());
  auto r = s.get(mine->cookie_value);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_admin_token");
  EXPECT_EQ(s.get(mine->cookie_value).error().code, "not_signed_in");
  EXPECT_TRUE(s.get(theirs->cookie_value).ok());
}

TEST_F(ConsoleSessionsTest, SignOutEndsOnlyThatSession) {
  auto s = sessions();
  auto a = s.sign_in(credential_);
  auto b = s.sign_in(credential_);
  ASSERT_TRUE(a.ok() && b.ok());
  s.sign_out(a->cookie_value);
  s.sign_out("");
  s.sign_out("unknown");
  EXPECT_EQ(s.get(a->cookie_value).error().code, "not_signed_in");
  EXPECT_TRUE(s.get(b->cookie_value).ok());
}

TEST_F(ConsoleSessionsTest, CsrfTokenMustBeTheSessionsOwn) {
  auto s = sessions();
  auto a = s.sign_in(credential_);
  auto b = s.sign_in(credential_);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(ConsoleSessions::check_csrf(a->session, a->session.csrf_token).ok());
  const std::string& t = a->session.csrf_token;
  for (const std::string& bad : {std::string(), b->session.csrf_token, t.substr(0, t.size() - 1), t + "x", a->cookie_value,
                                 std::string(t.size(), 'A')}) {
    auto r = ConsoleSessions::check_csrf(a->session, bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().errc, Errc::kPermissionDenied);
    EXPECT_EQ(r.error().code, "csrf_token_invalid");
  }
}

TEST_F(ConsoleSessionsTest, PastTheCapTheOldestSessionGoes) {
  auto s = sessions(1h, 3);
  std::vector<std::string> cookies;
  for (int i = 0; i < 4; ++i) {
    auto started = s.sign_in(credential_);
    ASSERT_TRUE(started.ok());
    cookies.push_back(started->cookie_value);
    clock_.advance(1s);
  }
  EXPECT_EQ(s.size(), 3u);
  EXPECT_FALSE(s.get(cookies[0]).ok());
  for (int i = 1; i < 4; ++i) EXPECT_TRUE(s.get(cookies[static_cast<std::size_t>(i)]).ok());
}

TEST(CookieValue, ReadsTheNamedCookieOnly) {
  struct Case {
    const char* header;
    const char* want;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"alter_console=abc", "abc"},
           {"a=1; alter_console=abc; b=2", "abc"},
           {"a=1;alter_console=abc", "abc"},
           {"  alter_console=abc  ", "abc"},
           {"alter_console=\"abc\"", "abc"},
           {"alter_console_x=abc", ""},
           {"x_alter_console=abc", ""},
           {"alter_console", ""},
           {"", ""},
           {"alter_console=", ""},
           {"alter_console=first; alter_console=second", "first"},
       }) {
    EXPECT_EQ(cookie_value(c.header, "alter_console"), c.want) << c.header;
  }
}

}  // namespace
}  // namespace alter::server::vault
