#pragma once
// The stores the conformance suite (store_conformance_test.cpp) runs over. The suite is compiled
// once and linked into one test binary per backend; each binary defines store_factories():
// sqlite/sqlite_test_factory.cpp in alter_store_tests, postgres/postgres_test_support.cpp in
// alter_store_pg_tests (it needs a PostgreSQL server, hence a binary of its own, labelled
// integration). The tests themselves do not change.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "store/store.hpp"

namespace alter::server::store_testing {

/// A store under test and what must outlive it (a temp dir, a scratch schema, ...).
struct TestStore {
  std::shared_ptr<void> resources;  // declared first, so destroyed after the store
  std::unique_ptr<Store> store;
};

struct StoreFactory {
  std::string name;                 // a test-name suffix: letters, digits, underscores
  std::function<TestStore()> make;  // a fresh, empty store, not migrated yet
};

/// Defined by each test binary (see above).
std::vector<StoreFactory> store_factories();

}  // namespace alter::server::store_testing
