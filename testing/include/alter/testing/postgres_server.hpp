#pragma once
// A real PostgreSQL server for tests, from the distribution's packages: a cluster (initdb) in a
// temporary directory, postgres on 127.0.0.1 and a free port (never a fixed one), its socket in
// that directory too. Waits for readiness by asking the server (PQping), not by sleeping. Stops
// the server and removes the directory on destruction. initdb runs once per user and PostgreSQL
// version: its result is kept in $TMPDIR/alter-pg-initdb-* and copied for each server.
//
// Running as root (CI containers), the server binaries run as the `postgres` system user (initdb
// refuses root) and the directory is handed to it.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace alter::testing {

class TempDir;

class PostgresServer {
 public:
  /// A cluster (from the initdb cache) and start(), with fsync off: a test server. Throws std::runtime_error with the reason and
  /// the server's log when PostgreSQL is missing or does not start.
  PostgresServer();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  /// Starts the server (again: on the same port and data) and waits until it accepts connections.
  void start();
  /// A clean shutdown (pg_ctl stop -m fast).
  void stop();
  /// Stops the server as a crash would (pg_ctl stop -m immediate): clients see their connections
  /// drop; the next start() recovers.
  void kill_immediately();
  bool running() const { return running_; }

  int port() const { return port_; }
  /// postgres://postgres@127.0.0.1:PORT/DATABASE (the superuser; trust authentication).
  std::string url(const std::string& database = "postgres") const;
  /// CREATE DATABASE `name` (letters, digits, underscores); returns its url().
  std::string create_database(const std::string& name);
  /// DROP DATABASE ... WITH (FORCE), ending its sessions.
  void drop_database(const std::string& name);
  /// Runs SQL (no parameters; with several statements, the last one's rows) as the superuser on
  /// `database`, on a connection of its own; the rows' columns as text. Throws with the
  /// server's message on failure.
  std::vector<std::vector<std::string>> query(const std::string& database, const std::string& sql);
  /// The server's log so far, for failure messages.
  std::string log() const;
  /// The directory of the PostgreSQL binaries in use (the highest version installed).
  const std::filesystem::path& bin_dir() const { return bin_dir_; }

 private:
  void run_tool(const std::vector<std::string>& args, const std::string& what);

  std::unique_ptr<TempDir> dir_;
  std::filesystem::path bin_dir_;
  std::filesystem::path data_dir_;
  std::filesystem::path socket_dir_;
  std::filesystem::path log_file_;
  int port_ = 0;
  bool running_ = false;
  bool as_postgres_user_ = false;
  unsigned uid_ = 0;  // of the postgres user, when running as root
  unsigned gid_ = 0;
};

/// Where the PostgreSQL server binaries are: $ALTER_TEST_PG_BINDIR, else the highest version in
/// /usr/lib/postgresql/*/bin, else `pg_config --bindir`. Empty when none has initdb.
std::filesystem::path find_postgres_bin_dir();

}  // namespace alter::testing
