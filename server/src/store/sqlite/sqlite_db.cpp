#include "store/sqlite/sqlite_db.hpp"

#include <sqlite3.h>

#include <climits>
#include <utility>

namespace alter::server::sqlite {
namespace {

// Dynamic SQL (filters) makes a few hundred distinct statements at most; past this, one-offs.
constexpr std::size_t kMaxCachedStatements = 512;

StoreErrc errc_for(int code) {
  switch (code & 0xff) {
    case SQLITE_CONSTRAINT:
      switch (code) {
        case SQLITE_CONSTRAINT:
        case SQLITE_CONSTRAINT_UNIQUE:
        case SQLITE_CONSTRAINT_PRIMARYKEY:
        case SQLITE_CONSTRAINT_ROWID:
          return StoreErrc::kConflict;
        default:
          return StoreErrc::kInvalid;  // NOT NULL, CHECK, FOREIGN KEY: a bad row, not a race
      }
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return StoreErrc::kUnavailable;
    default:
      return StoreErrc::kInternal;
  }
}

std::int64_t to_millis(TimePoint at) {
  return std::chrono::floor<std::chrono::milliseconds>(at.time_since_epoch()).count();
}

}  // namespace

StoreError make_error(int code, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += sqlite3_errstr(code);
  return StoreError{errc_for(code), std::move(message)};
}

// ---- Stmt ----

Stmt::Stmt(Stmt&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)),
      in_use_(std::exchange(other.in_use_, nullptr)),
      next_(other.next_),
      bind_error_(other.bind_error_) {}

Stmt::~Stmt() {
  if (stmt_ == nullptr) return;
  sqlite3_reset(stmt_);
  if (in_use_ != nullptr) {
    sqlite3_clear_bindings(stmt_);  // bound secrets do not linger in the cache
    *in_use_ = false;
  } else {
    sqlite3_finalize(stmt_);
  }
}

void Stmt::note_bind(int rc) {
  ++next_;
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
}

Stmt& Stmt::bind(std::nullptr_t) {
  note_bind(sqlite3_bind_null(stmt_, next_));
  return *this;
}

Stmt& Stmt::bind(std::string_view text) {
  if (text.size() > static_cast<std::size_t>(INT_MAX)) {
    note_bind(SQLITE_TOOBIG);
    return *this;
  }
  note_bind(sqlite3_bind_text(stmt_, next_, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT));
  return *this;
}

Stmt& Stmt::bind(Blob blob) {
  if (blob.bytes.size() > static_cast<std::size_t>(INT_MAX)) {
    note_bind(SQLITE_TOOBIG);
    return *this;
  }
  // An empty blob must not become NULL (sqlite3_bind_blob does that for a null pointer).
  if (blob.bytes.empty()) {
    note_bind(sqlite3_bind_zeroblob(stmt_, next_, 0));
    return *this;
  }
  note_bind(sqlite3_bind_blob(stmt_, next_, blob.bytes.data(), static_cast<int>(blob.bytes.size()),
                              SQLITE_TRANSIENT));
  return *this;
}

Stmt& Stmt::bind(std::int64_t value) {
  note_bind(sqlite3_bind_int64(stmt_, next_, value));
  return *this;
}

Stmt& Stmt::bind(TimePoint at) { return bind(to_millis(at)); }

StoreResult<bool> Stmt::step() {
  if (bind_error_ != 0) return common::unexpected(make_error(bind_error_, "bind"));
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return common::unexpected(make_error(rc, "step"));
}

StoreResult<void> Stmt::run() {
  for (;;) {
    auto row = step();
    if (!row) return common::unexpected(std::move(row.error()));
    if (!*row) return {};
  }
}

bool Stmt::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

std::int64_t Stmt::int64(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string Stmt::text(int col) const {
  const unsigned char* data = sqlite3_column_text(stmt_, col);
  const int size = sqlite3_column_bytes(stmt_, col);
  if (data == nullptr || size <= 0) return {};
  return std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(size));
}

std::string Stmt::blob(int col) const {
  const void* data = sqlite3_column_blob(stmt_, col);
  const int size = sqlite3_column_bytes(stmt_, col);
  if (data == nullptr || size <= 0) return {};
  return std::string(static_cast<const char*>(data), static_cast<std::size_t>(size));
}

TimePoint Stmt::time(int col) const {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(int64(col))));
}

std::optional<TimePoint> Stmt::opt_time(int col) const {
  if (is_null(col)) return std::nullopt;
  return time(col);
}

// ---- Db ----

namespace {

// A pragma's first result column ("wal" for journal_mode), or an error.
StoreResult<std::string> run_pragma(sqlite3* db, const char* sql) {
  std::string first;
  auto callback = [](void* out, int columns, char** values, char**) -> int {
    if (columns > 0 && values[0] != nullptr) *static_cast<std::string*>(out) = values[0];
    return 0;
  };
  const int rc = sqlite3_exec(db, sql, callback, &first, nullptr);
  if (rc != SQLITE_OK) return common::unexpected(make_error(rc, "configure connection"));
  return first;
}

}  // namespace

