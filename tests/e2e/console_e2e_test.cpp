// The web console end to end: a real vault (the alter-vault binary) with a fake OAuth provider, SDK
// calls that wait for a person's approval, and console/console.mjs driving /console/ in headless
// Debian chromium (playwright-core) through every page. The browser side asserts what a person sees
// (see console/console.mjs); this side sets the scene, runs it, and checks through the admin API and
// the SDK that what was clicked really happened: the approved call completed, the denied one got
// PolicyViolationError, the key is revoked, the policy has a new version, nothing secret leaked.
#include <alter/alter.hpp>
#include <alter/testing/fake_oauth_provider.hpp>
#include <alter/testing/server_process.hpp>
#include <alter/testing/temp_dir.hpp>
#include <gtest/gtest.h>

#include "e2e_support.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using alter::testing::FakeOAuthProvider;
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
const std::string kConsoleDir = env_or("ALTER_E2E_CONSOLE_DIR", ALTER_E2E_CONSOLE_DIR);

const char* kPolicy = R"(version = 1

[[rules]]
id = "reads"
effect = "allow"
providers = ["fake"]
methods = ["GET"]
paths = ["/api/**"]

[[rules]]
id = "no-admin"
effect = "deny"
providers = ["fake"]
paths = ["/api/admin/**"]

[[rules]]
id = "writes-need-approval"
effect = "require_approval"
providers = ["fake"]
methods = ["POST"]
paths = ["/api/items/**"]
[rules.approval]
ttl = "10m"
)";

/// The names of the `secrets` whose value is in `text` (never the values themselves).
std::string leaks(const std::string& text, const std::vector<std::pair<std::string, std::string>>& secrets) {
  std::string found;
  for (const auto& [name, value] : secrets) {
    if (!value.empty() && text.find(value) != std::string::npos) found += (found.empty() ? "" : ", ") + name;
  }
  return found;
}

class ConsoleE2E : public ::testing::Test {
 protected:
  static FakeOAuthProvider::Options fake_options() {
    FakeOAuthProvider::Options o;
    o.client_secret = "fake-client-secret-" + random_hex(12);
    return o;
  }

  void SetUp() override {
    for (const auto& [what, path] :
         {std::pair{"node", fs::path(kNode)}, std::pair{"chromium", fs::path(kChromium)},
          std::pair{"alter-vault", fs::path(ALTER_VAULT_BINARY)},
          std::pair{"playwright-core (npm ci)", fs::path(kConsoleDir) / "node_modules/playwright-core"},
          std::pair{"console.mjs", fs::path(kConsoleDir) / "console.mjs"}}) {
      ASSERT_TRUE(fs::exists(path)) << what << " not found at " << path
                                    << " (run through ctest -L e2e: its e2e.console.npm_ci fixture copies "
                                       "tests/e2e/console and runs npm ci; node and chromium come from "
                                       "scripts/install-deps.sh)";
    }
    vault_ = std::make_unique<ServerProcess>(ALTER_VAULT_BINARY, dir_.path() / "vault",
                                             std::map<std::string, std::string>{{"ALTER_VAULT_DEV_MODE", "true"},
                                                                                {"ALTER_VAULT_REFRESH_SKEW", "60s"}});
    vault_->init();
    vault_->start(60s);
    http_ = std::make_unique<HttpClient>(vault_->url());
    // A second vault whose console sessions last 2 s, for the expiry step.
    short_vault_ = std::make_unique<ServerProcess>(
        ALTER_VAULT_BINARY, dir_.path() / "short",
        std::map<std::string, std::string>{{"ALTER_VAULT_DEV_MODE", "true"}, {"ALTER_VAULT_CONSOLE_SESSION_TTL", "2s"}});
    short_vault_->init();
    short_vault_->start(60s);
  }

  void TearDown() override {
    if (HasFailure() && vault_) std::cerr << "---- alter-vault stderr ----\n" << vault_->stderr_text() << "\n";
    for (auto* v : {vault_.get(), short_vault_.get()}) {
      if (v != nullptr && v->running()) {
        EXPECT_EQ(v->stop(), 0) << v->stderr_text();
      }
    }
  }

