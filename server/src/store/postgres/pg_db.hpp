#pragma once
// Internal to the PostgreSQL store: a libpq connection with its prepared statements, a pool of
// connections, transactions, and the mapping of SQLSTATEs to StoreError.
//
// Every round trip has a deadline of our own (the server's statement_timeout plus a margin), so a
// call never hangs on a database that went away without closing the socket. A connection that
// saw a connection-level failure is marked broken and the pool drops it; the next call opens a
// new one, which is how the store recovers by itself when the database returns.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/store.hpp"

struct pg_conn;
struct pg_result;

namespace alter::server::pg {

using Clock = std::chrono::steady_clock;

/// Binary data, sent as a binary-format parameter (bytea): NUL bytes round-trip.
struct Bytes {
  std::string_view bytes;
};

/// Parameters of one statement, in order ($1, $2, ...). Text is copied and sent in text format;
/// Bytes are referenced (they must outlive the call) and sent in binary format.
class Params {
 public:
  Params() = default;
  Params(const Params&) = delete;
  Params& operator=(const Params&) = delete;

  Params& add(std::nullptr_t);
  Params& add(std::string_view text);
  Params& add(const std::string& text) { return add(std::string_view(text)); }
  Params& add(const char* text) { return add(std::string_view(text)); }
  Params& add(Bytes bytes);
  Params& add(std::int64_t value);
  Params& add(TimePoint at);
  template <class T>
  Params& add(const std::optional<T>& value) {
    return value ? add(*value) : add(nullptr);
  }
  template <class... Ts>
  Params& add_all(const Ts&... values) {
    (add(values), ...);
    return *this;
  }

  int size() const { return static_cast<int>(values_.size()); }
  const char* const* values() const { return values_.data(); }
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }
  /// Why these parameters cannot be sent (a NUL byte in text, an oversized value), if so.
  const std::optional<StoreError>& invalid() const { return invalid_; }

 private:
  void push(const char* value, int length, int format);

  std::deque<std::string> owned_;  // stable addresses for the copied text
  std::vector<const char*> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
  std::optional<StoreError> invalid_;
};

/// The rows of a statement, every column in binary format.
class Result {
 public:
  Result() = default;
  explicit Result(pg_result* res) : res_(res) {}
  Result(Result&& other) noexcept;
  Result& operator=(Result&& other) noexcept;
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  ~Result();

  int rows() const;
  /// Rows written by an INSERT, UPDATE or DELETE.
  std::int64_t affected() const;

  bool is_null(int row, int col) const;
  /// The column's bytes: text (UTF-8) and bytea alike.
  std::string bytes(int row, int col) const;
  /// bigint, integer, smallint or boolean.
  std::int64_t int64(int row, int col) const;
  TimePoint time(int row, int col) const;
  std::optional<TimePoint> opt_time(int row, int col) const;

 private:
  pg_result* res_ = nullptr;
};

/// One row of a Result, for the store's row readers.
class Row {
 public:
  Row(const Result& result, int row) : result_(&result), row_(row) {}
  bool is_null(int col) const { return result_->is_null(row_, col); }
  std::string text(int col) const { return result_->bytes(row_, col); }
  std::string blob(int col) const { return result_->bytes(row_, col); }
  std::int64_t int64(int col) const { return result_->int64(row_, col); }
  TimePoint time(int col) const { return result_->time(row_, col); }
  std::optional<TimePoint> opt_time(int col) const { return result_->opt_time(row_, col); }

 private:
  const Result* result_;
  int row_;
};

struct ConnectSettings {
  std::string url;  // postgres://... or postgresql://... (or a libpq key=value string)
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds statement_timeout{5000};
};

/// The SQLSTATE's class of error: 23505 kConflict, other 23xxx and data errors kInvalid,
/// connection, shutdown, resource and timeout errors kUnavailable, else kInternal.
StoreErrc errc_for_sqlstate(std::string_view sqlstate);

