#pragma once
// The stores the conformance suite (store_conformance_test.cpp) runs over. The suite is compiled
// once and linked into one test binary per backend; each binary defines store_factories():
// sqlite/sqlite_test_factory.cpp in alter_store_tests, postgres/postgres_test_support.cpp in
// alter_store_pg_tests (it needs a PostgreSQL server, hence a binary of its own, labelled
// integration). The tests themselves do not change.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
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

// ---- small helpers of the store tests ----

/// A 64-hex-digit all-zero hash (the chain's genesis in the tests).
inline const std::string kZeros(64, '0');

inline TimePoint at_ms(std::int64_t ms) { return TimePoint(std::chrono::milliseconds(ms)); }

/// "prefix" + number, spelled so that g++ 12 at -O3 raises no false -Wrestrict (GCC bug 105329).
inline std::string tag(std::string_view prefix, std::int64_t n) {
  std::string out(prefix);
  out += std::to_string(n);
  return out;
}

// A deterministic stand-in for SHA-256 chaining: enough to check what the store feeds it.
inline std::string test_hash(const std::string& prev, std::int64_t seq, const std::string& content) {
  const std::string input = prev + "|" + std::to_string(seq) + "|" + content;
  return tag("h", static_cast<std::int64_t>(std::hash<std::string>{}(input)));
}

}  // namespace alter::server::store_testing
