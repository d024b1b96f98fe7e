#include "store/postgres/postgres_store.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <limits>
#include <map>
#include <string_view>
#include <type_traits>
#include <utility>

#include "store/postgres/pg_db.hpp"
#include "store/postgres/pg_migrations.hpp"
#include "store/postgres/pg_queries.hpp"
#include "store/store_internal.hpp"
#include "store/store_rows.hpp"

// Propagates the error of a StoreResult-returning expression.
#define ALTER_PG_TRY(expr)                                                                  \
  do {                                                                                      \
    auto&& try_result_ = (expr);                                                            \
    if (!try_result_) return ::alter::common::unexpected(std::move(try_result_.error()));   \
  } while (false)

namespace alter::server {
namespace {

using common::Unexpected;
using common::unexpected;
using pg::Bytes;
using pg::Conn;
using pg::Params;
using pg::Row;
using pg::Transaction;
using store_internal::canonical_attributes;
using store_internal::parse_attributes;
using store_internal::parse_json;
using store_internal::parse_string_list;
using store_internal::string_list_json;
using store_internal::to_json_text;
using store_internal::audit_text_filters;
using store_internal::connection_columns;
using store_internal::corrupt;
using store_internal::fail;
using store_internal::key_version;
using store_internal::kZeroHash;
using store_internal::read_sealed;
using store_internal::select_sql;
using store_internal::sql_limit;
using store_internal::kAdminColumns;
using store_internal::kApiKeyColumns;
using store_internal::kAppColumns;
using store_internal::kApprovalColumns;
using store_internal::kAuditColumns;
using store_internal::kCustomProviderColumns;
using store_internal::kKeyringColumns;
using store_internal::kPolicyColumns;
using store_internal::kProviderCredentialColumns;
using store_internal::kSessionColumns;

// Rows per INSERT in append_audit: a batch is a few statements, and few shapes get prepared.
constexpr std::size_t kAuditRowsPerInsert = 16;
// rate_limit_hit prunes ended windows once in this many hits (per store).
constexpr std::uint64_t kPruneEvery = 256;
constexpr std::chrono::minutes kPruneGrace{60};
// Migrations may rewrite big tables: no statement timeout, and a long client-side wait.
constexpr std::chrono::milliseconds kMigrationWait{std::chrono::minutes(30)};

/// A 64-bit advisory-lock key, the same in every instance (FNV-1a: stable across builds).
std::int64_t lock_key(std::string_view kind, std::string_view name) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  auto mix = [&](std::string_view part) {
    for (const unsigned char c : part) {
      hash ^= c;
      hash *= 0x100000001b3ULL;
    }
  };
  mix("alter-vault:");
  mix(kind);
  mix(":");
  mix(name);
  return static_cast<std::int64_t>(hash);  // modular (C++20)
}

// The shared row readers (store_rows.hpp), for this backend's row type.
constexpr auto read_key = &store_internal::read_key<Row>;
constexpr auto read_app = &store_internal::read_app<Row>;
constexpr auto read_api_key = &store_internal::read_api_key<Row>;
constexpr auto read_admin = &store_internal::read_admin<Row>;
constexpr auto read_provider_credential = &store_internal::read_provider_credential<Row>;
constexpr auto read_custom_provider = &store_internal::read_custom_provider<Row>;
constexpr auto read_connection = &store_internal::read_connection<Row>;
constexpr auto read_audit = &store_internal::read_audit<Row>;
constexpr auto read_policy = &store_internal::read_policy<Row>;
constexpr auto read_approval = &store_internal::read_approval<Row>;
constexpr auto read_session = &store_internal::read_session<Row>;

// ---- results ----

template <class Reader>
using RowType = std::remove_cvref_t<decltype(*std::declval<std::invoke_result_t<Reader, const Row&>>())>;

/// Runs the query; its single row, or kNotFound naming `what`.
template <class Reader>
StoreResult<RowType<Reader>> one(Conn& conn, std::string_view sql, const Params& params, Reader read,
                                 std::string_view what) {
  auto result = conn.exec(sql, params);
  if (!result) return unexpected(std::move(result.error()));
  if (result->rows() == 0) return fail(StoreErrc::kNotFound, std::string(what) + " not found");
  return read(Row(*result, 0));
}

/// Runs the query; all its rows.
template <class Reader>
StoreResult<std::vector<RowType<Reader>>> all(Conn& conn, std::string_view sql, const Params& params, Reader read) {
  auto result = conn.exec(sql, params);
  if (!result) return unexpected(std::move(result.error()));
  std::vector<RowType<Reader>> out;
  out.reserve(static_cast<std::size_t>(result->rows()));
  for (int i = 0; i < result->rows(); ++i) {
    auto item = read(Row(*result, i));
    if (!item) return unexpected(std::move(item.error()));
    out.push_back(std::move(*item));
  }
  return out;
}

/// Runs a write that must touch a row; kNotFound naming `what` otherwise.
StoreResult<void> run_on_existing(Conn& conn, std::string_view sql, const Params& params, std::string_view what) {
  auto result = conn.exec(sql, params);
  if (!result) return unexpected(std::move(result.error()));
  if (result->affected() == 0) return fail(StoreErrc::kNotFound, std::string(what) + " not found");
  return {};
}

StoreResult<void> run(Conn& conn, std::string_view sql, const Params& params) {
  auto result = conn.exec(sql, params);
  if (!result) return unexpected(std::move(result.error()));
  return {};
}

/// After a compare-and-set touched nothing: kConflict if the row exists, else kNotFound.
Unexpected<StoreError> lost_race(Conn& conn, std::string_view exists_sql, const std::string& id,
                                 std::string_view conflict, std::string_view what) {
  Params params;
  params.add(id);
  auto result = conn.exec(exists_sql, params);
  if (!result) return unexpected(std::move(result.error()));
  if (result->rows() > 0) return fail(StoreErrc::kConflict, std::string(conflict));
  return fail(StoreErrc::kNotFound, std::string(what) + " not found");
}

constexpr const char* kAuditTextColumns[] = {"app_id",   "actor_id", "user_id",    "provider_id",
                                             "decision", "kind",     "request_id", "connection_id"};

/// $1, $2, ... in the order they are written.
class Placeholders {
 public:
  std::string next() { return "$" + std::to_string(++n_); }

 private:
  int n_ = 0;
};

std::string audit_insert_sql(std::size_t rows) {
  std::string sql =
      "INSERT INTO audit_events (seq, id, ts, kind, app_id, actor_id, user_id, provider_id, connection_id, "
      "decision, request_id, content, prev_hash, hash, payload) VALUES ";
  Placeholders p;
  for (std::size_t r = 0; r < rows; ++r) {
    if (r > 0) sql += ", ";
    sql += '(';
    for (int c = 0; c < 15; ++c) {
      if (c > 0) sql += ", ";
      sql += p.next();
    }
    sql += ')';
  }
  return sql;
}

}  // namespace

