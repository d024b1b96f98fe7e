// The building blocks: globs, path normalization, CIDR blocks, zones, durations, reason regexes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/cidr.hpp"
#include "policy/document.hpp"
#include "policy/glob.hpp"
#include "policy/reason_regex.hpp"
#include "policy/test_support.hpp"
#include "policy/time_window.hpp"

namespace alter::server::policy {
namespace {

bool host_matches(const std::string& pattern, const std::string& host) {
  auto glob = SegmentedGlob::compile(pattern, '.', true, nullptr);
  EXPECT_TRUE(glob.has_value()) << pattern;
  std::vector<std::string_view> labels;
  split_segments(host, '.', labels);
  return glob->match(host, labels);
}

bool path_matches(const std::string& pattern, const std::string& path) {
  auto glob = SegmentedGlob::compile(pattern, '/', false, nullptr);
  EXPECT_TRUE(glob.has_value()) << pattern;
  std::vector<std::string_view> segments;
  split_segments(path, '/', segments);
  return glob->match(path, segments);
}

TEST(Wildcard, Matches) {
  EXPECT_TRUE(wildcard_match("*", ""));
  EXPECT_TRUE(wildcard_match("email-*", "email-assistant"));
  EXPECT_TRUE(wildcard_match("*-assistant-*", "email-assistant-v2"));
  EXPECT_FALSE(wildcard_match("*-assistant-*", "email-assistant"));
  EXPECT_TRUE(wildcard_match("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(wildcard_match("a*b*c", "aXXbYY"));
  EXPECT_FALSE(wildcard_match("Email-*", "email-x"));
  EXPECT_TRUE(wildcard_match("Email-*", "email-x", true));
  EXPECT_TRUE(wildcard_match("exact", "exact"));
  EXPECT_FALSE(wildcard_match("exact", "exact!"));
}

TEST(Wildcard, ManyStarsStayFast) {
  // Exponential backtracking would take forever here.
  const std::string text(5000, 'a');
  EXPECT_FALSE(wildcard_match("*a*a*a*a*a*a*a*a*a*a*a*a*b", text));
}

TEST(HostGlob, StarIsOneLabel) {
  EXPECT_TRUE(host_matches("*.googleapis.com", "www.googleapis.com"));
  EXPECT_FALSE(host_matches("*.googleapis.com", "a.b.googleapis.com"));
  EXPECT_FALSE(host_matches("*.googleapis.com", "googleapis.com"));
  EXPECT_FALSE(host_matches("*.googleapis.com", "www.googleapis.com.evil.example"));
  EXPECT_TRUE(host_matches("**.googleapis.com", "a.b.googleapis.com"));
  EXPECT_TRUE(host_matches("**.googleapis.com", "googleapis.com"));
  EXPECT_TRUE(host_matches("api-*.example.com", "api-eu.example.com"));
  EXPECT_TRUE(host_matches("API.Example.com", "api.example.COM"));
  EXPECT_FALSE(host_matches("*.example.com", "example.com.attacker.net"));
}

TEST(PathGlob, Segments) {
  EXPECT_TRUE(path_matches("/calendar/v3/**", "/calendar/v3/calendars/primary/events"));
  EXPECT_TRUE(path_matches("/calendar/v3/**", "/calendar/v3"));
  EXPECT_TRUE(path_matches("/calendar/v3/**", "/calendar/v3/"));
  EXPECT_FALSE(path_matches("/calendar/v3/**", "/calendar/v30/x"));
  EXPECT_TRUE(path_matches("/calendar/v3/*", "/calendar/v3/calendars"));
  EXPECT_FALSE(path_matches("/calendar/v3/*", "/calendar/v3/calendars/primary"));
  EXPECT_TRUE(path_matches("/**/events", "/calendar/v3/calendars/primary/events"));
  EXPECT_FALSE(path_matches("/**/events", "/calendar/v3/calendars/primary/events/1"));
  EXPECT_TRUE(path_matches("/**/messages/**", "/gmail/v1/users/me/messages/send"));
  EXPECT_TRUE(path_matches("/a/**/**/b", "/a/b"));
  EXPECT_TRUE(path_matches("/files/*.pdf", "/files/report.pdf"));
  EXPECT_FALSE(path_matches("/files/*.pdf", "/files/sub/report.pdf"));
  EXPECT_FALSE(path_matches("/Files/**", "/files/x"));
  EXPECT_TRUE(path_matches("/**", "/"));
}

TEST(PathGlob, DoubleStarMustBeWholeSegment) {
  std::string error;
  EXPECT_FALSE(SegmentedGlob::compile("/a/b**", '/', false, &error));
  EXPECT_NE(error.find("whole segment"), std::string::npos);
}

TEST(PathGlob, ManyDoubleStarsStayFast) {
  std::string path;
  for (int i = 0; i < 2000; ++i) path += "/a";
  EXPECT_FALSE(path_matches("/**/a/**/a/**/a/**/a/**/b", path));
}

TEST(NormalizePath, ResolvesDotsAndSlashes) {
  std::string buffer;
  EXPECT_EQ(normalize_path("/a/b/c", buffer), "/a/b/c");
  EXPECT_EQ(normalize_path("/a/./b", buffer), "/a/b");
  EXPECT_EQ(normalize_path("/a/b/../c", buffer), "/a/c");
  EXPECT_EQ(normalize_path("/a/b/..", buffer), "/a");
  EXPECT_EQ(normalize_path("/../../etc", buffer), "/etc");
  EXPECT_EQ(normalize_path("//a///b/", buffer), "/a/b");
  EXPECT_EQ(normalize_path("/a/b/", buffer), "/a/b");
  EXPECT_EQ(normalize_path("/a/b/.", buffer), "/a/b");
  EXPECT_EQ(normalize_path("/a/b/./", buffer), "/a/b");
  EXPECT_EQ(normalize_path("/", buffer), "/");
  EXPECT_EQ(normalize_path("//", buffer), "/");
  EXPECT_EQ(normalize_path("", buffer), "/");
  EXPECT_EQ(normalize_path("a/b", buffer), "/a/b");
  EXPECT_EQ(normalize_path("/.", buffer), "/");
  EXPECT_EQ(normalize_path("/a/..b", buffer), "/a/..b");
}

TEST(Cidr, ParsesAndContains) {
  const auto v4 = Cidr::parse("10.0.0.0/8", nullptr);
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->contains(*IpAddress::parse("10.255.0.1")));
  EXPECT_FALSE(v4->contains(*IpAddress::parse("11.0.0.1")));
  EXPECT_FALSE(v4->contains(*IpAddress::parse("::a00:1")));

  const auto odd = Cidr::parse("192.168.1.77/27", nullptr);
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->to_string(), "192.168.1.64/27");
  EXPECT_TRUE(odd->contains(*IpAddress::parse("192.168.1.95")));
  EXPECT_FALSE(odd->contains(*IpAddress::parse("192.168.1.96")));

  const auto v6 = Cidr::parse("2001:db8::/32", nullptr);
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(*IpAddress::parse("2001:db8:ffff::1")));
  EXPECT_FALSE(v6->contains(*IpAddress::parse("2001:db9::1")));