/// One connection. Used by one thread at a time (the pools see to it).
class Conn {
 public:
  /// Connects within `settings.connect_timeout` (kUnavailable otherwise) and sets the session's
  /// statement_timeout.
  static StoreResult<std::unique_ptr<Conn>> open(const ConnectSettings& settings);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  /// Runs a statement, prepared once on this connection (SQL text never contains values).
  /// `wait`: how long the round trip may take before the connection is given up; by default
  /// the statement timeout plus a margin.
  StoreResult<Result> exec(std::string_view sql, const Params& params,
                           std::optional<std::chrono::milliseconds> wait = std::nullopt);
  StoreResult<Result> exec(std::string_view sql) { return exec(sql, Params{}); }
  /// Runs constant SQL, possibly several statements, with the simple query protocol (BEGIN,
  /// COMMIT, migrations). Its error messages may quote the SQL, never a value.
  StoreResult<void> exec_script(std::string_view sql, std::optional<std::chrono::milliseconds> wait = std::nullopt);

  /// False once a connection-level failure was seen: the pool then drops the connection.
  bool usable() const;
  bool in_transaction() const;
  /// A check before reuse, without a round trip: an idle connection whose socket has something
  /// to read was closed by the server (a restart, a shutdown, an idle timeout).
  bool idle_and_alive() const;

 private:
  Conn(pg_conn* conn, std::chrono::milliseconds statement_timeout)
      : conn_(conn), statement_timeout_(statement_timeout) {}

  Clock::time_point deadline(std::optional<std::chrono::milliseconds> wait) const;
  /// Marks the connection broken: kUnavailable.
  StoreError lost(std::string_view what);
  StoreResult<void> flush(Clock::time_point deadline, std::string_view what);
  /// Collects the results of what was sent, up to `deadline`; the first error wins.
  StoreResult<Result> collect(Clock::time_point deadline, std::string_view what, bool quote_primary);
  /// Waits until the socket is readable (or writable too) or `deadline`: false on timeout.
  bool wait_socket(bool for_write, Clock::time_point deadline) const;

  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  pg_conn* conn_ = nullptr;
  std::chrono::milliseconds statement_timeout_;
  bool broken_ = false;
  // SQL text -> name of the statement prepared on this connection.
  std::unordered_map<std::string, std::string, Hash, std::equal_to<>> prepared_;
};

/// Opens connections on demand up to `size`; a caller waits when all are checked out.
class Pool {
 public:
  using Opener = std::function<StoreResult<std::unique_ptr<Conn>>()>;
  Pool(Opener open, std::size_t size);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  class Lease {
   public:
    Lease(Lease&& other) noexcept : pool_(other.pool_), conn_(std::move(other.conn_)) { other.pool_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Conn& operator*() const { return *conn_; }
    Conn* operator->() const { return conn_.get(); }

   private:
    friend class Pool;
    Lease(Pool* pool, std::unique_ptr<Conn> conn) : pool_(pool), conn_(std::move(conn)) {}
    Pool* pool_;
    std::unique_ptr<Conn> conn_;
  };

  /// An idle connection that still looks alive, or a new one; kUnavailable when none is free
  /// within `wait` or the database cannot be reached.
  StoreResult<Lease> acquire(std::chrono::milliseconds wait);

 private:
  void release(std::unique_ptr<Conn> conn);

  const Opener open_;
  const std::size_t size_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Conn>> idle_;
  std::size_t open_count_ = 0;  // idle + checked out + being opened
};

/// BEGIN ... COMMIT; rolls back on destruction unless committed.
class Transaction {
 public:
  static StoreResult<Transaction> begin(Conn& conn);
  Transaction(Transaction&& other) noexcept : conn_(other.conn_) { other.conn_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  StoreResult<void> commit();

 private:
  explicit Transaction(Conn* conn) : conn_(conn) {}
  Conn* conn_;  // null once committed
};

}  // namespace alter::server::pg
