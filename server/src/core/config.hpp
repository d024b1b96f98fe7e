#pragma once
// Server configuration. Precedence, lowest first: defaults, the TOML file (--config or
// ALTER_VAULT_CONFIG), ALTER_VAULT_* environment variables, command-line flags.
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/types.hpp"

namespace alter::server {

struct Config {
  std::filesystem::path data_dir = "alter-data";
  /// Empty: SQLite file <data_dir>/vault.db. Else "sqlite:/path/file.db" or "postgres://...".
  std::string database;
  std::string listen = "127.0.0.1:8787";
  /// The address users' browsers reach the vault at (connect and approval links). Empty: from listen.
  std::string public_url;
  std::string tls_cert;
  std::string tls_key;
  std::size_t io_threads = 0;  // 0: one per core
  std::size_t worker_threads = 32;
  std::size_t body_limit = 1024 * 1024;
  /// The proxy (/v1/proxy): the provider call's timeout when the caller names none, and the
  /// largest provider answer passed on (past it 502 provider_response_too_large).
  std::chrono::milliseconds proxy_timeout{30000};
  /// A provider's token endpoint (code exchange, refresh, client credentials, revocation): each
  /// call's timeout; a timed-out refresh is retried as a transient failure.
  std::chrono::milliseconds token_endpoint_timeout{15000};
  std::size_t proxy_max_response_bytes = 32 * 1024 * 1024;
  std::chrono::milliseconds read_timeout{30000};
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds shutdown_timeout{30000};
  /// 0: derived from the open-file limit (see docs/configuration.md).
  std::size_t max_connections = 0;
  std::size_t max_connections_per_ip = 0;
  /// Empty: <data_dir>/master.key. ALTER_VAULT_MASTER_KEY (base64) wins over the file.
  std::filesystem::path master_key_file;
  std::chrono::milliseconds refresh_skew{60000};
  /// Cached API keys, apps and connection lookups expire after this (a backstop: changes reach
  /// every instance through the change version, bumped with the change).
  std::chrono::milliseconds cache_ttl{30000};
  /// A web console sign-in lasts this long from sign-in (then the admin signs in again).
  std::chrono::milliseconds console_session_ttl{8 * 3600 * 1000};
  std::string log_level = "info";
  /// Empty: the catalog built into the binary.
  std::filesystem::path providers_dir;
  /// Loopback provider URLs allowed, the sandbox provider present (alter-vault dev only).
  bool dev_mode = false;
  std::size_t audit_max_batch = 1024;
  /// alter-vault dev --auto-consent: the sandbox approves at once (never in production).
  bool sandbox_auto_consent = false;

  std::filesystem::path master_key_path() const {
    return master_key_file.empty() ? data_dir / "master.key" : master_key_file;
  }
  std::string database_url() const;
  /// host and port of `listen`; port 0 means "pick a free one".
  Result<std::pair<std::string, unsigned short>> listen_endpoint() const;
};

/// One settable key: its name in TOML (`body_limit`) and in the environment (`ALTER_VAULT_BODY_LIMIT`).
struct ConfigKey {
  std::string name;
  std::string description;
  std::function<Result<void>(Config&, const std::string&)> set;
};
const std::vector<ConfigKey>& config_keys();

/// Applies a TOML file. Unknown keys and bad values are errors that name the key (and line).
Result<void> apply_toml_file(Config& config, const std::filesystem::path& file);
Result<void> apply_toml_text(Config& config, std::string_view text, std::string_view source_name);
/// Applies ALTER_VAULT_* variables found through `getenv`.
Result<void> apply_environment(Config& config, const std::function<const char*(const char*)>& getenv);
Result<void> validate(const Config& config);

}  // namespace alter::server
