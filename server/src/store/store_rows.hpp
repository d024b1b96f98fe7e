#pragma once
// The row readers and column lists both Store implementations share: the same tables, the same
// column order, the same checks on what is read back. A reader takes any row type with
// text/int64/blob/time/opt_time by column index (sqlite::Stmt, pg::Row).
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "store/store_internal.hpp"

namespace alter::server::store_internal {

inline constexpr std::string_view kZeroHash = "0000000000000000000000000000000000000000000000000000000000000000";

inline common::Unexpected<StoreError> fail(StoreErrc code, std::string message) {
  return common::unexpected(StoreError{code, std::move(message)});
}

inline common::Unexpected<StoreError> corrupt(std::string_view table) {
  return fail(StoreErrc::kInternal, "unreadable row in " + std::string(table));
}

inline std::int64_t sql_limit(std::size_t limit) {
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(limit > kMax ? kMax : limit);
}

inline std::int64_t key_version(const SealedBlob& blob) { return std::int64_t{blob.key_version}; }

template <class Row>
SealedBlob read_sealed(const Row& row, int bytes_col, int version_col) {
  return SealedBlob{static_cast<std::uint32_t>(row.int64(version_col)), row.blob(bytes_col)};
}

// ---- row readers (column order matches the *_COLUMNS lists) ----

inline constexpr const char* kKeyringColumns = "version, wrapped_key, created_at, active";

template <class Row>
StoreResult<KeyringEntry> read_key(const Row& s) {
  return KeyringEntry{static_cast<std::uint32_t>(s.int64(0)), s.blob(1), s.time(2), s.int64(3) != 0};
}

inline constexpr const char* kAppColumns = "id, name, return_url_allowlist_json, created_at, settings_json";

template <class Row>
StoreResult<App> read_app(const Row& s) {
  App app;
  app.id = s.text(0);
  app.name = s.text(1);
  if (!parse_string_list(s.text(2), app.return_url_allowlist)) return corrupt("apps");
  app.created_at = s.time(3);
  auto settings_json = parse_json(s.text(4));
  if (!settings_json) return corrupt("apps");
  auto settings = AppSettings::from_json(*settings_json);
  if (!settings) return corrupt("apps");
  app.settings = std::move(settings.value());
  return app;
}

inline constexpr const char* kApiKeyColumns = "id, app_id, name, hint, hash, created_at, revoked_at";

template <class Row>
StoreResult<ApiKeyRecord> read_api_key(const Row& s) {
  return ApiKeyRecord{s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), s.time(5), s.opt_time(6)};
}

inline constexpr const char* kAdminColumns = "id, name, hint, hash, created_at, revoked_at";

template <class Row>
StoreResult<AdminCredential> read_admin(const Row& s) {
  return AdminCredential{s.text(0), s.text(1), s.text(2), s.text(3), s.time(4), s.opt_time(5)};
}

inline constexpr const char* kProviderCredentialColumns =
    "app_id, provider_id, client_id, client_secret, client_secret_key_version, settings_json, updated_at";

template <class Row>
StoreResult<ProviderCredential> read_provider_credential(const Row& s) {
  ProviderCredential c;
  c.app_id = s.text(0);
  c.provider_id = s.text(1);
  c.client_id = s.text(2);
  c.client_secret = read_sealed(s, 3, 4);
  auto settings = parse_json(s.text(5));
  if (!settings) return corrupt("provider_credentials");
  c.settings = std::move(*settings);
  c.updated_at = s.time(6);
  return c;
}

inline constexpr const char* kCustomProviderColumns = "id, definition, updated_at";

template <class Row>
StoreResult<CustomProvider> read_custom_provider(const Row& s) {
  return CustomProvider{s.text(0), s.text(1), s.time(2)};
}

// With a table prefix, for joins.
inline std::string connection_columns(std::string_view p) {
  std::string out;
  for (const char* name : {"id", "app_id", "provider_id", "attributes_json", "tokens", "tokens_key_version",
                           "token_type", "scopes_json", "expires_at", "status", "metadata_json", "created_at",
                           "updated_at", "version"}) {
    if (!out.empty()) out += ", ";
    out += p;
    out += name;
  }
  return out;
}

template <class Row>
StoreResult<Connection> read_connection(const Row& s) {
  Connection c;
  c.id = s.text(0);
  c.app_id = s.text(1);
  c.provider_id = s.text(2);
  if (!parse_attributes(s.text(3), c.attributes)) return corrupt("connections");
  c.tokens = read_sealed(s, 4, 5);
  c.token_type = s.text(6);
  if (!parse_string_list(s.text(7), c.scopes)) return corrupt("connections");
  c.expires_at = s.opt_time(8);
  auto status = connection_status_from(s.text(9));
  if (!status) return corrupt("connections");
  c.status = *status;
  auto metadata = parse_json(s.text(10));
  if (!metadata) return corrupt("connections");
  c.metadata = std::move(*metadata);
  c.created_at = s.time(11);
  c.updated_at = s.time(12);
  c.version = s.int64(13);
  return c;
}

