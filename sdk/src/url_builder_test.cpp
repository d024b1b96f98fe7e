#include "url_builder.hpp"

#include <gtest/gtest.h>

namespace alter::internal {
namespace {

using Map = std::map<std::string, std::string>;

std::string ok_url(std::string_view tmpl, const Map& path = {}, const Map& query = {}) {
  auto r = build_url(tmpl, path, query);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error());
  return r.ok() ? r->url : std::string();
}

std::string err(std::string_view tmpl, const Map& path = {}, const Map& query = {}) {
  auto r = build_url(tmpl, path, query);
  EXPECT_FALSE(r.ok()) << "built " << (r.ok() ? r->url : "");
  return r.ok() ? std::string() : r.error();
}

TEST(UrlBuilder, FillsPlaceholders) {
  EXPECT_EQ(ok_url("https://www.googleapis.com/calendar/v3/calendars/{calendar_id}/events", {{"calendar_id", "primary"}}),
            "https://www.googleapis.com/calendar/v3/calendars/primary/events");
  EXPECT_EQ(ok_url("https://api.example.com/v1/items/{item_id}", {{"item_id", "123"}}),
            "https://api.example.com/v1/items/123");
  EXPECT_EQ(ok_url("https://x.test/{a}/{b}/{a}", {{"a", "1"}, {"b", "2"}}), "https://x.test/1/2/1");
}

struct SegmentCase {
  std::string value;
  std::string encoded;
};

class SegmentEncoding : public ::testing::TestWithParam<SegmentCase> {};

TEST_P(SegmentEncoding, ValueStaysOneSegment) {
  const auto& c = GetParam();
  const std::string url = ok_url("https://api.example.com/items/{id}/detail", {{"id", c.value}});
  EXPECT_EQ(url, "https://api.example.com/items/" + c.encoded + "/detail");
}

INSTANTIATE_TEST_SUITE_P(
    Dangerous, SegmentEncoding,
    ::testing::Values(SegmentCase{"a/b", "a%2Fb"}, SegmentCase{"../../admin", "..%2F..%2Fadmin"},
                      SegmentCase{"a?x=1", "a%3Fx%3D1"}, SegmentCase{"%2E%2E", "%252E%252E"},
                      SegmentCase{"a#frag", "a%23frag"}, SegmentCase{"a b", "a%20b"},
                      SegmentCase{"100%", "100%25"}, SegmentCase{"caf\xc3\xa9", "caf%C3%A9"},
                      SegmentCase{"a&b=c", "a%26b%3Dc"}, SegmentCase{"{x}", "%7Bx%7D"},
                      SegmentCase{"a\\b", "a%5Cb"}, SegmentCase{"x@evil.com", "x%40evil.com"},
                      SegmentCase{"...", "..."}, SegmentCase{"a.b-c_d~e", "a.b-c_d~e"}));

TEST(UrlBuilder, DotSegmentValuesAreRefused) {
  // Encoded or not, "." and ".." are dot-segments to a normalizer: they would remove a segment.
  for (const char* v : {".", ".."}) {
    EXPECT_NE(err("https://x.test/items/{id}/detail", {{"id", v}}).find("dot-segment"), std::string::npos) << v;
  }
}

TEST(UrlBuilder, MissingPlaceholderValueIsAnError) {
  EXPECT_NE(err("https://x.test/{a}/{b}", {{"a", "1"}}).find("missing path_params for placeholder(s): b"),
            std::string::npos);
}

TEST(UrlBuilder, ValueForNoPlaceholderIsAnError) {
  EXPECT_NE(err("https://x.test/items", {{"id", "1"}}).find("no placeholder in the URL: id"), std::string::npos);
}

TEST(UrlBuilder, EmptyValueIsAnError) { EXPECT_NE(err("https://x.test/{id}", {{"id", ""}}).find("empty"), std::string::npos); }

TEST(UrlBuilder, MalformedPlaceholderIsAnError) {
  EXPECT_FALSE(err("https://x.test/{id").empty());
  EXPECT_FALSE(err("https://x.test/{}").empty());
  EXPECT_FALSE(err("https://x.test/{a-b}", {{"a-b", "1"}}).empty());
}

TEST(UrlBuilder, ErrorsNeverEchoValues) {
  const std::string e = err("https://x.test/{a}", {{"a", "1"}, {"secret_param", "s3cr3t-value"}});
  EXPECT_EQ(e.find("s3cr3t-value"), std::string::npos);
}

TEST(UrlBuilder, QueryParamsAreEncodedAndMerged) {
  EXPECT_EQ(ok_url("https://x.test/events", {}, {{"maxResults", "10"}}), "https://x.test/events?maxResults=10");
  EXPECT_EQ(ok_url("https://x.test/events?a=1", {}, {{"b", "2"}}), "https://x.test/events?a=1&b=2");
  EXPECT_EQ(ok_url("https://x.test/s", {}, {{"q", "a b&c=d#e"}}), "https://x.test/s?q=a%20b%26c=d%23e");
  EXPECT_EQ(ok_url("https://x.test/s", {}, {{"k&x", "v"}}), "https://x.test/s?k%26x=v");
  // '+' reads as a space to a form decoder; '=' ends a name; '/' and '?' may stay.
  EXPECT_EQ(ok_url("https://x.test/s", {}, {{"t", "2026-01-01T00:00:00+01:00"}}), "https://x.test/s?t=2026-01-01T00:00:00%2B01:00");
  EXPECT_EQ(ok_url("https://x.test/s", {}, {{"a=b+c", "1/2?3"}}), "https://x.test/s?a%3Db%2Bc=1/2?3");
}

TEST(UrlBuilder, PlaceholderInQueryCannotAddParameters) {
  EXPECT_EQ(ok_url("https://x.test/s?q={q}", {{"q", "a&admin=1"}}), "https://x.test/s?q=a%26admin%3D1");
}

TEST(UrlBuilder, RequiresHttpsExceptForLoopback) {
  EXPECT_NE(err("http://api.example.com/x").find("https"), std::string::npos);
  EXPECT_NE(err("ftp://api.example.com/x").find("https"), std::string::npos);
  EXPECT_FALSE(err("file:///etc/passwd").empty());
  EXPECT_EQ(ok_url("http://127.0.0.1:8080/x"), "http://127.0.0.1:8080/x");
  EXPECT_EQ(ok_url("http://127.9.9.9/x"), "http://127.9.9.9/x");
  EXPECT_EQ(ok_url("http://localhost:1/x"), "http://localhost:1/x");
  EXPECT_EQ(ok_url("http://[::1]:1/x"), "http://[::1]:1/x");
  EXPECT_FALSE(err("http://128.0.0.1/x").empty());
  EXPECT_FALSE(err("http://localhost.evil.com/x").empty());
}

TEST(UrlBuilder, RejectsUserInfoAndGarbage) {
  EXPECT_FALSE(err("https://user:pass@x.test/").empty());
  EXPECT_FALSE(err("not a url").empty());
  EXPECT_FALSE(err("https:///nohost").empty());
  EXPECT_FALSE(err("").empty());
}

TEST(UrlBuilder, DropsFragmentAndAddsRootPath) {
  EXPECT_EQ(ok_url("https://x.test/a#frag"), "https://x.test/a");
  EXPECT_EQ(ok_url("https://x.test"), "https://x.test/");
}

TEST(UrlBuilder, HostPlaceholderCannotEscapeTheHost) {
  EXPECT_EQ(ok_url("https://{shop}.myshopify.com/admin", {{"shop", "acme"}}), "https://acme.myshopify.com/admin");
  // A '/' is encoded, and "%2F" is not a valid host character: the URL is refused.
  EXPECT_FALSE(err("https://{shop}.myshopify.com/admin", {{"shop", "evil.com/x"}}).empty());
}

TEST(BaseUrl, Normalizes) {
  EXPECT_EQ(normalize_base_url("http://127.0.0.1:8787/").value(), "http://127.0.0.1:8787");
  EXPECT_EQ(normalize_base_url("https://vault.example.com/prefix/").value(), "https://vault.example.com/prefix");
  EXPECT_FALSE(normalize_base_url("ftp://x").ok());
  EXPECT_FALSE(normalize_base_url("http://x/?a=1").ok());
  EXPECT_FALSE(normalize_base_url("garbage").ok());
  EXPECT_FALSE(normalize_base_url("http://").ok());
}

}  // namespace
}  // namespace alter::internal
