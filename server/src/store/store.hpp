#pragma once
// The vault's storage: one interface, two implementations (sqlite/ is the default; postgres/ for
// several vault instances on one database). Every call blocks: callers run it on the worker pool,
// never on an I/O thread. Secrets reach the store only sealed (crypto/keyring.hpp); API keys and
// admin credentials only as SHA-256 hashes.
//
// Errors: kNotFound, kConflict (unique or compare-and-set failure), kUnavailable (the database
// cannot be reached or is locked for too long: the vault answers 503), kInvalid, kInternal.
#include <alter/common/result.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/model.hpp"

namespace alter::server {

enum class StoreErrc { kNotFound, kConflict, kUnavailable, kInvalid, kInternal };

struct StoreError {
  StoreErrc code = StoreErrc::kInternal;
  std::string message;
};

template <class T>
using StoreResult = common::Result<T, StoreError>;

struct ConnectionFilter {
  std::string app_id;                      // required
  std::optional<std::string> provider_id;  // exact
  Attributes attributes;                   // every given attribute must be equal
  std::optional<ConnectionStatus> status;
  std::size_t limit = 1000;
};

struct AuditHead {
  std::int64_t seq = 0;
  std::string hash;  // 64 zeros when empty
};

/// A condition on a row's content: the value at `path` (e.g. {"user", "team"}) equals `value`,
/// or is absent when `value` is empty. Path names are [A-Za-z0-9_-]+ (the caller checks).
struct AuditContentMatch {
  std::vector<std::string> path;
  std::optional<std::string> value;
};

struct AuditFilter {
  std::optional<std::string> app_id;
  std::optional<TimePoint> since;
  std::optional<TimePoint> until;
  std::optional<std::string> actor_id;
  std::optional<std::string> user_id;
  std::optional<std::string> provider_id;
  std::optional<std::string> decision;
  std::optional<std::string> kind;
  std::optional<std::string> request_id;
  std::optional<std::string> connection_id;
  std::vector<AuditContentMatch> content;  // not indexed: a scan within the other filters
  std::int64_t after_seq = 0;  // for paging: rows with seq > after_seq
  std::size_t limit = 1000;
};

/// Computes a row's hash from the previous row's hash, the row's seq and its content.
using AuditHasher = std::function<std::string(const std::string& prev_hash, std::int64_t seq, const std::string& content)>;

class Store {
 public:
  virtual ~Store() = default;

  /// Applies pending versioned migrations (idempotent). Returns the schema version.
  virtual StoreResult<int> migrate() = 0;
  /// A cheap round trip, for /readyz.
  virtual StoreResult<void> ping() = 0;
  /// Whether a write can be expected to succeed now (for /readyz): SQLite also checks the free
  /// space of the database's file system. kUnavailable with a reason when not.
  virtual StoreResult<void> check_writable() { return ping(); }

  // ---- keyring ----
  virtual StoreResult<std::vector<KeyringEntry>> keyring() = 0;
  /// Adds a key version and makes it the only active one, atomically.
  virtual StoreResult<void> add_key(const KeyringEntry& entry) = 0;

  // ---- apps ----
  virtual StoreResult<void> create_app(const App& app) = 0;  // kConflict if the id exists
  virtual StoreResult<App> get_app(const std::string& id) = 0;
  virtual StoreResult<std::vector<App>> list_apps() = 0;
  virtual StoreResult<void> update_app(const App& app) = 0;

  // ---- API keys (hash only) ----
  virtual StoreResult<void> create_api_key(const ApiKeyRecord& key) = 0;
  /// kNotFound when no key has this hash (revoked keys are returned with revoked_at set).
  virtual StoreResult<ApiKeyRecord> find_api_key(const std::string& hash) = 0;
  virtual StoreResult<std::vector<ApiKeyRecord>> list_api_keys(const std::string& app_id) = 0;
  virtual StoreResult<void> revoke_api_key(const std::string& id, TimePoint at) = 0;

