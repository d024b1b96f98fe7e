#pragma once
// Builds a running vault from its configuration, layer by layer (docs/adr/0008): the store, the
// sealed store over it, the engines (catalog and OAuth client, policies, the audit chain), the
// domain services, the routes, the HTTP server; and the one-off command init.
#include <alter/common/clock.hpp>

#include <atomic>
#include <memory>
#include <string>

#include "api/api.hpp"
#include "audit/audit_log.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "sealed/sealed_store.hpp"
#include "vault/admin.hpp"
#include "vault/approvals.hpp"
#include "vault/audit_trail.hpp"
#include "vault/authenticator.hpp"
#include "vault/background.hpp"
#include "vault/cache.hpp"
#include "vault/connections.hpp"
#include "vault/console_sessions.hpp"
#include "vault/issued.hpp"
#include "vault/policies.hpp"
#include "vault/proxy.hpp"
#include "vault/token_broker.hpp"
#include "vault/token_manager.hpp"

namespace alter::internal {
class Transport;
}

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
/// first admin credential (also written to <data_dir>/admin.token, 0600), all with their audit
/// row in one transaction.
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

  const std::string& public_url() const { return public_url_; }
  /// The address it listens on, as a URL (with the port chosen for port 0), whatever public_url says.
  const std::string& listen_url() const { return listen_url_; }
  Store& store() { return *store_; }
  vault::AdminService& admin() { return *admin_; }
  vault::PolicyService& policies() { return *policies_; }
  const common::Clock& clock() const { return *clock_; }

 private:
  VaultApp() = default;
  /// Every request: answered on the I/O thread when its route can do it without blocking, else
  /// by handle() on a worker thread.
  void serve(http::Request& request, http::Reply reply);
  http::Response handle(http::Request& request);
  /// The request's metrics and log line.
  void account(std::string_view method, const std::string& route, const http::Response& response,
               std::chrono::steady_clock::time_point received_at);
  Result<void> register_sandbox();

  Config config_;
  Logger* log_ = nullptr;
  const common::Clock* clock_ = nullptr;
  std::string public_url_;
  std::string listen_url_;
  std::atomic<bool> draining_{false};
  std::atomic<std::int64_t> last_refusal_log_{0};

  // The layers, bottom up (destroyed top down).
  std::unique_ptr<Store> store_;
  std::unique_ptr<crypto::MasterKey> master_;
  std::unique_ptr<sealed::SealedStore> sealed_;
  std::shared_ptr<oauth::Catalog> catalog_;
  std::unique_ptr<Metrics> metrics_;
  // Before the audit writer: destroyed after it, so a proxied call's row completing while the
  // writer drains still finds the proxy.
  std::unique_ptr<vault::ProxyService> proxy_;
  std::unique_ptr<audit::AuditWriter> audit_writer_;
  std::unique_ptr<audit::AuditLog> audit_log_;
  std::shared_ptr<alter::internal::Transport> transport_;
  std::unique_ptr<oauth::OAuthClient> oauth_;
  std::unique_ptr<policy::RateLimiter> limiter_;
  std::unique_ptr<policy::PolicyEngine> engine_;
  std::unique_ptr<vault::VaultCache> cache_;
  std::unique_ptr<vault::IssuedDecisions> issued_;
  std::unique_ptr<vault::Authenticator> authenticator_;
  std::unique_ptr<vault::TokenManager> tokens_;
  std::unique_ptr<vault::ApprovalService> approvals_;
  std::unique_ptr<vault::TokenBroker> broker_;
  std::unique_ptr<vault::ConnectionService> connections_;
  std::unique_ptr<vault::AdminService> admin_;
  std::unique_ptr<vault::PolicyService> policies_;
  std::unique_ptr<vault::AuditTrail> trail_;
  std::unique_ptr<vault::SharedState> shared_state_;
  std::unique_ptr<vault::KeyRotation> rotation_;
  std::unique_ptr<vault::Refresher> refresher_;
  std::unique_ptr<vault::ConsoleSessions> console_sessions_;
  std::unique_ptr<api::Api> api_;
  std::unique_ptr<http::Router> router_;
  std::unique_ptr<sandbox::Sandbox> sandbox_;
  std::unique_ptr<http::HttpServer> server_;
};

}  // namespace alter::server
