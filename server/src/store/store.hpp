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

#include "core/types.hpp"

namespace alter::server {

enum class StoreErrc { kNotFound, kConflict, kUnavailable, kInvalid, kInternal };

struct StoreError {
  StoreErrc code = StoreErrc::kInternal;
  std::string message;
};

template <class T>
using StoreResult = common::Result<T, StoreError>;

/// A ciphertext as stored: the blob carries its key version too (see crypto/aead.hpp); the
/// column copy lets rotation find rows still sealed under an old key.
struct SealedBlob {
  std::uint32_t key_version = 0;
  std::string bytes;  // binary
};

struct KeyringEntry {
  std::uint32_t version = 0;
  std::string wrapped_key;  // the data key sealed under the master key (binary)
  TimePoint created_at{};
  bool active = false;
};

/// What the audit trail keeps of a provider call besides its metadata (method, URL, status,
/// latency, sizes): nothing more, the (redacted) headers, or the headers and the bodies (each
/// capped at 10 KB). Headers and bodies are the call's *payload*: stored beside the hashed row,
/// which holds only the payload's digest, so they can be purged without breaking the chain.
enum class AuditCapture { kNone, kHeaders, kBodies };

std::string_view to_string(AuditCapture capture);
std::optional<AuditCapture> audit_capture_from(std::string_view text);

/// An app's settings (stored as one JSON column).
struct AppSettings {
  AuditCapture audit_capture = AuditCapture::kHeaders;
  std::map<std::string, AuditCapture> audit_capture_by_provider;  // overrides per provider id
  /// alter-sdk 0.1 clients name no URL in token requests. Off (the default): such a request is
  /// refused (url_not_allowed). On: it is decided without the URL guard, matched only by rules with
  /// no methods, hosts or paths, and audited as url_less (docs/protocol.md).
  bool allow_url_less_token_requests = false;