namespace pg {

// The WHERE clause of an audit filter, numbering placeholders with `p`; bind_audit_filter adds
// the values in the same order.
std::string audit_where_sql(const AuditFilter& filter, Placeholders& p) {
  std::string sql;
  if (filter.since) {
    // Rows are scanned by seq; start at the first row with ts >= since (found through the ts
    // index) instead of at seq 1. ts is kept below too: it need not grow with seq. No such row:
    // nothing can match, so start past the end.
    // (One placeholder per statement: the order of operands of + is unspecified.)
    sql += "seq > GREATEST(" + p.next();
    // "seq + 0": not min(seq), which PostgreSQL would answer by walking the primary key from
    // seq 1 until a row is recent enough; this reads the ts index from `since` on instead.
    sql += "::bigint, COALESCE((SELECT min(seq + 0) - 1 FROM audit_events WHERE ts >= " + p.next();
    sql += "::bigint), 9223372036854775807))";
  } else {
    sql += "seq > " + p.next() + "::bigint";
  }
  const auto filters = audit_text_filters(filter);
  for (std::size_t i = 0; i < filters.size(); ++i) {
    if (filters[i]->has_value()) sql += std::string(" AND ") + kAuditTextColumns[i] + " = " + p.next();
  }
  sql += store_internal::audit_partial_index_terms(filter);
  for (const auto& m : filter.content) {
    sql += " AND (content::jsonb #>> " + p.next() + "::text[])";
    sql += m.value ? " = " + p.next() : std::string(" IS NULL");
  }
  if (filter.since) sql += " AND ts >= " + p.next() + "::bigint";  // [since, until)
  if (filter.until) sql += " AND ts < " + p.next() + "::bigint";
  return sql;
}

std::string query_audit_sql(const AuditFilter& filter) {
  Placeholders p;
  std::string sql = select_sql(kAuditColumns, "FROM audit_events WHERE ") + audit_where_sql(filter, p);
  sql += " ORDER BY seq LIMIT " + p.next() + "::bigint";
  return sql;
}

void bind_audit_filter(Params& params, const AuditFilter& filter, std::int64_t after_seq) {
  params.add(after_seq);
  if (filter.since) params.add(*filter.since);
  for (const auto* value : audit_text_filters(filter)) {
    if (value->has_value()) params.add(**value);
  }
  for (const auto& m : filter.content) {
    params.add(store_internal::pg_text_array(m.path));
    if (m.value) params.add(*m.value);
  }
  if (filter.since) params.add(*filter.since);
  if (filter.until) params.add(*filter.until);
}

std::string find_connections_sql(const ConnectionFilter& filter) {
  // One connection_attributes row per given attribute, all of the same connection: the planner
  // starts from the most selective attribute (an index probe on its value) and checks the others
  // by primary key (connection_id, name), then fetches the connections by id. An INTERSECT would
  // read every connection of the least selective attribute ("team": a thousand rows).
  Placeholders p;
  std::string sql = "SELECT " + connection_columns("c.") + " FROM ";
  for (std::size_t i = 0; i < filter.attributes.size(); ++i) {
    sql += "connection_attributes AS a" + std::to_string(i) + ", ";
  }
  sql += "connections AS c WHERE ";
  for (std::size_t i = 0; i < filter.attributes.size(); ++i) {
    const std::string a = "a" + std::to_string(i);
    sql += a + ".app_id = " + p.next();
    if (filter.provider_id) sql += " AND " + a + ".provider_id = " + p.next();
    sql += " AND " + a + ".name = " + p.next();
    sql += " AND " + a + ".value = " + p.next();
    sql += " AND " + a + ".connection_id = c.id AND ";
  }
  sql += "c.app_id = " + p.next();
  if (filter.provider_id) sql += " AND c.provider_id = " + p.next();
  if (filter.status) sql += " AND c.status = " + p.next();
  sql += " ORDER BY c.created_at, c.id LIMIT " + p.next() + "::bigint";
  return sql;
}

}  // namespace pg

namespace {

// ---- the store ----

class PostgresStore final : public Store {
 public:
  PostgresStore(pg::ConnectSettings settings, const PostgresStoreOptions& options)
      : settings_(std::move(settings)),
        pool_([this] { return Conn::open(settings_); }, options.pool_size),
        lock_pool_([this] { return Conn::open(settings_); }, options.pool_size),
        // Holders keep a connection for one call: a transaction of a few statements at most.
        acquire_wait_(options.connect_timeout + 2 * options.statement_timeout) {}

  /// Opens a first connection so that a bad URL or an unreachable server is reported at open time.
  StoreResult<void> check_open() {
    auto lease = pool_.acquire(acquire_wait_);
    if (!lease) return unexpected(std::move(lease.error()));
    return {};
  }

  StoreResult<int> migrate() override {
    const auto all_migrations = pg::migrations();
    const int latest = all_migrations.empty() ? 0 : all_migrations.back().version;
    return transact("migrate", [&](Conn& db) -> StoreResult<int> {
      // Instances starting together take turns here; the loser finds the work done.
      Params no_timeout;
      no_timeout.add("0");
      ALTER_PG_TRY(db.exec("SELECT set_config('statement_timeout', $1, true)", no_timeout));
      Params lock;
      lock.add(lock_key("migrate", "schema"));
      ALTER_PG_TRY(db.exec("SELECT pg_advisory_xact_lock($1::bigint)", lock, kMigrationWait));
      ALTER_PG_TRY(db.exec_script(
          "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
          kMigrationWait));
      auto current = db.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
      if (!current) return unexpected(std::move(current.error()));
      const auto applied = static_cast<int>(current->int64(0, 0));
      // Refuse to run an older vault on a newer schema: it would misread the rows.
      if (applied > latest) return fail(StoreErrc::kInvalid, "database schema is newer than this vault");
      for (const auto& migration : all_migrations) {
        if (migration.version <= applied) continue;
        ALTER_PG_TRY(db.exec_script(migration.sql, kMigrationWait));
        Params record;
        record.add_all(std::int64_t{migration.version}, std::chrono::system_clock::now());
        ALTER_PG_TRY(db.exec("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", record));
      }
      return std::max(applied, latest);
    });
  }

  StoreResult<void> ping() override {
    return call("ping", [&](Conn& db) { return run(db, "SELECT 1", Params{}); });
  }