  // ---- admin credentials (hash only) ----
  virtual StoreResult<void> create_admin_credential(const AdminCredential& credential) = 0;
  virtual StoreResult<AdminCredential> find_admin_credential(const std::string& hash) = 0;
  virtual StoreResult<std::vector<AdminCredential>> list_admin_credentials() = 0;
  virtual StoreResult<void> revoke_admin_credential(const std::string& id, TimePoint at) = 0;

  // ---- provider credentials and custom providers ----
  virtual StoreResult<void> put_provider_credential(const ProviderCredential& credential) = 0;  // upsert
  virtual StoreResult<ProviderCredential> get_provider_credential(const std::string& app_id,
                                                                  const std::string& provider_id) = 0;
  virtual StoreResult<std::vector<ProviderCredential>> list_provider_credentials(const std::string& app_id) = 0;
  virtual StoreResult<void> delete_provider_credential(const std::string& app_id, const std::string& provider_id) = 0;
  virtual StoreResult<void> put_custom_provider(const CustomProvider& provider) = 0;  // upsert
  virtual StoreResult<std::vector<CustomProvider>> list_custom_providers() = 0;
  virtual StoreResult<void> delete_custom_provider(const std::string& id) = 0;

  // ---- connections ----
  /// Inserts, or replaces the connection with the same (app, provider, attributes): then keeps
  /// its id and created_at. A new row without an id gets a fresh uuid. Returns the stored row
  /// (id and version set).
  virtual StoreResult<Connection> upsert_connection(const Connection& connection) = 0;
  virtual StoreResult<Connection> get_connection(const std::string& id) = 0;
  virtual StoreResult<std::vector<Connection>> find_connections(const ConnectionFilter& filter) = 0;
  /// Compare-and-set on `expected_version`: writes tokens, token_type, scopes, expires_at, status
  /// and metadata of `connection`, bumps the version. kConflict when the version moved on.
  virtual StoreResult<Connection> update_connection(const Connection& connection, std::int64_t expected_version) = 0;
  virtual StoreResult<void> delete_connection(const std::string& id) = 0;
  /// Connections whose tokens are sealed under a key version other than `active_version`, for
  /// re-encryption after a key rotation.
  virtual StoreResult<std::vector<Connection>> connections_needing_rekey(std::uint32_t active_version,
                                                                        std::size_t limit) = 0;
  virtual StoreResult<std::vector<ProviderCredential>> provider_credentials_needing_rekey(std::uint32_t active_version,
                                                                                         std::size_t limit) = 0;
  /// Active connections expiring before `before` (for background refresh).
  virtual StoreResult<std::vector<Connection>> connections_expiring_before(TimePoint before, std::size_t limit) = 0;

  // ---- audit ----
  /// Appends rows in one transaction: assigns seq, prev_hash and hash (with `hasher`) to each
  /// row, continuing the chain from the head, and moves the head. All or nothing.
  virtual StoreResult<void> append_audit(std::vector<AuditRecord>& rows, const AuditHasher& hasher) = 0;
  virtual StoreResult<AuditHead> audit_head() = 0;
  /// Rows matching the filter, by ascending seq.
  virtual StoreResult<std::vector<AuditRecord>> query_audit(const AuditFilter& filter) = 0;
  /// One transaction for a change and its audit rows: runs `changes`, in which every call on this
  /// Store (from the same thread) joins the transaction, then appends `audit` (continuing the
  /// chain, as append_audit does) and, with `bump_change_version`, bumps the change version. All
  /// or nothing: when `changes`, the audit append or the commit fails, nothing of it is written
  /// (a change is never stored without its audit row). On success `audit` has seq and hashes.
  virtual StoreResult<void> commit_with_audit(const std::function<StoreResult<void>()>& changes,
                                              std::vector<AuditRecord>& audit, const AuditHasher& hasher,
                                              bool bump_change_version) = 0;
  /// Drops the payload of every row matching `filter` (limit and after_seq ignored) and returns
  /// how many rows lost theirs. The rows themselves, and so the chain, stay as they are.
  virtual StoreResult<std::int64_t> purge_audit_payloads(const AuditFilter& filter) = 0;

