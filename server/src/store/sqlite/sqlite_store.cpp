#include "store/sqlite/sqlite_store.hpp"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <condition_variable>
#include <thread>
#include <atomic>
#include <map>
#include <memory>
#include <cerrno>
#include <cstring>
#include <limits>
#include <mutex>
#include <string_view>
#include <type_traits>
#include <utility>

#include "store/sqlite/sqlite_db.hpp"
#include "store/sqlite/sqlite_migrations.hpp"
#include "store/sqlite/sqlite_queries.hpp"
#include "store/store_internal.hpp"
#include "store/store_rows.hpp"

// Propagates the error of a StoreResult-returning expression.
#define ALTER_STORE_TRY(expr)                                                               \
  do {                                                                                      \
    auto&& try_result_ = (expr);                                                            \
    if (!try_result_) return ::alter::common::unexpected(std::move(try_result_.error()));   \
  } while (false)

namespace alter::server {
namespace {

using common::Unexpected;
using common::unexpected;
using sqlite::Blob;
using sqlite::Db;
using sqlite::Stmt;
using sqlite::Transaction;
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

// The shared row readers (store_rows.hpp), for this backend's row type.
constexpr auto read_key = &store_internal::read_key<Stmt>;
constexpr auto read_app = &store_internal::read_app<Stmt>;
constexpr auto read_api_key = &store_internal::read_api_key<Stmt>;
constexpr auto read_admin = &store_internal::read_admin<Stmt>;
constexpr auto read_provider_credential = &store_internal::read_provider_credential<Stmt>;
constexpr auto read_custom_provider = &store_internal::read_custom_provider<Stmt>;
constexpr auto read_connection = &store_internal::read_connection<Stmt>;
constexpr auto read_audit = &store_internal::read_audit<Stmt>;
constexpr auto read_policy = &store_internal::read_policy<Stmt>;
constexpr auto read_approval = &store_internal::read_approval<Stmt>;
constexpr auto read_session = &store_internal::read_session<Stmt>;

// ---- stepping ----

template <class Reader>
using RowType = std::remove_cvref_t<decltype(*std::declval<std::invoke_result_t<Reader, const Stmt&>>())>;

/// The single row, or kNotFound naming `what`.
template <class Reader>
StoreResult<RowType<Reader>> one(Stmt& stmt, Reader read, std::string_view what) {
  auto row = stmt.step();
  if (!row) return unexpected(std::move(row.error()));
  if (!*row) return fail(StoreErrc::kNotFound, std::string(what) + " not found");
  return read(stmt);
}

template <class Reader>
StoreResult<std::vector<RowType<Reader>>> all(Stmt& stmt, Reader read) {
  std::vector<RowType<Reader>> out;
  for (;;) {
    auto row = stmt.step();
    if (!row) return unexpected(std::move(row.error()));
    if (!*row) return out;
    auto item = read(stmt);
    if (!item) return unexpected(std::move(item.error()));
    out.push_back(std::move(*item));
  }
}

/// Whether a row with this key exists (to tell kConflict from kNotFound after a failed CAS).
StoreResult<bool> exists(Db& db, std::string_view sql, const std::string& key) {
  auto stmt = db.prepare(sql);
  if (!stmt) return unexpected(std::move(stmt.error()));
  stmt->bind(key);
  return stmt->step();
}

/// Runs a write statement that must touch a row; kNotFound naming `what` otherwise.
StoreResult<void> run_on_existing(Db& db, Stmt& stmt, std::string_view what) {
  ALTER_STORE_TRY(stmt.run());
  if (db.changes() == 0) return fail(StoreErrc::kNotFound, std::string(what) + " not found");
  return {};
}

StoreResult<Connection> load_connection(Db& db, const std::string& id) {
  static const std::string sql = select_sql(connection_columns("").c_str(), "FROM connections WHERE id = ?");
  auto stmt = db.prepare(sql);
  if (!stmt) return unexpected(std::move(stmt.error()));
  stmt->bind(id);
  return one(*stmt, read_connection, "connection");
}

StoreResult<Approval> load_approval(Db& db, const std::string& id) {
  static const std::string sql = select_sql(kApprovalColumns, "FROM approvals WHERE id = ?");
  auto stmt = db.prepare(sql);
  if (!stmt) return unexpected(std::move(stmt.error()));
  stmt->bind(id);
  return one(*stmt, read_approval, "approval");
}

StoreResult<ConnectSession> load_session(Db& db, std::string_view where, const std::string& key) {
  auto stmt = db.prepare(select_sql(kSessionColumns, where));
  if (!stmt) return unexpected(std::move(stmt.error()));
  stmt->bind(key);
  return one(*stmt, read_session, "connect session");
}

constexpr const char* kAuditTextClauses[] = {
    " AND app_id = ?",   " AND actor_id = ?", " AND user_id = ?",    " AND provider_id = ?",
    " AND decision = ?", " AND kind = ?",     " AND request_id = ?", " AND connection_id = ?"};

}  // namespace

namespace sqlite {

// The WHERE clause of an audit filter (after "WHERE "); bind_audit_filter binds its values in
// the same order.
std::string audit_where_sql(const AuditFilter& filter) {
  std::string sql;
  if (filter.since) {
    // Rows are scanned by seq; start at the first row with ts >= since (found through the ts
    // index) instead of at seq 1. ts is kept below too: it need not grow with seq. No such
    // row: max() gives NULL and nothing matches, as it should.
    sql += "seq > max(?, (SELECT min(seq) - 1 FROM audit_events INDEXED BY audit_events_by_ts WHERE ts >= ?))";
  } else {
    sql += "seq > ?";
  }
  const auto filters = audit_text_filters(filter);
  for (std::size_t i = 0; i < filters.size(); ++i) {
    if (filters[i]->has_value()) sql += kAuditTextClauses[i];
  }
  sql += store_internal::audit_partial_index_terms(filter);
  for (const auto& m : filter.content) {
    sql += m.value ? " AND json_extract(content, ?) = ?" : " AND json_extract(content, ?) IS NULL";
  }
  if (filter.since) sql += " AND ts >= ?";  // [since, until)
  if (filter.until) sql += " AND ts < ?";
  return sql;
}

std::string query_audit_sql(const AuditFilter& filter) {
  return select_sql(kAuditColumns, "FROM audit_events WHERE ") + audit_where_sql(filter) + " ORDER BY seq LIMIT ?";
}

std::string find_connections_sql(const ConnectionFilter& filter) {
  // One index probe per attribute in connection_attributes; the CROSS JOIN keeps SQLite from
  // scanning all of the app's connections instead (it never reorders a CROSS JOIN).
  std::string sql = "SELECT " + connection_columns("c.");
  if (filter.attributes.empty()) {
    sql += " FROM connections AS c WHERE c.app_id = ?";
  } else {
    sql += " FROM (";
    for (std::size_t i = 0; i < filter.attributes.size(); ++i) {
      if (i > 0) sql += " INTERSECT ";
      sql += filter.provider_id
                 ? "SELECT connection_id FROM connection_attributes"
                   " WHERE app_id = ? AND provider_id = ? AND name = ? AND value = ?"
                 : "SELECT connection_id FROM connection_attributes WHERE app_id = ? AND name = ? AND value = ?";
    }
    sql += ") AS m CROSS JOIN connections AS c ON c.id = m.connection_id WHERE c.app_id = ?";
  }
  if (filter.provider_id) sql += " AND c.provider_id = ?";
  if (filter.status) sql += " AND c.status = ?";
  sql += " ORDER BY c.created_at, c.id LIMIT ?";
  return sql;
}

}  // namespace sqlite

namespace {

// ---- the store ----

class SqliteStore final : public Store {
 public:
  SqliteStore(const std::filesystem::path& file, const SqliteStoreOptions& options)
      : file_(file), pool_(file, options.pool_size, options.busy_timeout) {
    checkpointer_ = std::thread([this] { checkpoint_loop(); });
  }