  HttpAnswer admin(const std::string& method, const std::string& path, const json& body = nullptr) {
    return http_->admin(method, path, vault_->admin_token(), body);
  }

  /// Imports a connection holding a fresh grant of the fake provider; remembers its tokens as secrets.
  std::string import(const std::string& user, long expires_in = 3600) {
    auto g = fake_.grant(user);
    secrets_.emplace_back(user + "'s access token", g["access_token"].get<std::string>());
    secrets_.emplace_back(user + "'s refresh token", g["refresh_token"].get<std::string>());
    auto a = admin("POST", "/v1/admin/apps/default/connections",
                   {{"provider_id", "fake"}, {"attributes", {{"user_id", user}}}, {"access_token", g["access_token"]},
                    {"refresh_token", g["refresh_token"]}, {"expires_in", expires_in}, {"scopes", {"read", "write"}}});
    EXPECT_EQ(a.status, 201) << a.body;
    return a.json.value("id", "");
  }

  json pending() {
    auto a = admin("GET", "/v1/admin/apps/default/approvals?status=pending");
    return a.status == 200 ? a.json["approvals"] : json::array();
  }

  TempDir dir_;
  const FakeOAuthProvider::Options fake_options_ = fake_options();
  FakeOAuthProvider fake_{fake_options_};
  std::unique_ptr<ServerProcess> vault_;
  std::unique_ptr<ServerProcess> short_vault_;
  std::unique_ptr<HttpClient> http_;
  std::vector<std::pair<std::string, std::string>> secrets_;
};

