#pragma once
// The Store for several vault instances on one PostgreSQL database (behind a load balancer):
// libpq connections in a pool, prepared statements, and cross-instance locks, counters and
// audit chain kept in the database.
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "store/store.hpp"

namespace alter::server {

struct PostgresStoreOptions {
  /// Connections for the store's calls, opened on demand. with_connection_lock holds its
  /// advisory locks on a second pool of the same size, so lock holders never starve the calls
  /// they make inside the lock.
  std::size_t pool_size = 8;
  /// Opening a connection takes at most this long, then kUnavailable.
  std::chrono::milliseconds connect_timeout{2000};
  /// The server cancels a statement after this (kUnavailable); the client gives the connection
  /// up a little later if the server does not answer at all.
  std::chrono::milliseconds statement_timeout{5000};
};

/// Connects to `url` (postgres://user:pass@host:port/db?... or postgresql://..., as libpq reads
/// it) and runs no migration: call migrate(). kInvalid for a malformed URL or a database whose
/// encoding is not UTF8; kUnavailable when the server cannot be reached within connect_timeout.
/// The store is thread-safe; it drops connections that broke and reconnects on the next call, so
/// it recovers by itself once the database is back.
StoreResult<std::unique_ptr<Store>> open_postgres_store(const std::string& url, PostgresStoreOptions options = {});

}  // namespace alter::server
