#pragma once
// A fake OAuth 2.0 provider in the test tree, on 127.0.0.1 and a free port: an authorization
// endpoint that approves (or denies) at once, a token endpoint (authorization_code with PKCE S256,
// refresh_token with optional rotation, client_credentials), RFC 7009 revocation, and a small protected API. It counts
// every call and injects faults (invalid_grant, 5xx, held answers), so the vault's refresh logic
// is tested without a real provider and without sleeping.
#include <alter/testing/http_test_server.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>

namespace alter::testing {

class FakeOAuthProvider {
 public:
  struct Options {
    std::string client_id = "fake-client";
    std::string client_secret = "fake-secret-123";
    long expires_in = 3600;
    bool rotate_refresh_tokens = false;
    bool issue_refresh_tokens = true;
    std::string issuer;  // sent as `iss` on the redirect when set
    /// A client_credentials answer carries a refresh token anyway (RFC 6749 says it should not).
    bool client_credentials_refresh_token = false;
  };

  explicit FakeOAuthProvider(Options options);
  FakeOAuthProvider() : FakeOAuthProvider(Options{}) {}
  ~FakeOAuthProvider();

  std::string base_url() const { return server_.base_url(); }
  /// A catalog definition of this provider (for POST /v1/admin/providers or a providers dir).
  nlohmann::json definition(const std::string& id) const;
  /// The same provider as an OAuth 2 client-credentials one (its token endpoint answers
  /// grant_type=client_credentials for the configured client).
  nlohmann::json client_credentials_definition(const std::string& id) const;

  // ---- faults ----
  /// The next `count` token-endpoint calls answer `status` (e.g. 500) with an error body.
  void fail_token_calls(int status, int count);
  /// Every refresh answers invalid_grant until cleared.
  void set_invalid_grant(bool on);
  /// Token-endpoint calls wait (then answer normally) until release(): for "slow provider" and
  /// concurrency tests.
  void hold_token_calls(bool on);
  void release();
  /// Runs `hook` inside every token-endpoint call, before it answers (e.g. moves a fake clock:
  /// "the answer took this long").
  void on_token_call(std::function<void()> hook);
  /// Waits on a condition (no sleeping) until `n` token-endpoint calls arrived.
  bool wait_for_token_calls(int n, std::chrono::milliseconds timeout);
  /// The authorization endpoint answers error=access_denied.
  void set_deny_authorization(bool on);
  /// Every access token issued so far stops working (the API answers 401); refresh tokens still do.
  void forget_access_tokens();
  /// The next `count` API calls answer `status` (429, 503) with `Retry-After: retry_after`.
  void throttle_api_calls(int count, int status, const std::string& retry_after);
  void set_expires_in(long seconds);

  // ---- what happened ----
  int refresh_calls() const { return refresh_calls_; }
  int code_exchanges() const { return code_exchanges_; }
  int revocations() const { return revocations_; }
  int api_calls() const { return api_calls_; }
  int token_calls() const { return token_calls_; }
  int client_token_calls() const { return client_token_calls_; }
  std::vector<RecordedRequest> requests() const { return server_.requests(); }
  /// Makes a grant directly (as if the user had consented): its token set.
  nlohmann::json grant(const std::string& user);
  bool access_token_valid(const std::string& token) const;

 private:
  CannedResponse handle(const RecordedRequest& r);
  CannedResponse authorize(const RecordedRequest& r);
  CannedResponse token(const RecordedRequest& r);
  CannedResponse revoke(const RecordedRequest& r);
  CannedResponse api(const RecordedRequest& r);
  nlohmann::json issue_locked(const std::string& user, bool with_refresh);
  bool client_ok(const RecordedRequest& r, const std::map<std::string, std::string>& form) const;

  Options options_;
  mutable std::mutex mu_;
  struct Code {
    std::string user, redirect_uri, challenge;
  };
  std::map<std::string, Code> codes_;
  std::map<std::string, std::string> refresh_tokens_;  // live refresh token -> user
  std::set<std::string> retired_refresh_tokens_;       // rotated away: reuse kills the grant
  std::map<std::string, std::string> access_tokens_;   // live access token -> user
  int throttle_count_ = 0;
  int throttle_status_ = 0;
  std::string throttle_retry_after_;
  int fail_status_ = 0;
  int fail_count_ = 0;
  bool invalid_grant_ = false;
  bool hold_ = false;
  std::condition_variable cv_;
  bool deny_ = false;
  std::function<void()> on_token_call_;
  std::atomic<int> refresh_calls_{0}, code_exchanges_{0}, revocations_{0}, api_calls_{0}, token_calls_{0}, client_token_calls_{0};
  std::atomic<int> counter_{0};
  HttpTestServer server_;  // last: stops before the state above goes away
};

/// Parses an application/x-www-form-urlencoded body (Boost.URL).
std::map<std::string, std::string> parse_form(const std::string& body);

}  // namespace alter::testing
