#pragma once
// Builds a running vault from its configuration: store, keyring, catalog, audit writer, OAuth
// client, token manager, policy engine, routes; and the one-off commands init and rotate-key.
#include <alter/common/clock.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "api/cache.hpp"
#include "api/services.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "http/router.hpp"
#include "http/server.hpp"

namespace alter::server {

namespace sandbox {
class Sandbox;
}

/// Opens the store named by config.database_url() and migrates it.
Result<std::unique_ptr<Store>> open_store(const Config& config);

struct InitResult {
  std::filesystem::path data_dir;
  std::filesystem::path key_file;  // empty when the master key came from the environment
  std::string admin_token;         // shown once
  std::filesystem::path admin_token_file;
};

/// `alter-vault init`: the data dir (0700), the master key file (0600, unless
/// ALTER_VAULT_MASTER_KEY is set), the schema, keyring version 1, the "default" app and the
/// first admin credential (also written to <data_dir>/admin.token, 0600).
Result<InitResult> init_vault(const Config& config, const common::Clock& clock = common::SystemClock::instance());

class VaultApp {
 public:
  static Result<std::unique_ptr<VaultApp>> open(Config config, Logger& log,
                                                const common::Clock& clock = common::SystemClock::instance());
  ~VaultApp();

  /// Binds (port 0 picks one), starts background jobs. public_url is known after this.
  Result<void> start();
  unsigned short port() const;
  /// Serves until SIGTERM/SIGINT or stop(), then drains.
  void run();
  void stop();

  api::Services& services() { return *services_; }
  const std::string& public_url() const { return services_->public_url; }

 private:
  VaultApp() = default;
  http::Response handle(http::Request& request);
  Result<nlohmann::json> start_rekey();
  nlohmann::json rekey_status();
  void rekey_loop();
  void refresh_loop();
  Result<void> register_sandbox();
  void sync_shared_state();

  Config config_;
  Logger* log_ = nullptr;
  const common::Clock* clock_ = nullptr;
  std::unique_ptr<Store> store_;
  std::unique_ptr<crypto::MasterKey> master_;
  std::shared_ptr<crypto::Keyring> keyring_;
  std::shared_ptr<oauth::Catalog> catalog_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<audit::AuditWriter> audit_;
  std::unique_ptr<oauth::OAuthClient> oauth_;
  std::unique_ptr<oauth::TokenManager> tokens_;
  struct PolicyParts;
  std::unique_ptr<PolicyParts> policy_;
  std::unique_ptr<api::Services> services_;
  std::unique_ptr<api::ApprovalService> approvals_;
  std::unique_ptr<sandbox::Sandbox> sandbox_;
  std::unique_ptr<api::VaultCache> cache_;
  http::Router router_;
  std::unique_ptr<http::HttpServer> server_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopping_{false};
  std::mutex sync_mu_;
  std::atomic<std::int64_t> seen_change_version_{0};
  std::atomic<std::int64_t> last_refusal_log_{0};

  std::mutex jobs_mu_;
  std::condition_variable jobs_cv_;
  std::thread rekey_thread_;
  std::atomic<bool> rekey_running_{false};
  std::thread refresh_thread_;
};

}  // namespace alter::server
