#include "store/postgres/pg_db.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>

namespace alter::server::pg {
namespace {

using common::unexpected;

// Dynamic SQL (filters) makes a few hundred distinct statements at most; past this, one-offs.
constexpr std::size_t kMaxPrepared = 512;
// Beyond the server's statement_timeout (which cancels the statement and keeps the connection),
// how long a round trip may take before the connection is presumed lost.
constexpr std::chrono::milliseconds kNetworkMargin{2000};
// With statement_timeout off, a round trip still ends some time.
constexpr std::chrono::milliseconds kNoTimeoutWait{std::chrono::hours(1)};

std::int64_t to_millis(TimePoint at) {
  return std::chrono::floor<std::chrono::milliseconds>(at.time_since_epoch()).count();
}

StoreError make_error(StoreErrc code, std::string message) { return StoreError{code, std::move(message)}; }

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

/// SQLSTATEs after which the server closes the session.
bool ends_session(std::string_view sqlstate) {
  return starts_with(sqlstate, "08") || sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03" ||
         sqlstate == "57P04" || sqlstate == "57P05" || sqlstate == "25P03";
}

std::uint64_t read_be(const char* data, int size) {
  std::uint64_t value = 0;
  for (int i = 0; i < size; ++i) value = (value << 8) | static_cast<unsigned char>(data[i]);
  return value;
}

/// libpq's text for a failed connection attempt, on one line. It names the host, the port and
/// the server's reason (refused, authentication, no such database): never a value of ours.
std::string connect_failure(PGconn* conn) {
  std::string text = conn != nullptr ? PQerrorMessage(conn) : "out of memory";
  std::string line;
  for (const char c : text) {
    const bool space = c == '\n' || c == '\t' || c == ' ';
    if (!space) {
      line += c;
    } else if (!line.empty() && line.back() != ' ') {
      line += ' ';
    }
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  text = std::move(line);
  if (text.size() > 300) text.resize(300);
  return text;
}

}  // namespace

StoreErrc errc_for_sqlstate(std::string_view s) {
  if (s == "23505") return StoreErrc::kConflict;
  if (starts_with(s, "23") || starts_with(s, "22") || starts_with(s, "54")) return StoreErrc::kInvalid;
  // Connection (08), operator intervention and timeouts (57: shutdown, query_canceled), resources
  // (53), system I/O (58), lock timeout (55P03), serialization and deadlocks (40): all transient.
  if (starts_with(s, "08") || starts_with(s, "57") || starts_with(s, "53") || starts_with(s, "58") ||
      starts_with(s, "40") || s == "55P03" || s == "25P03") {
    return StoreErrc::kUnavailable;
  }
  return StoreErrc::kInternal;
}

// ---- Params ----

void Params::push(const char* value, int length, int format) {
  values_.push_back(value);
  lengths_.push_back(length);
  formats_.push_back(format);
}

Params& Params::add(std::nullptr_t) {
  push(nullptr, 0, 0);
  return *this;
}

Params& Params::add(std::string_view text) {
  // PostgreSQL text cannot hold NUL: refuse rather than let libpq cut the value short.
  if (text.find('\0') != std::string_view::npos && !invalid_) {
    invalid_ = make_error(StoreErrc::kInvalid, "a text value contains a NUL byte");
  }
  if (text.size() > static_cast<std::size_t>(INT_MAX) && !invalid_) {
    invalid_ = make_error(StoreErrc::kInvalid, "a text value is too long");
  }
  const std::string& owned = owned_.emplace_back(text);
  push(owned.c_str(), static_cast<int>(std::min<std::size_t>(owned.size(), INT_MAX)), 0);
  return *this;
}

Params& Params::add(Bytes bytes) {
  if (bytes.bytes.size() > static_cast<std::size_t>(INT_MAX) && !invalid_) {
    invalid_ = make_error(StoreErrc::kInvalid, "a binary value is too long");
  }
  // A null pointer would mean SQL NULL: an empty value still points somewhere.
  push(bytes.bytes.empty() ? "" : bytes.bytes.data(),
       static_cast<int>(std::min<std::size_t>(bytes.bytes.size(), INT_MAX)), 1);
  return *this;
}

Params& Params::add(std::int64_t value) {
  const std::string& owned = owned_.emplace_back(std::to_string(value));
  push(owned.c_str(), static_cast<int>(owned.size()), 0);
  return *this;
}

Params& Params::add(TimePoint at) { return add(to_millis(at)); }

// ---- Result ----

Result::Result(Result&& other) noexcept : res_(std::exchange(other.res_, nullptr)) {}

Result& Result::operator=(Result&& other) noexcept {
  if (this != &other) {
    if (res_ != nullptr) PQclear(res_);
    res_ = std::exchange(other.res_, nullptr);
  }
  return *this;
}

Result::~Result() {
  if (res_ != nullptr) PQclear(res_);
}

int Result::rows() const { return res_ != nullptr ? PQntuples(res_) : 0; }

std::int64_t Result::affected() const {
  if (res_ == nullptr) return 0;
  const char* text = PQcmdTuples(res_);
  std::int64_t n = 0;
  for (; text != nullptr && *text >= '0' && *text <= '9'; ++text) n = n * 10 + (*text - '0');
  return n;
}

bool Result::is_null(int row, int col) const { return res_ == nullptr || PQgetisnull(res_, row, col) != 0; }

std::string Result::bytes(int row, int col) const {
  if (is_null(row, col)) return {};
  const int size = PQgetlength(res_, row, col);
  if (size <= 0) return {};
  return std::string(PQgetvalue(res_, row, col), static_cast<std::size_t>(size));
}

std::int64_t Result::int64(int row, int col) const {
  if (is_null(row, col)) return 0;
  const char* data = PQgetvalue(res_, row, col);
  // Binary format, network byte order: bigint 8, integer 4, smallint 2, boolean 1.
  switch (PQgetlength(res_, row, col)) {
    case 8: return static_cast<std::int64_t>(read_be(data, 8));
    case 4: return static_cast<std::int32_t>(static_cast<std::uint32_t>(read_be(data, 4)));
    case 2: return static_cast<std::int16_t>(static_cast<std::uint16_t>(read_be(data, 2)));
    case 1: return data[0] != 0 ? 1 : 0;
    default: return 0;
  }
}

TimePoint Result::time(int row, int col) const {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(int64(row, col))));
}

