#include <alter/testing/postgres_server.hpp>
#include <alter/testing/temp_dir.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace alter::testing {
namespace {

constexpr std::chrono::seconds kStartTimeout{60};

std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// A port nobody listens on right now (the kernel's pick for port 0).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("PostgresServer: socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!ok) throw std::runtime_error("PostgresServer: cannot find a free port");
  return ntohs(addr.sin_port);
}

bool is_identifier(const std::string& name) {
  return !name.empty() && name.size() < 64 &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
         });
}

std::string tail(const std::string& text, std::size_t max = 4000) {
  return text.size() <= max ? text : "..." + text.substr(text.size() - max);
}

}  // namespace

std::filesystem::path find_postgres_bin_dir() {
  namespace fs = std::filesystem;
  auto has_tools = [](const fs::path& dir) {
    std::error_code ec;
    return fs::exists(dir / "initdb", ec) && fs::exists(dir / "pg_ctl", ec) && fs::exists(dir / "postgres", ec);
  };
  if (const char* env = std::getenv("ALTER_TEST_PG_BINDIR"); env != nullptr && *env != '\0') {
    return has_tools(env) ? fs::path(env) : fs::path();
  }
  // Debian keeps the server binaries off PATH, one directory per major version.
  fs::path best;
  long best_version = -1;
  std::error_code ec;
  for (fs::directory_iterator it("/usr/lib/postgresql", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    char* rest = nullptr;
    const long version = std::strtol(name.c_str(), &rest, 10);
    if (rest == name.c_str() || version <= best_version || !has_tools(it->path() / "bin")) continue;
    best_version = version;
    best = it->path() / "bin";
  }
  if (!best.empty()) return best;
  if (FILE* pipe = ::popen("pg_config --bindir 2>/dev/null", "r")) {
    char line[4096] = {};
    const bool read = std::fgets(line, sizeof line, pipe) != nullptr;
    ::pclose(pipe);
    std::string dir = read ? line : "";
    while (!dir.empty() && (dir.back() == '\n' || dir.back() == '\r')) dir.pop_back();
    if (!dir.empty() && has_tools(dir)) return dir;
  }
  return {};
}

PostgresServer::PostgresServer() {
  bin_dir_ = find_postgres_bin_dir();
  if (bin_dir_.empty()) {
    throw std::runtime_error(
        "PostgresServer: the PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found in "
        "/usr/lib/postgresql/*/bin or by pg_config: install the postgresql package (scripts/install-deps.sh test) "
        "or set ALTER_TEST_PG_BINDIR");
  }
  dir_ = std::make_unique<TempDir>();
  data_dir_ = dir_->path() / "data";
  socket_dir_ = dir_->path() / "socket";
  log_file_ = dir_->path() / "postgres.log";
  std::filesystem::create_directories(socket_dir_);

  if (::geteuid() == 0) {
    // initdb and postgres refuse to run as root: hand the directory to the postgres user.
    const passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) {
      throw std::runtime_error(
          "PostgresServer: running as root, but there is no 'postgres' user to run the server as (the postgresql "
          "package creates it)");
    }
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
    as_postgres_user_ = true;
    for (const auto& path : {dir_->path(), socket_dir_}) {
      if (::chown(path.c_str(), uid_, gid_) != 0) throw std::runtime_error("PostgresServer: chown failed");
    }
  }

  // initdb takes most of a second; every test process of a ctest run needs the same cluster. So
  // it runs once per user and binary directory, into a cache next to the temp dirs (written
  // under another name and renamed into place, so a reader never sees half of it), and each
  // server starts from a copy.
  // 1 MB WAL segments instead of 16: a cluster a tenth of the size to copy, and faster to create
  // databases in.
  const std::vector<std::string> initdb_args = {"-U",         "postgres", "-A",        "trust",           "-E",
                                                "UTF8",       "--locale=C", "--no-sync", "--wal-segsize=1"};
  std::string key = bin_dir_.string();
  for (const auto& arg : initdb_args) key += " " + arg;
  const std::filesystem::path cache = std::filesystem::temp_directory_path() /
                                      ("alter-pg-initdb-" + std::to_string(::geteuid()) + "-" +
                                       std::to_string(std::hash<std::string>{}(key)));
  std::error_code ec;
  if (!std::filesystem::exists(cache / "PG_VERSION", ec)) {
    const std::filesystem::path fresh = cache.string() + ".new-" + std::to_string(::getpid());
    std::filesystem::remove_all(fresh, ec);
    std::vector<std::string> initdb = {(bin_dir_ / "initdb").string(), "-D", fresh.string()};
    initdb.insert(initdb.end(), initdb_args.begin(), initdb_args.end());
    run_tool(initdb, "initdb");
    std::filesystem::rename(fresh, cache, ec);
    if (ec && !std::filesystem::exists(cache / "PG_VERSION", ec)) {
      std::filesystem::rename(fresh, data_dir_);  // the cache is unusable: keep this one
    } else if (ec) {
      std::filesystem::remove_all(fresh, ec);  // another process got there first
    }
  }
  if (!std::filesystem::exists(data_dir_, ec)) {
    run_tool({"/bin/cp", "-a", cache.string(), data_dir_.string()}, "copying the initdb cluster");
  }

  // The port is free when picked, but another process may take it before the server binds it.
  for (int attempt = 1;; ++attempt) {
    port_ = free_port();
    try {
      start();
      return;
    } catch (const std::exception&) {
      if (attempt == 3) throw;
    }
  }
}

PostgresServer::~PostgresServer() {
  if (running_) {
    try {
      kill_immediately();  // the data goes away with the directory: no need for a checkpoint
    } catch (const std::exception&) {
      // Nothing more to do in a destructor; the directory is removed regardless.
    }
  }
}

