#include "core/config.hpp"

#include <gtest/gtest.h>

#include <map>

#include "core/log.hpp"
#include "core/time.hpp"

namespace alter::server {
namespace {

TEST(Config, TomlSetsKeys) {
  Config c;
  auto r = apply_toml_text(c, "listen = \"0.0.0.0:9000\"\nbody_limit = 2048\nread_timeout = \"5s\"\nlog_level = \"debug\"\n", "t.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(c.listen, "0.0.0.0:9000");
  EXPECT_EQ(c.body_limit, 2048u);
  EXPECT_EQ(c.read_timeout, std::chrono::seconds(5));
  EXPECT_EQ(c.log_level, "debug");
}

TEST(Config, TomlErrorsNameTheKeyAndLine) {
  Config c;
  auto unknown = apply_toml_text(c, "listen = \"x:1\"\n\nbogus = 1\n", "vault.toml");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("vault.toml:3"), std::string::npos);
  EXPECT_NE(unknown.error().message.find("bogus"), std::string::npos);
  auto bad_value = apply_toml_text(c, "body_limit = \"lots\"\n", "vault.toml");
  ASSERT_FALSE(bad_value.ok());
  EXPECT_NE(bad_value.error().message.find("body_limit"), std::string::npos);
  auto syntax = apply_toml_text(c, "listen = \n", "vault.toml");
  ASSERT_FALSE(syntax.ok());
  EXPECT_NE(syntax.error().message.find("vault.toml:1"), std::string::npos);
}

TEST(Config, TomlThatWouldRecurseTooDeepIsRefusedWithItsLine) {
  Config c;
  std::string header = "[t";
  for (int i = 0; i < 30000; ++i) header += ".t";
  auto deep = apply_toml_text(c, "listen = \"127.0.0.1:1\"\n" + header + "]\n", "vault.toml");
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.error().message.find("vault.toml:2: the file is more than 128 dotted key parts"), std::string::npos)
      << deep.error().message;
  auto nested = apply_toml_text(c, "x = " + std::string(1000, '[') + std::string(1000, ']') + "\n", "vault.toml");
  ASSERT_FALSE(nested.ok());
  EXPECT_NE(nested.error().message.find("nested more than 32 levels deep"), std::string::npos) << nested.error().message;
  EXPECT_EQ(c.listen, Config{}.listen) << "a refused file changes nothing";
}

TEST(LogThrottle, OneLinePerWindowWhoeverAsks) {
  LogThrottle throttle(std::chrono::seconds(5));
  const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  EXPECT_TRUE(throttle.allow(t0)) << "the first failure is always logged";
  EXPECT_FALSE(throttle.allow(t0));
  EXPECT_FALSE(throttle.allow(t0 + std::chrono::seconds(5)));
  EXPECT_TRUE(throttle.allow(t0 + std::chrono::seconds(6)));
  EXPECT_FALSE(throttle.allow(t0 + std::chrono::seconds(7)));
}

TEST(Config, EnvironmentOverridesToml) {
  Config c;
  ASSERT_TRUE(apply_toml_text(c, "listen = \"127.0.0.1:1\"\n", "t").ok());
  std::map<std::string, std::string> env = {{"ALTER_VAULT_LISTEN", "127.0.0.1:2"}, {"ALTER_VAULT_WORKER_THREADS", "7"}};
  ASSERT_TRUE(apply_environment(c, [&](const char* n) -> const char* {
                auto it = env.find(n);
                return it == env.end() ? nullptr : it->second.c_str();
              }).ok());
  EXPECT_EQ(c.listen, "127.0.0.1:2");
  EXPECT_EQ(c.worker_threads, 7u);
  env["ALTER_VAULT_WORKER_THREADS"] = "zero";
  EXPECT_FALSE(apply_environment(c, [&](const char* n) -> const char* {
                 auto it = env.find(n);
                 return it == env.end() ? nullptr : it->second.c_str();
               }).ok());
}

TEST(Config, ListenAndValidation) {
  Config c;
  c.listen = "127.0.0.1:0";
  EXPECT_EQ(c.listen_endpoint()->second, 0);
  c.listen = "[::1]:8787";
  EXPECT_EQ(c.listen_endpoint()->first, "::1");
  c.listen = "nope";
  EXPECT_FALSE(validate(c).ok());
  c.listen = "127.0.0.1:70000";
  EXPECT_FALSE(validate(c).ok());
  c.listen = "127.0.0.1:1";
  c.tls_cert = "cert.pem";
  EXPECT_FALSE(validate(c).ok());  // cert without key
  c.tls_cert.clear();
  c.database = "mysql://x";
  EXPECT_FALSE(validate(c).ok());
  c.database.clear();
  EXPECT_TRUE(validate(c).ok());
  EXPECT_EQ(c.database_url(), "sqlite:" + (c.data_dir / "vault.db").string());
}

TEST(Time, Iso8601RoundTrip) {
  const TimePoint t(std::chrono::milliseconds(1764185703123));
  EXPECT_EQ(iso8601(t), "2025-11-26T19:35:03.123Z");
  EXPECT_EQ(parse_iso8601("2025-11-26T19:35:03.123Z").value(), t);
  EXPECT_EQ(parse_iso8601("2025-11-26T20:35:03.123+01:00").value(), t);
  EXPECT_TRUE(parse_iso8601("2025-11-26").has_value());
  EXPECT_FALSE(parse_iso8601("2025-11-26T19:35:03").has_value());  // no zone
  EXPECT_FALSE(parse_iso8601("2025-13-01").has_value());
  EXPECT_FALSE(parse_iso8601("yesterday").has_value());
}

TEST(Time, Durations) {
  EXPECT_EQ(parse_duration("500ms").value(), std::chrono::milliseconds(500));
  EXPECT_EQ(parse_duration("90s").value(), std::chrono::seconds(90));
  EXPECT_EQ(parse_duration("15m").value(), std::chrono::minutes(15));
  EXPECT_EQ(parse_duration("2h").value(), std::chrono::hours(2));
  EXPECT_EQ(parse_duration("7d").value(), std::chrono::hours(168));
  EXPECT_FALSE(parse_duration("5").has_value());
  EXPECT_FALSE(parse_duration("-5s").has_value());
  EXPECT_FALSE(parse_duration("5y").has_value());
}

}  // namespace
}  // namespace alter::server