StoreResult<std::unique_ptr<Db>> Db::open(const std::filesystem::path& file, std::chrono::milliseconds busy_timeout) {
  sqlite3* raw = nullptr;
  // NOMUTEX: the pool hands a connection to one thread at a time. No CREATE: the store made
  // the file (with its mode) already.
  const int rc = sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_close_v2(raw);
    return common::unexpected(make_error(rc, "open database"));
  }
  std::unique_ptr<Db> db(new Db(raw));
  sqlite3_extended_result_codes(raw, 1);
  const auto timeout_ms = busy_timeout.count() > INT_MAX ? INT_MAX : static_cast<int>(busy_timeout.count());
  sqlite3_busy_timeout(raw, timeout_ms < 0 ? 0 : timeout_ms);

  auto mode = run_pragma(raw, "PRAGMA journal_mode=WAL");
  if (!mode) return common::unexpected(std::move(mode.error()));
  if (*mode != "wal") return common::unexpected(StoreError{StoreErrc::kUnavailable, "cannot enable WAL journal mode"});
  // Checkpoints run on the store's own thread (SqliteStore), not inline in whichever connection
  // commits past 1000 WAL pages: the audit writer's commits stay short. A 16 MiB page cache per
  // connection keeps the hot index pages in memory.
  for (const char* pragma : {"PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON", "PRAGMA wal_autocheckpoint=0",
                             "PRAGMA cache_size=-16384", "PRAGMA temp_store=MEMORY",
                             "PRAGMA journal_size_limit=67108864"}) {
    auto done = run_pragma(raw, pragma);
    if (!done) return common::unexpected(std::move(done.error()));
  }
  return db;
}

Db::~Db() {
  for (auto& [sql, cached] : cache_) sqlite3_finalize(cached.stmt);
  sqlite3_close_v2(db_);
}

StoreResult<Stmt> Db::prepare(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end() && !it->second.in_use) {
    it->second.in_use = true;
    return Stmt(it->second.stmt, &it->second.in_use);
  }
  // Not cached yet, or already stepping on this connection (then a one-off copy).
  const bool cache = it == cache_.end() && cache_.size() < kMaxCachedStatements;
  if (sql.size() > static_cast<std::size_t>(INT_MAX)) {
    return common::unexpected(StoreError{StoreErrc::kInternal, "prepare: statement too long"});
  }
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    cache ? SQLITE_PREPARE_PERSISTENT : 0, &stmt, nullptr);
  if (rc != SQLITE_OK || stmt == nullptr) {
    sqlite3_finalize(stmt);
    auto error = make_error(rc == SQLITE_OK ? SQLITE_MISUSE : rc, "prepare");
    // Safe to show: our SQL text holds no values, so the message names only tables/columns.
    error.message += std::string(" (") + sqlite3_errmsg(db_) + ")";
    return common::unexpected(std::move(error));
  }
  if (!cache) return Stmt(stmt, nullptr);
  auto [pos, inserted] = cache_.emplace(std::string(sql), Cached{stmt, true});
  (void)inserted;
  return Stmt(stmt, &pos->second.in_use);
}

StoreResult<void> Db::exec_script(const std::string& sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return {};
  auto error = make_error(rc, "run script");
  // Constant SQL (migrations), so the message holds no values.
  if (message != nullptr) error.message += std::string(" (") + message + ")";
  sqlite3_free(message);
  return common::unexpected(std::move(error));
}

std::int64_t Db::changes() const { return sqlite3_changes64(db_); }

bool Db::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

// ---- Pool ----

Pool::Pool(std::filesystem::path file, std::size_t size, std::chrono::milliseconds busy_timeout)
    : file_(std::move(file)), size_(size == 0 ? 1 : size), busy_timeout_(busy_timeout) {}

Pool::~Pool() = default;

Pool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->release(std::move(db_));
}

StoreResult<Pool::Lease> Pool::acquire() {
  std::unique_lock lock(mutex_);
  // Connections are held for one call only, so a long wait means the database is stuck.
  const bool ready = available_.wait_for(lock, busy_timeout_, [&] { return !idle_.empty() || open_ < size_; });
  if (!ready) return common::unexpected(StoreError{StoreErrc::kUnavailable, "no database connection available"});
  if (!idle_.empty()) {
    auto db = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(db));
  }
  ++open_;
  lock.unlock();
  auto db = Db::open(file_, busy_timeout_);
  if (!db) {
    lock.lock();
    --open_;
    lock.unlock();
    available_.notify_one();
    return common::unexpected(std::move(db.error()));
  }
  return Lease(this, std::move(*db));
}

void Pool::release(std::unique_ptr<Db> db) {
  // A connection left inside a transaction would hold the write lock: never reuse it.
  if (db != nullptr && db->in_transaction()) db.reset();
  {
    std::lock_guard lock(mutex_);
    if (db != nullptr) {
      idle_.push_back(std::move(db));
    } else {
      --open_;
    }
  }
  available_.notify_one();
}

// ---- Transaction ----

StoreResult<Transaction> Transaction::begin(Db& db, bool immediate) {
  auto stmt = db.prepare(immediate ? "BEGIN IMMEDIATE" : "BEGIN");
  if (!stmt) return common::unexpected(std::move(stmt.error()));
  auto done = stmt->run();
  if (!done) return common::unexpected(std::move(done.error()));
  return Transaction(&db);
}

Transaction::~Transaction() {
  if (db_ == nullptr || !db_->in_transaction()) return;  // SQLite rolls back itself on some errors
  if (auto stmt = db_->prepare("ROLLBACK")) (void)stmt->run();
}

StoreResult<void> Transaction::commit() {
  auto stmt = db_->prepare("COMMIT");
  if (!stmt) return common::unexpected(std::move(stmt.error()));
  auto done = stmt->run();
  if (!done) return done;  // still open: the destructor rolls back
  db_ = nullptr;
  return {};
}

}  // namespace alter::server::sqlite
