// AWS Signature Version 4 against AWS's published test suite (testdata/sigv4_vectors.json, made by
// scripts/sigv4_vectors.py): every case's canonical request, string to sign, signature and
// Authorization header; S3's own documented example (single-encoded path, x-amz-content-sha256);
// and a table of inputs the signer refuses, none of whose messages holds the secret.
#include "credentials/sigv4.hpp"

#include <gtest/gtest.h>

#include <ctime>
#include <fstream>
#include <iomanip>
#include <sstream>

#include <nlohmann/json.hpp>

namespace alter::server::sigv4 {
namespace {

using namespace std::chrono_literals;

std::chrono::system_clock::time_point parse_time(const std::string& iso) {  // 2015-08-30T12:36:00Z
  std::tm tm{};
  std::istringstream in(iso);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%SZ");
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

// The suite's request.txt: "METHOD TARGET HTTP/1.1", "Name:value" lines (a line starting with
// whitespace continues the previous value), a blank line, the body.
struct ParsedRequest {
  std::string method, host, path, query, body;
  Headers headers;
};

ParsedRequest parse_request(const std::string& text) {
  ParsedRequest out;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  out.method = line.substr(0, line.find(' '));
  std::string target = line.substr(out.method.size() + 1, line.rfind(" HTTP/1.1") - out.method.size() - 1);
  out.path = target.substr(0, target.find('?'));
  if (target.find('?') != std::string::npos) out.query = target.substr(target.find('?') + 1);
  while (std::getline(in, line) && !line.empty()) {
    if (line.front() == ' ' || line.front() == '\t') {
      out.headers.back().second += " " + line;
      continue;
    }
    const auto colon = line.find(':');
    std::string name = line.substr(0, colon), value = line.substr(colon + 1);
    if (name == "Host") {
      out.host = value;
    } else {
      out.headers.emplace_back(name, value);
    }
  }
  std::ostringstream body;
  body << in.rdbuf();
  out.body = body.str();
  return out;
}

nlohmann::json vectors() {
  std::ifstream in(std::string(ALTER_SOURCE_DIR) + "/server/src/credentials/testdata/sigv4_vectors.json");
  return nlohmann::json::parse(in);
}

std::string header_value(const Headers& headers, const std::string& name) {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return {};
}

TEST(SigV4, EveryCaseOfAwsTestSuite) {
  const auto suite = vectors();
  ASSERT_GE(suite["cases"].size(), 38u);
  for (const auto& c : suite["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const auto& ctx = c["context"];
    const ParsedRequest parsed = parse_request(c["request"]);
    Request request{parsed.method, parsed.host, parsed.path, parsed.query, parsed.headers, parsed.body};
    const std::string key_id = ctx["credentials"]["access_key_id"], secret = ctx["credentials"]["secret_access_key"];
    const std::string token = ctx["credentials"].value("token", "");
    const std::string region = ctx["region"], service = ctx["service"];
    Options options;
    options.normalize_path = ctx.value("normalize", true);
    options.content_sha256_header = ctx.value("sign_body", false);
    options.sign_session_token = !ctx.value("omit_session_token", false);

    auto signed_request = sign(request, {key_id, secret, token}, {region, service}, parse_time(ctx["timestamp"]), options);
    ASSERT_TRUE(signed_request.ok()) << signed_request.error().message;
    EXPECT_EQ(signed_request->canonical_request, c["canonical_request"].get<std::string>());
    EXPECT_EQ(signed_request->string_to_sign, c["string_to_sign"].get<std::string>());
    EXPECT_EQ(signed_request->signature, c["signature"].get<std::string>());
    EXPECT_EQ(header_value(signed_request->headers, "Authorization"), c["authorization"].get<std::string>());
    EXPECT_EQ(header_value(signed_request->headers, "X-Amz-Date"), "20150830T123600Z");
    EXPECT_EQ(header_value(signed_request->headers, "X-Amz-Security-Token"), token) << "sent whether signed or not";
    EXPECT_EQ(signed_request->canonical_request.find(secret), std::string::npos);
  }
}

// docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html, "Example: GET Object".
TEST(SigV4, TheS3GetObjectExample) {
  Request request{"GET", "examplebucket.s3.amazonaws.com", "/test.txt", "", {{"Range", "bytes=0-9"}}, ""};
  Options s3;
  s3.normalize_path = false;
  s3.double_encode_path = false;
  s3.content_sha256_header = true;
  auto r = sign(request, {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""}, {"us-east-1", "s3"},
                parse_time("2013-05-24T00:00:00Z"), s3);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(r->signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(header_value(r->headers, "X-Amz-Content-Sha256"), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(SigV4, PathsAndQueriesAsSent) {
  struct Case {
    std::string path, query;
    Options options;
    std::string canonical_uri, canonical_query;
  };
  Options s3;
  s3.normalize_path = false;
  s3.double_encode_path = false;
  const std::vector<Case> cases = {
      // Everything but S3 encodes the path as sent once more: "%20" becomes "%2520".
      {"/a%20b/c", "", {}, "/a%2520b/c", ""},
      {"/a%20b/c", "", s3, "/a%20b/c", ""},
      // S3 signs the path's bytes: an encoded unreserved character is signed as itself.
      {"/%7Euser/key%2Fpart", "", s3, "/~user/key/part", ""},
      {"/a/./b/../c//", "", {}, "/a/c/", ""},
      {"/a/./b/../c//", "", s3, "/a/./b/../c//", ""},
      // The query: decoded, re-encoded (space as %20, '+' as %2B), sorted by key then value.
      {"/", "b=2&a=2&a=1&c", {}, "/", "a=1&a=2&b=2&c="},
      {"/", "q=a%20b+c&x=%2f", {}, "/", "q=a%20b%2Bc&x=%2F"},
      {"/", "&&a=1&", {}, "/", "a=1"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path + "?" + c.query);
    auto r = sign({"GET", "h.example.com", c.path, c.query, {}, ""}, {"AKID", "secret", ""}, {"us-east-1", "svc"},
                  std::chrono::system_clock::from_time_t(0), c.options);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->canonical_request.substr(0, r->canonical_request.find("\nhost:")), "GET\n" + c.canonical_uri + "\n" + c.canonical_query);
  }
}

TEST(SigV4, RefusesWhatCannotBeSignedAndNeverSaysTheSecret) {
  const std::string secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  struct Case {
    const char* what;
    Request request;
    Credentials credentials;
    Scope scope;
  };
  const Request ok{"GET", "example.amazonaws.com", "/", "", {}, ""};
  auto with_header = [&](std::string name, std::string value) {
    Request r = ok;
    r.headers = {{std::move(name), std::move(value)}};
    return r;
  };
  // Credentials and Request hold views: every string they see outlives the table.
  const std::string secret_crlf = secret + "\r\n";
  const Credentials good{"AKIDEXAMPLE", secret, ""};
  const Scope scope{"us-east-1", "service"};
  const std::vector<Case> cases = {
      {"an empty access key id", ok, {"", secret, ""}, scope},
      {"an access key id with a space", ok, {"AKID EXAMPLE", secret, ""}, scope},
      {"an empty secret", ok, {"AKIDEXAMPLE", "", ""}, scope},
      {"a secret with a line break", ok, {"AKIDEXAMPLE", secret_crlf, ""}, scope},
      {"a session token with a line break", ok, {"AKIDEXAMPLE", secret, "tok\nen"}, scope},
      {"an empty region", ok, good, {"", "service"}},
      {"an upper-case region", ok, good, {"US-EAST-1", "service"}},
      {"a region with a slash", ok, good, {"us-east-1/x", "service"}},
      {"an empty service", ok, good, {"us-east-1", ""}},
      {"a header value with CR/LF", with_header("X-Note", "a\r\nInjected: 1"), good, scope},
      {"a header value with a NUL", with_header("X-Note", std::string("a\0b", 3)), good, scope},
      {"a header name with a space", with_header("X Note", "a"), good, scope},
      {"an empty header name", with_header("", "a"), good, scope},
      {"a Host header", with_header("Host", "evil.example"), good, scope},
      {"an Authorization header", with_header("authorization", "x"), good, scope},
      {"an X-Amz-Date header", with_header("X-Amz-Date", "20150830T123600Z"), good, scope},
      {"a path without a leading slash", {"GET", "example.amazonaws.com", "x", "", {}, ""}, good, scope},
      {"a path with a line break", {"GET", "example.amazonaws.com", "/a\nb", "", {}, ""}, good, scope},
      {"a query with a bad escape", {"GET", "example.amazonaws.com", "/", "a=%zz", {}, ""}, good, scope},
      {"an empty host", {"GET", "", "/", "", {}, ""}, good, scope},
      {"a host with a space", {"GET", "a b", "/", "", {}, ""}, good, scope},
      {"a method with a space", {"G T", "example.amazonaws.com", "/", "", {}, ""}, good, scope},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto r = sign(c.request, c.credentials, c.scope, std::chrono::system_clock::from_time_t(0));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().errc, Errc::kInvalidArgument);
    EXPECT_EQ(r.error().code, "invalid_request");
    EXPECT_FALSE(r.error().message.empty());
    EXPECT_EQ(r.error().message.find(secret), std::string::npos);
    EXPECT_EQ(r.error().message.find("EXAMPLEKEY"), std::string::npos);
  }
}

TEST(SigV4, OneChangedByteChangesTheSignature) {
  const Request base{"POST", "sts.amazonaws.com", "/", "Action=GetCallerIdentity", {{"Content-Type", "text/plain"}}, "body"};
  const Credentials key{"AKIDEXAMPLE", "secret", ""};
  const auto at = std::chrono::system_clock::from_time_t(1700000000);
  const std::string reference = sign(base, key, {"us-east-1", "sts"}, at)->signature;
  std::vector<std::pair<const char*, std::string>> changed;
  auto signature_of = [&](Request r, Credentials k = {"AKIDEXAMPLE", "secret", ""}, Scope s = {"us-east-1", "sts"},
                          std::chrono::system_clock::time_point t = std::chrono::system_clock::from_time_t(1700000000)) {
    return sign(r, k, s, t)->signature;
  };
  Request r = base;
  r.method = "PUT";
  changed.emplace_back("method", signature_of(r));
  r = base;
  r.path = "/x";
  changed.emplace_back("path", signature_of(r));
  r = base;
  r.query = "Action=GetCallerIdentitY";
  changed.emplace_back("query", signature_of(r));
  r = base;
  r.body = "bodY";
  changed.emplace_back("body", signature_of(r));
  r = base;
  r.headers[0].second = "text/plaiN";
  changed.emplace_back("a signed header", signature_of(r));
  r = base;
  r.host = "sts.us-east-2.amazonaws.com";
  changed.emplace_back("host", signature_of(r));
  changed.emplace_back("secret", signature_of(base, {"AKIDEXAMPLE", "secreT", ""}));
  changed.emplace_back("region", signature_of(base, key, {"us-east-2", "sts"}));
  changed.emplace_back("service", signature_of(base, key, {"us-east-1", "iam"}));
  changed.emplace_back("time", signature_of(base, key, {"us-east-1", "sts"}, at + 1s));
  for (const auto& [what, signature] : changed) EXPECT_NE(signature, reference) << what;
}

}  // namespace
}  // namespace alter::server::sigv4