std::optional<TimePoint> Result::opt_time(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return time(row, col);
}

// ---- Conn ----

StoreResult<std::unique_ptr<Conn>> Conn::open(const ConnectSettings& settings) {
  const auto start = Clock::now();
  const auto connect_ms = std::max<std::int64_t>(settings.connect_timeout.count(), 1);
  const auto statement_ms = std::max<std::int64_t>(settings.statement_timeout.count(), 0);
  // libpq counts connect_timeout in whole seconds (at least 2); our own deadline below is exact.
  const std::string connect_seconds = std::to_string(std::max<std::int64_t>(2, (connect_ms + 999) / 1000));
  // Unacknowledged data for this long means the peer is gone (a partition, not a slow query).
  const std::string user_timeout = std::to_string(std::max<std::int64_t>(connect_ms, 10000));
  // Defaults first: what the URL says overrides them (libpq keeps the last value of a keyword);
  // client_encoding comes after, since the binary results are read as UTF-8.
  const char* keywords[] = {"connect_timeout", "keepalives",      "keepalives_idle", "keepalives_interval",
                            "keepalives_count", "tcp_user_timeout", "application_name", "dbname",
                            "client_encoding", nullptr};
  const char* values[] = {connect_seconds.c_str(), "1", "5", "2", "3", user_timeout.c_str(), "alter-vault",
                          settings.url.c_str(), "UTF8", nullptr};
  PGconn* raw = PQconnectStartParams(keywords, values, /*expand_dbname=*/1);
  std::unique_ptr<Conn> conn(new Conn(raw, std::chrono::milliseconds(statement_ms)));
  // libpq prints notices and warnings (a shutdown under way, "already exists, skipping") to
  // stderr by default; the store has nowhere to put them and they may quote values.
  if (raw != nullptr) PQsetNoticeProcessor(raw, [](void*, const char*) {}, nullptr);
  if (raw == nullptr || PQstatus(raw) == CONNECTION_BAD) {
    return unexpected(make_error(StoreErrc::kUnavailable, "cannot connect to the database: " + connect_failure(raw)));
  }
  const auto deadline = start + std::chrono::milliseconds(connect_ms);
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  while (state != PGRES_POLLING_OK) {
    if (state == PGRES_POLLING_FAILED) {
      return unexpected(make_error(StoreErrc::kUnavailable, "cannot connect to the database: " + connect_failure(raw)));
    }
    if (!conn->wait_socket(state == PGRES_POLLING_WRITING, deadline)) {
      return unexpected(make_error(StoreErrc::kUnavailable, "cannot connect to the database: timed out after " +
                                                                std::to_string(connect_ms) + " ms"));
    }
    state = PQconnectPoll(raw);
  }
  // Text goes in and out as UTF-8; a database in another encoding would reject or mangle it.
  const char* encoding = PQparameterStatus(raw, "server_encoding");
  if (encoding == nullptr || std::string_view(encoding) != "UTF8") {
    return unexpected(make_error(StoreErrc::kInvalid, "the database's encoding must be UTF8"));
  }
  if (PQsetnonblocking(raw, 1) != 0) return unexpected(conn->lost("cannot switch to non-blocking mode"));

  // A transaction left open by a stuck caller would hold its locks (the audit head) forever.
  Params params;
  params.add_all(std::to_string(statement_ms), std::to_string(std::max<std::int64_t>(statement_ms * 2, 10000)));
  auto set = conn->exec(
      "SELECT set_config('statement_timeout', $1, false), "
      "set_config('idle_in_transaction_session_timeout', $2, false)",
      params, std::chrono::milliseconds(connect_ms) + kNetworkMargin);
  if (!set) return unexpected(std::move(set.error()));
  return conn;
}

