#include "core/config.hpp"

#include <alter/common/toml_limits.hpp>
#include <toml++/toml.h>

#include <fstream>

#include <charconv>
#include <thread>

#include "core/log.hpp"
#include "core/time.hpp"

namespace alter::server {
namespace {

Result<void> bad(const std::string& key, const std::string& why) {
  return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_config", key + ": " + why));
}

std::function<Result<void>(Config&, const std::string&)> size_setter(std::size_t Config::*field, std::size_t min) {
  return [field, min](Config& c, const std::string& v) -> Result<void> {
    std::size_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || n < min) return bad("value", "expected an integer >= " + std::to_string(min));
    c.*field = n;
    return {};
  };
}

std::function<Result<void>(Config&, const std::string&)> duration_setter(std::chrono::milliseconds Config::*field) {
  return [field](Config& c, const std::string& v) -> Result<void> {
    auto d = parse_duration(v);
    if (!d) return bad("value", "expected a duration such as 500ms, 30s, 5m, 1h");
    c.*field = *d;
    return {};
  };
}

template <class T>
std::function<Result<void>(Config&, const std::string&)> string_setter(T Config::*field) {
  return [field](Config& c, const std::string& v) -> Result<void> {
    c.*field = v;
    return {};
  };
}

std::string env_name(const std::string& key) {
  std::string out = "ALTER_VAULT_";
  for (char ch : key) out += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return out;
}

}  // namespace

std::string Config::database_url() const {
  return database.empty() ? "sqlite:" + (data_dir / "vault.db").string() : database;
}

Result<std::pair<std::string, unsigned short>> Config::listen_endpoint() const {
  std::string host;
  std::string port;
  if (!listen.empty() && listen.front() == '[') {
    const auto close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_config", "listen: expected [v6-address]:port"));
    }
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_config", "listen: expected HOST:PORT"));
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  unsigned n = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  if (host.empty() || ec != std::errc() || p != port.data() + port.size() || n > 65535) {
    return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_config", "listen: expected HOST:PORT with a port 0-65535"));
  }
  return std::make_pair(host, static_cast<unsigned short>(n));
}

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> keys = {
      {"data_dir", "directory of the SQLite file and the master key file",
       [](Config& c, const std::string& v) -> Result<void> {
         c.data_dir = v;
         return {};
       }},
      {"database", "database URL: sqlite:/path/vault.db (default <data_dir>/vault.db) or postgres://...",
       string_setter(&Config::database)},
      {"listen", "HOST:PORT to serve on (port 0 picks a free port and prints it)", string_setter(&Config::listen)},
      {"public_url", "the vault's address as users' browsers see it (connect and approval links)",
       string_setter(&Config::public_url)},
      {"tls_cert", "PEM certificate chain file: serve HTTPS", string_setter(&Config::tls_cert)},
      {"tls_key", "PEM private key file for tls_cert", string_setter(&Config::tls_key)},
      {"io_threads", "I/O threads (0: one per core)", size_setter(&Config::io_threads, 0)},
      {"worker_threads", "threads for database and outgoing HTTP work", size_setter(&Config::worker_threads, 1)},
      {"body_limit", "largest request body in bytes (a proxied upload included)", size_setter(&Config::body_limit, 1024)},
      {"proxy_timeout", "the proxy's provider call timeout when the caller names none (at most 120s may be asked)",
       duration_setter(&Config::proxy_timeout)},
      {"token_endpoint_timeout", "each call to a provider's token endpoint (exchange, refresh, client credentials)",
       duration_setter(&Config::token_endpoint_timeout)},
      {"proxy_max_response_bytes", "largest provider answer the proxy passes on (bytes)",
       size_setter(&Config::proxy_max_response_bytes, 1024)},
      {"read_timeout", "time allowed to read one request", duration_setter(&Config::read_timeout)},
      {"idle_timeout", "keep-alive connections idle longer are closed", duration_setter(&Config::idle_timeout)},
      {"shutdown_timeout", "on SIGTERM, time given to requests in flight", duration_setter(&Config::shutdown_timeout)},
      {"max_connections", "connections served at once (0: from the open-file limit); past it 503",
       size_setter(&Config::max_connections, 0)},
      {"max_connections_per_ip", "connections from one address (0: half of max_connections); past it 429",
       size_setter(&Config::max_connections_per_ip, 0)},
      {"master_key_file", "the master key file (default <data_dir>/master.key)",
       [](Config& c, const std::string& v) -> Result<void> {
         c.master_key_file = v;
         return {};
       }},
      {"refresh_skew", "refresh tokens this long before they expire", duration_setter(&Config::refresh_skew)},
      {"cache_ttl", "cached API keys, apps and connection lookups expire after this", duration_setter(&Config::cache_ttl)},
      {"console_session_ttl", "a web console sign-in expires this long after it was made",
       [](Config& c, const std::string& v) -> Result<void> {
         auto d = parse_duration(v);
         if (!d || *d < std::chrono::seconds(1) || *d > std::chrono::hours(24 * 7)) {
           return bad("console_session_ttl", "expected a duration from 1s to 168h, such as 8h");
         }
         c.console_session_ttl = *d;
         return {};
       }},
      {"log_level", "debug, info, warn or error",
       [](Config& c, const std::string& v) -> Result<void> {
         if (!parse_log_level(v)) return bad("log_level", "expected debug, info, warn or error");
         c.log_level = v;
         return {};
       }},
      {"providers_dir", "a directory of provider JSON files replacing the built-in catalog",
       [](Config& c, const std::string& v) -> Result<void> {
         c.providers_dir = v;
         return {};
       }},
      {"audit_max_batch", "largest group of audit rows committed together", size_setter(&Config::audit_max_batch, 1)},
      {"dev_mode", "true: plain-http loopback provider URLs are allowed and the sandbox provider exists (tests, alter-vault dev)",
       [](Config& c, const std::string& v) -> Result<void> {
         if (v != "true" && v != "false") return bad("dev_mode", "expected true or false");
         c.dev_mode = v == "true";
         return {};
       }},
  };
  return keys;
}

