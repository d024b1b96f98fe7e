#pragma once
// alter_store_pg_tests' PostgreSQL: one real server for the whole test binary, started by a
// global test environment, and a fresh database per test.
#include <alter/testing/postgres_server.hpp>

#include <memory>
#include <string>

namespace alter::server::store_testing {

/// The server of this test binary. Throws (failing the test) when it could not be started: the
/// environment has already reported why.
alter::testing::PostgresServer& postgres_server();

/// A new, empty database on postgres_server(), dropped (its sessions ended) on destruction.
class ScratchDatabase {
 public:
  ScratchDatabase();
  ~ScratchDatabase();
  ScratchDatabase(const ScratchDatabase&) = delete;
  ScratchDatabase& operator=(const ScratchDatabase&) = delete;
  const std::string& name() const { return name_; }
  const std::string& url() const { return url_; }

 private:
  std::string name_;
  std::string url_;
};

}  // namespace alter::server::store_testing
