// End to end against a real OAuth server that nobody here wrote: the `oidc-provider` npm package on
// loopback (tests/e2e/oidc/peer.mjs), with a confidential client registered for the vault.
//
// Headless Debian chromium (playwright-core, tests/e2e/oidc/connect.mjs) opens the vault's connect
// URL, signs in and consents on oidc-provider's own pages and lands on the vault's success page.
// The SDK then calls oidc-provider's userinfo endpoint through the vault and gets that user's
// subject. Then the access token really expires (the provider's introspection says so) and the vault
// refreshes it with the real refresh_token grant (rotating), and the next SDK call still works.
//
// No fixed ports (the vault and the peer bind port 0), no wall-clock sleeps (the test waits for
// events: a process's "ready" line, the provider reporting the token inactive), no internet (the
// browser can reach 127.0.0.1 only).
#include <alter/alter.hpp>
#include <alter/testing/encoding.hpp>
#include <alter/testing/server_process.hpp>
#include <alter/testing/temp_dir.hpp>
#include <gtest/gtest.h>

#include "e2e_support.hpp"
#include <openssl/rand.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using alter::testing::HttpAnswer;
using alter::testing::HttpClient;
using alter::testing::ServerProcess;
using alter::testing::TempDir;
using nlohmann::json;
using alter::e2e::env_or;
using alter::e2e::eventually;
using alter::e2e::random_hex;

const std::string kNode = env_or("ALTER_E2E_NODE", ALTER_E2E_NODE);
const std::string kChromium = env_or("ALTER_E2E_CHROMIUM", ALTER_E2E_CHROMIUM);
const std::string kOidcDir = env_or("ALTER_E2E_OIDC_DIR", ALTER_E2E_OIDC_DIR);
constexpr int kAccessTokenTtlSeconds = 5;

// application/x-www-form-urlencoded, as RFC 6749 section 2.3.1 wants for client_secret_basic.
std::string form_escape(const std::string& in) {
  std::string out;
  for (unsigned char c : in) {
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// "2026-01-02T03:04:05.678Z" (the vault's iso8601) -> time_point; nullopt when malformed.
std::optional<std::chrono::system_clock::time_point> parse_iso8601(const std::string& s) {
  std::tm tm{};
  int millis = 0;
  char z = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &millis, &z) != 8 ||
      z != 'Z') {
    millis = 0;
    if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                    &tm.tm_min, &tm.tm_sec, &z) != 7 ||
        z != 'Z') {
      return std::nullopt;
    }
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return std::chrono::system_clock::from_time_t(timegm(&tm)) + std::chrono::milliseconds(millis);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// A Node.js process (the OAuth peer): started with a pipe on stdin (closing it makes the peer
/// exit, so even a crashed test leaves none behind), stdout read until its "ready URL" line,
/// stderr in a file. Stopped with SIGTERM (then SIGKILL) by stop() or the destructor.
class NodeProcess {
 public:
  NodeProcess(std::vector<std::string> argv, fs::path stderr_file)
      : argv_(std::move(argv)), stderr_file_(std::move(stderr_file)) {}
  ~NodeProcess() { stop(); }
  NodeProcess(const NodeProcess&) = delete;
  NodeProcess& operator=(const NodeProcess&) = delete;

  /// Starts the process and returns the URL of its "ready URL" line (throws after `timeout`).
  std::string start(std::chrono::milliseconds timeout) {
    int in_pipe[2], out_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    const int err_fd = ::open(stderr_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    std::vector<char*> args;
    for (auto& a : argv_) args.push_back(a.data());
    args.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(in_pipe[0], 0);
      ::dup2(out_pipe[1], 1);
      if (err_fd >= 0) ::dup2(err_fd, 2);
      ::execve(args[0], args.data(), environ);
      _exit(127);
    }
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    if (err_fd >= 0) ::close(err_fd);
    if (pid < 0) {
      ::close(in_pipe[1]);
      ::close(out_pipe[0]);
      throw std::runtime_error("fork failed");
    }
    pid_ = pid;
    stdin_fd_ = in_pipe[1];
    stdout_fd_ = out_pipe[0];
    std::string seen;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{stdout_fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[512];
      const ssize_t n = ::read(stdout_fd_, buf, sizeof buf);
      if (n <= 0) break;
      seen.append(buf, static_cast<std::size_t>(n));
      const auto pos = seen.find("ready ");
      const auto eol = pos == std::string::npos ? std::string::npos : seen.find('\n', pos);
      if (eol != std::string::npos) return seen.substr(pos + 6, eol - pos - 6);
    }
    stop();
    throw std::runtime_error("the OAuth peer did not start; stdout: " + seen + "\nstderr: " + stderr_text());
  }

