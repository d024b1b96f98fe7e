#pragma once
// The admin operations over apps, API keys, admin credentials, providers' client credentials,
// custom providers and the keyring. Each change commits with its audit row (kind admin) and, where
// other instances cache what it changed, the change version, in one transaction.
#include <alter/common/clock.hpp>
#include <alter/common/secret.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit_log.hpp"
#include "oauth/catalog.hpp"
#include "sealed/sealed_store.hpp"
#include "store/store.hpp"
#include "vault/cache.hpp"
#include "vault/types.hpp"

namespace alter::server::vault {

struct NewKey {
  ApiKeyRecord record;
  std::string key;  // shown once
};

struct NewAdminCredential {
  AdminCredential record;
  std::string token;  // shown once
};

struct CredentialSpec {
  std::string client_id;
  std::optional<common::SecretString> client_secret;
  Attributes settings;
};

class AdminService {
 public:
  struct Options {
    bool dev_mode = false;
  };
  AdminService(Options options, std::shared_ptr<oauth::Catalog> catalog, Store& store, sealed::SealedStore& sealed,
               audit::AuditLog& audit, VaultCache& cache, const common::Clock& clock);

  Result<App> create_app(App app, const AdminCaller& by);
  /// `change` edits the stored app (name, allow-list, settings); committed with its row.
  Result<App> update_app(const std::string& id, const std::function<Result<void>(App&)>& change, const AdminCaller& by);
  Result<App> get_app(const std::string& id) const;
  Result<std::vector<App>> list_apps() const;

  Result<NewKey> create_key(const std::string& app_id, const std::string& name, const AdminCaller& by);
  Result<std::vector<ApiKeyRecord>> list_keys(const std::string& app_id) const;
  Result<ApiKeyRecord> revoke_key(const std::string& key_id, const AdminCaller& by);

  Result<NewAdminCredential> create_admin(const std::string& name, const AdminCaller& by);
  Result<std::vector<AdminCredential>> list_admins() const;
  Result<void> revoke_admin(const std::string& id, const AdminCaller& by);

  Result<ProviderCredential> put_credential(const std::string& app_id, const std::string& provider_id, CredentialSpec spec,
                                            const AdminCaller& by);
  Result<std::vector<ProviderCredential>> list_credentials(const std::string& app_id) const;
  Result<void> delete_credential(const std::string& app_id, const std::string& provider_id, const AdminCaller& by);

  /// A custom provider: its endpoints must be https outside dev mode (and read as the guard reads).
  Result<oauth::ProviderDef> add_provider(const nlohmann::json& definition, const AdminCaller& by);
  Result<void> remove_provider(const std::string& id, const AdminCaller& by);

  /// A new data key version, active at once, with its audit row; re-encryption of what the older
  /// versions sealed is started by the caller (VaultApp runs it in the background).
  Result<std::uint32_t> rotate_key(const AdminCaller& by);

  /// Row counts per table and the audit chain's head (GET /v1/admin/stats).
  struct Stats {
    std::map<std::string, std::int64_t> tables;
    std::int64_t audit_head_seq = 0;
    std::string audit_head_hash;
    std::map<std::string, std::int64_t> connections_by_status;  // "active", "reauth_required"
  };
  Result<Stats> stats() const;
  /// Ready to serve: the store takes writes and the audit trail was not failing lately (every
  /// audited answer would be a 503). The error's message says which.
  Result<void> ready() const;

 private:
  Result<App> existing_app(const std::string& id) const;

  Options options_;
  std::shared_ptr<oauth::Catalog> catalog_;
  Store& store_;
  sealed::SealedStore& sealed_;
  audit::AuditLog& audit_;
  VaultCache& cache_;
  const common::Clock& clock_;
};

/// Checks a provider's endpoints (authorization, token, refresh, revocation, userinfo) with the
/// guard's URL reader: https, or http to a loopback host in dev mode. Templated URLs are checked
/// again when used, once their variables are filled in.
Result<void> check_provider_endpoints(const oauth::ProviderDef& provider, bool dev_mode);

}  // namespace alter::server::vault
