// The CLI as a user expects it: every usage error exits 2, names the word that is wrong and, where
// one is close, the word that was meant; filters with unknown values are refused with the allowed
// ones. None of these needs a running vault: they fail before any call.
#include <alter/testing/server_process.hpp>
#include <gtest/gtest.h>

namespace alter::testing {
namespace {

struct Case {
  std::vector<std::string> args;
  std::string expect;  // a fragment of stderr
};

TEST(CliUsage, EveryUsageErrorExitsTwoAndSaysWhatToType) {
  const std::vector<Case> cases = {
      {{"polices", "list"}, "unknown command 'polices' for 'alter-vault'; did you mean 'policies'?"},
      {{"polciies", "list"}, "did you mean 'policies'?"},
      {{"aud", "list"}, "did you mean 'audit'?"},
      {{"audit", "lst"}, "unknown command 'lst' for 'alter-vault audit'; did you mean 'list'?"},
      {{"audit", "list", "--sinse", "1h"}, "unknown option '--sinse' for 'alter-vault audit list'; did you mean '--since'?"},
      {{"keys", "create", "--nam", "x"}, "did you mean '--name'?"},
      {{"dev", "--data-dri", "x"}, "did you mean '--data-dir'?"},
      {{"zzzzzz"}, "unknown command 'zzzzzz'"},
      {{}, "'alter-vault' needs a command: serve, init"},
      {{"policies"}, "'alter-vault policies' needs a command: apply, list, show, diff, test"},
      {{"audit", "list", "--limit", "many"}, "--limit"},
      {{"policies", "test", "--url", "https://x"}, "--provider is required"},
      {{"audit", "list", "--user", "alice"}, "--user takes NAME=VALUE, got 'alice' (for example --user user_id=alice)"},
      {{"connections", "list", "--user", "alice"}, "--user takes NAME=VALUE"},
      {{"connect", "sandbox", "--user", "=alice"}, "--user takes NAME=VALUE"},
      {{"audit", "list", "--decision", "banana"}, "--decision 'banana' is not a decision; use one of: issued, denied"},
      {{"audit", "export", "--kind", "tokens"}, "use one of: token, api_call, refresh, connect, revocation, approval, admin"},
      {{"audit", "list", "--actor", "ai_agnet:x"}, "the type must be one of ai_agent, mcp_server, application, admin"},
      {{"policies", "test", "--actor", "ai_agnet:foo", "--provider", "google", "--url", "https://x"},
       "the type must be one of ai_agent, mcp_server, application"},
      {{"apps", "update", "default", "--audit-capture", "all"}, "--audit-capture"},
      {{"apps", "update", "default", "--audit-capture-for", "google=most"}, "the level must be none, headers or bodies"},
      {{"audit", "purge"}, "say what to purge"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv = {ALTER_VAULT_BINARY, "--url", "http://127.0.0.1:9"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    std::string shown;
    for (const auto& a : c.args) shown += a + " ";
    SCOPED_TRACE(shown);
    auto r = run_command(argv);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("Run with --help"), std::string::npos) << "CLI11's own message leaked: " << r.err;
  }
  // Help and version are not errors.
  EXPECT_EQ(run_command({ALTER_VAULT_BINARY, "--version"}).exit_code, 0);
  auto help = run_command({ALTER_VAULT_BINARY, "dev", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--data-dir"), std::string::npos);
}

}  // namespace
}  // namespace alter::testing
