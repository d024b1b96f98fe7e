#pragma once
// Internal to the SQLite store: a connection with its cache of prepared statements, a pool of
// connections, transactions, and the mapping of SQLite result codes to StoreError.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace alter::server::sqlite {

/// `what` is our own text: messages never carry a bound value (those can be secrets).
StoreError make_error(int code, std::string_view what);

/// Binary data, bound as a BLOB (a std::string binds as TEXT).
struct Blob {
  std::string_view bytes;
};

/// A prepared statement checked out of a connection's cache (or owned, when the cached one is
/// busy). Parameters bind in order; destruction resets it for the next user.
class Stmt {
 public:
  Stmt(Stmt&& other) noexcept;
  Stmt& operator=(Stmt&&) = delete;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  Stmt& bind(std::nullptr_t);
  Stmt& bind(std::string_view text);
  Stmt& bind(const std::string& text) { return bind(std::string_view(text)); }
  Stmt& bind(const char* text) { return bind(std::string_view(text)); }
  Stmt& bind(Blob blob);
  Stmt& bind(std::int64_t value);
  Stmt& bind(TimePoint at);
  template <class T>
  Stmt& bind(const std::optional<T>& value) {
    return value ? bind(*value) : bind(nullptr);
  }
  template <class... Ts>
  Stmt& bind_all(const Ts&... values) {
    (bind(values), ...);
    return *this;
  }

  /// true: a row is ready to read; false: done.
  StoreResult<bool> step();
  /// Steps to the end, for statements that return no rows.
  StoreResult<void> run();

  bool is_null(int col) const;
  std::int64_t int64(int col) const;
  std::string text(int col) const;
  std::string blob(int col) const;
  TimePoint time(int col) const;
  std::optional<TimePoint> opt_time(int col) const;

 private:
  friend class Db;
  Stmt(sqlite3_stmt* stmt, bool* in_use) : stmt_(stmt), in_use_(in_use) {}
  void note_bind(int rc);

  sqlite3_stmt* stmt_ = nullptr;
  bool* in_use_ = nullptr;  // the cache's flag; null when this Stmt owns (finalizes) stmt_
  int next_ = 1;
  int bind_error_ = 0;
};

/// One sqlite3 connection. Used by one thread at a time (the pool sees to it).
class Db {
 public:
  static StoreResult<std::unique_ptr<Db>> open(const std::filesystem::path& file,
                                               std::chrono::milliseconds busy_timeout);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  /// A statement from the cache (prepared once, persistent). SQL text never contains values.
  StoreResult<Stmt> prepare(std::string_view sql);
  /// Runs constant SQL with several statements, uncached (migrations).
  StoreResult<void> exec_script(const std::string& sql);
  std::int64_t changes() const;
  bool in_transaction() const;

 private:
  explicit Db(sqlite3* db) : db_(db) {}

  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  struct Cached {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };

  sqlite3* db_ = nullptr;
  // Node-based: the addresses of `in_use` stay valid while Stmts point at them.
  std::unordered_map<std::string, Cached, Hash, std::equal_to<>> cache_;
};

/// Opens connections on demand up to `size`; a caller waits when all are checked out.
class Pool {
 public:
  Pool(std::filesystem::path file, std::size_t size, std::chrono::milliseconds busy_timeout);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  class Lease {
   public:
    Lease(Lease&& other) noexcept : pool_(other.pool_), db_(std::move(other.db_)) { other.pool_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Db& operator*() const { return *db_; }
    Db* operator->() const { return db_.get(); }

   private:
    friend class Pool;
    Lease(Pool* pool, std::unique_ptr<Db> db) : pool_(pool), db_(std::move(db)) {}
    Pool* pool_;
    std::unique_ptr<Db> db_;
  };

  StoreResult<Lease> acquire();

 private:
  void release(std::unique_ptr<Db> db);

  const std::filesystem::path file_;
  const std::size_t size_;
  const std::chrono::milliseconds busy_timeout_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Db>> idle_;
  std::size_t open_ = 0;  // idle + checked out + being opened
};

/// BEGIN ... COMMIT; rolls back on destruction unless committed.
class Transaction {
 public:
  /// immediate: takes the write lock now (BEGIN IMMEDIATE), so the transaction never has to
  /// upgrade a read lock later, which SQLite cannot wait for.
  static StoreResult<Transaction> begin(Db& db, bool immediate);
  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  StoreResult<void> commit();

 private:
  explicit Transaction(Db* db) : db_(db) {}
  Db* db_;  // null once committed or rolled back
};

}  // namespace alter::server::sqlite
