#pragma once
// The stores the conformance suite runs over. A new implementation (PostgreSQL) registers a
// factory in store_test_support.cpp; the tests themselves do not change.
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

std::vector<StoreFactory> store_factories();

}  // namespace alter::server::store_testing
