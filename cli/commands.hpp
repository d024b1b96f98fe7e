#pragma once
#include <CLI/CLI.hpp>

#include <map>
#include <string>
#include <vector>

#include "admin_client.hpp"

namespace alter::cli {

struct GlobalOptions {
  GlobalOptions();
  std::string url;
  std::string admin_token;
  std::string data_dir;
  bool json = false;
  int exit_code = 0;
  AdminClient client() const;
};

/// Reads a secret from a file ("-": stdin), trimming the trailing newline.
std::string read_secret_file(const std::string& path);
/// "k=v" items to a map; a malformed item is a usage error.
std::map<std::string, std::string> parse_pairs(const std::vector<std::string>& items, const std::string& what);

void register_server_commands(CLI::App& app, GlobalOptions& global);  // serve, init, rotate-key
void register_admin_commands(CLI::App& app, GlobalOptions& global);   // apps, keys, providers, ...
void register_dev_command(CLI::App& app, GlobalOptions& global);      // dev

/// Runs `fn`, reporting CliError as the process's exit code (CLI11 callbacks cannot return one).
template <class F>
std::function<void()> guarded(GlobalOptions& global, F fn) {
  return [&global, fn]() {
    try {
      fn();
    } catch (const CliError& e) {
      std::cerr << "error: " << e.message << "\n";
      global.exit_code = e.exit_code;
    }
  };
}

}  // namespace alter::cli
