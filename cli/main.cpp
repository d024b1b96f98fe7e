// alter-vault: the vault server and its admin CLI in one executable.
#include <CLI/CLI.hpp>
#include <alter/common/secret.hpp>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "admin_client.hpp"
#include "app/vault_app.hpp"
#include "commands.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "usage.hpp"

namespace alter::cli {
namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? v : fallback;
}

}  // namespace

std::string read_secret_file(const std::string& path) {
  std::string text;
  if (path == "-") {
    std::stringstream ss;
    ss << std::cin.rdbuf();
    text = ss.str();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw CliError{"cannot read " + path, 1};
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  if (text.empty()) throw CliError{"the secret read from " + (path == "-" ? std::string("stdin") : path) + " is empty", 1};
  return text;
}

std::map<std::string, std::string> parse_pairs(const std::vector<std::string>& items, const std::string& what) {
  std::map<std::string, std::string> out;
  for (const auto& item : items) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw CliError{what + " takes NAME=VALUE, got '" + item + "'" +
                         (what == "--user" ? " (for example --user user_id=" + (eq == 0 ? item.substr(1) : item) + ")" : ""),
                     2};
    }
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

GlobalOptions::GlobalOptions()
    : url(env_or("ALTER_VAULT_URL", "http://127.0.0.1:8787")),
      data_dir(env_or("ALTER_VAULT_DATA_DIR", "alter-data")) {}

AdminClient GlobalOptions::client() const {
  std::string token = admin_token.empty() ? env_or("ALTER_VAULT_ADMIN_TOKEN", "") : admin_token;
  if (token.empty()) {
    std::ifstream in(std::filesystem::path(data_dir) / "admin.token");
    std::getline(in, token);
  }
  return AdminClient(url, token);
}

}  // namespace alter::cli

int main(int argc, char** argv) {
  using namespace alter;
  CLI::App app{"alter-vault: OAuth connections for agents, with policies and a tamper-evident audit trail"};
  app.set_version_flag("--version", std::string("alter-vault ") + ALTER_VAULT_VERSION);
  app.require_subcommand(1);
  // Global options (--url, --admin-token, --data-dir, --json) may also follow the subcommand.
  app.fallthrough(true);
  cli::GlobalOptions global;
  app.add_option("--url", global.url, "the vault's address (admin commands); default $ALTER_VAULT_URL or http://127.0.0.1:8787")
      ->capture_default_str();
  app.add_option("--admin-token", global.admin_token,
                 "admin credential; default $ALTER_VAULT_ADMIN_TOKEN, else <data-dir>/admin.token");
  app.add_option("--data-dir", global.data_dir, "data directory; default $ALTER_VAULT_DATA_DIR or ./alter-data")
      ->capture_default_str();
  app.add_flag("--json", global.json, "print raw JSON");

  cli::register_server_commands(app, global);
  cli::register_admin_commands(app, global);
  cli::register_dev_command(app, global);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli::report_usage_error(app, e);
  } catch (const cli::CliError& e) {
    std::cerr << "error: " << e.message << "\n";
    return e.exit_code;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return global.exit_code;
}