  void stop() {
    if (stdin_fd_ >= 0) ::close(stdin_fd_);
    stdin_fd_ = -1;
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      bool gone = false;
      while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
          gone = true;
          break;
        }
        ::usleep(10000);  // waitpid has no timeout
      }
      if (!gone) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
      pid_ = -1;
    }
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
    stdout_fd_ = -1;
  }

  std::string stderr_text() const { return read_file(stderr_file_); }

 private:
  std::vector<std::string> argv_;
  fs::path stderr_file_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
};

class OidcProviderE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& [what, path] : {std::pair{"node", fs::path(kNode)}, std::pair{"chromium", fs::path(kChromium)},
                                     std::pair{"alter-vault", fs::path(ALTER_VAULT_BINARY)},
                                     std::pair{"oidc-provider (npm ci)", fs::path(kOidcDir) / "node_modules/oidc-provider"},
                                     std::pair{"playwright-core (npm ci)", fs::path(kOidcDir) / "node_modules/playwright-core"},
                                     std::pair{"peer.mjs", fs::path(kOidcDir) / "peer.mjs"}}) {
      ASSERT_TRUE(fs::exists(path)) << what << " not found at " << path
                                    << " (run through ctest -L e2e: its e2e.oidc.npm_ci fixture copies tests/e2e/oidc "
                                       "and runs npm ci; node and chromium come from scripts/install-deps.sh)";
    }

    // The vault first: the peer's client needs the vault's callback URL.
    vault_ = std::make_unique<ServerProcess>(ALTER_VAULT_BINARY, dir_.path() / "vault",
                                             std::map<std::string, std::string>{
                                                 // loopback http provider URLs (oidc-provider is plain http here)
                                                 {"ALTER_VAULT_DEV_MODE", "true"},
                                                 // refresh decided by the token's real expiry, not far ahead of it
                                                 {"ALTER_VAULT_REFRESH_SKEW", "1s"}});
    vault_->init();
    vault_->start(60s);
    http_ = std::make_unique<HttpClient>(vault_->url());

    // A secret with characters that client_secret_basic must form-encode (RFC 6749 2.3.1).
    client_secret_ = "e2e:+/=%&-" + random_hex(16);
    peer_ = std::make_unique<NodeProcess>(
        std::vector<std::string>{kNode, (fs::path(kOidcDir) / "peer.mjs").string(), "--client-id", client_id_,
                                 "--client-secret", client_secret_, "--redirect-uri", vault_->url() + "/oauth/callback",
                                 "--access-token-ttl", std::to_string(kAccessTokenTtlSeconds)},
        dir_.path() / "peer.stderr.log");
    peer_url_ = peer_->start(60s);
    peer_http_ = std::make_unique<HttpClient>(peer_url_);
  }

  void TearDown() override {
    if (HasFailure()) {
      if (peer_) std::cerr << "---- oidc-provider peer stderr ----\n" << peer_->stderr_text() << "\n";
      if (vault_) std::cerr << "---- alter-vault stderr ----\n" << vault_->stderr_text() << "\n";
    }
    if (vault_ && vault_->running()) {
      EXPECT_EQ(vault_->stop(), 0) << vault_->stderr_text();
    }
    if (peer_) peer_->stop();
  }

  HttpAnswer admin(const std::string& method, const std::string& path, const json& body = nullptr) {
    return http_->admin(method, path, vault_->admin_token(), body);
  }

  /// RFC 7662 introspection at the provider, authenticated as the vault's client.
  json introspect(const std::string& token) {
    auto a = peer_http_->send("POST", "/token/introspection", "token=" + form_escape(token),
                              {{"Content-Type", "application/x-www-form-urlencoded"},
                               {"Authorization", "Basic " + alter::testing::base64(form_escape(client_id_) + ":" + form_escape(client_secret_))}});
    EXPECT_EQ(a.status, 200) << a.body;
    return a.json.is_object() ? a.json : json::object();
  }

  json peer_stats() {
    auto a = peer_http_->send("GET", "/test/stats");
    EXPECT_EQ(a.status, 200) << a.body;
    return a.json.is_object() ? a.json : json::object();
  }

  static int grants(const json& stats, const std::string& type, const std::string& outcome) {
    if (!stats.contains("token_grants") || !stats["token_grants"].contains(type)) return 0;
    return stats["token_grants"][type].value(outcome, 0);
  }

  /// The token the vault hands out for GET <peer>/me (what the SDK does first on each call).
  HttpAnswer vault_token() {
    return http_->send("POST", "/oauth/token",
                       json{{"provider_id", "oidc"}, {"attributes", {{"user_id", "alice"}}}, {"method", "GET"},
                            {"url", peer_url_ + "/me"}}
                           .dump(),
                       {{"x-api-key", api_key_}, {"Content-Type", "application/json"}});
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> vault_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<NodeProcess> peer_;
  std::unique_ptr<HttpClient> peer_http_;
  std::string peer_url_;
  const std::string client_id_ = "alter-vault-e2e";
  std::string client_secret_;
  std::string api_key_;
};