void PostgresServer::run_tool(const std::vector<std::string>& args, const std::string& what) {
  const std::filesystem::path output = dir_->path() / "tools.log";
  const std::string dir = dir_->path().string();
  std::vector<std::string> argv_storage = args;
  std::vector<char*> argv;
  for (auto& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const int out_fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out_fd < 0 || null_fd < 0) throw std::runtime_error("PostgresServer: cannot open " + output.string());
  const std::size_t before = read_file(output).size();

  const pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    if (::chdir(dir.c_str()) != 0) _exit(126);
    ::dup2(null_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(out_fd, 2);
    if (as_postgres_user_) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(gid_) != 0 || ::setuid(uid_) != 0) _exit(126);
    }
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  ::close(out_fd);
  ::close(null_fd);
  if (pid < 0) throw std::runtime_error("PostgresServer: fork failed");
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const std::string text = read_file(output);
    throw std::runtime_error("PostgresServer: " + what + " failed (status " + std::to_string(status) +
                             "):\n" + tail(text.substr(std::min(before, text.size()))) + "\nserver log:\n" +
                             tail(log()));
  }
}

void PostgresServer::start() {
  if (running_) return;
  // Written for the shell that pg_ctl starts postgres with; the temp path has no quotes. fsync off
  // loses nothing when the server is killed (only when the machine is): kill_immediately() keeps
  // every commit. synchronous_commit stays on for that reason.
  const std::string options = "-h 127.0.0.1 -p " + std::to_string(port_) + " -k '" + socket_dir_.string() +
                              "' -c fsync=off -c full_page_writes=off";
  // -w: pg_ctl returns once the server says it is ready, and fails at once if it exits (a port
  // taken meanwhile, a bad setting) instead of leaving us to time out.
  running_ = true;
  try {
    run_tool({(bin_dir_ / "pg_ctl").string(), "-D", data_dir_.string(), "-l", log_file_.string(), "-w", "-t",
              std::to_string(kStartTimeout.count()), "-o", options, "start"},
             "pg_ctl start");
  } catch (const std::exception&) {
    running_ = false;
    throw;
  }

  // Then ask the server itself until it accepts connections. PQping answers at once while
  // nothing listens (refused) or while the server is still starting (rejected).
  const std::string conninfo = "host=127.0.0.1 port=" + std::to_string(port_) +
                               " dbname=postgres user=postgres connect_timeout=2";
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    const PGPing ping = PQping(conninfo.c_str());
    if (ping == PQPING_OK) return;
    if (ping == PQPING_NO_ATTEMPT || std::chrono::steady_clock::now() > deadline) {
      try {
        kill_immediately();
      } catch (const std::exception&) {
        running_ = false;
      }
      throw std::runtime_error("PostgresServer: the server on port " + std::to_string(port_) +
                               " does not accept connections:\n" + tail(log()));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

void PostgresServer::stop() {
  if (!running_) return;
  run_tool({(bin_dir_ / "pg_ctl").string(), "-D", data_dir_.string(), "-m", "fast", "-w", "stop"}, "pg_ctl stop");
  running_ = false;
}

void PostgresServer::kill_immediately() {
  if (!running_) return;
  running_ = false;
  run_tool({(bin_dir_ / "pg_ctl").string(), "-D", data_dir_.string(), "-m", "immediate", "-w", "stop"},
           "pg_ctl stop -m immediate");
}

std::string PostgresServer::url(const std::string& database) const {
  return "postgres://postgres@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

std::string PostgresServer::create_database(const std::string& name) {
  if (!is_identifier(name)) throw std::invalid_argument("PostgresServer: bad database name");
  query("postgres", "CREATE DATABASE \"" + name + "\"");
  return url(name);
}

void PostgresServer::drop_database(const std::string& name) {
  if (!is_identifier(name)) throw std::invalid_argument("PostgresServer: bad database name");
  query("postgres", "DROP DATABASE IF EXISTS \"" + name + "\" WITH (FORCE)");
}

std::vector<std::vector<std::string>> PostgresServer::query(const std::string& database, const std::string& sql) {
  const std::string port = std::to_string(port_);
  const char* keywords[] = {"host", "port", "dbname", "user", "connect_timeout", nullptr};
  const char* values[] = {"127.0.0.1", port.c_str(), database.c_str(), "postgres", "5", nullptr};
  std::unique_ptr<PGconn, void (*)(PGconn*)> conn(PQconnectdbParams(keywords, values, 0), PQfinish);
  if (conn == nullptr || PQstatus(conn.get()) != CONNECTION_OK) {
    throw std::runtime_error("PostgresServer: cannot connect: " +
                             std::string(conn != nullptr ? PQerrorMessage(conn.get()) : "out of memory"));
  }
  std::unique_ptr<PGresult, void (*)(PGresult*)> result(PQexec(conn.get(), sql.c_str()), PQclear);
  const ExecStatusType status = result != nullptr ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw std::runtime_error("PostgresServer: " + sql + ": " + PQerrorMessage(conn.get()));
  }
  std::vector<std::vector<std::string>> rows;
  for (int r = 0; r < PQntuples(result.get()); ++r) {
    auto& row = rows.emplace_back();
    for (int c = 0; c < PQnfields(result.get()); ++c) {
      row.emplace_back(PQgetisnull(result.get(), r, c) != 0 ? "NULL" : PQgetvalue(result.get(), r, c));
    }
  }
  return rows;
}

std::string PostgresServer::log() const { return read_file(log_file_); }

}  // namespace alter::testing
