#pragma once
// The vault's background work, each a small piece with its dependencies named:
//   - KeyRotation: a new data key version (with its audit row), then re-encryption of everything
//     sealed under older versions while the vault serves (compare-and-set per row);
//   - Refresher: refreshes tokens shortly before they expire, skipping connections that back off
//     after failures;
//   - SharedState: what another instance changed (policies, keys, apps, providers, the keyring),
//     seen through the store's change version, drops or reloads what this instance caches.
#include <alter/common/clock.hpp>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "audit/audit_log.hpp"
#include "core/log.hpp"
#include "oauth/catalog.hpp"
#include "policy/engine.hpp"
#include "sealed/sealed_store.hpp"
#include "store/store.hpp"
#include "vault/admin.hpp"
#include "vault/cache.hpp"
#include "vault/token_manager.hpp"

namespace alter::server::vault {

class KeyRotation {
 public:
  KeyRotation(Store& store, sealed::SealedStore& sealed, AdminService& admin, audit::AuditLog& audit, VaultCache& cache,
              Logger& log);
  ~KeyRotation();
  /// Rotates (a new active version, audited) and starts re-encrypting in the background.
  Result<nlohmann::json> start(const AdminCaller& by);
  /// Finishes a re-encryption a previous run left half done.
  void resume_if_needed();
  nlohmann::json status() const;
  void stop();

 private:
  void run();
  void launch();

  Store& store_;
  sealed::SealedStore& sealed_;
  AdminService& admin_;
  audit::AuditLog& audit_;
  VaultCache& cache_;
  Logger& log_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

class Refresher {
 public:
  Refresher(Store& store, std::shared_ptr<oauth::Catalog> catalog, TokenManager& tokens, const common::Clock& clock,
            std::chrono::milliseconds skew, Logger& log);
  ~Refresher();
  void start();
  void stop();

 private:
  void run();

  Store& store_;
  std::shared_ptr<oauth::Catalog> catalog_;
  TokenManager& tokens_;
  const common::Clock& clock_;
  const std::chrono::milliseconds skew_;
  Logger& log_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

class SharedState {
 public:
  SharedState(Store& store, sealed::SealedStore& sealed, policy::PolicyEngine& engine, VaultCache& cache,
              std::shared_ptr<oauth::Catalog> catalog, bool dev_mode, Logger& log)
      : store_(store), sealed_(sealed), engine_(engine), cache_(cache), catalog_(std::move(catalog)), dev_mode_(dev_mode), log_(log) {}
  /// Cheap when nothing changed (one read of the change version).
  void sync();
  /// Whether sync() would have nothing to do, known without blocking (false when the change
  /// version is a query, or when it moved).
  bool in_sync_without_blocking() const;
  /// The custom providers of the store into the catalog (at start, and after a change elsewhere);
  /// one whose endpoints are not https outside dev mode is skipped with a warning.
  void load_custom_providers();

 private:
  Store& store_;
  sealed::SealedStore& sealed_;
  policy::PolicyEngine& engine_;
  VaultCache& cache_;
  std::shared_ptr<oauth::Catalog> catalog_;
  const bool dev_mode_;
  Logger& log_;
  std::mutex mu_;
  std::atomic<std::int64_t> seen_{0};
};

}  // namespace alter::server::vault