  ~SqliteStore() override {
    {
      std::lock_guard lock(checkpoint_mu_);
      stopping_ = true;
    }
    checkpoint_cv_.notify_all();
    checkpointer_.join();
    // Leave a compact file behind: everything moved into the database, the WAL emptied.
    if (auto lease = pool_.acquire()) (void)lease.value()->exec_script("PRAGMA wal_checkpoint(TRUNCATE)");
  }

  /// Opens a first connection so that a bad file is reported at open time.
  StoreResult<void> check_open() {
    auto lease = pool_.acquire();
    if (!lease) return unexpected(std::move(lease.error()));
    return {};
  }

  StoreResult<int> migrate() override {
    const auto all_migrations = sqlite::migrations();
    const int latest = all_migrations.empty() ? 0 : all_migrations.back().version;
    auto applied = write("migrate", [&](Db& db) -> StoreResult<int> {
      ALTER_STORE_TRY(db.exec_script(
          "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER)"));
      return current_version(db);
    });
    if (!applied) return applied;
    // Refuse to run an older vault on a newer schema: it would misread the rows.
    if (*applied > latest) return fail(StoreErrc::kInvalid, "migrate: database schema is newer than this vault");
    for (const auto& migration : all_migrations) {
      auto step = write("migrate", [&](Db& db) -> StoreResult<void> {
        auto check = db.prepare("SELECT 1 FROM schema_migrations WHERE version = ?");
        if (!check) return unexpected(std::move(check.error()));
        check->bind(std::int64_t{migration.version});
        auto done = check->step();
        if (!done) return unexpected(std::move(done.error()));
        if (*done) return {};  // another process got there first
        ALTER_STORE_TRY(db.exec_script(std::string(migration.sql)));
        auto record = db.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)");
        if (!record) return unexpected(std::move(record.error()));
        record->bind_all(std::int64_t{migration.version}, std::chrono::system_clock::now());
        return record->run();
      });
      if (!step) return unexpected(std::move(step.error()));
    }
    return read("migrate", [&](Db& db) { return current_version(db); });
  }

  StoreResult<void> ping() override {
    return read("ping", [&](Db& db) -> StoreResult<void> {
      auto stmt = db.prepare("SELECT 1");
      if (!stmt) return unexpected(std::move(stmt.error()));
      return stmt->run();
    });
  }

  StoreResult<void> check_writable() override {
    ALTER_STORE_TRY(ping());
    // A full disk fails every commit (so every audited answer is a 503): say so before it does.
    struct statvfs fs {};
    const auto dir = file_.has_parent_path() ? file_.parent_path() : std::filesystem::path(".");
    if (::statvfs(dir.c_str(), &fs) == 0) {
      const auto free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
      if (free_bytes < kMinFreeBytes) {
        return fail(StoreErrc::kUnavailable, "less than 16 MiB free on the database's file system");
      }
      if ((fs.f_flag & ST_RDONLY) != 0) return fail(StoreErrc::kUnavailable, "the database's file system is read-only");
    }
    return {};
  }

  // ---- keyring ----

  StoreResult<std::vector<KeyringEntry>> keyring() override {
    return read("keyring", [&](Db& db) -> StoreResult<std::vector<KeyringEntry>> {
      static const std::string sql = select_sql(kKeyringColumns, "FROM keyring ORDER BY version");
      auto stmt = db.prepare(sql);
      if (!stmt) return unexpected(std::move(stmt.error()));
      return all(*stmt, read_key);
    });
  }

  StoreResult<void> add_key(const KeyringEntry& entry) override {
    return write("add_key", [&](Db& db) -> StoreResult<void> {
      auto deactivate = db.prepare("UPDATE keyring SET active = 0 WHERE active = 1");
      if (!deactivate) return unexpected(std::move(deactivate.error()));
      ALTER_STORE_TRY(deactivate->run());
      auto insert = db.prepare("INSERT INTO keyring (version, wrapped_key, created_at, active) VALUES (?, ?, ?, 1)");
      if (!insert) return unexpected(std::move(insert.error()));
      insert->bind_all(std::int64_t{entry.version}, Blob{entry.wrapped_key}, entry.created_at);
      return insert->run();
    });
  }

  // ---- apps ----

  StoreResult<void> create_app(const App& app) override {
    auto allowlist = string_list_json(app.return_url_allowlist, "return_url_allowlist");
    if (!allowlist) return unexpected(std::move(allowlist.error()));
    const std::string settings = app.settings.to_json().dump();
    return write("create_app", [&](Db& db) -> StoreResult<void> {
      auto stmt = db.prepare(
          "INSERT INTO apps (id, name, return_url_allowlist_json, created_at, settings_json) VALUES (?, ?, ?, ?, ?)");
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind_all(app.id, app.name, *allowlist, app.created_at, settings);
      return stmt->run();
    });
  }

