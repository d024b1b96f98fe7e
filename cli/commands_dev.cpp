// alter-vault dev: a vault on loopback with the sandbox provider, an API key, an admin credential
// and a starter policy, ready for the quick start.
#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <iostream>

#include "app/vault_app.hpp"
#include "commands.hpp"
#include "core/log.hpp"
#include "crypto/crypto.hpp"
#include "policy/engine.hpp"

namespace alter::cli {
namespace {

constexpr const char* kDevPolicy = R"(# The starter policy of alter-vault dev (docs/policies.md explains the language).
version = 1

[[rules]]
id = "sandbox-read"
description = "Agents may read the sandbox calendar"
effect = "allow"
providers = ["sandbox"]
methods = ["GET"]

[[rules]]
id = "sandbox-write-needs-approval"
description = "Writes to the sandbox calendar wait for a person's approval"
effect = "require_approval"
providers = ["sandbox"]
methods = ["POST", "PUT", "PATCH", "DELETE"]
[rules.approval]
ttl = "15m"

[[rules]]
id = "private-calendar-off-limits"
description = "Nobody reads the private calendar through the vault"
effect = "deny"
providers = ["sandbox"]
paths = ["/sandbox/api/calendar/v3/calendars/private/**"]
)";

struct DevFlags {
  std::string data_dir = "alter-dev";
  std::string listen = "127.0.0.1:8787";
  bool auto_consent = false;
  bool reset = false;
};

std::map<std::string, std::string> read_env_file(const std::filesystem::path& file) {
  std::map<std::string, std::string> out;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("export ", 0) == 0) line = line.substr(7);
    const auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

void write_private(const std::filesystem::path& file, const std::string& text) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw CliError{"cannot write " + file.string(), 1};
  (void)!::write(fd, text.data(), text.size());
  ::close(fd);
}

}  // namespace

static CLI::App* dev_command(CLI::App& app) { return app.get_subcommand("dev"); }

void register_dev_command(CLI::App& app, GlobalOptions& global) {
  static DevFlags flags;
  auto* dev = app.add_subcommand("dev", "run a dev vault on loopback with a sandbox OAuth provider (no real credentials needed)");
  dev->add_option("--data-dir", flags.data_dir,
                  "the dev vault's directory: SQLite database, master key, admin credential, dev.env (docs/dev-mode.md)")
      ->capture_default_str();
  dev->add_option("--listen", flags.listen, "HOST:PORT (port 0 picks a free one)")->capture_default_str();
  dev->add_flag("--auto-consent", flags.auto_consent,
                "DEV ONLY: the sandbox approves connections at once as user 'alice' (no consent page), for scripts");
  dev->add_flag("--reset", flags.reset, "start from an empty data directory");
  dev->callback(guarded(global, [&app, &global] {
    server::Config config;
    // `alter-vault dev --data-dir D` or `alter-vault --data-dir D dev`; else ./alter-dev.
    const bool after = dev_command(app)->get_option("--data-dir")->count() > 0;
    config.data_dir = after ? flags.data_dir : (app.get_option("--data-dir")->count() > 0 ? global.data_dir : flags.data_dir);
    config.listen = flags.listen;
    config.dev_mode = true;
    config.sandbox_auto_consent = flags.auto_consent;
    config.log_level = "warn";
    if (flags.reset) {
      std::error_code ec;
      std::filesystem::remove_all(config.data_dir, ec);
    }
    if (!std::filesystem::exists(config.data_dir / "vault.db")) {
      auto init = server::init_vault(config);
      if (!init) throw CliError{init.error().message, 1};
    }
    server::Logger log(server::LogLevel::kWarn);
    auto vault = server::VaultApp::open(config, log);
    if (!vault) throw CliError{vault.error().message, 1};
    if (auto r = (*vault)->start(); !r) throw CliError{r.error().message, 1};
    auto& v = **vault;
    const std::string url = v.public_url();
    const server::vault::AdminCaller dev_caller{"alter-vault dev"};

    // An API key for the default app: reuse the one from a previous run while it is still valid.
    const auto env_file = config.data_dir / "dev.env";
    std::string api_key = read_env_file(env_file)["ALTER_API_KEY"];
    auto known = api_key.empty() ? server::StoreResult<server::ApiKeyRecord>(common::unexpected(server::StoreError{}))
                                 : v.store().find_api_key(server::crypto::sha256_hex(api_key));
    if (!known || known->revoked_at) {
      auto key = v.admin().create_key("default", "alter-vault dev", dev_caller);
      if (!key) throw CliError{key.error().message, 1};
      api_key = key->key;
    }
    // The starter policy, unless the app already has one (keep the developer's edits).
    if (auto existing = v.store().get_policy("default", 0); !existing) {
      if (auto r = v.policies().apply("default", kDevPolicy, "toml", dev_caller); !r) {
        throw CliError{"the starter policy was not applied: " + r.error().message, 1};
      }
    }
    std::string admin_token;
    std::ifstream(config.data_dir / "admin.token") >> admin_token;
    const std::string calendar = url + "/sandbox/api/calendar/v3/calendars/primary/events";
    write_private(env_file, "export ALTER_VAULT_URL=" + url + "\nexport ALTER_API_KEY=" + api_key +
                                "\nexport ALTER_VAULT_ADMIN_TOKEN=" + admin_token + "\nexport ALTER_VAULT_DATA_DIR=" +
                                std::filesystem::absolute(config.data_dir).string() +
                                "\nexport ALTER_PROVIDER=sandbox\nexport ALTER_CALENDAR_URL=" + calendar + "\n");

    const std::string env_path = std::filesystem::absolute(env_file).lexically_normal().string();
    // The next steps name only what exists now: an example binary is shown when one is built.
    std::string example;
    for (const char* candidate : {"build/demo-examples/quickstart", "build/examples/quickstart", "build/release/examples/quickstart"}) {
      if (std::filesystem::exists(candidate)) {
        example = std::string("./") + candidate;
        break;
      }
    }
    std::cout << "alter-vault listening on " << url << "\n\n"
              << "Alter Vault dev is running.\n"
              << "  data dir          " << config.data_dir.string() << " (SQLite: vault.db; master.key)\n"
              << "  API key           " << api_key << "\n"
              << "  admin credential  " << admin_token << "\n"
              << "  web console       " << url << "/console/  (sign in with the admin credential)\n"
              << "  sandbox provider  " << url << "/sandbox  (OAuth + a calendar API; dev only)"
              << (flags.auto_consent ? "\n                    --auto-consent: connections are approved at once as 'alice' (dev only)" : "")
              << "\n  policy            sandbox reads allowed, writes need approval, the 'private' calendar denied\n"
              << "  settings          " << env_path << " (source it: . " << env_path << ")\n\n"
              << "Next, in another terminal:\n"
              << "  . " << env_path << "   # ALTER_VAULT_URL, ALTER_API_KEY, ... for the CLI and the SDK\n"
              << "  alter-vault connect sandbox --user user_id=alice     # open the URL, click Allow\n"
              << "  alter-vault connections list\n"
              << (example.empty() ? std::string("  # an SDK call through the vault: docs/dev-mode.md, \"Call the sandbox from code\"\n")
                                  : "  " + example + std::string(std::max<int>(1, 53 - static_cast<int>(example.size())), ' ') +
                                        "# the seed's quick start, through the vault\n")
              << "  alter-vault audit list --since 10m\n"
              << "Stop with Ctrl-C." << std::endl;
    (*vault)->run();
  }));
}

}  // namespace alter::cli
