#pragma once
// Runs the real alter-vault binary for integration tests: on 127.0.0.1 port 0 with a temporary
// data dir; waits (on its output, not a timer) for the "listening on" line; stops it with SIGTERM.
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace alter::internal {
class Transport;
}

namespace alter::testing {

/// Runs a command to completion; returns exit code and output.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
CommandResult run_command(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
                          const std::string& stdin_text = "");

class ServerProcess {
 public:
  /// `binary`: path to alter-vault. `env`: extra environment (ALTER_VAULT_*).
  ServerProcess(std::string binary, std::filesystem::path data_dir, std::map<std::string, std::string> env = {});
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  /// A resource limit (setrlimit, soft and hard) the server runs under from its start: e.g.
  /// RLIMIT_NOFILE for descriptor exhaustion, RLIMIT_FSIZE for a "full disk".
  void set_limit(int resource, long value) { limits_.emplace_back(resource, value); }

  /// `alter-vault init`; remembers the admin credential.
  void init();
  /// Starts `serve --listen 127.0.0.1:0` and waits for its address (throws after `timeout`).
  void start(std::chrono::seconds timeout = std::chrono::seconds(30), std::vector<std::string> extra_args = {});
  /// SIGTERM, then waits for exit; returns the exit status.
  int stop(std::chrono::seconds timeout = std::chrono::seconds(30));
  /// SIGKILL.
  void kill();
  bool running() const { return pid_ > 0; }
  int pid() const { return pid_; }

  const std::string& url() const { return url_; }
  const std::string& admin_token() const { return admin_token_; }
  /// For a second instance on the same database: the credential made by the first one's init().
  void set_admin_token(std::string token) { admin_token_ = std::move(token); }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  std::string stderr_text() const;
  /// Runs an admin CLI command against this server (`--url` and `--admin-token` are added).
  CommandResult cli(std::vector<std::string> args, const std::string& stdin_text = "") const;

 private:
  std::string binary_;
  std::filesystem::path data_dir_;
  std::map<std::string, std::string> env_;
  std::string url_;
  std::string admin_token_;
  int pid_ = -1;
  std::filesystem::path stderr_file_;
  std::vector<std::pair<int, long>> limits_;
};

/// Plain HTTP calls for tests (libcurl through the SDK's transport).
struct HttpAnswer {
  int status = 0;
  std::string body;
  nlohmann::json json;  // null when the body is not JSON
  std::multimap<std::string, std::string> headers;

  /// The first header `name` (in any case), or "" when there is none.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
};

class HttpClient {
 public:
  explicit HttpClient(std::string base_url);
  HttpAnswer send(const std::string& method, const std::string& path, const std::string& body = "",
                  const std::vector<std::pair<std::string, std::string>>& headers = {},
                  std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
  HttpAnswer admin(const std::string& method, const std::string& path, const std::string& token,
                   const nlohmann::json& body = nullptr) const;
  const std::string& base_url() const { return base_url_; }

 private:
  std::string base_url_;
  std::shared_ptr<alter::internal::Transport> transport_;
};

}  // namespace alter::testing