Conn::~Conn() {
  if (conn_ != nullptr) PQfinish(conn_);
}

bool Conn::usable() const { return !broken_ && conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }

bool Conn::in_transaction() const {
  return conn_ == nullptr || PQtransactionStatus(conn_) != PQTRANS_IDLE;
}

bool Conn::idle_and_alive() const {
  if (!usable() || in_transaction()) return false;
  pollfd p{PQsocket(conn_), POLLIN, 0};
  if (p.fd < 0) return false;
  int ready = 0;
  do {
    ready = ::poll(&p, 1, 0);
  } while (ready < 0 && errno == EINTR);
  return ready == 0;
}

Clock::time_point Conn::deadline(std::optional<std::chrono::milliseconds> wait) const {
  if (wait) return Clock::now() + *wait;
  if (statement_timeout_.count() <= 0) return Clock::now() + kNoTimeoutWait;
  return Clock::now() + statement_timeout_ + kNetworkMargin;
}

StoreError Conn::lost(std::string_view what) {
  broken_ = true;
  return make_error(StoreErrc::kUnavailable, std::string(what));
}

bool Conn::wait_socket(bool for_write, Clock::time_point deadline) const {
  pollfd p{PQsocket(conn_), static_cast<short>(POLLIN | (for_write ? POLLOUT : 0)), 0};
  if (p.fd < 0) return false;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left, INT_MAX)));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return false;
  }
}

StoreResult<void> Conn::flush(Clock::time_point deadline, std::string_view what) {
  for (;;) {
    const int pending = PQflush(conn_);
    if (pending == 0) return {};
    if (pending < 0) return unexpected(lost(std::string(what) + ": connection to the database lost"));
    if (!wait_socket(true, deadline)) {
      return unexpected(lost(std::string(what) + ": the database did not answer in time"));
    }
    if (PQconsumeInput(conn_) == 0) return unexpected(lost(std::string(what) + ": connection to the database lost"));
  }
}

StoreResult<Result> Conn::collect(Clock::time_point deadline, std::string_view what, bool quote_primary) {
  Result last;
  std::optional<StoreError> error;
  for (;;) {
    while (PQisBusy(conn_) != 0) {
      if (!wait_socket(false, deadline)) {
        return unexpected(lost(std::string(what) + ": the database did not answer in time"));
      }
      if (PQconsumeInput(conn_) == 0) return unexpected(lost(std::string(what) + ": connection to the database lost"));
    }
    PGresult* raw = PQgetResult(conn_);
    if (raw == nullptr) break;
    Result result(raw);
    const ExecStatusType status = PQresultStatus(raw);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY) {
      if (!error) last = std::move(result);
      continue;
    }
    if (error) continue;  // the first error is the one to report
    const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
    if (state == nullptr || PQstatus(conn_) != CONNECTION_OK || ends_session(state)) {
      error = lost(std::string(what) + ": connection to the database lost" +
                   (state != nullptr ? std::string(" (SQLSTATE ") + state + ")" : std::string()));
      continue;
    }
    // Never the DETAIL (a unique violation quotes the values) and, for statements with values,
    // not the primary message either (a bad input quotes it): the SQLSTATE and our own names.
    std::string message = std::string(what) + ": SQLSTATE " + state;
    if (const char* constraint = PQresultErrorField(raw, PG_DIAG_CONSTRAINT_NAME)) {
      message += std::string(" (constraint ") + constraint + ")";
    }
    if (quote_primary) {
      const char* primary = PQresultErrorField(raw, PG_DIAG_MESSAGE_PRIMARY);
      if (primary != nullptr) message += std::string(": ") + primary;
    }
    error = make_error(errc_for_sqlstate(state), std::move(message));
  }
  if (PQstatus(conn_) != CONNECTION_OK && !error) error = lost(std::string(what) + ": connection to the database lost");
  if (error) return unexpected(std::move(*error));
  return last;
}

