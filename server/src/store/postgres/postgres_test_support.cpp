#include "store/postgres/postgres_test_support.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <stdexcept>

#include "store/postgres/postgres_store.hpp"
#include "store/store_test_support.hpp"

namespace alter::server::store_testing {
namespace {

std::unique_ptr<alter::testing::PostgresServer> g_server;
std::string g_start_error;

/// Starts the server before the first test and stops it after the last. Without PostgreSQL every
/// test fails, each with the reason (CI installs it). Not a failure here: gtest would then mark
/// the tests skipped, and ctest count them as such.
class PostgresEnvironment final : public ::testing::Environment {
 public:
  void SetUp() override {
    try {
      g_server = std::make_unique<alter::testing::PostgresServer>();
    } catch (const std::exception& e) {
      g_start_error = e.what();
      std::cerr << "alter_store_pg_tests: no PostgreSQL server could be started, every test will fail: " << e.what()
                << "\n";
    }
  }
  void TearDown() override { g_server.reset(); }
};

[[maybe_unused]] ::testing::Environment* const g_environment =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

}  // namespace

alter::testing::PostgresServer& postgres_server() {
  if (!g_server) {
    throw std::runtime_error("the PostgreSQL store tests need a PostgreSQL server and none could be started: " +
                             g_start_error);
  }
  return *g_server;
}

ScratchDatabase::ScratchDatabase() {
  static std::atomic<int> counter{0};
  name_ = "alter_test_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
  url_ = postgres_server().create_database(name_);
}

ScratchDatabase::~ScratchDatabase() {
  try {
    if (g_server && g_server->running()) g_server->drop_database(name_);
  } catch (const std::exception&) {
    // Gone with the server's directory at the end anyway.
  }
}

std::vector<StoreFactory> store_factories() {
  std::vector<StoreFactory> factories;
  factories.push_back(StoreFactory{"postgres", [] {
                                     auto database = std::make_shared<ScratchDatabase>();
                                     auto store = open_postgres_store(database->url());
                                     if (!store) {
                                       throw std::runtime_error("open_postgres_store: " + store.error().message);
                                     }
                                     return TestStore{database, std::move(*store)};
                                   }});
  return factories;
}

}  // namespace alter::server::store_testing