  // ---- keyring ----

  StoreResult<std::vector<KeyringEntry>> keyring() override {
    return call("keyring", [&](Conn& db) {
      static const std::string sql = select_sql(kKeyringColumns, "FROM keyring ORDER BY version");
      return all(db, sql, Params{}, read_key);
    });
  }

  StoreResult<void> add_key(const KeyringEntry& entry) override {
    return transact("add_key", [&](Conn& db) -> StoreResult<void> {
      ALTER_PG_TRY(run(db, "UPDATE keyring SET active = FALSE WHERE active", Params{}));
      Params params;
      params.add_all(std::int64_t{entry.version}, Bytes{entry.wrapped_key}, entry.created_at);
      return run(db, "INSERT INTO keyring (version, wrapped_key, created_at, active) VALUES ($1, $2, $3, TRUE)",
                 params);
    });
  }

  // ---- apps ----

  StoreResult<void> create_app(const App& app) override {
    auto allowlist = string_list_json(app.return_url_allowlist, "return_url_allowlist");
    if (!allowlist) return unexpected(std::move(allowlist.error()));
    const std::string settings = app.settings.to_json().dump();
    return call("create_app", [&](Conn& db) {
      Params params;
      params.add_all(app.id, app.name, *allowlist, app.created_at, settings);
      return run(db,
                 "INSERT INTO apps (id, name, return_url_allowlist_json, created_at, settings_json) "
                 "VALUES ($1, $2, $3, $4, $5)",
                 params);
    });
  }

  StoreResult<App> get_app(const std::string& id) override {
    return call("get_app", [&](Conn& db) {
      static const std::string sql = select_sql(kAppColumns, "FROM apps WHERE id = $1");
      Params params;
      params.add(id);
      return one(db, sql, params, read_app, "app");
    });
  }

  StoreResult<std::vector<App>> list_apps() override {
    return call("list_apps", [&](Conn& db) {
      static const std::string sql = select_sql(kAppColumns, "FROM apps ORDER BY id");
      return all(db, sql, Params{}, read_app);
    });
  }

  StoreResult<void> update_app(const App& app) override {
    auto allowlist = string_list_json(app.return_url_allowlist, "return_url_allowlist");
    if (!allowlist) return unexpected(std::move(allowlist.error()));
    const std::string settings = app.settings.to_json().dump();
    return call("update_app", [&](Conn& db) {
      Params params;
      params.add_all(app.name, *allowlist, settings, app.id);
      return run_on_existing(db,
                             "UPDATE apps SET name = $1, return_url_allowlist_json = $2, settings_json = $3 WHERE id = $4",
                             params, "app");
    });
  }

  // ---- API keys ----

