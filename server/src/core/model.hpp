#pragma once
// The vault's domain model: apps and their settings, API keys, admin credentials, provider
// credentials, connections, audit rows, policies, approvals, connect sessions, and the sealed
// blobs and keyring entries that hold their secrets. Plain values, shared by every layer; the
// store (store/store.hpp) persists them, the domain (vault/) works with them.
#include <alter/common/result.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.hpp"

namespace alter::server {

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
  /// POST /oauth/token hands the raw token to the app. Off: 403 token_handout_disabled, and the
  /// app calls providers through the vault's proxy (/v1/proxy), where the token never leaves the
  /// vault. Stored settings without the key (apps created before the proxy) keep handing tokens
  /// out; apps created from then on start with it off (for_new_app()).
  bool token_handout = true;

  /// The settings a newly created app starts with: no token handout.
  static AppSettings for_new_app() {
    AppSettings s;
    s.token_handout = false;
    return s;
  }

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

// These spellings are stored in the database: changing one needs a migration.
std::string_view to_string(ConnectionStatus status);
std::optional<ConnectionStatus> connection_status_from(std::string_view text);
std::string_view to_string(ApprovalStatus status);
std::optional<ApprovalStatus> approval_status_from(std::string_view text);

}  // namespace alter::server