inline constexpr const char* kAuditColumns =
    "seq, id, ts, kind, app_id, actor_id, user_id, provider_id, connection_id, decision, request_id, content, "
    "prev_hash, hash, payload";

template <class Row>
StoreResult<AuditRecord> read_audit(const Row& s) {
  return AuditRecord{s.int64(0),  s.text(1),  s.time(2),  s.text(3),  s.text(4),  s.text(5),
                     s.text(6),   s.text(7),  s.text(8),  s.text(9),  s.text(10), s.text(11),
                     s.text(12),  s.text(13), s.is_null(14) ? std::nullopt : std::optional<std::string>(s.text(14))};
}

/// An AuditContentMatch path as SQLite's JSON path ($."user"."team") and as PostgreSQL's text
/// array ({user,team}); names are [A-Za-z0-9_-]+, checked by the caller.
inline std::string sqlite_json_path(const std::vector<std::string>& path) {
  std::string out = "$";
  for (const auto& p : path) out += ".\"" + p + "\"";
  return out;
}
inline std::string pg_text_array(const std::vector<std::string>& path) {
  std::string out = "{";
  for (const auto& p : path) out += (out.size() > 1 ? "," : "") + p;
  return out + "}";
}

inline constexpr const char* kPolicyColumns = "app_id, version, document, format, author, created_at";

template <class Row>
StoreResult<PolicyVersion> read_policy(const Row& s) {
  return PolicyVersion{s.text(0), s.int64(1), s.text(2), s.text(3), s.text(4), s.time(5)};
}

inline constexpr const char* kApprovalColumns =
    "id, app_id, status, binding_hash, request_json, rule_id, created_at, expires_at, decided_at, decided_by, "
    "valid_until, uses";

template <class Row>
StoreResult<Approval> read_approval(const Row& s) {
  Approval a;
  a.id = s.text(0);
  a.app_id = s.text(1);
  auto status = approval_status_from(s.text(2));
  if (!status) return corrupt("approvals");
  a.status = *status;
  a.binding_hash = s.text(3);
  auto request = parse_json(s.text(4));
  if (!request) return corrupt("approvals");
  a.request = std::move(*request);
  a.rule_id = s.text(5);
  a.created_at = s.time(6);
  a.expires_at = s.time(7);
  a.decided_at = s.opt_time(8);
  a.decided_by = s.text(9);
  a.valid_until = s.opt_time(10);
  a.uses = s.int64(11);
  return a;
}

inline constexpr const char* kSessionColumns =
    "id, app_id, provider_id, attributes_json, return_url, token_hash, state_hash, pkce_verifier, "
    "pkce_key_version, settings_json, created_at, expires_at, used_at";

template <class Row>
StoreResult<ConnectSession> read_session(const Row& s) {
  ConnectSession c;
  c.id = s.text(0);
  c.app_id = s.text(1);
  c.provider_id = s.text(2);
  if (!parse_attributes(s.text(3), c.attributes)) return corrupt("connect_sessions");
  c.return_url = s.text(4);
  c.token_hash = s.text(5);
  c.state_hash = s.text(6);
  c.pkce_verifier = read_sealed(s, 7, 8);
  auto settings = parse_json(s.text(9));
  if (!settings) return corrupt("connect_sessions");
  c.settings = std::move(*settings);
  c.created_at = s.time(10);
  c.expires_at = s.time(11);
  c.used_at = s.opt_time(12);
  return c;
}

inline std::string select_sql(const char* columns, std::string_view rest) {
  std::string sql = "SELECT ";
  sql += columns;
  sql += ' ';
  sql += rest;
  return sql;
}

// The optional text filters of an audit query, in the order of their SQL clauses.
inline std::array<const std::optional<std::string>*, 8> audit_text_filters(const AuditFilter& filter) {
  return {&filter.app_id,   &filter.actor_id, &filter.user_id,    &filter.provider_id,
          &filter.decision, &filter.kind,     &filter.request_id, &filter.connection_id};
}

// Token decisions and call events are nearly every audit row; the other kinds and decisions are
// the rare rows people look for. Those are indexed by partial indexes (every audit insert touches
// fewer B-trees), which a query uses when it states the index's condition: this returns it for
// the filter's rare kind and decision (the same SQL in both stores). The partial indexes are
// created with these very conditions: SQLite migration 4, PostgreSQL migration 3; change them
// together.
inline constexpr const char* kAuditRareKindsSql = "kind NOT IN ('token', 'api_call')";
inline constexpr const char* kAuditRareDecisionsSql = "decision NOT IN ('issued', 'called')";
inline std::string audit_partial_index_terms(const AuditFilter& filter) {
  std::string sql;
  if (filter.kind && *filter.kind != "token" && *filter.kind != "api_call") sql += std::string(" AND ") + kAuditRareKindsSql;
  if (filter.decision && *filter.decision != "issued" && *filter.decision != "called") {
    sql += std::string(" AND ") + kAuditRareDecisionsSql;
  }
  return sql;
}

}  // namespace alter::server::store_internal