  StoreResult<void> create_api_key(const ApiKeyRecord& key) override {
    return call("create_api_key", [&](Conn& db) {
      Params params;
      params.add_all(key.id, key.app_id, key.name, key.hint, key.hash, key.created_at, key.revoked_at);
      return run(db,
                 "INSERT INTO api_keys (id, app_id, name, hint, hash, created_at, revoked_at) "
                 "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                 params);
    });
  }

  StoreResult<ApiKeyRecord> find_api_key(const std::string& hash) override {
    return call("find_api_key", [&](Conn& db) {
      static const std::string sql = select_sql(kApiKeyColumns, "FROM api_keys WHERE hash = $1");
      Params params;
      params.add(hash);
      return one(db, sql, params, read_api_key, "api key");
    });
  }

  StoreResult<std::vector<ApiKeyRecord>> list_api_keys(const std::string& app_id) override {
    return call("list_api_keys", [&](Conn& db) {
      static const std::string sql =
          select_sql(kApiKeyColumns, "FROM api_keys WHERE app_id = $1 ORDER BY created_at, id");
      Params params;
      params.add(app_id);
      return all(db, sql, params, read_api_key);
    });
  }

  StoreResult<void> revoke_api_key(const std::string& id, TimePoint at) override {
    return call("revoke_api_key", [&](Conn& db) {
      // The first revocation time stands.
      Params params;
      params.add_all(at, id);
      return run_on_existing(db, "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2", params,
                             "api key");
    });
  }

  // ---- admin credentials ----

  StoreResult<void> create_admin_credential(const AdminCredential& credential) override {
    return call("create_admin_credential", [&](Conn& db) {
      Params params;
      params.add_all(credential.id, credential.name, credential.hint, credential.hash, credential.created_at,
                     credential.revoked_at);
      return run(db,
                 "INSERT INTO admin_credentials (id, name, hint, hash, created_at, revoked_at) "
                 "VALUES ($1, $2, $3, $4, $5, $6)",
                 params);
    });
  }

  StoreResult<AdminCredential> find_admin_credential(const std::string& hash) override {
    return call("find_admin_credential", [&](Conn& db) {
      static const std::string sql = select_sql(kAdminColumns, "FROM admin_credentials WHERE hash = $1");
      Params params;
      params.add(hash);
      return one(db, sql, params, read_admin, "admin credential");
    });
  }

  StoreResult<std::vector<AdminCredential>> list_admin_credentials() override {
    return call("list_admin_credentials", [&](Conn& db) {
      static const std::string sql = select_sql(kAdminColumns, "FROM admin_credentials ORDER BY created_at, id");
      return all(db, sql, Params{}, read_admin);
    });
  }

  StoreResult<void> revoke_admin_credential(const std::string& id, TimePoint at) override {
    return call("revoke_admin_credential", [&](Conn& db) {
      Params params;
      params.add_all(at, id);
      return run_on_existing(db, "UPDATE admin_credentials SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
                             params, "admin credential");
    });
  }

  // ---- provider credentials and custom providers ----

  StoreResult<void> put_provider_credential(const ProviderCredential& credential) override {
    auto settings = to_json_text(credential.settings, "settings");
    if (!settings) return unexpected(std::move(settings.error()));
    return call("put_provider_credential", [&](Conn& db) {
      Params params;
      params.add_all(credential.app_id, credential.provider_id, credential.client_id,
                     Bytes{credential.client_secret.bytes}, key_version(credential.client_secret), *settings,
                     credential.updated_at);
      return run(db,
                 "INSERT INTO provider_credentials (app_id, provider_id, client_id, client_secret, "
                 "client_secret_key_version, settings_json, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                 "ON CONFLICT (app_id, provider_id) DO UPDATE SET client_id = EXCLUDED.client_id, "
                 "client_secret = EXCLUDED.client_secret, "
                 "client_secret_key_version = EXCLUDED.client_secret_key_version, "
                 "settings_json = EXCLUDED.settings_json, updated_at = EXCLUDED.updated_at",
                 params);
    });
  }

  StoreResult<ProviderCredential> get_provider_credential(const std::string& app_id,
                                                          const std::string& provider_id) override {
    return call("get_provider_credential", [&](Conn& db) {
      static const std::string sql =
          select_sql(kProviderCredentialColumns, "FROM provider_credentials WHERE app_id = $1 AND provider_id = $2");
      Params params;
      params.add_all(app_id, provider_id);
      return one(db, sql, params, read_provider_credential, "provider credential");
    });
  }

  StoreResult<std::vector<ProviderCredential>> list_provider_credentials(const std::string& app_id) override {
    return call("list_provider_credentials", [&](Conn& db) {
      static const std::string sql =
          select_sql(kProviderCredentialColumns, "FROM provider_credentials WHERE app_id = $1 ORDER BY provider_id");
      Params params;
      params.add(app_id);
      return all(db, sql, params, read_provider_credential);
    });
  }

  StoreResult<void> delete_provider_credential(const std::string& app_id, const std::string& provider_id) override {
    return call("delete_provider_credential", [&](Conn& db) {
      Params params;
      params.add_all(app_id, provider_id);
      return run_on_existing(db, "DELETE FROM provider_credentials WHERE app_id = $1 AND provider_id = $2", params,
                             "provider credential");
    });
  }

  StoreResult<void> put_custom_provider(const CustomProvider& provider) override {
    return call("put_custom_provider", [&](Conn& db) {
      Params params;
      params.add_all(provider.id, provider.definition, provider.updated_at);
      return run(db,
                 "INSERT INTO custom_providers (id, definition, updated_at) VALUES ($1, $2, $3) "
                 "ON CONFLICT (id) DO UPDATE SET definition = EXCLUDED.definition, updated_at = EXCLUDED.updated_at",
                 params);
    });
  }

  StoreResult<std::vector<CustomProvider>> list_custom_providers() override {
    return call("list_custom_providers", [&](Conn& db) {
      static const std::string sql = select_sql(kCustomProviderColumns, "FROM custom_providers ORDER BY id");
      return all(db, sql, Params{}, read_custom_provider);
    });
  }

  StoreResult<void> delete_custom_provider(const std::string& id) override {
    return call("delete_custom_provider", [&](Conn& db) {
      Params params;
      params.add(id);
      return run_on_existing(db, "DELETE FROM custom_providers WHERE id = $1", params, "custom provider");
    });
  }

  // ---- connections ----

  StoreResult<Connection> upsert_connection(const Connection& connection) override {
    auto attributes = canonical_attributes(connection.attributes);
    if (!attributes) return unexpected(std::move(attributes.error()));
    auto scopes = string_list_json(connection.scopes, "scopes");
    if (!scopes) return unexpected(std::move(scopes.error()));
    auto metadata = to_json_text(connection.metadata, "metadata");
    if (!metadata) return unexpected(std::move(metadata.error()));
    // Callers usually leave the id to the store (the sealed tokens are bound to the identity,
    // not to the id). Unused when the identity exists already.
    std::string id = connection.id;
    if (id.empty()) {
      auto fresh = store_internal::new_row_id();
      if (!fresh) return fail(StoreErrc::kInternal, "upsert_connection: no randomness for a connection id");
      id = std::move(*fresh);
    }

    return transact("upsert_connection", [&](Conn& db) -> StoreResult<Connection> {
      // One statement, so that instances upserting the same identity at once serialize on the
      // unique index instead of both inserting. An id taken by another identity is a conflict.
      static const std::string sql =
          "INSERT INTO connections AS c (id, app_id, provider_id, attributes_json, tokens, tokens_key_version, "
          "token_type, scopes_json, expires_at, status, metadata_json, created_at, updated_at, version) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1) "
          "ON CONFLICT ON CONSTRAINT connections_identity DO UPDATE SET tokens = EXCLUDED.tokens, "
          "tokens_key_version = EXCLUDED.tokens_key_version, token_type = EXCLUDED.token_type, "
          "scopes_json = EXCLUDED.scopes_json, expires_at = EXCLUDED.expires_at, status = EXCLUDED.status, "
          "metadata_json = EXCLUDED.metadata_json, updated_at = EXCLUDED.updated_at, version = c.version + 1 "
          "RETURNING " +
          connection_columns("");
      Params params;
      params.add_all(id, connection.app_id, connection.provider_id, *attributes, Bytes{connection.tokens.bytes},
                     key_version(connection.tokens), connection.token_type, *scopes, connection.expires_at,
                     to_string(connection.status), *metadata, connection.created_at, connection.updated_at);
      auto stored = one(db, sql, params, read_connection, "connection");
      if (!stored) return stored;
      // Version 1: this statement inserted the row (an update always bumps past 1).
      if (stored->version == 1) {
        for (const auto& [name, value] : connection.attributes) {
          Params attribute;
          attribute.add_all(stored->id, connection.app_id, connection.provider_id, name, value);
          ALTER_PG_TRY(run(db,
                           "INSERT INTO connection_attributes (connection_id, app_id, provider_id, name, value) "
                           "VALUES ($1, $2, $3, $4, $5)",
                           attribute));
        }
      }
      return stored;
    });
  }

  StoreResult<Connection> get_connection(const std::string& id) override {
    return call("get_connection", [&](Conn& db) {
      static const std::string sql = select_sql(connection_columns("").c_str(), "FROM connections WHERE id = $1");
      Params params;
      params.add(id);
      return one(db, sql, params, read_connection, "connection");
    });
  }

  StoreResult<std::vector<Connection>> find_connections(const ConnectionFilter& filter) override {
    const std::string sql = pg::find_connections_sql(filter);
    return call("find_connections", [&](Conn& db) {
      Params params;
      for (const auto& [name, value] : filter.attributes) {
        params.add(filter.app_id);
        if (filter.provider_id) params.add(*filter.provider_id);
        params.add_all(name, value);
      }
      params.add(filter.app_id);
      if (filter.provider_id) params.add(*filter.provider_id);
      if (filter.status) params.add(to_string(*filter.status));
      params.add(sql_limit(filter.limit));
      return all(db, sql, params, read_connection);
    });
  }

  StoreResult<Connection> update_connection(const Connection& connection, std::int64_t expected_version) override {
    auto scopes = string_list_json(connection.scopes, "scopes");
    if (!scopes) return unexpected(std::move(scopes.error()));
    auto metadata = to_json_text(connection.metadata, "metadata");
    if (!metadata) return unexpected(std::move(metadata.error()));

    return call("update_connection", [&](Conn& db) -> StoreResult<Connection> {
      static const std::string sql =
          "UPDATE connections SET tokens = $1, tokens_key_version = $2, token_type = $3, scopes_json = $4, "
          "expires_at = $5, status = $6, metadata_json = $7, updated_at = $8, version = version + 1 "
          "WHERE id = $9 AND version = $10 RETURNING " +
          connection_columns("");
      Params params;
      params.add_all(Bytes{connection.tokens.bytes}, key_version(connection.tokens), connection.token_type, *scopes,
                     connection.expires_at, to_string(connection.status), *metadata, connection.updated_at,
                     connection.id, expected_version);
      auto updated = one(db, sql, params, read_connection, "connection");
      if (updated || updated.error().code != StoreErrc::kNotFound) return updated;
      return lost_race(db, "SELECT 1 FROM connections WHERE id = $1", connection.id, "connection version changed",
                       "connection");
    });
  }

  StoreResult<void> delete_connection(const std::string& id) override {
    return call("delete_connection", [&](Conn& db) {
      // connection_attributes rows go with it (ON DELETE CASCADE).
      Params params;
      params.add(id);
      return run_on_existing(db, "DELETE FROM connections WHERE id = $1", params, "connection");
    });
  }

  StoreResult<std::vector<Connection>> connections_needing_rekey(std::uint32_t active_version,
                                                                std::size_t limit) override {
    return call("connections_needing_rekey", [&](Conn& db) {
      // "<> $1" written as a range pair so the key-version index serves it.
      static const std::string sql =
          select_sql(connection_columns("").c_str(),
                     "FROM connections WHERE tokens_key_version < $1 OR tokens_key_version > $1 LIMIT $2");
      Params params;
      params.add_all(std::int64_t{active_version}, sql_limit(limit));
      return all(db, sql, params, read_connection);
    });
  }

  StoreResult<std::vector<ProviderCredential>> provider_credentials_needing_rekey(std::uint32_t active_version,
                                                                                 std::size_t limit) override {
    return call("provider_credentials_needing_rekey", [&](Conn& db) {
      // An empty secret (public client) is sealed under nothing.
      static const std::string sql = select_sql(
          kProviderCredentialColumns,
          "FROM provider_credentials WHERE octet_length(client_secret) > 0 AND client_secret_key_version <> $1 "
          "ORDER BY app_id, provider_id LIMIT $2");
      Params params;
      params.add_all(std::int64_t{active_version}, sql_limit(limit));
      return all(db, sql, params, read_provider_credential);
    });
  }

  StoreResult<std::vector<Connection>> connections_expiring_before(TimePoint before, std::size_t limit) override {
    return call("connections_expiring_before", [&](Conn& db) {
      static const std::string sql =
          select_sql(connection_columns("").c_str(),
                     "FROM connections WHERE status = $1 AND expires_at IS NOT NULL AND expires_at < $2 "
                     "ORDER BY expires_at, id LIMIT $3");
      Params params;
      params.add_all(to_string(ConnectionStatus::kActive), before, sql_limit(limit));
      return all(db, sql, params, read_connection);
    });
  }

  // ---- audit ----

  // Computed inside the transaction, copied to the rows only once it has committed.
  struct Link {
    std::int64_t seq;
    std::string prev_hash;
    std::string hash;
  };

  static StoreResult<void> append_rows(Conn& db, const std::vector<AuditRecord>& rows, const AuditHasher& hasher,
                                       std::vector<Link>& links) {
    links.clear();
    if (rows.empty()) return {};
    // The head row's lock serializes writers in every instance: each extends the chain that
    // the previous one committed.
    auto head = db.exec("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE");
    if (!head) return unexpected(std::move(head.error()));
    std::int64_t seq = 0;
    std::string hash(kZeroHash);
    if (head->rows() > 0) {
      seq = head->int64(0, 0);
      hash = head->bytes(0, 1);
    }
    for (const auto& row : rows) {
      Link link{seq + 1, hash, {}};
      try {
        link.hash = hasher(link.prev_hash, link.seq, row.content);
      } catch (...) {
        return fail(StoreErrc::kInternal, "audit hasher failed");
      }
      seq = link.seq;
      hash = link.hash;
      links.push_back(std::move(link));
    }
    for (std::size_t first = 0; first < rows.size(); first += kAuditRowsPerInsert) {
      const std::size_t count = std::min(kAuditRowsPerInsert, rows.size() - first);
      Params params;
      for (std::size_t i = first; i < first + count; ++i) {
        const AuditRecord& row = rows[i];
        params.add_all(links[i].seq, row.id, row.ts, row.kind, row.app_id, row.actor_id, row.user_id,
                       row.provider_id, row.connection_id, row.decision, row.request_id, row.content,
                       links[i].prev_hash, links[i].hash, row.payload);
      }
      ALTER_PG_TRY(run(db, audit_insert_sql(count), params));
    }
    Params move_head;
    move_head.add_all(seq, hash);
    return run(db,
               "INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2) "
               "ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash",
               move_head);
  }

  static void apply_links(std::vector<AuditRecord>& rows, std::vector<Link>& links) {
    for (std::size_t i = 0; i < rows.size(); ++i) {
      rows[i].seq = links[i].seq;
      rows[i].prev_hash = std::move(links[i].prev_hash);
      rows[i].hash = std::move(links[i].hash);
    }
  }

  StoreResult<void> append_audit(std::vector<AuditRecord>& rows, const AuditHasher& hasher) override {
    if (rows.empty()) return {};
    std::vector<Link> links;
    auto written = transact("append_audit", [&](Conn& db) { return append_rows(db, rows, hasher, links); });
    if (!written) return written;
    if (active_conn() == nullptr) apply_links(rows, links);
    return {};
  }

  StoreResult<void> commit_with_audit(const std::function<StoreResult<void>()>& changes, std::vector<AuditRecord>& audit,
                                      const AuditHasher& hasher, bool bump_change_version) override {
    if (active_conn() != nullptr) return fail(StoreErrc::kInternal, "commit_with_audit: nested transaction");
    std::vector<Link> links;
    auto done = transact("commit_with_audit", [&](Conn& db) -> StoreResult<void> {
      ActiveTx bind(this, &db);
      ALTER_PG_TRY(changes());
      ALTER_PG_TRY(append_rows(db, audit, hasher, links));
      if (bump_change_version) ALTER_PG_TRY(bump_change_version_on(db));
      return {};
    });
    if (!done) return done;
    apply_links(audit, links);
    return {};
  }

  StoreResult<AuditHead> audit_head() override {
    return call("audit_head", [&](Conn& db) -> StoreResult<AuditHead> {
      auto head = db.exec("SELECT seq, hash FROM audit_head WHERE id = 1");
      if (!head) return unexpected(std::move(head.error()));
      if (head->rows() == 0) return AuditHead{0, std::string(kZeroHash)};
      return AuditHead{head->int64(0, 0), head->bytes(0, 1)};
    });
  }

  StoreResult<std::vector<AuditRecord>> query_audit(const AuditFilter& filter) override {
    const std::string sql = pg::query_audit_sql(filter);
    return call("query_audit", [&](Conn& db) {
      Params params;
      pg::bind_audit_filter(params, filter, filter.after_seq);
      params.add(sql_limit(filter.limit));
      return all(db, sql, params, read_audit);
    });
  }

  StoreResult<std::int64_t> purge_audit_payloads(const AuditFilter& filter) override {
    Placeholders p;
    const std::string sql =
        "UPDATE audit_events SET payload = NULL WHERE payload IS NOT NULL AND " + pg::audit_where_sql(filter, p);
    return call("purge_audit_payloads", [&](Conn& db) -> StoreResult<std::int64_t> {
      Params params;
      pg::bind_audit_filter(params, filter, 0);
      auto result = db.exec(sql, params);
      if (!result) return unexpected(std::move(result.error()));
      return result->affected();
    });
  }

  // ---- policies ----

  StoreResult<PolicyVersion> put_policy(const PolicyVersion& policy) override {
    return transact("put_policy", [&](Conn& db) -> StoreResult<PolicyVersion> {
      // Writers of one app's policy take turns (in every instance), so versions never collide.
      Params lock;
      lock.add(lock_key("policy", policy.app_id));
      ALTER_PG_TRY(db.exec("SELECT pg_advisory_xact_lock($1::bigint)", lock));
      Params app;
      app.add(policy.app_id);
      auto next = db.exec("SELECT COALESCE(MAX(version), 0) + 1 FROM policies WHERE app_id = $1", app);
      if (!next) return unexpected(std::move(next.error()));
      PolicyVersion stored = policy;
      stored.version = next->int64(0, 0);
      Params params;
      params.add_all(stored.app_id, stored.version, stored.document, stored.format, stored.author,
                     stored.created_at);
      ALTER_PG_TRY(run(db,
                       "INSERT INTO policies (app_id, version, document, format, author, created_at) "
                       "VALUES ($1, $2, $3, $4, $5, $6)",
                       params));
      return stored;
    });
  }

  StoreResult<PolicyVersion> get_policy(const std::string& app_id, std::int64_t version) override {
    if (version < 0) return fail(StoreErrc::kInvalid, "get_policy: negative version");
    return call("get_policy", [&](Conn& db) {
      static const std::string latest =
          select_sql(kPolicyColumns, "FROM policies WHERE app_id = $1 ORDER BY version DESC LIMIT 1");
      static const std::string exact =
          select_sql(kPolicyColumns, "FROM policies WHERE app_id = $1 AND version = $2");
      Params params;
      params.add(app_id);
      if (version != 0) params.add(version);
      return one(db, version == 0 ? latest : exact, params, read_policy, "policy");
    });
  }

  StoreResult<std::vector<PolicyVersion>> list_policies(const std::string& app_id) override {
    return call("list_policies", [&](Conn& db) {
      static const std::string sql = select_sql(kPolicyColumns, "FROM policies WHERE app_id = $1 ORDER BY version");
      Params params;
      params.add(app_id);
      return all(db, sql, params, read_policy);
    });
  }

  // ---- approvals ----

  StoreResult<void> create_approval(const Approval& approval) override {
    auto request = to_json_text(approval.request, "request");
    if (!request) return unexpected(std::move(request.error()));
    return call("create_approval", [&](Conn& db) {
      Params params;
      params.add_all(approval.id, approval.app_id, to_string(approval.status), approval.binding_hash, *request,
                     approval.rule_id, approval.created_at, approval.expires_at, approval.decided_at,
                     approval.decided_by, approval.valid_until, approval.uses);
      return run(db,
                 "INSERT INTO approvals (id, app_id, status, binding_hash, request_json, rule_id, created_at, "
                 "expires_at, decided_at, decided_by, valid_until, uses) "
                 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                 params);
    });
  }

  StoreResult<Approval> get_approval(const std::string& id) override {
    return call("get_approval", [&](Conn& db) {
      static const std::string sql = select_sql(kApprovalColumns, "FROM approvals WHERE id = $1");
      Params params;
      params.add(id);
      return one(db, sql, params, read_approval, "approval");
    });
  }

  StoreResult<std::vector<Approval>> list_approvals(const std::string& app_id, std::optional<ApprovalStatus> status,
                                                    std::size_t limit) override {
    return call("list_approvals", [&](Conn& db) {
      static const std::string any =
          select_sql(kApprovalColumns, "FROM approvals WHERE app_id = $1 ORDER BY created_at, id LIMIT $2");
      static const std::string by_status = select_sql(
          kApprovalColumns, "FROM approvals WHERE app_id = $1 AND status = $2 ORDER BY created_at, id LIMIT $3");
      Params params;
      params.add(app_id);
      if (status) params.add(to_string(*status));
      params.add(sql_limit(limit));
      return all(db, status ? by_status : any, params, read_approval);
    });
  }

  StoreResult<Approval> update_approval(const Approval& approval, ApprovalStatus expected) override {
    return call("update_approval", [&](Conn& db) -> StoreResult<Approval> {
      static const std::string sql =
          "UPDATE approvals SET status = $1, decided_at = $2, decided_by = $3, valid_until = $4, uses = $5 "
          "WHERE id = $6 AND status = $7 RETURNING " +
          std::string(kApprovalColumns);
      Params params;
      params.add_all(to_string(approval.status), approval.decided_at, approval.decided_by, approval.valid_until,
                     approval.uses, approval.id, to_string(expected));
      auto updated = one(db, sql, params, read_approval, "approval");
      if (updated || updated.error().code != StoreErrc::kNotFound) return updated;
      return lost_race(db, "SELECT 1 FROM approvals WHERE id = $1", approval.id,
                       "approval is not in the expected state", "approval");
    });
  }

  // ---- connect sessions ----

  StoreResult<void> create_connect_session(const ConnectSession& session) override {
    auto attributes = canonical_attributes(session.attributes);
    if (!attributes) return unexpected(std::move(attributes.error()));
    auto settings = to_json_text(session.settings, "settings");
    if (!settings) return unexpected(std::move(settings.error()));
    return call("create_connect_session", [&](Conn& db) {
      Params params;
      params.add_all(session.id, session.app_id, session.provider_id, *attributes, session.return_url,
                     session.token_hash, session.state_hash, Bytes{session.pkce_verifier.bytes},
                     key_version(session.pkce_verifier), *settings, session.created_at, session.expires_at,
                     session.used_at);
      return run(db,
                 "INSERT INTO connect_sessions (id, app_id, provider_id, attributes_json, return_url, token_hash, "
                 "state_hash, pkce_verifier, pkce_key_version, settings_json, created_at, expires_at, used_at) "
                 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                 params);
    });
  }

  StoreResult<ConnectSession> find_connect_session_by_token(const std::string& token_hash) override {
    return call("find_connect_session_by_token", [&](Conn& db) {
      static const std::string sql = select_sql(kSessionColumns, "FROM connect_sessions WHERE token_hash = $1");
      Params params;
      params.add(token_hash);
      return one(db, sql, params, read_session, "connect session");
    });
  }

  StoreResult<ConnectSession> find_connect_session_by_state(const std::string& state_hash) override {
    // Sessions not yet redirected have an empty state: it must never match.
    if (state_hash.empty()) {
      return fail(StoreErrc::kNotFound, "find_connect_session_by_state: connect session not found");
    }
    return call("find_connect_session_by_state", [&](Conn& db) {
      static const std::string sql = select_sql(kSessionColumns, "FROM connect_sessions WHERE state_hash = $1");
      Params params;
      params.add(state_hash);
      return one(db, sql, params, read_session, "connect session");
    });
  }

  StoreResult<void> start_connect_session(const std::string& id, const std::string& state_hash,
                                          const SealedBlob& pkce_verifier) override {
    return call("start_connect_session", [&](Conn& db) {
      Params params;
      params.add_all(state_hash, Bytes{pkce_verifier.bytes}, key_version(pkce_verifier), id);
      return run_on_existing(
          db, "UPDATE connect_sessions SET state_hash = $1, pkce_verifier = $2, pkce_key_version = $3 WHERE id = $4",
          params, "connect session");
    });
  }

  StoreResult<void> use_connect_session(const std::string& id, TimePoint at) override {
    return call("use_connect_session", [&](Conn& db) -> StoreResult<void> {
      Params params;
      params.add_all(at, id);
      auto used = db.exec("UPDATE connect_sessions SET used_at = $1 WHERE id = $2 AND used_at IS NULL", params);
      if (!used) return unexpected(std::move(used.error()));
      if (used->affected() != 0) return {};
      return lost_race(db, "SELECT 1 FROM connect_sessions WHERE id = $1", id, "connect session already used",
                       "connect session");
    });
  }

  // ---- several instances on one database ----

  StoreResult<void> with_connection_lock(const std::string& connection_id, std::chrono::milliseconds timeout,
                                         const std::function<void()>& fn) override {
    constexpr std::string_view kOp = "with_connection_lock";
    const auto deadline = pg::Clock::now() + std::max(timeout, std::chrono::milliseconds(0));
    // A connection of the lock pool: callers holding locks use the main pool inside `fn`, so
    // they can never wait on themselves, however many locks are held.
    auto lease = lock_pool_.acquire(std::max(timeout, std::chrono::milliseconds(0)));
    if (!lease) return with_context(std::move(lease.error()), kOp);
    const std::int64_t key = lock_key("connection", connection_id);
    auto locked = take_lock(**lease, key, deadline);
    if (!locked) return with_context(std::move(locked.error()), kOp);
    if (!*locked) return fail(StoreErrc::kUnavailable, std::string(kOp) + ": timed out waiting for the lock");

    // Released also when fn throws. If the connection died meanwhile, the server has released the
    // lock with the session, and the pool drops the connection.
    struct Unlock {
      Conn* conn;
      std::int64_t key;
      ~Unlock() {
        Params params;
        params.add(key);
        (void)conn->exec("SELECT pg_advisory_unlock($1::bigint)", params);
      }
    } unlock{&**lease, key};
    fn();
    return {};
  }

  StoreResult<std::int64_t> rate_limit_hit(const std::string& key, TimePoint window_start,
                                           std::chrono::seconds window) override {
    return call("rate_limit_hit", [&](Conn& db) -> StoreResult<std::int64_t> {
      Params params;
      params.add_all(key, window_start, window_start + window);
      auto hit = db.exec(
          "INSERT INTO rate_limits AS r (key, window_start, window_end, count) VALUES ($1, $2, $3, 1) "
          "ON CONFLICT (key, window_start) DO UPDATE SET count = r.count + 1, "
          "window_end = GREATEST(r.window_end, EXCLUDED.window_end) RETURNING count",
          params);
      if (!hit) return unexpected(std::move(hit.error()));
      if (hit->rows() == 0) return fail(StoreErrc::kInternal, "no count returned");
      const std::int64_t count = hit->int64(0, 0);
      // Now and then, windows that ended well before this one began go (a bounded table). The
      // grace keeps windows that another instance, its clock a little behind, still counts in.
      // Best effort: the hit has counted either way.
      if (hits_.fetch_add(1, std::memory_order_relaxed) % kPruneEvery == kPruneEvery - 1) {
        Params prune;
        prune.add(window_start - kPruneGrace);
        (void)db.exec("DELETE FROM rate_limits WHERE window_end <= $1", prune);
      }
      return count;
    });
  }

  StoreResult<std::int64_t> rate_limit_peek(const std::string& key, TimePoint window_start) override {
    return call("rate_limit_peek", [&](Conn& db) -> StoreResult<std::int64_t> {
      Params params;
      params.add_all(key, window_start);
      auto count = db.exec("SELECT count FROM rate_limits WHERE key = $1 AND window_start = $2", params);
      if (!count) return unexpected(std::move(count.error()));
      return count->rows() == 0 ? 0 : count->int64(0, 0);
    });
  }

  StoreResult<std::int64_t> change_version() override {
    return call("change_version", [&](Conn& db) -> StoreResult<std::int64_t> {
      auto version = db.exec("SELECT version FROM change_version WHERE id = 1");
      if (!version) return unexpected(std::move(version.error()));
      return version->rows() == 0 ? 0 : version->int64(0, 0);
    });
  }

  static StoreResult<std::int64_t> bump_change_version_on(Conn& db) {
    // One statement: the notification goes out when its transaction commits.
    auto version = db.exec(
        "WITH bumped AS (UPDATE change_version SET version = version + 1 WHERE id = 1 RETURNING version) "
        "SELECT version, pg_notify('alter_changes', version::text) FROM bumped");
    if (!version) return unexpected(std::move(version.error()));
    if (version->rows() == 0) return fail(StoreErrc::kInternal, "the change_version row is missing");
    return version->int64(0, 0);
  }

  StoreResult<std::int64_t> bump_change_version() override {
    return call("bump_change_version", [&](Conn& db) { return bump_change_version_on(db); });
  }

  // ---- housekeeping ----

  StoreResult<std::map<std::string, std::int64_t>> table_counts() override {
    static constexpr const char* kTables[] = {
        "apps",        "api_keys",     "admin_credentials", "provider_credentials", "custom_providers", "connections",
        "audit_events", "policies",    "approvals",         "connect_sessions",     "keyring"};
    return call("table_counts", [&](Conn& db) -> StoreResult<std::map<std::string, std::int64_t>> {
      // One statement: one consistent snapshot. Table names are constants, never input.
      static const std::string sql = [] {
        std::string text = "SELECT ";
        for (const char* table : kTables) {
          if (text.size() > 7) text += ", ";
          text += "(SELECT COUNT(*) FROM ";
          text += table;
          text += ')';
        }
        return text;
      }();
      auto row = db.exec(sql);
      if (!row) return unexpected(std::move(row.error()));
      if (row->rows() == 0) return fail(StoreErrc::kInternal, "no counts returned");
      std::map<std::string, std::int64_t> counts;
      int col = 0;
      for (const char* table : kTables) counts[table] = row->int64(0, col++);
      return counts;
    });
  }

  StoreResult<std::map<std::string, std::int64_t>> connection_status_counts() override {
    return call("connection_status_counts", [&](Conn& db) -> StoreResult<std::map<std::string, std::int64_t>> {
      auto rows = all(db, "SELECT status, COUNT(*) FROM connections GROUP BY status", Params{},
                      [](const Row& s) -> StoreResult<std::pair<std::string, std::int64_t>> {
                        return std::pair{s.text(0), s.int64(1)};
                      });
      if (!rows) return unexpected(std::move(rows.error()));
      return std::map<std::string, std::int64_t>(rows->begin(), rows->end());
    });
  }

 private:
  template <class F>
  using OpResult = std::invoke_result_t<F&, Conn&>;

  static Unexpected<StoreError> with_context(StoreError error, std::string_view op) {
    error.message = std::string(op) + ": " + error.message;
    return unexpected(std::move(error));
  }

  /// Runs `fn` on a pooled connection, outside any explicit transaction (a statement is its own
  /// transaction).
  template <class F>
  OpResult<F> call(std::string_view op, F&& fn) {
    if (Conn* conn = active_conn()) {
      auto result = fn(*conn);
      if (!result) return with_context(std::move(result.error()), op);
      return result;
    }
    auto lease = pool_.acquire(acquire_wait_);
    if (!lease) return with_context(std::move(lease.error()), op);
    auto result = fn(**lease);
    if (!result) return with_context(std::move(result.error()), op);
    return result;
  }

  // The transaction commit_with_audit runs on this thread, if any: calls made inside it use its
  // connection (and so join it).
  struct Ambient {
    const PostgresStore* store = nullptr;
    Conn* conn = nullptr;
  };
  static Ambient& ambient() {
    static thread_local Ambient a;
    return a;
  }
  Conn* active_conn() const { return ambient().store == this ? ambient().conn : nullptr; }
  struct ActiveTx {
    ActiveTx(const PostgresStore* store, Conn* conn) : saved(ambient()) { ambient() = {store, conn}; }
    ~ActiveTx() { ambient() = saved; }
    Ambient saved;
  };

  /// Runs `fn` in a transaction on a pooled connection, committed only when it succeeds.
  template <class F>
  OpResult<F> transact(std::string_view op, F&& fn) {
    if (Conn* conn = active_conn()) {  // inside commit_with_audit: join its transaction
      auto result = fn(*conn);
      if (!result) return with_context(std::move(result.error()), op);
      return result;
    }
    auto lease = pool_.acquire(acquire_wait_);
    if (!lease) return with_context(std::move(lease.error()), op);
    auto tx = Transaction::begin(**lease);
    if (!tx) return with_context(std::move(tx.error()), op);
    auto result = fn(**lease);
    if (!result) return with_context(std::move(result.error()), op);
    auto committed = tx->commit();
    if (!committed) return with_context(std::move(committed.error()), op);
    return result;
  }

  /// Takes the session advisory lock `key` on `conn` by `deadline`: false when it is held
  /// elsewhere until then.
  static StoreResult<bool> take_lock(Conn& conn, std::int64_t key, pg::Clock::time_point deadline) {
    Params params;
    params.add(key);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - pg::Clock::now());
    if (left.count() <= 0) {
      // lock_timeout 0 would mean "wait forever": ask without waiting instead.
      auto tried = conn.exec("SELECT pg_try_advisory_lock($1::bigint)", params);
      if (!tried) return unexpected(std::move(tried.error()));
      return tried->rows() > 0 && tried->int64(0, 0) != 0;
    }
    Params timeouts;
    timeouts.add_all(std::to_string(left.count()), std::to_string(left.count() + 1000));
    auto set = conn.exec(
        "SELECT set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false)", timeouts);
    if (!set) return unexpected(std::move(set.error()));
    auto locked = conn.exec("SELECT pg_advisory_lock($1::bigint)", params, left + std::chrono::seconds(3));
    if (locked) return true;
    // The server gave up waiting (lock_timeout, statement_timeout) and the session lives on.
    if (locked.error().code == StoreErrc::kUnavailable && conn.usable()) return false;
    return unexpected(std::move(locked.error()));
  }

  const pg::ConnectSettings settings_;
  pg::Pool pool_;
  pg::Pool lock_pool_;
  const std::chrono::milliseconds acquire_wait_;
  std::atomic<std::uint64_t> hits_{0};
};

}  // namespace

StoreResult<std::unique_ptr<Store>> open_postgres_store(const std::string& url, PostgresStoreOptions options) {
  // Checked here so that a typo is kInvalid, not "unavailable". The message never quotes the URL:
  // it may hold a password.
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(url.c_str(), &parse_error);
  if (parse_error != nullptr) PQfreemem(parse_error);
  if (parsed == nullptr) return fail(StoreErrc::kInvalid, "open_postgres_store: the database URL is malformed");
  PQconninfoFree(parsed);

  pg::ConnectSettings settings{url, options.connect_timeout, options.statement_timeout};
  auto store = std::make_unique<PostgresStore>(std::move(settings), options);
  auto opened = store->check_open();
  if (!opened) {
    auto error = std::move(opened.error());
    error.message = "open_postgres_store: " + error.message;
    return unexpected(std::move(error));
  }
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace alter::server