TEST_F(OidcProviderE2E, BrowserConnectThenUserinfoThroughTheVaultThenRealExpiryAndRefresh) {
  // ---- the peer is the real thing, on the port it announced ----
  auto discovery = peer_http_->send("GET", "/.well-known/openid-configuration");
  ASSERT_EQ(discovery.status, 200) << discovery.body;
  ASSERT_EQ(discovery.json.value("issuer", ""), peer_url_);
  EXPECT_EQ(discovery.json.value("authorization_response_iss_parameter_supported", false), true);

  // ---- the vault: oidc-provider as a custom provider, its client credentials, a key, a policy ----
  const json provider = {{"id", "oidc"},
                         {"display_name", "OIDC test peer"},
                         {"docs_url", "https://github.com/panva/node-oidc-provider"},
                         {"authorization_url", discovery.json["authorization_endpoint"]},
                         {"token_url", discovery.json["token_endpoint"]},
                         {"revocation_url", discovery.json["revocation_endpoint"]},
                         {"userinfo_url", discovery.json["userinfo_endpoint"]},
                         {"issuer", peer_url_},
                         {"default_scopes", {"openid", "offline_access"}},
                         {"scope_separator", " "},
                         {"pkce", true},
                         {"client_auth", "basic"},
                         {"token_request_format", "form"},
                         // oidc-provider keeps offline_access (a refresh token) only under prompt=consent
                         {"authorization_params", {{"prompt", "consent"}}},
                         {"api_hosts", {"127.0.0.1"}},
                         {"refresh", "rotates"}};
  ASSERT_EQ(discovery.json.value("userinfo_endpoint", ""), peer_url_ + "/me");
  auto created = admin("POST", "/v1/admin/providers", provider);
  ASSERT_EQ(created.status, 201) << created.body;
  auto cred = admin("PUT", "/v1/admin/apps/default/providers/oidc",
                    {{"client_id", client_id_}, {"client_secret", client_secret_}});
  ASSERT_EQ(cred.status, 200) << cred.body;
  // The test reads the token the vault holds (to introspect it at the provider): the default app
  // hands tokens out here. The SDK's calls below go through the proxy all the same.
  ASSERT_EQ(admin("PATCH", "/v1/admin/apps/default", {{"settings", {{"token_handout", true}}}}).status, 200);
  auto key = admin("POST", "/v1/admin/apps/default/keys", {{"name", "e2e"}});
  ASSERT_EQ(key.status, 201) << key.body;
  api_key_ = key.json.value("key", "");
  ASSERT_FALSE(api_key_.empty());
  auto policy = admin("PUT", "/v1/admin/apps/default/policy", {{"format", "toml"}, {"document", R"(
version = 1
[[rules]]
id = "oidc-userinfo"
effect = "allow"
providers = ["oidc"]
methods = ["GET"]
paths = ["/me"]
)"}});
  ASSERT_EQ(policy.status, 201) << policy.body;

  // ---- connect: Chromium through oidc-provider's own login and consent pages ----
  auto session = admin("POST", "/v1/admin/apps/default/connect-sessions",
                       {{"provider_id", "oidc"}, {"attributes", {{"user_id", "alice"}}}});
  ASSERT_EQ(session.status, 201) << session.body;
  const std::string connect_url = session.json.value("connect_url", "");
  ASSERT_EQ(connect_url.rfind(vault_->url() + "/connect/", 0), 0u) << connect_url;

  // The login name becomes the provider's subject: unique per run, so the sub can only come from
  // this sign-in.
  const std::string login = "alice-" + random_hex(6);
  const auto browser_started = std::chrono::steady_clock::now();
  auto browser = alter::testing::run_command({kNode, (fs::path(kOidcDir) / "connect.mjs").string(), "--connect-url",
                                              connect_url, "--vault-url", vault_->url(), "--login", login,
                                              "--chromium", kChromium, "--timeout-ms", "60000"});
  ASSERT_EQ(browser.exit_code, 0) << "connect.mjs failed:\n" << browser.err << browser.out;
  std::cerr << "browser flow took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - browser_started).count()
            << " ms\n";
  const json landed = json::parse(browser.out, nullptr, false);
  ASSERT_TRUE(landed.is_object()) << browser.out << browser.err;
  EXPECT_EQ(landed.value("title", ""), "Connected to OIDC test peer");
  const std::string connection_id = landed.value("connection_id", "");
  ASSERT_FALSE(connection_id.empty()) << landed.dump();
  // Both of the provider's own pages were shown and answered, in order.
  ASSERT_EQ(landed["provider_pages"].size(), 2u) << landed.dump();
  EXPECT_EQ(landed["provider_pages"][0].value("prompt", ""), "login");
  EXPECT_EQ(landed["provider_pages"][0].value("url", "").rfind(peer_url_ + "/interaction/", 0), 0u);
  EXPECT_EQ(landed["provider_pages"][1].value("prompt", ""), "consent");
  EXPECT_EQ(landed["provider_pages"][1].value("url", "").rfind(peer_url_ + "/interaction/", 0), 0u);
  // The provider's answer carried its issuer (RFC 9207), which the vault checks.
  const std::string callback_url = landed.value("callback_url", "");
  ASSERT_EQ(callback_url.rfind(vault_->url() + "/oauth/callback?", 0), 0u) << callback_url;
  EXPECT_NE(callback_url.find("iss=" + form_escape(peer_url_)), std::string::npos) << callback_url;
  EXPECT_NE(callback_url.find("code="), std::string::npos) << callback_url;

  auto connection = admin("GET", "/v1/admin/connections/" + connection_id);
  ASSERT_EQ(connection.status, 200) << connection.body;
  EXPECT_EQ(connection.json.value("provider_id", ""), "oidc");
  EXPECT_EQ(connection.json.value("status", ""), "active");
  EXPECT_EQ(connection.json["attributes"], json({{"user_id", "alice"}}));
  EXPECT_EQ(connection.json["scopes"], json({"openid", "offline_access"})) << connection.body;
  ASSERT_TRUE(connection.json["expires_at"].is_string()) << connection.body;  // an expiring token...
  EXPECT_EQ(connection.body.find("access_token"), std::string::npos);  // no tokens in admin answers
  auto connected = admin("GET", "/v1/admin/audit?kind=connect&connection=" + connection_id);
  ASSERT_EQ(connected.status, 200) << connected.body;
  ASSERT_EQ(connected.json["events"].size(), 1u) << connected.body;
  EXPECT_EQ(connected.json["events"][0].value("decision", ""), "connected");
  EXPECT_EQ(connected.json["events"][0].value("details", json::object()).value("refresh_token", false), true)  // ...and a refresh token
      << connected.body;
  json stats = peer_stats();
  EXPECT_EQ(grants(stats, "authorization_code", "ok"), 1) << stats.dump();
  EXPECT_EQ(grants(stats, "authorization_code", "failed"), 0) << stats.dump();

  // ---- the same callback again (a replayed answer): refused, nothing exchanged ----
  auto replay = http_->send("GET", callback_url.substr(vault_->url().size()));
  EXPECT_EQ(replay.status, 400) << replay.body;
  EXPECT_NE(replay.body.find("already used"), std::string::npos) << replay.body;
  EXPECT_EQ(replay.body.find("data-connection-id"), std::string::npos) << replay.body;
  stats = peer_stats();
  EXPECT_EQ(grants(stats, "authorization_code", "ok") + grants(stats, "authorization_code", "failed"), 1) << stats.dump();

  // ---- the SDK calls oidc-provider's userinfo through the vault for alice ----
  alter::VaultOptions options;
  options.api_key = api_key_;
  options.base_url = vault_->url();
  options.timeout = 30s;
  alter::Vault sdk(options);
  {
    auto me = sdk.request("oidc", alter::HttpMethod::Get, peer_url_ + "/me", {.user = {{"user_id", "alice"}}});
    ASSERT_EQ(me.status_code(), 200) << me.text();
    EXPECT_EQ(me.json().value("sub", ""), login) << me.text();
  }
  // ... and through the vault's proxy: the vault makes the call, the token never leaves it.
  {
    auto me = sdk.proxy_request("oidc", alter::HttpMethod::Get, peer_url_ + "/me", {.user = {{"user_id", "alice"}}});
    ASSERT_EQ(me.status_code(), 200) << me.text();
    EXPECT_EQ(me.json().value("sub", ""), login) << me.text();
    auto calls = admin("GET", "/v1/admin/audit?kind=api_call&request_id=" + me.request_id());
    ASSERT_EQ(calls.json.value("events", json::array()).size(), 1u) << calls.body;
    EXPECT_EQ(calls.json["events"][0].value("via", ""), "proxy");
    EXPECT_EQ(calls.json["events"][0].value("response_status", 0), 200);
  }

  // ---- the access token expires for real ----
  // The token the vault holds now, as the provider sees it.
  auto before = vault_token();
  ASSERT_EQ(before.status, 200) << before.body;
  const std::string old_token = before.json.value("access_token", "");
  ASSERT_FALSE(old_token.empty());
  const auto old_expires_at = parse_iso8601(before.json.value("expires_at", ""));
  ASSERT_TRUE(old_expires_at.has_value()) << before.body;
  const json live = introspect(old_token);
  ASSERT_EQ(live.value("active", false), true) << live.dump();
  EXPECT_EQ(live.value("sub", ""), login);
  EXPECT_EQ(live.value("client_id", ""), client_id_);
  EXPECT_EQ(live.value("iss", ""), peer_url_);
  const int refreshes_before = grants(peer_stats(), "refresh_token", "ok");

  // Wait for the event, not for a time: the provider reports the token inactive (it expired; a
  // refresh does not revoke it) and the vault's own expiry for it has passed too.
  const auto wait_started = std::chrono::steady_clock::now();
  const bool expired = eventually(
      [&] {
        return std::chrono::system_clock::now() >= *old_expires_at && !introspect(old_token).value("active", true);
      },
      60s);
  ASSERT_TRUE(expired) << "the provider still reports the vault's access token active";
  std::cerr << "waited "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - wait_started).count()
            << " ms for the access token to expire\n";
  // The provider refuses it now.
  auto refused = peer_http_->send("GET", "/me", "", {{"Authorization", "Bearer " + old_token}});
  EXPECT_EQ(refused.status, 401) << refused.body;

  // ---- the next SDK call still works: the vault refreshed with the real refresh_token grant ----
  {
    auto me = sdk.proxy_request("oidc", alter::HttpMethod::Get, peer_url_ + "/me", {.user = {{"user_id", "alice"}}});
    ASSERT_EQ(me.status_code(), 200) << me.text();
    EXPECT_EQ(me.json().value("sub", ""), login) << me.text();
  }
  stats = peer_stats();
  EXPECT_GT(grants(stats, "refresh_token", "ok"), refreshes_before) << stats.dump();
  // Rotation without a replayed refresh token: a replay would be invalid_grant (and revoke the grant).
  EXPECT_EQ(grants(stats, "refresh_token", "failed"), 0) << stats.dump();
  EXPECT_GE(stats.value("userinfo", json::object()).value("ok", 0), 2) << stats.dump();

  auto after = vault_token();
  ASSERT_EQ(after.status, 200) << after.body;
  const std::string new_token = after.json.value("access_token", "");
  EXPECT_NE(new_token, old_token);
  const json fresh = introspect(new_token);
  EXPECT_EQ(fresh.value("active", false), true) << fresh.dump();
  EXPECT_EQ(fresh.value("sub", ""), login);

  auto refreshed = admin("GET", "/v1/admin/audit?kind=refresh&connection=" + connection_id);
  ASSERT_EQ(refreshed.status, 200) << refreshed.body;
  ASSERT_FALSE(refreshed.json["events"].empty()) << refreshed.body;
  for (const auto& e : refreshed.json["events"]) {
    EXPECT_EQ(e.value("decision", ""), "refreshed") << e.dump();
    EXPECT_EQ(e.value("details", json::object()).value("rotated", false), true) << e.dump();  // oidc-provider rotates every time
  }
  // Which of the vault's two refresh paths made the grant is timing (its background refresher also
  // renews tokens due within the skew, every 5 s); both are the real grant. Shown for the log.
  auto issued = admin("GET", "/v1/admin/audit?kind=token&connection=" + connection_id);
  int refreshed_in_request = 0;
  for (const auto& e : issued.json.value("events", json::array())) {
    const json details = e.value("details", json::object());
    if (details.is_object() && details.value("refreshed", false)) ++refreshed_in_request;
  }
  std::cerr << refreshed.json["events"].size() << " refresh(es), " << refreshed_in_request
            << " of them in an SDK request's path, the others by the background refresher\n";

  connection = admin("GET", "/v1/admin/connections/" + connection_id);
  ASSERT_EQ(connection.status, 200) << connection.body;
  EXPECT_EQ(connection.json.value("status", ""), "active");
  const auto new_expires_at = parse_iso8601(connection.json.value("expires_at", ""));
  ASSERT_TRUE(new_expires_at.has_value()) << connection.body;
  EXPECT_GT(*new_expires_at, *old_expires_at);

  // ---- a token the provider dropped while the vault still thinks it fresh: the proxy's 401 path ----
  {
    // (RFC 7009 revocation of the access token would revoke the whole grant at oidc-provider.)
    auto dropped = peer_http_->send("POST", "/test/drop-access-token", "token=" + form_escape(new_token),
                                    {{"Content-Type", "application/x-www-form-urlencoded"}});
    ASSERT_EQ(dropped.status, 200) << dropped.body;
    ASSERT_EQ(dropped.json.value("dropped", false), true) << dropped.body;
    ASSERT_EQ(introspect(new_token).value("active", true), false);
    const int refreshes = grants(peer_stats(), "refresh_token", "ok");
    auto me = sdk.proxy_request("oidc", alter::HttpMethod::Get, peer_url_ + "/me", {.user = {{"user_id", "alice"}}});
    ASSERT_EQ(me.status_code(), 200) << me.text();
    EXPECT_EQ(me.json().value("sub", ""), login) << me.text();
    EXPECT_EQ(me.header("x-alter-attempts").value_or(""), "2");  // 401, refresh, sent again
    EXPECT_EQ(grants(peer_stats(), "refresh_token", "ok"), refreshes + 1);
  }

  // ---- disconnect: the vault revokes at the provider (RFC 7009) ----
  auto deleted = admin("DELETE", "/v1/admin/connections/" + connection_id);
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(deleted.json.value("revocation", json::object()).value("attempted", false), true) << deleted.body;
  EXPECT_EQ(deleted.json.value("revocation", json::object()).value("ok", false), true) << deleted.body;
  const json revoked = introspect(new_token);
  EXPECT_EQ(revoked.value("active", true), false) << revoked.dump();

  sdk.close();
}

}  // namespace