  const auto all = Cidr::parse("0.0.0.0/0", nullptr);
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->contains(*IpAddress::parse("8.8.8.8")));

  const auto single = Cidr::parse("::1", nullptr);
  ASSERT_TRUE(single);
  EXPECT_EQ(single->to_string(), "::1/128");

  const auto mapped = Cidr::parse("::ffff:10.0.0.0/104", nullptr);
  ASSERT_TRUE(mapped);
  EXPECT_EQ(mapped->to_string(), "10.0.0.0/8");
}

TEST(Cidr, RefusesBadBlocks) {
  for (const char* bad : {"10.0.0.0/33", "10.0.0/8", "::1/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x", "host",
                          "", "1.2.3.4.5", "::ffff:10.0.0.0/8", "fe80::1%eth0"}) {
    std::string error;
    EXPECT_FALSE(Cidr::parse(bad, &error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(Zone, ConvertsWithDaylightSaving) {
  Zone paris;
  ASSERT_TRUE(Zone::lookup("Europe/Paris", paris, nullptr));
  // 2026-03-29 is the switch to summer time in Paris (01:00 UTC).
  auto before = paris.to_local(testing::utc(2026, 3, 29, 0, 30));
  auto after = paris.to_local(testing::utc(2026, 3, 29, 1, 30));
  EXPECT_EQ(before.minute_of_day, 1 * 60 + 30);
  EXPECT_EQ(after.minute_of_day, 3 * 60 + 30);
  EXPECT_EQ(after.weekday, 6);  // Sunday

  Zone utc;
  ASSERT_TRUE(Zone::lookup("UTC", utc, nullptr));
  const auto t = utc.to_local(testing::utc(2026, 1, 5, 23, 59));
  EXPECT_EQ(t.weekday, 0);  // Monday
  EXPECT_EQ(t.minute_of_day, 23 * 60 + 59);
  // Before the epoch too.
  EXPECT_EQ(utc.to_local(testing::utc(1969, 12, 31, 12, 0)).weekday, 2);  // Wednesday

  Zone unknown;
  std::string error;
  EXPECT_FALSE(Zone::lookup("Mars/Olympus_Mons", unknown, &error));
  EXPECT_NE(error.find("unknown time zone"), std::string::npos);
}

TEST(TimeWindow, Contains) {
  TimeWindow office{0b0011111, 9 * 60, 17 * 60, 0};
  EXPECT_TRUE(office.contains({0, 9 * 60}));
  EXPECT_FALSE(office.contains({0, 17 * 60}));
  EXPECT_FALSE(office.contains({5, 10 * 60}));
  TimeWindow night{0b0010000, 22 * 60, 6 * 60, 0};  // Friday night
  EXPECT_TRUE(night.contains({4, 23 * 60}));
  EXPECT_TRUE(night.contains({5, 2 * 60}));
  EXPECT_FALSE(night.contains({4, 2 * 60}));
  EXPECT_FALSE(night.contains({5, 7 * 60}));
}

TEST(Duration, ParsesAndFormats) {
  EXPECT_EQ(parse_duration("90s"), std::chrono::seconds(90));
  EXPECT_EQ(parse_duration("15m"), std::chrono::seconds(900));
  EXPECT_EQ(parse_duration("1h30m"), std::chrono::seconds(5400));
  EXPECT_EQ(parse_duration("2d"), std::chrono::seconds(172800));
  for (const char* bad : {"", "1", "h", "1x", "-1h", "1h-", "1.5h", "99999999999999999999d"}) {
    EXPECT_FALSE(parse_duration(bad)) << bad;
  }
  EXPECT_EQ(format_duration(std::chrono::seconds(5400)), "1h30m");
  EXPECT_EQ(format_duration(std::chrono::seconds(90061)), "1d1h1m1s");
  EXPECT_EQ(format_duration(std::chrono::seconds(0)), "0s");
}

TEST(ReasonRegex, SearchesWithinBounds) {
  std::string error;
  auto re = ReasonRegex::compile("TICKET-[0-9]+", &error);
  ASSERT_TRUE(re) << error;
  EXPECT_TRUE(re->search("fixing TICKET-42 today"));
  EXPECT_FALSE(re->search("fixing a ticket"));
  EXPECT_FALSE(re->search(std::string(2000, 'x') + "TICKET-1"));  // too long to be checked

  auto anchored = ReasonRegex::compile("^TICKET-[0-9]+$", &error);
  ASSERT_TRUE(anchored);
  EXPECT_TRUE(anchored->search("TICKET-1"));
  EXPECT_FALSE(anchored->search("see TICKET-1"));

  // Catastrophic for a backtracking engine; polynomial here.
  auto nested = ReasonRegex::compile("^(a+)+$", &error);
  ASSERT_TRUE(nested);
  EXPECT_FALSE(nested->search(std::string(1000, 'a') + "!"));
}

TEST(ReasonRegex, RefusesBadPatterns) {
  for (const std::string& bad : {std::string("a)(b"), std::string("(unclosed"), std::string("a{1000}"),
                                std::string("(a{50}){50}"), std::string(300, 'a'), std::string(""),
                                std::string("(a)\\1")}) {
    std::string error;
    EXPECT_FALSE(ReasonRegex::compile(bad, &error)) << bad;
    EXPECT_FALSE(error.empty());
  }
}

}  // namespace
}  // namespace alter::server::policy