Result<void> apply_toml_text(Config& config, std::string_view text, std::string_view source_name) {
  if (auto shape = common::check_toml_shape(text)) {  // before toml++, which recurses per key part
    return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_config",
                                         std::string(source_name) + ":" + std::to_string(shape->line) + ": the file is " +
                                             shape->message));
  }
  toml::table table;
  try {
    table = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_config",
                                         std::string(source_name) + ":" + std::to_string(where.line) + ": " +
                                             std::string(e.description())));
  }
  for (const auto& [key, node] : table) {
    const std::string name(key.str());
    const auto line = node.source().begin.line;
    const std::string where = std::string(source_name) + ":" + std::to_string(line) + ": " + name;
    const ConfigKey* target = nullptr;
    for (const auto& k : config_keys()) {
      if (k.name == name) target = &k;
    }
    if (target == nullptr) return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_config", where + ": unknown setting"));
    std::string value;
    if (auto s = node.value<std::string>()) {
      value = *s;
    } else if (auto i = node.value<std::int64_t>()) {
      value = std::to_string(*i);
    } else if (auto b = node.value<bool>()) {
      value = *b ? "true" : "false";
    } else {
      return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_config", where + ": expected a string or a number"));
    }
    if (auto r = target->set(config, value); !r) {
      return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_config", where + ": " + r.error().message));
    }
  }
  return {};
}

Result<void> apply_toml_file(Config& config, const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_config", "config file not found: " + file.string()));
  }
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return apply_toml_text(config, text, file.string());
}

Result<void> apply_environment(Config& config, const std::function<const char*(const char*)>& getenv) {
  for (const auto& key : config_keys()) {
    const std::string name = env_name(key.name);
    const char* v = getenv(name.c_str());
    if (v == nullptr || *v == '\0') continue;
    if (auto r = key.set(config, v); !r) {
      return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_config", name + ": " + r.error().message));
    }
  }
  return {};
}

Result<void> validate(const Config& c) {
  if (auto ep = c.listen_endpoint(); !ep) return common::unexpected(ep.error());
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_config", "tls_cert and tls_key go together"));
  }
  const std::string db = c.database_url();
  if (db.rfind("sqlite:", 0) != 0 && db.rfind("postgres://", 0) != 0 && db.rfind("postgresql://", 0) != 0) {
    return common::unexpected(make_error(Errc::kInvalidArgument, "invalid_config", "database: expected sqlite:PATH or postgres://..."));
  }
  return {};
}

}  // namespace alter::server
