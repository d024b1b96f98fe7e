#pragma once
// The default Store: one SQLite file in WAL mode, used through a small pool of connections.
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>

#include "store/store.hpp"

namespace alter::server {

struct SqliteStoreOptions {
  std::size_t pool_size = 8;                      // connections, opened on demand
  std::chrono::milliseconds busy_timeout{5000};  // then a locked database is kUnavailable
};

/// Opens (creating with mode 0600) the database file. Runs no migration: call migrate().
/// kUnavailable when the file cannot be opened or created. The store is thread-safe.
StoreResult<std::unique_ptr<Store>> open_sqlite_store(const std::filesystem::path& file,
                                                      SqliteStoreOptions options = {});

}  // namespace alter::server