TEST_F(ConsoleE2E, EveryPageInChromiumWhileSdkCallsWaitForApproval) {
  // ---- the scene: a provider, its client secret, a key, a policy, three users' connections ----
  ASSERT_EQ(admin("POST", "/v1/admin/providers", fake_.definition("fake")).status, 201);
  const std::string client_secret = fake_options_.client_secret;
  auto cred = admin("PUT", "/v1/admin/apps/default/providers/fake",
                    {{"client_id", "fake-client"}, {"client_secret", client_secret}});
  ASSERT_EQ(cred.status, 200) << cred.body;
  auto key = admin("POST", "/v1/admin/apps/default/keys", {{"name", "agents"}});
  ASSERT_EQ(key.status, 201) << key.body;
  const std::string api_key = key.json.value("key", "");
  auto policy = admin("PUT", "/v1/admin/apps/default/policy", {{"document", kPolicy}, {"format", "toml"}});
  ASSERT_EQ(policy.status, 201) << policy.body;
  const std::string alice = import("alice");
  const std::string carol = import("carol");
  // bob's grant is spent at the provider: the refresh finds invalid_grant and he must reconnect.
  const std::string bob = import("bob", 30);
  fake_.set_invalid_grant(true);
  EXPECT_NE(admin("POST", "/v1/admin/connections/" + bob + "/refresh").status, 200);
  fake_.set_invalid_grant(false);
  ASSERT_EQ(admin("GET", "/v1/admin/connections/" + bob).json.value("status", ""), "reauth_required");

  const std::string provider_secret = "console-typed-secret-" + random_hex(16);
  secrets_.emplace_back("the admin credential", vault_->admin_token());
  secrets_.emplace_back("the short vault's admin credential", short_vault_->admin_token());
  secrets_.emplace_back("the agents' API key", api_key);
  secrets_.emplace_back("the provider client secret", client_secret);
  secrets_.emplace_back("the secret typed in the console", provider_secret);

  // ---- an agent: an allowed read, a denied read, then two writes that wait for a person ----
  alter::VaultOptions o;
  o.api_key = api_key;
  o.base_url = vault_->url();
  o.actor_type = "ai_agent";
  o.actor_identifier = "console-e2e-agent";
  o.actor_name = "Console E2E Agent";
  o.always_proxy = true;
  o.timeout = 30s;
  alter::Vault agent(o);
  const std::string api = fake_.base_url() + "/api";
  EXPECT_EQ(agent.request("fake", alter::HttpMethod::Get, api + "/me", {.user = {{"user_id", "alice"}}, .reason = "read profile"})
                .status_code(),
            200);
  // Enough rows for the audit page to have a second page of 25.
  for (int i = 0; i < 25; ++i) {
    agent.request("fake", alter::HttpMethod::Get, api + "/me", {.user = {{"user_id", "carol"}}, .reason = "sync " + std::to_string(i)});
  }
  EXPECT_THROW(agent.request("fake", alter::HttpMethod::Get, api + "/admin/users", {.user = {{"user_id", "alice"}}, .reason = "list admins"}),
               alter::PolicyViolationError);
  const int calls_before = fake_.api_calls();

  std::atomic<int> finished{0};  // SDK calls that returned
  std::atomic<int> approved_status{0};
  std::string approved_error;
  std::thread approve_me([&] {
    try {
      approved_status = agent
                            .request("fake", alter::HttpMethod::Post, api + "/items/approve-me",
                                     {.user = {{"user_id", "alice"}},
                                      .json = json{{"title", "Weekly report"}, {"body", "Numbers for the week"}},
                                      .reason = "file the weekly report",
                                      .wait_for_approval = 150s})
                            .status_code();
    } catch (const std::exception& e) {
      approved_error = e.what();
    }
    ++finished;
  });
  // The second write starts once the console's approval page is open, so the page must show it
  // by itself (it polls) for the browser to find it.
  const fs::path signals = dir_.path() / "signals";
  fs::create_directories(signals);
  std::atomic<bool> give_up{false};
  std::string denied_code;
  std::string denied_other;
  std::thread deny_me([&] {
    eventually([&] { return give_up.load() || fs::exists(signals / "approvals-open"); }, 180s);
    if (give_up && !fs::exists(signals / "approvals-open")) {
      ++finished;
      return;
    }
    try {
      agent.request("fake", alter::HttpMethod::Post, api + "/items/deny-me",
                    {.user = {{"user_id", "alice"}}, .json = json{{"title", "Delete everything"}},
                     .reason = "tidy up", .wait_for_approval = 150s});
      denied_other = "the denied call went through";
    } catch (const alter::PolicyViolationError& e) {
      denied_code = e.policy_error();
    } catch (const std::exception& e) {
      denied_other = e.what();
    }
    ++finished;
  });
  ASSERT_TRUE(eventually([&] { return pending().size() == 1; }, 30s)) << "the first write never waited for approval";

  // ---- the browser ----
  const fs::path shots = env_or("ALTER_CONSOLE_SCREENSHOTS", (dir_.path() / "screenshots").c_str());
  json secret_values = json::array();
  for (const auto& [name, value] : secrets_) secret_values.push_back(value);
  auto run = alter::testing::run_command(
      {kNode, (fs::path(kConsoleDir) / "console.mjs").string()},
      {{"ALTER_CONSOLE_URL", vault_->url()},
       {"ALTER_CONSOLE_ADMIN_TOKEN", vault_->admin_token()},
       {"ALTER_CONSOLE_SHORT_URL", short_vault_->url()},
       {"ALTER_CONSOLE_SHORT_ADMIN_TOKEN", short_vault_->admin_token()},
       {"ALTER_CONSOLE_PROVIDER_URL", fake_.base_url()},
       {"ALTER_CONSOLE_ALICE", alice},
       {"ALTER_CONSOLE_BOB", bob},
       {"ALTER_CONSOLE_CAROL", carol},
       {"ALTER_CONSOLE_PROVIDER_SECRET", provider_secret},
       {"ALTER_CONSOLE_SECRETS", secret_values.dump()},
       {"ALTER_CONSOLE_SIGNALS", signals.string()},
       {"ALTER_CONSOLE_SCREENSHOTS", shots.string()},
       {"ALTER_E2E_CHROMIUM", kChromium}});
  // Whatever the browser did not decide (it failed half way) is denied, so the waiting calls end now.
  give_up = true;
  eventually(
      [&] {
        for (const auto& a : pending()) admin("POST", "/v1/admin/approvals/" + a.value("id", "") + "/deny");
        return finished.load() == 2;
      },
      200s, 200ms);
  approve_me.join();
  deny_me.join();
  // The driver's log names steps and counts, never a secret; show it on failure.
  EXPECT_EQ(leaks(run.out + run.err, secrets_), "") << "console.mjs printed a secret";
  ASSERT_EQ(run.exit_code, 0) << "console.mjs failed:\n" << run.err << "\n" << run.out;
  json report;
  const auto last_line = run.out.find_last_of('\n', run.out.size() >= 2 ? run.out.size() - 2 : 0);
  ASSERT_NO_THROW(report = json::parse(run.out.substr(last_line == std::string::npos ? 0 : last_line + 1))) << run.out;
  std::cerr << run.err;

  // ---- what was clicked happened ----
  // Approved: the waiting SDK call completed, once, at the provider.
  EXPECT_EQ(approved_error, "");
  EXPECT_EQ(approved_status.load(), 200);
  // Denied: the waiting call failed with a policy error and never reached the provider.
  EXPECT_EQ(denied_other, "");
  EXPECT_FALSE(denied_code.empty());
  // approve-me once; the console's refresh of alice is a token call, not an API call.
  EXPECT_EQ(fake_.api_calls() - calls_before, 1);
  auto decided = admin("GET", "/v1/admin/apps/default/approvals");
  int approved = 0, denied = 0;
  for (const auto& a : decided.json["approvals"]) {
    const std::string url = a["request"].value("url", "");
    if (url.find("approve-me") != std::string::npos && a.value("status", "") != "pending") approved += a["status"] == "approved" || a["status"] == "used";
    if (url.find("deny-me") != std::string::npos) denied += a["status"] == "denied";
  }
  EXPECT_EQ(approved, 1) << decided.body;
  EXPECT_EQ(denied, 1) << decided.body;
  // Its audit row: the proxied call, for alice, by the agent, with its reason.
  auto rows = admin("GET", "/v1/admin/audit?kind=api_call&limit=500");
  bool call_row = false;
  for (const auto& e : rows.json["events"]) {
    call_row = call_row || (e.value("url", "").find("approve-me") != std::string::npos && e.value("reason", "") == "file the weekly report");
  }
  EXPECT_TRUE(call_row) << rows.body;

  // The key made in the console exists and is revoked; carol's connection is gone, revoked at the
  // provider; the app and its credential exist (secret set, never readable); the policy has a
  // second version; the CSRF probe created nothing.
  const std::string made_key = report.value("created_key_id", "");
  ASSERT_FALSE(made_key.empty()) << run.out;
  bool revoked = false;
  auto keys = admin("GET", "/v1/admin/apps/default/keys");
  for (const auto& k : keys.json["keys"]) {
    if (k.value("id", "") == made_key) revoked = k.value("revoked", false);
  }
  EXPECT_TRUE(revoked) << made_key << " in " << keys.body;
  EXPECT_EQ(admin("GET", "/v1/admin/connections/" + carol).status, 404);
  EXPECT_EQ(fake_.revocations(), 2) << "carol's access and refresh tokens";
  auto made_app = admin("GET", "/v1/admin/apps/console-made/providers");
  ASSERT_EQ(made_app.status, 200) << made_app.body;
  ASSERT_EQ(made_app.json["providers"].size(), 1u) << made_app.body;
  EXPECT_EQ(made_app.json["providers"][0].value("client_id", ""), "made-in-the-console");
  EXPECT_EQ(made_app.json["providers"][0].value("has_client_secret", false), true);
  auto versions = admin("GET", "/v1/admin/apps/default/policies");
  EXPECT_EQ(versions.json["versions"].size(), 2u) << versions.body;
  EXPECT_EQ(admin("GET", "/v1/admin/apps/csrf-probe").status, 404);

  // ---- nothing secret anywhere it could be read ----
  auto exported = admin("GET", "/v1/admin/audit/export");
  EXPECT_EQ(exported.status, 200);
  EXPECT_EQ(leaks(exported.body, secrets_), "") << "in the audit export";
  EXPECT_EQ(leaks(admin("GET", "/metrics").body + http_->send("GET", "/metrics").body, secrets_), "") << "in the metrics";
  EXPECT_EQ(leaks(vault_->stderr_text() + short_vault_->stderr_text(), secrets_), "") << "in the vaults' logs";
  EXPECT_GE(report.value("screenshots", json::array()).size(), 7u) << run.out;
}

}  // namespace
