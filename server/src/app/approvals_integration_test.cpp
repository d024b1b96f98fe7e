// Approvals end to end with the SDK and the real binary: approved, denied, expired, single use,
// bound to the exact request, the approval page.
#include <thread>

#include "vault_test_fixture.hpp"

namespace alter::testing {
namespace {

using namespace std::chrono_literals;

const char* kApprovalPolicy = R"(
version = 1
[[rules]]
id = "reads"
effect = "allow"
providers = ["fake"]
methods = ["GET"]

[[rules]]
id = "writes-need-approval"
effect = "require_approval"
providers = ["fake"]
methods = ["POST", "DELETE"]
[rules.approval]
ttl = "10m"

[[rules]]
id = "quick-writes"
effect = "require_approval"
providers = ["fake"]
methods = ["PUT"]
[rules.approval]
ttl = "1s"
)";

class Approvals : public VaultFixture {
 protected:
  void SetUp() override {
    VaultFixture::SetUp();
    apply_policy("default", kApprovalPolicy);
    import({{"user_id", "alice"}});
    import({{"user_id", "bob"}});
  }

  nlohmann::json pending() {
    return admin("GET", "/v1/admin/apps/default/approvals?status=pending").json["approvals"];
  }

  // Waits for the SDK's request to show up as a pending approval (polling the admin API: each
  // answer is the event we wait for, no fixed sleep).
  std::string wait_for_pending() {
    for (int i = 0; i < 5000; ++i) {
      auto p = pending();
      if (!p.empty()) return p[0]["id"];
    }
    ADD_FAILURE() << "no pending approval appeared";
    return {};
  }
};

TEST_F(Approvals, RequiredThenApprovedThenSingleUse) {
  Vault vault(sdk_options());
  std::string id;
  try {
    vault.request("fake", HttpMethod::Post, api("/items"), {.user = {{"user_id", "alice"}}, .reason = "create item"});
    FAIL();
  } catch (const ApprovalRequiredError& e) {
    id = e.approval_id();
    EXPECT_NE(e.approval_url().find("/approvals/" + id), std::string::npos);
  }
  EXPECT_EQ(fake_.api_calls(), 0);
  auto listed = server_->cli({"approvals", "list", "--status", "pending"});
  EXPECT_EQ(listed.exit_code, 0);
  EXPECT_NE(listed.out.find(id), std::string::npos);
  EXPECT_NE(listed.out.find("create item"), std::string::npos);
  auto approve = server_->cli({"approvals", "approve", id});
  ASSERT_EQ(approve.exit_code, 0) << approve.err;
  EXPECT_NE(approve.out.find("approved"), std::string::npos);
  // The same request now goes through, once.
  auto r = vault.request("fake", HttpMethod::Post, api("/items"), {.user = {{"user_id", "alice"}}, .reason = "create item"});
  EXPECT_EQ(r.status_code(), 200);
  EXPECT_EQ(fake_.api_calls(), 1);
  EXPECT_THROW(vault.request("fake", HttpMethod::Post, api("/items"), {.user = {{"user_id", "alice"}}}), ApprovalRequiredError);
  // Replaying the used approval explicitly is refused.
  auto replay = token({{"provider_id", "fake"}, {"attributes", {{"user_id", "alice"}}}, {"method", "POST"},
                       {"url", api("/items")}, {"approval_id", id}},
                      "", {{"x-alter-actor-type", "ai_agent"}, {"x-alter-actor-id", "integration-agent"}});
  EXPECT_EQ(replay.status, 403);
  EXPECT_EQ(replay.json["error"], "approval_used");
  EXPECT_FALSE(replay.json.contains("access_token"));
}

TEST_F(Approvals, BoundToTheExactRequest) {
  Vault vault(sdk_options());
  std::string id;
  try {
    vault.request("fake", HttpMethod::Post, api("/items"), {.user = {{"user_id", "alice"}}});
  } catch (const ApprovalRequiredError& e) {
    id = e.approval_id();
  }
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(admin("POST", "/v1/admin/approvals/" + id + "/approve").status, 200);
  for (const auto& [user, path] : {std::pair{"bob", "/items"}, std::pair{"alice", "/other"}}) {
    auto other = token({{"provider_id", "fake"}, {"attributes", {{"user_id", user}}}, {"method", "POST"},
                        {"url", api(path)}, {"approval_id", id}});
    EXPECT_EQ(other.status, 403);
    EXPECT_EQ(other.json["error"], "approval_mismatch") << user << path;
  }
  // Another actor does not get alice's approval either.
  auto o = sdk_options();
  o.actor_identifier = "another-agent";
  Vault stranger(o);
  EXPECT_THROW(stranger.request("fake", HttpMethod::Post, api("/items"), {.user = {{"user_id", "alice"}}}), ApprovalRequiredError);
  EXPECT_EQ(vault.request("fake", HttpMethod::Post, api("/items"), {.user = {{"user_id", "alice"}}}).status_code(), 200);
}

TEST_F(Approvals, WaitingSdkProceedsWhenApproved) {
  Vault vault(sdk_options());
  int status = 0;
  std::thread agent([&] {
    auto r = vault.request("fake", HttpMethod::Delete, api("/items/1"), {.user = {{"user_id", "alice"}}, .wait_for_approval = 60s});
    status = r.status_code();
  });
  const std::string id = wait_for_pending();
  ASSERT_EQ(admin("POST", "/v1/admin/approvals/" + id + "/approve").status, 200);
  agent.join();
  EXPECT_EQ(status, 200);
  EXPECT_EQ(fake_.api_calls(), 1);
}

TEST_F(Approvals, WaitingSdkGetsPolicyViolationWhenDenied) {
  Vault vault(sdk_options());
  std::string policy_error;
  std::thread agent([&] {
    try {
      vault.request("fake", HttpMethod::Delete, api("/items/1"), {.user = {{"user_id", "alice"}}, .wait_for_approval = 60s});
    } catch (const PolicyViolationError& e) {
      policy_error = e.policy_error();
    }
  });
  const std::string id = wait_for_pending();
  auto deny = server_->cli({"approvals", "deny", id});
  EXPECT_EQ(deny.exit_code, 0) << deny.err;
  agent.join();
  EXPECT_EQ(policy_error, "approval_denied");
  EXPECT_EQ(fake_.api_calls(), 0);
  auto events = admin("GET", "/v1/admin/audit?kind=approval").json["events"];
  bool denied = false;
  for (const auto& e : events) denied = denied || e["decision"] == "denied";
  EXPECT_TRUE(denied);
}

TEST_F(Approvals, WaitingSdkGetsPolicyViolationWhenItExpires) {
  Vault vault(sdk_options());
  try {
    // The rule's approvals expire after 1 s; nobody decides.
    vault.request("fake", HttpMethod::Put, api("/items/1"), {.user = {{"user_id", "alice"}}, .wait_for_approval = 30s});
    FAIL();
  } catch (const PolicyViolationError& e) {
    EXPECT_EQ(e.policy_error(), "approval_expired");
  }
  auto expired = admin("GET", "/v1/admin/apps/default/approvals?status=expired").json["approvals"];
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(admin("POST", "/v1/admin/approvals/" + expired[0]["id"].get<std::string>() + "/approve").status, 409);
}

TEST_F(Approvals, TheApprovalPageShowsTheRequestAndTakesADecision) {
  Vault vault(sdk_options());
  std::string id, url;
  try {
    vault.request("fake", HttpMethod::Post, api("/items"), {.user = {{"user_id", "alice"}}, .reason = "<script>x</script>"});
  } catch (const ApprovalRequiredError& e) {
    id = e.approval_id();
    url = e.approval_url();
  }
  ASSERT_FALSE(id.empty());
  const std::string path = url.substr(server_->url().size());
  auto page = http_->send("GET", path);
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("POST " + api("/items")), std::string::npos);
  EXPECT_NE(page.body.find("integration-agent"), std::string::npos);
  EXPECT_EQ(page.body.find("<script>x"), std::string::npos);  // escaped
  EXPECT_NE(page.body.find("&lt;script&gt;"), std::string::npos);
  auto wrong = http_->send("POST", path, "token=alter_admin_wrong&decision=approve",
                           {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_NE(wrong.body.find("not valid"), std::string::npos);
  EXPECT_EQ(pending().size(), 1u);
  auto right = http_->send("POST", path, "token=" + server_->admin_token() + "&decision=approve",
                           {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_NE(right.body.find("Approved."), std::string::npos);
  EXPECT_EQ(right.body.find(server_->admin_token()), std::string::npos);
  EXPECT_TRUE(pending().empty());
  EXPECT_EQ(vault.request("fake", HttpMethod::Post, api("/items"), {.user = {{"user_id", "alice"}}, .reason = "<script>x</script>"}).status_code(), 200);
}

}  // namespace
}  // namespace alter::testing