  StoreResult<App> get_app(const std::string& id) override {
    return read("get_app", [&](Db& db) -> StoreResult<App> {
      static const std::string sql = select_sql(kAppColumns, "FROM apps WHERE id = ?");
      auto stmt = db.prepare(sql);
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind(id);
      return one(*stmt, read_app, "app");
    });
  }

  StoreResult<std::vector<App>> list_apps() override {
    return read("list_apps", [&](Db& db) -> StoreResult<std::vector<App>> {
      static const std::string sql = select_sql(kAppColumns, "FROM apps ORDER BY id");
      auto stmt = db.prepare(sql);
      if (!stmt) return unexpected(std::move(stmt.error()));
      return all(*stmt, read_app);
    });
  }

  StoreResult<void> update_app(const App& app) override {
    auto allowlist = string_list_json(app.return_url_allowlist, "return_url_allowlist");
    if (!allowlist) return unexpected(std::move(allowlist.error()));
    const std::string settings = app.settings.to_json().dump();
    return write("update_app", [&](Db& db) -> StoreResult<void> {
      auto stmt = db.prepare("UPDATE apps SET name = ?, return_url_allowlist_json = ?, settings_json = ? WHERE id = ?");
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind_all(app.name, *allowlist, settings, app.id);
      return run_on_existing(db, *stmt, "app");
    });
  }

  // ---- API keys ----