StoreResult<Result> Conn::exec(std::string_view sql, const Params& params,
                               std::optional<std::chrono::milliseconds> wait) {
  if (broken_) return unexpected(lost("connection to the database lost"));
  if (params.invalid()) return unexpected(*params.invalid());
  const auto end = deadline(wait);
  auto it = prepared_.find(sql);
  if (it == prepared_.end() && prepared_.size() < kMaxPrepared) {
    std::string name = "alter_" + std::to_string(prepared_.size() + 1);
    const std::string text(sql);
    if (PQsendPrepare(conn_, name.c_str(), text.c_str(), 0, nullptr) == 0) {
      return unexpected(lost("prepare: connection to the database lost"));
    }
    if (auto sent = flush(end, "prepare"); !sent) return unexpected(std::move(sent.error()));
    // The SQL holds no values, so the server's message (a missing table, a syntax error) is safe.
    auto prepared = collect(end, "prepare", /*quote_primary=*/true);
    if (!prepared) return unexpected(std::move(prepared.error()));
    it = prepared_.emplace(text, std::move(name)).first;
  }
  int sent = 0;
  if (it != prepared_.end()) {
    sent = PQsendQueryPrepared(conn_, it->second.c_str(), params.size(), params.values(), params.lengths(),
                               params.formats(), /*resultFormat=*/1);
  } else {
    const std::string text(sql);
    sent = PQsendQueryParams(conn_, text.c_str(), params.size(), nullptr, params.values(), params.lengths(),
                             params.formats(), /*resultFormat=*/1);
  }
  if (sent == 0) return unexpected(lost("execute: connection to the database lost"));
  if (auto flushed = flush(end, "execute"); !flushed) return unexpected(std::move(flushed.error()));
  return collect(end, "execute", /*quote_primary=*/false);
}

StoreResult<void> Conn::exec_script(std::string_view sql, std::optional<std::chrono::milliseconds> wait) {
  if (broken_) return unexpected(lost("connection to the database lost"));
  const auto end = deadline(wait);
  const std::string text(sql);
  if (PQsendQuery(conn_, text.c_str()) == 0) return unexpected(lost("connection to the database lost"));
  if (auto sent = flush(end, "run"); !sent) return unexpected(std::move(sent.error()));
  auto done = collect(end, "run", /*quote_primary=*/true);
  if (!done) return unexpected(std::move(done.error()));
  return {};
}

// ---- Pool ----

Pool::Pool(Opener open, std::size_t size) : open_(std::move(open)), size_(size == 0 ? 1 : size) {}

Pool::~Pool() = default;

Pool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->release(std::move(conn_));
}

StoreResult<Pool::Lease> Pool::acquire(std::chrono::milliseconds wait) {
  const auto deadline = Clock::now() + wait;
  std::vector<std::unique_ptr<Conn>> dead;  // closed outside the lock
  std::unique_lock lock(mutex_);
  for (;;) {
    while (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      if (conn->idle_and_alive()) return Lease(this, std::move(conn));
      dead.push_back(std::move(conn));
      --open_count_;
    }
    if (open_count_ < size_) break;
    if (available_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() && open_count_ >= size_) {
      return unexpected(make_error(StoreErrc::kUnavailable, "no database connection free in time"));
    }
  }
  ++open_count_;
  lock.unlock();
  dead.clear();
  auto conn = open_();
  if (!conn) {
    lock.lock();
    --open_count_;
    lock.unlock();
    available_.notify_one();
    return unexpected(std::move(conn.error()));
  }
  return Lease(this, std::move(*conn));
}

void Pool::release(std::unique_ptr<Conn> conn) {
  // A broken connection, or one left inside a transaction (holding its locks), is never reused.
  if (conn != nullptr && (!conn->usable() || conn->in_transaction())) conn.reset();
  {
    std::lock_guard lock(mutex_);
    if (conn != nullptr) {
      idle_.push_back(std::move(conn));
    } else {
      --open_count_;
    }
  }
  available_.notify_one();
}

// ---- Transaction ----

StoreResult<Transaction> Transaction::begin(Conn& conn) {
  auto done = conn.exec_script("BEGIN");
  if (!done) return unexpected(std::move(done.error()));
  return Transaction(&conn);
}

Transaction::~Transaction() {
  if (conn_ == nullptr || !conn_->usable() || !conn_->in_transaction()) return;
  (void)conn_->exec_script("ROLLBACK");  // a failure marks the connection broken: the pool drops it
}

StoreResult<void> Transaction::commit() {
  auto done = conn_->exec_script("COMMIT");
  if (!done) return done;  // still open (or lost): the destructor rolls back
  conn_ = nullptr;
  return {};
}

}  // namespace alter::server::pg