  AuditCapture capture_for(const std::string& provider_id) const {
    auto it = audit_capture_by_provider.find(provider_id);
    return it == audit_capture_by_provider.end() ? audit_capture : it->second;
  }
  nlohmann::json to_json() const;
  /// Unknown keys and bad values are refused (with a sentence naming them).
  static common::Result<AppSettings, std::string> from_json(const nlohmann::json& j);
};

struct App {
  std::string id;    // "default", or a slug chosen at creation: [a-z0-9][a-z0-9_-]{0,63}
  std::string name;
  std::vector<std::string> return_url_allowlist;  // prefixes allowed as connect return_url
  TimePoint created_at{};
  AppSettings settings;
};

struct ApiKeyRecord {
  std::string id;      // uuid
  std::string app_id;
  std::string name;
  std::string hint;    // "alter_key_ab12…" for listings
  std::string hash;    // hex SHA-256 of the whole key; unique
  TimePoint created_at{};
  std::optional<TimePoint> revoked_at;
};

struct AdminCredential {
  std::string id;
  std::string name;
  std::string hint;
  std::string hash;  // hex SHA-256; unique
  TimePoint created_at{};
  std::optional<TimePoint> revoked_at;
};

struct ProviderCredential {
  std::string app_id;
  std::string provider_id;
  std::string client_id;
  SealedBlob client_secret;  // may be empty (public clients)
  nlohmann::json settings = nlohmann::json::object();  // e.g. {"subdomain": "acme"}, redirect_uri
  TimePoint updated_at{};
};

/// A provider added at run time (admin API), as the catalog's JSON definition.
struct CustomProvider {
  std::string id;
  std::string definition;  // JSON text
  TimePoint updated_at{};
};

enum class ConnectionStatus { kActive, kReauthRequired };

struct Connection {
  std::string id;  // uuid
  std::string app_id;
  std::string provider_id;
  Attributes attributes;  // e.g. {"user_id": "alice"}; (app, provider, attributes) is unique
  SealedBlob tokens;      // JSON {"access_token", "refresh_token"?, "id_token"?}, sealed
  std::string token_type = "Bearer";
  std::vector<std::string> scopes;
  std::optional<TimePoint> expires_at;  // none: does not expire
  ConnectionStatus status = ConnectionStatus::kActive;
  nlohmann::json metadata = nlohmann::json::object();  // kept response fields, e.g. instance_url
  TimePoint created_at{};
  TimePoint updated_at{};
  std::int64_t version = 0;  // set by the store; bumped by every update (compare-and-set)
};

struct ConnectionFilter {
  std::string app_id;                      // required
  std::optional<std::string> provider_id;  // exact
  Attributes attributes;                   // every given attribute must be equal
  std::optional<ConnectionStatus> status;
  std::size_t limit = 1000;
};

/// One row of the tamper-evident audit trail. `content` is the canonical JSON of the event (what
/// is hashed); the other columns are copies of some of its fields, for queries.
struct AuditRecord {
  std::int64_t seq = 0;  // assigned by append_audit: 1, 2, 3, ... with no gaps
  std::string id;        // uuid
  TimePoint ts{};
  std::string kind;      // "token", "api_call", "admin", "refresh", "revocation", "connect", "approval"
  std::string app_id;
  std::string actor_id;
  std::string user_id;   // attributes["user_id"] when present
  std::string provider_id;
  std::string connection_id;
  std::string decision;  // "issued", "denied", "not_found", "ambiguous", "expired", "approval_required", ...
  std::string request_id;
  std::string content;
  std::string prev_hash;  // hex; 64 zeros before the first row
  std::string hash;       // hex
  /// The call's payload (redacted headers, capped bodies) as JSON text; `content` holds its
  /// SHA-256 as payload_sha256. Absent when none was kept, or after it was purged.
  std::optional<std::string> payload;
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

struct PolicyVersion {
  std::string app_id;
  std::int64_t version = 0;  // 1, 2, ... per app; assigned by put_policy
  std::string document;      // the source text as applied
  std::string format;        // "toml" | "json"
  std::string author;
  TimePoint created_at{};
};

enum class ApprovalStatus { kPending, kApproved, kDenied, kExpired, kUsed };

struct Approval {
  std::string id;
  std::string app_id;
  ApprovalStatus status = ApprovalStatus::kPending;
  std::string binding_hash;  // hash of (actor, user attributes, provider, method, URL)
  nlohmann::json request = nlohmann::json::object();  // what is shown to the approver
  std::string rule_id;
  TimePoint created_at{};
  TimePoint expires_at{};          // a pending approval expires then
  std::optional<TimePoint> decided_at;
  std::string decided_by;
  std::optional<TimePoint> valid_until;  // approved: usable until then (window), else single use
  std::int64_t uses = 0;
};

struct ConnectSession {
  std::string id;
  std::string app_id;
  std::string provider_id;
  Attributes attributes;
  std::string return_url;
  std::string token_hash;   // hex SHA-256 of the one-time connect token in the URL
  std::string state_hash;   // hex SHA-256 of the OAuth state (set when the redirect is made)
  SealedBlob pkce_verifier;
  nlohmann::json settings = nlohmann::json::object();  // e.g. shop/subdomain for templated hosts
  TimePoint created_at{};
  TimePoint expires_at{};
  std::optional<TimePoint> used_at;
};

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
  /// Counts one hit for `key` in the fixed window starting at `window_start` (lasting `window`) and
  /// returns the count including this hit; windows that ended are pruned now and then.
  virtual StoreResult<std::int64_t> rate_limit_hit(const std::string& key, TimePoint window_start,
                                                   std::chrono::seconds window) = 0;
  /// The current count for `key` in that window, without a hit.
  virtual StoreResult<std::int64_t> rate_limit_peek(const std::string& key, TimePoint window_start) = 0;
  /// A counter every instance can read cheaply; bumped whenever shared cached state changes
  /// (policies, keyring, custom providers). One row; monotonic.
  virtual StoreResult<std::int64_t> change_version() = 0;
  /// Bumps the change version (PostgreSQL: and NOTIFY alter_changes) after a change committed.
  virtual StoreResult<std::int64_t> bump_change_version() = 0;

  // ---- housekeeping ----
  /// Rows in each table, for tests and /metrics: {"connections": 3, ...}.
  virtual StoreResult<std::map<std::string, std::int64_t>> table_counts() = 0;
};

std::string_view to_string(ConnectionStatus status);
std::optional<ConnectionStatus> connection_status_from(std::string_view text);
std::string_view to_string(ApprovalStatus status);
std::optional<ApprovalStatus> approval_status_from(std::string_view text);

}  // namespace alter::server
