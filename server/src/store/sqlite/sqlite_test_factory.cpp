// The stores alter_store_tests runs the conformance suite over: SQLite, in a temporary directory.
#include <alter/testing/temp_dir.hpp>

#include <stdexcept>

#include "store/sqlite/sqlite_store.hpp"
#include "store/store_test_support.hpp"

namespace alter::server::store_testing {

std::vector<StoreFactory> store_factories() {
  std::vector<StoreFactory> factories;
  factories.push_back(StoreFactory{"sqlite", [] {
                                     auto dir = std::make_shared<alter::testing::TempDir>();
                                     auto store = open_sqlite_store(dir->path() / "vault.db");
                                     if (!store) throw std::runtime_error("open_sqlite_store: " + store.error().message);
                                     return TestStore{dir, std::move(*store)};
                                   }});
  return factories;
}

}  // namespace alter::server::store_testing