  StoreResult<void> create_api_key(const ApiKeyRecord& key) override {
    return write("create_api_key", [&](Db& db) -> StoreResult<void> {
      auto stmt = db.prepare(
          "INSERT INTO api_keys (id, app_id, name, hint, hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind_all(key.id, key.app_id, key.name, key.hint, key.hash, key.created_at, key.revoked_at);
      return stmt->run();
    });
  }

  StoreResult<ApiKeyRecord> find_api_key(const std::string& hash) override {
    return read("find_api_key", [&](Db& db) -> StoreResult<ApiKeyRecord> {
      static const std::string sql = select_sql(kApiKeyColumns, "FROM api_keys WHERE hash = ?");
      auto stmt = db.prepare(sql);
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind(hash);
      return one(*stmt, read_api_key, "api key");
    });
  }

  StoreResult<std::vector<ApiKeyRecord>> list_api_keys(const std::string& app_id) override {
    return read("list_api_keys", [&](Db& db) -> StoreResult<std::vector<ApiKeyRecord>> {
      static const std::string sql = select_sql(kApiKeyColumns, "FROM api_keys WHERE app_id = ? ORDER BY created_at, id");
      auto stmt = db.prepare(sql);
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind(app_id);
      return all(*stmt, read_api_key);
    });
  }

  StoreResult<void> revoke_api_key(const std::string& id, TimePoint at) override {
    return write("revoke_api_key", [&](Db& db) -> StoreResult<void> {
      // The first revocation time stands.
      auto stmt = db.prepare("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?");
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind_all(at, id);
      return run_on_existing(db, *stmt, "api key");
    });
  }

  // ---- admin credentials ----

  StoreResult<void> create_admin_credential(const AdminCredential& credential) override {
    return write("create_admin_credential", [&](Db& db) -> StoreResult<void> {
      auto stmt = db.prepare(
          "INSERT INTO admin_credentials (id, name, hint, hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)");
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind_all(credential.id, credential.name, credential.hint, credential.hash, credential.created_at,
                     credential.revoked_at);
      return stmt->run();
    });
  }

  StoreResult<AdminCredential> find_admin_credential(const std::string& hash) override {
    return read("find_admin_credential", [&](Db& db) -> StoreResult<AdminCredential> {
      static const std::string sql = select_sql(kAdminColumns, "FROM admin_credentials WHERE hash = ?");
      auto stmt = db.prepare(sql);
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind(hash);
      return one(*stmt, read_admin, "admin credential");
    });
  }

  StoreResult<std::vector<AdminCredential>> list_admin_credentials() override {
    return read("list_admin_credentials", [&](Db& db) -> StoreResult<std::vector<AdminCredential>> {
      static const std::string sql = select_sql(kAdminColumns, "FROM admin_credentials ORDER BY created_at, id");
      auto stmt = db.prepare(sql);
      if (!stmt) return unexpected(std::move(stmt.error()));
      return all(*stmt, read_admin);
    });
  }

  StoreResult<void> revoke_admin_credential(const std::string& id, TimePoint at) override {
    return write("revoke_admin_credential", [&](Db& db) -> StoreResult<void> {
      auto stmt = db.prepare("UPDATE admin_credentials SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?");
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind_all(at, id);
      return run_on_existing(db, *stmt, "admin credential");
    });
  }

  // ---- provider credentials and custom providers ----

  StoreResult<void> put_provider_credential(const ProviderCredential& credential) override {
    auto settings = to_json_text(credential.settings, "settings");
    if (!settings) return unexpected(std::move(settings.error()));
    return write("put_provider_credential", [&](Db& db) -> StoreResult<void> {
      auto stmt = db.prepare(
          "INSERT INTO provider_credentials (app_id, provider_id, client_id, client_secret, "
          "client_secret_key_version, settings_json, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
          "ON CONFLICT (app_id, provider_id) DO UPDATE SET client_id = excluded.client_id, "
          "client_secret = excluded.client_secret, client_secret_key_version = excluded.client_secret_key_version, "
          "settings_json = excluded.settings_json, updated_at = excluded.updated_at");
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind_all(credential.app_id, credential.provider_id, credential.client_id,
                     Blob{credential.client_secret.bytes}, key_version(credential.client_secret), *settings,
                     credential.updated_at);
      return stmt->run();
    });
  }

  StoreResult<ProviderCredential> get_provider_credential(const std::string& app_id,
                                                          const std::string& provider_id) override {
    return read("get_provider_credential", [&](Db& db) -> StoreResult<ProviderCredential> {
      static const std::string sql =
          select_sql(kProviderCredentialColumns, "FROM provider_credentials WHERE app_id = ? AND provider_id = ?");
      auto stmt = db.prepare(sql);
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind_all(app_id, provider_id);
      return one(*stmt, read_provider_credential, "provider credential");
    });
  }

  StoreResult<std::vector<ProviderCredential>> list_provider_credentials(const std::string& app_id) override {
    return read("list_provider_credentials", [&](Db& db) -> StoreResult<std::vector<ProviderCredential>> {
      static const std::string sql =
          select_sql(kProviderCredentialColumns, "FROM provider_credentials WHERE app_id = ? ORDER BY provider_id");
      auto stmt = db.prepare(sql);
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind(app_id);
      return all(*stmt, read_provider_credential);
    });
  }

  StoreResult<void> delete_provider_credential(const std::string& app_id, const std::string& provider_id) override {
    return write("delete_provider_credential", [&](Db& db) -> StoreResult<void> {
      auto stmt = db.prepare("DELETE FROM provider_credentials WHERE app_id = ? AND provider_id = ?");
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind_all(app_id, provider_id);
      return run_on_existing(db, *stmt, "provider credential");
    });
  }

  StoreResult<void> put_custom_provider(const CustomProvider& provider) override {
    return write("put_custom_provider", [&](Db& db) -> StoreResult<void> {
      auto stmt = db.prepare(
          "INSERT INTO custom_providers (id, definition, updated_at) VALUES (?, ?, ?) "
          "ON CONFLICT (id) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at");
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind_all(provider.id, provider.definition, provider.updated_at);
      return stmt->run();
    });
  }

  StoreResult<std::vector<CustomProvider>> list_custom_providers() override {
    return read("list_custom_providers", [&](Db& db) -> StoreResult<std::vector<CustomProvider>> {
      static const std::string sql = select_sql(kCustomProviderColumns, "FROM custom_providers ORDER BY id");
      auto stmt = db.prepare(sql);
      if (!stmt) return unexpected(std::move(stmt.error()));
      return all(*stmt, read_custom_provider);
    });
  }

  StoreResult<void> delete_custom_provider(const std::string& id) override {
    return write("delete_custom_provider", [&](Db& db) -> StoreResult<void> {
      auto stmt = db.prepare("DELETE FROM custom_providers WHERE id = ?");
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind(id);
      return run_on_existing(db, *stmt, "custom provider");
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
    const auto status = to_string(connection.status);

    return write("upsert_connection", [&](Db& db) -> StoreResult<Connection> {
      auto find = db.prepare(
          "SELECT id FROM connections WHERE app_id = ? AND provider_id = ? AND attributes_json = ?");
      if (!find) return unexpected(std::move(find.error()));
      find->bind_all(connection.app_id, connection.provider_id, *attributes);
      auto found = find->step();
      if (!found) return unexpected(std::move(found.error()));

      if (*found) {
        const std::string id = find->text(0);
        auto update = db.prepare(
            "UPDATE connections SET tokens = ?, tokens_key_version = ?, token_type = ?, scopes_json = ?, "
            "expires_at = ?, status = ?, metadata_json = ?, updated_at = ?, version = version + 1 WHERE id = ?");
        if (!update) return unexpected(std::move(update.error()));
        update->bind_all(Blob{connection.tokens.bytes}, key_version(connection.tokens), connection.token_type,
                         *scopes, connection.expires_at, status, *metadata, connection.updated_at, id);
        ALTER_STORE_TRY(update->run());
        return load_connection(db, id);
      }

      // Callers usually leave the id to the store (the sealed tokens are bound to the identity,
      // not to the id).
      std::string id = connection.id;
      if (id.empty()) {
        auto fresh = store_internal::new_row_id();
        if (!fresh) return fail(StoreErrc::kInternal, "no randomness for a connection id");
        id = std::move(*fresh);
      }
      auto insert = db.prepare(
          "INSERT INTO connections (id, app_id, provider_id, attributes_json, tokens, tokens_key_version, "
          "token_type, scopes_json, expires_at, status, metadata_json, created_at, updated_at, version) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)");
      if (!insert) return unexpected(std::move(insert.error()));
      insert->bind_all(id, connection.app_id, connection.provider_id, *attributes,
                       Blob{connection.tokens.bytes}, key_version(connection.tokens), connection.token_type, *scopes,
                       connection.expires_at, status, *metadata, connection.created_at, connection.updated_at);
      ALTER_STORE_TRY(insert->run());
      for (const auto& [name, value] : connection.attributes) {
        auto attribute = db.prepare(
            "INSERT INTO connection_attributes (connection_id, app_id, provider_id, name, value) "
            "VALUES (?, ?, ?, ?, ?)");
        if (!attribute) return unexpected(std::move(attribute.error()));
        attribute->bind_all(id, connection.app_id, connection.provider_id, name, value);
        ALTER_STORE_TRY(attribute->run());
      }
      return load_connection(db, id);
    });
  }

  StoreResult<Connection> get_connection(const std::string& id) override {
    return read("get_connection", [&](Db& db) { return load_connection(db, id); });
  }

  StoreResult<std::vector<Connection>> find_connections(const ConnectionFilter& filter) override {
    const std::string sql = sqlite::find_connections_sql(filter);
    return read("find_connections", [&](Db& db) -> StoreResult<std::vector<Connection>> {
      auto stmt = db.prepare(sql);
      if (!stmt) return unexpected(std::move(stmt.error()));
      for (const auto& [name, value] : filter.attributes) {
        stmt->bind(filter.app_id);
        if (filter.provider_id) stmt->bind(*filter.provider_id);
        stmt->bind_all(name, value);
      }
      stmt->bind(filter.app_id);
      if (filter.provider_id) stmt->bind(*filter.provider_id);
      if (filter.status) stmt->bind(to_string(*filter.status));
      stmt->bind(sql_limit(filter.limit));
      return all(*stmt, read_connection);
    });
  }

  StoreResult<Connection> update_connection(const Connection& connection, std::int64_t expected_version) override {
    auto scopes = string_list_json(connection.scopes, "scopes");
    if (!scopes) return unexpected(std::move(scopes.error()));
    auto metadata = to_json_text(connection.metadata, "metadata");
    if (!metadata) return unexpected(std::move(metadata.error()));

    return write("update_connection", [&](Db& db) -> StoreResult<Connection> {
      auto update = db.prepare(
          "UPDATE connections SET tokens = ?, tokens_key_version = ?, token_type = ?, scopes_json = ?, "
          "expires_at = ?, status = ?, metadata_json = ?, updated_at = ?, version = version + 1 "
          "WHERE id = ? AND version = ?");
      if (!update) return unexpected(std::move(update.error()));
      update->bind_all(Blob{connection.tokens.bytes}, key_version(connection.tokens), connection.token_type, *scopes,
                       connection.expires_at, to_string(connection.status), *metadata, connection.updated_at,
                       connection.id, expected_version);
      ALTER_STORE_TRY(update->run());
      if (db.changes() == 0) {
        auto present = exists(db, "SELECT 1 FROM connections WHERE id = ?", connection.id);
        if (!present) return unexpected(std::move(present.error()));
        if (*present) return fail(StoreErrc::kConflict, "connection version changed");
        return fail(StoreErrc::kNotFound, "connection not found");
      }
      return load_connection(db, connection.id);
    });
  }

  StoreResult<void> delete_connection(const std::string& id) override {
    return write("delete_connection", [&](Db& db) -> StoreResult<void> {
      // connection_attributes rows go with it (ON DELETE CASCADE).
      auto stmt = db.prepare("DELETE FROM connections WHERE id = ?");
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind(id);
      return run_on_existing(db, *stmt, "connection");
    });
  }

  StoreResult<std::vector<Connection>> connections_needing_rekey(std::uint32_t active_version,
                                                                std::size_t limit) override {
    return read("connections_needing_rekey", [&](Db& db) -> StoreResult<std::vector<Connection>> {
      // "<> ?" written as a range pair so the key-version index serves it.
      static const std::string sql = select_sql(
          connection_columns("").c_str(),
          "FROM connections WHERE tokens_key_version < ? OR tokens_key_version > ? LIMIT ?");
      auto stmt = db.prepare(sql);
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind_all(std::int64_t{active_version}, std::int64_t{active_version}, sql_limit(limit));
      return all(*stmt, read_connection);
    });
  }

  StoreResult<std::vector<ProviderCredential>> provider_credentials_needing_rekey(std::uint32_t active_version,
                                                                                 std::size_t limit) override {
    return read("provider_credentials_needing_rekey", [&](Db& db) -> StoreResult<std::vector<ProviderCredential>> {
      // An empty secret (public client) is sealed under nothing.
      static const std::string sql = select_sql(
          kProviderCredentialColumns,
          "FROM provider_credentials WHERE length(client_secret) > 0 AND client_secret_key_version <> ? "
          "ORDER BY app_id, provider_id LIMIT ?");
      auto stmt = db.prepare(sql);
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind_all(std::int64_t{active_version}, sql_limit(limit));
      return all(*stmt, read_provider_credential);
    });
  }

  StoreResult<std::vector<Connection>> connections_expiring_before(TimePoint before, std::size_t limit) override {
    return read("connections_expiring_before", [&](Db& db) -> StoreResult<std::vector<Connection>> {
      static const std::string sql = select_sql(
          connection_columns("").c_str(),
          "FROM connections WHERE status = ? AND expires_at IS NOT NULL AND expires_at < ? "
          "ORDER BY expires_at, id LIMIT ?");
      auto stmt = db.prepare(sql);
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind_all(to_string(ConnectionStatus::kActive), before, sql_limit(limit));
      return all(*stmt, read_connection);
    });
  }

  // ---- audit ----

  // Computed inside the transaction, copied to the rows only once it has committed.
  struct Link {
    std::int64_t seq;
    std::string prev_hash;
    std::string hash;
  };

  static StoreResult<void> append_rows(Db& db, const std::vector<AuditRecord>& rows, const AuditHasher& hasher,
                                       std::vector<Link>& links) {
    links.clear();
    auto head = read_head(db);
    if (!head) return unexpected(std::move(head.error()));
    for (const auto& row : rows) {
      Link link{head->seq + 1, head->hash, {}};
      try {
        link.hash = hasher(link.prev_hash, link.seq, row.content);
      } catch (...) {
        return fail(StoreErrc::kInternal, "audit hasher failed");
      }
      auto insert = db.prepare(
          "INSERT INTO audit_events (seq, id, ts, kind, app_id, actor_id, user_id, provider_id, connection_id, "
          "decision, request_id, content, prev_hash, hash, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      if (!insert) return unexpected(std::move(insert.error()));
      insert->bind_all(link.seq, row.id, row.ts, row.kind, row.app_id, row.actor_id, row.user_id, row.provider_id,
                       row.connection_id, row.decision, row.request_id, row.content, link.prev_hash, link.hash,
                       row.payload);
      ALTER_STORE_TRY(insert->run());
      head->seq = link.seq;
      head->hash = link.hash;
      links.push_back(std::move(link));
    }
    if (rows.empty()) return {};
    auto move_head = db.prepare(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash");
    if (!move_head) return unexpected(std::move(move_head.error()));
    move_head->bind_all(head->seq, head->hash);
    return move_head->run();
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
    auto written = write("append_audit", [&](Db& db) { return append_rows(db, rows, hasher, links); });
    if (!written) return written;
    if (active_db() == nullptr) apply_links(rows, links);  // inside commit_with_audit: applied at its commit
    return {};
  }

  StoreResult<void> commit_with_audit(const std::function<StoreResult<void>()>& changes, std::vector<AuditRecord>& audit,
                                      const AuditHasher& hasher, bool bump_change_version) override {
    if (active_db() != nullptr) return fail(StoreErrc::kInternal, "commit_with_audit: nested transaction");
    std::vector<Link> links;
    auto done = write("commit_with_audit", [&](Db& db) -> StoreResult<void> {
      ActiveTx bind(this, &db);
      ALTER_STORE_TRY(changes());
      return append_rows(db, audit, hasher, links);
    });
    if (!done) return done;
    apply_links(audit, links);
    if (bump_change_version) change_version_.fetch_add(1);
    return {};
  }

  StoreResult<AuditHead> audit_head() override {
    return read("audit_head", [&](Db& db) { return read_head(db); });
  }

  static void bind_audit_filter(Stmt& stmt, const AuditFilter& filter, std::int64_t after_seq) {
    stmt.bind(after_seq);
    if (filter.since) stmt.bind(*filter.since);
    for (const auto* value : audit_text_filters(filter)) {
      if (value->has_value()) stmt.bind(**value);
    }
    for (const auto& m : filter.content) {
      stmt.bind(store_internal::sqlite_json_path(m.path));
      if (m.value) stmt.bind(*m.value);
    }
    if (filter.since) stmt.bind(*filter.since);
    if (filter.until) stmt.bind(*filter.until);
  }

  StoreResult<std::vector<AuditRecord>> query_audit(const AuditFilter& filter) override {
    const std::string sql = sqlite::query_audit_sql(filter);
    return read("query_audit", [&](Db& db) -> StoreResult<std::vector<AuditRecord>> {
      auto stmt = db.prepare(sql);
      if (!stmt) return unexpected(std::move(stmt.error()));
      bind_audit_filter(*stmt, filter, filter.after_seq);
      stmt->bind(sql_limit(filter.limit));
      return all(*stmt, read_audit);
    });
  }

  StoreResult<std::int64_t> purge_audit_payloads(const AuditFilter& filter) override {
    const std::string sql =
        "UPDATE audit_events SET payload = NULL WHERE payload IS NOT NULL AND " + sqlite::audit_where_sql(filter);
    return write("purge_audit_payloads", [&](Db& db) -> StoreResult<std::int64_t> {
      auto stmt = db.prepare(sql);
      if (!stmt) return unexpected(std::move(stmt.error()));
      bind_audit_filter(*stmt, filter, 0);
      ALTER_STORE_TRY(stmt->run());
      return db.changes();
    });
  }

  // ---- policies ----

  StoreResult<PolicyVersion> put_policy(const PolicyVersion& policy) override {
    return write("put_policy", [&](Db& db) -> StoreResult<PolicyVersion> {
      auto next = db.prepare("SELECT COALESCE(MAX(version), 0) + 1 FROM policies WHERE app_id = ?");
      if (!next) return unexpected(std::move(next.error()));
      next->bind(policy.app_id);
      auto row = next->step();
      if (!row) return unexpected(std::move(row.error()));
      PolicyVersion stored = policy;
      stored.version = next->int64(0);
      auto insert = db.prepare(
          "INSERT INTO policies (app_id, version, document, format, author, created_at) VALUES (?, ?, ?, ?, ?, ?)");
      if (!insert) return unexpected(std::move(insert.error()));
      insert->bind_all(stored.app_id, stored.version, stored.document, stored.format, stored.author,
                       stored.created_at);
      ALTER_STORE_TRY(insert->run());
      return stored;
    });
  }

  StoreResult<PolicyVersion> get_policy(const std::string& app_id, std::int64_t version) override {
    if (version < 0) return fail(StoreErrc::kInvalid, "get_policy: negative version");
    return read("get_policy", [&](Db& db) -> StoreResult<PolicyVersion> {
      static const std::string latest =
          select_sql(kPolicyColumns, "FROM policies WHERE app_id = ? ORDER BY version DESC LIMIT 1");
      static const std::string exact = select_sql(kPolicyColumns, "FROM policies WHERE app_id = ? AND version = ?");
      auto stmt = db.prepare(version == 0 ? latest : exact);
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind(app_id);
      if (version != 0) stmt->bind(version);
      return one(*stmt, read_policy, "policy");
    });
  }

  StoreResult<std::vector<PolicyVersion>> list_policies(const std::string& app_id) override {
    return read("list_policies", [&](Db& db) -> StoreResult<std::vector<PolicyVersion>> {
      static const std::string sql = select_sql(kPolicyColumns, "FROM policies WHERE app_id = ? ORDER BY version");
      auto stmt = db.prepare(sql);
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind(app_id);
      return all(*stmt, read_policy);
    });
  }

  // ---- approvals ----

  StoreResult<void> create_approval(const Approval& approval) override {
    auto request = to_json_text(approval.request, "request");
    if (!request) return unexpected(std::move(request.error()));
    return write("create_approval", [&](Db& db) -> StoreResult<void> {
      auto stmt = db.prepare(
          "INSERT INTO approvals (id, app_id, status, binding_hash, request_json, rule_id, created_at, expires_at, "
          "decided_at, decided_by, valid_until, uses) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind_all(approval.id, approval.app_id, to_string(approval.status), approval.binding_hash, *request,
                     approval.rule_id, approval.created_at, approval.expires_at, approval.decided_at,
                     approval.decided_by, approval.valid_until, approval.uses);
      return stmt->run();
    });
  }

  StoreResult<Approval> get_approval(const std::string& id) override {
    return read("get_approval", [&](Db& db) { return load_approval(db, id); });
  }

  StoreResult<std::vector<Approval>> list_approvals(const std::string& app_id, std::optional<ApprovalStatus> status,
                                                    std::size_t limit) override {
    return read("list_approvals", [&](Db& db) -> StoreResult<std::vector<Approval>> {
      static const std::string any =
          select_sql(kApprovalColumns, "FROM approvals WHERE app_id = ? ORDER BY created_at, id LIMIT ?");
      static const std::string by_status =
          select_sql(kApprovalColumns, "FROM approvals WHERE app_id = ? AND status = ? ORDER BY created_at, id LIMIT ?");
      auto stmt = db.prepare(status ? by_status : any);
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind(app_id);
      if (status) stmt->bind(to_string(*status));
      stmt->bind(sql_limit(limit));
      return all(*stmt, read_approval);
    });
  }

  StoreResult<Approval> update_approval(const Approval& approval, ApprovalStatus expected) override {
    return write("update_approval", [&](Db& db) -> StoreResult<Approval> {
      auto stmt = db.prepare(
          "UPDATE approvals SET status = ?, decided_at = ?, decided_by = ?, valid_until = ?, uses = ? "
          "WHERE id = ? AND status = ?");
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind_all(to_string(approval.status), approval.decided_at, approval.decided_by, approval.valid_until,
                     approval.uses, approval.id, to_string(expected));
      ALTER_STORE_TRY(stmt->run());
      if (db.changes() == 0) {
        auto present = exists(db, "SELECT 1 FROM approvals WHERE id = ?", approval.id);
        if (!present) return unexpected(std::move(present.error()));
        if (*present) return fail(StoreErrc::kConflict, "approval is not in the expected state");
        return fail(StoreErrc::kNotFound, "approval not found");
      }
      return load_approval(db, approval.id);
    });
  }

  // ---- connect sessions ----

  StoreResult<void> create_connect_session(const ConnectSession& session) override {
    auto attributes = canonical_attributes(session.attributes);
    if (!attributes) return unexpected(std::move(attributes.error()));
    auto settings = to_json_text(session.settings, "settings");
    if (!settings) return unexpected(std::move(settings.error()));
    return write("create_connect_session", [&](Db& db) -> StoreResult<void> {
      auto stmt = db.prepare(
          "INSERT INTO connect_sessions (id, app_id, provider_id, attributes_json, return_url, token_hash, "
          "state_hash, pkce_verifier, pkce_key_version, settings_json, created_at, expires_at, used_at) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind_all(session.id, session.app_id, session.provider_id, *attributes, session.return_url,
                     session.token_hash, session.state_hash, Blob{session.pkce_verifier.bytes},
                     key_version(session.pkce_verifier), *settings, session.created_at, session.expires_at,
                     session.used_at);
      return stmt->run();
    });
  }

  StoreResult<ConnectSession> find_connect_session_by_token(const std::string& token_hash) override {
    return read("find_connect_session_by_token",
                [&](Db& db) { return load_session(db, "FROM connect_sessions WHERE token_hash = ?", token_hash); });
  }

  StoreResult<ConnectSession> find_connect_session_by_state(const std::string& state_hash) override {
    // Sessions not yet redirected have an empty state: it must never match.
    if (state_hash.empty()) return fail(StoreErrc::kNotFound, "find_connect_session_by_state: connect session not found");
    return read("find_connect_session_by_state",
                [&](Db& db) { return load_session(db, "FROM connect_sessions WHERE state_hash = ?", state_hash); });
  }

  StoreResult<void> start_connect_session(const std::string& id, const std::string& state_hash,
                                          const SealedBlob& pkce_verifier) override {
    return write("start_connect_session", [&](Db& db) -> StoreResult<void> {
      auto stmt = db.prepare(
          "UPDATE connect_sessions SET state_hash = ?, pkce_verifier = ?, pkce_key_version = ? WHERE id = ?");
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind_all(state_hash, Blob{pkce_verifier.bytes}, key_version(pkce_verifier), id);
      return run_on_existing(db, *stmt, "connect session");
    });
  }

  StoreResult<void> use_connect_session(const std::string& id, TimePoint at) override {
    return write("use_connect_session", [&](Db& db) -> StoreResult<void> {
      auto stmt = db.prepare("UPDATE connect_sessions SET used_at = ? WHERE id = ? AND used_at IS NULL");
      if (!stmt) return unexpected(std::move(stmt.error()));
      stmt->bind_all(at, id);
      ALTER_STORE_TRY(stmt->run());
      if (db.changes() != 0) return {};
      auto present = exists(db, "SELECT 1 FROM connect_sessions WHERE id = ?", id);
      if (!present) return unexpected(std::move(present.error()));
      if (*present) return fail(StoreErrc::kConflict, "connect session already used");
      return fail(StoreErrc::kNotFound, "connect session not found");
    });
  }

  // ---- several instances: SQLite serves exactly one, so these stay in this process ----

  static std::int64_t to_ms(TimePoint t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  }

  StoreResult<void> with_connection_lock(const std::string& connection_id, std::chrono::milliseconds timeout,
                                         const std::function<void()>& fn) override {
    std::shared_ptr<std::timed_mutex> m;
    {
      std::lock_guard lock(locks_mu_);
      auto& slot = locks_[connection_id];
      if (!slot) slot = std::make_shared<std::timed_mutex>();
      m = slot;
    }
    std::unique_lock held(*m, std::defer_lock);
    if (!held.try_lock_for(timeout)) return fail(StoreErrc::kUnavailable, "connection lock: timed out");
    fn();  // if it throws, `held` unlocks (the map entry stays, for reuse)
    held.unlock();
    m.reset();  // else the use_count() below never drops to 1 and the map only grows
    std::lock_guard lock(locks_mu_);
    if (auto it = locks_.find(connection_id); it != locks_.end() && it->second.use_count() == 1) locks_.erase(it);
    return {};
  }

  StoreResult<std::int64_t> rate_limit_hit(const std::string& key, TimePoint window_start,
                                           std::chrono::seconds window) override {
    std::lock_guard lock(rate_mu_);
    const auto now_window = window_start + window;
    // Prune windows that ended (bounded memory).
    if (++rate_ops_ % 1024 == 0) {
      for (auto it = rate_counts_.begin(); it != rate_counts_.end();) {
        it = it->second.ends <= window_start ? rate_counts_.erase(it) : std::next(it);
      }
    }
    auto& slot = rate_counts_[key + "@" + std::to_string(to_ms(window_start))];
    slot.ends = now_window;
    return ++slot.count;
  }

  StoreResult<std::int64_t> rate_limit_peek(const std::string& key, TimePoint window_start) override {
    std::lock_guard lock(rate_mu_);
    auto it = rate_counts_.find(key + "@" + std::to_string(to_ms(window_start)));
    return it == rate_counts_.end() ? 0 : it->second.count;
  }

  StoreResult<std::int64_t> change_version() override { return change_version_.load(); }
  bool change_version_in_memory() const override { return true; }
  bool connection_lock_is_local() const override { return true; }
  StoreResult<std::int64_t> bump_change_version() override { return ++change_version_; }

  // ---- housekeeping ----

  StoreResult<std::map<std::string, std::int64_t>> table_counts() override {
    static constexpr const char* kTables[] = {
        "apps",        "api_keys",     "admin_credentials", "provider_credentials", "custom_providers", "connections",
        "audit_events", "policies",    "approvals",         "connect_sessions",     "keyring"};
    return read("table_counts", [&](Db& db) -> StoreResult<std::map<std::string, std::int64_t>> {
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
      auto stmt = db.prepare(sql);
      if (!stmt) return unexpected(std::move(stmt.error()));
      auto row = stmt->step();
      if (!row) return unexpected(std::move(row.error()));
      std::map<std::string, std::int64_t> counts;
      int col = 0;
      for (const char* table : kTables) counts[table] = stmt->int64(col++);
      return counts;
    });
  }

  StoreResult<std::map<std::string, std::int64_t>> connection_status_counts() override {
    return read("connection_status_counts", [&](Db& db) -> StoreResult<std::map<std::string, std::int64_t>> {
      auto stmt = db.prepare("SELECT status, COUNT(*) FROM connections GROUP BY status");
      if (!stmt) return unexpected(std::move(stmt.error()));
      auto rows = all(*stmt, [](const Stmt& s) -> StoreResult<std::pair<std::string, std::int64_t>> {
        return std::pair{s.text(0), s.int64(1)};
      });
      if (!rows) return unexpected(std::move(rows.error()));
      return std::map<std::string, std::int64_t>(rows->begin(), rows->end());
    });
  }

 private:
  template <class F>
  using OpResult = std::invoke_result_t<F&, Db&>;

  static void add_context(StoreError& error, std::string_view op) {
    error.message = std::string(op) + ": " + error.message;
  }

  // The transaction commit_with_audit runs on this thread, if any: calls made inside it use its
  // connection (and so join it) instead of taking one from the pool.
  struct Ambient {
    const SqliteStore* store = nullptr;
    Db* db = nullptr;
  };
  static Ambient& ambient() {
    static thread_local Ambient a;
    return a;
  }
  Db* active_db() const { return ambient().store == this ? ambient().db : nullptr; }
  struct ActiveTx {
    ActiveTx(const SqliteStore* store, Db* db) : saved(ambient()) { ambient() = {store, db}; }
    ~ActiveTx() { ambient() = saved; }
    Ambient saved;
  };

  /// Runs `fn` on a pooled connection, outside any explicit transaction.
  template <class F>
  OpResult<F> read(std::string_view op, F&& fn) {
    if (Db* db = active_db()) {
      auto result = fn(*db);
      if (!result) add_context(result.error(), op);
      return result;
    }
    auto lease = pool_.acquire();
    if (!lease) {
      add_context(lease.error(), op);
      return unexpected(std::move(lease.error()));
    }
    auto result = fn(**lease);
    if (!result) add_context(result.error(), op);
    return result;
  }

  /// Runs `fn` in a BEGIN IMMEDIATE transaction, committed only when it succeeds (or in the
  /// ambient one of commit_with_audit).
  template <class F>
  OpResult<F> write(std::string_view op, F&& fn) {
    if (Db* db = active_db()) {
      auto result = fn(*db);
      if (!result) add_context(result.error(), op);
      return result;
    }
    auto lease = pool_.acquire();
    if (!lease) {
      add_context(lease.error(), op);
      return unexpected(std::move(lease.error()));
    }
    // Writers from this process queue here rather than in SQLite's busy handler, which polls
    // with sleeps; busy_timeout still covers other processes (the CLI, a backup).
    std::lock_guard lock(write_mutex_);
    auto tx = Transaction::begin(**lease, /*immediate=*/true);
    if (!tx) {
      add_context(tx.error(), op);
      return unexpected(std::move(tx.error()));
    }
    auto result = fn(**lease);
    if (result) {
      auto committed = tx->commit();
      if (!committed) {
        add_context(committed.error(), op);
        return unexpected(std::move(committed.error()));
      }
    } else {
      add_context(result.error(), op);
    }
    return result;
  }

  static StoreResult<int> current_version(Db& db) {
    auto stmt = db.prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    if (!stmt) return unexpected(std::move(stmt.error()));
    auto row = stmt->step();
    if (!row) return unexpected(std::move(row.error()));
    return static_cast<int>(stmt->int64(0));
  }

  static StoreResult<AuditHead> read_head(Db& db) {
    auto stmt = db.prepare("SELECT seq, hash FROM audit_head WHERE id = 1");
    if (!stmt) return unexpected(std::move(stmt.error()));
    auto row = stmt->step();
    if (!row) return unexpected(std::move(row.error()));
    if (!*row) return AuditHead{0, std::string(kZeroHash)};
    return AuditHead{stmt->int64(0), stmt->text(1)};
  }

  // Moves WAL pages into the database every second, off the writers' path. PASSIVE never waits
  // for readers or the writer; pages rewritten many times in between are copied once. Under
  // steady load some reader or writer is always inside the WAL, so it would never start over and
  // would grow without bound: past kWalRestartFrames, a RESTART checkpoint runs with our writers
  // held back (write_mutex_), waits for readers to leave the WAL, and the next write starts it
  // from the beginning (journal_size_limit then trims the file).
  static constexpr std::int64_t kWalRestartFrames = 16384;  // 64 MiB of 4 KiB pages

  void checkpoint_loop() {
    std::unique_lock lock(checkpoint_mu_);
    while (!stopping_) {
      checkpoint_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
      if (stopping_) break;
      lock.unlock();
      checkpoint_once();
      lock.lock();
    }
  }

  void checkpoint_once() {
    auto lease = pool_.acquire();
    if (!lease) return;
    std::int64_t wal_frames = 0;
    {
      auto stmt = lease.value()->prepare("PRAGMA wal_checkpoint(PASSIVE)");
      if (!stmt) return;
      auto row = stmt->step();
      if (!row || !*row) return;
      wal_frames = stmt->int64(1);
    }
    if (wal_frames < kWalRestartFrames) return;
    std::lock_guard writers(write_mutex_);
    (void)lease.value()->exec_script("PRAGMA wal_checkpoint(RESTART)");
  }

  static constexpr std::uint64_t kMinFreeBytes = 16 * 1024 * 1024;
  std::filesystem::path file_;
  sqlite::Pool pool_;
  std::mutex write_mutex_;
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool stopping_ = false;
  std::thread checkpointer_;

  std::mutex locks_mu_;
  std::map<std::string, std::shared_ptr<std::timed_mutex>> locks_;
  struct RateSlot {
    std::int64_t count = 0;
    TimePoint ends{};
  };
  std::mutex rate_mu_;
  std::map<std::string, RateSlot> rate_counts_;
  std::uint64_t rate_ops_ = 0;
  std::atomic<std::int64_t> change_version_{0};
};

/// Creates the file if needed: 0600 (it holds sealed secrets and the audit trail).
StoreResult<void> create_private_file(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    // The umask may only have narrowed the mode, but say it exactly.
    const bool ok = ::fchmod(fd, 0600) == 0;
    ::close(fd);
    if (ok) return {};
  } else if (errno == EEXIST) {
    fd = ::open(file.c_str(), O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
      ::close(fd);
      return {};
    }
  }
  const int error = errno;
  return fail(StoreErrc::kUnavailable,
              "open_sqlite_store: cannot create " + file.string() + ": " + std::strerror(error));
}

}  // namespace

StoreResult<std::unique_ptr<Store>> open_sqlite_store(const std::filesystem::path& file, SqliteStoreOptions options) {
  auto created = create_private_file(file);
  if (!created) return unexpected(std::move(created.error()));
  auto store = std::make_unique<SqliteStore>(file, options);
  auto opened = store->check_open();
  if (!opened) {
    auto error = std::move(opened.error());
    error.message = "open_sqlite_store: " + error.message;
    return unexpected(std::move(error));
  }
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace alter::server
