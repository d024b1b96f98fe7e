// serve, init, rotate-key.
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "app/vault_app.hpp"
#include "commands.hpp"
#include "core/log.hpp"

namespace alter::cli {
namespace {

struct ServeFlags {
  std::string config_file;
  std::string listen;
  std::string database;
  std::string tls_cert;
  std::string tls_key;
  std::string public_url;
  std::string log_level;
  std::string providers_dir;
};

// Defaults, then the TOML file, then ALTER_VAULT_* variables, then flags.
server::Config build_config(const GlobalOptions& global, const CLI::App& root, const ServeFlags& f) {
  server::Config c;
  std::string file = f.config_file;
  if (file.empty()) {
    if (const char* env = std::getenv("ALTER_VAULT_CONFIG"); env != nullptr) file = env;
  }
  if (!file.empty()) {
    if (auto r = server::apply_toml_file(c, file); !r) throw CliError{r.error().message, 2};
  }
  if (auto r = server::apply_environment(c, [](const char* n) { return std::getenv(n); }); !r) {
    throw CliError{r.error().message, 2};
  }
  if (root.get_option("--data-dir")->count() > 0) c.data_dir = global.data_dir;
  if (!f.listen.empty()) c.listen = f.listen;
  if (!f.database.empty()) c.database = f.database;
  if (!f.tls_cert.empty()) c.tls_cert = f.tls_cert;
  if (!f.tls_key.empty()) c.tls_key = f.tls_key;
  if (!f.public_url.empty()) c.public_url = f.public_url;
  if (!f.log_level.empty()) c.log_level = f.log_level;
  if (!f.providers_dir.empty()) c.providers_dir = f.providers_dir;
  if (auto v = server::validate(c); !v) throw CliError{v.error().message, 2};
  return c;
}

void add_serve_flags(CLI::App* cmd, ServeFlags& f) {
  cmd->add_option("--config", f.config_file, "TOML configuration file (also $ALTER_VAULT_CONFIG)");
  cmd->add_option("--listen", f.listen, "HOST:PORT to serve on (default 127.0.0.1:8787; port 0 picks a free one)");
  cmd->add_option("--database", f.database, "sqlite:PATH (default <data-dir>/vault.db) or postgres://...");
  cmd->add_option("--tls-cert", f.tls_cert, "PEM certificate chain: serve HTTPS");
  cmd->add_option("--tls-key", f.tls_key, "PEM private key for --tls-cert");
  cmd->add_option("--public-url", f.public_url, "the vault's address as browsers see it (connect and approval links)");
  cmd->add_option("--log-level", f.log_level, "debug, info, warn or error");
  cmd->add_option("--providers-dir", f.providers_dir, "provider JSON files replacing the built-in catalog");
}

}  // namespace

void register_server_commands(CLI::App& app, GlobalOptions& global) {
  static ServeFlags serve_flags;
  auto* serve = app.add_subcommand("serve", "run the vault server");
  add_serve_flags(serve, serve_flags);
  serve->callback(guarded(global, [&app, &global] {
    server::Config config = build_config(global, app, serve_flags);
    server::Logger log(server::parse_log_level(config.log_level).value_or(server::LogLevel::kInfo));
    auto vault = server::VaultApp::open(config, log);
    if (!vault) throw CliError{vault.error().message, 1};
    if (auto r = (*vault)->start(); !r) throw CliError{r.error().message, 1};
    log.info("listening", {{"port", (*vault)->port()}, {"public_url", (*vault)->public_url()},
                           {"data_dir", config.data_dir.string()}});
    // The bound address (port 0 picks one); the public URL too when it is another.
    std::cout << "alter-vault listening on " << (*vault)->listen_url();
    if ((*vault)->public_url() != (*vault)->listen_url()) std::cout << " (public URL " << (*vault)->public_url() << ")";
    std::cout << std::endl;
    (*vault)->run();
    log.info("stopped");
  }));

  static server::Config init_config;
  auto* init = app.add_subcommand("init", "create the data directory, master key, schema and first admin credential");
  init->callback(guarded(global, [&app, &global] {
    ServeFlags none;
    server::Config config = build_config(global, app, none);
    auto r = server::init_vault(config);
    if (!r) throw CliError{r.error().message, 1};
    std::cout << "Initialized " << r->data_dir.string() << "\n";
    if (!r->key_file.empty()) std::cout << "  master key:        " << r->key_file.string() << " (mode 0600; back it up)\n";
    else std::cout << "  master key:        from ALTER_VAULT_MASTER_KEY\n";
    std::cout << "  admin credential:  " << r->admin_token << "\n"
              << "                     (shown once; also in " << r->admin_token_file.string() << ", mode 0600)\n"
              << "Next: alter-vault serve --data-dir " << r->data_dir.string() << "\n";
  }));

  auto* rotate = app.add_subcommand("rotate-key", "add a key version and re-encrypt every secret in the background");
  rotate->callback(guarded(global, [&global] {
    auto client = global.client();
    auto answer = client.call("POST", "/v1/admin/keyring/rotate");
    if (global.json) {
      std::cout << answer.body.dump(2) << "\n";
      return;
    }
    std::cout << "Active key version: " << answer.body.value("active_version", 0)
              << "\nRe-encryption runs in the background while the vault serves (alter-vault keyring status).\n";
  }));
}

}  // namespace alter::cli