  // ---- policies ----
  /// Stores a new version (previous + 1) and returns it.
  virtual StoreResult<PolicyVersion> put_policy(const PolicyVersion& policy) = 0;
  /// The latest version (version 0 means latest) or a given one. kNotFound when none.
  virtual StoreResult<PolicyVersion> get_policy(const std::string& app_id, std::int64_t version) = 0;
  virtual StoreResult<std::vector<PolicyVersion>> list_policies(const std::string& app_id) = 0;

  // ---- approvals ----
  virtual StoreResult<void> create_approval(const Approval& approval) = 0;
  virtual StoreResult<Approval> get_approval(const std::string& id) = 0;
  virtual StoreResult<std::vector<Approval>> list_approvals(const std::string& app_id,
                                                            std::optional<ApprovalStatus> status,
                                                            std::size_t limit) = 0;
  /// Compare-and-set of the status (and decided_at, decided_by, valid_until, uses) from
  /// `expected`. kConflict when the stored status is not `expected`.
  virtual StoreResult<Approval> update_approval(const Approval& approval, ApprovalStatus expected) = 0;

  // ---- connect sessions ----
  virtual StoreResult<void> create_connect_session(const ConnectSession& session) = 0;
  virtual StoreResult<ConnectSession> find_connect_session_by_token(const std::string& token_hash) = 0;
  virtual StoreResult<ConnectSession> find_connect_session_by_state(const std::string& state_hash) = 0;
  /// Sets state_hash and pkce_verifier (when the browser is redirected to the provider).
  virtual StoreResult<void> start_connect_session(const std::string& id, const std::string& state_hash,
                                                  const SealedBlob& pkce_verifier) = 0;
  /// Marks the session used, once: kConflict if it was already used.
  virtual StoreResult<void> use_connect_session(const std::string& id, TimePoint at) = 0;

  // ---- several vault instances on one database ----
  // SQLite serves one instance: these are trivial there. PostgreSQL makes them hold across
  // instances.

  /// Runs `fn` while holding an exclusive lock on `connection_id` that every instance respects
  /// (PostgreSQL: a session advisory lock on a dedicated pool connection, released after `fn`, also
  /// when `fn` throws). `fn` may use the store. SQLite: a process-local lock. kUnavailable when the
  /// lock cannot be taken within `timeout`.
  virtual StoreResult<void> with_connection_lock(const std::string& connection_id, std::chrono::milliseconds timeout,
                                                 const std::function<void()>& fn) = 0;
  /// True when with_connection_lock only orders this process's callers (SQLite: one vault per
  /// file), so an in-process single flight gives the same guarantee without holding a thread.
  virtual bool connection_lock_is_local() const { return false; }
  /// Counts one hit for `key` in the fixed window starting at `window_start` (lasting `window`) and
  /// returns the count including this hit; windows that ended are pruned now and then.
  virtual StoreResult<std::int64_t> rate_limit_hit(const std::string& key, TimePoint window_start,
                                                   std::chrono::seconds window) = 0;
  /// The current count for `key` in that window, without a hit.
  virtual StoreResult<std::int64_t> rate_limit_peek(const std::string& key, TimePoint window_start) = 0;
  /// A counter every instance can read cheaply; bumped whenever shared cached state changes
  /// (policies, keyring, custom providers). One row; monotonic.
  virtual StoreResult<std::int64_t> change_version() = 0;
  /// Whether change_version() is answered from memory (one instance owns the store), so the token
  /// path may read it on an I/O thread; else it is a query, made where blocking is allowed.
  virtual bool change_version_in_memory() const { return false; }
  /// Bumps the change version (PostgreSQL: and NOTIFY alter_changes) after a change committed.
  virtual StoreResult<std::int64_t> bump_change_version() = 0;

  // ---- housekeeping ----
  /// Rows in each table, for tests and /metrics: {"connections": 3, ...}.
  virtual StoreResult<std::map<std::string, std::int64_t>> table_counts() = 0;
  /// Connections per stored status: {"active": 5, "reauth_required": 1} (absent: none).
  virtual StoreResult<std::map<std::string, std::int64_t>> connection_status_counts() = 0;
};


}  // namespace alter::server
