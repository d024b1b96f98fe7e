#pragma once
// A running alter-vault binary with a fake OAuth provider behind it, for integration tests.
#include <alter/alter.hpp>
#include <alter/testing/fake_oauth_provider.hpp>
#include <alter/testing/server_process.hpp>
#include <alter/testing/temp_dir.hpp>
#include <gtest/gtest.h>

namespace alter::testing {

inline const char* kPolicy = R"(
version = 1
[[rules]]
id = "fake-read"
effect = "allow"
providers = ["fake"]
methods = ["GET"]
paths = ["/api/**"]

[[rules]]
id = "fake-no-admin"
effect = "deny"
providers = ["fake"]
paths = ["/api/admin/**"]
)";

class VaultFixture : public ::testing::Test {
 public:
  explicit VaultFixture(FakeOAuthProvider::Options fake_options = {}) : fake_(fake_options) {}

  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(ALTER_VAULT_BINARY, dir_.path() / "data", env_);
    server_->init();
    server_->start();
    http_ = std::make_unique<HttpClient>(server_->url());
    ASSERT_EQ(admin("POST", "/v1/admin/providers", fake_.definition("fake")).status, 201);
    ASSERT_EQ(admin("PUT", "/v1/admin/apps/default/providers/fake",
                    {{"client_id", "fake-client"}, {"client_secret", "fake-secret-123"}})
                  .status,
              200);
    // These suites exercise the token handout (POST /oauth/token), off for a new app since the
    // proxy: the default app turns it on, as an upgraded installation has it.
    ASSERT_EQ(admin("PATCH", "/v1/admin/apps/default", {{"settings", {{"token_handout", true}}}}).status, 200);
    api_key_ = new_key("default");
    apply_policy("default", kPolicy);
  }

  void TearDown() override {
    if (server_ && server_->running()) {
      EXPECT_EQ(server_->stop(), 0) << server_->stderr_text();
    }
  }

  HttpAnswer admin(const std::string& method, const std::string& path, const nlohmann::json& body = nullptr) {
    return http_->admin(method, path, server_->admin_token(), body);
  }

  std::string new_key(const std::string& app) {
    auto a = admin("POST", "/v1/admin/apps/" + app + "/keys", {{"name", "test"}});
    EXPECT_EQ(a.status, 201) << a.body;
    return a.json.value("key", "");
  }

  void apply_policy(const std::string& app, const std::string& doc) {
    auto a = admin("PUT", "/v1/admin/apps/" + app + "/policy", {{"document", doc}, {"format", "toml"}});
    ASSERT_EQ(a.status, 201) << a.body;
  }

  /// Imports a connection holding a fresh grant of the fake provider; returns its id.
  std::string import(const nlohmann::json& attributes, long expires_in = 3600, bool with_refresh = true,
                     const std::string& app = "default") {
    auto g = fake_.grant(attributes.value("user_id", "someone"));
    nlohmann::json body = {{"provider_id", "fake"}, {"attributes", attributes}, {"access_token", g["access_token"]},
                           {"expires_in", expires_in}, {"scopes", {"read"}}};
    if (with_refresh) body["refresh_token"] = g["refresh_token"];
    auto a = admin("POST", "/v1/admin/apps/" + app + "/connections", body);
    EXPECT_EQ(a.status, 201) << a.body;
    return a.json.value("id", "");
  }

  HttpAnswer token(const nlohmann::json& body, const std::string& key = "",
                   std::vector<std::pair<std::string, std::string>> headers = {}) {
    headers.emplace_back("x-api-key", key.empty() ? api_key_ : key);
    headers.emplace_back("Content-Type", "application/json");
    return http_->send("POST", "/oauth/token", body.dump(), headers);
  }

  VaultOptions sdk_options(const std::string& key = "") {
    VaultOptions o;
    o.api_key = key.empty() ? api_key_ : key;
    o.base_url = server_->url();
    o.actor_type = "ai_agent";
    o.actor_identifier = "integration-agent";
    o.actor_name = "Integration Agent";
    o.timeout = std::chrono::seconds(30);
    return o;
  }

  std::string api(const std::string& path) const { return fake_.base_url() + "/api" + path; }

  nlohmann::json stats() {
    auto a = admin("GET", "/v1/admin/stats");
    EXPECT_EQ(a.status, 200) << a.body;
    return a.json;
  }

  /// The vault's environment (a fixture may add to it before SetUp).
  std::map<std::string, std::string> env_ = {{"ALTER_VAULT_DEV_MODE", "true"}, {"ALTER_VAULT_REFRESH_SKEW", "60s"}};
  TempDir dir_;
  FakeOAuthProvider fake_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<HttpClient> http_;
  std::string api_key_;
};

}  // namespace alter::testing
